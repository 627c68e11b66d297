//! An intrusive doubly-linked list over a [`LinkStore`] (a `Pool` of linked items, or the arena's nodes), addressed by index.
//!
//! The list itself is three words; the links live in the elements, so moving an element between
//! lists or to the front is O(1) and allocation-free. Head is the "newest" end for every user.

use super::arena::{LinkStore, Links, NIL};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct List {
    head: u32,
    tail: u32,
    len: u32,
}

impl Default for List {
    fn default() -> Self {
        List::new()
    }
}

impl List {
    pub const fn new() -> List {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    pub fn head(&self) -> u32 {
        self.head
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push_front(&mut self, pool: &mut impl LinkStore, index: u32) {
        let old_head = self.head;
        *pool.links_mut(index) = Links {
            prev: NIL,
            next: old_head,
        };
        if old_head == NIL {
            self.tail = index;
        } else {
            pool.links_mut(old_head).prev = index;
        }
        self.head = index;
        self.len += 1;
    }

    /// Links `index` right after `anchor` (towards the tail), for lists kept in sorted order.
    pub fn insert_after(&mut self, pool: &mut impl LinkStore, anchor: u32, index: u32) {
        let after = pool.links(anchor).next;
        *pool.links_mut(index) = Links {
            prev: anchor,
            next: after,
        };
        pool.links_mut(anchor).next = index;
        if after == NIL {
            self.tail = index;
        } else {
            pool.links_mut(after).prev = index;
        }
        self.len += 1;
    }

    pub fn unlink(&mut self, pool: &mut impl LinkStore, index: u32) {
        let links = *pool.links(index);
        if links.prev == NIL {
            self.head = links.next;
        } else {
            pool.links_mut(links.prev).next = links.next;
        }
        if links.next == NIL {
            self.tail = links.prev;
        } else {
            pool.links_mut(links.next).prev = links.prev;
        }
        *pool.links_mut(index) = Links::UNLINKED;
        self.len -= 1;
    }

    pub fn move_to_front(&mut self, pool: &mut impl LinkStore, index: u32) {
        if self.head != index {
            self.unlink(pool, index);
            self.push_front(pool, index);
        }
    }

    /// The tail, or the element just before it when the tail is `skip`: the oldest element other
    /// than `skip`, which is all an evictor protecting one entry needs. `NIL` when there is none.
    pub fn oldest_except(&self, pool: &impl LinkStore, skip: u32) -> u32 {
        if self.tail != NIL && self.tail == skip {
            pool.links(self.tail).prev
        } else {
            self.tail
        }
    }

    /// Walks head to tail, asserting link symmetry and the length, and calls `visit` on each
    /// element. Bounded by `len + 1` steps so a corrupted cycle fails instead of hanging.
    pub fn check(&self, pool: &impl LinkStore, mut visit: impl FnMut(u32)) {
        let mut prev = NIL;
        let mut cursor = self.head;
        let mut count = 0u32;
        while cursor != NIL {
            assert!(
                count < self.len,
                "list is longer than its length {}",
                self.len
            );
            assert!(
                (cursor as usize) < pool.slots(),
                "list names slot {cursor} out of range"
            );
            assert_eq!(
                pool.links(cursor).prev,
                prev,
                "broken prev link at {cursor}"
            );
            visit(cursor);
            count += 1;
            prev = cursor;
            cursor = pool.links(cursor).next;
        }
        assert_eq!(count, self.len, "list length");
        assert_eq!(self.tail, prev, "list tail");
    }
}
