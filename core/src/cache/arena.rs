//! Index-addressed storage for cache entries and policy bookkeeping.
//!
//! Entries live in a `Vec` and refer to each other by `u32` index instead of by pointer, so the
//! intrusive lists are safe code, cheap to copy and half the size of pointer links. Each entry is
//! split in two: a small `Copy` [`Node`] that the eviction policies read and relink on every
//! operation, and the key/value payload that only lookups and removals touch. Keeping the payload
//! in its own `Vec<Option<_>>` means a freed slot needs no placeholder key or value, and the hot
//! policy loops never have to unwrap anything.
#![expect(
    clippy::indexing_slicing,
    reason = "indices come from the arena's own links, checked by check_invariants"
)]

use alloc::vec;
use alloc::vec::Vec;

use crate::time::Millis;

/// The "no entry" index. `u32::MAX` is never handed out, so it can terminate lists.
pub(super) const NIL: u32 = u32::MAX;

/// The two links every intrusive list member carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Links {
    pub prev: u32,
    pub next: u32,
}

impl Links {
    pub const UNLINKED: Links = Links {
        prev: NIL,
        next: NIL,
    };
}

/// Anything that can sit on a [`super::list::List`].
pub(super) trait Linked {
    fn links(&self) -> &Links;
    fn links_mut(&mut self) -> &mut Links;
}

/// A `Vec` with a free list: slots are reused so indices stay small and stable while the
/// element they name is alive. A freed slot keeps its stale value; `Copy` data makes that free.
#[derive(Clone, Debug)]
pub(super) struct Pool<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T> Pool<T> {
    pub const fn new() -> Self {
        Pool {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    /// `None` only when all `u32::MAX` indices are taken, which the caller reports as "not
    /// cached" rather than panicking.
    pub fn alloc(&mut self, value: T) -> Option<u32> {
        if let Some(index) = self.free.pop() {
            self.items[index as usize] = value;
            return Some(index);
        }
        let index = u32::try_from(self.items.len()).ok().filter(|&i| i != NIL)?;
        self.items.push(value);
        Some(index)
    }

    pub fn release(&mut self, index: u32) {
        self.free.push(index);
    }

    pub fn get(&self, index: u32) -> &T {
        &self.items[index as usize]
    }

    pub fn get_mut(&mut self, index: u32) -> &mut T {
        &mut self.items[index as usize]
    }

    pub fn slots(&self) -> usize {
        self.items.len()
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.free.clear();
    }

    /// Marks each free slot in a fresh bitmap, asserting that the free list names every slot at
    /// most once and only real slots.
    pub fn free_map(&self) -> Vec<bool> {
        let mut free = vec![false; self.items.len()];
        for &index in &self.free {
            let slot = free.get_mut(index as usize);
            assert!(slot.is_some(), "free list names slot {index} out of range");
            if let Some(slot) = slot {
                assert!(!*slot, "slot {index} is on the free list twice");
                *slot = true;
            }
        }
        free
    }
}

/// Everything the policies and the expiry logic need about an entry, without its key or value.
///
/// The policy fields are plain fields rather than an enum so a policy can read them without a
/// match that would need an "impossible" arm; each policy owns the fields named for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Node {
    /// Position on the policy's list (LRU list, LFU bucket, S3-FIFO queue, TTL no-expiry list).
    pub links: Links,
    pub weight: u64,
    pub expires_at: Option<Millis>,
    pub last_access: Millis,
    /// Position on the arena's sweep ring, which every live entry is on.
    pub ring: Links,
    /// LFU: index of the frequency bucket holding the entry.
    pub bucket: u32,
    /// S3-FIFO: 2-bit access counter.
    pub freq: u8,
    /// S3-FIFO: whether the entry is on the main queue (else the small one).
    pub in_main: bool,
    /// Ttl: tie-breaker among equal expiry times, so the order key is unique and deterministic.
    pub seq: u64,
}

impl Node {
    pub fn new(weight: u64, expires_at: Option<Millis>, now: Millis) -> Node {
        Node {
            links: Links::UNLINKED,
            weight,
            expires_at,
            last_access: now,
            ring: Links::UNLINKED,
            bucket: NIL,
            freq: 0,
            in_main: false,
            seq: 0,
        }
    }

    /// Expiry is inclusive: an entry with a TTL of 0 is already dead when inserted.
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

impl Linked for Node {
    fn links(&self) -> &Links {
        &self.links
    }
    fn links_mut(&mut self) -> &mut Links {
        &mut self.links
    }
}

/// The entry store: nodes, payloads in parallel, and a ring of all live entries.
///
/// The ring exists for `sweep`. It is a circular list with a cursor: removing an entry just
/// unlinks it, so the order of the others never changes, and new entries join just behind the
/// cursor. Walking k steps from the cursor therefore visits k distinct entries, and any n
/// consecutive steps visit each of n entries once, however many entries were removed meanwhile
/// and however many freed slots the node vector holds.
#[derive(Clone, Debug)]
pub(super) struct Arena<K, V> {
    nodes: Pool<Node>,
    payload: Vec<Option<(K, V)>>,
    /// Next entry for `sweep` to examine; `NIL` exactly when the arena is empty.
    cursor: u32,
    len: usize,
}

impl<K, V> Arena<K, V> {
    pub const fn new() -> Self {
        Arena {
            nodes: Pool::new(),
            payload: Vec::new(),
            cursor: NIL,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn insert(&mut self, key: K, value: V, node: Node) -> Option<u32> {
        let index = self.nodes.alloc(node)?;
        let slot = index as usize;
        if slot == self.payload.len() {
            self.payload.push(Some((key, value)));
        } else {
            self.payload[slot] = Some((key, value));
        }
        self.join_ring(index);
        self.len += 1;
        Some(index)
    }

    /// Links `index` just behind the cursor, so the current sweep pass reaches it last.
    fn join_ring(&mut self, index: u32) {
        let ring = if self.cursor == NIL {
            self.cursor = index;
            Links {
                prev: index,
                next: index,
            }
        } else {
            let behind = self.nodes.get(self.cursor).ring.prev;
            self.nodes.get_mut(behind).ring.next = index;
            self.nodes.get_mut(self.cursor).ring.prev = index;
            Links {
                prev: behind,
                next: self.cursor,
            }
        };
        self.nodes.get_mut(index).ring = ring;
    }

    /// Frees the slot. The caller has already unlinked the node from every policy structure.
    pub fn remove(&mut self, index: u32) -> Option<(K, V)> {
        let ring = self.nodes.get(index).ring;
        if ring.next == index {
            self.cursor = NIL;
        } else {
            self.nodes.get_mut(ring.prev).ring.next = ring.next;
            self.nodes.get_mut(ring.next).ring.prev = ring.prev;
            if self.cursor == index {
                self.cursor = ring.next;
            }
        }
        self.nodes.get_mut(index).ring = Links::UNLINKED;
        self.nodes.release(index);
        self.len -= 1;
        self.payload[index as usize].take()
    }

    /// The entry `sweep` should examine next, `None` when empty.
    pub fn cursor(&self) -> Option<u32> {
        (self.cursor != NIL).then_some(self.cursor)
    }

    /// Moves the sweep cursor past an entry that stays.
    pub fn advance_cursor(&mut self) {
        if self.cursor != NIL {
            self.cursor = self.nodes.get(self.cursor).ring.next;
        }
    }

    pub fn nodes(&self) -> &Pool<Node> {
        &self.nodes
    }

    pub fn nodes_mut(&mut self) -> &mut Pool<Node> {
        &mut self.nodes
    }

    pub fn node(&self, index: u32) -> &Node {
        self.nodes.get(index)
    }

    pub fn node_mut(&mut self, index: u32) -> &mut Node {
        self.nodes.get_mut(index)
    }

    pub fn key(&self, index: u32) -> Option<&K> {
        self.payload[index as usize].as_ref().map(|(k, _)| k)
    }

    pub fn value(&self, index: u32) -> Option<&V> {
        self.payload[index as usize].as_ref().map(|(_, v)| v)
    }

    /// Swaps in a new value, returning the old one.
    pub fn replace_value(&mut self, index: u32, value: V) -> Option<V> {
        self.payload[index as usize]
            .as_mut()
            .map(|(_, v)| core::mem::replace(v, value))
    }

    pub fn clear(&mut self) {
        self.nodes.clear();
        self.payload.clear();
        self.cursor = NIL;
        self.len = 0;
    }

    /// Asserts that slots, payloads, the free list and the ring agree. Returns the live indices
    /// in ring order and their total weight.
    pub fn check(&self) -> (Vec<u32>, u64) {
        let free = self.nodes.free_map();
        assert_eq!(
            self.payload.len(),
            self.nodes.slots(),
            "payload and node vectors differ"
        );
        let free_count = free.iter().filter(|&&f| f).count();
        assert_eq!(
            free_count + self.len,
            self.nodes.slots(),
            "every slot is live or free"
        );
        for (index, is_free) in free.iter().enumerate() {
            let has_payload = self.payload[index].is_some();
            assert_eq!(
                !*is_free, has_payload,
                "slot {index}: payload disagrees with free list"
            );
        }
        let mut live = Vec::with_capacity(self.len);
        let mut on_ring = vec![false; self.nodes.slots()];
        let mut weight = 0u64;
        let mut index = self.cursor;
        assert_eq!(
            index == NIL,
            self.len == 0,
            "cursor and length disagree on emptiness"
        );
        while index != NIL && live.len() < self.len {
            assert!(
                (index as usize) < self.nodes.slots(),
                "ring names slot {index}"
            );
            assert!(!free[index as usize], "free slot {index} is on the ring");
            assert!(!on_ring[index as usize], "ring closes early at {index}");
            on_ring[index as usize] = true;
            let ring = self.nodes.get(index).ring;
            assert_eq!(
                self.nodes.get(ring.next).ring.prev,
                index,
                "broken ring at {index}"
            );
            live.push(index);
            weight += self.nodes.get(index).weight;
            index = ring.next;
        }
        assert_eq!(live.len(), self.len, "ring shorter than the entry count");
        assert!(
            index == self.cursor,
            "ring does not close after len entries"
        );
        (live, weight)
    }
}
