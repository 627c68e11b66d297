//! WAL segments as files: `DIR/wal/<id>.wal`, one segment being appended to at a time.
//!
//! Appends are buffered in memory until the engine asks for a `WriteWal` (or a sync); the
//! buffer is what lets `memory`-level writes cost no system call.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsutil;

pub(crate) const WAL_DIR: &str = "wal";
const EXT: &str = "wal";

pub(crate) fn segment_name(id: u64) -> String {
    format!("{id:020}.{EXT}")
}

pub(crate) fn segment_path(wal_dir: &Path, id: u64) -> PathBuf {
    wal_dir.join(segment_name(id))
}

/// Segment ids on disk, oldest first.
pub(crate) fn list_segments(wal_dir: &Path) -> io::Result<Vec<u64>> {
    fsutil::numbered_files(wal_dir, EXT)
}

/// The first seq of the oldest segment, from its header (`None`: no segment): the earliest
/// record a replay can start from. Deciding whether a torn warm batch may be cut needs this
/// before the replay reads the segments (see `warm::TornBatch::unrestorable`).
pub(crate) fn oldest_first_seq(wal_dir: &Path) -> Result<Option<u64>, crate::error::Error> {
    use crate::error::Error;
    if !wal_dir.exists() {
        return Ok(None);
    }
    let ids = list_segments(wal_dir).map_err(|e| Error::io("list", wal_dir, e))?;
    let Some(&id) = ids.first() else {
        return Ok(None);
    };
    let path = segment_path(wal_dir, id);
    let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
    let mut header = [0u8; thermocline_core::wal::SEGMENT_HEADER_BYTES];
    // A short file reads short: the decoder then says it is shorter than a header.
    let mut got = 0;
    while got < header.len() {
        let n = file
            .read_at(&mut header[got..], got as u64)
            .map_err(|e| Error::io("read", &path, e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let header = thermocline_core::wal::SegmentHeader::decode(id, &header[..got])
        .map_err(thermocline_core::recovery::RecoveryError::from)?;
    Ok(Some(header.first_seq))
}

/// A segment's file is kept this far ahead of its data, filled with written zeros (read as a
/// clean end). A record then overwrites blocks the file system has already allocated and
/// written, so its `fdatasync` flushes data only: appending instead makes every sync also
/// journal the new size, and writing into a sparse hole makes the sync journal the block
/// allocation (once per 4 KiB block: every 4th commit of 1 KiB records, measured 0.72× the
/// device's floor against 0.9× with 128 B records). The zeros cost one allocation and one
/// journal commit per chunk. A chunk rather than the whole segment, so recovery reads at most
/// this many zeros.
const PREALLOC_CHUNK_BYTES: u64 = 1 << 20;

/// The zeros go out one page per write. One large write would let the page cache hold the
/// chunk as a few large folios, and a folio is dirtied and written back whole: each 1 KiB
/// record's `fdatasync` would write up to a megabyte (measured: 1 MiB of page cache dirtied
/// per commit).
const ZERO_WRITE_BYTES: usize = 4096;

#[derive(Debug)]
pub(crate) struct WalWriter {
    wal_dir: PathBuf,
    /// The segment being appended to: shared so a sync can run without the engine lock.
    file: Option<(u64, Arc<File>)>,
    /// Where the next write goes in the current segment.
    offset: u64,
    /// The current segment's length: its data, then zeros.
    allocated: u64,
    buf: Vec<u8>,
}

impl WalWriter {
    pub(crate) fn new(wal_dir: PathBuf) -> WalWriter {
        WalWriter {
            wal_dir,
            file: None,
            offset: 0,
            allocated: 0,
            buf: Vec::with_capacity(64 << 10),
        }
    }

    pub(crate) fn append(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Hands the buffer to the OS.
    pub(crate) fn write_out(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some((_, file)) = &self.file else {
            return Err(io::Error::other("no wal segment is open"));
        };
        let end = self.offset + self.buf.len() as u64;
        if end > self.allocated {
            // Extend ahead of the data: the size and the blocks change (and are journaled)
            // once per chunk.
            let allocated = end.div_ceil(PREALLOC_CHUNK_BYTES) * PREALLOC_CHUNK_BYTES;
            let zeros = [0_u8; ZERO_WRITE_BYTES];
            let mut at = self.allocated;
            while at < allocated {
                // Page-aligned pieces: the first one ends at a page boundary.
                let n =
                    (ZERO_WRITE_BYTES as u64 - at % ZERO_WRITE_BYTES as u64).min(allocated - at);
                file.write_all_at(zeros.get(..n as usize).unwrap_or_default(), at)?;
                at += n;
            }
            self.allocated = allocated;
        }
        // Positioned writes: the file is longer than its data.
        file.write_all_at(&self.buf, self.offset)?;
        self.offset = end;
        self.buf.clear();
        Ok(())
    }

    /// The current segment, to fdatasync without holding the engine.
    pub(crate) fn sync_handle(&self) -> Option<Arc<File>> {
        self.file.as_ref().map(|(_, f)| Arc::clone(f))
    }

    /// Closes the current segment durably and starts segment `id`.
    pub(crate) fn rotate(&mut self, id: u64, header: &[u8]) -> io::Result<()> {
        if self.file.is_some() {
            self.write_out()?;
            if let Some((_, file)) = &self.file {
                file.sync_data()?;
            }
        }
        // The zeros ahead are written by the first `write_out`.
        let file = fsutil::create_durable(&self.wal_dir, &segment_name(id), header)?;
        self.file = Some((id, Arc::new(file)));
        self.offset = header.len() as u64;
        self.allocated = header.len() as u64;
        Ok(())
    }
}

/// Deletes whole segments the warm tier has made redundant, durably.
pub(crate) fn delete_segments(wal_dir: &Path, ids: &[u64]) -> io::Result<()> {
    for &id in ids {
        match fs::remove_file(segment_path(wal_dir, id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    fsutil::fsync_dir(wal_dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    /// What keeps a record's `fdatasync` free of metadata: the space after the data is written
    /// zeros (allocated blocks inside the file's size), not a hole and not past the end.
    #[test]
    fn a_segment_is_kept_a_chunk_ahead_with_written_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalWriter::new(dir.path().to_path_buf());
        let header = [7_u8; 40];
        wal.rotate(1, &header).unwrap();
        let record = [9_u8; 1000];
        for _ in 0..1100 {
            wal.append(&record);
            wal.write_out().unwrap();
        }
        wal.sync_handle().unwrap().sync_data().unwrap();
        let path = segment_path(dir.path(), 1);
        let meta = fs::metadata(&path).unwrap();
        let data = 40 + 1000 * 1100;
        assert_eq!(meta.len(), 2 * PREALLOC_CHUNK_BYTES, "data ends at {data}");
        assert!(
            meta.blocks() * 512 >= meta.len(),
            "{} of {} bytes allocated: the tail is sparse",
            meta.blocks() * 512,
            meta.len()
        );
        let bytes = fs::read(&path).unwrap();
        assert!(bytes[data..].iter().all(|&b| b == 0));
        assert!(bytes[40..data].chunks(1000).all(|c| c == record));
    }
}
