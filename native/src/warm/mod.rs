//! The warm tier: a log-structured segment store (the Bitcask model).
//!
//! Values live in append-only segment files `DIR/warm/<id>.seg`; the engine's key directory
//! says where each key's newest record is, so a read is one `pread`. A write-behind batch is
//! appended as records followed by a flush marker and made durable with one fdatasync; at
//! open, records after the last marker are an interrupted flush and are cut away (the WAL
//! still holds those writes). Dead records are reclaimed by compaction.

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
}

/// A record read back for compaction.
#[derive(Debug)]
pub(crate) struct OldRecord {
    pub key: Key,
    pub seq: u64,
    /// `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    pub loc: WarmLoc,
}

/// The writer side, owned by the background worker.
#[derive(Debug)]
pub(crate) struct WarmStore {
    dir: PathBuf,
    segment_bytes_max: u64,
    active: Option<(u32, Arc<File>, u64)>,
    ids: BTreeSet<u32>,
    reader: WarmReader,
}

impl WarmStore {
    /// Opens `dir` (created if missing), scans every segment and cuts an interrupted flush.
    pub(crate) fn open(
        dir: &Path,
        segment_bytes_max: u64,
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
        };
        for (i, &id64) in ids.iter().enumerate() {
            let id = u32::try_from(id64).map_err(|_| Error::Corrupt {
                path: dir.join(format!("{id64}.{EXT}")),
                offset: 0,
                what: "segment id out of range".into(),
            })?;
            let newest = i + 1 == ids.len();
            let (file, len) = store.recover_segment(id, newest, &mut rec)?;
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
    ) -> Result<(Arc<File>, u64), Error> {
        let path = self.dir.join(segment_name(id));
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let corrupt = |offset: usize, what: String| Error::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            what,
        };
        format::check_header(id, &bytes).map_err(|w| corrupt(0, w))?;
        let mut pos = format::HEADER_BYTES;
        let mut committed_end = pos;
        let mut pending: Vec<Found> = Vec::new();
        while pos < bytes.len() {
            let d = match format::decode_record(&bytes[pos..]) {
                Ok(d) => d,
                Err(what) => {
                    if !newest || format::marker_after(&bytes, pos + 1).is_some() {
                        return Err(corrupt(pos, what));
                    }
                    break; // an interrupted flush: nothing after it was ever committed
                }
            };
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
                    committed_end = pos + d.len as usize;
                }
                (KIND_PUT, Some(key)) => {
                    pending.push((key, d.seq, Some((loc, d.value.len() as u64))))
                }
                (KIND_TOMBSTONE, Some(key)) => pending.push((key, d.seq, None)),
                _ => return Err(corrupt(pos, "record without a key".into())),
            }
            pos += d.len as usize;
        }
        if committed_end < bytes.len() && !newest {
            return Err(corrupt(
                committed_end,
                "sealed segment ends without a flush marker".into(),
            ));
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        if committed_end < bytes.len() {
            file.set_len(committed_end as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io("truncate", &path, e))?;
            rec.cut = Some((
                id,
                committed_end as u64,
                (bytes.len() - committed_end) as u64,
            ));
        }
        Ok((Arc::new(file), committed_end as u64))
    }

    pub(crate) fn reader(&self) -> WarmReader {
        self.reader.clone()
    }

    pub(crate) fn path(&self, id: u32) -> PathBuf {
        self.dir.join(segment_name(id))
    }

    /// Appends a write-behind batch and its marker, durably. Returns one location per entry
    /// (None for deletions) and the sizes of the segments written.
    pub(crate) fn write_batch(
        &mut self,
        batch: &FlushBatch,
    ) -> io::Result<(Vec<Option<WarmLoc>>, SegmentSizes)> {
        let mut buf = Vec::new();
        let mut rel = Vec::with_capacity(batch.entries.len());
        for e in &batch.entries {
            let start = buf.len() as u64;
            match &e.value {
                Some(v) => {
                    let len = format::encode_record(&mut buf, KIND_PUT, e.seq, &e.key, v);
                    rel.push(Some((start, len)));
                }
                None => {
                    format::encode_record(&mut buf, KIND_TOMBSTONE, e.seq, &e.key, &[]);
                    rel.push(None);
                }
            }
        }
        format::encode_record(&mut buf, KIND_MARKER, batch.through_seq, "", &[]);
        let (id, base) = self.append_durably(&buf)?;
        let locs = rel
            .into_iter()
            .map(|r| {
                r.map(|(off, len)| WarmLoc {
                    segment: id,
                    offset: base + off,
                    len,
                })
            })
            .collect();
        Ok((locs, vec![(id, base + buf.len() as u64)]))
    }

    /// Reads every record of a sealed segment, for compaction.
    pub(crate) fn read_segment(&self, id: u32) -> Result<Vec<OldRecord>, Error> {
        let path = self.path(id);
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        format::check_header(id, &bytes).map_err(|what| Error::Corrupt {
            path: path.clone(),
            offset: 0,
            what,
        })?;
        let mut pos = format::HEADER_BYTES;
        let mut out = Vec::new();
        while pos < bytes.len() {
            let d = format::decode_record(&bytes[pos..]).map_err(|what| Error::Corrupt {
                path: path.clone(),
                offset: pos as u64,
                what,
            })?;
            let loc = WarmLoc {
                segment: id,
                offset: pos as u64,
                len: d.len,
            };
            if let Some(key) = d.key {
                let value = (d.kind == KIND_PUT).then(|| d.value.to_vec());
                out.push(OldRecord {
                    key,
                    seq: d.seq,
                    value,
                    loc,
                });
            }
            pos += d.len as usize;
        }
        Ok(out)
    }

    /// Whether a segment older than `id` exists: then a tombstone in `id` may still hide an
    /// older value there, and compaction must carry it forward.
    pub(crate) fn has_older_than(&self, id: u32) -> bool {
        self.ids.first().is_some_and(|first| *first < id)
    }

    /// Writes the kept records of a compacted segment, durably, behind a marker repeating
    /// `through_seq`. Returns the moves (key, old, new) and the segment sizes.
    pub(crate) fn rewrite(
        &mut self,
        keep: &[OldRecord],
        through_seq: u64,
    ) -> io::Result<(Vec<Move>, SegmentSizes)> {
        let mut buf = Vec::new();
        let mut rel = Vec::with_capacity(keep.len());
        for r in keep {
            let start = buf.len() as u64;
            let kind = if r.value.is_some() {
                KIND_PUT
            } else {
                KIND_TOMBSTONE
            };
            let len = format::encode_record(
                &mut buf,
                kind,
                r.seq,
                &r.key,
                r.value.as_deref().unwrap_or(&[]),
            );
            rel.push((start, len));
        }
        format::encode_record(&mut buf, KIND_MARKER, through_seq, "", &[]);
        let (id, base) = self.append_durably(&buf)?;
        let moves = keep
            .iter()
            .zip(rel)
            .filter(|(r, _)| r.value.is_some())
            .map(|(r, (off, len))| {
                (
                    r.key.clone(),
                    r.loc,
                    WarmLoc {
                        segment: id,
                        offset: base + off,
                        len,
                    },
                )
            })
            .collect();
        Ok((moves, vec![(id, base + buf.len() as u64)]))
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

    /// Appends `bytes` to the active segment (starting a new one when it is full) and
    /// fdatasyncs. Returns the segment and the offset the bytes start at.
    fn append_durably(&mut self, bytes: &[u8]) -> io::Result<(u32, u64)> {
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
        let Some((id, file, len)) = &mut self.active else {
            unreachable!("just made active")
        };
        let base = *len;
        // Positioned writes: after a failed write the next one still lands at the right offset,
        // and the garbage in between (if any) is past the last marker, so open cuts it.
        file.write_all_at(bytes, base)?;
        file.sync_data()?;
        *len += bytes.len() as u64;
        Ok((*id, base))
    }
}
