//! Policy-specific behaviour: LFU order, S3-FIFO queues and scan resistance, Ttl order, and a
//! randomized invariant check for every policy.
#![expect(
    clippy::indexing_slicing,
    reason = "test code indexes small local vectors"
)]

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::arena::Links;
use super::tests::{ALL_POLICIES, Rng, config};
use super::{Cache, EvictionPolicy};
use crate::time::Millis;

#[test]
fn lfu_evicts_least_frequent_then_least_recent() {
    let mut cache = Cache::new(config(EvictionPolicy::Lfu, 3, 0));
    for k in ['a', 'b', 'c'] {
        cache.insert(k, (), 1, Millis(0), None);
    }
    cache.get(&'b', Millis(1));
    cache.get(&'a', Millis(2));
    cache.insert('d', (), 1, Millis(3), None);
    assert!(!cache.contains(&'c'), "c was the only entry used once");
    // a and b have two uses, d one; the newcomer d is the victim of the next insert.
    cache.insert('e', (), 1, Millis(4), None);
    assert!(!cache.contains(&'d'));
    cache.get(&'e', Millis(5));
    // All at two uses now; b reached that count first, so it is least recently used.
    cache.insert('f', (), 1, Millis(6), None);
    assert!(!cache.contains(&'b'));
    assert!(cache.contains(&'a') && cache.contains(&'e') && cache.contains(&'f'));
    cache.check_invariants();
}

/// A naive LFU: frequency and last-use tick per key, victim found by a full scan.
struct ReferenceLfu {
    capacity: usize,
    entries: BTreeMap<u64, (u64, u64)>,
}

impl ReferenceLfu {
    /// Mirrors get-else-insert; an overwrite (`write`) counts as a use like a hit.
    fn access(&mut self, key: u64, tick: u64, write: bool) -> bool {
        if let Some((freq, last)) = self.entries.get_mut(&key) {
            *freq += 1;
            *last = tick;
            return true;
        }
        if !write {
            return false;
        }
        self.entries.insert(key, (1, tick));
        if self.entries.len() > self.capacity {
            let victim = self
                .entries
                .iter()
                .filter(|&(&k, _)| k != key)
                .min_by_key(|&(_, &order)| order)
                .map(|(&k, _)| k);
            if let Some(victim) = victim {
                self.entries.remove(&victim);
            }
        }
        false
    }
}

#[test]
fn lfu_matches_a_scanning_reference_and_keeps_its_invariants() {
    let mut cache = Cache::new(config(EvictionPolicy::Lfu, 50, 0));
    let mut reference = ReferenceLfu {
        capacity: 50,
        entries: BTreeMap::new(),
    };
    let mut rng = Rng::new(0xF00D);
    for tick in 0..30_000u64 {
        let key = rng.zipf(300);
        let now = Millis(tick);
        match rng.below(10) {
            0 => {
                assert_eq!(
                    cache.remove(&key).is_some(),
                    reference.entries.remove(&key).is_some()
                );
            }
            1 => {
                cache.insert(key, tick, 1, now, None);
                reference.access(key, tick, true);
            }
            _ => {
                let hit = cache.get(&key, now).is_some();
                assert_eq!(
                    hit,
                    reference.access(key, tick, false),
                    "tick {tick} key {key}"
                );
                if !hit {
                    cache.insert(key, tick, 1, now, None);
                    reference.access(key, tick, true);
                }
            }
        }
        cache.check_invariants();
        assert_eq!(cache.len(), reference.entries.len());
    }
    assert!(reference.entries.keys().all(|k| cache.contains(k)));
}

fn links_of(cache: &Cache<u32, ()>, keys: &[u32]) -> Vec<Links> {
    keys.iter()
        .map(|k| cache.arena.node(cache.index_of(k)).links)
        .collect()
}

#[test]
fn s3fifo_hits_bump_a_counter_without_moving_nodes() {
    let mut cache = Cache::new(config(EvictionPolicy::S3Fifo, 100, 0));
    let keys: Vec<u32> = (0..20).collect();
    for &k in &keys {
        cache.insert(k, (), 1, Millis(0), None);
    }
    let before = links_of(&cache, &keys);
    for round in 0..5 {
        for &k in keys.iter().step_by(3) {
            assert!(cache.get(&k, Millis(round)).is_some());
        }
    }
    assert_eq!(links_of(&cache, &keys), before);
    assert_eq!(
        cache.arena.nodes().freq(cache.index_of(&0)),
        3,
        "counter saturates at 3"
    );
    assert_eq!(cache.arena.nodes().freq(cache.index_of(&1)), 0);
}

#[test]
fn s3fifo_promotes_reused_entries_and_remembers_one_hit_wonders() {
    let mut cache = Cache::new(config(EvictionPolicy::S3Fifo, 10, 0));
    for k in 0..10u32 {
        cache.insert(k, (), 1, Millis(0), None);
    }
    cache.get(&0, Millis(1));
    cache.insert(10, (), 1, Millis(2), None);
    // 0 was used in small: promoted. 1 was never used: evicted, its hash kept as a ghost.
    assert!(cache.arena.node(cache.index_of(&0)).in_main);
    assert!(!cache.contains(&1));
    assert_eq!(cache.ghost_len(), 1);
    // A ghost coming back skips the small queue, and the ghost entry is consumed.
    cache.insert(1, (), 1, Millis(3), None);
    assert!(cache.arena.node(cache.index_of(&1)).in_main);
    assert_eq!(
        cache.ghost_len(),
        1,
        "one ghost consumed, one small entry evicted"
    );
    assert!(!cache.contains(&2));
    cache.check_invariants();
}

#[test]
fn s3fifo_main_reinserts_used_entries_like_a_clock() {
    let mut cache = Cache::new(config(EvictionPolicy::S3Fifo, 4, 0));
    // Route 0..4 to main through the ghost.
    for k in 0..4u32 {
        cache.insert(k, (), 1, Millis(0), None);
    }
    for k in 4..8u32 {
        cache.insert(k, (), 1, Millis(0), None);
    }
    for k in 0..4u32 {
        cache.insert(k, (), 1, Millis(1), None);
        assert!(
            cache.arena.node(cache.index_of(&k)).in_main,
            "ghost {k} admitted to main"
        );
    }
    cache.get(&0, Millis(2));
    // Main is full of 0..4; small is empty. A newcomer forces main to evict: 0 is the oldest
    // but was used, so it is reinserted with its counter decremented and 1 goes instead.
    cache.insert(100, (), 1, Millis(3), None);
    assert!(cache.contains(&0) && !cache.contains(&1));
    assert_eq!(cache.arena.nodes().freq(cache.index_of(&0)), 0);
    cache.check_invariants();
}

const SCAN_KEYS: u64 = 1_000_000;

/// Get-else-insert over `trace`; returns the hit ratio of the hot-set requests from `measure_from`
/// on. Scan requests are left out of the ratio because no policy can ever hit them.
fn hot_hit_ratio(policy: EvictionPolicy, trace: &[u64], measure_from: usize) -> f64 {
    let mut cache = Cache::new(config(policy, 1000, 10));
    let (mut hits, mut requests) = (0u64, 0u64);
    for (t, &key) in trace.iter().enumerate() {
        let now = Millis(t as u64);
        let hit = cache.get(&key, now).is_some();
        if !hit {
            cache.insert(key, (), 1, now, None);
        }
        if t >= measure_from && key < SCAN_KEYS {
            requests += 1;
            hits += u64::from(hit);
        }
    }
    cache.check_invariants();
    hits as f64 / requests as f64
}

#[test]
fn s3fifo_resists_scans_that_flush_lru() {
    let mut rng = Rng::new(0xC0FFEE);
    let mut next_scan_key = SCAN_KEYS;
    let mut trace = Vec::new();
    // A hot Zipf set that fits in the cache, then the same mixed 1:1 with a one-pass scan.
    let warm_up = 20_000;
    for _ in 0..warm_up {
        trace.push(rng.zipf(800));
    }
    for _ in 0..100_000 {
        if rng.below(2) == 0 {
            trace.push(rng.zipf(800));
        } else {
            trace.push(next_scan_key);
            next_scan_key += 1;
        }
    }
    let s3fifo = hot_hit_ratio(EvictionPolicy::S3Fifo, &trace, warm_up);
    let lru = hot_hit_ratio(EvictionPolicy::Lru, &trace, warm_up);
    // Measured: S3-FIFO keeps nearly the whole hot set (~0.99); LRU loses about a quarter (~0.76).
    assert!(s3fifo > 0.95, "S3-FIFO lost the hot set: {s3fifo:.3}");
    assert!(s3fifo > lru + 0.15, "S3-FIFO {s3fifo:.3} vs LRU {lru:.3}");
}

#[test]
fn ttl_policy_evicts_soonest_expiry_then_lru_of_the_rest() {
    let mut cache = Cache::new(config(EvictionPolicy::Ttl, 3, 0));
    cache.insert('a', (), 1, Millis(0), Some(100));
    cache.insert('b', (), 1, Millis(0), Some(50));
    cache.insert('c', (), 1, Millis(0), None);
    cache.insert('d', (), 1, Millis(1), None);
    assert!(!cache.contains(&'b'));
    cache.insert('e', (), 1, Millis(2), Some(500));
    assert!(!cache.contains(&'a'));
    cache.insert('f', (), 1, Millis(3), None);
    assert!(
        !cache.contains(&'e'),
        "expiring entries go before those that never expire"
    );
    cache.get(&'c', Millis(4));
    cache.insert('g', (), 1, Millis(5), None);
    assert!(
        !cache.contains(&'d'),
        "d is the least recently used of c, d, f"
    );
    // Overwriting with a TTL refiles the entry under its new expiry.
    cache.insert('c', (), 1, Millis(6), Some(10));
    cache.insert('h', (), 1, Millis(7), None);
    assert!(!cache.contains(&'c'));
    cache.check_invariants();
}

#[test]
fn randomized_operations_keep_every_policy_consistent() {
    for (p, policy) in ALL_POLICIES.into_iter().enumerate() {
        let mut rng = Rng::new(0xABCD + p as u64);
        let mut cfg = config(policy, 2000, [0, 10, 25][p % 3]);
        cfg.default_ttl_ms = (p % 2 == 0).then_some(400);
        let mut cache = Cache::new(cfg);
        let mut now = 0u64;
        for step in 0..20_000u32 {
            now += rng.below(5);
            let key = rng.zipf(200) as u32;
            let t = Millis(now);
            match rng.below(100) {
                0..=44 => {
                    if cache.get(&key, t).is_none() {
                        let weight = 1 + rng.below(120);
                        cache.insert(key, step, weight, t, None);
                    }
                }
                45..=69 => {
                    let weight = rng.below(300);
                    let ttl = [None, Some(0), Some(50), Some(1000)][rng.below(4) as usize];
                    let stored = cache.insert(key, step, weight, t, ttl);
                    assert_eq!(stored, weight <= cache.capacity_bytes());
                    assert_eq!(cache.contains(&key), stored, "{policy:?} step {step}");
                    assert!(cache.weight_bytes() <= cache.capacity_bytes());
                }
                70..=79 => {
                    let expected = cache.peek(&key).copied();
                    assert_eq!(cache.remove(&key), expected);
                    assert!(!cache.contains(&key));
                }
                80..=89 => {
                    let idle = rng.below(2) == 0;
                    cache.sweep(t, idle.then_some(300), rng.below(20) as usize);
                }
                90..=97 => {
                    let _ = cache.peek(&key);
                    let _ = cache.last_access(&key);
                }
                98 => cache.set_capacity(500 + rng.below(3000), t),
                _ => {
                    if rng.below(20) == 0 {
                        cache.clear();
                    }
                }
            }
            cache.check_invariants();
            let stats = cache.stats();
            assert_eq!(stats.entries as usize, cache.len());
            assert_eq!(stats.bytes, cache.weight_bytes());
        }
        assert!(
            cache.stats().evictions > 0,
            "{policy:?}: trace never filled the cache"
        );
    }
}
