//! Configuration and the durability ladder.
//!
//! Every number here is a limit or a trigger, stated once with the reason for its default.

use core::fmt;
use core::str::FromStr;

use crate::cache::CacheConfig;
use crate::key::KEY_BYTES_MAX;

/// How far a write must get before it is acknowledged. Ordered: each level implies the ones
/// before it. See `docs/durability.md`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SyncLevel {
    /// In the hot tier. Survives nothing.
    Memory,
    /// WAL record handed to the OS (`write` returned). Survives a process crash.
    Os,
    /// WAL fdatasync'd, shared among concurrent writers. Survives power loss.
    #[default]
    Fsync,
    /// In a git commit whose objects and ref are on disk.
    Commit,
    /// That commit is on the configured remote.
    Push,
}

impl SyncLevel {
    pub const ALL: [SyncLevel; 5] = [
        SyncLevel::Memory,
        SyncLevel::Os,
        SyncLevel::Fsync,
        SyncLevel::Commit,
        SyncLevel::Push,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SyncLevel::Memory => "memory",
            SyncLevel::Os => "os",
            SyncLevel::Fsync => "fsync",
            SyncLevel::Commit => "commit",
            SyncLevel::Push => "push",
        }
    }
}

impl fmt::Display for SyncLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown sync level name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync level (expected memory, os, fsync, commit or push)")]
pub struct ParseSyncLevelError;

impl FromStr for SyncLevel {
    type Err = ParseSyncLevelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or(ParseSyncLevelError)
    }
}

/// When the write-behind buffer is flushed to the warm tier. A flush starts when any trigger
/// fires; writes to the same key between flushes are coalesced into one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteBehindConfig {
    /// Flush once no write arrived for this long: a burst is written as one batch.
    pub debounce_ms: u64,
    /// Flush once the oldest unflushed write is this old, even while writes keep arriving,
    /// so the WAL since the last checkpoint (and so recovery time) stays bounded.
    pub max_age_ms: u64,
    /// Flush once this many bytes are dirty.
    pub flush_bytes: u64,
    /// Flush once this many writes arrived since the last flush.
    pub flush_ops: u64,
    /// Writers get `Backpressure` (the native host waits) above this many dirty bytes: memory
    /// stays bounded even when the disk is slower than the writers.
    pub dirty_bytes_max: u64,
}

impl Default for WriteBehindConfig {
    fn default() -> Self {
        WriteBehindConfig {
            debounce_ms: 5_000,
            max_age_ms: 30_000,
            flush_bytes: 1 << 20,
            flush_ops: 100,
            dirty_bytes_max: 64 << 20,
        }
    }
}

/// Tier movement thresholds, read by the pure functions in [`crate::policy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierConfig {
    /// A hot value not read or written for this long leaves memory (it stays on disk).
    pub hot_idle_ms: u64,
    /// A warm key not accessed for this long moves to the cold tier (git).
    pub warm_idle_ms: u64,
    /// Keys read less often than this (decayed hits per hour) leave the hot tier after a
    /// quarter of `hot_idle_ms` already: rarely used values should not wait a full hour.
    pub hot_min_hits_per_hour: u32,
    /// How often the engine walks part of the hot tier looking for idle values.
    pub sweep_interval_ms: u64,
    /// Entries examined per walk, so one timer tick costs microseconds, not a full scan.
    pub sweep_budget: usize,
}

impl Default for TierConfig {
    fn default() -> Self {
        TierConfig {
            hot_idle_ms: 60 * 60 * 1000,
            warm_idle_ms: 24 * 60 * 60 * 1000,
            hot_min_hits_per_hour: 2,
            sweep_interval_ms: 1_000,
            sweep_budget: 4_096,
        }
    }
}

/// When write-behind batches that reached the warm tier become a git commit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AutoCommit {
    /// Every warm flush is committed at once.
    Immediate,
    /// A commit once flushes pause for `commit_debounce_ms`, and never later than
    /// `commit_max_age_ms` after the oldest uncommitted flush.
    #[default]
    Debounced,
    /// Only `sync(commit)` and `commit`-level writes commit.
    Manual,
}

impl AutoCommit {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AutoCommit::Immediate => "immediate",
            AutoCommit::Debounced => "debounced",
            AutoCommit::Manual => "manual",
        }
    }
}

impl FromStr for AutoCommit {
    type Err = ParseAutoCommitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AutoCommit::Immediate,
            AutoCommit::Debounced,
            AutoCommit::Manual,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or(ParseAutoCommitError)
    }
}

/// An unknown auto-commit mode name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown auto-commit mode (expected immediate, debounced or manual)")]
pub struct ParseAutoCommitError;

/// The git cold tier: when to commit and when warm values move down to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColdConfig {
    pub auto_commit: AutoCommit,
    pub commit_debounce_ms: u64,
    pub commit_max_age_ms: u64,
    /// Live warm bytes above which the least recently used committed values leave the warm
    /// tier for the cold one (down to 90 %). `None`: only idle time demotes.
    pub warm_capacity_bytes: Option<u64>,
    /// How often the key directory is walked for warm values to demote. The walk is O(keys),
    /// so it runs rarely; idle thresholds are hours, a minute of lateness is invisible.
    pub demote_scan_interval_ms: u64,
}

impl Default for ColdConfig {
    fn default() -> Self {
        ColdConfig {
            auto_commit: AutoCommit::Debounced,
            commit_debounce_ms: 5_000,
            commit_max_age_ms: 30_000,
            warm_capacity_bytes: None,
            demote_scan_interval_ms: 60_000,
        }
    }
}

/// Everything the engine is told at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub cache: CacheConfig,
    pub write_behind: WriteBehindConfig,
    pub tiers: TierConfig,
    /// Level used by writes that do not name one.
    pub default_sync: SyncLevel,
    /// At most [`KEY_BYTES_MAX`].
    pub key_bytes_max: usize,
    /// Larger values get `ValueTooLarge`. 16 MiB keeps one value far below a WAL segment.
    pub value_bytes_max: u64,
    /// Upper bound on one transaction's encoded size (it is one WAL record).
    pub batch_bytes_max: u64,
    /// A WAL segment is closed and a new one started past this size; whole segments are
    /// deleted once the warm tier holds everything in them.
    pub wal_segment_bytes_max: u64,
    /// Buffered (`memory`-level) WAL bytes are handed to the OS once this many accumulate.
    pub wal_buffer_bytes_max: u64,
    /// A sealed warm segment is compacted once less than this percentage of it is live.
    pub compact_live_pct_below: u8,
    /// ...and it holds at least this many dead bytes (tiny segments are not worth a rewrite).
    pub compact_dead_bytes_min: u64,
    /// The git cold tier, when the host has one. Without it the `commit` and `push` levels are
    /// refused and nothing is demoted below warm.
    pub cold: Option<ColdConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cache: CacheConfig::default(),
            write_behind: WriteBehindConfig::default(),
            tiers: TierConfig::default(),
            default_sync: SyncLevel::Fsync,
            key_bytes_max: KEY_BYTES_MAX,
            value_bytes_max: 16 << 20,
            batch_bytes_max: 64 << 20,
            wal_segment_bytes_max: 64 << 20,
            wal_buffer_bytes_max: 64 << 10,
            compact_live_pct_below: 50,
            compact_dead_bytes_min: 1 << 20,
            cold: None,
        }
    }
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{field} must be greater than zero")]
    Zero { field: &'static str },
    #[error("{field} is {value}, above the limit of {max}")]
    TooLarge {
        field: &'static str,
        value: u64,
        max: u64,
    },
    #[error("value_bytes_max ({value}) must be below batch_bytes_max ({batch})")]
    ValueAboveBatch { value: u64, batch: u64 },
}

impl Config {
    /// Checks the relations between fields that the engine relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nonzero: [(&'static str, u64); 6] = [
            ("key_bytes_max", self.key_bytes_max as u64),
            ("value_bytes_max", self.value_bytes_max),
            ("wal_segment_bytes_max", self.wal_segment_bytes_max),
            ("write_behind.flush_ops", self.write_behind.flush_ops),
            ("write_behind.flush_bytes", self.write_behind.flush_bytes),
            ("tiers.sweep_budget", self.tiers.sweep_budget as u64),
        ];
        for (field, value) in nonzero {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        if self.key_bytes_max > KEY_BYTES_MAX {
            return Err(ConfigError::TooLarge {
                field: "key_bytes_max",
                value: self.key_bytes_max as u64,
                max: KEY_BYTES_MAX as u64,
            });
        }
        // One record must always fit the decoder's hard bound.
        let record_max = u64::from(crate::wal::RECORD_PAYLOAD_BYTES_MAX) / 2;
        if self.batch_bytes_max > record_max {
            return Err(ConfigError::TooLarge {
                field: "batch_bytes_max",
                value: self.batch_bytes_max,
                max: record_max,
            });
        }
        if self.value_bytes_max >= self.batch_bytes_max {
            return Err(ConfigError::ValueAboveBatch {
                value: self.value_bytes_max,
                batch: self.batch_bytes_max,
            });
        }
        Ok(())
    }
}
