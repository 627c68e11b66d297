//! Scenario tests written once and run on every host.
//!
//! The native store and the browser store drive the same engine over different storage; what
//! a user sees must not differ. Each scenario here is an `async fn` over the [`Host`] and
//! [`Store`] traits, and each host implements those traits in its own test file:
//! `tests/scenarios/tests/native.rs` (files, run by `cargo test`) and `wasm/tests/web.rs`
//! (IndexedDB, run in headless Chromium). [`for_each_scenario!`] lists every scenario, so a host
//! that runs the list runs them all, and a scenario added here runs everywhere.
//!
//! The traits are async because the browser's store is; the native store's futures are ready
//! at once.
#![allow(
    async_fn_in_trait,
    reason = "scenarios run on one thread per host; no Send bound is wanted"
)]

use thermocline_core::cache::EvictionPolicy;
use thermocline_core::config::AutoCommit;
use thermocline_core::{Config, SyncLevel};

pub use thermocline_core::cold::rev::{LogEntry, Version};

pub use thermocline_core::Stats;
pub use thermocline_core::engine::KeyInfo;

/// What kind of failure a host reported, as far as scenarios compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidKey,
    ValueTooLarge,
    LevelUnavailable,
    Locked,
    Other,
}

/// A host's error, reduced to what scenarios check.
#[derive(Clone, Debug)]
pub struct StoreError {
    pub kind: ErrorKind,
    pub message: String,
}

/// How a scenario wants its store configured. Hosts apply it with [`Setup::apply`].
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Write-behind flushes only after the debounce (with the manual clock) or when asked:
    /// scenarios decide when flushes happen.
    pub quiet: bool,
    pub hot_capacity_bytes: Option<u64>,
    pub lru: bool,
    pub value_bytes_max: Option<u64>,
    pub dirty_bytes_max: Option<u64>,
    /// Git commits only when a write or sync asks for the `commit` level.
    pub manual_commits: bool,
}

impl Setup {
    /// Applies the setup to a host's engine configuration.
    pub fn apply(&self, config: &mut Config) {
        if self.quiet {
            config.write_behind.flush_ops = u64::MAX;
            config.write_behind.flush_bytes = u64::MAX;
        }
        if let Some(bytes) = self.hot_capacity_bytes {
            config.cache.capacity_bytes = bytes;
        }
        if self.lru {
            config.cache.policy = EvictionPolicy::Lru;
        }
        if let Some(bytes) = self.value_bytes_max {
            config.value_bytes_max = bytes;
        }
        if let Some(bytes) = self.dirty_bytes_max {
            config.write_behind.dirty_bytes_max = bytes;
        }
        if self.manual_commits
            && let Some(cold) = &mut config.cold
        {
            cold.auto_commit = AutoCommit::Manual;
        }
    }

    fn quiet() -> Setup {
        Setup {
            quiet: true,
            ..Setup::default()
        }
    }
}

/// One write of a transaction.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    Put(&'a str, &'a [u8]),
    Delete(&'a str),
}

/// A place a store lives (a directory, an IndexedDB database), with a manual clock.
pub trait Host {
    type Store: Store;
    /// Opens the host's store: the same data on every call.
    async fn open(&mut self, setup: &Setup) -> Result<Self::Store, StoreError>;
    /// Moves the clock every store of this host reads.
    fn advance_clock(&self, ms: u64);
}

/// The operations every host's store has.
pub trait Store: Sized {
    async fn put(&self, key: &str, value: &[u8], level: SyncLevel) -> Result<(), StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn delete(&self, key: &str, level: SyncLevel) -> Result<(), StoreError>;
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    async fn commit(&self, ops: &[Op<'_>], level: SyncLevel) -> Result<(), StoreError>;
    async fn sync(&self, level: SyncLevel) -> Result<(), StoreError>;
    async fn put_json(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError>;
    async fn get_json(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    async fn flush(&self) -> Result<(), StoreError>;
    async fn run_timers(&self) -> Result<(), StoreError>;
    async fn stats(&self) -> Stats;
    fn key_info(&self, key: &str) -> Option<KeyInfo>;
    async fn history(&self, key: &str) -> Result<Vec<Version>, StoreError>;
    async fn get_at(&self, key: &str, rev: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn log(&self, n: usize) -> Result<Vec<LogEntry>, StoreError>;
    async fn close(self) -> Result<(), StoreError>;
}

/// Calls `$run!(scenario)` for every scenario in this crate.
#[macro_export]
macro_rules! for_each_scenario {
    ($run:ident) => {
        $run!(operations);
        $run!(transactions_are_atomic_and_durable);
        $run!(every_level_survives_a_clean_reopen);
        $run!(bad_input_gets_typed_errors);
        $run!(json_documents_are_stored_readable);
        $run!(values_move_between_tiers_on_a_manual_clock);
        $run!(reopening_after_a_flush_replays_only_the_newer_wal);
        $run!(hot_eviction_drops_values_from_memory_only);
        $run!(backpressure_waits_instead_of_growing);
        $run!(deletes_survive_a_flush_and_a_reopen);
        $run!(a_second_opener_is_locked_out);
        $run!(history_records_each_commit);
        $run!(cold_values_are_read_back_from_git);
    };
}

const FSYNC: SyncLevel = SyncLevel::Fsync;

fn bytes(v: Result<Option<Vec<u8>>, StoreError>) -> Option<Vec<u8>> {
    v.expect("read failed")
}

pub async fn operations(h: &mut impl Host) {
    let s = h.open(&Setup::default()).await.unwrap();
    s.put("b", b"2", FSYNC).await.unwrap();
    s.put("a/1", b"x", FSYNC).await.unwrap();
    s.put("a/2", b"y", SyncLevel::Os).await.unwrap();
    assert_eq!(bytes(s.get("a/1").await).as_deref(), Some(&b"x"[..]));
    assert_eq!(bytes(s.get("missing").await), None);
    assert_eq!(s.list("a/").await.unwrap(), ["a/1", "a/2"]);
    s.put("a/1", b"x2", SyncLevel::Memory).await.unwrap();
    assert_eq!(bytes(s.get("a/1").await).as_deref(), Some(&b"x2"[..]));
    s.delete("a/1", FSYNC).await.unwrap();
    assert_eq!(bytes(s.get("a/1").await), None);
    assert_eq!(s.list("").await.unwrap(), ["a/2", "b"]);
    s.delete("never-written", FSYNC).await.unwrap();
    s.put("empty", b"", FSYNC).await.unwrap();
    assert_eq!(bytes(s.get("empty").await).as_deref(), Some(&b""[..]));
    assert_eq!(s.stats().await.keys, 3);
    s.close().await.unwrap();
}

pub async fn transactions_are_atomic_and_durable(h: &mut impl Host) {
    let s = h.open(&Setup::quiet()).await.unwrap();
    s.put("b", b"old", FSYNC).await.unwrap();
    let ops = [
        Op::Put("t/1", b"one"),
        Op::Put("t/2", b"two"),
        Op::Delete("b"),
        Op::Put("t/1", b"uno"),
    ];
    s.commit(&ops, FSYNC).await.unwrap();
    check_transaction(&s).await;
    // A transaction with a bad key is refused whole.
    let bad = [Op::Put("t/3", b"x"), Op::Put("bad//key", b"y")];
    let err = s.commit(&bad, FSYNC).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey, "{err:?}");
    assert_eq!(bytes(s.get("t/3").await), None);
    s.close().await.unwrap();
    let s = h.open(&Setup::quiet()).await.unwrap();
    check_transaction(&s).await;
    s.flush().await.unwrap();
    s.close().await.unwrap();
    let s = h.open(&Setup::quiet()).await.unwrap();
    check_transaction(&s).await;
    s.close().await.unwrap();
}

async fn check_transaction(s: &impl Store) {
    assert_eq!(s.list("").await.unwrap(), ["t/1", "t/2"]);
    assert_eq!(bytes(s.get("t/1").await).as_deref(), Some(&b"uno"[..]));
    assert_eq!(bytes(s.get("b").await), None);
}

pub async fn every_level_survives_a_clean_reopen(h: &mut impl Host) {
    let levels = [SyncLevel::Memory, SyncLevel::Os, SyncLevel::Fsync];
    let s = h.open(&Setup::quiet()).await.unwrap();
    for level in levels {
        let key = format!("k/{level}");
        s.put(&key, level.as_str().as_bytes(), level).await.unwrap();
    }
    s.sync(SyncLevel::Fsync).await.unwrap();
    let push = s.put("p", b"x", SyncLevel::Push).await.unwrap_err();
    assert_eq!(push.kind, ErrorKind::LevelUnavailable, "{push:?}");
    let push = s.sync(SyncLevel::Push).await.unwrap_err();
    assert_eq!(push.kind, ErrorKind::LevelUnavailable, "{push:?}");
    assert_eq!(
        bytes(s.get("p").await),
        None,
        "a refused write leaves no trace"
    );
    s.close().await.unwrap();
    let s = h.open(&Setup::quiet()).await.unwrap();
    for level in levels {
        let got = bytes(s.get(&format!("k/{level}")).await);
        assert_eq!(got.as_deref(), Some(level.as_str().as_bytes()), "{level}");
    }
    s.close().await.unwrap();
}

pub async fn bad_input_gets_typed_errors(h: &mut impl Host) {
    let setup = Setup {
        value_bytes_max: Some(1024),
        ..Setup::default()
    };
    let s = h.open(&setup).await.unwrap();
    for key in ["a/../b", "", ".git/x", "a\0b", "tab\there", "trailing/"] {
        let err = s.put(key, b"x", FSYNC).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidKey, "{key:?}: {err:?}");
    }
    let err = s.get("a\0b").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey, "{err:?}");
    let err = s.put("a//b", b"x", FSYNC).await.unwrap_err();
    assert!(err.message.contains("empty segment"), "{err:?}");
    let long = "k".repeat(1025);
    let err = s.put(&long, b"x", FSYNC).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey, "{err:?}");
    let err = s.put("big", &[0u8; 1025], FSYNC).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ValueTooLarge, "{err:?}");
    assert!(
        err.message.contains("1025") && err.message.contains("1024"),
        "{err:?}"
    );
    s.put("big", &[0u8; 1024], FSYNC).await.unwrap();
    assert_eq!(s.list("").await.unwrap(), ["big"]);
    s.close().await.unwrap();
}

pub async fn json_documents_are_stored_readable(h: &mut impl Host) {
    let s = h.open(&Setup::default()).await.unwrap();
    let doc = serde_json::json!({"z": 1, "a": [true, null, "x"], "m": {"b": 2.5, "a": "é"}});
    s.put_json("doc", &doc).await.unwrap();
    let raw = bytes(s.get("doc").await).unwrap();
    assert_eq!(
        std::str::from_utf8(&raw).unwrap(),
        "{\n  \"a\": [\n    true,\n    null,\n    \"x\"\n  ],\n  \"m\": {\n    \"a\": \"é\",\n    \
         \"b\": 2.5\n  },\n  \"z\": 1\n}",
        "pretty-printed with sorted keys on every host"
    );
    assert_eq!(s.get_json("doc").await.unwrap(), Some(doc));
    assert_eq!(s.get_json("missing").await.unwrap(), None);
    s.put("text", b"not json", FSYNC).await.unwrap();
    let err = s.get_json("text").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Other, "{err:?}");
    assert!(
        err.message.contains("text"),
        "the message names the key: {err:?}"
    );
    s.close().await.unwrap();
}

pub async fn values_move_between_tiers_on_a_manual_clock(h: &mut impl Host) {
    let s = h.open(&Setup::quiet()).await.unwrap();
    s.put("doc", b"body", FSYNC).await.unwrap();
    let info = s.key_info("doc").unwrap();
    assert!(info.hot && info.dirty && !info.warm, "{info:?}");
    h.advance_clock(5_000); // the write-behind debounce
    s.run_timers().await.unwrap();
    let info = s.key_info("doc").unwrap();
    assert!(info.hot && !info.dirty && info.warm, "{info:?}");
    h.advance_clock(3_600_000); // an hour idle
    s.run_timers().await.unwrap();
    let info = s.key_info("doc").unwrap();
    assert!(!info.hot && info.warm, "{info:?}");
    assert_eq!(bytes(s.get("doc").await).as_deref(), Some(&b"body"[..]));
    assert!(s.key_info("doc").unwrap().hot, "a warm hit promotes");
    let st = s.stats().await;
    assert_eq!((st.hits_warm, st.promotions, st.idle_demotions), (1, 1, 1));
    s.close().await.unwrap();
}

pub async fn reopening_after_a_flush_replays_only_the_newer_wal(h: &mut impl Host) {
    let s = h.open(&Setup::quiet()).await.unwrap();
    for i in 0..100 {
        let key = format!("k{i:03}");
        s.put(&key, format!("v{i}").as_bytes(), SyncLevel::Os)
            .await
            .unwrap();
    }
    s.flush().await.unwrap();
    s.put("after", b"flush", FSYNC).await.unwrap();
    assert_eq!(
        s.stats().await.wal_segments,
        1,
        "covered segments are deleted"
    );
    s.close().await.unwrap();
    let s = h.open(&Setup::quiet()).await.unwrap();
    let st = s.stats().await;
    assert_eq!((st.keys, st.warm_keys), (101, 101), "{st:?}");
    assert_eq!(s.list("").await.unwrap().len(), 101);
    assert_eq!(bytes(s.get("k042").await).as_deref(), Some(&b"v42"[..]));
    assert_eq!(bytes(s.get("after").await).as_deref(), Some(&b"flush"[..]));
    s.close().await.unwrap();
}

pub async fn hot_eviction_drops_values_from_memory_only(h: &mut impl Host) {
    let setup = Setup {
        quiet: true,
        hot_capacity_bytes: Some(64 * 1024),
        lru: true,
        ..Setup::default()
    };
    let s = h.open(&setup).await.unwrap();
    for i in 0..200u32 {
        let value = vec![i as u8; 1000];
        s.put(&format!("k{i}"), &value, SyncLevel::Os)
            .await
            .unwrap();
    }
    s.flush().await.unwrap();
    let st = s.stats().await;
    assert!(st.evictions > 100, "{st:?}");
    assert!(st.hot_bytes <= 64 * 1024, "{st:?}");
    for i in 0..200u32 {
        let got = bytes(s.get(&format!("k{i}")).await).unwrap();
        assert_eq!(got, vec![i as u8; 1000], "k{i}");
    }
    assert!(s.stats().await.hits_warm > 0);
    s.close().await.unwrap();
}

pub async fn backpressure_waits_instead_of_growing(h: &mut impl Host) {
    let setup = Setup {
        quiet: true,
        dirty_bytes_max: Some(64 * 1024),
        ..Setup::default()
    };
    let s = h.open(&setup).await.unwrap();
    for i in 0..500 {
        s.put(&format!("k{i}"), &[7u8; 1000], SyncLevel::Memory)
            .await
            .unwrap();
        assert!(s.stats().await.dirty_bytes <= 64 * 1024 + 1100);
    }
    assert!(s.stats().await.flushes >= 5);
    assert_eq!(s.list("").await.unwrap().len(), 500);
    s.close().await.unwrap();
}

pub async fn deletes_survive_a_flush_and_a_reopen(h: &mut impl Host) {
    let s = h.open(&Setup::quiet()).await.unwrap();
    s.put("gone", b"1", FSYNC).await.unwrap();
    s.put("kept", b"2", FSYNC).await.unwrap();
    s.flush().await.unwrap();
    s.delete("gone", FSYNC).await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(bytes(s.get("gone").await), None);
    s.close().await.unwrap();
    let s = h.open(&Setup::quiet()).await.unwrap();
    assert_eq!(bytes(s.get("gone").await), None);
    assert_eq!(s.list("").await.unwrap(), ["kept"]);
    let st = s.stats().await;
    assert_eq!((st.keys, st.warm_keys), (1, 1), "{st:?}");
    s.close().await.unwrap();
}

pub async fn a_second_opener_is_locked_out(h: &mut impl Host) {
    let s = h.open(&Setup::default()).await.unwrap();
    s.put("k", b"v", FSYNC).await.unwrap();
    let err = h
        .open(&Setup::default())
        .await
        .err()
        .expect("a second open");
    assert_eq!(err.kind, ErrorKind::Locked, "{err:?}");
    s.close().await.unwrap();
    let s = h.open(&Setup::default()).await.unwrap();
    assert_eq!(bytes(s.get("k").await).as_deref(), Some(&b"v"[..]));
    s.close().await.unwrap();
}

pub async fn history_records_each_commit(h: &mut impl Host) {
    let setup = Setup {
        manual_commits: true,
        ..Setup::quiet()
    };
    let commit = SyncLevel::Commit;
    let s = h.open(&setup).await.unwrap();
    s.put("notes/a", b"one", commit).await.unwrap();
    s.put("notes/a", b"two", FSYNC).await.unwrap();
    s.put("b", b"bee", FSYNC).await.unwrap();
    s.sync(commit).await.unwrap();
    s.delete("notes/a", commit).await.unwrap();
    s.put("b", b"unchanged by the next commit", FSYNC)
        .await
        .unwrap();
    check_history(&s).await;
    s.close().await.unwrap();
    // The deletion survives the reopen although `b`'s newer write made no commit of its own.
    let s = h.open(&setup).await.unwrap();
    check_history(&s).await;
    assert_eq!(
        bytes(s.get("b").await).as_deref(),
        Some(&b"unchanged by the next commit"[..])
    );
    s.close().await.unwrap();
}

async fn check_history(s: &impl Store) {
    let versions = s.history("notes/a").await.unwrap();
    let sizes: Vec<Option<u64>> = versions.iter().map(|v| v.size).collect();
    assert_eq!(sizes, [None, Some(3), Some(3)], "{versions:?}");
    assert_eq!(bytes(s.get("notes/a").await), None, "deleted");
    let at = |rev: &str| {
        let rev = rev.to_owned();
        async move { s.get_at("notes/a", &rev).await.unwrap() }
    };
    assert_eq!(at("HEAD").await, None);
    assert_eq!(at("HEAD~1").await.as_deref(), Some(&b"two"[..]));
    assert_eq!(at("main~2").await.as_deref(), Some(&b"one"[..]));
    let second = &versions[1].commit;
    assert_eq!(at(second).await.as_deref(), Some(&b"two"[..]));
    assert_eq!(at(&second[..8]).await.as_deref(), Some(&b"two"[..]));
    assert!(
        s.get_at("notes/a", "HEAD~3").await.is_err(),
        "past the root"
    );
    assert!(s.get_at("notes/a", "not a rev").await.is_err());
    assert_eq!(s.history("never").await.unwrap(), []);
    let log = s.log(10).await.unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0].commit, versions[0].commit);
    assert!(log[0].summary.contains("notes/a"), "{log:?}");
    assert!(log[1].summary.starts_with("2 keys"), "{log:?}");
}

pub async fn cold_values_are_read_back_from_git(h: &mut impl Host) {
    let s = h.open(&Setup::quiet()).await.unwrap();
    s.put("old/report", b"quarterly", SyncLevel::Commit)
        .await
        .unwrap();
    s.put("fresh", b"new", FSYNC).await.unwrap();
    // Idle past the warm tier's threshold (a day): the committed value leaves the warm tier.
    for _ in 0..3 {
        h.advance_clock(25 * 3_600_000);
        s.get("fresh").await.unwrap(); // in use: stays warm
        s.run_timers().await.unwrap();
    }
    let info = s.key_info("old/report").unwrap();
    assert!(info.meta.present && !info.warm && !info.hot, "{info:?}");
    assert_eq!(s.stats().await.cold_only_keys, 1);
    assert_eq!(
        bytes(s.get("old/report").await).as_deref(),
        Some(&b"quarterly"[..])
    );
    assert!(s.key_info("old/report").unwrap().hot, "a cold hit promotes");
    assert_eq!(s.stats().await.hits_cold, 1);
    s.close().await.unwrap();
    let s = h.open(&Setup::quiet()).await.unwrap();
    assert_eq!(
        bytes(s.get("old/report").await).as_deref(),
        Some(&b"quarterly"[..])
    );
    s.close().await.unwrap();
}
