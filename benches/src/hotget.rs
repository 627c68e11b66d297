//! (b) Hot get: every key resident, uniform random gets, 1 and 2 threads.
//!
//! Ours is `SyncCache` (sharded, shared by reference like quick_cache and moka); the core's
//! single-threaded `Cache` has its own column.

use std::hint::black_box;
use std::sync::{Barrier, Mutex};

use thermocline::SyncCache;
use thermocline_core::Millis;
use thermocline_core::cache::{Cache, CacheConfig, EvictionPolicy};

use crate::Config;
use crate::common::{Rng, now, rotation, splitmix};
use crate::report::{Table, Unit};

pub const OURS: &str = "thermocline SyncCache (S3-FIFO)";
const PLAIN: &str = "thermocline Cache (S3-FIFO)";
pub const QUICK: &str = "quick_cache (sync)";
const MOKA: &str = "moka (sync)";
const LRU: &str = "lru";
const FLOOR: &str = "hashbrown HashMap (floor)";

/// The caches under test, built once per size and kept across rounds (a handful of values:
/// the size of the largest variant does not matter).
#[allow(clippy::large_enum_variant)]
enum Subject {
    /// Sharded, each shard behind a mutex; shared by reference.
    Ours(SyncCache<u64, u64>),
    /// Single-threaded (`get` takes `&mut self`); shared through a `Mutex` for 2 threads.
    Plain(Mutex<Cache<u64, u64>>),
    #[cfg(feature = "quick_cache")]
    Quick(quick_cache::sync::Cache<u64, u64>),
    #[cfg(feature = "moka")]
    Moka(moka::sync::Cache<u64, u64>),
    #[cfg(feature = "lru")]
    Lru(Mutex<lru::LruCache<u64, u64>>),
    Floor(hashbrown::HashMap<u64, u64>),
}

impl Subject {
    fn build(system: &str, keys: &[u64]) -> Option<Subject> {
        let n = keys.len();
        let config = CacheConfig {
            capacity_bytes: 2 * n as u64,
            policy: EvictionPolicy::S3Fifo,
            default_ttl_ms: None,
            reserve_pct: 0,
        };
        let subject = match system {
            OURS => {
                // The shard count a user gets by default (16 per core).
                let c = SyncCache::new(config);
                for (i, &k) in keys.iter().enumerate() {
                    c.insert(k, i as u64, 1, Millis::ZERO, None);
                }
                assert_eq!(c.len(), n, "thermocline SyncCache: not all resident");
                Subject::Ours(c)
            }
            PLAIN => {
                let mut c = Cache::new(config);
                for (i, &k) in keys.iter().enumerate() {
                    c.insert(k, i as u64, 1, Millis::ZERO, None);
                }
                assert_eq!(c.len(), n, "thermocline Cache: not all resident");
                Subject::Plain(Mutex::new(c))
            }
            #[cfg(feature = "quick_cache")]
            QUICK => {
                let c = quick_cache::sync::Cache::new(2 * n);
                for (i, &k) in keys.iter().enumerate() {
                    c.insert(k, i as u64);
                }
                assert_eq!(c.len(), n, "quick_cache: not all resident");
                Subject::Quick(c)
            }
            #[cfg(feature = "moka")]
            MOKA => {
                let c = moka::sync::Cache::new(2 * n as u64);
                for (i, &k) in keys.iter().enumerate() {
                    c.insert(k, i as u64);
                }
                c.run_pending_tasks();
                assert_eq!(c.entry_count(), n as u64, "moka: not all resident");
                Subject::Moka(c)
            }
            #[cfg(feature = "lru")]
            LRU => {
                let mut c = lru::LruCache::new(std::num::NonZeroUsize::new(2 * n)?);
                for (i, &k) in keys.iter().enumerate() {
                    c.put(k, i as u64);
                }
                assert_eq!(c.len(), n, "lru: not all resident");
                Subject::Lru(Mutex::new(c))
            }
            FLOOR => Subject::Floor(
                keys.iter()
                    .enumerate()
                    .map(|(i, &k)| (k, i as u64))
                    .collect(),
            ),
            _ => return None,
        };
        Some(subject)
    }

    /// Gets every key of `seq` in order, returns a checksum of the values (kept alive with
    /// `black_box` so that nothing is optimised away).
    fn run(&self, seq: &[u64], threads: usize) -> u64 {
        match self {
            Subject::Ours(c) => seq
                .iter()
                .map(|k| c.get(black_box(k), Millis::ZERO).unwrap_or(0))
                .fold(0, u64::wrapping_add),
            Subject::Plain(m) if threads == 1 => {
                let mut c = m.lock().expect("not poisoned");
                seq.iter()
                    .map(|k| *c.get(black_box(k), Millis::ZERO).unwrap_or(&0))
                    .fold(0, u64::wrapping_add)
            }
            Subject::Plain(m) => seq
                .iter()
                .map(|k| {
                    *m.lock()
                        .expect("not poisoned")
                        .get(black_box(k), Millis::ZERO)
                        .unwrap_or(&0)
                })
                .fold(0, u64::wrapping_add),
            #[cfg(feature = "quick_cache")]
            Subject::Quick(c) => seq
                .iter()
                .map(|k| c.get(black_box(k)).unwrap_or(0))
                .fold(0, u64::wrapping_add),
            #[cfg(feature = "moka")]
            Subject::Moka(c) => seq
                .iter()
                .map(|k| c.get(black_box(k)).unwrap_or(0))
                .fold(0, u64::wrapping_add),
            #[cfg(feature = "lru")]
            Subject::Lru(m) if threads == 1 => {
                let mut c = m.lock().expect("not poisoned");
                seq.iter()
                    .map(|k| *c.get(black_box(k)).unwrap_or(&0))
                    .fold(0, u64::wrapping_add)
            }
            #[cfg(feature = "lru")]
            Subject::Lru(m) => seq
                .iter()
                .map(|k| {
                    *m.lock()
                        .expect("not poisoned")
                        .get(black_box(k))
                        .unwrap_or(&0)
                })
                .fold(0, u64::wrapping_add),
            Subject::Floor(map) => seq
                .iter()
                .map(|k| *map.get(black_box(k)).unwrap_or(&0))
                .fold(0, u64::wrapping_add),
        }
    }
}

pub fn run(cfg: &Config) -> Table {
    let mut systems = vec![OURS.to_string(), PLAIN.to_string()];
    let mut skipped = Vec::new();
    for (name, feature, on) in [
        (QUICK, "quick_cache", cfg!(feature = "quick_cache")),
        (MOKA, "moka", cfg!(feature = "moka")),
        (LRU, "lru", cfg!(feature = "lru")),
    ] {
        if on {
            systems.push(name.into());
        } else {
            skipped.push(format!("{name} (feature `{feature}`)"));
        }
    }
    systems.push(FLOOR.into());
    let mut table = Table::new(
        "hot_get",
        "(b) Hot get, all resident",
        Unit::Time,
        systems.clone(),
    );
    table.skipped = skipped;
    let sizes: &[usize] = &[100_000, 1_000_000];
    let seq_len = if cfg.quick { 200_000 } else { 1_000_000 };
    let passes = 1;
    let rounds = cfg.rounds(5, 2);
    table.rounds = rounds;
    let mut shard_counts = Vec::new();
    for &n in sizes {
        let keys: Vec<u64> = (0..n as u64).map(splitmix).collect();
        let started = now();
        let subjects: Vec<(String, Subject)> = systems
            .iter()
            .filter_map(|s| Subject::build(s, &keys).map(|b| (s.clone(), b)))
            .collect();
        for (_, subject) in &subjects {
            if let Subject::Ours(c) = subject
                && !shard_counts.contains(&c.shards())
            {
                shard_counts.push(c.shards());
            }
        }
        eprintln!(
            "  {n} entries: caches filled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // One lookup sequence per thread, uniform over the resident keys.
        let seqs: Vec<Vec<u64>> = (0..2u64)
            .map(|t| {
                let mut rng = Rng::new(100 + t);
                (0..seq_len)
                    .map(|_| keys[rng.below(n as u64) as usize])
                    .collect()
            })
            .collect();
        for round in 0..rounds {
            for threads in [1usize, 2] {
                let label = format!("{} entries, {threads} thread(s)", fmt_n(n));
                for (name, subject) in rotation(&subjects.iter().collect::<Vec<_>>(), round) {
                    let barrier = Barrier::new(threads);
                    let started = now();
                    let per_thread: Vec<u64> = std::thread::scope(|s| {
                        let handles: Vec<_> = (0..threads)
                            .map(|t| {
                                let (barrier, seq) = (&barrier, &seqs[t]);
                                s.spawn(move || {
                                    barrier.wait();
                                    let mut sum = 0u64;
                                    for _ in 0..passes {
                                        sum = sum.wrapping_add(subject.run(seq, threads));
                                    }
                                    black_box(sum)
                                })
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().expect("bench thread"))
                            .collect()
                    });
                    black_box(per_thread);
                    let elapsed = started.elapsed().as_secs_f64();
                    let gets_per_thread = (seq_len * passes) as f64;
                    // Time per get as one thread sees it: wall time / gets done by each thread.
                    table.row_mut(&label).push(name, elapsed / gets_per_thread);
                    table.row_mut(&label).count(
                        name,
                        "M gets/s, all threads",
                        gets_per_thread * threads as f64 / elapsed / 1e6,
                    );
                }
            }
        }
        eprintln!("  {n} entries: measured");
    }
    table.about = format!(
        "Keys are `u64` (scrambled), values `u64`; the cache holds every key (capacity twice the \
entries, checked before timing). Each thread gets keys from its own precomputed uniform random \
sequence of {} keys, {passes} pass(es) per round. The figure is the wall time of a round divided \
by the gets each thread did: time per get as one thread sees it (with 2 threads, perfect scaling \
gives the 1-thread figure). Thermocline's `SyncCache` (the first column, the one the ratios are \
of) is what threads share: the core's `Cache` split into shards (by default 16 per core: {shards} here), each \
behind its own `std::sync::Mutex`, locked once per get, the key hashed once for the shard and its \
table; it is used the same way with 1 and 2 threads. `Cache` (second column) is the core's \
single-threaded cache (`get` takes `&mut self`, it records the access), as the engine uses it: \
with 1 thread it is called directly (the `Mutex` around it is locked once per round), with 2 \
threads the two share it through one `std::sync::Mutex` locked per get; the `lru` crate the same. \
Every get passes the same `now`, so our last-access time never changes; a hit stores only what \
changed (with a moving clock, the first hit on a key in each millisecond also stores the time, in \
the line the hit has just read). \
quick_cache and moka are shared by reference; the \
hashbrown floor is a read-only `HashMap` shared by reference (no lock, no bookkeeping). The \
machine has 2 cores shared with other work, so 2-thread figures are noisy.",
        fmt_n(seq_len),
        shards = shard_counts
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    );
    table
}

fn fmt_n(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{} M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{} k", n / 1000)
    } else {
        n.to_string()
    }
}
