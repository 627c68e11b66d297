//! The hot tier: an in-memory map with a byte budget, expiry and pluggable eviction.
//!
//! All entries live in one index-addressed arena; the key map stores arena indices, and each
//! policy threads its own intrusive lists through the arena's nodes. Every operation is O(1)
//! except under [`EvictionPolicy::Ttl`], whose expiry order is a B-tree (O(log n)).
//!
//! Time is passed in as `now`, never read, so the cache is deterministic under simulation.
//!
//! Eviction happens after an insert, not before, so the weight of the new entry is known exactly.
//! The entry whose insert triggered eviction is never its victim: every policy evicts as if that
//! entry had not been queued yet (the classic "make room, then insert"). Under S3-FIFO a new entry
//! sits at the head of the small queue and is only examined once everything older has been
//! examined, so skipping it matters only when nothing older is left there (or when an overwritten
//! entry happens to sit at a queue's tail). Because an insert larger than the capacity is refused
//! up front, the protected entry always fits; with a reserve, eviction may stop above the reserve
//! target when only the protected entry is left.

mod arena;
mod ghost;
mod lfu;
mod list;
mod lru;
mod policy;
mod s3fifo;
mod ttl;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policy;

use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};

use hashbrown::HashMap;

use self::arena::{Arena, NIL, Node};
use self::policy::Policy;
use crate::time::Millis;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Scan-resistant and cheap on hits; the best general default (see the `s3fifo` module).
    #[default]
    S3Fifo,
    Lru,
    Lfu,
    /// Evicts the entry closest to expiry first; entries without expiry go last, LRU among them.
    Ttl,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    pub capacity_bytes: u64,
    pub policy: EvictionPolicy,
    /// Applied to inserts that pass `ttl_ms: None`. `None` = no expiry.
    pub default_ttl_ms: Option<u64>,
    /// When an insert pushes the weight over capacity, evict down to (100 - reserve_pct)% of
    /// capacity, so a reserve absorbs bursts without an eviction per insert. Default 10.
    /// 0 means evict just enough to fit (classic cache behaviour; with weight 1 per entry and
    /// policy Lru this gives exactly the same hits as the `lru` crate's LruCache).
    /// Values above 100 act as 100.
    pub reserve_pct: u8,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity_bytes: 64 * 1024 * 1024,
            policy: EvictionPolicy::S3Fifo,
            default_ttl_ms: None,
            reserve_pct: 10,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped to make room. A victim that had already expired counts as an expiration.
    pub evictions: u64,
    pub expirations: u64,
    pub idle_removals: u64,
    pub entries: u64,
    pub bytes: u64,
}

pub struct Cache<K, V> {
    config: CacheConfig,
    map: HashMap<K, u32>,
    arena: Arena<K, V>,
    policy: Policy,
    weight: u64,
    /// Counters only; `entries` and `bytes` are filled in by `stats()`.
    counters: CacheStats,
}

/// Contents are not printed: keys and values may be large or sensitive.
impl<K, V> fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .field("entries", &self.arena.len())
            .field("weight_bytes", &self.weight)
            .finish_non_exhaustive()
    }
}

/// Capacities are clamped to this so that the total weight (at most the capacity plus one entry
/// no larger than the capacity) can never overflow a `u64`. 8 EiB is not a real limit.
const MAX_CAPACITY_BYTES: u64 = u64::MAX / 2;

/// The weight eviction brings the cache down to once it has gone over capacity.
fn reserve_target(capacity_bytes: u64, reserve_pct: u8) -> u64 {
    let keep_pct = 100 - u128::from(reserve_pct.min(100));
    u64::try_from(u128::from(capacity_bytes) * keep_pct / 100).unwrap_or(capacity_bytes)
}

impl<K: Hash + Eq + Clone, V> Cache<K, V> {
    /// A capacity above 2^63 - 1 bytes is clamped to that, so `config()` may differ there.
    pub fn new(mut config: CacheConfig) -> Self {
        config.capacity_bytes = config.capacity_bytes.min(MAX_CAPACITY_BYTES);
        Cache {
            policy: Policy::new(config.policy, config.capacity_bytes),
            config,
            map: HashMap::new(),
            arena: Arena::new(),
            weight: 0,
            counters: CacheStats::default(),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Counts a hit or a miss and records the access (policy bookkeeping, last access time).
    /// An expired entry is removed, counted in `expirations`, and is a miss.
    pub fn get<Q>(&mut self, key: &Q, now: Millis) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(&index) = self.map.get(key) else {
            self.counters.misses += 1;
            return None;
        };
        if self.arena.node(index).is_expired(now) {
            self.map.remove(key);
            self.detach(index);
            self.counters.expirations += 1;
            self.counters.misses += 1;
            self.after_mutation();
            return None;
        }
        self.counters.hits += 1;
        self.arena.node_mut(index).last_access = now;
        self.policy.on_access(self.arena.nodes_mut(), index);
        self.after_mutation();
        self.arena.value(index)
    }

    /// No stats, no policy bookkeeping, ignores expiry.
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key).and_then(|&index| self.arena.value(index))
    }

    /// Like `peek`: an expired entry that no `get` or `sweep` has removed yet still counts.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// Inserts or replaces. `weight_bytes` is what counts against capacity (caller includes key
    /// and overhead). Returns false and caches nothing (removing any older entry for the key) when
    /// weight_bytes > capacity_bytes. `ttl_ms: None` uses default_ttl_ms; `Some(0)` is already
    /// expired. Replacing an entry keeps its policy state where the policy says so (LRU moves it
    /// to the front, LFU and S3-FIFO count it as an access, Ttl refiles it under the new expiry).
    /// Evicts per policy when over capacity, never the entry just written.
    ///
    /// Also returns false, caching nothing, in the unreachable case of `u32::MAX - 1` entries.
    pub fn insert(
        &mut self,
        key: K,
        value: V,
        weight_bytes: u64,
        now: Millis,
        ttl_ms: Option<u64>,
    ) -> bool {
        if weight_bytes > self.config.capacity_bytes {
            self.remove(&key);
            return false;
        }
        let expires_at = ttl_ms
            .or(self.config.default_ttl_ms)
            .map(|ttl| now.plus_ms(ttl));
        let index = if let Some(&index) = self.map.get(&key) {
            self.replace(index, value, weight_bytes, expires_at, now);
            index
        } else {
            let key_hash = if self.policy.wants_key_hash() {
                self.map.hasher().hash_one(&key)
            } else {
                0
            };
            let node = Node::new(weight_bytes, expires_at, now);
            let Some(index) = self.arena.insert(key.clone(), value, node) else {
                return false;
            };
            self.map.insert(key, index);
            self.weight += weight_bytes;
            self.policy
                .on_insert(self.arena.nodes_mut(), index, key_hash);
            index
        };
        self.enforce_capacity(index, now);
        self.after_mutation();
        true
    }

    fn replace(
        &mut self,
        index: u32,
        value: V,
        weight_bytes: u64,
        expires_at: Option<Millis>,
        now: Millis,
    ) {
        let old = *self.arena.node(index);
        let node = self.arena.node_mut(index);
        node.weight = weight_bytes;
        node.expires_at = expires_at;
        node.last_access = now;
        self.weight = self.weight - old.weight + weight_bytes;
        self.arena.replace_value(index, value);
        self.policy.on_replace(self.arena.nodes_mut(), index, &old);
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let index = self.map.remove(key)?;
        let removed = self.detach(index).map(|(_, value)| value);
        self.after_mutation();
        removed
    }

    /// Incremental maintenance from an internal cursor that wraps around: examines at most
    /// `budget` entries, removes expired ones (counted in `expirations`) and, when idle_ms is
    /// Some, entries whose last access is >= idle_ms ago (counted in `idle_removals`).
    /// Returns the number removed. A full pass over n entries takes ceil(n / budget) calls.
    ///
    /// The cursor walks a ring of all entries that removals never reorder and that new entries
    /// join just behind the cursor, so consecutive calls cover every entry once per pass.
    pub fn sweep(&mut self, now: Millis, idle_ms: Option<u64>, budget: usize) -> usize {
        self.sweep_where(now, budget, |_, last_access| {
            idle_ms.is_some_and(|idle| now.since(last_access) >= idle)
        })
    }

    /// Like [`Cache::sweep`], with the idle rule given as a predicate of the key and its last
    /// access (the tier policy decides; the cache only walks). Removals it asks for are
    /// counted in `idle_removals`; expired entries are removed whatever it says.
    pub fn sweep_where(
        &mut self,
        now: Millis,
        budget: usize,
        mut remove_idle: impl FnMut(&K, Millis) -> bool,
    ) -> usize {
        let to_examine = budget.min(self.arena.len());
        let mut removed = 0;
        for _ in 0..to_examine {
            let Some(index) = self.arena.cursor() else {
                break;
            };
            let node = self.arena.node(index);
            if node.is_expired(now) {
                self.counters.expirations += 1;
            } else if self
                .arena
                .key(index)
                .is_some_and(|key| remove_idle(key, node.last_access))
            {
                self.counters.idle_removals += 1;
            } else {
                self.arena.advance_cursor();
                continue;
            }
            // Removing the cursor's entry moves the cursor on to the next one.
            self.remove_index(index);
            removed += 1;
        }
        if removed > 0 {
            self.after_mutation();
        }
        removed
    }

    /// Time of the last access (insert or get) of a key, without recording an access.
    pub fn last_access<Q>(&self, key: &Q) -> Option<Millis>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .get(key)
            .map(|&index| self.arena.node(index).last_access)
    }

    /// Shrinks by evicting (down to the reserve target, as after an insert); `now` decides which
    /// victims count as expirations rather than evictions.
    pub fn set_capacity(&mut self, capacity_bytes: u64, now: Millis) {
        let capacity_bytes = capacity_bytes.min(MAX_CAPACITY_BYTES);
        self.config.capacity_bytes = capacity_bytes;
        self.policy.set_capacity(capacity_bytes);
        self.enforce_capacity(NIL, now);
        self.after_mutation();
    }

    pub fn len(&self) -> usize {
        self.arena.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arena.len() == 0
    }

    pub fn weight_bytes(&self) -> u64 {
        self.weight
    }

    pub fn capacity_bytes(&self) -> u64 {
        self.config.capacity_bytes
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.arena.len() as u64,
            bytes: self.weight,
            ..self.counters
        }
    }

    /// Drops every entry (and S3-FIFO's ghost, which would describe a cache that no longer
    /// exists). The counters are kept: they describe the cache's history, not its contents.
    pub fn clear(&mut self) {
        self.map.clear();
        self.arena.clear();
        self.policy.clear();
        self.weight = 0;
    }

    /// Walks every structure and asserts its invariants (list links, totals, map<->arena
    /// agreement). O(n): for tests, and after every mutation with `strict-assertions`.
    pub fn check_invariants(&self) {
        let (live, weight) = self.arena.check();
        assert_eq!(
            weight, self.weight,
            "weight total disagrees with the entries"
        );
        assert_eq!(
            self.map.len(),
            self.arena.len(),
            "map and arena sizes differ"
        );
        for (key, &index) in &self.map {
            assert!(
                self.arena.key(index) == Some(key),
                "map entry points at another key"
            );
        }
        self.policy.check(self.arena.nodes(), &live);
    }

    fn after_mutation(&self) {
        #[cfg(feature = "strict-assertions")]
        self.check_invariants();
    }

    /// Evicts while over capacity, down to the reserve target, never choosing `protect`.
    fn enforce_capacity(&mut self, protect: u32, now: Millis) {
        if self.weight <= self.config.capacity_bytes {
            return;
        }
        let target = reserve_target(self.config.capacity_bytes, self.config.reserve_pct);
        while self.weight > target {
            let Some(victim) = self.policy.evict_one(self.arena.nodes_mut(), protect) else {
                break;
            };
            if victim.to_ghost
                && let Some(key) = self.arena.key(victim.index)
            {
                let hash = self.map.hasher().hash_one(key);
                self.policy.remember_evicted(hash, self.arena.len());
            }
            // An entry past its expiry was dead already; evicting it cost nothing.
            if self.arena.node(victim.index).is_expired(now) {
                self.counters.expirations += 1;
            } else {
                self.counters.evictions += 1;
            }
            self.remove_index(victim.index);
        }
    }

    /// Removes an entry found by index (eviction, sweep), including its map entry.
    fn remove_index(&mut self, index: u32) {
        if let Some((key, _value)) = self.detach(index) {
            self.map.remove(&key);
        }
    }

    /// Unlinks an entry from the policy and frees its slot; the map is the caller's business.
    fn detach(&mut self, index: u32) -> Option<(K, V)> {
        self.policy.on_remove(self.arena.nodes_mut(), index);
        self.weight -= self.arena.node(index).weight;
        self.arena.remove(index)
    }
}

#[cfg(test)]
impl<K: Hash + Eq + Clone, V> Cache<K, V> {
    /// Ghost entries currently remembered (S3-FIFO only), for tests.
    fn ghost_len(&self) -> usize {
        match &self.policy {
            Policy::S3Fifo(p) => p.ghost_len(),
            _ => 0,
        }
    }
}
