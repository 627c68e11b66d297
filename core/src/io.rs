//! The boundary between the core and a host, as plain data.
//!
//! The engine never calls the host. It queues [`Action`]s; the host carries each out (files
//! and fsync natively, IndexedDB in a browser, a fault-injecting simulation in tests) and
//! reports the outcome back as a [`Completion`]. Every action documents what the host must
//! have made true before it reports success: those sentences are the durability contract.

use alloc::vec::Vec;

use crate::key::Key;
use crate::value::Value;

/// Where a value lives in the warm tier. Opaque to the core: native hosts use segment file,
/// byte offset and record length; other hosts may use any triple that identifies a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WarmLoc {
    pub segment: u32,
    pub offset: u64,
    /// The record's whole length on disk, counted as live bytes of its segment.
    pub len: u32,
}

/// One key's newest state in a flush: a value, or `None` for a deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushEntry {
    pub key: Key,
    pub value: Option<Value>,
    /// The WAL sequence number of the write this state comes from.
    pub seq: u64,
}

/// A write-behind batch for the warm tier. It holds the newest state of every key written
/// since the previous batch, so after it the warm tier equals the store as of `through_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushBatch {
    pub id: u64,
    pub entries: Vec<FlushEntry>,
    pub through_seq: u64,
}

/// One key's newest state in a cold commit: its warm record, or `None` for a deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColdEntry {
    pub key: Key,
    pub seq: u64,
    /// Where the value is in the warm tier (read it from there to write the blob).
    pub warm: Option<WarmLoc>,
}

/// A cold commit: every key changed since the previous commit, as the warm tier holds it.
/// After it, the cold tier's tip equals the store as of `through_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColdBatch {
    pub id: u64,
    pub entries: Vec<ColdEntry>,
    pub through_seq: u64,
}

/// Work for the host. Carry actions out in the order they are polled (the WAL ones at least:
/// `AppendWal` order is log order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Append `bytes` (one encoded record, sequence number `seq`) to the current WAL segment.
    /// The host may buffer it in memory; nothing is promised until `WriteWal`. No completion.
    AppendWal { seq: u64, bytes: Vec<u8> },
    /// Hand every appended byte up to `upto` to the OS (`write`). Report `WalWritten`.
    WriteWal { upto: u64 },
    /// Make every record up to `upto` durable (fdatasync; IndexedDB strict commit). Report
    /// `WalSynced`. This is the only action the native host performs without holding the
    /// engine, so that writers keep appending while the disk works (group commit).
    SyncWal { upto: u64 },
    /// Close the current segment and start segment `segment_id`: write out and sync the
    /// current segment whole (older segments are never torn), then make the new file, holding
    /// only `header`, durable under its name (temp file, fsync, rename, fsync directory).
    /// Report `WalRotated`. Every later `AppendWal` goes to the new segment.
    RotateWal { segment_id: u64, header: Vec<u8> },
    /// Delete these WAL segments: the warm tier durably holds every record in them.
    DeleteWalSegments { segment_ids: Vec<u64> },
    /// Write the batch to the warm tier, mark it complete (a marker naming `through_seq`) and
    /// make it durable. Report `WarmFlushed` with one location per put entry, in order.
    FlushWarm(FlushBatch),
    /// Rewrite the live records of warm segment `segment` elsewhere (ask
    /// [`crate::Engine::warm_is_live`] per record), make them durable, report `WarmCompacted`.
    CompactWarm { segment: u32 },
    /// Delete warm segment `segment`: nothing live remains in it.
    DeleteWarmSegment { segment: u32 },
    /// Write one commit on the cold tier's branch holding the batch (blobs at each key's
    /// path, deletions removing paths), with `through_seq` recorded in it, and make objects
    /// and ref durable, objects first. Report `ColdCommitted`.
    CommitCold(ColdBatch),
}

/// Why a host operation failed, as far as the core cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// The device said no: EIO, a failed fsync.
    Io,
    /// Disk full or quota exceeded.
    NoSpace,
    /// Bytes read back were not what was written.
    Corrupt,
}

/// Which host operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostOp {
    WalWrite,
    WalSync,
    WalRotate,
    WalDelete,
    WarmFlush,
    WarmCompact,
    WarmDelete,
    ColdCommit,
}

/// The outcome of an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    WalWritten {
        upto: u64,
    },
    WalSynced {
        upto: u64,
    },
    WalRotated {
        segment_id: u64,
    },
    WarmFlushed {
        id: u64,
        /// One per entry of the batch, in order: `None` for deletions.
        locations: Vec<Option<WarmLoc>>,
        /// Total size of each warm segment written to, after the flush.
        segment_bytes: Vec<(u32, u64)>,
    },
    WarmCompacted {
        segment: u32,
        /// Records moved: key, old location, new location.
        moves: Vec<(Key, WarmLoc, WarmLoc)>,
        segment_bytes: Vec<(u32, u64)>,
    },
    ColdCommitted {
        id: u64,
        /// The commit's id (SHA-1).
        commit: [u8; 20],
    },
    /// Any action failed. The engine is poisoned: writes are refused until the store is
    /// reopened, because after a failed fsync the OS may have dropped the dirty pages and a
    /// retry that succeeds proves nothing (fsyncgate).
    Failed {
        op: HostOp,
        class: FailureClass,
    },
}

/// Things that happened, for hosts that want to log or wake someone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Every write up to `upto` has reached `level`.
    Reached { level: crate::SyncLevel, upto: u64 },
    /// A write-behind batch of `keys` keys is durable in the warm tier.
    Flushed {
        id: u64,
        keys: usize,
        through_seq: u64,
    },
    /// A warm segment was compacted; `moved` records were rewritten.
    Compacted { segment: u32, moved: usize },
    /// A cold commit is durable.
    Committed {
        id: u64,
        keys: usize,
        through_seq: u64,
        commit: [u8; 20],
    },
    /// A host operation failed and the engine refuses writes from now on.
    Poisoned { op: HostOp, class: FailureClass },
}
