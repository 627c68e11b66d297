//! The simulated host: carries out the engine's actions on the [`Disk`], one numbered step at
//! a time, so a run can be cut after any step.

use std::collections::BTreeSet;

use thermocline_core::io::{
    Action, ColdBatch, Completion, FailureClass, FlushBatch, HostOp, WarmLoc,
};
use thermocline_core::{Engine, Millis};

use crate::disk::{Commit, Disk, SimFile, WarmRec};

/// Every step where the host calls the disk, by name: the fault injector's call sites.
pub const CALL_SITES: [&str; 22] = [
    "git open",
    "git remove stale lock",
    "warm cut interrupted flush",
    "wal cut torn tail",
    "wal sync replayed segment",
    "wal write",
    "wal sync",
    "wal write before rotation",
    "wal sync before rotation",
    "wal create segment",
    "wal delete segments",
    "warm create segment",
    "warm write",
    "warm sync",
    "warm read for compaction",
    "warm delete segment",
    "git write objects",
    "git sync objects",
    "git write ref lock",
    "git sync ref lock",
    "git rename lock to ref",
    "git sync refs directory",
];

/// Defects planted in the simulated host (the engine's are in `thermocline_core::planted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HostBug {
    /// `SyncWal` reports success without syncing.
    WalSyncIsANoop = 1,
    /// A warm flush is reported durable without its sync.
    WarmFlushNotSynced,
    /// A cold commit moves the ref (durably) before its objects are synced.
    RefBeforeObjects,
}

static HOST_BUG: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Switches a host defect on (`None`: all off). Process-wide, for the planted-bug test.
pub fn plant(bug: Option<HostBug>) {
    HOST_BUG.store(
        bug.map_or(0, |b| b as u8),
        std::sync::atomic::Ordering::SeqCst,
    );
}

fn planted(bug: HostBug) -> bool {
    HOST_BUG.load(std::sync::atomic::Ordering::Relaxed) == bug as u8
}

/// An injected failure: EIO or ENOSPC at step `at`, or at every step from `at` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub at: u64,
    pub persistent: bool,
    pub class: FailureClass,
}

/// A step failed by injection: the action reports this failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepError {
    Crashed,
    Failed(FailureClass),
}

impl From<Crashed> for StepError {
    fn from(_: Crashed) -> Self {
        StepError::Crashed
    }
}

/// The run was cut here: the disk is as the steps so far left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crashed;

/// Warm segments are sealed after this many records, so compaction has sealed segments to
/// work on in short runs.
pub const WARM_RECORDS_PER_SEGMENT: usize = 12;
/// Every warm record counts as this many bytes for the engine's accounting.
pub const WARM_RECORD_BYTES: u32 = 10;

#[derive(Clone, Debug, Default)]
pub struct SimHost {
    pub disk: Disk,
    buf: Vec<u8>,
    current_wal: Option<u64>,
    /// Steps taken (each a possible crash point).
    pub steps: u64,
    /// Cut the run when `steps` reaches this.
    pub crash_at: Option<u64>,
    /// FNV-1a over every step, to show runs are deterministic.
    pub trace_hash: u64,
    pub fault: Option<Fault>,
    /// Call sites where a fault was injected.
    pub faulted_sites: BTreeSet<&'static str>,
}

impl SimHost {
    pub fn new(disk: Disk) -> SimHost {
        SimHost {
            disk,
            trace_hash: 0xcbf2_9ce4_8422_2325,
            ..SimHost::default()
        }
    }

    /// Takes one step named `what`; `Err` when the run is cut here.
    pub fn step(&mut self, what: &'static str) -> Result<(), Crashed> {
        if self.crash_at == Some(self.steps) {
            return Err(Crashed);
        }
        self.steps += 1;
        for b in what.bytes().chain(self.steps.to_le_bytes()) {
            self.trace_hash = (self.trace_hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }

    /// Like [`SimHost::step`], and the step may fail by injection. A failed write may still have
    /// written part of its data (a short write), which the caller applies before reporting.
    pub fn io_step(&mut self, what: &'static str) -> Result<(), StepError> {
        let at = self.steps;
        self.step(what)?;
        match self.fault {
            Some(f) if at == f.at || (f.persistent && at > f.at) => {
                self.faulted_sites.insert(what);
                Err(StepError::Failed(f.class))
            }
            _ => Ok(()),
        }
    }

    /// Carries out every queued action, feeding completions back.
    pub fn drive(&mut self, engine: &mut Engine, now: Millis) -> Result<(), Crashed> {
        self.drive_observed(engine, now, &mut |_| {})
    }

    /// Like [`SimHost::drive`], calling `observe` after every action: writers in a real host
    /// look at their acknowledgement between any two steps, so the check must too.
    pub fn drive_observed(
        &mut self,
        engine: &mut Engine,
        now: Millis,
        observe: &mut dyn FnMut(&Engine),
    ) -> Result<(), Crashed> {
        while let Some(action) = engine.poll_action() {
            if let Some(done) = self.execute(engine, action)? {
                engine.handle_completion(now, done);
            }
            observe(engine);
        }
        while engine.poll_event().is_some() {}
        Ok(())
    }

    fn wal_file(&mut self) -> &mut SimFile {
        let id = self.current_wal.expect("a segment is open");
        self.disk.wal.entry(id).or_default()
    }

    fn execute(&mut self, engine: &Engine, action: Action) -> Result<Option<Completion>, Crashed> {
        let op = host_op(&action);
        match self.execute_steps(engine, action) {
            Ok(done) => Ok(done),
            Err(StepError::Crashed) => Err(Crashed),
            Err(StepError::Failed(class)) => Ok(Some(Completion::Failed { op, class })),
        }
    }

    fn execute_steps(
        &mut self,
        engine: &Engine,
        action: Action,
    ) -> Result<Option<Completion>, StepError> {
        Ok(match action {
            Action::AppendWal { bytes, .. } => {
                self.buf.extend_from_slice(&bytes);
                None
            }
            Action::WriteWal { upto } => {
                let result = self.io_step("wal write");
                let buf = std::mem::take(&mut self.buf);
                if let Err(StepError::Failed(_)) = result {
                    // A short write: part of the buffer reached the file before the error.
                    self.wal_file()
                        .live
                        .extend_from_slice(&buf[..buf.len() / 2]);
                }
                result?;
                self.wal_file().live.extend_from_slice(&buf);
                Some(Completion::WalWritten { upto })
            }
            Action::SyncWal { upto } => {
                self.io_step("wal sync")?;
                if !planted(HostBug::WalSyncIsANoop) {
                    let f = self.wal_file();
                    f.durable = f.live.clone();
                }
                Some(Completion::WalSynced { upto })
            }
            Action::RotateWal { segment_id, header } => {
                if self.current_wal.is_some() {
                    self.io_step("wal write before rotation")?;
                    let buf = std::mem::take(&mut self.buf);
                    self.wal_file().live.extend_from_slice(&buf);
                    self.io_step("wal sync before rotation")?;
                    let f = self.wal_file();
                    f.durable = f.live.clone();
                }
                // Temp file, fsync, rename, directory fsync: the new segment appears whole.
                self.io_step("wal create segment")?;
                self.disk.wal.insert(
                    segment_id,
                    SimFile {
                        live: header.clone(),
                        durable: header,
                    },
                );
                self.current_wal = Some(segment_id);
                Some(Completion::WalRotated { segment_id })
            }
            Action::DeleteWalSegments { segment_ids } => {
                self.io_step("wal delete segments")?;
                for id in segment_ids {
                    self.disk.wal.remove(&id);
                }
                None
            }
            Action::FlushWarm(batch) => Some(self.flush_warm(&batch)?),
            Action::CompactWarm { segment } => Some(self.compact(engine, segment)?),
            Action::DeleteWarmSegment { segment } => {
                self.io_step("warm delete segment")?;
                self.disk.warm.remove(&segment);
                None
            }
            Action::CommitCold(batch) => Some(self.commit(&batch)?),
        })
    }

    /// Appends records and a marker to the active warm segment, then syncs: two steps.
    fn append_warm(&mut self, records: Vec<WarmRec>) -> Result<(u32, usize), StepError> {
        let active = self
            .disk
            .warm
            .iter()
            .next_back()
            .map(|(id, s)| (*id, s.records.len()));
        let id = match active {
            Some((id, len)) if len < WARM_RECORDS_PER_SEGMENT => id,
            other => {
                self.io_step("warm create segment")?;
                let id = other.map_or(1, |(id, _)| id + 1);
                self.disk.warm.insert(id, Default::default());
                id
            }
        };
        let result = self.io_step("warm write");
        let seg = self.disk.warm.get_mut(&id).expect("active segment");
        let base = seg.records.len();
        if let Err(StepError::Failed(_)) = result {
            let half = records.len() / 2;
            seg.records.extend(records.into_iter().take(half));
            result?;
            unreachable!("a failed step returned above");
        }
        result?;
        seg.records.extend(records);
        self.io_step("warm sync")?;
        if !planted(HostBug::WarmFlushNotSynced) {
            let seg = self.disk.warm.get_mut(&id).expect("active segment");
            seg.durable = seg.records.len();
        }
        Ok((id, base))
    }

    fn sizes(&self, id: u32) -> Vec<(u32, u64)> {
        let n = self.disk.warm.get(&id).map_or(0, |s| s.records.len());
        vec![(id, n as u64 * u64::from(WARM_RECORD_BYTES))]
    }

    fn flush_warm(&mut self, batch: &FlushBatch) -> Result<Completion, StepError> {
        let mut records: Vec<WarmRec> = batch
            .entries
            .iter()
            .map(|e| match &e.value {
                Some(v) => WarmRec::Put {
                    seq: e.seq,
                    key: e.key.as_str().into(),
                    value: v.to_vec(),
                },
                None => WarmRec::Tombstone {
                    seq: e.seq,
                    key: e.key.as_str().into(),
                },
            })
            .collect();
        records.push(WarmRec::Marker {
            through_seq: batch.through_seq,
        });
        let (id, base) = self.append_warm(records)?;
        let locations = batch
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| e.value.as_ref().map(|_| loc(id, base + i)))
            .collect();
        Ok(Completion::WarmFlushed {
            id: batch.id,
            locations,
            segment_bytes: self.sizes(id),
        })
    }

    fn compact(&mut self, engine: &Engine, segment: u32) -> Result<Completion, StepError> {
        self.io_step("warm read for compaction")?;
        let older_exists = self
            .disk
            .warm
            .keys()
            .next()
            .is_some_and(|first| *first < segment);
        let records = self
            .disk
            .warm
            .get(&segment)
            .map(|s| s.records.clone())
            .unwrap_or_default();
        let mut keep = Vec::new();
        let mut from = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            let live = match &r {
                WarmRec::Put { key, .. } => engine.warm_is_live(key, loc(segment, i)),
                WarmRec::Tombstone { seq, .. } => older_exists || !engine.tombstone_droppable(*seq),
                WarmRec::Marker { .. } => false,
            };
            if live {
                from.push((i, matches!(r, WarmRec::Put { .. })));
                keep.push(r);
            }
        }
        let moved_keys: Vec<String> = keep
            .iter()
            .map(|r| match r {
                WarmRec::Put { key, .. } | WarmRec::Tombstone { key, .. } => key.clone(),
                WarmRec::Marker { .. } => String::new(),
            })
            .collect();
        keep.push(WarmRec::Marker {
            through_seq: engine.warm_through_seq(),
        });
        let (id, base) = self.append_warm(keep)?;
        let moves = from
            .iter()
            .enumerate()
            .filter(|(_, (_, is_put))| *is_put)
            .map(|(j, (i, _))| {
                let key =
                    thermocline_core::Key::new(&moved_keys[j]).expect("keys on disk are valid");
                (key, loc(segment, *i), loc(id, base + j))
            })
            .collect();
        Ok(Completion::WarmCompacted {
            segment,
            moves,
            segment_bytes: self.sizes(id),
        })
    }

    /// A commit in the order the native host writes one: objects and the ref lock written, both
    /// synced (the native host does the two at once), the rename, the directory fsync.
    fn commit(&mut self, batch: &ColdBatch) -> Result<Completion, StepError> {
        let mut tree = self
            .disk
            .git
            .ref_live
            .and_then(|id| self.disk.git.commits.get(&id))
            .map(|c| c.tree.clone())
            .unwrap_or_default();
        for e in &batch.entries {
            match e.warm {
                Some(l) => {
                    let value = self.read_warm(l).expect("a cold entry names a warm value");
                    tree.insert(e.key.as_str().into(), value);
                }
                None => {
                    tree.remove(e.key.as_str());
                }
            }
        }
        let id = self.disk.git.commits.keys().last().copied().unwrap_or(0) + 1;
        self.io_step("git write objects")?;
        self.disk.git.commits.insert(
            id,
            Commit {
                tree,
                through_seq: batch.through_seq,
                durable: false,
            },
        );
        // The native host writes and syncs the objects and the ref's lock at the same time;
        // here the lock goes first, so a crash can also find it durable before the objects.
        self.io_step("git write ref lock")?;
        self.disk.git.lock_live = Some(id);
        self.io_step("git sync ref lock")?;
        self.disk.git.lock_durable = Some(id);
        let objects_first = !planted(HostBug::RefBeforeObjects);
        if objects_first {
            self.io_step("git sync objects")?;
            if let Some(c) = self.disk.git.commits.get_mut(&id) {
                c.durable = true;
            }
        }
        self.io_step("git rename lock to ref")?;
        self.disk.git.ref_live = self.disk.git.lock_live.take();
        self.io_step("git sync refs directory")?;
        self.disk.git.ref_durable = self.disk.git.ref_live;
        self.disk.git.lock_durable = None;
        if !objects_first {
            self.io_step("git sync objects")?;
            if let Some(c) = self.disk.git.commits.get_mut(&id) {
                c.durable = true;
            }
        }
        let mut commit = [0u8; 20];
        commit[..8].copy_from_slice(&id.to_le_bytes());
        Ok(Completion::ColdCommitted {
            id: batch.id,
            commit,
        })
    }

    /// The value of the warm record at `l`.
    pub fn read_warm(&self, l: WarmLoc) -> Option<Vec<u8>> {
        match self
            .disk
            .warm
            .get(&l.segment)?
            .records
            .get(l.offset as usize)?
        {
            WarmRec::Put { value, .. } => Some(value.clone()),
            _ => None,
        }
    }

    /// The value of `key` at the tip of the repository.
    pub fn read_cold(&self, key: &str) -> Option<Vec<u8>> {
        let tip = self.disk.git.ref_live?;
        self.disk.git.commits.get(&tip)?.tree.get(key).cloned()
    }

    pub fn set_current_wal(&mut self, id: Option<u64>) {
        self.current_wal = id;
    }
}

pub fn loc(segment: u32, index: usize) -> WarmLoc {
    WarmLoc {
        segment,
        offset: index as u64,
        len: WARM_RECORD_BYTES,
    }
}

fn host_op(action: &Action) -> HostOp {
    match action {
        Action::AppendWal { .. } | Action::WriteWal { .. } => HostOp::WalWrite,
        Action::SyncWal { .. } => HostOp::WalSync,
        Action::RotateWal { .. } => HostOp::WalRotate,
        Action::DeleteWalSegments { .. } => HostOp::WalDelete,
        Action::FlushWarm(_) => HostOp::WarmFlush,
        Action::CompactWarm { .. } => HostOp::WarmCompact,
        Action::DeleteWarmSegment { .. } => HostOp::WarmDelete,
        Action::CommitCold(_) => HostOp::ColdCommit,
    }
}
