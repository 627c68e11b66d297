//! How big `cold.git` gets: 100,000 versions of 10,000 keys, committed 100 versions at a time
//! (1,000 commits), all keys in one directory (the widest tree, the worst case for space).
//!
//! `cargo run --release -p thermocline --example cold_space [versions] [keys] [per_commit] [dirs]`
//! (`dirs` > 1 spreads the keys over that many directories, a more typical layout).

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]

use std::time::Instant;

use thermocline::{AutoCommit, Options, Store, SyncLevel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let versions = args.first().copied().unwrap_or(100_000);
    let keys = args.get(1).copied().unwrap_or(10_000);
    let per_commit = args.get(2).copied().unwrap_or(100);
    let dirs = args.get(3).copied().unwrap_or(1);
    let key_name = |k: u64| {
        if dirs > 1 {
            format!("notes/{:03}/{k:05}", k % dirs)
        } else {
            format!("notes/{k:05}")
        }
    };
    let dir = tempfile::tempdir()?;
    let store = Store::open(
        dir.path(),
        Options::default().auto_commit(AutoCommit::Manual),
    )?;
    let started = Instant::now();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut peak_packs = 0;
    for v in 0..versions {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = key_name(rng % keys);
        let value = format!(
            "{{\"version\": {v}, \"body\": \"{}\"}}",
            "lorem ipsum ".repeat(8)
        );
        store.put_with(&key, value, SyncLevel::Memory)?;
        if (v + 1) % per_commit == 0 {
            store.sync(SyncLevel::Commit)?;
            peak_packs = peak_packs.max(store.stats().cold_packs);
        }
    }
    store.sync(SyncLevel::Commit)?;
    let elapsed = started.elapsed();
    store.wait_for_maintenance();
    let s = store.stats();
    println!(
        "{versions} versions of {keys} keys in {dirs} director(ies), {} commits in {:.1} s: cold.git {:.1} MiB in {} pack(s) after {} background repack(s) (at most {peak_packs} packs at once){}",
        s.commits,
        elapsed.as_secs_f64(),
        s.cold_git_bytes as f64 / (1 << 20) as f64,
        s.cold_packs,
        s.cold_repacks,
        s.cold_maintenance_error
            .clone()
            .map(|e| format!("; maintenance error: {e}"))
            .unwrap_or_default()
    );
    // Reading old versions in-process: random key at a random commit.
    let commits = store.log(usize::MAX)?;
    let reads = 2_000;
    let started = Instant::now();
    let mut found = 0;
    for i in 0..reads {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let commit = &commits[(rng % commits.len() as u64) as usize].commit;
        let key = key_name((rng >> 20) % keys);
        found += usize::from(
            store
                .get_at(&key, if i % 2 == 0 { commit } else { &commit[..10] })?
                .is_some(),
        );
    }
    let per_read = started.elapsed() / reads;
    let started = Instant::now();
    let versions_of_one = store.history(&key_name(42))?.len();
    let history = started.elapsed();
    println!(
        "get_at (random key, random commit, full and abbreviated ids): {per_read:?} per read ({found} of {reads} present); history of one key: {versions_of_one} versions in {history:?}"
    );
    store.close()?;
    Ok(())
}
