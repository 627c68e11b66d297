//! Least-recently-used order: one list, most recent at the head.

use super::arena::{NIL, Node, Pool};
use super::list::List;
use super::policy::Victim;

#[derive(Clone, Debug, Default)]
pub(super) struct Lru {
    list: List,
}

impl Lru {
    pub const fn new() -> Lru {
        Lru { list: List::new() }
    }

    pub fn on_insert(&mut self, nodes: &mut Pool<Node>, index: u32) {
        self.list.push_front(nodes, index);
    }

    /// Both reads and overwrites count as use.
    pub fn touch(&mut self, nodes: &mut Pool<Node>, index: u32) {
        self.list.move_to_front(nodes, index);
    }

    pub fn on_remove(&mut self, nodes: &mut Pool<Node>, index: u32) {
        self.list.unlink(nodes, index);
    }

    pub fn evict_one(&self, nodes: &Pool<Node>, protect: u32) -> Option<Victim> {
        let index = self.list.oldest_except(nodes, protect);
        (index != NIL).then_some(Victim {
            index,
            to_ghost: false,
        })
    }

    pub fn clear(&mut self) {
        self.list = List::new();
    }

    pub fn check(&self, nodes: &Pool<Node>, visit: &mut dyn FnMut(u32)) {
        self.list.check(nodes, visit);
    }
}
