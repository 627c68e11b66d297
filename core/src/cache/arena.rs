//! Storage for cache entries and policy bookkeeping, split by who touches it.
//!
//! What a hit reads and writes (key, value, expiry, last access, S3-FIFO's counter) is a [`Slot`]
//! stored in the hash table itself, so a hit is one probe: the table's control bytes, then the
//! slot, and nothing else. (With the table holding indices into a vector of entries, a hit on a
//! large cache was one more dependent cache and TLB miss; under a lock, where consecutive gets
//! cannot overlap their misses, that was a third of the time.)
//!
//! The rest (list links, weight, policy fields) is a [`Node`] in a `Vec` whose entries refer to
//! each other by `u32` index instead of by pointer, so the intrusive lists are safe code, cheap to
//! copy and half the size of pointer links. A slot names its node's index; a node keeps its key's
//! hash, so eviction finds the slot by one probe and never hashes a key again. The node is
//! always there (a freed one keeps stale data until reused), so the policy loops never unwrap.
#![expect(
    clippy::indexing_slicing,
    reason = "indices come from the arena's own links, checked by check_invariants"
)]

use alloc::vec;
use alloc::vec::Vec;

use hashbrown::HashTable;

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
/// element they name is alive. A freed slot keeps its stale value until it is reused.
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

/// What a hit reads and writes, kept in the hash table's slot.
#[derive(Clone, Debug)]
pub(super) struct Slot<K, V> {
    pub key: K,
    pub value: V,
    /// The expiry as milliseconds, `u64::MAX` for none: eight bytes where `Option<Millis>` takes
    /// sixteen. A deadline that saturates at `Millis::MAX` (a TTL of half a billion years) is
    /// thereby "never", which is what it meant.
    expires_at: u64,
    pub last_access: Millis,
    /// The entry's [`Node`].
    pub index: u32,
    /// S3-FIFO: 2-bit access counter. Here, not in the node, because a hit writes it.
    pub freq: u8,
}

const NEVER: u64 = u64::MAX;

fn deadline(expires_at: Option<Millis>) -> u64 {
    expires_at.map_or(NEVER, |at| at.0)
}

impl<K, V> Slot<K, V> {
    pub fn new(key: K, value: V, expires_at: Option<Millis>, now: Millis, index: u32) -> Self {
        Slot {
            key,
            value,
            expires_at: deadline(expires_at),
            last_access: now,
            index,
            freq: 0,
        }
    }

    pub fn set_expires_at(&mut self, expires_at: Option<Millis>) {
        self.expires_at = deadline(expires_at);
    }

    /// Expiry is inclusive: an entry with a TTL of 0 is already dead when inserted.
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expires_at != NEVER && now.0 >= self.expires_at
    }
}

/// What the policies, the expiry order and the sweep ring need about an entry: touched on
/// inserts, evictions and removals, and on hits only by policies that relink (LRU, LFU).
///
/// The policy fields are plain fields rather than an enum so a policy can read them without a
/// match that would need an "impossible" arm; each policy owns the fields named for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Node {
    /// Position on the policy's list (LRU list, LFU bucket, S3-FIFO queue, TTL no-expiry list).
    pub links: Links,
    /// Position on the arena's sweep ring, which every live entry is on.
    pub ring: Links,
    pub weight: u64,
    /// The key's hash: finds the slot without the key, and feeds S3-FIFO's ghost.
    pub hash: u64,
    /// A copy of the slot's expiry (it changes only on insert and overwrite), so the expiry
    /// order, eviction and the sweep read it without a probe.
    pub expires_at: Option<Millis>,
    /// Ttl: tie-breaker among equal expiry times, so the order key is unique and deterministic.
    pub seq: u64,
    /// LFU: index of the frequency bucket holding the entry.
    pub bucket: u32,
    /// S3-FIFO: whether the entry is on the main queue (else the small one).
    pub in_main: bool,
}

impl Node {
    pub fn new(weight: u64, hash: u64, expires_at: Option<Millis>) -> Node {
        Node {
            links: Links::UNLINKED,
            ring: Links::UNLINKED,
            weight,
            hash,
            expires_at,
            seq: 0,
            bucket: NIL,
            in_main: false,
        }
    }

    /// The same rule as [`Slot::is_expired`], on the node's copy (the cache never files
    /// `Millis::MAX` here: that deadline means "never" in the slot).
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

/// Every entry: its node by index, its slot in the table. What the policies work on.
#[derive(Clone, Debug)]
pub(super) struct Nodes<K, V> {
    nodes: Pool<Node>,
    table: HashTable<Slot<K, V>>,
}

impl<K, V> Nodes<K, V> {
    pub fn node(&self, index: u32) -> &Node {
        self.nodes.get(index)
    }

    pub fn node_mut(&mut self, index: u32) -> &mut Node {
        self.nodes.get_mut(index)
    }

    pub fn slots(&self) -> usize {
        self.nodes.slots()
    }

    /// The table bucket holding node `index`'s slot: one probe by the hash the node keeps.
    fn bucket_of(&self, index: u32) -> Option<usize> {
        let hash = self.node(index).hash;
        self.table.find_bucket_index(hash, |s| s.index == index)
    }

    pub fn slot(&self, index: u32) -> Option<&Slot<K, V>> {
        self.table.get_bucket(self.bucket_of(index)?)
    }

    pub fn slot_mut(&mut self, index: u32) -> Option<&mut Slot<K, V>> {
        let bucket = self.bucket_of(index)?;
        self.table.get_bucket_mut(bucket)
    }

    /// S3-FIFO's counter; 0 for an index with no slot, which no live entry is.
    pub fn freq(&self, index: u32) -> u8 {
        self.slot(index).map_or(0, |s| s.freq)
    }

    pub fn set_freq(&mut self, index: u32, freq: u8) {
        if let Some(slot) = self.slot_mut(index) {
            slot.freq = freq;
        }
    }
}

/// The lists link nodes only.
impl<K, V> LinkStore for Nodes<K, V> {
    fn links(&self, index: u32) -> &Links {
        &self.nodes.get(index).links
    }
    fn links_mut(&mut self, index: u32) -> &mut Links {
        &mut self.nodes.get_mut(index).links
    }
    fn slots(&self) -> usize {
        self.nodes.slots()
    }
}

/// Anything a [`super::list::List`] can thread through: links by index.
pub(super) trait LinkStore {
    fn links(&self, index: u32) -> &Links;
    fn links_mut(&mut self, index: u32) -> &mut Links;
    fn slots(&self) -> usize;
}

impl<T: Linked> LinkStore for Pool<T> {
    fn links(&self, index: u32) -> &Links {
        self.get(index).links()
    }
    fn links_mut(&mut self, index: u32) -> &mut Links {
        self.get_mut(index).links_mut()
    }
    fn slots(&self) -> usize {
        self.items.len()
    }
}

/// The entry store: nodes, slots, and a ring of all live entries.
///
/// The ring exists for `sweep`. It is a circular list with a cursor: removing an entry just
/// unlinks it, so the order of the others never changes, and new entries join just behind the
/// cursor. Walking k steps from the cursor therefore visits k distinct entries, and any n
/// consecutive steps visit each of n entries once, however many entries were removed meanwhile
/// and however many freed slots the node vector holds.
#[derive(Clone, Debug)]
pub(super) struct Arena<K, V> {
    entries: Nodes<K, V>,
    /// Next entry for `sweep` to examine; `NIL` exactly when the arena is empty.
    cursor: u32,
    len: usize,
}

impl<K, V> Arena<K, V> {
    pub const fn new() -> Self {
        Arena {
            entries: Nodes {
                nodes: Pool::new(),
                table: HashTable::new(),
            },
            cursor: NIL,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds an entry whose key is not in the table yet; `node.hash` is the key's hash and
    /// `rehash` hashes the keys of other slots when the table grows.
    pub fn insert(
        &mut self,
        key: K,
        value: V,
        node: Node,
        now: Millis,
        rehash: impl Fn(&K) -> u64,
    ) -> Option<u32> {
        let hash = node.hash;
        let expires_at = node.expires_at;
        let index = self.entries.nodes.alloc(node)?;
        let slot = Slot::new(key, value, expires_at, now, index);
        self.entries
            .table
            .insert_unique(hash, slot, |s| rehash(&s.key));
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
            let behind = self.entries.node(self.cursor).ring.prev;
            self.entries.node_mut(behind).ring.next = index;
            self.entries.node_mut(self.cursor).ring.prev = index;
            Links {
                prev: behind,
                next: self.cursor,
            }
        };
        self.entries.node_mut(index).ring = ring;
    }

    /// Frees the entry, slot and node. The caller has already unlinked the node from every
    /// policy structure.
    pub fn remove(&mut self, index: u32) -> Option<(K, V)> {
        let ring = self.entries.node(index).ring;
        if ring.next == index {
            self.cursor = NIL;
        } else {
            self.entries.node_mut(ring.prev).ring.next = ring.next;
            self.entries.node_mut(ring.next).ring.prev = ring.prev;
            if self.cursor == index {
                self.cursor = ring.next;
            }
        }
        let bucket = self.entries.bucket_of(index);
        self.entries.node_mut(index).ring = Links::UNLINKED;
        self.entries.nodes.release(index);
        self.len -= 1;
        let (slot, _) = self.entries.table.get_bucket_entry(bucket?).ok()?.remove();
        Some((slot.key, slot.value))
    }

    /// The entry `sweep` should examine next, `None` when empty.
    pub fn cursor(&self) -> Option<u32> {
        (self.cursor != NIL).then_some(self.cursor)
    }

    /// Moves the sweep cursor past an entry that stays.
    pub fn advance_cursor(&mut self) {
        if self.cursor != NIL {
            self.cursor = self.entries.node(self.cursor).ring.next;
        }
    }

    pub fn nodes(&self) -> &Nodes<K, V> {
        &self.entries
    }

    pub fn nodes_mut(&mut self) -> &mut Nodes<K, V> {
        &mut self.entries
    }

    pub fn node(&self, index: u32) -> &Node {
        self.entries.node(index)
    }

    pub fn node_mut(&mut self, index: u32) -> &mut Node {
        self.entries.node_mut(index)
    }

    pub fn slot(&self, index: u32) -> Option<&Slot<K, V>> {
        self.entries.slot(index)
    }

    pub fn table(&self) -> &HashTable<Slot<K, V>> {
        &self.entries.table
    }

    pub fn table_mut(&mut self) -> &mut HashTable<Slot<K, V>> {
        &mut self.entries.table
    }

    pub fn clear(&mut self) {
        self.entries.nodes.clear();
        self.entries.table.clear();
        self.cursor = NIL;
        self.len = 0;
    }

    /// Asserts that nodes, slots, the free list and the ring agree. Returns the live indices
    /// in ring order and their total weight.
    pub fn check(&self) -> (Vec<u32>, u64) {
        let free = self.entries.nodes.free_map();
        let free_count = free.iter().filter(|&&f| f).count();
        assert_eq!(
            free_count + self.len,
            self.entries.slots(),
            "every node is live or free"
        );
        assert_eq!(self.entries.table.len(), self.len, "one slot per live node");
        let mut named = vec![false; self.entries.slots()];
        for slot in &self.entries.table {
            let index = slot.index as usize;
            assert!(index < named.len(), "slot names node {index} out of range");
            assert!(!free[index], "slot names free node {index}");
            assert!(!named[index], "two slots name node {index}");
            named[index] = true;
            assert_eq!(
                self.entries
                    .bucket_of(slot.index)
                    .and_then(|b| self.entries.table.get_bucket(b))
                    .map(|s| s.index),
                Some(slot.index),
                "node {index}'s hash does not find its slot"
            );
            let node = self.entries.node(slot.index);
            assert_eq!(
                deadline(node.expires_at),
                slot.expires_at,
                "node {index}'s copy of the expiry differs"
            );
        }
        let mut live = Vec::with_capacity(self.len);
        let mut on_ring = vec![false; self.entries.slots()];
        let mut weight = 0u64;
        let mut index = self.cursor;
        assert_eq!(
            index == NIL,
            self.len == 0,
            "cursor and length disagree on emptiness"
        );
        while index != NIL && live.len() < self.len {
            assert!(
                (index as usize) < self.entries.slots(),
                "ring names slot {index}"
            );
            assert!(!free[index as usize], "free slot {index} is on the ring");
            assert!(!on_ring[index as usize], "ring closes early at {index}");
            on_ring[index as usize] = true;
            let ring = self.entries.node(index).ring;
            assert_eq!(
                self.entries.node(ring.next).ring.prev,
                index,
                "broken ring at {index}"
            );
            live.push(index);
            weight += self.entries.node(index).weight;
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
