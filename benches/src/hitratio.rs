//! (a) Hit ratio: real traces and synthetic workloads replayed get-else-insert, one thread,
//! capacity counted in entries (weight 1 per entry). Deterministic, so one round.

use std::fs::File;
use std::io::{BufReader, Read};
use std::num::NonZeroUsize;
use std::path::Path;

use thermocline_core::Millis;
use thermocline_core::cache::{Cache, CacheConfig, EvictionPolicy};

use crate::Config;
use crate::common::{Rng, Zipf, now};
use crate::report::{Table, Unit};

/// A cache replayed get-else-insert: `access` returns whether the key was a hit.
trait Replay {
    fn access(&mut self, key: u64) -> bool;
}

struct Ours(Cache<u64, ()>);

impl Ours {
    fn new(capacity: usize, policy: EvictionPolicy, reserve_pct: u8) -> Ours {
        Ours(Cache::new(CacheConfig {
            capacity_bytes: capacity as u64,
            policy,
            default_ttl_ms: None,
            reserve_pct,
        }))
    }
}

impl Replay for Ours {
    fn access(&mut self, key: u64) -> bool {
        if self.0.get(&key, Millis::ZERO).is_some() {
            return true;
        }
        self.0.insert(key, (), 1, Millis::ZERO, None);
        false
    }
}

#[cfg(feature = "quick_cache")]
impl Replay for quick_cache::sync::Cache<u64, ()> {
    fn access(&mut self, key: u64) -> bool {
        if self.get(&key).is_some() {
            return true;
        }
        self.insert(key, ());
        false
    }
}

#[cfg(feature = "moka")]
impl Replay for moka::sync::Cache<u64, ()> {
    fn access(&mut self, key: u64) -> bool {
        if self.get(&key).is_some() {
            return true;
        }
        self.insert(key, ());
        false
    }
}

#[cfg(feature = "lru")]
impl Replay for lru::LruCache<u64, ()> {
    fn access(&mut self, key: u64) -> bool {
        if self.get(&key).is_some() {
            return true;
        }
        self.put(key, ());
        false
    }
}

pub const OURS: &str = "thermocline S3-FIFO (default)";
const OURS_LRU: &str = "thermocline LRU";
const OURS_RESERVE: &str = "thermocline S3-FIFO, 10 % reserve";
const QUICK: &str = "quick_cache";
const MOKA: &str = "moka";
const LRU: &str = "lru";
const REF_LRU: &str = "LRU (traces README)";

/// The systems compared, in column order.
fn systems() -> (Vec<String>, Vec<String>) {
    let mut systems = vec![OURS.to_string(), OURS_LRU.into(), OURS_RESERVE.into()];
    let mut skipped = Vec::new();
    for (name, on) in [
        (QUICK, cfg!(feature = "quick_cache")),
        (MOKA, cfg!(feature = "moka")),
        (LRU, cfg!(feature = "lru")),
    ] {
        if on {
            systems.push(name.into());
        } else {
            skipped.push(format!("{name} (build with `--features {name}` or `all`)"));
        }
    }
    (systems, skipped)
}

fn make(system: &str, capacity: usize) -> Option<Box<dyn Replay>> {
    let _ = NonZeroUsize::new(capacity)?;
    Some(match system {
        OURS => Box::new(Ours::new(capacity, EvictionPolicy::S3Fifo, 0)),
        OURS_LRU => Box::new(Ours::new(capacity, EvictionPolicy::Lru, 0)),
        OURS_RESERVE => Box::new(Ours::new(capacity, EvictionPolicy::S3Fifo, 10)),
        #[cfg(feature = "quick_cache")]
        QUICK => Box::new(quick_cache::sync::Cache::<u64, ()>::new(capacity)),
        #[cfg(feature = "moka")]
        MOKA => Box::new(moka::sync::Cache::<u64, ()>::new(capacity as u64)),
        #[cfg(feature = "lru")]
        LRU => Box::new(lru::LruCache::<u64, ()>::new(NonZeroUsize::new(capacity)?)),
        _ => return None,
    })
}

fn replay(cache: &mut dyn Replay, keys: &[u64]) -> u64 {
    let mut hits = 0;
    for &k in keys {
        hits += u64::from(cache.access(k));
    }
    hits
}

/// Decompresses a zstd file with the pure-Rust decoder.
fn unzstd(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(BufReader::new(file))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    decoder
        .read_to_end(&mut out)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(out)
}

/// ARC format: `start count ...` per line requests keys `start .. start+count`.
fn parse_lis(bytes: &[u8], limit: usize) -> Result<Vec<u64>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut f = line.split_whitespace();
        let (Some(start), Some(count)) = (f.next(), f.next()) else {
            continue;
        };
        let start: u64 = start
            .parse()
            .map_err(|_| format!("line {}: {line}", n + 1))?;
        let count: u64 = count
            .parse()
            .map_err(|_| format!("line {}: {line}", n + 1))?;
        for k in start..start + count {
            if keys.len() >= limit {
                return Ok(keys);
            }
            keys.push(k);
        }
    }
    Ok(keys)
}

/// cache2k format: big-endian u32 per request.
fn parse_u32be(bytes: &[u8], limit: usize) -> Vec<u64> {
    bytes
        .chunks_exact(4)
        .take(limit)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect()
}

/// The reference table of the traces README: (trace, capacity) → (LRU, quick_cache, moka).
fn reference(dir: &Path) -> Vec<(String, usize, [f64; 3])> {
    let Ok(text) = std::fs::read_to_string(dir.join("README.md")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() != 5 {
            continue;
        }
        let Ok(cap) = cells[1].replace(',', "").parse::<usize>() else {
            continue;
        };
        let nums: Vec<f64> = cells[2..].iter().filter_map(|c| c.parse().ok()).collect();
        if let [a, b, c] = nums[..] {
            out.push((cells[0].to_string(), cap, [a, b, c]));
        }
    }
    out
}

struct Workload {
    label: String,
    keys: Vec<u64>,
    capacities: Vec<usize>,
    /// The README's LRU figure per capacity, when there is one.
    reference_lru: Vec<Option<f64>>,
    full_trace: bool,
}

/// A workload of our own: a Zipf(0.99) hot set over 100 k keys, interrupted every 10 k
/// requests by a sequential scan of 5 k keys never seen before (one-hit wonders, a third of
/// all requests). A scan-resistant policy keeps the hot set; LRU flushes it on every scan.
fn scan_polluted(n: usize) -> Vec<u64> {
    let zipf = Zipf::new(100_000, 0.99);
    let mut rng = Rng::new(7);
    let mut keys = Vec::with_capacity(n);
    let mut fresh = 1u64 << 40;
    while keys.len() < n {
        for _ in 0..10_000 {
            keys.push(zipf.sample(&mut rng));
        }
        for _ in 0..5_000 {
            keys.push(fresh);
            fresh += 1;
        }
    }
    keys.truncate(n);
    keys
}

pub fn run(cfg: &Config) -> Table {
    let (systems, skipped) = systems();
    let mut table = Table::new("hit_ratio", "(a) Hit ratio", Unit::Percent, systems.clone());
    table.skipped = skipped;
    table.rounds = 1;
    let quick_limit = if cfg.quick { 300_000 } else { usize::MAX };
    let mut workloads = Vec::new();
    let refs = reference(&cfg.traces);
    let traces = [
        ("OLTP", "OLTP.lis.zst", [1_000usize, 10_000]),
        ("P3", "P3.lis.zst", [32_768, 262_144]),
        ("P6", "P6.lis.zst", [32_768, 262_144]),
        ("orm-busy", "orm-busy.trace.zst", [2_500, 20_000]),
    ];
    for (name, file, caps) in traces {
        let path = cfg.traces.join(file);
        if !path.exists() {
            table.skipped.push(format!(
                "trace {name}: {} is absent (the traces live in shared/traces, never in the repository)",
                path.display()
            ));
            continue;
        }
        // OLTP is short and checks the parser and LRU against the README: always whole.
        let limit = if name == "OLTP" {
            usize::MAX
        } else {
            quick_limit
        };
        let started = now();
        let keys = match unzstd(&path) {
            Ok(bytes) if file.ends_with(".lis.zst") => parse_lis(&bytes, limit),
            Ok(bytes) => Ok(parse_u32be(&bytes, limit)),
            Err(e) => Err(e),
        };
        let keys = match keys {
            Ok(k) => k,
            Err(e) => {
                table.skipped.push(format!("trace {name}: {e}"));
                continue;
            }
        };
        eprintln!(
            "  trace {name}: {} requests decoded in {:.1} s",
            keys.len(),
            started.elapsed().as_secs_f64()
        );
        let full = limit == usize::MAX;
        let reference_lru = caps
            .iter()
            .map(|&c| {
                refs.iter()
                    .find(|(t, cap, _)| t == name && *cap == c)
                    .map(|r| r.2[0])
            })
            .collect();
        workloads.push(Workload {
            label: name.into(),
            keys,
            capacities: caps.to_vec(),
            reference_lru,
            full_trace: full,
        });
    }
    let n = if cfg.quick { 300_000 } else { 2_000_000 };
    for s in [0.9, 0.99, 1.2] {
        let zipf = Zipf::new(1_000_000, s);
        let mut rng = Rng::new(s.to_bits());
        let keys = (0..n).map(|_| zipf.sample(&mut rng)).collect();
        workloads.push(Workload {
            label: format!("Zipf {s} (1 M keys, {} M requests)", n as f64 / 1e6),
            keys,
            capacities: vec![10_000, 100_000],
            reference_lru: vec![None, None],
            full_trace: true,
        });
    }
    workloads.push(Workload {
        label: format!("scan-polluted (ours, {} M requests)", n as f64 / 1e6),
        keys: scan_polluted(n),
        capacities: vec![5_000, 20_000],
        reference_lru: vec![None, None],
        full_trace: true,
    });

    let mut lru_checked = 0;
    let mut reference_checked = 0;
    for w in &workloads {
        for (i, &cap) in w.capacities.iter().enumerate() {
            let label = if w.full_trace {
                format!("{} @ {cap}", w.label)
            } else {
                format!("{} @ {cap} (first {} requests)", w.label, w.keys.len())
            };
            let mut hits_by: Vec<(String, u64)> = Vec::new();
            for system in &systems {
                let Some(mut cache) = make(system, cap) else {
                    continue;
                };
                let started = now();
                let hits = replay(cache.as_mut(), &w.keys);
                let pct = 100.0 * hits as f64 / w.keys.len() as f64;
                table.row_mut(&label).push(system, pct);
                table.row_mut(&label).count(
                    system,
                    "ns per request",
                    started.elapsed().as_secs_f64() * 1e9 / w.keys.len() as f64,
                );
                hits_by.push((system.clone(), hits));
            }
            let hits_of = |s: &str| hits_by.iter().find(|(n, _)| n == s).map(|x| x.1);
            // Our LRU mode must be exactly the `lru` crate: same hits, request for request.
            if let (Some(ours), Some(theirs)) = (hits_of(OURS_LRU), hits_of(LRU)) {
                assert_eq!(
                    ours, theirs,
                    "{label}: thermocline LRU hits {ours} != lru crate hits {theirs}"
                );
                lru_checked += 1;
            }
            if let (Some(reference), true, Some(ours)) =
                (w.reference_lru[i], w.full_trace, hits_of(OURS_LRU))
            {
                let pct = 100.0 * ours as f64 / w.keys.len() as f64;
                assert!(
                    (pct - reference).abs() < 0.006,
                    "{label}: thermocline LRU {pct:.2} % differs from the traces README's {reference:.2} %"
                );
                table.row_mut(&label).push(REF_LRU, reference);
                reference_checked += 1;
            }
            eprintln!("  {label}: done");
        }
    }
    if reference_checked > 0 {
        table.systems.push(REF_LRU.into());
        // Rows without a reference have no value in that column.
    }
    table.about = format!(
        "Each request is a `get`; a miss is followed by an `insert` (get-else-insert replay, one \
thread). Capacity is in entries: Thermocline's cache gets weight 1 per entry and a capacity \
of that many bytes. Figures are the percentage of requests that hit. \
`{OURS}` is the store's default policy with `reserve_pct: 0` (evict just enough, as every peer \
does); `{OURS_RESERVE}` is the same with the store's default 10 % reserve (eviction frees down \
to 90 % of capacity), shown for what the store itself achieves. Differences in the peer columns \
are ours (default) minus that peer, in points. The traces are read from `{}` and never copied \
into the repository. Deterministic: one round.",
        cfg.traces.display()
    );
    table.notes.push(format!(
        "Checked: Thermocline's LRU mode gave exactly the `lru` crate's hit count on {lru_checked} \
cell(s) (asserted), and the traces README's LRU figure to two decimals on {reference_checked} \
full-trace cell(s) (asserted)."
    ));
    table.notes.push(
        "Trace references: ARC traces (Megiddo & Modha, \"ARC: A Self-Tuning, Low Overhead \
Replacement Cache\", FAST '03), as kept in moka-rs/cache-trace; orm-busy from the cache2k \
benchmark traces (headissue GmbH, CC BY 4.0), as kept in ben-manes/caffeine."
            .into(),
    );
    table
}

/// The best peer's hit ratio in a row (quick_cache, moka, lru), for the bar.
#[must_use]
pub fn best_peer(table: &Table, row: &crate::report::Row) -> Option<(String, f64)> {
    let _ = table;
    [QUICK, MOKA, LRU]
        .iter()
        .filter_map(|p| row.median(p).map(|v| ((*p).to_string(), v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}
