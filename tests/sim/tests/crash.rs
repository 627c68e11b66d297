//! The crash simulation: seeded workloads cut at every host step, crashed four ways each.

use thermocline_sim::check::check_seed;

/// Seeds and workload length for the CI run; `THERMOCLINE_SIM_SEEDS` raises the seed count for
/// a soak (see ARCHITECTURE.md).
fn seeds() -> u64 {
    std::env::var("THERMOCLINE_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

#[test]
fn every_crash_image_recovers_to_a_prefix_with_every_acknowledged_write() {
    let seeds = seeds();
    let (mut images, mut violations) = (0, Vec::new());
    for seed in 0..seeds {
        let out = check_seed(seed, 60);
        images += out.crash_images;
        violations.extend(out.violations);
    }
    for v in violations.iter().take(10) {
        eprintln!("violation: {v}");
    }
    println!(
        "crash simulation: {images} crash images from {seeds} seeded workloads, {} violations",
        violations.len()
    );
    assert!(
        violations.is_empty(),
        "{} violations (first ones above)",
        violations.len()
    );
    assert!(
        images >= 50_000 || seeds < 500,
        "too few crash images: {images}"
    );
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in 0..20 {
        let a = check_seed(seed, 60);
        let b = check_seed(seed, 60);
        assert_eq!(
            (a.trace_hash, a.steps),
            (b.trace_hash, b.steps),
            "seed {seed}"
        );
    }
    let distinct: std::collections::HashSet<u64> =
        (0..20).map(|s| check_seed(s, 60).trace_hash).collect();
    assert!(distinct.len() > 15, "different seeds make different runs");
    println!("determinism: 20 seeds run twice, identical trace hashes");
}

#[test]
fn injected_failures_poison_never_acknowledge_and_reopening_recovers() {
    use std::collections::BTreeSet;
    use thermocline_sim::check::check_faults;
    use thermocline_sim::host::CALL_SITES;
    let seeds: u64 = std::env::var("THERMOCLINE_SIM_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let (mut runs, mut poisoned, mut refused) = (0, 0, 0);
    let mut sites = BTreeSet::new();
    let mut violations = Vec::new();
    for seed in 0..seeds {
        let out = check_faults(seed, 60);
        runs += out.runs;
        poisoned += out.poisoned_runs;
        refused += out.refused_writes;
        sites.extend(out.sites);
        violations.extend(out.violations);
    }
    for v in violations.iter().take(10) {
        eprintln!("violation: {v}");
    }
    let missing: Vec<_> = CALL_SITES.iter().filter(|s| !sites.contains(*s)).collect();
    println!(
        "fault injection: {runs} runs with EIO/ENOSPC injected, {poisoned} poisoned, {refused} writes refused, call sites hit {}/{}, {} violations",
        CALL_SITES.len() - missing.len(),
        CALL_SITES.len(),
        violations.len()
    );
    assert!(violations.is_empty(), "{} violations", violations.len());
    assert!(missing.is_empty(), "call sites never failed: {missing:?}");
}
