//! The browser store's error type and its JavaScript form.
//!
//! One flat enum, like the native store's, so that callers match on what happened. In
//! JavaScript every error is an `Error` whose `name` is stable (`InvalidKeyError`,
//! `QuotaExceededError`, ...): apps branch on `err.name`, never on message text. The list of
//! names is part of the TypeScript declarations (`ThermoclineErrorName`).

use thermocline_core::config::ConfigError;
use thermocline_core::io::{FailureClass, HostOp};
use thermocline_core::recovery::RecoveryError;
use thermocline_core::{KeyError, SyncLevel, WriteError};
use wasm_bindgen::JsValue;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    InvalidKey(#[from] KeyError),
    #[error("value of {len} bytes is larger than the limit of {max}")]
    ValueTooLarge { len: u64, max: u64 },
    #[error("transaction of {bytes} bytes is larger than the limit of {max}")]
    BatchTooLarge { bytes: u64, max: u64 },
    #[error("{}", level_unavailable_reason(*level))]
    LevelUnavailable { level: SyncLevel },
    #[error(
        "store {name} is open in another tab or worker of this origin (it holds the Web Lock \
         {lock}); close it there, or open with waitForLock: true to wait for it"
    )]
    Locked { name: String, lock: String },
    #[error(
        "the browser's storage quota is exhausted ({detail}); the write was not stored and \
         every earlier acknowledged write is kept; free space (delete data, or ask for persistent \
         storage) and retry"
    )]
    QuotaExceeded { detail: String },
    #[error("{what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    #[error(transparent)]
    Wal(#[from] RecoveryError),
    #[error(
        "store is poisoned by an earlier failure ({op:?}, {class:?}: {detail}) and refuses \
         writes; close and reopen it to recover"
    )]
    Poisoned {
        op: HostOp,
        class: FailureClass,
        detail: String,
    },
    #[error("IndexedDB refused to {op}: {detail}")]
    Storage { op: &'static str, detail: String },
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("value of {key} is not the JSON asked for: {detail}")]
    Json { key: String, detail: String },
    #[error("{0} (this browser or context does not provide it)")]
    Unsupported(String),
    #[error("revision {rev:?}: {detail}")]
    Revision { rev: String, detail: String },
    #[error("cannot import the git history: {detail}")]
    Import { detail: String },
    #[error("the store is closed")]
    Closed,
}

/// Why a level cannot be reached in a browser, for [`Error::LevelUnavailable`].
fn level_unavailable_reason(level: SyncLevel) -> &'static str {
    match level {
        SyncLevel::Push => {
            "sync level push is not available in a browser: a page cannot push to a git remote"
        }
        _ => {
            "sync level commit and git history need the git cold tier, which this store was \
             opened without (options.git: false)"
        }
    }
}

impl Error {
    /// The stable JavaScript `name` of this error.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Error::InvalidKey(_) => "InvalidKeyError",
            Error::ValueTooLarge { .. } => "ValueTooLargeError",
            Error::BatchTooLarge { .. } => "BatchTooLargeError",
            Error::LevelUnavailable { .. } => "LevelUnavailableError",
            Error::Locked { .. } => "LockedError",
            Error::QuotaExceeded { .. } => "QuotaExceededError",
            Error::Corrupt { .. } | Error::Wal(_) => "CorruptError",
            Error::Poisoned { .. } => "PoisonedError",
            Error::Storage { .. } => "StorageError",
            Error::Config(_) | Error::InvalidArgument(_) => "InvalidArgumentError",
            Error::Json { .. } => "JsonError",
            Error::Unsupported(_) => "UnsupportedError",
            Error::Revision { .. } => "RevisionError",
            Error::Import { .. } => "ImportError",
            Error::Closed => "ClosedError",
        }
    }

    /// A refused write, in the browser's terms. A poisoning by a full quota is reported as
    /// [`Error::QuotaExceeded`]: that is what the caller can act on.
    pub(crate) fn from_write(e: WriteError, detail: Option<&str>) -> Error {
        let detail = detail.unwrap_or("no detail recorded").to_owned();
        match e {
            WriteError::InvalidKey(k) => Error::InvalidKey(k),
            WriteError::ValueTooLarge { len, max } => Error::ValueTooLarge { len, max },
            WriteError::BatchTooLarge { bytes, max } => Error::BatchTooLarge { bytes, max },
            WriteError::LevelUnavailable { level, .. } => Error::LevelUnavailable { level },
            WriteError::Poisoned {
                class: FailureClass::NoSpace,
                ..
            } => Error::QuotaExceeded { detail },
            WriteError::Poisoned { op, class } => Error::Poisoned { op, class, detail },
            // The store waits out backpressure itself; anything else is reported as is.
            other => Error::Storage {
                op: "accept the write",
                detail: other.to_string(),
            },
        }
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        let js = js_sys::Error::new(&e.to_string());
        js.set_name(e.name());
        js.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_messages_say_why() {
        let cases: [(Error, &str, &str); 5] = [
            (
                Error::InvalidKey(KeyError::Empty),
                "InvalidKeyError",
                "invalid key: empty",
            ),
            (
                Error::LevelUnavailable {
                    level: SyncLevel::Push,
                },
                "LevelUnavailableError",
                "cannot push to a git remote",
            ),
            (
                Error::LevelUnavailable {
                    level: SyncLevel::Commit,
                },
                "LevelUnavailableError",
                "git cold tier",
            ),
            (
                Error::from_write(
                    WriteError::Poisoned {
                        op: HostOp::WalSync,
                        class: FailureClass::NoSpace,
                    },
                    Some("QuotaExceededError"),
                ),
                "QuotaExceededError",
                "acknowledged write is kept",
            ),
            (
                Error::Locked {
                    name: "notes".into(),
                    lock: "thermocline:notes".into(),
                },
                "LockedError",
                "waitForLock",
            ),
        ];
        for (e, name, part) in cases {
            assert_eq!(e.name(), name);
            assert!(e.to_string().contains(part), "{e}");
        }
    }
}
