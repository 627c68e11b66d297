//! A transaction as the application builds it: writes applied as one WAL record, so after a
//! crash all of them are there or none. Every host takes this type.

use alloc::vec::Vec;

use crate::key::{Key, KeyError};
use crate::value::Value;
use crate::wal::Op;

/// A set of writes applied as one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    #[must_use]
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a put; the key is validated now, so a bad one is refused before anything is written.
    pub fn put(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<&mut Batch, KeyError> {
        self.ops.push(Op::Put {
            key: Key::new(key)?,
            value: Value::from(value.as_ref()),
        });
        Ok(self)
    }

    pub fn delete(&mut self, key: &str) -> Result<&mut Batch, KeyError> {
        self.ops.push(Op::Delete {
            key: Key::new(key)?,
        });
        Ok(self)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The writes, in order (for [`crate::Engine::handle_batch`]).
    #[must_use]
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }
}
