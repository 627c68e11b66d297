//! Offline verification of a store directory: every WAL segment and every warm record.
//!
//! Reads only; changes nothing. It takes the store's lock, so it never races a writer.

use std::fs;
use std::path::Path;

use thermocline_core::recovery::WalReplay;

use crate::error::Error;
use crate::fsutil::{self, DirLock};
use crate::wal_file;
use crate::warm::{WARM_DIR, format};

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    pub wal_segments: u64,
    pub wal_records: u64,
    /// A torn WAL tail that the next open will cut (not damage: an interrupted write).
    pub wal_torn_tail: Option<(u64, u64, u64)>,
    pub warm_segments: u64,
    pub warm_records: u64,
    /// Objects reachable from the cold tier's `main`, each read, type-checked and re-hashed.
    pub cold_objects: u64,
    /// Each problem, naming file and offset. Empty when the store is sound.
    pub problems: Vec<String>,
}

impl CheckReport {
    #[must_use]
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the store in `dir`.
pub fn check(dir: impl AsRef<Path>) -> Result<CheckReport, Error> {
    let dir = dir.as_ref();
    if !dir.join("LOCK").exists() {
        return Err(Error::Io {
            op: "check",
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no store here"),
        });
    }
    let _lock = DirLock::acquire(dir)?;
    let mut report = CheckReport::default();
    check_warm(&dir.join(WARM_DIR), &mut report)?;
    check_wal(&dir.join(wal_file::WAL_DIR), &mut report)?;
    let cold_dir = dir.join(crate::store::COLD_DIR);
    if cold_dir.join("HEAD").exists() {
        let author = crate::cold::Author {
            name: String::new(),
            email: String::new(),
        };
        match crate::cold::ColdRepo::open_read_only(&cold_dir, author)
            .and_then(|repo| repo.verify())
        {
            Ok(n) => report.cold_objects = n,
            Err(e) => report.problems.push(format!("{}: {e}", cold_dir.display())),
        }
    }
    Ok(report)
}

fn check_warm(warm_dir: &Path, report: &mut CheckReport) -> Result<u64, Error> {
    let ids = if warm_dir.exists() {
        fsutil::numbered_files(warm_dir, "seg").map_err(|e| Error::io("list", warm_dir, e))?
    } else {
        Vec::new()
    };
    let mut through = 0;
    for (i, &id) in ids.iter().enumerate() {
        let path = warm_dir.join(format!("{id:010}.seg"));
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        report.warm_segments += 1;
        let Ok(id32) = u32::try_from(id) else {
            report
                .problems
                .push(format!("{}: segment id out of range", path.display()));
            continue;
        };
        if let Err(what) = format::check_header(id32, &bytes) {
            report.problems.push(format!("{}: {what}", path.display()));
            continue;
        }
        let mut pos = format::HEADER_BYTES;
        let mut committed = pos;
        while pos < bytes.len() {
            match format::decode_record(&bytes[pos..]) {
                Ok(d) => {
                    report.warm_records += 1;
                    if d.kind == format::KIND_MARKER {
                        through = through.max(d.seq);
                        committed = pos + d.len as usize;
                    }
                    pos += d.len as usize;
                }
                Err(what) => {
                    let newest = i + 1 == ids.len();
                    if !newest || format::marker_after(&bytes, pos + 1).is_some() {
                        report.problems.push(format!(
                            "{} is corrupt at offset {pos}: {what}",
                            path.display()
                        ));
                    }
                    break;
                }
            }
        }
        if committed < bytes.len() && i + 1 != ids.len() {
            report.problems.push(format!(
                "{}: sealed segment ends without a flush marker at offset {committed}",
                path.display()
            ));
        }
    }
    Ok(through)
}

fn check_wal(wal_dir: &Path, report: &mut CheckReport) -> Result<(), Error> {
    if !wal_dir.exists() {
        return Ok(());
    }
    let ids = wal_file::list_segments(wal_dir).map_err(|e| Error::io("list", wal_dir, e))?;
    // Continuity is checked against the warm tier's marker, as at open.
    let mut scratch = CheckReport::default();
    let through = check_warm(&wal_dir.with_file_name(WARM_DIR), &mut scratch)?;
    let mut replay = WalReplay::new(through);
    for (i, &id) in ids.iter().enumerate() {
        let path = wal_file::segment_path(wal_dir, id);
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        report.wal_segments += 1;
        match replay.segment(id, &bytes, i + 1 == ids.len()) {
            Ok(plan) => report.wal_records += plan.replay.len() as u64,
            Err(e) => report.problems.push(format!("{}: {e}", path.display())),
        }
    }
    report.wal_torn_tail = replay.finish().torn_tail;
    Ok(())
}
