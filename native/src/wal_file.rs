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

/// A segment's file is kept this far ahead of its data (sparse zeros, read as a clean end):
/// an fdatasync after a write inside the file's size need not also journal a new size, which
/// made syncs about 1.4× faster on ext4 here (BENCHMARKS.md). A chunk rather than the whole
/// segment, so recovery reads at most this many zeros.
const PREALLOC_CHUNK_BYTES: u64 = 1 << 20;

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
            // Extend ahead of the data: the size changes (and is journaled) once per chunk.
            let allocated = end.div_ceil(PREALLOC_CHUNK_BYTES) * PREALLOC_CHUNK_BYTES;
            file.set_len(allocated)?;
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
        let len = PREALLOC_CHUNK_BYTES.max(header.len() as u64);
        let file = fsutil::create_durable_sized(&self.wal_dir, &segment_name(id), header, len)?;
        self.file = Some((id, Arc::new(file)));
        self.offset = header.len() as u64;
        self.allocated = len;
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
