//! The hot tier: an in-memory map with a byte budget, expiry and pluggable eviction.
//!
//! Each entry is a slot in a hash table (what a hit touches) and a node in an index-addressed
//! arena (what eviction touches); each policy threads its own intrusive lists through the nodes.
//! Every operation is O(1) except under [`EvictionPolicy::Ttl`], whose expiry order is a B-tree
//! (O(log n)).
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
use core::sync::atomic::{AtomicU32, Ordering};

/// The default key hasher of [`Cache`] (foldhash, seeded per instance), for callers that need
/// to name the type, such as a sharded cache that hashes once for the shard and the cache.
pub use hashbrown::DefaultHashBuilder;

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

/// What a hit reads and writes (key, value, expiry, last access, S3-FIFO's counter) sits in the
/// hash table's slot, so an S3-FIFO hit is one probe; list links and policy fields live in the
/// arena's nodes (see the `arena` module).
///
/// `S` hashes keys. The default is `hashbrown`'s, foldhash seeded per cache: as fast as the
/// hashers of the caches this one is measured against, and seeded so that colliding keys cannot
/// be prepared in advance (it is not cryptographic; where keys come from an adversary who can
/// time the cache, pass a SipHash `RandomState` to [`Cache::with_hasher`]).
///
/// `repr(C)` puts the counters first: they are the only part of the struct a hit writes, so
/// behind a lock (as in a sharded cache) they share the lock's cache line instead of making a
/// second line move between cores on every get.
#[repr(C)]
pub struct Cache<K, V, S = DefaultHashBuilder> {
    /// Counters only; `entries` and `bytes` are filled in by `stats()`.
    counters: CacheStats,
    arena: Arena<K, V>,
    hasher: S,
    policy: Policy,
    weight: u64,
    config: CacheConfig,
    /// Mutations since the cache was made, for [`Cache::check_invariants_amortized`].
    checks: AtomicU32,
}

/// Entries a strict-assertions check may walk per operation, amortised: a cache this small is
/// checked after every mutation, a larger one every `len / STRICT_CHECK_ENTRIES` mutations.
/// The walk is O(n) with a table probe and a hash per entry; run on every mutation of a
/// cache of thousands of entries it made the strict crash tests run for many minutes.
const STRICT_CHECK_ENTRIES: usize = 256;

/// Contents are not printed: keys and values may be large or sensitive.
impl<K, V, S> fmt::Debug for Cache<K, V, S> {
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

impl<K: Hash + Eq, V> Cache<K, V> {
    /// A capacity above 2^63 - 1 bytes is clamped to that, so `config()` may differ there.
    pub fn new(config: CacheConfig) -> Self {
        Cache::with_hasher(config, DefaultHashBuilder::default())
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Cache<K, V, S> {
    /// Like [`Cache::new`], hashing keys with `hasher`.
    pub fn with_hasher(mut config: CacheConfig, hasher: S) -> Self {
        config.capacity_bytes = config.capacity_bytes.min(MAX_CAPACITY_BYTES);
        Cache {
            policy: Policy::new(config.policy, config.capacity_bytes),
            config,
            hasher,
            arena: Arena::new(),
            weight: 0,
            counters: CacheStats::default(),
            checks: AtomicU32::new(0),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    /// The hash the `*_hashed` methods expect, so a caller that needs the hash for itself (a
    /// sharded cache picking the shard) computes it once.
    pub fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Counts a hit or a miss and records the access (policy bookkeeping, last access time).
    /// An expired entry is removed, counted in `expirations`, and is a miss.
    pub fn get<Q>(&mut self, key: &Q, now: Millis) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.get_hashed(hash, key, now)
    }

    /// [`Cache::get`] with the key's hash already computed by [`Cache::hash`]. A different
    /// hash finds nothing (it is a logic error, not a memory one).
    #[inline]
    pub fn get_hashed<Q>(&mut self, hash: u64, key: &Q, now: Millis) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Some(bucket) = self.find(hash, key) else {
            self.counters.misses += 1;
            return None;
        };
        let table = self.arena.table_mut();
        let slot = table.get_bucket_mut(bucket)?;
        if slot.is_expired(now) {
            let index = slot.index;
            self.expire_on_get(index);
            return None;
        }
        // Stores only what changes: a line left clean costs nothing to evict, and a store to a
        // line still on its way from memory would hold up the unlock that follows under a lock.
        if slot.last_access != now {
            slot.last_access = now;
        }
        if !self.policy.on_access_in_place(slot) {
            let index = slot.index;
            // Relinking touches nodes only; the slot stays in its bucket.
            self.policy.on_access(self.arena.nodes_mut(), index);
        }
        self.counters.hits += 1;
        self.after_mutation();
        self.arena
            .table()
            .get_bucket(bucket)
            .map(|slot| &slot.value)
    }

    /// Out of line, so the hit path stays small enough to inline into its callers.
    #[cold]
    #[inline(never)]
    fn expire_on_get(&mut self, index: u32) {
        self.detach(index);
        self.counters.expirations += 1;
        self.counters.misses += 1;
        self.after_mutation();
    }

    /// No stats, no policy bookkeeping, ignores expiry.
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let bucket = self.find(self.hash(key), key)?;
        self.arena
            .table()
            .get_bucket(bucket)
            .map(|slot| &slot.value)
    }

    /// Like `peek`: an expired entry that no `get` or `sweep` has removed yet still counts.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(self.hash(key), key).is_some()
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
        let hash = self.hash(&key);
        self.insert_hashed(hash, key, value, weight_bytes, now, ttl_ms)
    }

    /// [`Cache::insert`] with the key's hash already computed by [`Cache::hash`]. A different
    /// hash may leave a second entry for the key (a logic error, not a memory one).
    pub fn insert_hashed(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight_bytes: u64,
        now: Millis,
        ttl_ms: Option<u64>,
    ) -> bool {
        if weight_bytes > self.config.capacity_bytes {
            self.remove_hashed(hash, &key);
            return false;
        }
        // `Millis::MAX` is "never" in the slot; the node's copy says so too.
        let expires_at = ttl_ms
            .or(self.config.default_ttl_ms)
            .map(|ttl| now.plus_ms(ttl))
            .filter(|&at| at != Millis::MAX);
        let index = if let Some(bucket) = self.find(hash, &key) {
            self.replace(bucket, value, weight_bytes, expires_at, now)
        } else {
            let node = Node::new(weight_bytes, hash, expires_at);
            let hasher = &self.hasher;
            let Some(index) = self
                .arena
                .insert(key, value, node, now, |key| hasher.hash_one(key))
            else {
                return false;
            };
            self.weight += weight_bytes;
            self.policy.on_insert(self.arena.nodes_mut(), index, hash);
            index
        };
        self.enforce_capacity(index, now);
        self.after_mutation();
        true
    }

    /// Overwrites the entry in `bucket`, returning its node's index.
    fn replace(
        &mut self,
        bucket: usize,
        value: V,
        weight_bytes: u64,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> u32 {
        let Some(slot) = self.arena.table_mut().get_bucket_mut(bucket) else {
            return NIL;
        };
        slot.value = value;
        slot.set_expires_at(expires_at);
        slot.last_access = now;
        let index = slot.index;
        let node = self.arena.node_mut(index);
        let old_weight = core::mem::replace(&mut node.weight, weight_bytes);
        let old_expires_at = core::mem::replace(&mut node.expires_at, expires_at);
        self.weight = self.weight - old_weight + weight_bytes;
        self.policy
            .on_replace(self.arena.nodes_mut(), index, old_weight, old_expires_at);
        index
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.remove_hashed(hash, key)
    }

    /// [`Cache::remove`] with the key's hash already computed by [`Cache::hash`].
    pub fn remove_hashed<Q>(&mut self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let bucket = self.find(hash, key)?;
        let index = self.arena.table().get_bucket(bucket)?.index;
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
            if self.arena.node(index).is_expired(now) {
                self.counters.expirations += 1;
            } else if self
                .arena
                .slot(index)
                .is_some_and(|slot| remove_idle(&slot.key, slot.last_access))
            {
                self.counters.idle_removals += 1;
            } else {
                self.arena.advance_cursor();
                continue;
            }
            // Removing the cursor's entry moves the cursor on to the next one.
            self.detach(index);
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
        let bucket = self.find(self.hash(key), key)?;
        self.arena
            .table()
            .get_bucket(bucket)
            .map(|slot| slot.last_access)
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
        self.arena.clear();
        self.policy.clear();
        self.weight = 0;
    }

    /// Walks every structure and asserts its invariants (list links, totals, table<->arena
    /// agreement). O(n): for tests, and after every mutation with `strict-assertions`.
    pub fn check_invariants(&self) {
        let (live, weight) = self.arena.check();
        assert_eq!(
            weight, self.weight,
            "weight total disagrees with the entries"
        );
        for slot in self.arena.table() {
            assert_eq!(
                self.arena.node(slot.index).hash,
                self.hash(&slot.key),
                "node {} keeps another hash than its key's",
                slot.index
            );
        }
        self.policy.check(self.arena.nodes(), &live);
    }

    /// [`Cache::check_invariants`] on every mutation of a small cache, and on a share of them
    /// (see `STRICT_CHECK_ENTRIES`) of a large one, so that checking costs O(1) entries per
    /// operation amortised.
    pub fn check_invariants_amortized(&self) {
        let n = self.checks.fetch_add(1, Ordering::Relaxed);
        let every = u32::try_from(self.arena.len() / STRICT_CHECK_ENTRIES)
            .unwrap_or(u32::MAX)
            .max(1);
        if n.is_multiple_of(every) {
            self.check_invariants();
        }
    }

    fn after_mutation(&self) {
        #[cfg(feature = "strict-assertions")]
        self.check_invariants_amortized();
    }

    /// The table bucket holding `key`'s slot.
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.arena
            .table()
            .find_bucket_index(hash, |slot| slot.key.borrow() == key)
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
            let node = *self.arena.node(victim.index);
            if victim.to_ghost {
                self.policy.remember_evicted(node.hash, self.arena.len());
            }
            // An entry past its expiry was dead already; evicting it cost nothing.
            if node.is_expired(now) {
                self.counters.expirations += 1;
            } else {
                self.counters.evictions += 1;
            }
            self.detach(victim.index);
        }
    }

    /// Unlinks an entry from the policy and frees its node and slot.
    fn detach(&mut self, index: u32) -> Option<(K, V)> {
        self.policy.on_remove(self.arena.nodes_mut(), index);
        self.weight -= self.arena.node(index).weight;
        self.arena.remove(index)
    }
}

#[cfg(test)]
impl<K: Hash + Eq, V> Cache<K, V> {
    /// The arena slot of a cached key, for tests that inspect nodes; `NIL` when absent.
    fn index_of<Q>(&self, key: &Q) -> u32
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(self.hash(key), key)
            .and_then(|bucket| self.arena.table().get_bucket(bucket))
            .map_or(NIL, |slot| slot.index)
    }

    /// Ghost entries currently remembered (S3-FIFO only), for tests.
    fn ghost_len(&self) -> usize {
        match &self.policy {
            Policy::S3Fifo(p) => p.ghost_len(),
            _ => 0,
        }
    }
}
