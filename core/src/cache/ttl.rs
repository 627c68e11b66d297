//! Expiry-ordered eviction: when space is needed, drop what would expire soonest anyway.
//!
//! Entries with an expiry are ordered by `(expiry, seq)` in a `BTreeMap` (O(log n)); `seq` is
//! assigned on every insert or overwrite, so ties go to the entry written first and the order is
//! fully deterministic. Entries that never expire are evicted only after all expiring ones, in
//! least-recently-used order.

use alloc::collections::BTreeMap;

use super::arena::Nodes;
use super::lru::Lru;
use super::policy::Victim;
use crate::time::Millis;

#[derive(Clone, Debug, Default)]
pub(super) struct TtlOrder {
    by_expiry: BTreeMap<(Millis, u64), u32>,
    forever: Lru,
    next_seq: u64,
}

impl TtlOrder {
    pub const fn new() -> TtlOrder {
        TtlOrder {
            by_expiry: BTreeMap::new(),
            forever: Lru::new(),
            next_seq: 0,
        }
    }

    pub fn on_insert<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        if let Some(at) = nodes.node(index).expires_at {
            let seq = self.next_seq;
            self.next_seq += 1;
            nodes.node_mut(index).seq = seq;
            self.by_expiry.insert((at, seq), index);
        } else {
            self.forever.on_insert(nodes, index);
        }
    }

    /// Expiring entries are ordered by time alone; only the no-expiry group tracks recency.
    pub fn on_access<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        if nodes.node(index).expires_at.is_none() {
            self.forever.touch(nodes, index);
        }
    }

    /// `old_expires_at` is the expiry before the overwrite changed it (the sequence number is
    /// still the old one); the entry is filed again under the new one.
    pub fn on_replace<K, V>(
        &mut self,
        nodes: &mut Nodes<K, V>,
        index: u32,
        old_expires_at: Option<Millis>,
    ) {
        self.detach(nodes, index, old_expires_at);
        self.on_insert(nodes, index);
    }

    pub fn on_remove<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        let expires_at = nodes.node(index).expires_at;
        self.detach(nodes, index, expires_at);
    }

    /// `filed_under` is the expiry the entry was filed under (with the node's sequence number).
    fn detach<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32, filed_under: Option<Millis>) {
        if let Some(at) = filed_under {
            let removed = self.by_expiry.remove(&(at, nodes.node(index).seq));
            debug_assert_eq!(removed, Some(index));
        } else {
            self.forever.on_remove(nodes, index);
        }
    }

    pub fn evict_one<K, V>(&self, nodes: &Nodes<K, V>, protect: u32) -> Option<Victim> {
        let soonest = self
            .by_expiry
            .values()
            .take(2)
            .find(|&&index| index != protect);
        match soonest {
            Some(&index) => Some(Victim {
                index,
                to_ghost: false,
            }),
            None => self.forever.evict_one(nodes, protect),
        }
    }

    pub fn clear(&mut self) {
        self.by_expiry.clear();
        self.forever.clear();
    }

    pub fn check<K, V>(&self, nodes: &Nodes<K, V>, visit: &mut dyn FnMut(u32)) {
        for (&(at, seq), &index) in &self.by_expiry {
            assert!(
                (index as usize) < nodes.slots(),
                "expiry index names slot {index}"
            );
            let node = nodes.node(index);
            assert_eq!(
                nodes.node(index).expires_at,
                Some(at),
                "entry {index} filed under a stale expiry"
            );
            assert_eq!(
                node.seq, seq,
                "entry {index} filed under a stale sequence number"
            );
            visit(index);
        }
        self.forever.check(nodes, &mut |index| {
            assert_eq!(
                nodes.node(index).expires_at,
                None,
                "expiring entry {index} in no-expiry list"
            );
            visit(index);
        });
    }
}
