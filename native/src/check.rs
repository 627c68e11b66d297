//! Offline verification of a store directory: every WAL segment and every warm record.
//!
//! Reads only; changes nothing. It takes the store's lock, so it never races a writer.

use std::fs;
use std::path::Path;

use thermocline_core::recovery::WalReplay;

use crate::error::Error;
use crate::fsutil::{self, DirLock};
use crate::wal_file;
use crate::warm::{self, SegmentEnd, WARM_DIR};

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    pub wal_segments: u64,
    pub wal_records: u64,
    /// A torn WAL tail that the next open will cut (not damage: an interrupted write).
    pub wal_torn_tail: Option<(u64, u64, u64)>,
    pub warm_segments: u64,
    pub warm_records: u64,
    /// An interrupted warm flush that the next open will cut (not damage): (segment, offset,
    /// bytes).
    pub warm_cut: Option<(u32, u64, u64)>,
    /// Set when that flush is a torn final batch, damaged before its marker by a power cut
    /// before its fdatasync, whose writes the WAL still holds: where the damage is and what
    /// it is (see `docs/warm-format.md`).
    pub warm_cut_damage: Option<(u64, String)>,
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
    let cold_dir = dir.join(crate::store::COLD_DIR);
    let author = || crate::cold::Author {
        name: String::new(),
        email: String::new(),
    };
    let has_cold = cold_dir.join("HEAD").exists();
    // The cold tier's mark, as open reads it (an unreadable tip is reported below).
    let cold_through = if has_cold {
        crate::cold::ColdRepo::open_read_only(&cold_dir, author())
            .and_then(|repo| repo.tip())
            .ok()
            .flatten()
            .map_or(0, |tip| tip.through_seq)
    } else {
        0
    };
    let wal_dir = dir.join(wal_file::WAL_DIR);
    let through = check_warm(&dir.join(WARM_DIR), &wal_dir, cold_through, &mut report)?;
    check_wal(&wal_dir, through, &mut report)?;
    if has_cold {
        match crate::cold::ColdRepo::open_read_only(&cold_dir, author())
            .and_then(|repo| repo.verify())
        {
            Ok(n) => report.cold_objects = n,
            Err(e) => report.problems.push(format!("{}: {e}", cold_dir.display())),
        }
    }
    Ok(report)
}

/// Scans the warm segments by open's rules ([`warm::scan_segment`]), judging a torn final
/// batch against the WAL as open does; returns the `through_seq` open would find.
fn check_warm(
    warm_dir: &Path,
    wal_dir: &Path,
    cold_through: u64,
    report: &mut CheckReport,
) -> Result<u64, Error> {
    let ids = if warm_dir.exists() {
        fsutil::numbered_files(warm_dir, "seg").map_err(|e| Error::io("list", warm_dir, e))?
    } else {
        Vec::new()
    };
    let mut rec = warm::WarmRecovery::default();
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
        let corrupt = |offset: u64, what: &str| {
            format!("{} is corrupt at offset {offset}: {what}", path.display())
        };
        let scanned = match warm::scan_segment(id32, &bytes, i + 1 == ids.len(), &mut rec) {
            Ok(scanned) => scanned,
            Err(damage) => {
                report
                    .problems
                    .push(corrupt(damage.offset as u64, &damage.what));
                continue;
            }
        };
        report.warm_records += scanned.records;
        match scanned.end {
            SegmentEnd::Clean => {}
            SegmentEnd::Unmarked { offset } => {
                let offset = offset as u64;
                report.warm_cut = Some((id32, offset, bytes.len() as u64 - offset));
            }
            SegmentEnd::Torn(torn) => {
                let why = match wal_file::oldest_first_seq(wal_dir) {
                    Ok(first) => torn.unrestorable(first, cold_through),
                    Err(e) => Some(format!("the WAL cannot be read: {e}")),
                };
                match why {
                    None => {
                        report.warm_cut = Some((id32, torn.offset, torn.bytes));
                        report.warm_cut_damage = Some((torn.damage_offset, torn.damage));
                    }
                    Some(why) => report.problems.push(corrupt(
                        torn.damage_offset,
                        &format!(
                            "{} (the segment's last batch, through {}, follows the damage: \
                             {why})",
                            torn.damage, torn.through_seq
                        ),
                    )),
                }
            }
        }
    }
    Ok(rec.through_seq)
}

/// Scans the WAL segments; continuity is checked against the warm tier's mark, as at open.
fn check_wal(wal_dir: &Path, through: u64, report: &mut CheckReport) -> Result<(), Error> {
    if !wal_dir.exists() {
        return Ok(());
    }
    let ids = wal_file::list_segments(wal_dir).map_err(|e| Error::io("list", wal_dir, e))?;
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
