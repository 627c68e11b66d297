//! The reference model: a plain map, and its state after every sequence number.

use std::collections::BTreeMap;

use thermocline_core::wal::Op;

/// Keys to values, as the store should hold them.
pub type State = BTreeMap<String, Vec<u8>>;

/// The state after each write, by sequence number (index 0: empty store).
#[derive(Clone, Debug, Default)]
pub struct Model {
    states: Vec<State>,
}

impl Model {
    pub fn new() -> Model {
        Model {
            states: vec![State::new()],
        }
    }

    /// Applies the write with sequence number `seq` (they arrive in order, without gaps).
    pub fn apply(&mut self, seq: u64, ops: &[Op]) {
        assert_eq!(
            seq as usize,
            self.states.len(),
            "the model sees every sequence number once"
        );
        let mut next = self.states.last().cloned().unwrap_or_default();
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    next.insert(key.as_str().to_owned(), value.to_vec());
                }
                Op::Delete { key } => {
                    next.remove(key.as_str());
                }
            }
        }
        self.states.push(next);
    }

    /// Forgets the writes after `seq` (a reopen found the store as of `seq`: later writes were
    /// never durable and their sequence numbers will be used again).
    pub fn truncate(&mut self, seq: u64) {
        self.states.truncate(seq as usize + 1);
    }

    pub fn last_seq(&self) -> u64 {
        self.states.len() as u64 - 1
    }

    pub fn at(&self, seq: u64) -> &State {
        &self.states[seq as usize]
    }
}
