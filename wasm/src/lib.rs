//! Thermocline in the browser: the sans-I/O core of `thermocline-core`, driven over IndexedDB,
//! with a JavaScript API.
//!
//! This crate is the browser's host, as `thermocline` is the native one: the engine decides
//! everything and knows nothing of wasm-bindgen; this crate carries its actions out on
//! IndexedDB and exposes the store twice, to Rust ([`Store`]) and to JavaScript (the
//! `Thermocline` class, packaged for npm by `wasm/build-npm.sh`).
//!
//! - One store is one IndexedDB database, `thermocline/<name>`, with five object stores: the
//!   WAL (the core's segments, in chunks), the warm tier (one record per key), metadata (and
//!   the `main` ref), the cold tier's git objects, and the sizes of its blobs.
//! - Levels: `memory`; `os` = the IndexedDB transaction committed; `fsync` = committed with
//!   `durability: "strict"`; `commit` = in a git commit. Concurrent writes share one
//!   transaction (group commit). `push` is refused: a page cannot push to a remote.
//! - History: `history`, `getAt`, `log`; `exportGit` gives a bundle `git clone` reads, and
//!   `importGit` loads one (also from the native store) into an empty store.
//! - One writer per store: the Web Locks API; a second opener gets `LockedError`.
//! - A full quota gives `QuotaExceededError`; nothing acknowledged is lost and the store stays
//!   open (the `driver` module says how).

mod api;
mod cold;
mod convert;
mod driver;
mod error;
mod idb;
mod notify;
mod options;
mod recovery;
mod store;
mod types;
mod wal_log;
mod warm;
mod web;

pub use api::Thermocline;
pub use cold::ImportReport;
pub use driver::HostCounters;
pub use error::Error;
pub use options::{Clock, ManualClock, Options};
pub use recovery::OpenReport;
pub use store::{BrowserStats, Store};
pub use thermocline_core::Batch;
pub use thermocline_core::cache::EvictionPolicy;
pub use thermocline_core::cold::rev::{LogEntry, Version};
pub use thermocline_core::config::AutoCommit;
pub use thermocline_core::engine::{KeyInfo, WriteOpts};
pub use thermocline_core::{KeyError, Stats, SyncLevel, Value};
pub use web::BucketOptions;
