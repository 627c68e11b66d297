//! Least-recently-used order: one list, most recent at the head.

use super::arena::{NIL, Nodes};
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

    pub fn on_insert<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        self.list.push_front(nodes, index);
    }

    /// Both reads and overwrites count as use.
    pub fn touch<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        self.list.move_to_front(nodes, index);
    }

    pub fn on_remove<K, V>(&mut self, nodes: &mut Nodes<K, V>, index: u32) {
        self.list.unlink(nodes, index);
    }

    pub fn evict_one<K, V>(&self, nodes: &Nodes<K, V>, protect: u32) -> Option<Victim> {
        let index = self.list.oldest_except(nodes, protect);
        (index != NIL).then_some(Victim {
            index,
            to_ghost: false,
        })
    }

    pub fn clear(&mut self) {
        self.list = List::new();
    }

    pub fn check<K, V>(&self, nodes: &Nodes<K, V>, visit: &mut dyn FnMut(u32)) {
        self.list.check(nodes, visit);
    }
}
