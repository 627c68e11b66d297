//! Dispatch from the cache to the configured eviction policy.
//!
//! An enum rather than a trait object: the set of policies is closed, the match is free, and the
//! cache stays a plain generic type with no boxing.

use alloc::vec;

use super::EvictionPolicy;
use super::arena::{Nodes, Slot};
use super::lfu::Lfu;
use super::lru::Lru;
use super::s3fifo::S3Fifo;
use super::ttl::TtlOrder;
use crate::time::Millis;

/// The entry a policy chose to evict. It is still linked; the cache removes it through the same
/// path as any other removal so the bookkeeping lives in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Victim {
    pub index: u32,
    /// S3-FIFO: the entry leaves from the small queue, so its key hash belongs in the ghost.
    pub to_ghost: bool,
}

#[derive(Clone, Debug)]
pub(super) enum Policy {
    S3Fifo(S3Fifo),
    Lru(Lru),
    Lfu(Lfu),
    Ttl(TtlOrder),
}

impl Policy {
    pub fn new(kind: EvictionPolicy, capacity_bytes: u64) -> Policy {
        match kind {
            EvictionPolicy::S3Fifo => Policy::S3Fifo(S3Fifo::new(capacity_bytes)),
            EvictionPolicy::Lru => Policy::Lru(Lru::new()),
            EvictionPolicy::Lfu => Policy::Lfu(Lfu::new()),
            EvictionPolicy::Ttl => Policy::Ttl(TtlOrder::new()),
        }
    }

    pub fn on_insert<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32, key_hash: u64) {
        match self {
            Policy::S3Fifo(p) => p.on_insert(nodes, index, key_hash),
            Policy::Lru(p) => p.on_insert(nodes, index),
            Policy::Lfu(p) => p.on_insert(nodes, index),
            Policy::Ttl(p) => p.on_insert(nodes, index),
        }
    }

    /// Records a hit on `slot` when the policy needs nothing else (S3-FIFO's counter), so a hit
    /// touches the table and nothing more; false when lists must move, for
    /// [`Policy::on_access`].
    pub fn on_access_in_place<K, V>(&self, slot: &mut Slot<K, V>) -> bool {
        match self {
            Policy::S3Fifo(_) => {
                S3Fifo::bump(slot);
                true
            }
            Policy::Lru(_) | Policy::Lfu(_) | Policy::Ttl(_) => false,
        }
    }

    pub fn on_access<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        match self {
            Policy::S3Fifo(p) => p.on_access(nodes, index),
            Policy::Lru(p) => p.touch(nodes, index),
            Policy::Lfu(p) => p.touch(nodes, index),
            Policy::Ttl(p) => p.on_access(nodes, index),
        }
    }

    /// The entry already carries the new weight and expiry; the old ones are how it was filed.
    pub fn on_replace<K, V>(
        &mut self,
        nodes: &mut Nodes<K, V>,
        index: u32,
        old_weight: u64,
        old_expires_at: Option<Millis>,
    ) {
        match self {
            Policy::S3Fifo(p) => p.on_replace(nodes, index, old_weight),
            Policy::Lru(p) => p.touch(nodes, index),
            Policy::Lfu(p) => p.touch(nodes, index),
            Policy::Ttl(p) => p.on_replace(nodes, index, old_expires_at),
        }
    }

    pub fn on_remove<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        match self {
            Policy::S3Fifo(p) => p.on_remove(nodes, index),
            Policy::Lru(p) => p.on_remove(nodes, index),
            Policy::Lfu(p) => p.on_remove(nodes, index),
            Policy::Ttl(p) => p.on_remove(nodes, index),
        }
    }

    /// Never returns `protect`; `None` when nothing else is left.
    pub fn evict_one<K, V>(&mut self, nodes: &mut Nodes<K, V>, protect: u32) -> Option<Victim> {
        match self {
            Policy::S3Fifo(p) => p.evict_one(nodes, protect),
            Policy::Lru(p) => p.evict_one(nodes, protect),
            Policy::Lfu(p) => p.evict_one(nodes, protect),
            Policy::Ttl(p) => p.evict_one(nodes, protect),
        }
    }

    pub fn remember_evicted(&mut self, key_hash: u64, live_entries: usize) {
        if let Policy::S3Fifo(p) = self {
            p.remember_evicted(key_hash, live_entries);
        }
    }

    pub fn set_capacity(&mut self, capacity_bytes: u64) {
        if let Policy::S3Fifo(p) = self {
            p.set_capacity(capacity_bytes);
        }
    }

    pub fn clear(&mut self) {
        match self {
            Policy::S3Fifo(p) => p.clear(),
            Policy::Lru(p) => p.clear(),
            Policy::Lfu(p) => p.clear(),
            Policy::Ttl(p) => p.clear(),
        }
    }

    /// Asserts the policy's own invariants and that it tracks each live entry exactly once.
    pub fn check<K, V>(&self, nodes: &Nodes<K, V>, live: &[u32]) {
        let mut seen = vec![false; nodes.slots()];
        let mut tracked = 0usize;
        let mut visit = |index: u32| {
            let slot = seen.get_mut(index as usize);
            assert!(slot.is_some(), "policy tracks slot {index} out of range");
            if let Some(slot) = slot {
                assert!(!*slot, "policy tracks entry {index} twice");
                *slot = true;
            }
            tracked += 1;
        };
        match self {
            Policy::S3Fifo(p) => p.check(nodes, &mut visit),
            Policy::Lru(p) => p.check(nodes, &mut visit),
            Policy::Lfu(p) => p.check(nodes, &mut visit),
            Policy::Ttl(p) => p.check(nodes, &mut visit),
        }
        assert_eq!(
            tracked,
            live.len(),
            "policy tracks a different number of entries"
        );
        for &index in live {
            let is_tracked = seen.get(index as usize).copied().unwrap_or(false);
            assert!(
                is_tracked,
                "live entry {index} is not tracked by the policy"
            );
        }
    }
}
