//! The simulation must catch every planted bug: each is switched on alone and the seeded
//! workloads run until one fails a check. (Its own test binary: the switches are process-wide.)

use thermocline_core::planted::{self, Bug};
use thermocline_sim::check::check_seed;
use thermocline_sim::host::{self, HostBug};

/// Seeds tried per bug before declaring it missed.
const SEEDS_MAX: u64 = 300;

fn first_catch() -> Option<(u64, String)> {
    (0..SEEDS_MAX).find_map(|seed| {
        check_seed(seed, 60)
            .violations
            .into_iter()
            .next()
            .map(|v| (seed, v))
    })
}

#[test]
fn every_planted_bug_is_caught() {
    let engine_bugs = [
        Bug::AckBeforeSync,
        Bug::AckBeforeWrite,
        Bug::HalfTransaction,
        Bug::ReleaseWalBeforeCheckpoint,
        Bug::DropTombstoneEarly,
        Bug::CommitClaimsUnflushed,
    ];
    let host_bugs = [
        HostBug::WalSyncIsANoop,
        HostBug::WarmFlushNotSynced,
        HostBug::RefBeforeObjects,
    ];
    let mut missed = Vec::new();
    let mut caught = 0;
    for bug in engine_bugs {
        planted::set(Some(bug));
        match first_catch() {
            Some((seed, v)) => {
                caught += 1;
                eprintln!("caught {bug:?} at seed {seed}: {v}");
            }
            None => missed.push(format!("{bug:?}")),
        }
        planted::set(None);
    }
    for bug in host_bugs {
        host::plant(Some(bug));
        match first_catch() {
            Some((seed, v)) => {
                caught += 1;
                eprintln!("caught {bug:?} at seed {seed}: {v}");
            }
            None => missed.push(format!("{bug:?}")),
        }
        host::plant(None);
    }
    let total = engine_bugs.len() + host_bugs.len();
    println!("planted bugs: {caught}/{total} caught by the crash simulation");
    assert!(missed.is_empty(), "missed: {missed:?}");
    // And with every bug off, the same seeds pass (the catches were the bugs, not noise).
    assert!(check_seed(0, 60).violations.is_empty());
}
