//! The browser store in headless Chromium against real IndexedDB: the scenarios shared with the
//! native store, and what only a browser has: the JavaScript surface, group commit in one
//! transaction, Web Locks, recovery without a close, damaged data, and a real quota.
//!
//! Run by `scripts/test` (`cargo test -p thermocline-wasm --target wasm32-unknown-unknown
//! --test web`, with `wasm-bindgen-test-runner` as the target's runner).
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Promise, Uint8Array};
use thermocline_core::SyncLevel;
use thermocline_scenarios as sc;
use thermocline_wasm::{
    AutoCommit, BucketOptions, Clock, Error, KeyInfo, ManualClock, Options, Stats, Store,
    Thermocline,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/web_helpers.js")]
extern "C" {
    /// Drives a store through the JavaScript API, as an app would; rejects on a mismatch.
    #[wasm_bindgen(js_name = exerciseApi)]
    fn exercise_api(db: JsValue) -> Promise;
    /// Resolves after `ms` milliseconds.
    fn sleep(ms: f64) -> Promise;
    /// Whether another browsing context of this origin (an iframe) sees the Web Lock held.
    #[wasm_bindgen(js_name = lockHeldElsewhere)]
    fn lock_held_elsewhere(name: &str) -> Promise;
    /// Overwrites a record of the store's database directly, bypassing the store.
    #[wasm_bindgen(js_name = tamper)]
    fn tamper(db: &str, store: &str, key: JsValue, value: JsValue) -> Promise;
    /// Reads a record of the store's database directly.
    #[wasm_bindgen(js_name = peek)]
    fn peek(db: &str, store: &str, key: JsValue) -> Promise;
    /// Fills a database of the bucket with `bytes` of data (stops early at the quota).
    #[wasm_bindgen(js_name = fillBucket)]
    fn fill_bucket(bucket: &str, db: &str, bytes: f64) -> Promise;
    /// Deletes a database of the bucket, freeing its space.
    #[wasm_bindgen(js_name = deleteFromBucket)]
    fn delete_from_bucket(bucket: &str, db: &str) -> Promise;
    /// What `navigator.storage.persisted()` says.
    #[wasm_bindgen(js_name = storagePersisted)]
    fn storage_persisted() -> Promise;
}

async fn wait(p: Promise) -> JsValue {
    JsFuture::from(p).await.expect("promise rejected")
}

// ---- the shared scenarios ----------------------------------------------------------------

struct BrowserHost {
    name: String,
    clock: ManualClock,
}

impl BrowserHost {
    async fn new(name: &str) -> BrowserHost {
        let name = format!("scenario/{name}");
        Store::destroy(&name, None, false).await.unwrap();
        BrowserHost {
            name,
            clock: ManualClock::new(1_000_000),
        }
    }
}

struct BrowserStore(Store);

fn error(e: Error) -> sc::StoreError {
    let kind = match &e {
        Error::InvalidKey(_) => sc::ErrorKind::InvalidKey,
        Error::ValueTooLarge { .. } => sc::ErrorKind::ValueTooLarge,
        Error::LevelUnavailable { .. } => sc::ErrorKind::LevelUnavailable,
        Error::Locked { .. } => sc::ErrorKind::Locked,
        _ => sc::ErrorKind::Other,
    };
    sc::StoreError {
        kind,
        message: e.to_string(),
    }
}

impl sc::Host for BrowserHost {
    type Store = BrowserStore;

    async fn open(&mut self, setup: &sc::Setup) -> Result<BrowserStore, sc::StoreError> {
        let mut options = Options::default().clock(Clock::Manual(self.clock.clone()));
        setup.apply(&mut options.config);
        Store::open(&self.name, options)
            .await
            .map(BrowserStore)
            .map_err(error)
    }

    fn advance_clock(&self, ms: u64) {
        self.clock.advance_ms(ms);
    }
}

impl sc::Store for BrowserStore {
    async fn put(&self, key: &str, value: &[u8], level: SyncLevel) -> Result<(), sc::StoreError> {
        self.0.put_with(key, value, level).await.map_err(error)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, sc::StoreError> {
        self.0
            .get(key)
            .await
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(error)
    }

    async fn delete(&self, key: &str, level: SyncLevel) -> Result<(), sc::StoreError> {
        self.0.delete_with(key, level).await.map_err(error)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, sc::StoreError> {
        self.0.list(prefix).await.map_err(error)
    }

    async fn commit(&self, ops: &[sc::Op<'_>], level: SyncLevel) -> Result<(), sc::StoreError> {
        let mut batch = thermocline_wasm::Batch::new();
        for op in ops {
            match *op {
                sc::Op::Put(k, v) => batch.put(k, v).map_err(|e| error(e.into()))?,
                sc::Op::Delete(k) => batch.delete(k).map_err(|e| error(e.into()))?,
            };
        }
        self.0.commit_with(batch, level).await.map_err(error)
    }

    async fn sync(&self, level: SyncLevel) -> Result<(), sc::StoreError> {
        self.0.sync(level).await.map_err(error)
    }

    async fn put_json(&self, key: &str, value: &serde_json::Value) -> Result<(), sc::StoreError> {
        self.0.put_json(key, value).await.map_err(error)
    }

    async fn get_json(&self, key: &str) -> Result<Option<serde_json::Value>, sc::StoreError> {
        self.0.get_json(key).await.map_err(error)
    }

    async fn flush(&self) -> Result<(), sc::StoreError> {
        self.0.flush().await.map_err(error)
    }

    async fn run_timers(&self) -> Result<(), sc::StoreError> {
        self.0.run_timers().await.map_err(error)
    }

    async fn stats(&self) -> Stats {
        self.0.stats().await.expect("stats of an open store").engine
    }

    fn key_info(&self, key: &str) -> Option<KeyInfo> {
        self.0.key_info(key)
    }

    async fn history(&self, key: &str) -> Result<Vec<sc::Version>, sc::StoreError> {
        self.0.history(key).await.map_err(error)
    }

    async fn get_at(&self, key: &str, rev: &str) -> Result<Option<Vec<u8>>, sc::StoreError> {
        Ok(self
            .0
            .get_at(key, rev)
            .await
            .map_err(error)?
            .map(|v| v.to_vec()))
    }

    async fn log(&self, n: usize) -> Result<Vec<sc::LogEntry>, sc::StoreError> {
        self.0.log(n).await.map_err(error)
    }

    async fn close(self) -> Result<(), sc::StoreError> {
        self.0.close().await.map_err(error)
    }
}

macro_rules! browser {
    ($name:ident) => {
        #[wasm_bindgen_test]
        async fn $name() {
            let mut host = BrowserHost::new(stringify!($name)).await;
            sc::$name(&mut host).await;
        }
    };
}

sc::for_each_scenario!(browser);

// ---- what only a browser has -------------------------------------------------------------

fn quiet(clock: &ManualClock) -> Options {
    let mut o = Options::default().clock(Clock::Manual(clock.clone()));
    o.config.write_behind.flush_ops = u64::MAX;
    o.config.write_behind.flush_bytes = u64::MAX;
    o
}

async fn fresh(name: &str) -> String {
    let name = format!("browser/{name}");
    Store::destroy(&name, None, false).await.unwrap();
    name
}

#[wasm_bindgen_test]
async fn the_javascript_api_works_as_documented() {
    let name = fresh("js-api").await;
    let db = Thermocline::connect(&JsValue::from_str(&name), &JsValue::UNDEFINED)
        .await
        .unwrap();
    let store = db.store().clone();
    let outcome = JsFuture::from(exercise_api(db.into())).await;
    if let Err(e) = outcome {
        panic!("{}", js_sys::Error::from(e).message());
    }
    assert!(
        store.list("").await.unwrap().is_empty(),
        "the exercise cleans up"
    );
}

#[wasm_bindgen_test]
async fn concurrent_writes_share_one_transaction() {
    let name = fresh("group-commit").await;
    let clock = ManualClock::new(0);
    let store = Store::open(&name, quiet(&clock)).await.unwrap();
    let before = store.stats().await.unwrap();
    // 32 writers in one turn of the event loop, each waiting for `fsync`.
    let writes: Array = (0..32)
        .map(|i| {
            let store = store.clone();
            future_to_promise(async move {
                store.put(&format!("k{i:02}"), format!("v{i}")).await?;
                Ok(JsValue::UNDEFINED)
            })
        })
        .collect();
    wait(Promise::all(&writes)).await;
    let after = store.stats().await.unwrap();
    let transactions = after.host.write_transactions - before.host.write_transactions;
    assert_eq!(
        transactions, 1,
        "32 fsync-level writes in {transactions} transactions"
    );
    assert_eq!(after.engine.synced_seq, after.engine.last_seq);
    assert_eq!(store.list("k").await.unwrap().len(), 32);
    store.close().await.unwrap();
    let store = Store::open(&name, quiet(&clock)).await.unwrap();
    assert_eq!(
        store.get("k31").await.unwrap().as_deref(),
        Some(&b"v31"[..])
    );
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn concurrent_reads_of_the_warm_tier_share_one_transaction() {
    let name = fresh("group-read").await;
    let clock = ManualClock::new(0);
    let store = Store::open(&name, quiet(&clock)).await.unwrap();
    for i in 0..50 {
        store
            .put_with(&format!("k{i:02}"), format!("v{i}"), SyncLevel::Os)
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    // Too small a hot tier to promote into: every read goes to IndexedDB.
    let store = Store::open(&name, quiet(&clock).hot_capacity_bytes(64))
        .await
        .unwrap();
    let before = store.stats().await.unwrap().host.read_transactions;
    let reads: Array = (0..50)
        .map(|i| {
            let store = store.clone();
            future_to_promise(async move {
                let value = store.get(&format!("k{i:02}")).await?.expect("written");
                assert_eq!(&value[..], format!("v{i}").as_bytes());
                Ok(JsValue::UNDEFINED)
            })
        })
        .collect();
    wait(Promise::all(&reads)).await;
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.host.read_transactions - before, 1, "{stats:?}");
    assert_eq!(stats.engine.hits_warm, 50, "{stats:?}");
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_second_opener_waits_when_asked_and_the_lock_is_seen_by_other_contexts() {
    let name = fresh("lock").await;
    let first = Store::open(&name, Options::default()).await.unwrap();
    first.put("from", "first").await.unwrap();
    let held = wait(lock_held_elsewhere(&format!("thermocline:{name}"))).await;
    assert_eq!(
        held.as_bool(),
        Some(true),
        "an iframe of the origin sees the lock held"
    );
    match Store::open(&name, Options::default()).await {
        Err(e @ Error::Locked { .. }) => {
            assert_eq!(e.name(), "LockedError");
            assert!(e.to_string().contains("waitForLock"), "{e}");
        }
        other => panic!("expected LockedError, got {other:?}"),
    }
    let waiting = Options {
        wait_for_lock: true,
        ..Options::default()
    };
    let name2 = name.clone();
    let second = future_to_promise(async move {
        let store = Store::open(&name2, waiting).await?;
        let value = store.get("from").await?;
        store.close().await?;
        Ok(value.map_or(JsValue::NULL, |v| Uint8Array::from(&v[..]).into()))
    });
    wait(sleep(200.0)).await;
    first.close().await.unwrap();
    let value: Uint8Array = wait(second).await.dyn_into().unwrap();
    assert_eq!(
        value.to_vec(),
        b"first",
        "the waiting opener ran after the close"
    );
    let held = wait(lock_held_elsewhere(&format!("thermocline:{name}"))).await;
    assert_eq!(held.as_bool(), Some(false), "closing released the lock");
}

#[wasm_bindgen_test]
async fn acknowledged_writes_survive_without_a_close() {
    let name = fresh("no-close").await;
    let clock = ManualClock::new(0);
    {
        let store = Store::open(&name, quiet(&clock)).await.unwrap();
        store.put_with("os", "1", SyncLevel::Os).await.unwrap();
        store
            .put_with("fsync", "2", SyncLevel::Fsync)
            .await
            .unwrap();
        let mut batch = thermocline_wasm::Batch::new();
        batch.put("tx/a", "3").unwrap().delete("os").unwrap();
        store.commit(batch).await.unwrap();
        // Dropped, as by a reload: nothing flushed, the WAL holds it all.
        assert_eq!(store.stats().await.unwrap().engine.flushes, 0);
    }
    let waiting = Options {
        wait_for_lock: true,
        ..quiet(&clock)
    };
    let store = Store::open(&name, waiting).await.unwrap();
    let report = store.open_report();
    assert_eq!(report.wal.records_replayed, 3, "{report:?}");
    assert_eq!(store.get("os").await.unwrap(), None);
    assert_eq!(
        store.get("fsync").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(store.get("tx/a").await.unwrap().as_deref(), Some(&b"3"[..]));
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn wal_segments_rotate_and_go_once_the_warm_tier_holds_them() {
    let name = fresh("rotation").await;
    let clock = ManualClock::new(0);
    let small = || {
        let mut o = quiet(&clock);
        o.config.wal_segment_bytes_max = 16 << 10;
        o
    };
    let store = Store::open(&name, small()).await.unwrap();
    for i in 0..200u32 {
        // Mixed levels: relaxed chunks are re-put by the next strict transaction.
        let level = [SyncLevel::Memory, SyncLevel::Os, SyncLevel::Fsync][i as usize % 3];
        let value = vec![(i % 256) as u8; 500];
        store
            .put_with(&format!("k{i:03}"), &value, level)
            .await
            .unwrap();
        if i == 120 {
            store.flush().await.unwrap();
        }
    }
    let before = store.stats().await.unwrap().engine;
    assert!(before.wal_segments >= 3, "{before:?}");
    store.sync(SyncLevel::Fsync).await.unwrap();
    drop(store); // No close: the newest segments are replayed.
    let waiting = Options {
        wait_for_lock: true,
        ..small()
    };
    let store = Store::open(&name, waiting).await.unwrap();
    let report = store.open_report();
    assert!(report.wal.wal_segments >= 2, "{report:?}");
    assert_eq!(report.wal.records_replayed, 200 - 121, "{report:?}");
    for i in 0..200u32 {
        let got = store.get(&format!("k{i:03}")).await.unwrap();
        assert_eq!(got, Some(vec![(i % 256) as u8; 500].into()), "k{i:03}");
    }
    store.flush().await.unwrap();
    let after = store.stats().await.unwrap().engine;
    assert_eq!(
        after.wal_segments, 1,
        "covered segments are deleted: {after:?}"
    );
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn damaged_data_is_reported_not_trusted() {
    let name = fresh("damage").await;
    let db_name = format!("thermocline/{name}");
    let clock = ManualClock::new(0);
    let store = Store::open(&name, quiet(&clock)).await.unwrap();
    store.put("k", "value").await.unwrap();
    store.flush().await.unwrap();
    store.close().await.unwrap();

    // A flipped byte in a warm record: the read says so.
    let record: Uint8Array = wait(peek(&db_name, "warm", "k".into()))
        .await
        .dyn_into()
        .unwrap();
    let mut bytes = record.to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    wait(tamper(
        &db_name,
        "warm",
        "k".into(),
        Uint8Array::from(&bytes[..]).into(),
    ))
    .await;
    let store = Store::open(&name, quiet(&clock)).await.unwrap();
    let err = store.get("k").await.unwrap_err();
    assert_eq!(err.name(), "CorruptError", "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    store.close().await.unwrap();

    // A WAL chunk that is not bytes: open refuses, naming it.
    let key: JsValue = Array::of2(&1.into(), &40.into()).into();
    wait(tamper(&db_name, "wal", key, "not bytes".into())).await;
    let err = Store::open(&name, quiet(&clock)).await.unwrap_err();
    assert_eq!(err.name(), "CorruptError", "{err}");
    assert!(err.to_string().contains("WAL segment 1"), "{err}");
}

#[wasm_bindgen_test]
async fn a_full_quota_loses_nothing_acknowledged_and_the_store_stays_usable() {
    // A real quota: a Storage Bucket created with 1 MiB. A filler database takes 256 KiB of
    // it, the store the rest, until IndexedDB refuses a transaction.
    let bucket = BucketOptions {
        name: "thermocline-quota-test".into(),
        quota_bytes: Some(1 << 20),
        persisted: false,
    };
    let name = "browser/quota";
    Store::destroy(name, Some(&bucket), false).await.unwrap();
    wait(delete_from_bucket(&bucket.name, "filler")).await;
    let filled = wait(fill_bucket(&bucket.name, "filler", f64::from(256 << 10))).await;
    assert_eq!(
        filled.as_f64(),
        Some(f64::from(256 << 10)),
        "the filler fits"
    );

    let clock = ManualClock::new(0);
    // Without git: this is about the WAL and the warm tier (a commit copies every value into
    // git objects, which this 1 MiB bucket would not hold either).
    let options = || quiet(&clock).bucket(bucket.clone()).without_cold_tier();
    let store = Store::open(name, options()).await.unwrap();
    let value = |i: u32| vec![(i % 251) as u8; 16 << 10];
    let mut acknowledged = 0;
    let refused = loop {
        assert!(acknowledged < 200, "1 MiB never filled up");
        match store
            .put(&format!("k{acknowledged:03}"), value(acknowledged))
            .await
        {
            Ok(()) => acknowledged += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(refused.name(), "QuotaExceededError", "{refused}");
    assert!(
        refused.to_string().contains("acknowledged write is kept"),
        "{refused}"
    );
    assert!(acknowledged > 10, "only {acknowledged} writes fit");

    // Every acknowledged write is there, the refused one is not; reads go on.
    let check = async |store: &Store| {
        for i in 0..acknowledged {
            let got = store.get(&format!("k{i:03}")).await.unwrap();
            assert_eq!(got.as_deref(), Some(&value(i)[..]), "k{i:03}");
        }
        assert_eq!(
            store.get(&format!("k{acknowledged:03}")).await.unwrap(),
            None
        );
    };
    check(&store).await;
    let stats = store.stats().await.unwrap();
    assert!(stats.host.quota_errors >= 1, "{stats:?}");

    // Once space is free again, writes succeed without reopening.
    wait(delete_from_bucket(&bucket.name, "filler")).await;
    let mut tries = 0;
    while let Err(e) = store.put("after", "space").await {
        assert_eq!(e.name(), "QuotaExceededError", "{e}");
        tries += 1;
        assert!(
            tries < 50,
            "space freed by deleting the filler never came back"
        );
        wait(sleep(100.0)).await;
    }
    check(&store).await;
    assert!(store.stats().await.unwrap().host.quota_recoveries >= 1);
    store.close().await.unwrap();

    let store = Store::open(name, options()).await.unwrap();
    check(&store).await;
    assert_eq!(
        store.get("after").await.unwrap().as_deref(),
        Some(&b"space"[..])
    );
    store.close().await.unwrap();
    Store::destroy(name, Some(&bucket), false).await.unwrap();
}

#[wasm_bindgen_test]
async fn stats_say_whether_storage_is_persistent() {
    let name = fresh("persisted").await;
    let store = Store::open(&name, Options::default()).await.unwrap();
    let expected = wait(storage_persisted()).await.as_bool().unwrap();
    assert_eq!(store.stats().await.unwrap().persisted, expected);
    store.close().await.unwrap();
    assert!(matches!(store.get("k").await, Err(Error::Closed)));
    assert!(matches!(store.put("k", "v").await, Err(Error::Closed)));
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_deletion_flushed_but_not_committed_stays_deleted_after_a_crash() {
    // The warm tier drops the key's record; without a tombstone the next open would find the
    // committed value at the tip of git and bring it back.
    let name = fresh("tombstone").await;
    let clock = ManualClock::new(0);
    let options = || quiet(&clock).auto_commit(AutoCommit::Manual);
    let store = Store::open(&name, options()).await.unwrap();
    store
        .put_with("k", "committed", SyncLevel::Commit)
        .await
        .unwrap();
    store.delete("k").await.unwrap();
    store.flush().await.unwrap();
    drop(store); // no close, as by a reload: no commit of the deletion
    let waiting = Options {
        wait_for_lock: true,
        ..options()
    };
    let store = Store::open(&name, waiting).await.unwrap();
    assert_eq!(
        store.open_report().wal.records_replayed,
        0,
        "the warm tier has it all"
    );
    assert_eq!(store.get("k").await.unwrap(), None);
    assert_eq!(store.list("").await.unwrap(), Vec::<String>::new());
    // The next commit records the deletion and removes the tombstone.
    store.sync(SyncLevel::Commit).await.unwrap();
    let db_name = format!("thermocline/{name}");
    assert!(
        wait(peek(&db_name, "warm", "k".into()))
            .await
            .is_undefined()
    );
    assert_eq!(store.get_at("k", "HEAD").await.unwrap(), None);
    assert_eq!(store.history("k").await.unwrap().len(), 2);
    store.close().await.unwrap();
    let store = Store::open(&name, options()).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), None);
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn damaged_git_objects_and_bundles_are_errors() {
    let name = fresh("git-damage").await;
    let db_name = format!("thermocline/{name}");
    let clock = ManualClock::new(0);
    let options = || quiet(&clock).auto_commit(AutoCommit::Manual);
    let store = Store::open(&name, options()).await.unwrap();
    store.put_with("a", "1", SyncLevel::Commit).await.unwrap();
    store.put_with("a", "2", SyncLevel::Commit).await.unwrap();
    let bundle = store.export_git().await.unwrap();
    assert!(bundle.starts_with(b"# v2 git bundle\n"));

    // Bundles: garbage, a cut pack, and a good one into a store that is not empty.
    let empty = Store::open(&fresh("git-import").await, options())
        .await
        .unwrap();
    for bad in [&b"not a bundle"[..], &bundle[..bundle.len() - 30]] {
        let err = empty.import_git(bad).await.unwrap_err();
        assert_eq!(err.name(), "ImportError", "{err}");
    }
    assert_eq!(
        empty.log(10).await.unwrap(),
        Vec::new(),
        "nothing half-imported"
    );
    let report = empty.import_git(&bundle).await.unwrap();
    assert_eq!((report.commits, report.keys), (2, 1));
    let info = empty.key_info("a").unwrap();
    assert!(info.meta.cold && info.meta.warm.is_none(), "{info:?}");
    assert_eq!(info.meta.value_bytes, 1, "the size recorded with the blob");
    assert_eq!(empty.get("a").await.unwrap().as_deref(), Some(&b"2"[..]));
    let err = empty.import_git(&bundle).await.unwrap_err();
    assert_eq!(err.name(), "ImportError", "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    empty.close().await.unwrap();

    // A flipped byte in the tip commit: history says which object and why.
    let tip = wait(peek(&db_name, "meta", "refs/heads/main".into()))
        .await
        .as_string()
        .unwrap();
    let record: Uint8Array = wait(peek(&db_name, "git", tip.clone().into()))
        .await
        .dyn_into()
        .unwrap();
    let mut bytes = record.to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    wait(tamper(
        &db_name,
        "git",
        tip.clone().into(),
        Uint8Array::from(&bytes[..]).into(),
    ))
    .await;
    let err = store.history("a").await.unwrap_err();
    assert_eq!(err.name(), "CorruptError", "{err}");
    assert!(err.to_string().contains(&tip), "{err}");
    assert!(err.to_string().contains("hash"), "{err}");
    store.close().await.unwrap();
}
