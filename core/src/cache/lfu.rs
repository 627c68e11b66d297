//! O(1) least-frequently-used eviction (Shah, Mitra & Matani, 2010).
//!
//! Entries are grouped into buckets of equal access count, and the buckets form a list sorted by
//! count, least frequent at the head. An access moves an entry from its bucket to the neighbouring
//! bucket (creating it if the next count is absent), so finding the victim never scans: it is the
//! oldest entry of the head bucket. Within a bucket, entries are ordered by when they arrived,
//! which is when they were last accessed, so ties break towards the least recently used.

use super::arena::{Linked, Links, NIL, Nodes, Pool};
use super::list::List;
use super::policy::Victim;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    links: Links,
    freq: u64,
    entries: List,
}

impl Linked for Bucket {
    fn links(&self) -> &Links {
        &self.links
    }
    fn links_mut(&mut self) -> &mut Links {
        &mut self.links
    }
}

#[derive(Clone, Debug)]
pub(super) struct Lfu {
    buckets: Pool<Bucket>,
    /// Buckets in ascending frequency; never holds an empty bucket.
    order: List,
}

impl Lfu {
    pub const fn new() -> Lfu {
        Lfu {
            buckets: Pool::new(),
            order: List::new(),
        }
    }

    fn new_bucket(&mut self, freq: u64) -> Option<u32> {
        self.buckets.alloc(Bucket {
            links: Links::UNLINKED,
            freq,
            entries: List::new(),
        })
    }

    fn enter<K, V>(&mut self, nodes: &mut Nodes<K, V>, bucket: u32, index: u32) {
        self.buckets
            .get_mut(bucket)
            .entries
            .push_front(nodes, index);
        nodes.node_mut(index).bucket = bucket;
    }

    /// Takes `index` out of its bucket and drops the bucket if that emptied it.
    fn leave<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        let bucket = nodes.node(index).bucket;
        let entries = &mut self.buckets.get_mut(bucket).entries;
        entries.unlink(nodes, index);
        if entries.is_empty() {
            self.order.unlink(&mut self.buckets, bucket);
            self.buckets.release(bucket);
        }
        nodes.node_mut(index).bucket = NIL;
    }

    pub fn on_insert<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        let head = self.order.head();
        let bucket = if head != NIL && self.buckets.get(head).freq == 1 {
            head
        } else {
            // Bucket indices are bounded by the entry count, which already fit in a u32.
            let Some(bucket) = self.new_bucket(1) else {
                return;
            };
            self.order.push_front(&mut self.buckets, bucket);
            bucket
        };
        self.enter(nodes, bucket, index);
    }

    /// Reads and overwrites both count as a use.
    pub fn touch<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        let bucket = nodes.node(index).bucket;
        let Bucket { links, freq, .. } = *self.buckets.get(bucket);
        let Some(next_freq) = freq.checked_add(1) else {
            // Saturated: keep the count, but still record the recency for tie-breaking.
            self.buckets
                .get_mut(bucket)
                .entries
                .move_to_front(nodes, index);
            return;
        };
        let target = if links.next != NIL && self.buckets.get(links.next).freq == next_freq {
            links.next
        } else if self.buckets.get(bucket).entries.len() == 1 {
            // Sole occupant: bump the bucket itself instead of allocating a neighbour.
            self.buckets.get_mut(bucket).freq = next_freq;
            return;
        } else {
            let Some(created) = self.new_bucket(next_freq) else {
                return;
            };
            self.order.insert_after(&mut self.buckets, bucket, created);
            created
        };
        self.leave(nodes, index);
        self.enter(nodes, target, index);
    }

    pub fn on_remove<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        self.leave(nodes, index);
    }

    /// The oldest entry of the least frequent bucket. Only when that is the protected entry and
    /// alone in its bucket does it look one bucket further, so this is O(1).
    pub fn evict_one<K, V>(&self, nodes: &Nodes<K, V>, protect: u32) -> Option<Victim> {
        let mut bucket = self.order.head();
        while bucket != NIL {
            let candidate = self
                .buckets
                .get(bucket)
                .entries
                .oldest_except(nodes, protect);
            if candidate != NIL {
                return Some(Victim {
                    index: candidate,
                    to_ghost: false,
                });
            }
            bucket = self.buckets.get(bucket).links.next;
        }
        None
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
        self.order = List::new();
    }

    pub fn check<K, V>(&self, nodes: &Nodes<K, V>, visit: &mut dyn FnMut(u32)) {
        let free = self.buckets.free_map();
        let in_use = free.iter().filter(|&&f| !f).count();
        assert_eq!(
            in_use,
            self.order.len() as usize,
            "allocated buckets not on the list"
        );
        let mut last_freq = 0u64;
        self.order.check(&self.buckets, |bucket| {
            let Bucket { freq, entries, .. } = *self.buckets.get(bucket);
            assert!(
                freq > last_freq,
                "bucket frequencies not strictly ascending"
            );
            assert!(
                !entries.is_empty(),
                "empty bucket {bucket} left on the list"
            );
            last_freq = freq;
            entries.check(nodes, |index| {
                assert_eq!(
                    nodes.node(index).bucket,
                    bucket,
                    "entry {index} names wrong bucket"
                );
                visit(index);
            });
        });
    }
}
