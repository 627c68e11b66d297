//! The cold tier: a bare git repository `DIR/cold.git`, branch `main`.
//!
//! Written in-process: each cold commit is one pack (blobs, the trees along changed paths, the
//! commit) made durable before the ref moves, through a lock file, rename and directory fsync.
//! Read in-process through gix's object database. `docs/cold-format.md` documents the layout.

pub(crate) use thermocline_core::cold::{objects, parse};
mod repo;
mod trees;

pub(crate) use repo::{Author, ColdRepo};
pub use thermocline_core::cold::rev::{LogEntry, Version};
