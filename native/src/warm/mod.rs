//! The warm tier: a log-structured segment store (the Bitcask model).
//!
//! Values live in append-only segment files `DIR/warm/<id>.seg`; the engine's key directory
//! says where each key's newest record is, so a read is one `pread`. A write-behind batch is
//! appended as records followed by a flush marker and made durable with one fdatasync; at
//! open, records after the last marker are an interrupted flush and are cut away (the WAL
//! still holds those writes), and so is a final batch whose pages reached the disk out of
//! order (damage, then its marker) once the caller confirms the WAL can stand in for it
//! ([`TornBatch`]). Dead records are reclaimed by compaction.

pub(crate) mod format;

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use thermocline_core::io::{FlushBatch, WarmLoc};
use thermocline_core::{Key, Value};

use crate::error::Error;
use crate::fsutil;
use format::{KIND_MARKER, KIND_PUT, KIND_TOMBSTONE};

pub(crate) const WARM_DIR: &str = "warm";
const EXT: &str = "seg";

fn segment_name(id: u32) -> String {
    format!("{id:010}.{EXT}")
}

/// Readers' view of the segment files, shared with reading threads: a read holds an
/// `Arc<File>`, so a segment deleted by compaction mid-read still reads correctly.
#[derive(Clone, Debug, Default)]
pub(crate) struct WarmReader {
    dir: PathBuf,
    files: Arc<RwLock<HashMap<u32, Arc<File>>>>,
}

impl WarmReader {
    /// Reads and verifies the record at `loc`, which must be a value of `key`.
    pub(crate) fn read(&self, key: &str, loc: WarmLoc) -> Result<Value, Error> {
        let path = self.dir.join(segment_name(loc.segment));
        let file = self
            .files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&loc.segment)
            .cloned();
        let Some(file) = file else {
            return Err(Error::Corrupt {
                path,
                offset: loc.offset,
                what: "segment is missing".into(),
            });
        };
        let mut buf = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset)
            .map_err(|e| Error::io("read", &path, e))?;
        let corrupt = |what: String| Error::Corrupt {
            path: path.clone(),
            offset: loc.offset,
            what,
        };
        let d = format::decode_record(&buf).map_err(corrupt)?;
        if d.kind != KIND_PUT || d.key.as_deref() != Some(key) || d.len != loc.len {
            return Err(corrupt(format!("record is not the value of {key}")));
        }
        Ok(Value::from(d.value))
    }

    fn insert(&self, id: u32, file: Arc<File>) {
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, file);
    }

    fn remove(&self, id: u32) {
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Sizes of the segments an operation wrote to: (segment, bytes).
pub(crate) type SegmentSizes = Vec<(u32, u64)>;
/// A record read at open: key, seq, and location and value size unless a tombstone.
type Found = (Key, u64, Option<(WarmLoc, u64)>);
/// A record moved by compaction: key, old location, new location.
pub(crate) type Move = (Key, WarmLoc, WarmLoc);

/// What the warm tier held at open.
#[derive(Debug, Default)]
pub(crate) struct WarmRecovery {
    /// Every key's newest record: its sequence number, and its location and value size unless
    /// it is a tombstone.
    pub entries: HashMap<Key, (u64, Option<(WarmLoc, u64)>)>,
    /// The highest flush marker: the warm tier equals the store as of this sequence number.
    pub through_seq: u64,
    /// Segment ids and sizes.
    pub segments: Vec<(u32, u64)>,
    /// An interrupted flush cut off the newest segment: (segment, offset, bytes dropped).
    pub cut: Option<(u32, u64, u64)>,
    /// Set when that cut was of a torn final batch (damage before its marker).
    pub torn: Option<TornBatch>,
    /// Whether any flush marker has been read: a store rebuilt from git starts its warm tier
    /// empty, below the cold tier's `through_seq` (see [`TornBatch::unrestorable`]).
    any_marker: bool,
}

/// The final batch of the newest segment, found damaged before its marker: damage after the
/// previous batch's marker (or the segment's header), then exactly one valid marker, which
/// ends the segment.
///
/// A batch is written whole and then fdatasynced once, so a power cut before that sync may
/// persist its pages in any order: the marker's page without an earlier one is a crash, not
/// corruption, and nothing acknowledged was lost as long as the WAL still holds the writes
/// after the previous batch (it deletes segments only once a flush covering them is durable).
/// The scan cannot see the WAL, so this is only a candidate: open cuts it (back to `offset`)
/// when [`TornBatch::unrestorable`] finds nothing against it, and fails naming the damage
/// otherwise. Damage followed by two markers is never this: a batch is written only after the
/// one before it was synced, so the earlier batch was durable and its damage is real.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TornBatch {
    pub segment: u32,
    /// Where the previous batch (or the header) ends: the segment is cut back to here.
    pub offset: u64,
    /// Bytes the cut drops: the rest of the segment.
    pub bytes: u64,
    /// The first damaged record of the batch, and what is wrong with it.
    pub damage_offset: u64,
    pub damage: String,
    /// The warm tier's `through_seq` before this batch (the highest earlier marker): what it
    /// holds once the batch is cut, and where WAL replay then starts.
    pub prev_through_seq: u64,
    /// The batch's own marker.
    pub through_seq: u64,
    /// Whether any marker precedes the batch.
    pub after_marker: bool,
}

impl TornBatch {
    /// Why cutting this batch could lose a write that was acknowledged, or `None` when it
    /// cannot. `wal_first_seq` is the first seq of the oldest WAL segment (`None`: no WAL
    /// segment), `cold_through_seq` the cold tier's tip.
    ///
    /// The batch's writes are the seqs after `prev_through_seq`. If the batch was never
    /// synced, no WAL segment holding them was deleted, so the oldest segment starts at or
    /// before the first of them and replay restores every one the WAL holds durably; the
    /// others were never acknowledged at a level that survives a power cut (`fsync` waits
    /// for the WAL sync, `commit` for the warm flush and git). If it was synced, the WAL may
    /// have released the segments it covers: a WAL starting after them means the batch had
    /// been durable and its damage is corruption. Likewise a cold tip holding writes of the
    /// batch: git only commits flushed writes, so the batch had been synced, and after the
    /// cut the older warm records would hide the newer values git holds. (Seqs the WAL lost
    /// at its own torn tail are left to replay: the result is still a prefix of the log.)
    pub(crate) fn unrestorable(
        &self,
        wal_first_seq: Option<u64>,
        cold_through_seq: u64,
    ) -> Option<String> {
        // With no marker before it, the batch is the warm tier's first: its writes are those
        // after the cold tier's mark if the store was rebuilt from git, else from seq 1 on,
        // and git holding it whole means it had been flushed.
        let in_git = if self.after_marker {
            cold_through_seq > self.prev_through_seq
        } else {
            cold_through_seq > 0 && cold_through_seq >= self.through_seq
        };
        if in_git {
            return Some(format!(
                "the cold tier holds writes through {cold_through_seq}, past the previous \
                 batch's {}: this batch had been made durable",
                self.prev_through_seq
            ));
        }
        let from = self
            .prev_through_seq
            .max(cold_through_seq)
            .saturating_add(1);
        match wal_first_seq {
            None => Some(format!(
                "no WAL segment is left to restore the writes from {from} on"
            )),
            Some(first) if first > from => Some(format!(
                "the WAL starts at {first}, so the writes from {from} on were released after \
                 this batch was made durable"
            )),
            Some(_) => None,
        }
    }
}

/// Where a segment's scan found damage that is corruption, not an interrupted flush.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    pub offset: usize,
    pub what: String,
}

/// How the bytes after a segment's last marker are to be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SegmentEnd {
    /// There are none.
    Clean,
    /// An interrupted flush with no marker after it, from `offset` on: cut.
    Unmarked { offset: usize },
    /// A damaged final batch: cut only once confirmed.
    Torn(TornBatch),
}

/// What [`scan_segment`] found, beyond what it added to the recovery.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// Where the last marker (or the header) ends.
    pub committed_end: usize,
    /// Records read whole, markers included.
    pub records: u64,
    pub end: SegmentEnd,
}

/// Scans segment `id`'s bytes (the newest segment if `newest`), adding its committed records
/// to `rec`; the rules are in `docs/warm-format.md`. It judges the damage it can judge from
/// the bytes alone and leaves a torn final batch for the caller to confirm: shared by open,
/// `check` and the fuzz target, so they cannot disagree. Untrusted bytes: never panics.
pub(crate) fn scan_segment(
    id: u32,
    bytes: &[u8],
    newest: bool,
    rec: &mut WarmRecovery,
) -> Result<Scanned, Damage> {
    format::check_header(id, bytes).map_err(|what| Damage { offset: 0, what })?;
    let mut pos = format::HEADER_BYTES;
    let mut committed_end = pos;
    let mut records = 0;
    let mut pending: Vec<Found> = Vec::new();
    while let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) {
        let d = match format::decode_record(rest) {
            Ok(d) => d,
            Err(what) => {
                let end = damaged_end(id, bytes, newest, pos, what, committed_end, &pending, rec)?;
                return Ok(Scanned {
                    committed_end,
                    records,
                    end,
                });
            }
        };
        records += 1;
        let loc = WarmLoc {
            segment: id,
            offset: pos as u64,
            len: d.len,
        };
        match (d.kind, d.key) {
            (KIND_MARKER, _) => {
                for (key, seq, put) in pending.drain(..) {
                    let newer = rec.entries.get(&key).is_none_or(|(s, _)| *s <= seq);
                    if newer {
                        rec.entries.insert(key, (seq, put));
                    }
                }
                rec.through_seq = rec.through_seq.max(d.seq);
                rec.any_marker = true;
                committed_end = pos + d.len as usize;
            }
            (KIND_PUT, Some(key)) => pending.push((key, d.seq, Some((loc, d.value.len() as u64)))),
            (KIND_TOMBSTONE, Some(key)) => pending.push((key, d.seq, None)),
            _ => {
                return Err(Damage {
                    offset: pos,
                    what: "record without a key".into(),
                });
            }
        }
        pos += d.len as usize;
    }
    let end = if committed_end == bytes.len() {
        SegmentEnd::Clean
    } else if newest {
        SegmentEnd::Unmarked {
            offset: committed_end,
        }
    } else {
        return Err(Damage {
            offset: committed_end,
            what: "sealed segment ends without a flush marker".into(),
        });
    };
    Ok(Scanned {
        committed_end,
        records,
        end,
    })
}

/// Judges the damaged record at `pos`: the end of an interrupted flush (no marker after it),
/// a torn final batch (one marker after it, ending the newest segment), or corruption.
#[allow(clippy::too_many_arguments)]
fn damaged_end(
    id: u32,
    bytes: &[u8],
    newest: bool,
    pos: usize,
    what: String,
    committed_end: usize,
    pending: &[Found],
    rec: &WarmRecovery,
) -> Result<SegmentEnd, Damage> {
    let corrupt = |what: String| Damage { offset: pos, what };
    if !newest {
        return Err(corrupt(what));
    }
    let Some(marker) = format::marker_after(bytes, pos + 1) else {
        // An interrupted flush: nothing after it was ever committed.
        return Ok(SegmentEnd::Unmarked {
            offset: committed_end,
        });
    };
    if marker + format::RECORD_HEADER_BYTES != bytes.len() {
        // Another marker, or bytes of a later batch, after it: the batch was synced before
        // anything was written after it, so its damage is not a crash's.
        return Err(corrupt(what));
    }
    let through_seq = bytes
        .get(marker..)
        .and_then(|m| format::decode_record(m).ok())
        .map_or(0, |d| d.seq);
    // A compaction's batch holds copies (seqs the warm tier already covers), and its source
    // segment is deleted once the batch is durable: every copy read whole before the damage
    // must still have its original, or the batch was durable and cutting it loses them.
    let orphan = pending.iter().find(|(key, seq, _)| {
        *seq <= rec.through_seq && rec.entries.get(key).is_none_or(|(s, _)| s < seq)
    });
    if let Some((key, seq, _)) = orphan {
        return Err(corrupt(format!(
            "{what}; the batch copies {key} at seq {seq}, which no older segment holds: it \
             had been made durable"
        )));
    }
    Ok(SegmentEnd::Torn(TornBatch {
        segment: id,
        offset: committed_end as u64,
        bytes: (bytes.len() - committed_end) as u64,
        damage_offset: pos as u64,
        damage: what,
        prev_through_seq: rec.through_seq,
        through_seq,
        after_marker: rec.any_marker,
    }))
}

/// A record of a segment being compacted, for the caller to judge live or dead.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub key: Key,
    pub seq: u64,
    pub loc: WarmLoc,
    pub tombstone: bool,
}

/// Most bytes a flush or a compaction holds in memory at once, beyond the values a flush
/// batch already holds (and one record larger than this, which compaction reads alone):
/// records are encoded, or read and copied, through buffers of this size. A batch may be
/// `dirty_bytes_max` (64 MiB) after backpressure and a segment `warm_segment_bytes_max`
/// (64 MiB); built whole in memory they doubled what the store holds while they are written,
/// and compaction held a segment, its live values and their re-encoding at once (the ingest
/// benchmark's memory bar). At 1 MiB a system call per MiB costs nothing measurable.
pub(crate) const WARM_CHUNK_BYTES: usize = 1 << 20;

/// The writer side, owned by the background worker.
#[derive(Debug)]
pub(crate) struct WarmStore {
    dir: PathBuf,
    segment_bytes_max: u64,
    active: Option<(u32, Arc<File>, u64)>,
    ids: BTreeSet<u32>,
    reader: WarmReader,
    /// Buffer size of flushes and compaction: [`WARM_CHUNK_BYTES`], smaller in tests.
    chunk_bytes: usize,
}

impl WarmStore {
    /// Opens `dir` (created if missing), scans every segment and cuts an interrupted flush.
    /// A torn final batch ([`TornBatch`]) is cut only if `confirm` returns `None`: it says
    /// why the batch cannot be cut (see [`TornBatch::unrestorable`]), and open then fails
    /// naming the damage.
    pub(crate) fn open(
        dir: &Path,
        segment_bytes_max: u64,
        mut confirm: impl FnMut(&TornBatch) -> Result<Option<String>, Error>,
    ) -> Result<(WarmStore, WarmRecovery), Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        fsutil::remove_tmp_files(dir).map_err(|e| Error::io("clean", dir, e))?;
        let ids = fsutil::numbered_files(dir, EXT).map_err(|e| Error::io("list", dir, e))?;
        let reader = WarmReader {
            dir: dir.to_path_buf(),
            files: Arc::default(),
        };
        let mut rec = WarmRecovery::default();
        let mut store = WarmStore {
            dir: dir.to_path_buf(),
            segment_bytes_max,
            active: None,
            ids: BTreeSet::new(),
            reader,
            chunk_bytes: WARM_CHUNK_BYTES,
        };
        for (i, &id64) in ids.iter().enumerate() {
            let id = u32::try_from(id64).map_err(|_| Error::Corrupt {
                path: dir.join(format!("{id64}.{EXT}")),
                offset: 0,
                what: "segment id out of range".into(),
            })?;
            let newest = i + 1 == ids.len();
            let (file, len) = store.recover_segment(id, newest, &mut rec, &mut confirm)?;
            store.ids.insert(id);
            store.reader.insert(id, Arc::clone(&file));
            rec.segments.push((id, len));
            if newest {
                store.active = Some((id, file, len));
            }
        }
        Ok((store, rec))
    }

    fn recover_segment(
        &self,
        id: u32,
        newest: bool,
        rec: &mut WarmRecovery,
        confirm: &mut impl FnMut(&TornBatch) -> Result<Option<String>, Error>,
    ) -> Result<(Arc<File>, u64), Error> {
        let path = self.dir.join(segment_name(id));
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let corrupt = |offset: u64, what: String| Error::Corrupt {
            path: path.clone(),
            offset,
            what,
        };
        let scanned =
            scan_segment(id, &bytes, newest, rec).map_err(|d| corrupt(d.offset as u64, d.what))?;
        let (cut_to, torn) = match scanned.end {
            SegmentEnd::Clean => (None, None),
            SegmentEnd::Unmarked { offset } => (Some(offset as u64), None),
            SegmentEnd::Torn(torn) => {
                if let Some(why) = confirm(&torn)? {
                    let what = format!(
                        "{} (the segment's last batch, through {}, follows the damage: {why})",
                        torn.damage, torn.through_seq
                    );
                    return Err(corrupt(torn.damage_offset, what));
                }
                (Some(torn.offset), Some(torn))
            }
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let committed_end = scanned.committed_end as u64;
        if let Some(cut_to) = cut_to {
            file.set_len(cut_to)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io("truncate", &path, e))?;
            rec.cut = Some((id, cut_to, bytes.len() as u64 - cut_to));
            rec.torn = torn;
        } else if newest {
            // What was just read may be only in the page cache: a process killed after a
            // batch's marker was written but before its fdatasync. Open takes the marker's
            // through_seq as durable and the WAL segments it covers are then deleted, so it
            // must be durable before that; a sync with nothing dirty costs nothing.
            file.sync_data().map_err(|e| Error::io("fsync", &path, e))?;
        }
        Ok((Arc::new(file), committed_end))
    }

    pub(crate) fn reader(&self) -> WarmReader {
        self.reader.clone()
    }

    pub(crate) fn path(&self, id: u32) -> PathBuf {
        self.dir.join(segment_name(id))
    }

    /// Appends a write-behind batch and its marker, durably. Returns one location per entry
    /// (None for deletions) and the sizes of the segments written.
    ///
    /// The records go out through a buffer of at most `chunk_bytes` (see [`WARM_CHUNK_BYTES`]),
    /// marker last, then one fdatasync: a process crash at any point leaves a prefix of the
    /// batch without its marker, which open cuts, exactly as a torn single write would. A power
    /// cut before the fdatasync may also keep the marker and lose an earlier page: open cuts
    /// that torn final batch too, once the WAL is seen to hold its writes ([`TornBatch`]).
    pub(crate) fn write_batch(
        &mut self,
        batch: &FlushBatch,
    ) -> io::Result<(Vec<Option<WarmLoc>>, SegmentSizes)> {
        let (id, file, base) = self.append_target()?;
        let batch_bytes = batch
            .entries
            .iter()
            .map(|e| {
                let value = e.value.as_ref().map_or(0, Value::len_bytes);
                (format::RECORD_HEADER_BYTES as u64) + e.key.len_bytes() + value
            })
            .sum::<u64>()
            + format::RECORD_HEADER_BYTES as u64;
        let mut out = ChunkedAppend::new(&file, base, self.chunk_bytes, batch_bytes);
        let mut head = Vec::with_capacity(format::RECORD_HEADER_BYTES + 64);
        let mut locs = Vec::with_capacity(batch.entries.len());
        for e in &batch.entries {
            let offset = out.offset();
            let (kind, value) = match &e.value {
                Some(v) => (KIND_PUT, v.as_bytes()),
                None => (KIND_TOMBSTONE, &[][..]),
            };
            head.clear();
            let len = format::encode_record_head(&mut head, kind, e.seq, &e.key, value);
            out.push(&head)?;
            out.push(value)?;
            locs.push(e.value.is_some().then_some(WarmLoc {
                segment: id,
                offset,
                len,
            }));
        }
        head.clear();
        format::encode_record(&mut head, KIND_MARKER, batch.through_seq, "", &[]);
        out.push(&head)?;
        let end = out.finish()?;
        file.sync_data()?;
        self.appended(end);
        Ok((locs, vec![(id, end)]))
    }

    /// Whether a segment older than `id` exists: then a tombstone in `id` may still hide an
    /// older value there, and compaction must carry it forward.
    pub(crate) fn has_older_than(&self, id: u32) -> bool {
        self.ids.first().is_some_and(|first| *first < id)
    }

    /// Compacts sealed segment `id`: copies the records `judge` keeps to the active segment
    /// behind a marker, durably. Returns the moves (key, old, new) and the segment sizes.
    ///
    /// The segment is read a chunk of `chunk_bytes` at a time (one record larger than that is
    /// read alone) and the kept records are written out through a buffer of the same size, so
    /// a 64 MiB segment costs two chunks of memory, not the segment and its copy. `judge` is
    /// called once per chunk with its records (the engine's lock is taken per chunk, not for a
    /// whole segment) and returns which to keep and the warm tier's `through_seq`, which the
    /// marker repeats. A kept record is copied byte for byte: nothing in a record depends on
    /// where it is, and its checksum was verified on the way in.
    ///
    /// Nothing is synced before the marker is written, so a crash anywhere leaves copies
    /// without a marker (cut at open) and the old segment intact.
    pub(crate) fn compact(
        &mut self,
        id: u32,
        mut judge: impl FnMut(&[Candidate]) -> (Vec<bool>, u64),
    ) -> io::Result<(Vec<Move>, SegmentSizes)> {
        let path = self.path(id);
        let corrupt = |offset: u64, what: String| {
            let e = Error::Corrupt {
                path: path.clone(),
                offset,
                what,
            };
            io::Error::new(io::ErrorKind::InvalidData, e.to_string())
        };
        let old = File::open(&path)?;
        let old_len = old.metadata()?.len();
        let mut header = [0u8; format::HEADER_BYTES];
        let header_len = usize::try_from(old_len).map_or(header.len(), |l| l.min(header.len()));
        old.read_exact_at(&mut header[..header_len], 0)?;
        format::check_header(id, &header[..header_len]).map_err(|w| corrupt(0, w))?;

        let (new_id, file, base) = self.append_target()?;
        let out_bytes = old_len.saturating_sub(format::HEADER_BYTES as u64);
        let mut out = ChunkedAppend::new(&file, base, self.chunk_bytes, out_bytes);
        let mut moves = Vec::new();
        let mut through_seq = None;
        let mut chunk = Vec::new();
        let mut candidates = Vec::new();
        let mut spans = Vec::new();
        let mut pos = format::HEADER_BYTES as u64;
        while pos < old_len {
            read_records(&old, old_len, pos, self.chunk_bytes, &mut chunk, corrupt)?;
            if chunk.is_empty() {
                return Err(corrupt(
                    pos,
                    "no whole record where one should start".into(),
                ));
            }
            candidates.clear();
            spans.clear();
            let mut used = 0usize;
            while used < chunk.len() {
                let d = format::decode_record(&chunk[used..])
                    .map_err(|what| corrupt(pos + used as u64, what))?;
                let loc = WarmLoc {
                    segment: id,
                    offset: pos + used as u64,
                    len: d.len,
                };
                if let Some(key) = d.key {
                    candidates.push(Candidate {
                        key,
                        seq: d.seq,
                        loc,
                        tombstone: d.kind == KIND_TOMBSTONE,
                    });
                    spans.push(used..used + d.len as usize);
                }
                used += d.len as usize;
            }
            if !candidates.is_empty() {
                let (keep, seq) = judge(&candidates);
                through_seq = Some(seq);
                for ((c, span), kept) in candidates.iter().zip(&spans).zip(keep) {
                    if !kept {
                        continue;
                    }
                    let to = WarmLoc {
                        segment: new_id,
                        offset: out.offset(),
                        len: c.loc.len,
                    };
                    out.push(&chunk[span.clone()])?;
                    if !c.tombstone {
                        moves.push((c.key.clone(), c.loc, to));
                    }
                }
            }
            pos += used as u64;
            if chunk.capacity() > self.chunk_bytes {
                // A record larger than a chunk was read alone: give that memory back now.
                chunk = Vec::new();
            }
        }
        let through_seq = match through_seq {
            Some(seq) => seq,
            None => judge(&[]).1,
        };
        let mut marker = Vec::with_capacity(format::RECORD_HEADER_BYTES);
        format::encode_record(&mut marker, KIND_MARKER, through_seq, "", &[]);
        out.push(&marker)?;
        let end = out.finish()?;
        file.sync_data()?;
        self.appended(end);
        Ok((moves, vec![(new_id, end)]))
    }

    pub(crate) fn delete_segment(&mut self, id: u32) -> io::Result<()> {
        assert!(
            self.active.as_ref().is_none_or(|(a, _, _)| *a != id),
            "deleting the active segment"
        );
        self.reader.remove(id);
        self.ids.remove(&id);
        fs::remove_file(self.path(id))?;
        fsutil::fsync_dir(&self.dir)
    }

    /// The segment the next batch or compaction is appended to, and the offset it starts at:
    /// the active segment, or a new one (durably created) once it holds `segment_bytes_max`.
    /// Checked once per batch, so one batch never spans two segments.
    fn append_target(&mut self) -> io::Result<(u32, Arc<File>, u64)> {
        let full = self
            .active
            .as_ref()
            .is_none_or(|(_, _, len)| *len >= self.segment_bytes_max);
        if full {
            let id = self.ids.last().map_or(1, |last| last + 1);
            let file =
                fsutil::create_durable(&self.dir, &segment_name(id), &format::encode_header(id))?;
            let file = Arc::new(file);
            self.ids.insert(id);
            self.reader.insert(id, Arc::clone(&file));
            self.active = Some((id, file, format::HEADER_BYTES as u64));
        }
        let Some((id, file, len)) = &self.active else {
            unreachable!("just made active")
        };
        Ok((*id, Arc::clone(file), *len))
    }

    /// The active segment durably holds bytes up to `end`. Only a batch that was written and
    /// synced whole moves the end: after a failed write the next batch (there is none: the
    /// engine is poisoned) would land at the old end, and the garbage past the last marker is
    /// cut at open.
    fn appended(&mut self, end: u64) {
        if let Some((_, _, len)) = &mut self.active {
            *len = end;
        }
    }
}

/// Positioned writes at increasing offsets of a segment file, through a buffer of at most
/// `chunk_bytes`; a piece at least that large (a big value) is written from where it is.
/// Positioned: after a failed write the next one still lands at the right offset. Nothing is
/// synced here; the caller writes its marker last and fdatasyncs once.
struct ChunkedAppend<'a> {
    file: &'a File,
    /// Where `buf` starts in the file: every byte before it has been handed to the OS.
    flushed_to: u64,
    buf: Vec<u8>,
    chunk_bytes: usize,
}

impl<'a> ChunkedAppend<'a> {
    /// `expected_bytes` sizes the buffer for a small batch (at most `chunk_bytes`).
    fn new(file: &'a File, at: u64, chunk_bytes: usize, expected_bytes: u64) -> Self {
        let capacity = usize::try_from(expected_bytes).map_or(chunk_bytes, |e| e.min(chunk_bytes));
        ChunkedAppend {
            file,
            flushed_to: at,
            buf: Vec::with_capacity(capacity),
            chunk_bytes,
        }
    }

    /// The file offset the next byte pushed lands at.
    fn offset(&self) -> u64 {
        self.flushed_to + self.buf.len() as u64
    }

    fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > self.chunk_bytes {
            self.write_out()?;
        }
        if bytes.len() >= self.chunk_bytes {
            self.file.write_all_at(bytes, self.flushed_to)?;
            self.flushed_to += bytes.len() as u64;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn write_out(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.flushed_to)?;
            self.flushed_to += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered; returns the end offset.
    fn finish(mut self) -> io::Result<u64> {
        self.write_out()?;
        Ok(self.flushed_to)
    }
}

/// Reads the whole records starting at `pos` of a segment of `file_len` bytes into `chunk`:
/// as many as fit in `chunk_bytes`, or the one record there if it alone is larger (its length
/// is checked against the format's bound and the file's end before the buffer is sized by
/// it). Damage is reported through `corrupt(offset, what)`.
fn read_records(
    file: &File,
    file_len: u64,
    pos: u64,
    chunk_bytes: usize,
    chunk: &mut Vec<u8>,
    corrupt: impl Fn(u64, String) -> io::Error,
) -> io::Result<()> {
    let chunk_bytes = chunk_bytes.max(format::RECORD_HEADER_BYTES);
    let left = file_len.saturating_sub(pos);
    let want = usize::try_from(left).map_or(chunk_bytes, |l| l.min(chunk_bytes));
    chunk.resize(want, 0);
    file.read_exact_at(chunk, pos)?;
    // Walk the lengths to the last record that ends inside the chunk.
    let mut end = 0usize;
    loop {
        let rest = chunk.get(end..).unwrap_or(&[]);
        let at = pos + end as u64;
        let len = match format::record_len(rest) {
            Some(Ok(len)) => len,
            Some(Err(what)) => return Err(corrupt(at, what)),
            // Fewer than 4 bytes: the rest of the file, or the next chunk's start.
            None if at + (rest.len() as u64) < file_len && end > 0 => break,
            None if rest.is_empty() => break,
            None => {
                let what = format!("{} bytes left, less than a record header", rest.len());
                return Err(corrupt(at, what));
            }
        };
        if len <= rest.len() {
            end += len;
            continue;
        }
        if at + len as u64 > file_len {
            let what = format!("record length {len} runs past the end of the file");
            return Err(corrupt(at, what));
        }
        if end > 0 {
            break;
        }
        // One record larger than a chunk: read it alone (its size was bounded by the value
        // limit when it was written, and a get of it holds it whole too).
        chunk.resize(len, 0);
        file.read_exact_at(chunk, pos)?;
        end = len;
        break;
    }
    chunk.truncate(end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use thermocline_core::io::FlushEntry;

    /// Small enough that every batch and segment below spans many chunks, and some values
    /// are larger than a chunk.
    const CHUNK: usize = 256;

    fn key(s: &str) -> Key {
        Key::new(s).expect("valid key")
    }

    fn open(dir: &Path) -> (WarmStore, WarmRecovery) {
        open_confirming(dir, |_| None).expect("open")
    }

    /// Opens with `why_not` standing for the WAL's verdict on a torn final batch.
    fn open_confirming(
        dir: &Path,
        why_not: impl Fn(&TornBatch) -> Option<String>,
    ) -> Result<(WarmStore, WarmRecovery), Error> {
        let (mut store, rec) = WarmStore::open(dir, 1 << 20, |t| Ok(why_not(t)))?;
        store.chunk_bytes = CHUNK;
        Ok((store, rec))
    }

    /// A value that says which key and version it is, `len` bytes long.
    fn value(k: usize, version: u64, len: usize) -> Value {
        let mut v = format!("{k}:{version}:").into_bytes();
        v.resize(len.max(v.len()), b'a' + (k % 26) as u8);
        Value::from(v)
    }

    /// Values from 0 bytes to several chunks, and every fifth key deleted.
    /// A store with batch 1 (`old_keys` records) in segment 1, sealed, and batch 2
    /// (`new_keys`) in the active segment 2: segment 1 is ready to be compacted. Also the two
    /// batches and segment 2's length before any compaction.
    fn sealed_and_active(
        dir: &Path,
        old_keys: usize,
        new_keys: usize,
    ) -> (WarmStore, FlushBatch, FlushBatch, u64) {
        let (mut store, _) = open(dir);
        let old = batch(1, 1, old_keys);
        store.write_batch(&old).expect("batch");
        // Seal segment 1: the next append goes to segment 2.
        store.segment_bytes_max = 0;
        let newer = batch(2, 2, new_keys);
        store.write_batch(&newer).expect("batch");
        store.segment_bytes_max = 1 << 20;
        let (_, _, before) = store.active.clone().expect("active");
        (store, old, newer, before)
    }

    fn batch(id: u64, version: u64, keys: usize) -> FlushBatch {
        let entries = (0..keys)
            .map(|k| FlushEntry {
                key: key(&format!("k{k}")),
                value: (k % 5 != 4).then(|| value(k, version, (k * 97) % (3 * CHUNK))),
                seq: version * 1000 + k as u64,
            })
            .collect();
        FlushBatch {
            id,
            entries,
            through_seq: version * 1000 + 999,
        }
    }

    /// What recovery must find after `batch` was the last complete one: each key's seq and
    /// value (None: deleted).
    fn expected(batch: &FlushBatch) -> HashMap<Key, (u64, Option<Value>)> {
        batch
            .entries
            .iter()
            .map(|e| (e.key.clone(), (e.seq, e.value.clone())))
            .collect()
    }

    /// Recovery's state, with every value read back through the reader.
    fn found(store: &WarmStore, rec: &WarmRecovery) -> HashMap<Key, (u64, Option<Value>)> {
        let reader = store.reader();
        rec.entries
            .iter()
            .map(|(k, (seq, put))| {
                let v = put.map(|(loc, len)| {
                    let v = reader.read(k, loc).expect("record reads back");
                    assert_eq!(v.len_bytes(), len);
                    v
                });
                (k.clone(), (*seq, v))
            })
            .collect()
    }

    /// Copies `dir`'s segments, the newest cut to `len` bytes and then zero-filled to `zeros`
    /// bytes (a power cut may leave the unsynced tail torn or zero-filled).
    fn crashed_copy(dir: &Path, newest: u32, len: u64, zeros: u64) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("tempdir");
        for entry in fs::read_dir(dir).expect("list") {
            let path = entry.expect("entry").path();
            let to = copy.path().join(path.file_name().expect("name"));
            fs::copy(&path, &to).expect("copy");
        }
        let f = fs::OpenOptions::new()
            .write(true)
            .open(copy.path().join(segment_name(newest)))
            .expect("open copy");
        f.set_len(len).expect("cut");
        f.set_len(zeros.max(len)).expect("zero-fill");
        copy
    }

    #[test]
    fn a_batch_spanning_many_chunks_reads_back_and_is_all_or_nothing_at_any_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, _) = open(dir.path());
        let first = batch(1, 1, 8);
        let (_, sizes) = store.write_batch(&first).expect("first batch");
        let [(id, before)] = sizes[..] else {
            panic!("one segment: {sizes:?}")
        };
        let second = batch(2, 2, 30);
        let (locs, sizes) = store.write_batch(&second).expect("second batch");
        let [(same, after)] = sizes[..] else {
            panic!("one segment: {sizes:?}")
        };
        assert_eq!(same, id);
        assert!(after - before > 10 * CHUNK as u64, "spans many chunks");
        // Locations name the records written, in order.
        for (e, loc) in second.entries.iter().zip(&locs) {
            match (&e.value, loc) {
                (Some(v), Some(loc)) => assert_eq!(&store.reader().read(&e.key, *loc).unwrap(), v),
                (None, None) => {}
                other => panic!("{other:?}"),
            }
        }
        drop(store);
        let (store, rec) = open(dir.path());
        assert_eq!(found(&store, &rec), expected(&second));
        assert_eq!((rec.through_seq, rec.cut), (2999, None));
        drop(store);

        // A crash after any prefix of the writes (process crash), or with the rest of the
        // batch's bytes zeroed (power cut before the fdatasync): the first batch only, unless
        // the zeroes happen to be the bytes written (the marker's seq ends in zero bytes).
        let written = fs::read(dir.path().join(segment_name(id))).expect("read");
        // Every 7th byte, and every byte of the last records (the marker among them).
        let cuts = (before..after).filter(|l| (l - before) % 7 == 0 || after - l <= 64);
        for len in cuts {
            for zeros in [len, after] {
                let copy = crashed_copy(dir.path(), id, len, zeros);
                let whole = fs::read(copy.path().join(segment_name(id))).expect("read") == written;
                let (store, rec) = open(copy.path());
                let want = if whole { &second } else { &first };
                assert_eq!(found(&store, &rec), expected(want), "cut at {len}/{zeros}");
                assert_eq!(rec.through_seq, want.through_seq);
                let dropped = zeros.max(len) - before;
                let cut = (!whole && dropped > 0).then_some((id, before, dropped));
                assert_eq!(rec.cut, cut, "cut at {len}/{zeros}");
            }
        }
    }

    /// A judge that keeps every third value and every tombstone, counting its calls.
    fn judge(calls: &mut usize) -> impl FnMut(&[Candidate]) -> (Vec<bool>, u64) + '_ {
        |records| {
            *calls += 1;
            let keep = records
                .iter()
                .map(|r| r.tombstone || r.seq % 3 == 0)
                .collect();
            (keep, 2999)
        }
    }

    #[test]
    fn compaction_of_a_segment_spanning_many_chunks_moves_exactly_the_kept_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, old, newer, before) = sealed_and_active(dir.path(), 60, 3);

        let mut calls = 0;
        let (moves, sizes) = store.compact(1, judge(&mut calls)).expect("compact");
        assert!(calls > 10, "judged a chunk at a time: {calls} calls");
        let kept: Vec<_> = old
            .entries
            .iter()
            .filter(|e| e.value.is_some() && e.seq % 3 == 0)
            .collect();
        assert_eq!(moves.len(), kept.len());
        for ((k, from, to), e) in moves.iter().zip(&kept) {
            assert_eq!(k, &e.key);
            assert_eq!((from.segment, to.segment, from.len), (1, 2, to.len));
            let v = store
                .reader()
                .read(k, *to)
                .expect("moved record reads back");
            assert_eq!(Some(&v), e.value.as_ref());
        }
        let [(2, after)] = sizes[..] else {
            panic!("{sizes:?}")
        };
        let copied: u64 = old
            .entries
            .iter()
            .filter(|e| e.value.is_none() || e.seq % 3 == 0)
            .map(|e| 19 + e.key.len_bytes() + e.value.as_ref().map_or(0, Value::len_bytes))
            .sum();
        assert_eq!(after - before, copied + 19, "the kept records and a marker");

        // Segment 1 deleted, reopened: the kept records and the newer batch, through 2999.
        store.delete_segment(1).expect("delete");
        drop(store);
        let (store, rec) = open(dir.path());
        let mut want: HashMap<_, _> = old
            .entries
            .iter()
            .filter(|e| e.value.is_none() || e.seq % 3 == 0)
            .map(|e| (e.key.clone(), (e.seq, e.value.clone())))
            .collect();
        want.extend(expected(&newer));
        assert_eq!(found(&store, &rec), want);
        assert_eq!((rec.through_seq, rec.cut), (2999, None));
    }

    #[test]
    fn a_crash_at_any_point_of_a_compaction_leaves_the_old_segment_in_charge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, old, newer, before) = sealed_and_active(dir.path(), 40, 2);
        let (_, sizes) = store.compact(1, judge(&mut 0)).expect("compact");
        let [(2, after)] = sizes[..] else {
            panic!("{sizes:?}")
        };
        drop(store);
        let written = fs::read(dir.path().join(segment_name(2))).expect("read");
        let mut want = expected(&old);
        want.extend(expected(&newer));
        let cuts = (before..=after).filter(|l| (l - before) % 7 == 0 || after - l <= 64);
        for len in cuts {
            for zeros in [len, after] {
                let copy = crashed_copy(dir.path(), 2, len, zeros);
                let whole = fs::read(copy.path().join(segment_name(2))).expect("read") == written;
                let (store, rec) = open(copy.path());
                // Whole or cut, the copies carry the same seq and value as the originals.
                assert_eq!(found(&store, &rec), want, "cut at {len}/{zeros}");
                assert_eq!(rec.through_seq, 2999);
                // Cut unless complete (or zero-filled into what was written) or untouched.
                let untouched = zeros.max(len) == before;
                assert_eq!(
                    rec.cut.is_none(),
                    whole || untouched,
                    "cut at {len}/{zeros}: {:?}",
                    rec.cut
                );
            }
        }
    }

    #[test]
    fn compaction_refuses_a_damaged_segment_and_commits_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, _, _, before) = sealed_and_active(dir.path(), 30, 2);
        // Flip a byte in the middle of segment 1 (past the first chunks).
        let path = store.path(1);
        let mut bytes = fs::read(&path).expect("read");
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        fs::write(&path, &bytes).expect("write");
        let err = store
            .compact(1, judge(&mut 0))
            .expect_err("damage is refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            store.active.as_ref().map(|a| a.2),
            Some(before),
            "end not moved"
        );
        // Whatever was copied before the damage has no marker: reopening segment 2 alone (the
        // damaged segment moved away) cuts it.
        drop(store);
        fs::remove_file(&path).expect("remove");
        let (_, rec) = open(dir.path());
        assert_eq!(rec.through_seq, 2999);
        assert!(
            rec.cut
                .is_some_and(|(seg, off, _)| seg == 2 && off == before)
        );
    }
    /// Segment bytes are untrusted: every single-byte flip of a segment is refused as damage
    /// (everything is under a checksum), every truncation either compacts what is whole or is
    /// refused, and nothing panics or moves the active segment's end on a refusal.
    #[test]
    fn compaction_refuses_every_flip_and_survives_every_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, _) = open(dir.path());
        // Six records, a tombstone and one larger than a chunk among them.
        store.write_batch(&batch(1, 1, 6)).expect("batch");
        store.segment_bytes_max = 0;
        store.write_batch(&batch(2, 2, 1)).expect("batch");
        store.segment_bytes_max = 1 << 20;
        let path = store.path(1);
        let good = fs::read(&path).expect("read");
        let keep_all = |records: &[Candidate]| (vec![true; records.len()], 2999);
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            fs::write(&path, &bad).expect("write");
            let end = store.active.as_ref().map(|a| a.2);
            let err = store.compact(1, keep_all).expect_err("a flip is damage");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "flip at {at}");
            assert_eq!(store.active.as_ref().map(|a| a.2), end, "flip at {at}");
        }
        for len in 0..good.len() {
            fs::write(&path, &good[..len]).expect("write");
            let end = store.active.as_ref().map(|a| a.2);
            match store.compact(1, keep_all) {
                Ok(_) => assert!(len >= format::HEADER_BYTES, "truncated to {len}"),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "truncated to {len}");
                    assert_eq!(
                        store.active.as_ref().map(|a| a.2),
                        end,
                        "truncated to {len}"
                    );
                }
            }
        }
    }

    /// Copies `dir`'s segments with `range` of segment `id` zeroed: a power cut before the
    /// batch's fdatasync persisted the later pages (the marker's) but not that one.
    fn zeroed_copy(dir: &Path, id: u32, range: std::ops::Range<usize>) -> tempfile::TempDir {
        let mut bytes = fs::read(dir.join(segment_name(id))).expect("read");
        let copy = crashed_copy(dir, id, bytes.len() as u64, 0);
        let path = copy.path().join(segment_name(id));
        bytes[range].fill(0);
        fs::write(&path, &bytes).expect("write");
        copy
    }

    /// Two batches in segment 1: the offsets where the second starts and ends.
    fn two_batches(dir: &Path) -> (FlushBatch, FlushBatch, usize, usize) {
        let (mut store, _) = open(dir);
        let first = batch(1, 1, 8);
        let (_, sizes) = store.write_batch(&first).expect("first batch");
        let second = batch(2, 2, 30);
        let (_, after) = store.write_batch(&second).expect("second batch");
        (first, second, sizes[0].1 as usize, after[0].1 as usize)
    }

    #[test]
    fn a_final_batch_persisted_out_of_order_is_cut_once_the_wal_is_confirmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, _, before, after) = two_batches(dir.path());
        assert!(after - before > 10 * CHUNK, "spans many chunks");
        // Any block of the batch lost but the marker's (the last 19 bytes): a page of its
        // first chunk, one in the middle, the one just before the marker.
        let marker = after - format::RECORD_HEADER_BYTES;
        for range in [
            before..before + 64,
            before + 5..before + CHUNK,
            (before + after) / 2..(before + after) / 2 + 100,
            marker - 40..marker,
        ] {
            let copy = zeroed_copy(dir.path(), 1, range.clone());
            let path = copy.path().join(segment_name(1));
            let (store, rec) = open_confirming(copy.path(), |t| {
                assert_eq!(
                    (t.segment, t.offset, t.bytes),
                    (1, before as u64, (after - before) as u64)
                );
                assert_eq!((t.prev_through_seq, t.through_seq), (1999, 2999));
                assert!(t.after_marker);
                None
            })
            .expect("a torn final batch is not corruption");
            assert_eq!(found(&store, &rec), expected(&first), "{range:?}");
            assert_eq!(rec.through_seq, 1999);
            assert_eq!(rec.cut, Some((1, before as u64, (after - before) as u64)));
            let torn = rec.torn.as_ref().expect("reported as a torn batch");
            assert!(
                (before as u64..=range.start as u64).contains(&torn.damage_offset),
                "{range:?}: {torn:?}"
            );
            assert_eq!(fs::metadata(&path).expect("stat").len(), before as u64);
            drop(store);

            // Refused (the WAL no longer holds the batch): corruption naming the damage, and
            // the segment is left as it was.
            let copy = zeroed_copy(dir.path(), 1, range.clone());
            let path = copy.path().join(segment_name(1));
            let err = open_confirming(copy.path(), |_| Some("released".into()))
                .expect_err("unconfirmed: corruption");
            match err {
                Error::Corrupt {
                    path: p,
                    offset,
                    what,
                } => {
                    assert_eq!(p, path);
                    assert_eq!(offset, torn.damage_offset);
                    assert!(what.contains("released"), "{what}");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(fs::metadata(&path).expect("stat").len(), after as u64);
        }
    }

    #[test]
    fn damage_followed_by_two_markers_is_corruption_whatever_the_wal_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, _, before, after) = two_batches(dir.path());
        let (mut store, _) = open(dir.path());
        store.write_batch(&batch(3, 3, 2)).expect("third batch");
        drop(store);
        // The second batch's first bytes lost, its marker and the third batch intact.
        let copy = zeroed_copy(dir.path(), 1, before..before + 64);
        let err = open_confirming(copy.path(), |t| panic!("not a torn final batch: {t:?}"))
            .expect_err("corruption");
        assert!(
            matches!(err, Error::Corrupt { offset, .. } if offset == before as u64),
            "{err}"
        );
        // Bytes after the final marker (a later batch begun) make it no final batch either.
        let copy = zeroed_copy(dir.path(), 1, before..before + 64);
        let path = copy.path().join(segment_name(1));
        let mut bytes = fs::read(&path).expect("read");
        bytes.truncate(after + 30);
        fs::write(&path, &bytes).expect("write");
        let err = open_confirming(copy.path(), |t| panic!("not a torn final batch: {t:?}"))
            .expect_err("corruption");
        assert!(
            matches!(err, Error::Corrupt { offset, .. } if offset == before as u64),
            "{err}"
        );
        // Damage in a sealed segment stays corruption even before its last marker.
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, _, before, _) = two_batches(dir.path());
        let (mut store, _) = open(dir.path());
        store.segment_bytes_max = 0;
        store
            .write_batch(&batch(3, 3, 2))
            .expect("batch in segment 2");
        drop(store);
        let copy = zeroed_copy(dir.path(), 1, before..before + 64);
        let err = open_confirming(copy.path(), |t| panic!("sealed: {t:?}")).expect_err("corrupt");
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }

    #[test]
    fn a_torn_compaction_is_cut_only_while_its_source_segment_holds_the_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, old, newer, before) = sealed_and_active(dir.path(), 40, 2);
        let (_, sizes) = store.compact(1, judge(&mut 0)).expect("compact");
        let after = sizes[0].1 as usize;
        drop(store);
        let before = before as usize;
        let mut want = expected(&old);
        want.extend(expected(&newer));
        // A block in the middle of the copies lost: the source still holds them all.
        let middle = (before + after) / 2..(before + after) / 2 + 50;
        let copy = zeroed_copy(dir.path(), 2, middle.clone());
        let (store, rec) = open(copy.path());
        assert_eq!(found(&store, &rec), want);
        assert_eq!(rec.cut, Some((2, before as u64, (after - before) as u64)));
        drop(store);
        // The source deleted (the compaction had been durable): copies read whole before the
        // damage have no original, so this is corruption, whatever the WAL says.
        let copy = zeroed_copy(dir.path(), 2, middle);
        fs::remove_file(copy.path().join(segment_name(1))).expect("remove");
        let err = open_confirming(copy.path(), |t| panic!("not cut: {t:?}")).expect_err("corrupt");
        match err {
            Error::Corrupt { what, .. } => assert!(what.contains("no older segment"), "{what}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_torn_batch_is_refused_when_the_wal_or_git_shows_it_was_durable() {
        let torn = TornBatch {
            segment: 3,
            offset: 100,
            bytes: 500,
            damage_offset: 120,
            damage: "checksum mismatch".into(),
            prev_through_seq: 10,
            through_seq: 20,
            after_marker: true,
        };
        // The WAL still starts at or before seq 11: replay restores the batch.
        assert_eq!(torn.unrestorable(Some(11), 10), None);
        assert_eq!(torn.unrestorable(Some(3), 0), None);
        // Released, or gone.
        assert!(torn.unrestorable(Some(12), 10).is_some());
        assert!(torn.unrestorable(None, 10).is_some());
        // Git holds writes of the batch: it had been flushed durably.
        assert!(torn.unrestorable(Some(11), 11).is_some());
        // A warm tier begun after a rebuild from git holds nothing below the cold tier's mark:
        // replay starts after it.
        let first = TornBatch {
            prev_through_seq: 0,
            through_seq: 60,
            after_marker: false,
            ..torn
        };
        assert_eq!(first.unrestorable(Some(51), 50), None);
        assert!(first.unrestorable(Some(52), 50).is_some());
        // The warm tier's first batch, committed to git whole: it had been flushed.
        let first_committed = TornBatch {
            prev_through_seq: 0,
            after_marker: false,
            through_seq: 50,
            ..first
        };
        assert!(first_committed.unrestorable(Some(1), 50).is_some());
        assert_eq!(first_committed.unrestorable(Some(1), 0), None);
    }
}
