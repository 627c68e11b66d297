//! (c) durable single writer, (d) group commit, and the raw device they are measured against.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use thermocline::{AutoCommit, Options, Store, SyncLevel};

use crate::Config;
use crate::common::{Counters, Rng, Run, now, rotation};
use crate::report::{Table, Unit};

pub const OURS: &str = "thermocline (fsync level)";
pub const RAW_APPEND: &str = "raw: append + fdatasync";
pub const RAW_DIRECT: &str = "raw: O_DIRECT 4 KiB overwrite + fdatasync";
pub const REDB: &str = "redb (Immediate)";
pub const FJALL: &str = "fjall (SyncData)";
pub const SQLITE: &str = "SQLite (WAL, synchronous=FULL)";
/// Thermocline with its directory on tmpfs, where `fdatasync` returns at once: what the put
/// path costs in CPU alone, the ceiling of group commit on this machine's cores.
pub const OURS_TMPFS: &str = "thermocline, on tmpfs (no device: the CPU ceiling)";

/// Where [`OURS_TMPFS`] keeps its directory.
const TMPFS_DIR: &str = "/dev/shm";

/// A store whose `put` returns once the write is durable (on stable storage).
trait Durable: Sync {
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Work the system deferred, done at the end of a measured run so that it is paid for in
    /// the run that caused it (Thermocline: the write-behind flush to the warm tier).
    fn finish(&self) -> Result<(), String> {
        Ok(())
    }
    /// fdatasyncs the system counts itself.
    fn syncs(&self) -> Option<u64> {
        None
    }
}

struct Ours(Store);

impl Durable for Ours {
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0
            .put_with(key, value, SyncLevel::Fsync)
            .map_err(|e| e.to_string())
    }
    fn finish(&self) -> Result<(), String> {
        self.0.flush().map_err(|e| e.to_string())
    }
    fn syncs(&self) -> Option<u64> {
        Some(self.0.stats().wal_syncs)
    }
}

struct RawAppend(Mutex<File>);

impl Durable for RawAppend {
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let mut f = self.0.lock().map_err(|e| e.to_string())?;
        f.write_all(key.as_bytes()).map_err(|e| e.to_string())?;
        f.write_all(value).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())
    }
}

/// Overwrites 4 KiB blocks of a file whose blocks are all allocated and written, with
/// `O_DIRECT` (no page cache) and `fdatasync` (no metadata to commit, just the device's cache
/// flush): the device's floor for a small synchronous write.
struct RawDirect {
    file: File,
    /// A 4 KiB-aligned 4 KiB block inside `buf` starts at `off`.
    block: Mutex<(Vec<u8>, usize, u64)>,
}

const DIRECT_FILE_BYTES: u64 = 64 << 20;
const BLOCK: usize = 4096;

fn aligned(len: usize) -> (Vec<u8>, usize) {
    let buf = vec![0u8; len + BLOCK];
    let off = buf.as_ptr().align_offset(BLOCK);
    (buf, off)
}

impl RawDirect {
    fn new(path: &Path) -> std::io::Result<RawDirect> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)?;
        let (buf, off) = aligned(1 << 20);
        for i in 0..DIRECT_FILE_BYTES >> 20 {
            file.write_all_at(&buf[off..off + (1 << 20)], i << 20)?;
        }
        file.sync_all()?;
        let (buf, off) = aligned(BLOCK);
        Ok(RawDirect {
            file,
            block: Mutex::new((buf, off, 0)),
        })
    }
}

impl Durable for RawDirect {
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let mut g = self.block.lock().map_err(|e| e.to_string())?;
        let (buf, off, at) = &mut *g;
        let block = &mut buf[*off..*off + BLOCK];
        let n = (key.len() + value.len()).min(BLOCK);
        let k = key.len().min(n);
        block[..k].copy_from_slice(&key.as_bytes()[..k]);
        block[k..n].copy_from_slice(&value[..n - k]);
        self.file
            .write_all_at(block, *at)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| e.to_string())?;
        *at = (*at + BLOCK as u64) % DIRECT_FILE_BYTES;
        Ok(())
    }
}

#[cfg(feature = "redb")]
struct Redb(redb::Database);

#[cfg(feature = "redb")]
impl Durable for Redb {
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let mut tx = self.0.begin_write().map_err(|e| e.to_string())?;
        tx.set_durability(redb::Durability::Immediate)
            .map_err(|e| e.to_string())?;
        {
            let mut t = tx
                .open_table(crate::kv::REDB_TABLE)
                .map_err(|e| e.to_string())?;
            t.insert(key, value).map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    }
}

#[cfg(feature = "fjall")]
struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

#[cfg(feature = "fjall")]
impl Durable for Fjall {
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.ks.insert(key, value).map_err(|e| e.to_string())?;
        self.db
            .persist(fjall::PersistMode::SyncData)
            .map_err(|e| e.to_string())
    }
}

#[cfg(feature = "sqlite")]
struct Sqlite(Mutex<rusqlite::Connection>);

#[cfg(feature = "sqlite")]
impl Durable for Sqlite {
    fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let conn = self.0.lock().map_err(|e| e.to_string())?;
        conn.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(rusqlite::params![key, value]))
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

fn open(system: &str, dir: &Path) -> Result<Box<dyn Durable>, String> {
    let e = |e: &dyn std::fmt::Display| format!("{system}: {e}");
    Ok(match system {
        OURS | OURS_TMPFS => Box::new(Ours(
            Store::open(dir, Options::default().auto_commit(AutoCommit::Manual))
                .map_err(|x| e(&x))?,
        )),
        RAW_APPEND => Box::new(RawAppend(Mutex::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("log"))
                .map_err(|x| e(&x))?,
        ))),
        RAW_DIRECT => Box::new(RawDirect::new(&dir.join("direct")).map_err(|x| e(&x))?),
        #[cfg(feature = "redb")]
        REDB => Box::new(Redb(crate::kv::open_redb(dir, None).map_err(|x| e(&x))?)),
        #[cfg(feature = "fjall")]
        FJALL => {
            let (db, ks) = crate::kv::open_fjall(dir, None).map_err(|x| e(&x))?;
            Box::new(Fjall { db, ks })
        }
        #[cfg(feature = "sqlite")]
        SQLITE => Box::new(Sqlite(Mutex::new(
            crate::kv::open_sqlite(dir, "FULL", None).map_err(|x| e(&x))?,
        ))),
        other => return Err(format!("{other}: not built in")),
    })
}

fn peers(include_raw: bool) -> (Vec<String>, Vec<String>) {
    let mut systems = vec![OURS.to_string()];
    if include_raw {
        systems.push(RAW_DIRECT.into());
        systems.push(RAW_APPEND.into());
    }
    let mut skipped = Vec::new();
    for (name, feature, on) in [
        (REDB, "redb", cfg!(feature = "redb")),
        (FJALL, "fjall", cfg!(feature = "fjall")),
        (SQLITE, "sqlite", cfg!(feature = "sqlite")),
    ] {
        if on {
            systems.push(name.into());
        } else {
            skipped.push(format!("{name} (feature `{feature}`)"));
        }
    }
    (systems, skipped)
}

/// `writers` threads each put until `dur` has passed; every put is durable when it returns.
fn measure(cfg: &Config, store: &dyn Durable, writers: usize, dur: Duration, size: usize) -> Run {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let syncs_before = store.syncs();
    let start = Counters::take(&cfg.tmp, true);
    std::thread::scope(|s| {
        for t in 0..writers {
            let (stop, total) = (&stop, &total);
            s.spawn(move || {
                let mut rng = Rng::new(t as u64 * 7919 + size as u64);
                let mut value = vec![0u8; size];
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let k = rng.below(100_000);
                    value[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
                    store
                        .put(&format!("k{k:07}"), &value)
                        .expect("durable put failed");
                    n += 1;
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
    });
    store.finish().expect("finish failed");
    let mut run = Run::finish(start, total.load(Ordering::Relaxed));
    run.syncs = match (syncs_before, store.syncs()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    run
}

pub const SYNC_CALLS: &str = "sync calls / commit";

fn record(table: &mut Table, label: &str, system: &str, run: &Run) {
    let row = table.row_mut(label);
    row.push(system, run.per_sec());
    let per = |x: u64| x as f64 / run.ops.max(1) as f64;
    if let Some(s) = run.syncs {
        row.count(system, "WAL fdatasyncs / commit", per(s));
    }
    if let Some(f) = run.sync_calls {
        row.count(system, SYNC_CALLS, per(f));
    }
    row.count(system, "bytes written / commit", per(run.io.wchar));
    row.count(
        system,
        "page-cache bytes dirtied / commit",
        per(run.io.write_bytes),
    );
}

/// (c) One writer, each put durable before the next.
pub fn single(cfg: &Config) -> Table {
    let (systems, skipped) = peers(true);
    let mut table = Table::new(
        "durable_single",
        "(c) Durable single writer",
        Unit::Rate,
        systems.clone(),
    );
    table.skipped = skipped;
    // Many short slices: fsync latency on this kind of machine changes from second to second,
    // so ours and each peer are best compared a few hundred milliseconds apart.
    let rounds = cfg.rounds(15, 2);
    table.rounds = rounds;
    let dur = Duration::from_millis(if cfg.quick { 250 } else { 400 });
    for size in [128usize, 1024] {
        let label = format!("{size} B values");
        let dirs: Vec<tempfile::TempDir> = systems
            .iter()
            .map(|_| tempfile::tempdir_in(&cfg.tmp).expect("temp dir"))
            .collect();
        let stores: Vec<(String, Box<dyn Durable>)> = systems
            .iter()
            .zip(&dirs)
            .map(|(s, d)| (s.clone(), open(s, d.path()).expect("open")))
            .collect();
        for round in 0..rounds {
            for (name, store) in rotation(&stores.iter().collect::<Vec<_>>(), round) {
                let run = measure(cfg, store.as_ref(), 1, dur, size);
                record(&mut table, &label, name, &run);
            }
        }
        eprintln!("  single writer, {size} B: measured");
    }
    table.about = format!(
        "Commits per second of one thread writing random keys (100 k key space, `k0000042`) \
each durable before the next: Thermocline `put_with(key, value, SyncLevel::Fsync)` (store \
defaults but `AutoCommit::Manual`, so no git commit runs in the background during other systems' \
runs; the write-behind flush of what a run left dirty is done and timed at its end), redb \
one write transaction per put with `Durability::Immediate`, fjall `insert` then \
`Database::persist(PersistMode::SyncData)`, SQLite `INSERT OR REPLACE` in autocommit mode, \
`journal_mode=WAL`, `synchronous=FULL`. The raw loops write the same bytes (key and value) \
and `fdatasync`: appended to a file with `write` (the work a WAL does: each sync also commits the \
file's new size to the journal), or written with `O_DIRECT` over a 4 KiB block of a preallocated, \
already written 64 MiB file (no page cache, no metadata: the device's floor for a synchronous \
small write). Each system runs {:.2} s per round, rounds interleaved. Counts: `WAL fdatasyncs` \
is Thermocline's own counter (`stats().wal_syncs`); `sync calls` are the `fsync`, `fdatasync`, \
`sync_file_range` and `msync` calls of the whole process during the run (every thread, counted \
with `perf stat` on the syscall tracepoints; absent where perf is not available); bytes \
written are what the process handed to `write`/`pwrite` (`/proc/self/io` `wchar`); page-cache \
bytes dirtied are its `write_bytes` (this kernel's ext4 uses large folios, so a small \
overwrite inside a big cached file can count a whole folio).",
        dur.as_secs_f64()
    );
    table
}

/// (d) N writers at once, each waiting for its own put to be durable.
pub fn group(cfg: &Config) -> Table {
    let (mut systems, mut skipped) = peers(false);
    let tmpfs = Path::new(TMPFS_DIR);
    if tmpfs.is_dir() {
        systems.push(OURS_TMPFS.into());
    } else {
        skipped.push(format!("{OURS_TMPFS} ({TMPFS_DIR} is absent)"));
    }
    let mut table = Table::new(
        "group_commit",
        "(d) Group commit: concurrent durable writers",
        Unit::Rate,
        systems.clone(),
    );
    table.skipped = skipped;
    let rounds = cfg.rounds(5, 1);
    table.rounds = rounds;
    let dur = Duration::from_millis(if cfg.quick { 250 } else { 600 });
    let size = 128;
    let dirs: Vec<tempfile::TempDir> = systems
        .iter()
        .map(|s| match s.as_str() {
            OURS_TMPFS => tempfile::tempdir_in(tmpfs).expect("temp dir on tmpfs"),
            _ => tempfile::tempdir_in(&cfg.tmp).expect("temp dir"),
        })
        .collect();
    let stores: Vec<(String, Box<dyn Durable>)> = systems
        .iter()
        .zip(&dirs)
        .map(|(s, d)| (s.clone(), open(s, d.path()).expect("open")))
        .collect();
    let writer_counts = [1usize, 2, 8, 32, 128];
    for round in 0..rounds {
        for &writers in &writer_counts {
            let label = format!("{writers} writer(s)");
            for (name, store) in rotation(&stores.iter().collect::<Vec<_>>(), round + writers) {
                let run = measure(cfg, store.as_ref(), writers, dur, size);
                record(&mut table, &label, name, &run);
            }
        }
        eprintln!("  group commit: round {} of {rounds} done", round + 1);
    }
    table.about = format!(
        "Total commits per second of N threads, each writing {size} B values to random keys and \
waiting for each put to be durable before its next, as in (c). Thermocline shares one \
`fdatasync` among the writers waiting at the time (group commit); redb serialises write \
transactions (each commits with its own sync); fjall's writers each call `persist(SyncData)` on \
the shared journal; SQLite is one connection behind a `Mutex` (its writers are serialised by \
the database lock anyway; a connection per thread only adds busy-waiting). `{OURS_TMPFS}` is the \
same store with its directory in `{TMPFS_DIR}`, where a sync costs nothing: its rate is what the \
machine's cores allow the put path, whatever the batching, so the 25× bar can only be met where \
25 times the single writer's rate on the real disk stays below it. {:.2} s per system, writer \
count and round. With 2 cores, 128 writer threads mostly wait.",
        dur.as_secs_f64()
    );
    table
}

/// The device itself: sequential write + fdatasync, sequential read with O_DIRECT.
pub fn device(cfg: &Config) -> Table {
    let mut table = Table::new(
        "device",
        "Raw device",
        Unit::Bandwidth,
        vec!["device".into()],
    );
    let rounds = cfg.rounds(3, 1);
    table.rounds = rounds;
    let mib: usize = if cfg.quick { 32 } else { 256 };
    let dir = tempfile::tempdir_in(&cfg.tmp).expect("temp dir");
    let path = dir.path().join("seq");
    for _ in 0..rounds {
        let secs = write_sequential(&path, mib).expect("sequential write");
        table
            .row_mut("sequential write, 1 MiB writes, one fdatasync at the end")
            .push("device", (mib << 20) as f64 / secs);
        match read_direct(&path, mib) {
            Ok(secs) => table
                .row_mut("sequential read, O_DIRECT, 1 MiB reads")
                .push("device", (mib << 20) as f64 / secs),
            Err(e) => table.notes.push(format!("O_DIRECT read failed: {e}")),
        }
        std::fs::remove_file(&path).expect("remove");
    }
    table.notes.dedup();
    table.about = format!(
        "A {mib} MiB file in the benchmark's temporary directory, on the same file system as every \
store: written in 1 MiB `write`s then `fdatasync`ed (time includes the sync), then read back \
with `O_DIRECT` (bypassing the page cache) in 1 MiB aligned reads. The `fdatasync` loops are in \
(c) beside the stores."
    );
    table
}

/// Writes a new file of `mib` MiB in 1 MiB `write`s, then `fdatasync`s it: the seconds taken,
/// sync included (the device's sequential write bandwidth, as the `device` workload and the
/// ingest workload measure it).
pub fn write_sequential(path: &Path, mib: usize) -> std::io::Result<f64> {
    let chunk: Vec<u8> = (0..1 << 20).map(|i| (i * 31 % 251) as u8).collect();
    let started = now();
    let mut f = File::create(path)?;
    for _ in 0..mib {
        f.write_all(&chunk)?;
    }
    f.sync_data()?;
    drop(f);
    Ok(started.elapsed().as_secs_f64())
}

/// Reads a file of `mib` MiB with `O_DIRECT` (no page cache) in 1 MiB aligned reads: the
/// seconds taken.
pub fn read_direct(path: &Path, mib: usize) -> std::io::Result<f64> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let mut buf = vec![0u8; (1 << 20) + 4096];
    let off = buf.as_ptr().align_offset(4096);
    let buf = &mut buf[off..off + (1 << 20)];
    let started = now();
    let mut total = 0;
    loop {
        let n = f.read(buf)?;
        if n == 0 {
            break;
        }
        total += n;
    }
    let secs = started.elapsed().as_secs_f64();
    if total != mib << 20 {
        return Err(std::io::Error::other(format!(
            "read {total} bytes of {}",
            mib << 20
        )));
    }
    Ok(secs)
}
