//! The sans-I/O core of Thermocline.
//!
//! This crate performs no I/O, reads no clock, spawns nothing and never blocks. It is a state
//! machine that a host drives, in the style of `quinn-proto`: operations and completions go in
//! through `handle_*` methods that take the current time as `now`, and the work for the host
//! comes out of `poll_*` methods as plain data ([`Action`]s, [`Event`]s and a timer deadline).
//! The native host (files, fsync, tokio) and the browser host (IndexedDB) are drivers of the
//! same [`Engine`]; a simulated host drives it in tests.
//!
//! What lives here:
//! - [`cache`]: the hot tier, with byte capacity and pluggable eviction (S3-FIFO by default,
//!   LRU, O(1) LFU, TTL-ordered);
//! - [`policy`]: tier movement as pure functions;
//! - [`wal`]: the write-ahead log's byte format, encoder and untrusting decoder;
//! - [`write_behind`]: the dirty set and its flush triggers;
//! - [`keydir`]: where each key lives;
//! - [`engine`]: the state machine that ties them together, and [`recovery`] planning.
#![no_std]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

extern crate alloc;

pub mod batch;
pub mod cache;
pub mod cold;
pub mod config;
pub mod crc;
pub mod engine;
pub mod io;
pub mod key;
pub mod keydir;
pub mod planted;
pub mod policy;
pub mod recovery;
pub mod time;
pub mod value;
pub mod wal;
pub mod write_behind;

pub use batch::Batch;
pub use config::{Config, SyncLevel};
pub use engine::{Engine, Lookup, Stats, Ticket, WriteError, WriteOpts};
pub use io::{Action, Completion, Event};
pub use key::{Key, KeyError};
pub use time::Millis;
pub use value::Value;
