//! Options for opening a store, and the clock the store reads time from.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use thermocline_core::cache::EvictionPolicy;
use thermocline_core::config::{AutoCommit, ColdConfig};
use thermocline_core::{Config, SyncLevel};

/// Where the store gets `now`. Tests and the demo use [`ManualClock`] to move hours in a
/// moment; everything time-based (write-behind triggers, tier demotion) follows it.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since an arbitrary, fixed epoch.
    fn now_ms(&self) -> u64;
}

/// Wall-clock time in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the host is where the clock is read"
    )]
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    #[must_use]
    pub fn new(start_ms: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicU64::new(start_ms)))
    }

    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// How to open a store. `Options::default()` is what the CLI uses.
#[derive(Clone, Debug)]
pub struct Options {
    /// The engine's configuration: cache, write-behind triggers, tier thresholds, limits.
    pub config: Config,
    /// A warm segment is sealed, and a new one started, past this size.
    pub warm_segment_bytes_max: u64,
    pub clock: Arc<dyn Clock>,
    /// Author and committer of the cold tier's commits.
    pub author_name: String,
    pub author_email: String,
    /// What to do when the WAL or the warm tier is damaged beyond repair.
    pub recovery: RecoveryMode,
}

/// What opening does with damage it cannot repair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Refuse to open, naming the damage. Nothing is changed on disk.
    #[default]
    Strict,
    /// Rebuild from the tip of the cold tier's `main`: the damaged `wal/` and `warm/` are moved
    /// aside (kept, never deleted), and the open report lists every write after that commit
    /// that could still be read from them — those writes are lost from the store. Writes in
    /// unreadable regions cannot be listed; the report names those regions.
    FromGit,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Config {
                cold: Some(ColdConfig::default()),
                ..Config::default()
            },
            warm_segment_bytes_max: 64 << 20,
            clock: Arc::new(SystemClock),
            author_name: "Thermocline".into(),
            author_email: "thermocline@localhost".into(),
            recovery: RecoveryMode::Strict,
        }
    }
}

impl Options {
    /// The level of writes that do not name one.
    #[must_use]
    pub fn default_sync(mut self, level: SyncLevel) -> Self {
        self.config.default_sync = level;
        self
    }

    #[must_use]
    pub fn hot_capacity_bytes(mut self, bytes: u64) -> Self {
        self.config.cache.capacity_bytes = bytes;
        self
    }

    #[must_use]
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.config.cache.policy = policy;
        self
    }

    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// When flushed writes become git commits (the cold tier is on by default).
    #[must_use]
    pub fn auto_commit(mut self, mode: AutoCommit) -> Self {
        self.config
            .cold
            .get_or_insert_with(ColdConfig::default)
            .auto_commit = mode;
        self
    }

    /// A store without the git cold tier: no `cold.git`, no `commit` level.
    #[must_use]
    pub fn without_cold_tier(mut self) -> Self {
        self.config.cold = None;
        self
    }

    #[must_use]
    pub fn recovery(mut self, mode: RecoveryMode) -> Self {
        self.recovery = mode;
        self
    }

    #[must_use]
    pub fn author(mut self, name: &str, email: &str) -> Self {
        self.author_name = name.into();
        self.author_email = email.into();
        self
    }

    #[must_use]
    pub fn value_bytes_max(mut self, bytes: u64) -> Self {
        self.config.value_bytes_max = bytes;
        self
    }
}
