//! Durable file-system steps: directory fsync, atomic replace, the store lock.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Makes a directory's entries (creations, renames, deletions) durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir/name` holding `bytes`, durably and atomically: written to a temporary name,
/// fsynced, renamed, and the directory fsynced. A crash leaves either no file or the whole
/// file (plus perhaps a `*.tmp` that the next open removes). Returns the open file (callers
/// write at explicit offsets).
pub(crate) fn create_durable(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<File> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    fsync_dir(dir)?;
    Ok(file)
}

/// Removes leftovers of interrupted `create_durable` calls.
pub(crate) fn remove_tmp_files(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Ids of the files `dir/<number>.<ext>`, sorted. Other names are ignored.
pub(crate) fn numbered_files(dir: &Path, ext: &str) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(ext).and_then(|s| s.strip_suffix('.'))
            && let Ok(id) = stem.parse::<u64>()
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// How long to wait for a lock that this process itself holds (see `DirLock::acquire`).
const OWN_LOCK_WAIT_MS: u64 = 500;

/// The exclusive lock on a store directory, held for the store's lifetime. The holder's pid
/// is written into the file so a second opener can say who holds it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, Error> {
        let path: PathBuf = dir.join("LOCK");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        // A lock this very process held a moment ago can outlive its `close` for as long as a
        // child forked meanwhile (by any thread) has not yet exec'd: the child shares the open
        // file. So when the holder is this process, wait briefly before saying "locked".
        let mut waited_ms = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let pid: Option<u32> = file
                        .read_to_string(&mut text)
                        .ok()
                        .and_then(|_| text.trim().parse().ok());
                    file.seek(std::io::SeekFrom::Start(0))
                        .map_err(|e| Error::io("read", &path, e))?;
                    if pid == Some(std::process::id()) && waited_ms < OWN_LOCK_WAIT_MS {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        waited_ms += 10;
                        continue;
                    }
                    return Err(Error::Locked {
                        dir: dir.to_path_buf(),
                        pid,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
        }
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(DirLock { _file: file })
    }
}
