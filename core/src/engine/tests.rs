//! Deterministic scenarios: the engine driven by a tiny in-memory host with virtual time.
#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)]

extern crate std;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::config::{AutoCommit, ColdConfig, WriteBehindConfig};
use crate::io::FlushBatch;
use crate::recovery::WalReplay;

const T0: Millis = Millis(1_000_000);

fn k(s: &str) -> Key {
    Key::new(s).expect("valid key")
}

fn v(s: &str) -> Value {
    Value::from(s)
}

/// A host that keeps WAL segments and warm records in memory and carries out actions at
/// once, except syncs when `hold_syncs` is set (to see group commit at work).
struct Sim {
    e: Engine,
    now: Millis,
    segs: BTreeMap<u64, Vec<u8>>,
    cur: u64,
    buf: Vec<u8>,
    warm: BTreeMap<WarmLoc, (Key, Option<Value>, u64)>,
    warm_through: u64,
    next_off: u64,
    hold_syncs: bool,
    held: Vec<u64>,
    sync_actions: u64,
    flushes: Vec<FlushBatch>,
    /// The cold tier: the tip's keys and values, and the number of commits.
    git: BTreeMap<Key, Value>,
    commits: u64,
    hold_commits: bool,
    held_commits: Vec<u64>,
}

impl Sim {
    fn new(config: Config) -> Sim {
        let mut e = Engine::new(config).expect("valid config");
        e.start(T0, &[], 1);
        let mut sim = Sim {
            e,
            now: T0,
            segs: BTreeMap::new(),
            cur: 0,
            buf: Vec::new(),
            warm: BTreeMap::new(),
            warm_through: 0,
            next_off: 0,
            hold_syncs: false,
            held: Vec::new(),
            sync_actions: 0,
            flushes: Vec::new(),
            git: BTreeMap::new(),
            commits: 0,
            hold_commits: false,
            held_commits: Vec::new(),
        };
        sim.run();
        sim
    }

    fn write_out(&mut self) {
        let seg = self.segs.get_mut(&self.cur).expect("open segment");
        seg.extend_from_slice(&self.buf);
        self.buf.clear();
    }

    fn run(&mut self) {
        while let Some(action) = self.e.poll_action() {
            match action {
                Action::AppendWal { bytes, .. } => self.buf.extend_from_slice(&bytes),
                Action::WriteWal { upto } => {
                    self.write_out();
                    self.e
                        .handle_completion(self.now, Completion::WalWritten { upto });
                }
                Action::SyncWal { upto } => {
                    self.sync_actions += 1;
                    if self.hold_syncs {
                        self.held.push(upto);
                    } else {
                        self.e
                            .handle_completion(self.now, Completion::WalSynced { upto });
                    }
                }
                Action::RotateWal { segment_id, header } => {
                    if self.cur != 0 {
                        self.write_out();
                    }
                    self.segs.insert(segment_id, header);
                    self.cur = segment_id;
                    self.e
                        .handle_completion(self.now, Completion::WalRotated { segment_id });
                }
                Action::DeleteWalSegments { segment_ids } => {
                    for id in segment_ids {
                        assert!(
                            self.segs.remove(&id).is_some(),
                            "deleting unknown segment {id}"
                        );
                    }
                }
                Action::FlushWarm(batch) => {
                    let mut locations = Vec::new();
                    for e in &batch.entries {
                        let loc = WarmLoc {
                            segment: 1,
                            offset: self.next_off,
                            len: 10,
                        };
                        self.next_off += 10;
                        self.warm
                            .insert(loc, (e.key.clone(), e.value.clone(), e.seq));
                        locations.push(e.value.as_ref().map(|_| loc));
                    }
                    self.warm_through = batch.through_seq;
                    let id = batch.id;
                    self.flushes.push(batch);
                    let segment_bytes = vec![(1, self.next_off)];
                    self.e.handle_completion(
                        self.now,
                        Completion::WarmFlushed {
                            id,
                            locations,
                            segment_bytes,
                        },
                    );
                }
                Action::CompactWarm { segment } => {
                    self.e.handle_completion(
                        self.now,
                        Completion::WarmCompacted {
                            segment,
                            moves: vec![],
                            segment_bytes: vec![],
                        },
                    );
                }
                Action::DeleteWarmSegment { .. } => {}
                Action::CommitCold(batch) => {
                    for e in &batch.entries {
                        match e.warm {
                            Some(loc) => {
                                let (_, value, _) =
                                    self.warm.get(&loc).cloned().expect("warm record");
                                self.git.insert(e.key.clone(), value.expect("a value"));
                            }
                            None => {
                                self.git.remove(&e.key);
                            }
                        }
                    }
                    if self.hold_commits {
                        self.held_commits.push(batch.id);
                    } else {
                        self.commits += 1;
                        let c = Completion::ColdCommitted {
                            id: batch.id,
                            commit: [0; 20],
                        };
                        self.e.handle_completion(self.now, c);
                    }
                }
            }
        }
    }

    fn release_syncs(&mut self) {
        for upto in core::mem::take(&mut self.held) {
            self.e
                .handle_completion(self.now, Completion::WalSynced { upto });
            self.run();
        }
    }

    fn put(&mut self, key: &str, value: &str, level: SyncLevel) -> Ticket {
        let t = self
            .e
            .handle_put(self.now, k(key), v(value), level)
            .expect("put accepted");
        self.run();
        t
    }

    fn get(&mut self, key: &str) -> Option<Value> {
        match self.e.handle_get(self.now, key) {
            Lookup::Hit(v) => Some(v),
            Lookup::Absent => None,
            Lookup::Warm(loc) => {
                let (_, value, _) = self.warm.get(&loc).cloned().expect("warm record exists");
                let value = value.expect("warm lookup names a value");
                self.e.handle_fetched(self.now, key, loc, value.clone());
                Some(value)
            }
            Lookup::Cold => {
                let value = self
                    .git
                    .get(key)
                    .cloned()
                    .expect("cold lookup names a committed key");
                self.e.handle_fetched_cold(self.now, key, value.clone());
                Some(value)
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_ms(ms);
        self.e.handle_timeout(self.now);
        self.run();
    }

    /// Reopens from what the host holds: warm records, then WAL replay.
    fn reopen(&self, config: Config) -> (Engine, crate::recovery::RecoveryReport) {
        let mut e = Engine::new(config).expect("valid config");
        let mut newest: BTreeMap<Key, (u64, WarmLoc, Option<Value>)> = BTreeMap::new();
        for (loc, (key, value, seq)) in &self.warm {
            if newest.get(key).is_none_or(|(s, _, _)| s < seq) {
                newest.insert(key.clone(), (*seq, *loc, value.clone()));
            }
        }
        for (key, (seq, loc, value)) in newest {
            if let Some(value) = value {
                e.restore_warm(T0, key, seq, loc, value.len_bytes());
            }
        }
        e.restore_warm_through(self.warm_through);
        let mut replay = WalReplay::new(self.warm_through);
        let mut kept = Vec::new();
        let last = self.segs.keys().last().copied();
        for (id, bytes) in &self.segs {
            let plan = replay
                .segment(*id, bytes, Some(*id) == last)
                .expect("wal replays");
            for r in &plan.replay {
                e.replay(T0, r);
            }
            kept.push((*id, plan.first_seq, bytes.len() as u64));
        }
        e.start(T0, &kept, last.map_or(1, |l| l + 1));
        (e, replay.finish())
    }
}

fn quiet_config() -> Config {
    // Triggers far away, so tests decide when flushes happen.
    Config {
        write_behind: WriteBehindConfig {
            flush_ops: 1_000_000,
            flush_bytes: 1 << 40,
            ..WriteBehindConfig::default()
        },
        ..Config::default()
    }
}

#[test]
fn writes_are_readable_at_once_and_listed_sorted() {
    let mut s = Sim::new(quiet_config());
    s.put("b", "2", SyncLevel::Memory);
    s.put("a/x", "1", SyncLevel::Os);
    s.put("a/y", "3", SyncLevel::Fsync);
    assert_eq!(s.get("a/x"), Some(v("1")));
    assert_eq!(s.e.list("a/"), [k("a/x"), k("a/y")]);
    s.e.handle_delete(s.now, k("a/x"), SyncLevel::Fsync)
        .expect("delete");
    s.run();
    assert_eq!(s.get("a/x"), None);
    assert_eq!(s.e.list(""), [k("a/y"), k("b")]);
    assert_eq!(s.e.stats(s.now).keys, 2);
}

#[test]
fn each_level_is_acknowledged_only_when_reached() {
    let mut s = Sim::new(quiet_config());
    s.hold_syncs = true;
    let mem = s.put("a", "1", SyncLevel::Memory);
    assert_eq!(s.e.reached(mem), Ok(true));
    let os = s.put("b", "1", SyncLevel::Os);
    assert_eq!(
        s.e.reached(os),
        Ok(true),
        "os is reached once the host wrote the record"
    );
    let fsync = s.put("c", "1", SyncLevel::Fsync);
    assert_eq!(s.e.reached(fsync), Ok(false));
    s.release_syncs();
    assert_eq!(s.e.reached(fsync), Ok(true));
    assert!(matches!(
        s.e.handle_put(s.now, k("d"), v("1"), SyncLevel::Commit),
        Err(WriteError::LevelUnavailable {
            level: SyncLevel::Commit,
            ..
        })
    ));
}

#[test]
fn concurrent_fsync_writers_share_one_sync() {
    let mut s = Sim::new(quiet_config());
    s.hold_syncs = true;
    let first = s.put("w0", "x", SyncLevel::Fsync);
    assert_eq!(s.sync_actions, 1);
    // 99 more writers arrive while the first sync is on the disk: no new sync is issued.
    let tickets: Vec<Ticket> = (1..100)
        .map(|i| s.put(&alloc::format!("w{i}"), "x", SyncLevel::Fsync))
        .collect();
    assert_eq!(s.sync_actions, 1);
    s.release_syncs();
    assert_eq!(s.e.reached(first), Ok(true));
    // One more sync covers all 99, then the disk is idle.
    assert_eq!(s.sync_actions, 2);
    s.release_syncs();
    for t in tickets {
        assert_eq!(s.e.reached(t), Ok(true));
    }
    assert_eq!(s.sync_actions, 2);
    assert_eq!(s.e.stats(s.now).wal_syncs, 2);
}

#[test]
fn write_behind_coalesces_and_flushes_on_its_triggers() {
    let config = Config {
        write_behind: WriteBehindConfig {
            flush_ops: 3,
            ..WriteBehindConfig::default()
        },
        ..Config::default()
    };
    let mut s = Sim::new(config);
    s.put("a", "1", SyncLevel::Memory);
    s.put("a", "2", SyncLevel::Memory);
    assert!(s.flushes.is_empty());
    s.put("a", "3", SyncLevel::Memory);
    assert_eq!(s.flushes.len(), 1, "the op-count trigger fired");
    let entries = &s.flushes[0].entries;
    assert_eq!(
        entries.len(),
        1,
        "three writes to one key are one warm record"
    );
    assert_eq!(entries[0].value, Some(v("3")));
    // Debounce: one write, then five quiet seconds.
    s.put("b", "1", SyncLevel::Memory);
    s.advance(4_999);
    assert_eq!(s.flushes.len(), 1);
    s.advance(1);
    assert_eq!(s.flushes.len(), 2);
    assert_eq!(s.e.stats(s.now).coalesced_writes, 2);
}

#[test]
fn values_move_down_when_idle_and_up_when_read() {
    let mut s = Sim::new(quiet_config());
    s.put("doc", "body", SyncLevel::Fsync);
    let info = s.e.key_info("doc").expect("exists");
    assert!(info.hot && info.dirty && !info.warm);
    s.advance(5_000); // debounce: flushed to warm
    let info = s.e.key_info("doc").expect("exists");
    assert!(info.hot && !info.dirty && info.warm);
    s.advance(60 * 60 * 1000); // an hour idle: demoted out of memory
    let info = s.e.key_info("doc").expect("exists");
    assert!(!info.hot && info.warm, "{info:?}");
    assert!(matches!(s.e.handle_get(s.now, "doc"), Lookup::Warm(_)));
    assert_eq!(s.get("doc"), Some(v("body")));
    assert!(
        s.e.key_info("doc").expect("exists").hot,
        "a warm hit promotes"
    );
    let st = s.e.stats(s.now);
    assert_eq!((st.idle_demotions, st.promotions), (1, 1));
}

#[test]
fn a_stale_warm_read_is_not_promoted_over_a_newer_write() {
    let mut s = Sim::new(quiet_config());
    s.put("doc", "old", SyncLevel::Fsync);
    s.advance(5_000);
    s.advance(60 * 60 * 1000);
    let Lookup::Warm(loc) = s.e.handle_get(s.now, "doc") else {
        panic!("expected warm")
    };
    s.put("doc", "new", SyncLevel::Fsync); // lands while the host reads the old record
    s.e.handle_fetched(s.now, "doc", loc, v("old"));
    assert_eq!(s.get("doc"), Some(v("new")));
    s.e.handle_flush(s.now);
    s.run();
    assert_eq!(s.get("doc"), Some(v("new")));
}

#[test]
fn a_failed_sync_poisons_the_engine() {
    let mut s = Sim::new(quiet_config());
    s.hold_syncs = true;
    let t = s.put("a", "1", SyncLevel::Fsync);
    s.e.handle_completion(
        s.now,
        Completion::Failed {
            op: HostOp::WalSync,
            class: FailureClass::Io,
        },
    );
    let poisoned = WriteError::Poisoned {
        op: HostOp::WalSync,
        class: FailureClass::Io,
    };
    assert_eq!(s.e.reached(t), Err(poisoned.clone()), "never acknowledged");
    assert_eq!(
        s.e.handle_put(s.now, k("b"), v("1"), SyncLevel::Memory),
        Err(poisoned)
    );
    assert!(s.e.stats(s.now).poisoned);
    assert_eq!(s.e.poll_timeout(), None);
}

#[test]
fn reopening_replays_the_wal_on_top_of_the_warm_tier() {
    let mut s = Sim::new(quiet_config());
    s.put("a", "1", SyncLevel::Fsync);
    s.put("b", "1", SyncLevel::Fsync);
    s.advance(5_000); // a and b flushed
    s.put("a", "2", SyncLevel::Fsync);
    let mut batch = vec![
        Op::Put {
            key: k("c"),
            value: v("3"),
        },
        Op::Delete { key: k("b") },
    ];
    s.e.handle_batch(s.now, core::mem::take(&mut batch), SyncLevel::Fsync)
        .expect("batch");
    s.run();
    let (mut e, report) = s.reopen(quiet_config());
    assert_eq!(
        report.records_replayed, 2,
        "only the records after the flush: {report:?}"
    );
    assert_eq!(e.list(""), [k("a"), k("c")]);
    assert_eq!(e.handle_get(T0, "a"), Lookup::Hit(v("2")));
    assert_eq!(e.handle_get(T0, "b"), Lookup::Absent);
    assert!(matches!(e.handle_get(T0, "c"), Lookup::Hit(_)));
    // New writes continue the sequence.
    let t = e
        .handle_put(T0, k("d"), v("4"), SyncLevel::Memory)
        .expect("put");
    assert_eq!(t.seq, 5);
}

#[test]
fn flushed_wal_segments_are_released() {
    let config = Config {
        wal_segment_bytes_max: 200,
        ..quiet_config()
    };
    let mut s = Sim::new(config.clone());
    for i in 0..20 {
        s.put(&alloc::format!("k{i}"), "0123456789", SyncLevel::Fsync);
    }
    let before = s.segs.len();
    assert!(before > 3, "small segments rotate: {before}");
    s.e.handle_flush(s.now);
    s.run();
    assert_eq!(s.segs.len(), 1, "only the open segment remains");
    let (e, report) = s.reopen(config);
    assert_eq!(report.records_replayed, 0);
    assert_eq!(e.list("").len(), 20);
}

#[test]
fn backpressure_bounds_the_dirty_set() {
    let config = Config {
        write_behind: WriteBehindConfig {
            dirty_bytes_max: 100,
            ..quiet_config().write_behind
        },
        ..quiet_config()
    };
    let mut s = Sim::new(config);
    s.put("a", &"x".repeat(60), SyncLevel::Memory);
    let err =
        s.e.handle_put(s.now, k("b"), v(&"y".repeat(60)), SyncLevel::Memory);
    assert!(
        matches!(err, Err(WriteError::Backpressure { .. })),
        "{err:?}"
    );
    s.run(); // the refusal started a flush
    assert_eq!(s.flushes.len(), 1);
    s.put("b", &"y".repeat(60), SyncLevel::Memory);
}

#[test]
fn limits_are_typed_errors() {
    let config = Config {
        key_bytes_max: 8,
        value_bytes_max: 4,
        ..quiet_config()
    };
    let mut s = Sim::new(config);
    assert_eq!(
        s.e.handle_put(s.now, k("123456789"), v("1"), SyncLevel::Memory),
        Err(WriteError::InvalidKey(KeyError::TooLong { len: 9, max: 8 }))
    );
    assert_eq!(
        s.e.handle_put(s.now, k("a"), v("12345"), SyncLevel::Memory),
        Err(WriteError::ValueTooLarge { len: 5, max: 4 })
    );
}

#[test]
fn rarely_read_values_leave_memory_sooner_than_busy_ones() {
    let mut s = Sim::new(quiet_config());
    s.put("busy", "b", SyncLevel::Fsync);
    s.put("rare", "r", SyncLevel::Fsync);
    for _ in 0..20 {
        assert_eq!(s.get("busy"), Some(v("b")));
    }
    s.advance(5_000); // flushed
    s.advance(15 * 60 * 1000); // a quarter of the hot idle time
    assert!(
        !s.e.key_info("rare").expect("exists").hot,
        "one access: demoted early"
    );
    assert!(
        s.e.key_info("busy").expect("exists").hot,
        "21 accesses: kept"
    );
    s.advance(45 * 60 * 1000);
    assert!(
        !s.e.key_info("busy").expect("exists").hot,
        "an hour idle demotes anything"
    );
}

fn cold_config(mode: AutoCommit) -> Config {
    Config {
        cold: Some(ColdConfig {
            auto_commit: mode,
            ..ColdConfig::default()
        }),
        ..quiet_config()
    }
}

#[test]
fn commit_level_writes_are_acknowledged_once_committed() {
    let mut s = Sim::new(cold_config(AutoCommit::Manual));
    s.hold_commits = true;
    let t = s.put("doc", "v1", SyncLevel::Commit);
    assert_eq!(s.flushes.len(), 1, "a commit-level write flushes at once");
    assert_eq!(
        s.e.reached(t),
        Ok(false),
        "not before the commit is durable"
    );
    for id in core::mem::take(&mut s.held_commits) {
        s.e.handle_completion(
            s.now,
            Completion::ColdCommitted {
                id,
                commit: [0; 20],
            },
        );
        s.run();
    }
    assert_eq!(s.e.reached(t), Ok(true));
    assert_eq!(s.git.get("doc"), Some(&v("v1")));
    assert!(s.e.key_info("doc").expect("exists").cold);
    // Without a cold tier the level is refused.
    let mut plain = Sim::new(quiet_config());
    assert!(matches!(
        plain
            .e
            .handle_put(plain.now, k("x"), v("1"), SyncLevel::Commit),
        Err(WriteError::LevelUnavailable { .. })
    ));
    assert!(matches!(
        s.e.handle_put(s.now, k("x"), v("1"), SyncLevel::Push),
        Err(WriteError::LevelUnavailable {
            level: SyncLevel::Push,
            ..
        })
    ));
}

#[test]
fn auto_commit_modes() {
    // Immediate: every flush is a commit.
    let mut s = Sim::new(cold_config(AutoCommit::Immediate));
    s.put("a", "1", SyncLevel::Fsync);
    s.e.handle_flush(s.now);
    s.run();
    assert_eq!(s.commits, 1);
    // Debounced: a commit once flushes pause for the debounce, never later than max age.
    let mut s = Sim::new(cold_config(AutoCommit::Debounced));
    s.put("a", "1", SyncLevel::Fsync);
    s.advance(5_000); // write-behind debounce: flushed
    assert_eq!((s.flushes.len(), s.commits), (1, 0));
    s.advance(4_999);
    assert_eq!(s.commits, 0);
    s.advance(1);
    assert_eq!(s.commits, 1);
    for i in 0..40 {
        s.put("b", &alloc::format!("{i}"), SyncLevel::Fsync);
        s.e.handle_flush(s.now);
        s.run();
        s.advance(1_000); // a flush every second keeps debounce from firing
    }
    assert_eq!(s.commits, 2, "max age forced one commit within 30 s");
    // Manual: only sync(commit).
    let mut s = Sim::new(cold_config(AutoCommit::Manual));
    s.put("a", "1", SyncLevel::Fsync);
    s.advance(5_000);
    s.advance(60_000);
    assert_eq!(s.commits, 0);
    let t = s.e.handle_sync(s.now, SyncLevel::Commit).expect("sync");
    s.run();
    assert_eq!((s.commits, s.e.reached(t)), (1, Ok(true)));
    // Nothing new: sync(commit) is reached without an empty commit.
    let t = s.e.handle_sync(s.now, SyncLevel::Commit).expect("sync");
    s.run();
    assert_eq!((s.commits, s.e.reached(t)), (1, Ok(true)));
}

#[test]
fn coalesced_writes_are_one_version_and_deletes_remove() {
    let mut s = Sim::new(cold_config(AutoCommit::Manual));
    for i in 0..5 {
        s.put("doc", &alloc::format!("v{i}"), SyncLevel::Memory);
    }
    s.put("gone", "x", SyncLevel::Memory);
    s.e.handle_sync(s.now, SyncLevel::Commit).expect("sync");
    s.run();
    assert_eq!(s.git.get("doc"), Some(&v("v4")));
    s.e.handle_delete(s.now, k("gone"), SyncLevel::Commit)
        .expect("delete");
    s.run();
    assert_eq!(s.commits, 2);
    assert!(!s.git.contains_key("gone"));
}

#[test]
fn idle_committed_values_move_to_cold_and_come_back_when_read() {
    let mut s = Sim::new(cold_config(AutoCommit::Immediate));
    s.put("old", "data", SyncLevel::Commit);
    s.put("fresh", "data", SyncLevel::Commit);
    let day = 24 * 60 * 60 * 1000;
    s.advance(day - 60_000);
    s.get("fresh"); // read recently: stays warm
    s.advance(120_000);
    let old = s.e.key_info("old").expect("exists");
    assert!(old.cold && !old.warm && !old.hot, "{old:?}");
    assert!(s.e.key_info("fresh").expect("exists").warm);
    assert_eq!(s.e.handle_get(s.now, "old"), Lookup::Cold);
    assert_eq!(s.get("old"), Some(v("data")));
    assert!(
        s.e.key_info("old").expect("exists").hot,
        "a cold hit promotes"
    );
    assert_eq!(s.e.stats(s.now).cold_demotions, 1);
}

#[test]
fn tombstones_stay_until_the_deletion_is_committed() {
    let mut s = Sim::new(cold_config(AutoCommit::Manual));
    s.put("k", "v", SyncLevel::Commit);
    let t =
        s.e.handle_delete(s.now, k("k"), SyncLevel::Fsync)
            .expect("delete");
    s.run();
    s.e.handle_flush(s.now);
    s.run();
    assert!(!s.e.tombstone_droppable(t.seq), "git still has the value");
    s.e.handle_sync(s.now, SyncLevel::Commit).expect("sync");
    s.run();
    assert!(s.e.tombstone_droppable(t.seq));
}

#[test]
fn warm_capacity_moves_the_least_recently_used_committed_values_to_cold() {
    let mut config = cold_config(AutoCommit::Immediate);
    if let Some(cold) = config.cold.as_mut() {
        cold.warm_capacity_bytes = Some(100); // the sim's records are 10 bytes each
    }
    let mut s = Sim::new(config);
    for i in 0..20 {
        s.put(&alloc::format!("k{i:02}"), "v", SyncLevel::Commit);
        s.advance(1_000); // k00 is the least recently used
    }
    s.advance(60_000); // the demotion scan
    let st = s.e.stats(s.now);
    assert!(
        st.warm_live_bytes <= 90,
        "down to 90 % of the capacity: {st:?}"
    );
    assert_eq!(st.cold_demotions, 11);
    assert!(!s.e.key_info("k00").expect("exists").warm, "oldest first");
    assert!(s.e.key_info("k19").expect("exists").warm, "newest stays");
    assert_eq!(s.get("k00"), Some(v("v")));
}
