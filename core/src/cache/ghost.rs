//! S3-FIFO's ghost queue: hashes of keys recently evicted from the small queue.
//!
//! Only a 64-bit hash is kept, so remembering a key costs no key clone and a few bytes; a hash
//! collision merely admits some other key straight to the main queue, which is harmless.
//!
//! A ghost hit consumes the entry, which would mean deleting from the middle of the FIFO. Instead
//! each push gets a sequence number and `latest` records the newest one per hash; a hit just
//! forgets the hash, and the FIFO slot it leaves behind is recognised as stale when it reaches the
//! front. Stale slots still count against the bound, so memory stays bounded by it.

use alloc::collections::VecDeque;

use hashbrown::HashMap;

#[derive(Clone, Debug, Default)]
pub(super) struct Ghost {
    fifo: VecDeque<(u64, u64)>,
    latest: HashMap<u64, u64>,
    next_seq: u64,
}

impl Ghost {
    pub fn new() -> Ghost {
        Ghost::default()
    }

    /// Remembers `hash`, forgetting the oldest hashes beyond `bound`.
    pub fn remember(&mut self, hash: u64, bound: usize) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.latest.insert(hash, seq);
        self.fifo.push_back((hash, seq));
        while self.fifo.len() > bound {
            let Some((old_hash, old_seq)) = self.fifo.pop_front() else {
                break;
            };
            if self.latest.get(&old_hash) == Some(&old_seq) {
                self.latest.remove(&old_hash);
            }
        }
    }

    /// Whether `hash` was remembered, forgetting it so one eviction buys one direct admission.
    pub fn take(&mut self, hash: u64) -> bool {
        self.latest.remove(&hash).is_some()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn clear(&mut self) {
        self.fifo.clear();
        self.latest.clear();
    }

    pub fn check(&self) {
        assert!(
            self.latest.len() <= self.fifo.len(),
            "ghost index larger than its FIFO"
        );
        let mut last_seq = None;
        for &(_, seq) in &self.fifo {
            assert!(last_seq < Some(seq), "ghost FIFO out of order");
            last_seq = Some(seq);
        }
        for (&hash, &seq) in &self.latest {
            let pos = self.fifo.binary_search_by_key(&seq, |&(_, s)| s);
            let slot = pos.ok().and_then(|p| self.fifo.get(p));
            assert_eq!(
                slot,
                Some(&(hash, seq)),
                "ghost index names a missing FIFO slot"
            );
        }
    }
}
