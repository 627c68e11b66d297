//! [`SyncCache`]: the hot tier's [`Cache`] for many threads, split into shards that each sit
//! behind their own mutex.
//!
//! The core's cache takes `&mut self` even to read, because a hit is a write (last access, the
//! policy's counter); sharing one behind a single lock serialises every thread on that lock and
//! bounces its cache line between cores on every get. Sharding makes two threads meet on the
//! same lock only when their keys land in the same shard. A key's hash is computed once: its
//! high bits pick the shard and the shard's table uses the same hash, so the table's own bits
//! (the low ones for the bucket, the top seven for the tag) are left alone.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

use thermocline_core::Millis;
use thermocline_core::cache::{Cache, CacheConfig, CacheStats, DefaultHashBuilder};

/// Shards per available core. A get holds its shard's lock exclusively (a hit records the
/// access), so two threads in the same shard wait for each other: with keys at random they meet
/// one get in `16 × cores`. At 4 per core (quick_cache's count, but its readers share a lock)
/// 2-thread gets measured about 25 % slower; a shard costs a few hundred bytes.
const SHARDS_PER_CORE: usize = 16;

/// Enough for any machine this runs on; more shards only cost memory and `stats()` time.
const MAX_SHARDS: usize = 1024;

/// A cache is not split into shards smaller than this: each shard refuses entries heavier than
/// its share of the capacity, and a tiny cache gains nothing from many locks.
const MIN_SHARD_BYTES: u64 = 4096;

/// The table in each shard reads the top 7 bits of the hash (its tag) and the low bits (its
/// bucket); the shard index is taken from the bits just below the tag, which a table would need
/// 2^47 buckets to reach.
const TAG_BITS: u32 = 7;

/// One shard, on cache lines of its own: two shards never share a line, so a thread locking one
/// does not evict the line another thread is locking. 128 bytes because some CPUs prefetch
/// lines in pairs.
#[repr(align(128))]
struct Shard<K, V, S>(Mutex<Cache<K, V, S>>);

/// A sharded, thread-safe [`Cache`]: share it by reference (`&SyncCache` or an `Arc`).
///
/// Each shard is a full [`Cache`] with `1 / shards` of the capacity and its own eviction policy
/// state, so eviction is per shard: an entry heavier than a shard's capacity is refused, and the
/// policy sees each shard's share of the traffic (with many keys that is a fair sample; hit
/// ratios match the unsharded cache closely but not exactly). `get` returns a clone of the value,
/// since the lock is released before it returns; keep large values behind an `Arc`.
///
/// If a thread panics while holding a shard's lock (a panic in a key's `Hash` or `Eq`, or in a
/// value's `Drop`), that shard may be half-updated; it is emptied the next time it is locked,
/// since a cache may always forget.
pub struct SyncCache<K, V, S = DefaultHashBuilder> {
    shards: Box<[Shard<K, V, S>]>,
    hasher: S,
    /// `shards.len() - 1`; the length is a power of two.
    mask: usize,
    /// Shift that brings the shard bits (just below the table's tag) to the bottom.
    shift: u32,
    config: CacheConfig,
}

impl<K, V, S> fmt::Debug for SyncCache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncCache")
            .field("config", &self.config)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq, V> SyncCache<K, V> {
    /// `16 × available cores` shards (a power of two, at most 1024), fewer when a shard would
    /// hold less than 4 KiB of the capacity.
    pub fn new(config: CacheConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut shards = cores
            .saturating_mul(SHARDS_PER_CORE)
            .next_power_of_two()
            .min(MAX_SHARDS);
        while shards > 1 && config.capacity_bytes / (shards as u64) < MIN_SHARD_BYTES {
            shards /= 2;
        }
        Self::with_shards(config, shards)
    }

    /// `shards` is rounded up to a power of two and clamped to 1..=1024.
    pub fn with_shards(config: CacheConfig, shards: usize) -> Self {
        Self::with_hasher(config, shards, DefaultHashBuilder::default())
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Clone> SyncCache<K, V, S> {
    /// Like [`SyncCache::with_shards`], hashing keys with `hasher` (every shard uses a clone, so a
    /// key is hashed once per operation).
    pub fn with_hasher(config: CacheConfig, shards: usize, hasher: S) -> Self {
        let shards = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let shard_config = CacheConfig {
            capacity_bytes: config.capacity_bytes / shards as u64,
            ..config.clone()
        };
        let built: Vec<Shard<K, V, S>> = (0..shards)
            .map(|_| {
                Shard(Mutex::new(Cache::with_hasher(
                    shard_config.clone(),
                    hasher.clone(),
                )))
            })
            .collect();
        let bits = shards.trailing_zeros();
        SyncCache {
            shards: built.into_boxed_slice(),
            hasher,
            mask: shards - 1,
            shift: u64::BITS - TAG_BITS - bits,
            config,
        }
    }

    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The configuration given at creation (or by [`SyncCache::set_capacity`]); each shard has
    /// `capacity_bytes / shards()` of it.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// [`Cache::get`], returning a clone of the value.
    pub fn get<Q>(&self, key: &Q, now: Millis) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let hash = self.hasher.hash_one(key);
        self.lock(hash).get_hashed(hash, key, now).cloned()
    }

    /// [`Cache::peek`]: no stats, no policy bookkeeping, ignores expiry.
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let hash = self.hasher.hash_one(key);
        self.lock(hash).peek(key).cloned()
    }

    /// [`Cache::contains`].
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        self.lock(hash).contains(key)
    }

    /// [`Cache::insert`] into the key's shard: capacity and eviction are the shard's, so an
    /// entry heavier than `capacity_bytes / shards()` is refused (false).
    pub fn insert(
        &self,
        key: K,
        value: V,
        weight_bytes: u64,
        now: Millis,
        ttl_ms: Option<u64>,
    ) -> bool {
        let hash = self.hasher.hash_one(&key);
        self.lock(hash)
            .insert_hashed(hash, key, value, weight_bytes, now, ttl_ms)
    }

    /// [`Cache::remove`].
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        self.lock(hash).remove_hashed(hash, key)
    }

    /// [`Cache::sweep`] on every shard, `budget` shared among them (at least one entry each),
    /// one shard locked at a time. Returns the number removed.
    pub fn sweep(&self, now: Millis, idle_ms: Option<u64>, budget: usize) -> usize {
        let per_shard = budget.div_ceil(self.shards.len()).max(1);
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).sweep(now, idle_ms, per_shard))
            .sum()
    }

    /// Splits the new capacity among the shards, each evicting as [`Cache::set_capacity`] does.
    pub fn set_capacity(&mut self, capacity_bytes: u64, now: Millis) {
        self.config.capacity_bytes = capacity_bytes;
        let per_shard = capacity_bytes / self.shards.len() as u64;
        for i in 0..self.shards.len() {
            self.lock_shard(i).set_capacity(per_shard, now);
        }
    }

    /// Entries in all shards; each shard is counted under its own lock, so under concurrent
    /// writes the total is approximate.
    pub fn len(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        (0..self.shards.len()).all(|i| self.lock_shard(i).is_empty())
    }

    /// The sum over shards, approximate under concurrent writes like [`SyncCache::len`].
    pub fn stats(&self) -> CacheStats {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).stats())
            .fold(CacheStats::default(), |a, b| CacheStats {
                hits: a.hits + b.hits,
                misses: a.misses + b.misses,
                evictions: a.evictions + b.evictions,
                expirations: a.expirations + b.expirations,
                idle_removals: a.idle_removals + b.idle_removals,
                entries: a.entries + b.entries,
                bytes: a.bytes + b.bytes,
            })
    }

    /// [`Cache::clear`] on every shard.
    pub fn clear(&self) {
        for i in 0..self.shards.len() {
            self.lock_shard(i).clear();
        }
    }

    /// [`Cache::check_invariants`] on every shard.
    pub fn check_invariants(&self) {
        for i in 0..self.shards.len() {
            self.lock_shard(i).check_invariants();
        }
    }

    fn lock(&self, hash: u64) -> MutexGuard<'_, Cache<K, V, S>> {
        // The mask keeps the index below the length, a power of two.
        self.lock_shard((hash >> self.shift) as usize & self.mask)
    }

    fn lock_shard(&self, index: usize) -> MutexGuard<'_, Cache<K, V, S>> {
        let Some(Shard(mutex)) = self.shards.get(index) else {
            unreachable!("shard index {index} is masked below the shard count");
        };
        match mutex.lock() {
            Ok(guard) => guard,
            Err(poisoned) => recover(mutex, poisoned.into_inner()),
        }
    }
}

/// Empties a shard whose lock was poisoned and clears the poison. Out of line: it never runs on
/// a healthy cache and would only crowd the lock path.
#[cold]
#[inline(never)]
fn recover<'a, K: Hash + Eq, V, S: BuildHasher>(
    mutex: &Mutex<Cache<K, V, S>>,
    mut guard: MutexGuard<'a, Cache<K, V, S>>,
) -> MutexGuard<'a, Cache<K, V, S>> {
    guard.clear();
    mutex.clear_poison();
    guard
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::hash::Hasher;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;

    use thermocline_core::cache::EvictionPolicy;

    use super::*;

    fn config(policy: EvictionPolicy, capacity_bytes: u64) -> CacheConfig {
        CacheConfig {
            capacity_bytes,
            policy,
            default_ttl_ms: None,
            reserve_pct: 0,
        }
    }

    #[test]
    fn keys_spread_over_every_shard_and_stay_found() {
        let cache = SyncCache::with_shards(config(EvictionPolicy::S3Fifo, 1 << 20), 16);
        assert_eq!(cache.shards(), 16);
        for k in 0..10_000u64 {
            assert!(cache.insert(k, k * 2, 1, Millis(0), None));
        }
        assert_eq!(cache.len(), 10_000);
        for i in 0..cache.shards() {
            let n = cache.lock_shard(i).len();
            // 625 expected per shard; a shard far off would mean the shard bits are not random.
            assert!((400..900).contains(&n), "shard {i} holds {n}");
        }
        for k in 0..10_000u64 {
            assert_eq!(cache.get(&k, Millis(1)), Some(k * 2));
        }
        assert_eq!(cache.remove(&7), Some(14));
        assert!(!cache.contains(&7));
        assert_eq!(cache.peek(&8), Some(16));
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.entries), (10_000, 9_999));
        cache.check_invariants();
        cache.clear();
        assert!(cache.is_empty());
    }

    /// With one shard the sharded cache is the plain cache behind a lock: same hits exactly.
    #[test]
    fn one_shard_behaves_like_the_plain_cache() {
        for policy in [EvictionPolicy::S3Fifo, EvictionPolicy::Lru] {
            let sync = SyncCache::with_shards(config(policy, 300), 1);
            let mut plain = Cache::new(config(policy, 300));
            let mut x = 0x1234_5678u64;
            for step in 0..50_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = (x % 1000).min((x >> 20) % 1000);
                let now = Millis(step);
                let hit = sync.get(&key, now).is_some();
                assert_eq!(
                    hit,
                    plain.get(&key, now).is_some(),
                    "{policy:?} step {step}"
                );
                if !hit {
                    assert!(sync.insert(key, step, 1, now, None));
                    plain.insert(key, step, 1, now, None);
                }
            }
            assert_eq!(sync.stats(), plain.stats());
        }
    }

    #[test]
    fn capacity_is_split_and_heavy_entries_are_refused_per_shard() {
        let cache = SyncCache::<u64, u64>::with_shards(config(EvictionPolicy::S3Fifo, 1000), 4);
        assert!(
            !cache.insert(1, 1, 251, Millis(0), None),
            "above a shard's 250"
        );
        assert!(cache.insert(1, 1, 250, Millis(0), None));
        for k in 0..10_000u64 {
            cache.insert(k, k, 10, Millis(0), None);
        }
        assert!(cache.stats().bytes <= 1000);
        let mut cache = cache;
        cache.set_capacity(400, Millis(1));
        assert!(cache.stats().bytes <= 400);
        assert_eq!(cache.config().capacity_bytes, 400);
        cache.check_invariants();
    }

    #[test]
    fn new_picks_a_power_of_two_and_keeps_small_caches_whole() {
        let big = SyncCache::<u64, u64>::new(config(EvictionPolicy::S3Fifo, 1 << 30));
        assert!(big.shards().is_power_of_two() && big.shards() >= SHARDS_PER_CORE);
        let small = SyncCache::<u64, u64>::new(config(EvictionPolicy::S3Fifo, 5000));
        assert_eq!(small.shards(), 1);
        assert_eq!(
            SyncCache::<u64, u64>::with_shards(config(EvictionPolicy::Lru, 100), 5).shards(),
            8
        );
    }

    #[test]
    fn threads_share_it() {
        let cache = Arc::new(SyncCache::with_shards(
            config(EvictionPolicy::S3Fifo, 2000),
            8,
        ));
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let key = (i * 7 + t) % 3000;
                        match i % 4 {
                            0 => {
                                cache.insert(key, key, 1, Millis(i), None);
                            }
                            1 => {
                                cache.remove(&key);
                            }
                            _ => {
                                if let Some(v) = cache.get(&key, Millis(i)) {
                                    assert_eq!(v, key);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("worker");
        }
        cache.check_invariants();
        assert!(cache.stats().bytes <= 2000);
    }

    thread_local! {
        static PANIC_ON_EQ: Cell<bool> = const { Cell::new(false) };
    }

    /// A key whose `Eq` panics on demand, to poison a shard's lock mid-operation.
    #[derive(Clone, Debug)]
    struct Touchy(u64);

    impl PartialEq for Touchy {
        fn eq(&self, other: &Self) -> bool {
            assert!(!PANIC_ON_EQ.with(Cell::get), "Eq panics on demand");
            self.0 == other.0
        }
    }
    impl Eq for Touchy {}
    impl Hash for Touchy {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }

    #[test]
    fn a_poisoned_shard_is_emptied_and_used_again() {
        let cache = SyncCache::with_shards(config(EvictionPolicy::S3Fifo, 1 << 20), 1);
        for k in 0..100 {
            cache.insert(Touchy(k), k, 1, Millis(0), None);
        }
        PANIC_ON_EQ.with(|p| p.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| cache.get(&Touchy(5), Millis(0))));
        PANIC_ON_EQ.with(|p| p.set(false));
        assert!(outcome.is_err());
        assert!(cache.is_empty(), "the poisoned shard was emptied");
        assert!(cache.insert(Touchy(5), 5, 1, Millis(0), None));
        assert_eq!(cache.get(&Touchy(5), Millis(0)), Some(5));
        cache.check_invariants();
    }
}
