//! Thermocline: an embedded tiered key-value store.
//!
//! Hot in memory, warm on local disk behind a write-ahead log, cold in git (coming). This
//! crate is the native host of [`thermocline_core`]: it carries the engine's I/O requests
//! out on files with fsync, runs write-behind in a background tokio thread, and exposes
//! [`Store`].
//!
//! ```
//! use thermocline::{Options, Store, SyncLevel};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), Options::default())?;
//! store.put("notes/today", "ship it")?;                       // fsync level by default
//! store.put_with("cache/x", "cheap", SyncLevel::Memory)?;      // acknowledged in memory
//! assert_eq!(store.get("notes/today")?.as_deref(), Some(&b"ship it"[..]));
//! assert_eq!(store.list("notes/")?, ["notes/today"]);
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cold;
mod driver;
mod error;
mod fsutil;
mod options;
mod rebuild;
mod store;
mod sync_cache;
mod wal_file;
mod warm;

pub mod check;
pub mod time;

pub use cold::{LogEntry, Version};
pub use error::Error;

/// Entry points for the fuzz targets (`fuzz/`) and their regression tests: every decoder of
/// bytes that come from disk, fed arbitrary input. Not a stable API.
#[doc(hidden)]
pub mod fuzzing;
pub use options::{Clock, ManualClock, Options, RecoveryMode, SystemClock};
pub use rebuild::{LostWrite, Rebuilt};
pub use store::{OpenReport, Store, StoreStats};
pub use sync_cache::SyncCache;
pub use thermocline_core::Millis;
pub use thermocline_core::cache::EvictionPolicy;
pub use thermocline_core::cache::{CacheConfig, CacheStats};
pub use thermocline_core::config::AutoCommit;
pub use thermocline_core::engine::{KeyInfo, WriteOpts};
pub use thermocline_core::{Batch, Key, KeyError, Stats, SyncLevel, Value};
