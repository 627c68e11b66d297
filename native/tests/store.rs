//! The native store on real files: operations, restart, recovery, the lock, group commit,
//! tier movement with a manual clock, compaction.

use std::sync::Arc;

use thermocline::{Batch, Error, EvictionPolicy, KeyError, ManualClock, Options, Store, SyncLevel};

fn quiet() -> Options {
    // Write-behind triggers far away: tests decide when flushes happen.
    let mut o = Options::default();
    o.config.write_behind.flush_ops = u64::MAX;
    o.config.write_behind.flush_bytes = u64::MAX;
    o
}

#[test]
fn put_get_delete_list_batch_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.put("b", "2").unwrap();
    store.put("a/1", "x").unwrap();
    store.put("a/2", "y").unwrap();
    assert_eq!(store.get("a/1").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(store.get("missing").unwrap(), None);
    assert_eq!(store.list("a/").unwrap(), ["a/1", "a/2"]);
    store.delete("a/1").unwrap();
    assert_eq!(store.list("").unwrap(), ["a/2", "b"]);
    let mut tx = Batch::new();
    tx.put("t/1", "one")
        .unwrap()
        .put("t/2", "two")
        .unwrap()
        .delete("b")
        .unwrap();
    store.commit(tx).unwrap();
    assert_eq!(store.list("").unwrap(), ["a/2", "t/1", "t/2"]);
    store
        .put_json("doc", &serde_json::json!({"z": 1, "a": [true]}))
        .unwrap();
    let raw = store.get("doc").unwrap().unwrap();
    assert_eq!(
        std::str::from_utf8(&raw).unwrap(),
        "{\n  \"a\": [\n    true\n  ],\n  \"z\": 1\n}"
    );
    let doc: serde_json::Value = store.get_json("doc").unwrap().unwrap();
    assert_eq!(doc["z"], 1);
    assert!(matches!(
        store.get_json::<u32>("doc"),
        Err(Error::Json { .. })
    ));
    store.close().unwrap();
}

#[test]
fn bad_input_gets_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default().value_bytes_max(1024)).unwrap();
    assert!(matches!(
        store.put("a/../b", "x"),
        Err(Error::InvalidKey(KeyError::ReservedSegment { .. }))
    ));
    assert!(matches!(
        store.put("", "x"),
        Err(Error::InvalidKey(KeyError::Empty))
    ));
    assert!(matches!(
        store.get("a\0b"),
        Err(Error::InvalidKey(KeyError::Nul { offset: 1 }))
    ));
    assert!(matches!(
        store.put(".git/x", "x"),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        store.put("big", vec![0u8; 1025]),
        Err(Error::ValueTooLarge {
            len: 1025,
            max: 1024
        })
    ));
    assert!(matches!(
        store.put_with("k", "v", SyncLevel::Push),
        Err(Error::LevelUnavailable {
            level: SyncLevel::Push,
            ..
        })
    ));
    let msg = store.put("a//b", "x").unwrap_err().to_string();
    assert!(msg.contains("empty segment"), "{msg}");
    store.close().unwrap();
}

#[test]
fn every_level_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    for level in [SyncLevel::Memory, SyncLevel::Os, SyncLevel::Fsync] {
        store
            .put_with(&format!("k/{level}"), level.as_str(), level)
            .unwrap();
    }
    store.close().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    for level in [SyncLevel::Memory, SyncLevel::Os, SyncLevel::Fsync] {
        assert_eq!(
            store.get(&format!("k/{level}")).unwrap().as_deref(),
            Some(level.as_str().as_bytes())
        );
    }
    store.close().unwrap();
}

#[test]
fn reopening_after_a_flush_replays_only_the_newer_wal() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), quiet()).unwrap();
    for i in 0..100 {
        store
            .put_with(&format!("k{i:03}"), format!("v{i}"), SyncLevel::Os)
            .unwrap();
    }
    store.flush().unwrap();
    store.put("after", "flush").unwrap();
    let wal_segments = store.stats().wal_segments;
    assert_eq!(wal_segments, 1, "segments the warm tier covers are deleted");
    drop(store); // Drop closes too: flushes, then stops the background thread.
    let store = Store::open(dir.path(), quiet()).unwrap();
    let report = store.open_report().clone();
    assert_eq!(report.warm_keys, 101);
    assert_eq!(report.wal.records_replayed, 0, "{report:?}");
    assert_eq!(store.list("").unwrap().len(), 101);
    assert_eq!(store.get("k042").unwrap().as_deref(), Some(&b"v42"[..]));
    store.close().unwrap();
}

#[test]
fn a_second_opener_is_told_who_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    match Store::open(dir.path(), Options::default()) {
        Err(Error::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected Locked, got {other:?}"),
    }
    let msg = Store::open(dir.path(), Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!("process {}", std::process::id())),
        "{msg}"
    );
    store.close().unwrap();
    Store::open(dir.path(), Options::default())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn concurrent_fsync_writers_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), quiet()).unwrap());
    let before = store.stats().wal_syncs;
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..50 {
                    store.put(&format!("t{t}/{i}"), "v").unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let syncs = store.stats().wal_syncs - before;
    assert_eq!(store.list("").unwrap().len(), 800);
    // 800 fsync-level writes; with one sync in flight at a time, waiting writers share the next.
    assert!(
        syncs < 800 * 3 / 4,
        "{syncs} fsyncs for 800 writes: group commit is not sharing"
    );
    eprintln!("group commit: 800 fsync-level writes from 16 threads took {syncs} fdatasyncs");
}

#[test]
fn values_move_between_tiers_on_a_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let store = Store::open(dir.path(), quiet().clock(clock.clone())).unwrap();
    store.put("doc", "body").unwrap();
    let info = store.key_info("doc").unwrap();
    assert!(info.hot && info.dirty && !info.warm);
    clock.advance_ms(5_000); // the write-behind debounce
    store.run_timers().unwrap();
    let info = store.key_info("doc").unwrap();
    assert!(info.hot && !info.dirty && info.warm, "{info:?}");
    clock.advance_ms(3_600_000); // an hour idle
    store.run_timers().unwrap();
    let info = store.key_info("doc").unwrap();
    assert!(!info.hot && info.warm, "{info:?}");
    assert_eq!(store.get("doc").unwrap().as_deref(), Some(&b"body"[..]));
    assert!(store.key_info("doc").unwrap().hot, "a warm hit promotes");
    let s = store.stats();
    assert_eq!((s.hits_warm, s.promotions, s.idle_demotions), (1, 1, 1));
    store.close().unwrap();
}

#[test]
fn hot_eviction_drops_values_from_memory_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        quiet()
            .hot_capacity_bytes(64 * 1024)
            .eviction(EvictionPolicy::Lru),
    )
    .unwrap();
    for i in 0..200 {
        store
            .put_with(&format!("k{i}"), vec![i as u8; 1000], SyncLevel::Os)
            .unwrap();
    }
    store.flush().unwrap();
    let s = store.stats();
    assert!(s.evictions > 100, "{s:?}");
    assert!(s.hot_bytes <= 64 * 1024);
    for i in 0..200 {
        assert_eq!(
            store.get(&format!("k{i}")).unwrap().unwrap()[..],
            vec![i as u8; 1000][..]
        );
    }
    assert!(store.stats().hits_warm > 0);
    store.close().unwrap();
}

#[test]
fn compaction_reclaims_dead_space_and_keeps_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quiet();
    options.warm_segment_bytes_max = 16 * 1024;
    options.config.compact_dead_bytes_min = 4 * 1024;
    let store = Store::open(dir.path(), options.clone()).unwrap();
    for round in 0..30u32 {
        for k in 0..20 {
            store
                .put_with(
                    &format!("k{k}"),
                    format!("{round}-{}", "x".repeat(200)),
                    SyncLevel::Memory,
                )
                .unwrap();
        }
        if round % 3 == 0 {
            store.delete_with("k0", SyncLevel::Memory).unwrap();
        }
        store.flush().unwrap();
    }
    store.run_timers().unwrap();
    let s = store.stats();
    assert!(s.compactions > 0, "{s:?}");
    assert!(
        s.warm_file_bytes < 30 * 20 * 230,
        "dead space reclaimed: {s:?}"
    );
    let expect = |store: &Store| {
        for k in 0..20 {
            let v = store.get(&format!("k{k}")).unwrap().unwrap();
            assert!(v.starts_with(b"29-"), "k{k}");
        }
    };
    expect(&store);
    store.close().unwrap();
    let store = Store::open(dir.path(), options).unwrap();
    expect(&store);
    assert_eq!(store.list("").unwrap().len(), 20);
    store.close().unwrap();
}

/// Flushes and compaction go through 1 MiB buffers (`warm::WARM_CHUNK_BYTES`): a batch of
/// several MiB, a value larger than a buffer, and the compaction of a segment of several MiB
/// must read back exactly, before and after a reopen (which reads from the warm tier).
#[test]
fn batches_and_segments_larger_than_the_write_buffer_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quiet();
    options.warm_segment_bytes_max = 4 << 20;
    options.config.compact_dead_bytes_min = 1 << 20;
    let value = |k: usize, round: u32| {
        let mut v = vec![(k % 251) as u8; 1024];
        v[..8].copy_from_slice(&(u64::from(round) << 32 | k as u64).to_le_bytes());
        v
    };
    let big: Vec<u8> = (0..(2 << 20) + 123).map(|i| (i % 253) as u8).collect();
    let store = Store::open(dir.path(), options.clone()).unwrap();
    // Batch 1: 3 MiB of small values and a 2 MiB value, in segment 1 (then sealed).
    for k in 0..3000 {
        store
            .put_with(&format!("k{k}"), value(k, 1), SyncLevel::Memory)
            .unwrap();
    }
    store
        .put_with("big", big.clone(), SyncLevel::Memory)
        .unwrap();
    store.flush().unwrap();
    // Batch 2 overwrites most small values: segment 1 is mostly dead and gets compacted.
    for k in 100..3000 {
        store
            .put_with(&format!("k{k}"), value(k, 2), SyncLevel::Memory)
            .unwrap();
    }
    store.delete_with("k0", SyncLevel::Memory).unwrap();
    store.flush().unwrap();
    store.run_timers().unwrap();
    let s = store.stats();
    assert!(s.compactions > 0, "{s:?}");
    let expect = |store: &Store| {
        assert_eq!(store.get("k0").unwrap(), None);
        for k in 1..3000 {
            let round = if k < 100 { 1 } else { 2 };
            let got = store.get(&format!("k{k}")).unwrap().unwrap();
            assert!(got[..] == value(k, round)[..], "k{k}");
        }
        assert!(store.get("big").unwrap().unwrap()[..] == big[..]);
    };
    expect(&store);
    store.close().unwrap();
    let store = Store::open(dir.path(), options).unwrap();
    expect(&store);
    assert!(store.stats().hits_warm >= 3000, "{:?}", store.stats());
    store.close().unwrap();
}

#[test]
fn backpressure_waits_instead_of_growing() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quiet();
    options.config.write_behind.dirty_bytes_max = 64 * 1024;
    let store = Store::open(dir.path(), options).unwrap();
    for i in 0..500 {
        store
            .put_with(&format!("k{i}"), vec![7u8; 1000], SyncLevel::Memory)
            .unwrap();
        assert!(store.stats().dirty_bytes <= 64 * 1024 + 1100);
    }
    assert!(store.stats().flushes >= 5);
    store.close().unwrap();
}
