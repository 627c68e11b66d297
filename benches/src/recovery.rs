//! (i) Recovery: reopen after a SIGKILL, with the WAL (or the peer's journal) holding every
//! write, in a warm and a cold page cache; every acknowledged write checked afterwards.
//!
//! A child process (this executable with `--child-write`, see [`child`]) writes 1 KiB values at
//! the `os` level and reports each acknowledged put on a pipe; the parent SIGKILLs it, mid-write,
//! once enough has been acknowledged, then times the reopen and the first read.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use thermocline::Options;

use crate::Config;
use crate::common::{ProcIo, child_command, now, rotation};
use crate::durable;
use crate::kv::{self, Kv};
use crate::report::{Table, Unit};

pub const RAW: &str = "raw: O_DIRECT sequential read";
pub const MISSING: &str = "acknowledged writes missing";
pub const ACKED: &str = "acknowledged writes";
pub const REPLAY_MBS: &str = "replay MB/s";
pub const VS_RAW: &str = "replay ÷ raw O_DIRECT read";
const VALUE_BYTES: usize = 1024;

fn key(out: &mut String, i: u64) {
    out.clear();
    let _ = write!(out, "r{i:012}");
}

fn fill(buf: &mut [u8], i: u64) {
    for (j, b) in buf.iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j * 7) as u8;
    }
    buf[..8].copy_from_slice(&i.to_le_bytes());
}

const fn put_bytes() -> u64 {
    13 + VALUE_BYTES as u64
}

/// Thermocline with no write-behind trigger that could fire (and no backpressure): everything
/// written stays in the WAL until the store is closed.
fn ours_options() -> Options {
    let mut o = Options::default().without_cold_tier();
    let wb = &mut o.config.write_behind;
    wb.debounce_ms = u64::MAX;
    wb.max_age_ms = u64::MAX;
    wb.flush_bytes = u64::MAX;
    wb.flush_ops = u64::MAX;
    wb.dirty_bytes_max = u64::MAX;
    o
}

pub fn run(cfg: &Config) -> Table {
    let (mut systems, skipped) = kv::systems(&[kv::FJALL, kv::SQLITE]);
    let stores = systems.clone();
    systems.push(RAW.into());
    let mut table = Table::new(
        "recovery",
        "(i) Recovery: reopen after SIGKILL",
        Unit::Time,
        systems,
    );
    table.skipped = skipped;
    let rounds = cfg.rounds(2, 1);
    table.rounds = rounds;
    let sizes: &[u64] = if cfg.quick { &[8] } else { &[64, 256] };
    let mut resident_note = Vec::new();
    for &mib in sizes {
        let warm = format!("{mib} MB written, warm page cache");
        let cold = format!("{mib} MB written, cold page cache");
        for round in 0..rounds {
            let mut ours_wal = None;
            for system in rotation(&stores, round) {
                let r = one(cfg, &system, mib * 1_000_000);
                for (label, t) in [(&warm, &r.warm), (&cold, &r.cold)] {
                    let row = table.row_mut(label);
                    row.push(&system, t.secs);
                    row.count(&system, ACKED, r.acked as f64);
                    row.count(&system, MISSING, t.missing as f64);
                    row.count(&system, "files at the kill (MB)", r.files as f64 / 1e6);
                    row.count(
                        &system,
                        "read from the device during reopen (MB)",
                        t.read_bytes as f64 / 1e6,
                    );
                    if let Some(b) = t.replayed {
                        row.count(&system, REPLAY_MBS, b as f64 / t.secs / 1e6);
                    }
                }
                if r.cold.resident > 0 {
                    resident_note.push(format!(
                        "{system}, {mib} MB: {} bytes still cached after eviction",
                        r.cold.resident
                    ));
                }
                if system == kv::OURS {
                    ours_wal = r.cold.replayed.map(|b| (b, r.cold.secs));
                }
            }
            // The device's floor: O_DIRECT sequential read of a file as large as our WAL.
            let bytes = ours_wal.map_or(mib * 1_000_000, |(b, _)| b);
            let mib_up = bytes.div_ceil(1 << 20) as usize;
            let dir = tempfile::tempdir_in(&cfg.tmp).expect("temp dir");
            let path = dir.path().join("seq");
            durable::write_sequential(&path, mib_up).expect("raw write");
            let secs = durable::read_direct(&path, mib_up).expect("O_DIRECT read");
            let raw_bps = (mib_up << 20) as f64 / secs;
            let row = table.row_mut(&cold);
            row.push(RAW, secs * bytes as f64 / (mib_up << 20) as f64);
            row.count(RAW, "MB/s", raw_bps / 1e6);
            if let Some((b, t)) = ours_wal {
                row.count(kv::OURS, VS_RAW, (b as f64 / t) / raw_bps);
            }
        }
        eprintln!("  recovery, {mib} MB: measured");
    }
    table.about = format!(
        "A child process (this benchmark re-run with a hidden argument) opens a new store and \
puts 1 KiB values under new keys at the `os` level: Thermocline `put_with(.., SyncLevel::Os)` \
(each WAL record written to the OS before the put returns, no fsync) on a store without the git \
tier whose write-behind triggers never fire (so nothing reaches the warm tier and the WAL holds \
every write; {} MiB WAL segments); fjall `insert` (journal written to the OS per insert); SQLite \
autocommit inserts, `journal_mode=WAL`, `synchronous=NORMAL` (default autocheckpoint). After \
each acknowledged put the child writes its number to a pipe; once the acknowledged data reaches \
the row's size the parent SIGKILLs the child in the middle of its writing (the store is never \
closed), copies the directory, and times opening the store plus one read (SQLite and fjall do \
part of their recovery on first use), twice: on the directory as the child left it (**warm** \
page cache: the files were just written, then fsynced so that no writeback runs meanwhile) and on the copy after each of its files was fsynced \
and evicted from the page cache (**cold**: `posix_fadvise(POSIX_FADV_DONTNEED)` per file, \
through `dd iflag=nocache count=0`, since the workspace forbids `unsafe` and so a direct libc \
call; `/proc/sys/vm/drop_caches` is not used, as it would empty the page cache of everything \
else running on the machine; `read from the device` is `/proc/self/io` `read_bytes` during the \
reopen, evidence that the cold rows did read the disk). After each open, every acknowledged \
key is read back and compared with the value written (`{MISSING}` counts those absent or \
different; a key the child never wrote is checked to be absent). `{REPLAY_MBS}` is \
Thermocline's WAL bytes replayed (`open_report().wal.bytes_replayed`) per second of reopen; \
`raw` is the time to read as many bytes with `O_DIRECT` (1 MiB reads, no page cache) on the \
same file system, measured in the same round, and `{VS_RAW}` their ratio of throughputs. The \
peers run with their defaults, so they replay much less than Thermocline, which is held to \
replaying everything here: fjall flushes its memtables to tables while the child writes and \
replays only its journal's tail, SQLite checkpoints its WAL every 1000 pages and on reopen only \
rebuilds the WAL index (`read from the device`). Their columns compare reopen times after the \
same writes, not replay speeds; with its default triggers Thermocline too would have flushed \
to the warm tier every 100 writes or 1 MiB and would replay at most that much.",
        ours_options().config.wal_segment_bytes_max >> 20,
    );
    table.notes.extend(resident_note);
    table
}

/// One reopen: its time (open + first read), what it replayed and read, what it lost.
#[derive(Debug, Default)]
struct Reopen {
    secs: f64,
    replayed: Option<u64>,
    read_bytes: u64,
    missing: u64,
    /// Bytes of the store's files still in the page cache before a cold reopen (fincore).
    resident: u64,
}

#[derive(Debug)]
struct Outcome {
    acked: u64,
    files: u64,
    warm: Reopen,
    cold: Reopen,
}

fn one(cfg: &Config, system: &str, bytes: u64) -> Outcome {
    let tmp = tempfile::tempdir_in(&cfg.tmp).expect("temp dir");
    let dir = tmp.path().join("store");
    let copy = tmp.path().join("copy");
    let acked = write_and_kill(system, &dir, bytes);
    assert!(acked > 0, "{system}: the child acknowledged nothing");
    let file_bytes = files(&dir).iter().map(|(_, len)| len).sum();
    copy_dir(&dir, &copy).expect("copy the store");
    // Both copies on disk before anything is timed: the kernel's writeback of what the child
    // and the copy left dirty would otherwise compete with the warm reopen for the 2 cores.
    for (path, _) in files(&dir).iter().chain(&files(&copy)) {
        File::open(path)
            .and_then(|f| f.sync_all())
            .expect("fsync the store's files");
    }
    let warm = reopen(system, &dir, acked);
    let resident = evict(&copy);
    let mut cold = reopen(system, &copy, acked);
    cold.resident = resident;
    Outcome {
        acked,
        files: file_bytes,
        warm,
        cold,
    }
}

/// Runs the writer child until `bytes` of puts are acknowledged, SIGKILLs it, and returns how
/// many puts it acknowledged.
fn write_and_kill(system: &str, dir: &Path, bytes: u64) -> u64 {
    let mut child = child_command("--child-write")
        .arg(system)
        .arg(dir)
        .arg(bytes.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the writer child");
    let mut pipe = child.stdout.take().expect("child stdout");
    let mut acked = 0u64;
    let mut word = [0u8; 8];
    let mut killed = false;
    loop {
        match pipe.read_exact(&mut word) {
            Ok(()) => acked = u64::from_le_bytes(word),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading the writer child: {e}"),
        }
        if !killed && acked * put_bytes() >= bytes {
            // SIGKILL (std's `kill` on Unix); what is still in the pipe was acknowledged too.
            child.kill().expect("SIGKILL the writer");
            killed = true;
        }
    }
    let status = child.wait().expect("wait for the writer");
    assert!(
        killed,
        "{system}: the writer ended before it was killed ({status}) after {acked} puts"
    );
    acked
}

/// `--child-write SYSTEM DIR BYTES`: puts 1 KiB values under keys `r000000000000`, … at the
/// `os` level, writing each acknowledged put's count (8 bytes, little-endian) to stdout, until
/// killed (it stops writing, and waits, at twice BYTES).
pub fn child(args: &[String]) -> ExitCode {
    let [system, dir, bytes] = args else {
        eprintln!("--child-write SYSTEM DIR BYTES");
        return ExitCode::from(2);
    };
    let Ok(bytes) = bytes.parse::<u64>() else {
        eprintln!("--child-write: bad BYTES");
        return ExitCode::from(2);
    };
    let mut store = match kv::open(system, Path::new(dir), ours_options(), None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let mut k = String::new();
    let mut v = vec![0u8; VALUE_BYTES];
    for i in 0..2 * bytes / put_bytes() + 1 {
        key(&mut k, i);
        fill(&mut v, i);
        if let Err(e) = store.put(&k, &v) {
            eprintln!("{system}: put {i}: {e}");
            return ExitCode::FAILURE;
        }
        // Unbuffered: a write(2) of 8 bytes to the pipe after every acknowledgement. If the
        // parent is gone, die as if killed: returning would close the store cleanly.
        if out
            .write_all(&(i + 1).to_le_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::abort();
        }
    }
    // Not expected: the parent kills before this. Wait for it without closing the store.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Opens `system`'s store in `dir` (timed, with its first read), then checks every one of the
/// `acked` acknowledged writes.
fn reopen(system: &str, dir: &Path, acked: u64) -> Reopen {
    let mut k = String::new();
    let mut out = Vec::with_capacity(VALUE_BYTES);
    let io = ProcIo::read();
    let started = now();
    let mut store = kv::open(system, dir, ours_options(), None).expect("reopen");
    key(&mut k, acked - 1);
    store.get(&k, &mut out).expect("first read");
    let secs = started.elapsed().as_secs_f64();
    let read_bytes = ProcIo::read().since(io).read_bytes;
    let missing = check(store.as_mut(), acked);
    Reopen {
        secs,
        replayed: store.replayed_bytes(),
        read_bytes,
        missing,
        resident: 0,
    }
}

/// Acknowledged writes absent or not as written; panics if a key never written is found (the
/// check itself would be broken).
fn check(store: &mut dyn Kv, acked: u64) -> u64 {
    let mut k = String::new();
    let mut out = Vec::with_capacity(VALUE_BYTES);
    let mut want = vec![0u8; VALUE_BYTES];
    let mut missing = 0;
    for i in 0..acked {
        key(&mut k, i);
        fill(&mut want, i);
        let found = store.get(&k, &mut out).expect("read back");
        if !found || out != want {
            missing += 1;
        }
    }
    key(&mut k, u64::MAX / 2);
    assert!(
        !store.get(&k, &mut out).expect("read back"),
        "a key never written was found: the check is broken"
    );
    missing
}

/// Every regular file under `dir`, with its length.
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                out.push((e.path(), meta.len()));
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// Evicts every file under `dir` from the page cache: fsync (dirty pages cannot be dropped),
/// then `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`, which GNU `dd` does for
/// `iflag=nocache count=0`. Returns the bytes still resident afterwards, by `fincore` (0 where
/// it is not installed).
fn evict(dir: &Path) -> u64 {
    let all = files(dir);
    for (path, _) in &all {
        File::open(path)
            .and_then(|f| f.sync_all())
            .expect("fsync before eviction");
        let ok = std::process::Command::new("dd")
            .arg(format!("if={}", path.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "dd iflag=nocache failed on {}", path.display());
    }
    std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .args(all.iter().map(|(p, _)| p))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or(0, |o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|x| x.parse::<u64>().ok())
                .sum()
        })
}
