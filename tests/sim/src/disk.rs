//! The simulated disk: WAL segment files, warm segments and a git repository, each keeping
//! what was written (`live`) apart from what survives a power cut (`durable`).

use std::collections::BTreeMap;

use crate::model::State;
use crate::rng::Rng;

/// A file's two images.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimFile {
    pub live: Vec<u8>,
    pub durable: Vec<u8>,
}

/// One warm record, as the native format has them (value, tombstone, flush marker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarmRec {
    Put {
        seq: u64,
        key: String,
        value: Vec<u8>,
    },
    Tombstone {
        seq: u64,
        key: String,
    },
    Marker {
        through_seq: u64,
    },
}

/// A warm segment: records, and how many of them a power cut keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WarmSeg {
    pub records: Vec<WarmRec>,
    pub durable: usize,
}

/// One commit of the simulated git repository: the whole tree as a map, and the sequence
/// number it holds the store as of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub tree: State,
    pub through_seq: u64,
    pub durable: bool,
}

/// The simulated git repository: objects (a commit stands for its objects) and the ref, each
/// with its write and its fsync, and the ref's lock file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimGit {
    pub commits: BTreeMap<u64, Commit>,
    pub ref_live: Option<u64>,
    pub ref_durable: Option<u64>,
    pub lock_live: Option<u64>,
    pub lock_durable: Option<u64>,
}

/// Everything a store directory holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disk {
    pub wal: BTreeMap<u64, SimFile>,
    pub warm: BTreeMap<u32, WarmSeg>,
    pub git: SimGit,
}

/// How the machine went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// The process died: what was handed to the OS stays.
    Process,
    /// Power cut: only what was synced stays.
    Power,
    /// Power cut, and part of the unsynced tail of the newest WAL segment and warm segment
    /// reached the disk: a prefix of it.
    PowerTorn,
    /// Power cut, and unsynced pages of the WAL tail reached the disk out of order: some later
    /// 64-byte blocks survived, some earlier ones are zeros.
    PowerReordered,
}

impl Crash {
    pub const ALL: [Crash; 4] = [
        Crash::Process,
        Crash::Power,
        Crash::PowerTorn,
        Crash::PowerReordered,
    ];

    /// Whether writes acknowledged at `os` survive (they do a process crash, not a power cut).
    pub fn keeps_os_level(self) -> bool {
        self == Crash::Process
    }
}

impl Disk {
    /// What is on the disk after a crash of `kind` (`rng` picks torn lengths and blocks).
    pub fn after_crash(&self, kind: Crash, rng: &mut Rng) -> Disk {
        let mut out = self.clone();
        if kind == Crash::Process {
            for f in out.wal.values_mut() {
                f.durable = f.live.clone();
            }
            for s in out.warm.values_mut() {
                s.durable = s.records.len();
            }
            for c in out.git.commits.values_mut() {
                c.durable = true;
            }
            out.git.ref_durable = out.git.ref_live;
            out.git.lock_durable = out.git.lock_live;
            return out;
        }
        let newest_wal = out.wal.keys().last().copied();
        for (id, f) in out.wal.iter_mut() {
            let unsynced = f.live.get(f.durable.len()..).unwrap_or(&[]).to_vec();
            let mut kept = f.durable.clone();
            if Some(*id) == newest_wal && !unsynced.is_empty() {
                match kind {
                    Crash::PowerTorn => {
                        let n = rng.below(unsynced.len() as u64 + 1) as usize;
                        kept.extend_from_slice(&unsynced[..n]);
                    }
                    Crash::PowerReordered => {
                        let mut tail = unsynced.clone();
                        for block in tail.chunks_mut(64) {
                            if rng.chance(40) {
                                block.fill(0);
                            }
                        }
                        kept.extend_from_slice(&tail);
                    }
                    _ => {}
                }
            }
            f.live = kept.clone();
            f.durable = kept;
        }
        let newest_warm = out.warm.keys().last().copied();
        for (id, s) in out.warm.iter_mut() {
            let mut keep = s.durable;
            if kind == Crash::PowerTorn && Some(*id) == newest_warm && s.records.len() > keep {
                keep += rng.below((s.records.len() - keep) as u64 + 1) as usize;
            }
            s.records.truncate(keep);
            s.durable = keep;
        }
        out.git.commits.retain(|_, c| c.durable);
        out.git.ref_live = out.git.ref_durable;
        out.git.lock_live = out.git.lock_durable;
        out
    }
}
