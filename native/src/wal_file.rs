//! WAL segments as files: `DIR/wal/<id>.wal`, one segment being appended to at a time.
//!
//! Appends are buffered in memory until the engine asks for a `WriteWal` (or a sync); the
//! buffer is what lets `memory`-level writes cost no system call.

use std::fs::{self, File};
use std::io::{self, Write};
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

#[derive(Debug)]
pub(crate) struct WalWriter {
    wal_dir: PathBuf,
    /// The segment being appended to: shared so a sync can run without the engine lock.
    file: Option<(u64, Arc<File>)>,
    buf: Vec<u8>,
}

impl WalWriter {
    pub(crate) fn new(wal_dir: PathBuf) -> WalWriter {
        WalWriter {
            wal_dir,
            file: None,
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
        (&**file).write_all(&self.buf)?;
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
        let file = fsutil::create_durable(&self.wal_dir, &segment_name(id), header)?;
        self.file = Some((id, Arc::new(file)));
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
