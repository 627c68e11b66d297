//! Seeded workloads: puts, deletes, transactions, syncs at every level, flushes, time passing
//! (write-behind, debounced commits, demotion), and clean reopens.

use thermocline_core::SyncLevel;
use thermocline_core::config::{AutoCommit, ColdConfig, Config, TierConfig, WriteBehindConfig};

use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkOp {
    Put {
        key: String,
        value: Vec<u8>,
        level: SyncLevel,
    },
    Delete {
        key: String,
        level: SyncLevel,
    },
    Batch {
        ops: Vec<(String, Option<Vec<u8>>)>,
        level: SyncLevel,
    },
    Sync {
        level: SyncLevel,
    },
    Flush,
    /// Time passes and the engine's timer fires.
    Advance {
        ms: u64,
    },
    /// A clean close and open.
    Reopen,
}

const KEYS: [&str; 7] = ["a", "b", "c", "d/1", "d/2", "e/f/g", "h"];

fn level(rng: &mut Rng) -> SyncLevel {
    match rng.below(20) {
        0..=3 => SyncLevel::Memory,
        4..=9 => SyncLevel::Os,
        10..=16 => SyncLevel::Fsync,
        _ => SyncLevel::Commit,
    }
}

fn value(rng: &mut Rng, i: usize) -> Vec<u8> {
    let mut v = format!("v{i}-").into_bytes();
    v.resize(v.len() + rng.below(24) as usize, b'x');
    v
}

/// `len` operations from `seed`.
pub fn generate(seed: u64, len: usize) -> Vec<WorkOp> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|i| {
            let key = KEYS[rng.below(KEYS.len() as u64) as usize].to_owned();
            match rng.below(100) {
                0..=44 => WorkOp::Put {
                    key,
                    value: value(&mut rng, i),
                    level: level(&mut rng),
                },
                45..=57 => WorkOp::Delete {
                    key,
                    level: level(&mut rng),
                },
                58..=67 => {
                    let n = 2 + rng.below(3) as usize;
                    let ops = (0..n)
                        .map(|_| {
                            let k = KEYS[rng.below(KEYS.len() as u64) as usize].to_owned();
                            let v = (!rng.chance(25)).then(|| value(&mut rng, i));
                            (k, v)
                        })
                        .collect();
                    WorkOp::Batch {
                        ops,
                        level: level(&mut rng),
                    }
                }
                68..=74 => WorkOp::Sync {
                    level: level(&mut rng),
                },
                75..=79 => WorkOp::Flush,
                80..=96 => {
                    let ms = if rng.chance(10) {
                        25 * 60 * 60 * 1000
                    } else {
                        rng.below(12_000)
                    };
                    WorkOp::Advance { ms }
                }
                _ => WorkOp::Reopen,
            }
        })
        .collect()
}

/// Small limits, so short runs rotate WAL segments, flush, compact, commit and demote often.
pub fn config() -> Config {
    let mut c = Config {
        write_behind: WriteBehindConfig {
            debounce_ms: 3_000,
            max_age_ms: 10_000,
            flush_bytes: 200,
            flush_ops: 7,
            dirty_bytes_max: 4_096,
        },
        tiers: TierConfig {
            sweep_interval_ms: 1_000,
            ..TierConfig::default()
        },
        wal_segment_bytes_max: 300,
        wal_buffer_bytes_max: 128,
        compact_live_pct_below: 60,
        compact_dead_bytes_min: 30,
        cold: Some(ColdConfig {
            auto_commit: AutoCommit::Debounced,
            commit_debounce_ms: 2_000,
            commit_max_age_ms: 8_000,
            warm_capacity_bytes: Some(60),
            demote_scan_interval_ms: 30_000,
        }),
        ..Config::default()
    };
    c.cache.capacity_bytes = 600;
    c
}
