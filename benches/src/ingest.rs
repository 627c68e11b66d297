//! (g) Write-behind ingest: one writer puts at the `os` level for a fixed time, then the store
//! makes everything durable once (Thermocline: `flush()` to the warm tier; fjall:
//! `persist(SyncAll)`), and that time counts. Against the device's sequential write bandwidth,
//! with the process's peak resident memory.
//!
//! Each run is a process of its own (`--child-ingest`, see [`child`]), so that its memory
//! baseline is a fresh process's and not what earlier workloads freed and the allocator kept.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use thermocline::Options;

use crate::Config;
use crate::common::{ProcIo, RssSampler, child_command, now, rotation, splitmix};
use crate::durable;
use crate::kv;
use crate::report::{Table, Unit};

pub const RAW: &str = "raw: sequential write + fdatasync";
pub const PUTS: &str = "puts/s";
pub const RSS: &str = "peak RSS growth (MiB)";
pub const BOUND: &str = "memory bound (MiB)";
pub const SMALL: &str = "16 B values";
pub const LARGE: &str = "1 KiB values";

/// Slack over the configured bounds (dirty_bytes_max + hot capacity) that the memory bar
/// allows: a fixed part for the process, the WAL buffer and the write-behind flush's encoding
/// buffer, and a per-key part for the key directory, which keeps an entry for every key the
/// store holds (by design, not a buffer).
pub const SLACK_FIXED: u64 = 64 << 20;
pub const SLACK_PER_KEY: u64 = 256;

const KEY_BYTES: usize = 16;

/// The store's options for this workload: defaults, without the git tier.
fn ours_options() -> Options {
    Options::default().without_cold_tier()
}

struct Case {
    label: &'static str,
    size: usize,
    /// Keys cycle through this many; `None`: every key is new.
    keys: Option<u64>,
    dur: Duration,
    rounds: usize,
}

/// What one child run reports.
#[derive(Debug)]
struct Sample {
    puts: u64,
    secs: f64,
    finish_secs: f64,
    rss_before: u64,
    rss_peak: u64,
    wchar: u64,
    bound: u64,
}

pub fn run(cfg: &Config) -> Table {
    let (mut systems, skipped) = kv::systems(&[kv::FJALL]);
    systems.push(RAW.into());
    let mut table = Table::new(
        "ingest",
        "(g) Write-behind ingest, `os` level",
        Unit::Bandwidth,
        systems.clone(),
    );
    table.skipped = skipped;
    let large_keys: u64 = if cfg.quick { 16 << 10 } else { 256 << 10 };
    let cases = [
        Case {
            label: SMALL,
            size: 16,
            keys: None,
            dur: Duration::from_millis(if cfg.quick { 1000 } else { 3000 }),
            rounds: cfg.rounds(3, 1),
        },
        Case {
            label: LARGE,
            size: 1024,
            keys: Some(large_keys),
            dur: Duration::from_secs(if cfg.quick { 2 } else { 60 }),
            rounds: cfg.rounds(1, 1),
        },
    ];
    table.rounds = cases.iter().map(|c| c.rounds).max().unwrap_or(1);
    let raw_mib: usize = if cfg.quick { 32 } else { 256 };
    for case in &cases {
        for round in 0..case.rounds {
            for system in rotation(&systems, round) {
                let dir = tempfile::tempdir_in(&cfg.tmp).expect("temp dir");
                let row = table.row_mut(case.label);
                if system == RAW {
                    let path = dir.path().join("seq");
                    let secs = durable::write_sequential(&path, raw_mib).expect("raw write");
                    row.push(RAW, (raw_mib << 20) as f64 / secs);
                    continue;
                }
                let s = spawn(&system, dir.path(), case);
                let bytes = s.puts as f64 * (KEY_BYTES + case.size) as f64;
                row.push(&system, bytes / s.secs);
                row.count(&system, PUTS, s.puts as f64 / s.secs);
                row.count(&system, "final flush / persist (s)", s.finish_secs);
                row.count(
                    &system,
                    "bytes written / put",
                    s.wchar as f64 / s.puts.max(1) as f64,
                );
                row.count(
                    &system,
                    RSS,
                    s.rss_peak.saturating_sub(s.rss_before) as f64 / f64::from(1 << 20),
                );
                if s.bound > 0 {
                    let keys = case.keys.unwrap_or(s.puts);
                    let bound = s.bound + SLACK_FIXED + keys * SLACK_PER_KEY;
                    row.count(&system, BOUND, bound as f64 / f64::from(1 << 20));
                }
            }
        }
        eprintln!("  ingest, {}: measured", case.label);
    }
    let o = ours_options();
    let wb = &o.config.write_behind;
    let mut about = String::new();
    let _ = write!(
        about,
        "One thread puts values under 16-character keys (hex of a scrambled counter) until the \
time is up, then makes everything durable once, and that time counts: Thermocline \
`put_with(key, value, SyncLevel::Os)` (each WAL record written to the OS before the put returns, \
no fsync) on a store with default options but no git tier, then `flush()` (the write-behind \
buffer written to the warm tier and fdatasynced); fjall `insert` (journal written to the OS per \
insert, no `persist`), then `persist(SyncAll)`. The write-behind triggers are the defaults: a \
flush once {} writes or {} MiB are pending, or after {} s idle / {} s at most, and writers wait \
(backpressure) above {} MiB dirty; the hot tier holds {} MiB. {}: every key new, {:.0} s per \
system and round. {}: keys cycle through {} k keys ({} MiB of live data, {:.1}× the hot tier), \
so the key directory stops growing and memory measures the buffers; {:.0} s, one round{}. \
Figures are bytes of key and value per second; `raw` is the device's sequential write \
bandwidth measured in the same round ({raw_mib} MiB in 1 MiB `write`s, then `fdatasync`), so \
ours ÷ raw is the share of the device the ingest reaches. Each run is a fresh process \
(the benchmark re-runs itself), so memory is measured from a clean baseline: `peak RSS \
growth` is the peak of `VmRSS` (`/proc/self/status`, sampled every 100 ms on a thread) minus \
`VmRSS` before the store was opened. `memory bound` is Thermocline's configured \
`dirty_bytes_max` + hot capacity + a stated slack of {} MiB + {} B per key (the key \
directory keeps an entry per key by design; for the new-key row that is every key written). \
`bytes written / put` is what the process handed to `write`/`pwrite` (`/proc/self/io` \
`wchar`, all threads): WAL plus warm tier for Thermocline, journal plus tables and \
compactions for fjall.",
        wb.flush_ops,
        wb.flush_bytes >> 20,
        wb.debounce_ms / 1000,
        wb.max_age_ms / 1000,
        wb.dirty_bytes_max >> 20,
        o.config.cache.capacity_bytes >> 20,
        SMALL,
        cases[0].dur.as_secs_f64(),
        LARGE,
        large_keys >> 10,
        (large_keys * (KEY_BYTES as u64 + 1024)) >> 20,
        (large_keys * (KEY_BYTES as u64 + 1024)) as f64
            / o.config.cache.capacity_bytes.max(1) as f64,
        cases[1].dur.as_secs_f64(),
        if cfg.quick {
            ""
        } else {
            " (60 s per system, as the issue asks: rounds of that length would not fit the suite's \
time)"
        },
        SLACK_FIXED >> 20,
        SLACK_PER_KEY,
    );
    table.about = about;
    table
}

/// Runs one ingest in a child process and reads its report.
fn spawn(system: &str, dir: &Path, case: &Case) -> Sample {
    let out = child_command("--child-ingest")
        .arg(system)
        .arg(dir)
        .arg(case.size.to_string())
        .arg(case.keys.unwrap_or(0).to_string())
        .arg(case.dur.as_millis().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("start the ingest child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ingest child for {system} failed ({}): {text}",
        out.status
    );
    let f: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(f.len(), 7, "ingest child for {system} said {text:?}");
    Sample {
        puts: f[0] as u64,
        secs: f[1],
        finish_secs: f[2],
        rss_before: f[3] as u64,
        rss_peak: f[4] as u64,
        wchar: f[5] as u64,
        bound: f[6] as u64,
    }
}

/// `--child-ingest SYSTEM DIR SIZE KEYS MILLIS`: the measured run, in a process of its own.
/// Prints `puts secs finish_secs rss_before rss_peak wchar bound` on stdout.
pub fn child(args: &[String]) -> ExitCode {
    let [system, dir, size, keys, millis] = args else {
        eprintln!("--child-ingest SYSTEM DIR SIZE KEYS MILLIS");
        return ExitCode::from(2);
    };
    let (Ok(size), Ok(keys), Ok(millis)) = (
        size.parse::<usize>(),
        keys.parse::<u64>(),
        millis.parse::<u64>(),
    ) else {
        eprintln!("--child-ingest: bad numbers");
        return ExitCode::from(2);
    };
    let options = ours_options();
    let bound = options.config.write_behind.dirty_bytes_max + options.config.cache.capacity_bytes;
    let sampler = RssSampler::start();
    let io = ProcIo::read();
    let mut store = match kv::open(system, Path::new(dir), options, None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let dur = Duration::from_millis(millis);
    // The first 8 bytes carry the put's number, so no two values are equal.
    let mut value: Vec<u8> = (0..size.max(8)).map(|i| (i * 31 % 251) as u8).collect();
    let mut key = String::with_capacity(KEY_BYTES);
    let mut puts = 0u64;
    let started = now();
    let result = (|| {
        loop {
            for _ in 0..256 {
                let k = if keys == 0 { puts } else { puts % keys };
                key.clear();
                let _ = write!(key, "{:016x}", splitmix(k));
                value[..8].copy_from_slice(&puts.to_le_bytes());
                store.put(&key, &value)?;
                puts += 1;
            }
            if started.elapsed() >= dur {
                break;
            }
        }
        let flush = now();
        store.finish()?;
        Ok::<f64, String>(flush.elapsed().as_secs_f64())
    })();
    let secs = started.elapsed().as_secs_f64();
    let rss_before = sampler.before;
    let rss_peak = sampler.stop();
    let wchar = ProcIo::read().since(io).wchar;
    let finish_secs = match result {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{system}: {e}");
            return ExitCode::FAILURE;
        }
    };
    drop(store);
    let bound = if system == kv::OURS { bound } else { 0 };
    println!("{puts} {secs} {finish_secs} {rss_before} {rss_peak} {wchar} {bound}");
    ExitCode::SUCCESS
}
