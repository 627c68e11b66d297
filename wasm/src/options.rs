//! Options for opening a browser store, and the clock it reads time from.

use std::cell::Cell;
use std::rc::Rc;

use thermocline_core::cache::EvictionPolicy;
use thermocline_core::config::{AutoCommit, ColdConfig};
use thermocline_core::{Config, SyncLevel};

use crate::web::BucketOptions;

/// WAL segments in the browser. A segment is rewritten whole at open (to make records
/// committed relaxed before a crash durable) and deleted whole once the warm tier holds it;
/// 4 MiB keeps both cheap, where the native host's 64 MiB suits files.
const WAL_SEGMENT_BYTES_MAX: u64 = 4 << 20;

/// Where the store gets `now`, in milliseconds.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// `Date.now()`.
    #[default]
    System,
    /// A clock that moves only when told to: tests move hours in a moment.
    Manual(ManualClock),
    /// A JavaScript function returning milliseconds (the `clock` option).
    Js(js_sys::Function),
}

impl Clock {
    /// The current reading, or `None` when a JavaScript clock returned no usable number.
    pub(crate) fn read(&self) -> Option<u64> {
        let ms = match self {
            Clock::System => js_sys::Date::now(),
            Clock::Manual(m) => return Some(m.now_ms()),
            Clock::Js(f) => f.call0(&wasm_bindgen::JsValue::NULL).ok()?.as_f64()?,
        };
        (ms.is_finite() && ms >= 0.0).then_some(ms as u64)
    }
}

/// A shared manual clock.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Rc<Cell<u64>>);

impl ManualClock {
    #[must_use]
    pub fn new(start_ms: u64) -> ManualClock {
        ManualClock(Rc::new(Cell::new(start_ms)))
    }

    pub fn advance_ms(&self, ms: u64) {
        self.0.set(self.0.get().saturating_add(ms));
    }

    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// How to open a store. The engine's configuration is the native one, with a smaller WAL
/// segment size.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cache, write-behind triggers, tier thresholds, limits: see `thermocline_core::Config`.
    pub config: Config,
    /// Queue for the store's lock when another tab holds it, instead of failing with
    /// `LockedError`.
    pub wait_for_lock: bool,
    pub clock: Clock,
    /// Keep the database in a Storage Bucket (Chromium), e.g. to give the store its own quota.
    pub bucket: Option<BucketOptions>,
    /// Author and committer of the cold tier's commits.
    pub author_name: String,
    pub author_email: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Config {
                wal_segment_bytes_max: WAL_SEGMENT_BYTES_MAX,
                cold: Some(ColdConfig::default()),
                ..Config::default()
            },
            wait_for_lock: false,
            clock: Clock::System,
            bucket: None,
            author_name: "Thermocline".into(),
            author_email: "thermocline@localhost".into(),
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

    /// When flushed writes become git commits (the cold tier is on by default).
    #[must_use]
    pub fn auto_commit(mut self, mode: AutoCommit) -> Self {
        self.config
            .cold
            .get_or_insert_with(ColdConfig::default)
            .auto_commit = mode;
        self
    }

    /// A store without the git cold tier: no history, no `commit` level.
    #[must_use]
    pub fn without_cold_tier(mut self) -> Self {
        self.config.cold = None;
        self
    }

    #[must_use]
    pub fn author(mut self, name: &str, email: &str) -> Self {
        self.author_name = name.into();
        self.author_email = email.into();
        self
    }

    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    #[must_use]
    pub fn value_bytes_max(mut self, bytes: u64) -> Self {
        self.config.value_bytes_max = bytes;
        self
    }

    #[must_use]
    pub fn bucket(mut self, bucket: BucketOptions) -> Self {
        self.bucket = Some(bucket);
        self
    }
}
