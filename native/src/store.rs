//! The store: open (with recovery), the key-value operations, close.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;
use serde::de::DeserializeOwned;
use thermocline_core::Batch;
use thermocline_core::config::AutoCommit;
use thermocline_core::engine::{KeyInfo, WriteOpts};
use thermocline_core::recovery::{RecoveryReport, WalReplay};
use thermocline_core::wal::{self, Record, SegmentDecoder};
use thermocline_core::{Engine, Key, Lookup, Stats, SyncLevel, Value, WriteError};

use crate::cold::{Author, ColdRepo, LogEntry, Version};
use crate::driver::{self, Shared};
use crate::error::Error;
use crate::fsutil::{self, DirLock};
use crate::options::{Options, RecoveryMode};
use crate::wal_file::{self, WalWriter};
use crate::warm::{WARM_DIR, WarmStore};

/// The cold tier's repository inside a store directory.
pub(crate) const COLD_DIR: &str = "cold.git";

/// What opening found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpenReport {
    /// WAL replay on top of the warm tier.
    pub wal: RecoveryReport,
    /// Keys found in the warm tier.
    pub warm_keys: u64,
    pub warm_segments: u64,
    /// An interrupted write-behind flush that was cut: (segment, offset, bytes dropped).
    pub warm_cut: Option<(u32, u64, u64)>,
    /// Set when that flush was a torn final batch (its pages persisted out of order by a power
    /// cut before its fdatasync, see `docs/warm-format.md`): where the damage before its
    /// marker was and what it was. The WAL replay restored its writes.
    pub warm_cut_damage: Option<(u64, String)>,
    /// The cold tier's tip holds the store as of this sequence number.
    pub cold_through_seq: u64,
    /// Keys found only in the cold tier.
    pub cold_keys: u64,
    /// Files at the tip that are not values of this store (committed by hand), ignored.
    pub cold_foreign_paths: u64,
    /// Set when the store was rebuilt from git ([`RecoveryMode::FromGit`]): what was lost.
    pub rebuilt_from_git: Option<crate::rebuild::Rebuilt>,
}

/// [`thermocline_core::Stats`] plus what only the native host knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    #[serde(flatten)]
    pub engine: Stats,
    /// Size of `cold.git` on disk, its pack files, background repacks done, and the last
    /// repack's error if it failed.
    pub cold_git_bytes: u64,
    pub cold_packs: u64,
    pub cold_repacks: u64,
    pub cold_maintenance_error: Option<String>,
    /// Tree lookups (reads at the tip, `get_at`, `history`) answered by searching packed trees
    /// where they lie, without rebuilding them through gix.
    pub cold_tree_view_lookups: u64,
}

impl std::ops::Deref for StoreStats {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        &self.engine
    }
}

/// An embedded tiered key-value store in a directory. Share it between threads by reference
/// or in an `Arc`: every method takes `&self`.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    background: Option<JoinHandle<()>>,
    report: OpenReport,
    _lock: DirLock,
}

impl Store {
    /// Opens the store in `dir`, creating it if needed. Takes the directory's lock (a second
    /// opener gets [`Error::Locked`]), then recovers: the warm tier is scanned, an interrupted
    /// flush is cut, and the WAL written since the last flush is replayed on top.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Store, Error> {
        let dir = dir.as_ref();
        match Self::open_inner(dir, &options) {
            Err(damage) if options.recovery == RecoveryMode::FromGit && damage.is_damage() => {
                let rebuilt = crate::rebuild::set_damage_aside(dir, &options, &damage)?;
                let mut store = Self::open_inner(dir, &options)?;
                store.report.rebuilt_from_git = Some(rebuilt);
                Ok(store)
            }
            other => other,
        }
    }

    fn open_inner(dir: &Path, options: &Options) -> Result<Store, Error> {
        let dir = dir.to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let lock = DirLock::acquire(&dir)?;
        let now = thermocline_core::Millis(options.clock.now_ms());
        let mut engine = Engine::new(options.config.clone())?;
        let cold = match options.config.cold {
            Some(_) => {
                let author = Author {
                    name: options.author_name.clone(),
                    email: options.author_email.clone(),
                };
                Some(Arc::new(ColdRepo::open(&dir.join(COLD_DIR), author)?))
            }
            None => None,
        };
        let cold_tip = match &cold {
            Some(c) => c.tip()?,
            None => None,
        };
        engine.restore_cold_through(cold_tip.as_ref().map_or(0, |t| t.through_seq));

        let wal_dir = dir.join(wal_file::WAL_DIR);
        let cold_through = cold_tip.as_ref().map_or(0, |t| t.through_seq);
        // A torn final batch is cut only if the WAL (read before its replay) can stand in.
        let (warm, found) = WarmStore::open(
            &dir.join(WARM_DIR),
            options.warm_segment_bytes_max,
            |torn| Ok(torn.unrestorable(wal_file::oldest_first_seq(&wal_dir)?, cold_through)),
        )?;
        let mut report = OpenReport {
            warm_segments: found.segments.len() as u64,
            warm_cut: found.cut,
            warm_cut_damage: found
                .torn
                .as_ref()
                .map(|t| (t.damage_offset, t.damage.clone())),
            ..OpenReport::default()
        };
        let active = found.segments.last().map(|(id, _)| *id);
        for &(id, bytes) in &found.segments {
            engine.restore_warm_segment(id, bytes, Some(id) == active);
        }
        report.cold_through_seq = cold_tip.as_ref().map_or(0, |t| t.through_seq);
        if let Some(cold) = &cold {
            // Keys at the tip that no warm record overrides live only in the cold tier.
            let (keys, foreign) = cold.keys_at_tip()?;
            report.cold_foreign_paths = foreign;
            for (key, value_bytes) in keys {
                if !found.entries.contains_key(&key) {
                    engine.restore_cold(now, key, value_bytes);
                    report.cold_keys += 1;
                }
            }
        }
        for (key, (seq, put)) in found.entries {
            match put {
                Some((loc, value_bytes)) => {
                    engine.restore_warm(now, key, seq, loc, value_bytes);
                    report.warm_keys += 1;
                }
                None => engine.restore_warm_tombstone(now, key, seq),
            }
        }
        engine.restore_warm_through(found.through_seq);

        // Records up to the newer of the warm and cold marks need no replay (after a rebuild from
        // git the cold mark is the newer one).
        let covered = found.through_seq.max(report.cold_through_seq);
        let wal = replay_wal(&wal_dir, &mut engine, now, covered)?;
        report.wal = wal.report;
        engine.start(now, &wal.kept, wal.next_id);

        let shared = Arc::new(Shared::new(
            engine,
            WalWriter::new(wal_dir),
            Arc::clone(&options.clock),
            warm.reader(),
            cold,
            dir,
        ));
        // Start the new WAL segment before anyone writes.
        drop(shared.drain(shared.lock()));
        let poisoned = shared.lock().engine.poisoned();
        if let Some((op, class)) = poisoned {
            let detail = shared.lock().failure.clone().unwrap_or_default();
            return Err(Error::Io {
                op: "start",
                path: shared.dir.clone(),
                source: std::io::Error::other(format!("{op:?} failed ({class:?}): {detail}")),
            });
        }
        let background = driver::spawn_background(Arc::clone(&shared), warm)
            .map_err(|e| Error::io("spawn background thread for", &shared.dir, e))?;
        Ok(Store {
            shared,
            background: Some(background),
            report,
            _lock: lock,
        })
    }

    /// What recovery found and did when this store was opened.
    #[must_use]
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Writes `value` under `key` at the store's default sync level.
    pub fn put(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        let level = self.default_level();
        self.put_with(key, value, level)
    }

    /// Writes at a given level (or with a hot-tier TTL through [`WriteOpts`]).
    pub fn put_with(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        opts: impl Into<WriteOpts>,
    ) -> Result<(), Error> {
        let key = Key::new(key)?;
        let value = Value::from(value.as_ref());
        let opts = opts.into();
        self.write(|engine, now| engine.handle_put(now, key.clone(), value.clone(), opts))
    }

    pub fn delete(&self, key: &str) -> Result<(), Error> {
        let level = self.default_level();
        self.delete_with(key, level)
    }

    pub fn delete_with(&self, key: &str, opts: impl Into<WriteOpts>) -> Result<(), Error> {
        let key = Key::new(key)?;
        let opts = opts.into();
        self.write(|engine, now| engine.handle_delete(now, key.clone(), opts))
    }

    /// Applies a [`Batch`] atomically at the default level.
    pub fn commit(&self, batch: Batch) -> Result<(), Error> {
        let level = self.default_level();
        self.commit_with(batch, level)
    }

    pub fn commit_with(&self, batch: Batch, opts: impl Into<WriteOpts>) -> Result<(), Error> {
        let opts = opts.into();
        self.write(|engine, now| engine.handle_batch(now, batch.ops().to_vec(), opts))
    }

    /// Reads `key`: memory, then the warm tier (promoting what it finds).
    pub fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        Key::validate(key)?;
        let mut last_err = None;
        // A compaction may move the record between the lookup and the read; the directory then
        // names its new place. Three rounds are more than one move can need.
        for _ in 0..3 {
            let mut g = self.shared.lock();
            let now = self.shared.now();
            let loc = match g.engine.handle_get(now, key) {
                Lookup::Hit(v) => return Ok(Some(v)),
                Lookup::Absent => return Ok(None),
                Lookup::Warm(loc) => loc,
                Lookup::Cold => {
                    drop(g);
                    return self.read_cold(key).map(Some);
                }
            };
            drop(g);
            match self.shared.warm_reader.read(key, loc) {
                Ok(value) => {
                    let now = self.shared.now();
                    self.shared
                        .lock()
                        .engine
                        .handle_fetched(now, key, loc, value.clone());
                    return Ok(Some(value));
                }
                Err(e) => {
                    let moved = self
                        .shared
                        .lock()
                        .engine
                        .key_info(key)
                        .and_then(|i| i.meta.warm)
                        != Some(loc);
                    if !moved {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or(Error::Closed))
    }

    fn read_cold(&self, key: &str) -> Result<Value, Error> {
        let cold = self.shared.cold.as_ref().ok_or(Error::Git {
            op: "read",
            detail: "no cold tier".into(),
        })?;
        let key = Key::new(key)?;
        let value = cold.read_tip(&key)?.ok_or_else(|| Error::Git {
            op: "read",
            detail: format!("{key} is in the key directory's cold tier but not at the tip of main"),
        })?;
        let now = self.shared.now();
        self.shared
            .lock()
            .engine
            .handle_fetched_cold(now, &key, value.clone());
        Ok(value)
    }

    fn cold(&self) -> Result<&ColdRepo, Error> {
        self.shared.cold.as_deref().ok_or(Error::LevelUnavailable {
            level: SyncLevel::Commit,
            reason: "this store has no git cold tier",
        })
    }

    /// The commits that changed `key`, newest first. Writes coalesced by write-behind between
    /// two commits are one version: git holds what each commit saw.
    pub fn history(&self, key: &str) -> Result<Vec<Version>, Error> {
        self.cold()?.history(&Key::new(key)?)
    }

    /// `key`'s value at revision `rev`: a commit id (full or abbreviated), `HEAD~N`, `main`.
    pub fn get_at(&self, key: &str, rev: &str) -> Result<Option<Value>, Error> {
        self.cold()?.get_at(&Key::new(key)?, rev)
    }

    /// Waits until background maintenance of the cold tier (repacking) is done.
    pub fn wait_for_maintenance(&self) {
        if let Some(cold) = &self.shared.cold {
            cold.wait_for_maintenance();
        }
    }

    /// The newest `n` commits of the cold tier.
    pub fn log(&self, n: usize) -> Result<Vec<LogEntry>, Error> {
        self.cold()?.log(n)
    }

    /// The cold tier's whole history (branch `main`) as the bytes of a git bundle: `git clone
    /// FILE` or `git fetch FILE` reads it. Committed writes only: writes since the last cold
    /// commit are not in it (`sync(SyncLevel::Commit)` first to include them). An error when
    /// nothing has been committed yet.
    pub fn export_git(&self) -> Result<Vec<u8>, Error> {
        self.cold()?.export_bundle()
    }

    /// Keys starting with `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let g = self.shared.lock();
        Ok(g.engine
            .list(prefix)
            .into_iter()
            .map(|k| k.as_str().to_owned())
            .collect())
    }

    /// Raises everything written so far to `level`.
    pub fn sync(&self, level: SyncLevel) -> Result<(), Error> {
        self.write(|engine, now| engine.handle_sync(now, level))
    }

    /// Writes the write-behind buffer to the warm tier now and waits until it is durable there.
    pub fn flush(&self) -> Result<(), Error> {
        let mut g = self.shared.lock();
        let now = self.shared.now();
        g.engine.handle_flush(now);
        self.shared
            .wait_until(g, |s| s.engine.is_flushed())
            .map(drop)
    }

    /// Runs the engine's timers now (tier demotion, write-behind triggers) and waits for the
    /// work they start. The background thread does this on its own; with a [`crate::ManualClock`]
    /// this makes a moved clock take effect at once.
    pub fn run_timers(&self) -> Result<(), Error> {
        let mut g = self.shared.lock();
        let now = self.shared.now();
        g.handle_timeout(now);
        self.shared.wait_until(g, Shared::background_idle).map(drop)
    }

    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let now = self.shared.now();
        let engine = self.shared.lock().engine.stats(now);
        let cold_git_bytes = self.shared.cold.as_ref().map_or(0, |c| c.size_bytes());
        let (cold_packs, cold_repacks, cold_maintenance_error) = self
            .shared
            .cold
            .as_ref()
            .map_or((0, 0, None), |c| c.maintenance_stats());
        let cold_tree_view_lookups = self
            .shared
            .cold
            .as_ref()
            .map_or(0, |c| c.tree_view_lookups());
        StoreStats {
            engine,
            cold_git_bytes,
            cold_packs,
            cold_repacks,
            cold_maintenance_error,
            cold_tree_view_lookups,
        }
    }

    /// Where `key` lives and how it is used.
    #[must_use]
    pub fn key_info(&self, key: &str) -> Option<KeyInfo> {
        self.shared.lock().engine.key_info(key)
    }

    /// Stores `value` as readable JSON (sorted object keys, so diffs stay small).
    pub fn put_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        let json = serde_json::to_value(value).map_err(|source| Error::Json {
            key: key.to_owned(),
            source,
        })?;
        let bytes = serde_json::to_vec_pretty(&json).map_err(|source| Error::Json {
            key: key.to_owned(),
            source,
        })?;
        self.put(key, bytes)
    }

    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|source| Error::Json {
                    key: key.to_owned(),
                    source,
                }),
        }
    }

    /// Flushes everything to the warm tier, syncs, and stops the background thread.
    pub fn close(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        if self.background.is_none() {
            return Ok(());
        }
        // Unless commits are manual, what was flushed reaches git before the store closes, so
        // `git log` right after a short-lived process shows its writes.
        let commit = self
            .shared
            .lock()
            .engine
            .config()
            .cold
            .as_ref()
            .is_some_and(|c| c.auto_commit != AutoCommit::Manual);
        let result = self
            .flush()
            .and_then(|()| {
                if commit {
                    self.sync(SyncLevel::Commit)
                } else {
                    Ok(())
                }
            })
            .and_then(|()| {
                let g = self.shared.lock();
                self.shared
                    .wait_until(g, |s| Shared::background_idle(s) && s.engine.is_quiescent())
                    .map(drop)
            });
        let Some(background) = self.background.take() else {
            return result;
        };
        self.shared.stop_background();
        let _ = background.join();
        result
    }

    fn default_level(&self) -> SyncLevel {
        self.shared.lock().engine.config().default_sync
    }

    /// Applies a write, waiting out backpressure, then waits for its level.
    fn write(
        &self,
        mut op: impl FnMut(
            &mut Engine,
            thermocline_core::Millis,
        ) -> Result<thermocline_core::engine::Ticket, WriteError>,
    ) -> Result<(), Error> {
        if self.background.is_none() {
            return Err(Error::Closed);
        }
        let mut g = self.shared.lock();
        let ticket = loop {
            let now = self.shared.now();
            match op(&mut g.engine, now) {
                Ok(ticket) => break ticket,
                Err(WriteError::Backpressure { .. }) => {
                    let before = g.engine.flushes();
                    g = self.shared.wait_until(g, |s| s.engine.flushes() > before)?;
                }
                Err(e) => return Err(Shared::error(&g, e)),
            }
        };
        self.shared.wait(g, ticket).map(drop)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// What WAL replay leaves for the engine's start.
struct WalOpen {
    /// Segments kept on disk: id, first seq, bytes.
    kept: Vec<(u64, u64, u64)>,
    next_id: u64,
    report: RecoveryReport,
}

/// How much of a WAL segment the reader reads before decoding what it has.
const WAL_READ_PIECE_BYTES: u64 = 4 << 20;

/// Pieces the reader may be ahead of the replay: bounds the decoded records in flight.
const WAL_READ_PIECES_QUEUED: usize = 4;

/// What the WAL reader thread hands to the replay, per segment: `Begin`, `Records`..., `End`.
enum Piece {
    /// The segment's header, decoded.
    Begin(SegmentDecoder),
    /// The good records of the bytes read so far, after the previous piece's.
    Records(Vec<Record>),
    /// All the segment's bytes, and the decoder to finish with (none when the header did not
    /// decode: the replay then plans the whole segment, which reports why).
    End(Option<SegmentDecoder>, Vec<u8>),
    Failed(std::io::Error),
}

/// Reads segment `id` into `buf` in pieces, sending each piece's records as it goes. False
/// when the replay has stopped listening.
fn read_segment_in_pieces(
    id: u64,
    path: &Path,
    mut buf: Vec<u8>,
    out: &std::sync::mpsc::SyncSender<Piece>,
) -> bool {
    buf.clear();
    let mut decoder: Option<SegmentDecoder> = None;
    let mut read = || -> std::io::Result<()> {
        let mut file = fs::File::open(path)?;
        // Our own file's length: one allocation instead of growth by doubling and copying.
        let len = file.metadata()?.len();
        buf.reserve(usize::try_from(len).unwrap_or(0));
        read_ahead(&file);
        loop {
            let before = buf.len();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(&mut file, WAL_READ_PIECE_BYTES),
                &mut buf,
            )?;
            let at_end = buf.len() == before;
            if decoder.is_none() && (buf.len() >= wal::SEGMENT_HEADER_BYTES || at_end) {
                let Ok(d) = SegmentDecoder::new(id, &buf, None) else {
                    // Read the rest without decoding; the replay reports the header's error.
                    std::io::Read::read_to_end(&mut file, &mut buf)?;
                    return Ok(());
                };
                if out.send(Piece::Begin(d.clone())).is_err() {
                    return Err(std::io::Error::other("replay stopped"));
                }
                decoder = Some(d);
            }
            if at_end {
                return Ok(());
            }
            if let Some(d) = decoder.as_mut() {
                let records = d.decode_available(&buf);
                if !records.is_empty() && out.send(Piece::Records(records)).is_err() {
                    return Err(std::io::Error::other("replay stopped"));
                }
            }
        }
    };
    match read() {
        Ok(()) => out.send(Piece::End(decoder, buf)).is_ok(),
        Err(e) => out.send(Piece::Failed(e)).is_ok(),
    }
}

/// Asks the kernel to read the whole file into the page cache now, in the background: this
/// thread decodes each piece between its reads, and without this the device would wait for it
/// (a cold 256 MB replay measured 384 MB/s with only the kernel's own readahead). Advice only:
/// an error changes nothing but speed.
fn read_ahead(file: &fs::File) {
    #[cfg(target_os = "linux")]
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::WillNeed);
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Scans the WAL segments and replays their records into `engine`.
fn replay_wal(
    wal_dir: &Path,
    engine: &mut Engine,
    now: thermocline_core::Millis,
    warm_through: u64,
) -> Result<WalOpen, Error> {
    fs::create_dir_all(wal_dir).map_err(|e| Error::io("create", wal_dir, e))?;
    fsutil::remove_tmp_files(wal_dir).map_err(|e| Error::io("clean", wal_dir, e))?;
    let ids = wal_file::list_segments(wal_dir).map_err(|e| Error::io("list", wal_dir, e))?;
    let mut replay = WalReplay::new(warm_through);
    let mut kept = Vec::with_capacity(ids.len());
    // A reader thread reads each segment in pieces and decodes the records of each piece while
    // this thread applies the ones before: the device, the decoder (checksums, allocation of
    // the values) and the engine work at the same time, even within one 64 MiB segment.
    // Buffers are handed back for reuse, so a segment's memory is faulted in once.
    let (piece_tx, piece_rx) = std::sync::mpsc::sync_channel::<Piece>(WAL_READ_PIECES_QUEUED);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let segments: Vec<(u64, PathBuf)> = ids
            .iter()
            .map(|&id| (id, wal_file::segment_path(wal_dir, id)))
            .collect();
        scope.spawn(move || {
            for (id, path) in segments {
                let buf = empty_rx.try_recv().unwrap_or_default();
                // The receiver gone means the replay stopped at an error: stop reading too.
                if !read_segment_in_pieces(id, &path, buf, &piece_tx) {
                    break;
                }
            }
        });
        // Owned here, so that an early return drops it and a reader blocked on a full channel
        // stops, instead of the scope waiting for it forever.
        let piece_rx = piece_rx;
        for (i, &id) in ids.iter().enumerate() {
            let path: PathBuf = wal_file::segment_path(wal_dir, id);
            let is_last = i + 1 == ids.len();
            let stopped = || Error::io("read", &path, std::io::Error::other("reader stopped"));
            let mut part = None;
            let (plan, bytes) = loop {
                match piece_rx.recv().map_err(|_| stopped())? {
                    Piece::Begin(decoder) => part = Some(replay.begin_segment(&decoder)?),
                    Piece::Records(records) => {
                        let part = part.as_mut().ok_or_else(stopped)?;
                        for record in &replay.records(part, records) {
                            engine.replay(now, record);
                        }
                    }
                    Piece::End(Some(decoder), bytes) => {
                        let part = part.take().ok_or_else(stopped)?;
                        break (replay.end_segment(part, decoder, &bytes, is_last)?, bytes);
                    }
                    // No header to decode pieces by: the whole segment, for its error.
                    Piece::End(None, bytes) => break (replay.segment(id, &bytes, is_last)?, bytes),
                    Piece::Failed(e) => return Err(Error::io("read", &path, e)),
                }
            };
            for record in &plan.replay {
                engine.replay(now, record);
            }
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io("open", &path, e))?;
            if let Some(len) = plan.truncate_to {
                file.set_len(len)
                    .map_err(|e| Error::io("truncate", &path, e))?;
            }
            if is_last {
                // Records replayed now may sit only in the page cache (written at `os` level
                // before a process crash). New records go to a new segment; without this fsync
                // a power cut could keep those and lose these, leaving a hole.
                file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
            }
            // The valid bytes, not the file's length: segments are preallocated.
            kept.push((id, plan.first_seq, plan.bytes));
            drop(plan);
            let _ = empty_tx.send(bytes);
        }
        Ok::<(), Error>(())
    })?;
    let next_id = ids.last().map_or(1, |id| id + 1);
    Ok(WalOpen {
        kept,
        next_id,
        report: replay.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use thermocline_core::config::Config;
    use thermocline_core::recovery::RecoveryError;
    use thermocline_core::wal::{Op, SegmentHeader, encode_record};

    /// Two segments of ~2.6 read pieces each: `n` puts of 1 KiB per segment.
    fn wal_of_two_segments(dir: &Path, n: u64) -> Vec<Vec<u8>> {
        let mut segments = Vec::new();
        let mut seq = 1;
        for id in [1_u64, 2] {
            let header = SegmentHeader {
                segment_id: id,
                epoch: id as u32,
                first_seq: seq,
            };
            let mut bytes = header.encode().to_vec();
            for _ in 0..n {
                let key = Key::new(&format!("k{}", seq % 5000)).unwrap();
                let value = Value::from(vec![seq as u8; 1024]);
                encode_record(
                    &mut bytes,
                    id as u32,
                    seq,
                    seq - 1,
                    &[Op::Put { key, value }],
                );
                seq += 1;
            }
            fs::write(wal_file::segment_path(dir, id), &bytes).unwrap();
            segments.push(bytes);
        }
        segments
    }

    /// The replay of the store (pieces decoded on a reader thread) against the one-shot plan of
    /// every segment: same records, same report, same error.
    fn replay_both_ways(dir: &Path, segments: &[Vec<u8>]) -> Result<RecoveryReport, Error> {
        let mut whole = WalReplay::new(0);
        let mut expected: Result<(), RecoveryError> = Ok(());
        for (i, bytes) in segments.iter().enumerate() {
            if let Err(e) = whole.segment(i as u64 + 1, bytes, i + 1 == segments.len()) {
                expected = Err(e);
                break;
            }
        }
        let mut engine = Engine::new(Config::default()).unwrap();
        let got = replay_wal(dir, &mut engine, thermocline_core::Millis(0), 0);
        match (&got, expected) {
            (Ok(open), Ok(())) => assert_eq!(open.report, whole.finish()),
            (Err(Error::Wal(got)), Err(want)) => assert_eq!(got, &want),
            (got, want) => panic!("pieces: {:?}, whole: {want:?}", got.as_ref().err()),
        }
        got.map(|open| open.report)
    }

    #[test]
    fn a_wal_read_in_pieces_replays_as_a_whole() {
        let n = 5 * (WAL_READ_PIECE_BYTES / 1024) as usize / 2;
        let dir = tempfile::tempdir().unwrap();
        let segments = wal_of_two_segments(dir.path(), n as u64);
        assert!(segments[1].len() as u64 > 2 * WAL_READ_PIECE_BYTES);
        let report = replay_both_ways(dir.path(), &segments).unwrap();
        assert_eq!(report.records_replayed, 2 * n as u64);
        assert_eq!(report.torn_tail, None);

        // A torn tail in the last segment's third piece is cut.
        let mut torn = segments.clone();
        let cut = 2 * WAL_READ_PIECE_BYTES as usize + 777;
        torn[1].truncate(cut);
        fs::write(wal_file::segment_path(dir.path(), 2), &torn[1]).unwrap();
        let report = replay_both_ways(dir.path(), &torn).unwrap();
        let (segment, offset, _) = report.torn_tail.unwrap();
        assert_eq!(segment, 2);
        assert!(
            offset < cut as u64 && offset + 2000 > cut as u64,
            "{report:?}"
        );

        // A flipped byte in the first segment's second piece is corruption, named.
        let mut flipped = segments.clone();
        let at = WAL_READ_PIECE_BYTES as usize + 5000;
        flipped[0][at] ^= 0x40;
        fs::write(wal_file::segment_path(dir.path(), 1), &flipped[0]).unwrap();
        fs::write(wal_file::segment_path(dir.path(), 2), &flipped[1]).unwrap();
        match replay_both_ways(dir.path(), &flipped) {
            Err(Error::Wal(RecoveryError::Wal(wal::WalError::Corrupt {
                segment, offset, ..
            }))) => {
                assert_eq!(segment, 1);
                assert!(offset <= at as u64 && offset + 1100 > at as u64);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }
}
