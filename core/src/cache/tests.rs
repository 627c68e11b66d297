//! Behaviour shared by all policies: LRU exactness, expiry, sweeping, byte capacity, stats.
#![expect(
    clippy::indexing_slicing,
    reason = "test code indexes small local vectors"
)]

extern crate std;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{Cache, CacheConfig, CacheStats, EvictionPolicy};
use crate::time::Millis;

/// xorshift64*: a fixed-seed generator so every trace is reproducible.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A rank in `0..n` with probability roughly proportional to 1/(rank+1) (Zipf, s = 1):
    /// log-uniform sampling, the continuous inverse of the harmonic CDF.
    pub fn zipf(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let rank = libm_exp(u * libm_ln((n + 1) as f64)) as u64;
        rank.saturating_sub(1).min(n - 1)
    }
}

fn libm_exp(x: f64) -> f64 {
    std::primitive::f64::exp(x)
}

fn libm_ln(x: f64) -> f64 {
    std::primitive::f64::ln(x)
}

pub(super) fn config(policy: EvictionPolicy, capacity_bytes: u64, reserve_pct: u8) -> CacheConfig {
    CacheConfig {
        capacity_bytes,
        policy,
        default_ttl_ms: None,
        reserve_pct,
    }
}

pub(super) const ALL_POLICIES: [EvictionPolicy; 4] = [
    EvictionPolicy::S3Fifo,
    EvictionPolicy::Lru,
    EvictionPolicy::Lfu,
    EvictionPolicy::Ttl,
];

/// A deliberately naive LRU: a deque, most recent at the front, linear search.
struct ReferenceLru {
    capacity: usize,
    order: VecDeque<u64>,
}

impl ReferenceLru {
    fn access(&mut self, key: u64) -> bool {
        let hit = if let Some(pos) = self.order.iter().position(|&k| k == key) {
            self.order.remove(pos);
            true
        } else {
            false
        };
        self.order.push_front(key);
        if self.order.len() > self.capacity {
            self.order.pop_back();
        }
        hit
    }
}

#[test]
fn lru_with_no_reserve_matches_reference_lru_exactly() {
    let mut cache = Cache::new(config(EvictionPolicy::Lru, 500, 0));
    let mut reference = ReferenceLru {
        capacity: 500,
        order: VecDeque::new(),
    };
    let mut rng = Rng::new(0x5EED_1234);
    let mut hits = 0u64;
    for step in 0..200_000u64 {
        // Skewed towards low keys so the hit ratio is far from both 0 and 1.
        let key = rng.below(5000).min(rng.below(5000));
        let now = Millis(step);
        let hit = cache.get(&key, now).is_some();
        if !hit {
            assert!(cache.insert(key, key, 1, now, None));
        }
        assert_eq!(
            hit,
            reference.access(key),
            "diverged at request {step} (key {key})"
        );
        hits += u64::from(hit);
        if step % 10_000 == 0 {
            cache.check_invariants();
        }
    }
    assert_eq!(cache.stats().hits, hits);
    assert_eq!(cache.len(), 500);
    assert!(
        hits > 20_000 && hits < 180_000,
        "trace too trivial: {hits} hits"
    );
    let mut cached: Vec<u64> = reference.order.iter().copied().collect();
    cached.sort_unstable();
    assert!(cached.iter().all(|k| cache.contains(k)));
}

#[test]
fn per_key_ttl_expires_and_counts() {
    for policy in ALL_POLICIES {
        let mut cache = Cache::new(config(policy, 1000, 10));
        assert!(cache.insert("a", 1, 10, Millis(0), Some(100)));
        assert!(cache.insert("b", 2, 10, Millis(0), None));
        assert_eq!(cache.get("a", Millis(99)), Some(&1));
        assert_eq!(
            cache.get("a", Millis(100)),
            None,
            "{policy:?}: expiry is inclusive"
        );
        assert!(!cache.contains("a"));
        assert_eq!(cache.get("b", Millis(1_000_000)), Some(&2));
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.expirations), (2, 1, 1));
        assert_eq!((stats.entries, stats.bytes), (1, 10));
        cache.check_invariants();
    }
}

#[test]
fn default_ttl_applies_only_without_explicit_ttl() {
    let mut cfg = config(EvictionPolicy::Lru, 1000, 10);
    cfg.default_ttl_ms = Some(50);
    let mut cache = Cache::new(cfg);
    cache.insert(1u32, "default", 1, Millis(0), None);
    cache.insert(2u32, "explicit", 1, Millis(0), Some(500));
    assert_eq!(cache.get(&1, Millis(49)), Some(&"default"));
    assert_eq!(cache.get(&1, Millis(50)), None);
    assert_eq!(cache.get(&2, Millis(499)), Some(&"explicit"));
    // Overwriting restarts the clock.
    cache.insert(2u32, "again", 1, Millis(400), None);
    assert_eq!(cache.get(&2, Millis(449)), Some(&"again"));
    assert_eq!(cache.get(&2, Millis(450)), None);
    assert_eq!(cache.stats().expirations, 2);
}

#[test]
fn peek_contains_and_last_access_record_nothing() {
    let mut cache = Cache::new(config(EvictionPolicy::S3Fifo, 1000, 10));
    cache.insert(7u8, 70u32, 1, Millis(5), Some(10));
    assert_eq!(cache.peek(&7), Some(&70), "peek ignores expiry");
    assert!(cache.contains(&7));
    assert_eq!(cache.last_access(&7), Some(Millis(5)));
    assert_eq!(
        cache.stats(),
        CacheStats {
            entries: 1,
            bytes: 1,
            ..CacheStats::default()
        }
    );
    assert_eq!(cache.get(&7, Millis(9)), Some(&70));
    assert_eq!(cache.last_access(&7), Some(Millis(9)));
    assert_eq!(cache.last_access(&8), None);
}

#[test]
fn sweep_removes_expired_and_idle_within_budget() {
    let mut cache = Cache::new(config(EvictionPolicy::Lru, 10_000, 10));
    // 0..10 expire at 100; 10..20 never expire but go idle; 20..30 stay fresh.
    for k in 0..30u32 {
        let ttl = (k < 10).then_some(100);
        cache.insert(k, k, 1, Millis(0), ttl);
    }
    for k in 20..30u32 {
        cache.get(&k, Millis(900));
    }
    let n = cache.len();
    let budget = 4;
    let calls = n.div_ceil(budget);
    let mut removed = 0;
    for _ in 0..calls {
        let before = cache.len();
        let r = cache.sweep(Millis(1000), Some(500), budget);
        assert!(r <= budget, "sweep removed {r} with budget {budget}");
        assert_eq!(before - cache.len(), r);
        removed += r;
        cache.check_invariants();
    }
    assert_eq!(removed, 20, "one full pass takes ceil(n / budget) calls");
    assert!((20..30).all(|k| cache.contains(&k)));
    let stats = cache.stats();
    assert_eq!((stats.expirations, stats.idle_removals), (10, 10));
    // Without idle_ms only expiry matters, and fresh entries survive any number of passes.
    assert_eq!(cache.sweep(Millis(5000), None, 100), 0);
    assert_eq!(cache.sweep(Millis(5000), None, 0), 0);
    assert_eq!(cache.len(), 10);
}

#[test]
fn sweep_examines_at_most_budget_entries_and_wraps() {
    let mut cache = Cache::new(config(EvictionPolicy::Lfu, 10_000, 10));
    for k in 0..10u32 {
        cache.insert(k, (), 1, Millis(0), Some(10));
    }
    // Everything is expired, so each examined entry is removed: removals == entries examined.
    assert_eq!(cache.sweep(Millis(10), None, 3), 3);
    assert_eq!(cache.sweep(Millis(10), None, 3), 3);
    assert_eq!(cache.sweep(Millis(10), None, 3), 3);
    assert_eq!(cache.sweep(Millis(10), None, 3), 1);
    assert!(cache.is_empty());
    // The cursor wraps: a mixed population is fully covered in ceil(n / budget) calls from
    // wherever the cursor was left.
    for k in 0..7u32 {
        cache.insert(
            k,
            (),
            1,
            Millis(20),
            if k % 2 == 0 { Some(5) } else { None },
        );
    }
    cache.sweep(Millis(0), None, 5);
    let removed: usize = (0..3).map(|_| cache.sweep(Millis(25), None, 3)).sum();
    assert_eq!(removed, 4);
    cache.check_invariants();
}

#[test]
fn sweep_covers_every_entry_in_ceil_n_over_budget_calls_from_any_cursor() {
    let mut rng = Rng::new(77);
    for round in 0..200u64 {
        let mut cache = Cache::new(config(ALL_POLICIES[(round % 4) as usize], 1 << 20, 10));
        let n = 1 + rng.below(60) as usize;
        let budget = 1 + rng.below(10) as usize;
        for k in 0..n as u64 {
            let ttl = (rng.below(3) == 0).then_some(10);
            cache.insert(k, (), 1, Millis(0), ttl);
        }
        // Leave the cursor somewhere arbitrary, and make some churn behind and ahead of it.
        cache.sweep(Millis(0), None, rng.below(100) as usize);
        cache.remove(&rng.below(n as u64));
        cache.insert(1000 + round, (), 1, Millis(0), Some(10));
        let total = cache.len();
        for _ in 0..total.div_ceil(budget) {
            cache.sweep(Millis(10), None, budget);
        }
        cache.check_invariants();
        assert_eq!(cache.stats().expirations as usize + cache.len(), total);
        assert_eq!(
            cache.sweep(Millis(10), None, usize::MAX),
            0,
            "an expired entry survived"
        );
    }
}

#[test]
fn byte_capacity_reserve_and_oversize() {
    for policy in ALL_POLICIES {
        let mut cache = Cache::new(config(policy, 1000, 10));
        for k in 0..10u32 {
            assert!(cache.insert(k, k, 100, Millis(u64::from(k)), None));
        }
        assert_eq!((cache.weight_bytes(), cache.stats().evictions), (1000, 0));
        assert!(cache.insert(10, 10, 100, Millis(10), None));
        assert!(
            cache.weight_bytes() <= 900,
            "{policy:?}: reserve not applied"
        );
        assert_eq!(
            cache.weight_bytes(),
            900,
            "{policy:?}: evicted more than needed"
        );
        assert_eq!(cache.stats().evictions, 2);
        assert!(
            cache.contains(&10),
            "{policy:?}: evicted the entry just inserted"
        );

        assert!(
            !cache.insert(99, 99, 1001, Millis(11), None),
            "oversize accepted"
        );
        assert!(!cache.contains(&99));
        assert!(!cache.insert(10, 10, 1001, Millis(12), None));
        assert!(
            !cache.contains(&10),
            "oversize overwrite must drop the old entry"
        );
        assert_eq!(cache.weight_bytes(), 800);
        cache.check_invariants();
    }
}

#[test]
fn weights_are_honoured_on_overwrite_and_removal() {
    let mut cache = Cache::new(config(EvictionPolicy::S3Fifo, 1000, 0));
    cache.insert("x", 1, 300, Millis(0), None);
    cache.insert("y", 2, 200, Millis(0), None);
    cache.insert("x", 3, 450, Millis(1), None);
    assert_eq!(cache.weight_bytes(), 650);
    assert_eq!(cache.remove("y"), Some(2));
    assert_eq!(cache.remove("y"), None);
    assert_eq!(cache.weight_bytes(), 450);
    // With no reserve, eviction stops as soon as the total fits.
    cache.insert("z", 4, 550, Millis(2), None);
    assert_eq!((cache.weight_bytes(), cache.len()), (1000, 2));
    cache.insert("w", 5, 1, Millis(3), None);
    assert!(cache.weight_bytes() <= 1000);
    assert!(cache.contains("w"));
    cache.check_invariants();
}

#[test]
fn entry_that_fits_alone_survives_its_own_insert() {
    for policy in ALL_POLICIES {
        let mut cache = Cache::new(config(policy, 100, 10));
        assert!(cache.insert(1u8, (), 95, Millis(0), None));
        assert!(
            cache.contains(&1),
            "{policy:?}: above the reserve target but fits"
        );
        assert!(cache.insert(2u8, (), 10, Millis(1), None));
        assert!(!cache.contains(&1) && cache.contains(&2), "{policy:?}");
        assert!(cache.insert(3u8, (), 100, Millis(2), None));
        assert_eq!(cache.len(), 1, "{policy:?}");
        cache.check_invariants();
    }
}

#[test]
fn set_capacity_shrinks_by_evicting_and_clear_empties() {
    for policy in ALL_POLICIES {
        let mut cache = Cache::new(config(policy, 1000, 10));
        for k in 0..10u32 {
            cache.insert(k, k, 100, Millis(0), None);
        }
        cache.set_capacity(500, Millis(1));
        assert_eq!(cache.capacity_bytes(), 500);
        assert!(cache.weight_bytes() <= 450, "{policy:?}");
        assert_eq!(cache.stats().evictions, 6);
        cache.check_invariants();
        cache.clear();
        assert!(cache.is_empty() && cache.weight_bytes() == 0);
        assert_eq!(cache.stats().evictions, 6, "clear keeps the counters");
        cache.check_invariants();
        assert!(cache.insert(1, 1, 500, Millis(2), None));
    }
}

#[test]
fn stats_count_hits_misses_evictions_expirations() {
    let mut cache = Cache::new(config(EvictionPolicy::Lru, 3, 0));
    cache.insert(1u32, (), 1, Millis(0), None);
    cache.insert(2u32, (), 1, Millis(0), Some(10));
    cache.insert(3u32, (), 1, Millis(0), None);
    assert!(cache.get(&1, Millis(1)).is_some());
    assert!(cache.get(&4, Millis(1)).is_none());
    assert!(cache.get(&2, Millis(20)).is_none()); // expired: miss + expiration
    cache.insert(4u32, (), 1, Millis(21), None); // {4, 1, 3}: no eviction yet
    cache.insert(5u32, (), 1, Millis(22), None); // evicts 3, the least recent
    assert!(!cache.contains(&3));
    cache.insert(6u32, (), 1, Millis(23), Some(1)); // evicts 1
    cache.insert(7u32, (), 1, Millis(30), None); // evicts 4
    cache.insert(8u32, (), 1, Millis(31), None); // evicts 5
    cache.insert(9u32, (), 1, Millis(32), None); // evicts 6, which expired at 24
    assert_eq!(
        cache.stats(),
        CacheStats {
            hits: 1,
            misses: 2,
            evictions: 4,
            expirations: 2,
            idle_removals: 0,
            entries: 3,
            bytes: 3,
        }
    );
}

#[test]
fn zero_capacity_caches_only_weightless_entries() {
    let mut cache = Cache::new(config(EvictionPolicy::S3Fifo, 0, 10));
    assert!(!cache.insert(1u8, (), 1, Millis(0), None));
    assert!(cache.insert(2u8, (), 0, Millis(0), None));
    assert_eq!(cache.get(&2, Millis(1)), Some(&()));
    cache.check_invariants();
}

#[test]
fn hashed_calls_agree_with_plain_ones_and_any_hasher_works() {
    for policy in ALL_POLICIES {
        let mut cache = Cache::with_hasher(config(policy, 1000, 0), std::hash::RandomState::new());
        for k in 0..200u64 {
            let hash = cache.hash(&k);
            assert!(cache.insert_hashed(hash, k, k + 1, 1, Millis(k), None));
        }
        for k in 0..200u64 {
            assert_eq!(cache.get(&k, Millis(300)), Some(&(k + 1)));
            let hash = cache.hash(&k);
            assert_eq!(cache.get_hashed(hash, &k, Millis(300)), Some(&(k + 1)));
        }
        let hash = cache.hash(&7u64);
        assert_eq!(cache.remove_hashed(hash, &7u64), Some(8));
        assert_eq!(cache.remove(&8u64), Some(9));
        assert!(!cache.contains(&7u64) && cache.peek(&9u64) == Some(&10));
        assert_eq!(cache.len(), 198);
        cache.check_invariants();
    }
}

/// The table rehashes keys when it grows, and eviction and the sweep find slots by the hash each
/// node keeps; string keys looked up as `str` exercise both through `Borrow`.
#[test]
fn borrowed_lookups_survive_growth_eviction_and_sweeps() {
    use alloc::string::{String, ToString};
    for policy in ALL_POLICIES {
        let mut cache: Cache<String, usize> = Cache::new(config(policy, 3000, 10));
        for i in 0..10_000usize {
            let now = Millis(i as u64);
            let ttl = (i % 7 == 0).then_some(50);
            assert!(cache.insert(i.to_string(), i, 1, now, ttl));
            if i % 3 == 0 {
                let probe = (i / 2).to_string();
                if let Some(&v) = cache.get(probe.as_str(), now) {
                    assert_eq!(v, i / 2);
                }
            }
            if i % 1000 == 999 {
                cache.sweep(now, Some(400), 500);
                cache.check_invariants();
            }
        }
        assert!(cache.len() <= 3000);
        assert_eq!(cache.peek("9999"), Some(&9999));
    }
}

/// Expiry is kept in eight bytes, with the end of time meaning "never": a TTL that saturates
/// there never expires (it meant half a billion years), while every earlier deadline does.
#[test]
fn a_deadline_saturating_at_the_end_of_time_means_never() {
    for policy in ALL_POLICIES {
        let mut cache = Cache::new(config(policy, 100, 0));
        let late = Millis(u64::MAX - 10);
        assert!(cache.insert(1u8, 'a', 1, late, Some(100)));
        assert!(cache.insert(2u8, 'b', 1, late, Some(5)));
        assert_eq!(cache.get(&1, Millis::MAX), Some(&'a'), "{policy:?}");
        assert_eq!(cache.get(&2, Millis(u64::MAX - 5)), None, "{policy:?}");
        cache.check_invariants();
    }
}
