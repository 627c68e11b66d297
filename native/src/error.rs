//! The native store's error type.
//!
//! One enum for the store's operations, flat so that callers match on what happened
//! (`InvalidKey`, `ValueTooLarge`, `Locked`, `Corrupt`, ...) without digging through layers.
//! I/O errors keep the path and the operation that failed.

use std::io;
use std::path::PathBuf;

use thermocline_core::config::ConfigError;
use thermocline_core::io::{FailureClass, HostOp};
use thermocline_core::recovery::RecoveryError;
use thermocline_core::{KeyError, SyncLevel, WriteError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    InvalidKey(#[from] KeyError),
    #[error("value of {len} bytes is larger than the limit of {max}")]
    ValueTooLarge { len: u64, max: u64 },
    #[error("transaction of {bytes} bytes is larger than the limit of {max}")]
    BatchTooLarge { bytes: u64, max: u64 },
    #[error("sync level {level} is not available: {reason}")]
    LevelUnavailable {
        level: SyncLevel,
        reason: &'static str,
    },
    #[error(
        "store is poisoned by an earlier failure ({op:?}, {class:?}: {detail}) and refuses \
         writes; reopen it to recover"
    )]
    Poisoned {
        op: HostOp,
        class: FailureClass,
        detail: String,
    },
    #[error("store {} is locked by {}", dir.display(), holder(*pid))]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error("disk full while trying to {op} {}", path.display())]
    NoSpace {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{} is corrupt at offset {offset}: {what}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error("git {op} failed: {detail}")]
    Git { op: &'static str, detail: String },
    #[error("revision {rev:?} not found: {detail}")]
    Revision { rev: String, detail: String },
    #[error(transparent)]
    Wal(#[from] RecoveryError),
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("value of {key} is not the JSON asked for: {source}")]
    Json {
        key: String,
        source: serde_json::Error,
    },
    #[error("the store is closed")]
    Closed,
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("process {pid}"),
        None => "another process".to_owned(),
    }
}

impl Error {
    /// Damage to the store's files (as opposed to a refusal, a lock, or an I/O failure):
    /// what [`crate::RecoveryMode::FromGit`] rebuilds from.
    #[must_use]
    pub fn is_damage(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::Wal(_))
    }

    /// Wraps an I/O error, telling a full disk apart.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull
            || source.kind() == io::ErrorKind::QuotaExceeded
        {
            Error::NoSpace { op, path, source }
        } else {
            Error::Io { op, path, source }
        }
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Error {
        match e {
            WriteError::InvalidKey(k) => Error::InvalidKey(k),
            WriteError::ValueTooLarge { len, max } => Error::ValueTooLarge { len, max },
            WriteError::BatchTooLarge { bytes, max } => Error::BatchTooLarge { bytes, max },
            WriteError::LevelUnavailable { level, reason } => {
                Error::LevelUnavailable { level, reason }
            }
            WriteError::Poisoned { op, class } => Error::Poisoned {
                op,
                class,
                detail: String::new(),
            },
            // The store waits out backpressure itself; reaching here is a bug.
            other => unreachable!("write error handled inside the store: {other}"),
        }
    }
}

/// The core's view of an I/O failure.
pub(crate) fn classify(e: &io::Error) -> FailureClass {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => FailureClass::NoSpace,
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => FailureClass::Corrupt,
        _ => FailureClass::Io,
    }
}
