//! Planted bugs: defects the crash simulation must catch, switched on one at a time by its
//! tests (`tests/sim/tests/planted.rs`). Compiled only with the `planted-bugs` feature; without
//! it [`active`] is a constant `false` and every check folds away.

/// A deliberate defect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Bug {
    /// `fsync`-level writes are acknowledged once written, before the sync.
    AckBeforeSync = 1,
    /// `os`-level writes are acknowledged once appended to the buffer, before the write.
    AckBeforeWrite,
    /// WAL replay applies only the first operation of a transaction.
    HalfTransaction,
    /// WAL segments are released as soon as a flush starts, before it is durable.
    ReleaseWalBeforeCheckpoint,
    /// Compaction may drop a tombstone the cold tier has not committed yet.
    DropTombstoneEarly,
    /// A cold commit claims to hold the store up to the last appended write, not the last
    /// flushed one.
    CommitClaimsUnflushed,
}

#[cfg(feature = "planted-bugs")]
static ACTIVE: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Switches `bug` on (`None`: all off). Process-wide: tests that use it run in their own binary.
#[cfg(feature = "planted-bugs")]
pub fn set(bug: Option<Bug>) {
    ACTIVE.store(
        bug.map_or(0, |b| b as u8),
        core::sync::atomic::Ordering::SeqCst,
    );
}

/// Whether `bug` is switched on.
#[inline]
#[must_use]
pub fn active(bug: Bug) -> bool {
    #[cfg(feature = "planted-bugs")]
    {
        ACTIVE.load(core::sync::atomic::Ordering::Relaxed) == bug as u8
    }
    #[cfg(not(feature = "planted-bugs"))]
    {
        let _ = bug;
        false
    }
}
