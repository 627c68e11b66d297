//! `thermocline demo`: a short guided tour on a fresh store in a temporary directory.
//!
//! It runs on a manual clock, so an hour of idle time passes in a moment and the tour shows
//! every movement the tier policy makes, with the real files and fsyncs underneath.

use std::sync::Arc;

use anyhow::Result;
use thermocline::{ManualClock, Options, Store, SyncLevel};

const HOUR_MS: u64 = 60 * 60 * 1000;

pub(crate) fn run() -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("thermocline-demo-")
        .tempdir()?;
    let clock = ManualClock::new(1_700_000_000_000);
    let options = Options::default().clock(Arc::clone(&clock) as _);
    println!(
        "Thermocline demo: a fresh store in {}\n",
        dir.path().display()
    );

    let store = Store::open(dir.path(), options.clone())?;
    step("1. Write three notes, each acknowledged only after its WAL record is fsynced.");
    for (key, value) in [
        ("notes/monday", "plan the week"),
        ("notes/tuesday", "write the WAL"),
        ("notes/wednesday", "test crashes"),
    ] {
        store.put(key, value)?;
        show(&store, key);
    }
    store.put_with("scratch/draft", "half a thought", SyncLevel::Memory)?;
    println!(
        "   and one scratch note at the `memory` level: acknowledged at once, survives nothing."
    );
    show(&store, "scratch/draft");

    step(
        "2. Five quiet seconds: the write-behind debounce fires and the notes are flushed, as one batch,\n   to the warm tier (a log-structured segment file). The WAL they were in is no longer needed.",
    );
    clock.advance_ms(5_000);
    store.run_timers()?;
    show(&store, "notes/monday");
    stats_line(&store);

    step("3. An hour without reads: the tier policy demotes the idle values out of memory.");
    clock.advance_ms(HOUR_MS);
    store.run_timers()?;
    show(&store, "notes/monday");
    stats_line(&store);

    step("4. Read one note: a warm hit, promoted back into the hot tier.");
    let value = store
        .get("notes/tuesday")?
        .map(|v| v.to_vec())
        .unwrap_or_default();
    println!(
        "   get notes/tuesday -> {:?}",
        String::from_utf8_lossy(&value)
    );
    show(&store, "notes/tuesday");

    step(
        "5. Close (which flushes) and reopen: recovery scans the warm tier and replays only the WAL\n   written since the last flush.",
    );
    store.put("notes/thursday", "written just before closing")?;
    store.close()?;
    let store = Store::open(dir.path(), options)?;
    let report = store.open_report();
    println!(
        "   found {} keys in {} warm segment(s); replayed {} WAL record(s)",
        report.warm_keys, report.warm_segments, report.wal.records_replayed
    );
    println!("   ls notes/ -> {:?}", store.list("notes/")?);
    stats_line(&store);
    store.close()?;

    step("Next: the cold tier (git history every `git log` can read) arrives with the git issue.");
    println!(
        "\nTry it yourself:  thermocline --dir /tmp/store put greeting hello && thermocline --dir /tmp/store get greeting"
    );
    Ok(())
}

fn step(text: &str) {
    println!("\n{text}");
}

fn show(store: &Store, key: &str) {
    let Some(info) = store.key_info(key) else {
        println!("   {key:<18} absent");
        return;
    };
    let mut tiers = Vec::new();
    if info.hot {
        tiers.push(if info.dirty { "hot (unflushed)" } else { "hot" });
    }
    if info.warm {
        tiers.push("warm");
    }
    if info.cold {
        tiers.push("cold");
    }
    println!(
        "   {key:<18} {:<24} version {}, {} bytes",
        tiers.join(" + "),
        info.meta.version,
        info.meta.value_bytes
    );
}

fn stats_line(store: &Store) {
    let s = store.stats();
    println!(
        "   stats: {} keys | hot {} | warm {} | {} WAL segment(s), {} bytes | {} flush(es), {} fsyncs",
        s.keys, s.hot_keys, s.warm_keys, s.wal_segments, s.wal_bytes, s.flushes, s.wal_syncs
    );
}
