//! Rebuilding a damaged store from the git cold tier ([`crate::RecoveryMode::FromGit`]).
//!
//! Never silent: the damaged `wal/` and `warm/` are moved aside, not deleted, and the report
//! lists every write newer than the tip commit that can still be read from them. Those writes
//! are what the rebuild loses; regions that cannot be read are named too.

use std::fs;
use std::path::{Path, PathBuf};

use thermocline_core::wal::{self, Op, WalError};

use crate::cold::{Author, ColdRepo};
use crate::error::Error;
use crate::fsutil::{self, DirLock};
use crate::options::Options;
use crate::store::COLD_DIR;
use crate::wal_file;
use crate::warm::{WARM_DIR, format};

/// What a rebuild from git did and lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rebuilt {
    /// The damage that made a normal open impossible.
    pub damage: String,
    /// The commit the store was rebuilt from (none: the repository had no commit yet).
    pub commit: Option<String>,
    /// That commit holds the store as of this sequence number.
    pub through_seq: u64,
    /// Writes newer than the commit, read from the damaged files: lost by the rebuild.
    pub lost: Vec<LostWrite>,
    /// Parts of the damaged files that could not be read (file and offset): writes in them, if
    /// any, are lost too and cannot be listed.
    pub unreadable: Vec<String>,
    /// Where the damaged directories were moved.
    pub moved_aside: Vec<PathBuf>,
}

/// One write the rebuild lost.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LostWrite {
    pub seq: u64,
    pub key: String,
    pub deleted: bool,
}

pub(crate) fn set_damage_aside(
    dir: &Path,
    options: &Options,
    damage: &Error,
) -> Result<Rebuilt, Error> {
    let _lock = DirLock::acquire(dir)?;
    if options.config.cold.is_none() {
        return Err(Error::Git {
            op: "rebuild",
            detail: "this store has no cold tier to rebuild from".into(),
        });
    }
    let author = Author {
        name: options.author_name.clone(),
        email: options.author_email.clone(),
    };
    let tip = ColdRepo::open(&dir.join(COLD_DIR), author)?.tip()?;
    let through_seq = tip.as_ref().map_or(0, |t| t.through_seq);
    let mut report = Rebuilt {
        damage: damage.to_string(),
        commit: tip.as_ref().map(|t| crate::cold::objects::hex(&t.commit)),
        through_seq,
        ..Rebuilt::default()
    };
    salvage_warm(&dir.join(WARM_DIR), through_seq, &mut report);
    salvage_wal(&dir.join(wal_file::WAL_DIR), through_seq, &mut report);
    report.lost.sort();
    report.lost.dedup();
    let stamp = options.clock.now_ms();
    for name in [wal_file::WAL_DIR, WARM_DIR] {
        let from = dir.join(name);
        if from.exists() {
            let to = dir.join(format!("{name}.damaged-{stamp}"));
            fs::rename(&from, &to).map_err(|e| Error::io("move aside", &from, e))?;
            report.moved_aside.push(to);
        }
    }
    fsutil::fsync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    Ok(report)
}

fn files(dir: &Path, ext: &str) -> Vec<(u64, PathBuf)> {
    fsutil::numbered_files(dir, ext)
        .unwrap_or_default()
        .into_iter()
        .map(|id| {
            (
                id,
                dir.join(format!(
                    "{id:0width$}.{ext}",
                    width = if ext == "seg" { 10 } else { 20 }
                )),
            )
        })
        .collect()
}

fn salvage_warm(dir: &Path, through_seq: u64, report: &mut Rebuilt) {
    for (_, path) in files(dir, "seg") {
        let Ok(bytes) = fs::read(&path) else {
            report
                .unreadable
                .push(format!("{}: cannot be read", path.display()));
            continue;
        };
        let mut pos = format::HEADER_BYTES.min(bytes.len());
        while pos < bytes.len() {
            match format::decode_record(&bytes[pos..]) {
                Ok(d) => {
                    if let Some(key) = d.key
                        && d.seq > through_seq
                    {
                        let deleted = d.kind == format::KIND_TOMBSTONE;
                        report.lost.push(LostWrite {
                            seq: d.seq,
                            key: key.as_str().to_owned(),
                            deleted,
                        });
                    }
                    pos += d.len as usize;
                }
                Err(what) => {
                    report
                        .unreadable
                        .push(format!("{} from offset {pos}: {what}", path.display()));
                    break;
                }
            }
        }
    }
}

fn salvage_wal(dir: &Path, through_seq: u64, report: &mut Rebuilt) {
    for (id, path) in files(dir, "wal") {
        let Ok(bytes) = fs::read(&path) else {
            report
                .unreadable
                .push(format!("{}: cannot be read", path.display()));
            continue;
        };
        let records = match wal::scan_segment(id, &bytes, true, None) {
            Ok(scan) => scan.records,
            Err(e @ (WalError::Corrupt { offset, .. } | WalError::SequenceGap { offset, .. })) => {
                report.unreadable.push(format!("{}: {e}", path.display()));
                // Everything before the damage decodes on its own, as a clean segment; after
                // it, the first record that decodes again starts the rest.
                let cut = usize::try_from(offset)
                    .unwrap_or(bytes.len())
                    .min(bytes.len());
                let mut records = wal::scan_segment(id, &bytes[..cut], true, None)
                    .map(|s| s.records)
                    .unwrap_or_default();
                records.extend(resync(id, &bytes, cut + 1));
                records
            }
            Err(e) => {
                report.unreadable.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        for record in records.into_iter().filter(|r| r.seq > through_seq) {
            for op in record.ops {
                let (key, deleted) = match op {
                    Op::Put { key, .. } => (key, false),
                    Op::Delete { key } => (key, true),
                };
                report.lost.push(LostWrite {
                    seq: record.seq,
                    key: key.as_str().to_owned(),
                    deleted,
                });
            }
        }
    }
}

/// The records of segment `id` from the first offset at or after `from` where a record of the
/// segment's epoch decodes again: the segment's header is re-made to start there.
fn resync(id: u64, bytes: &[u8], from: usize) -> Vec<wal::Record> {
    let Ok(header) = wal::SegmentHeader::decode(id, bytes) else {
        return Vec::new();
    };
    let epoch = header.epoch.to_le_bytes();
    // Record layout: len u32 | crc u32 | epoch u32 | seq u64 | ... (docs/wal-format.md).
    for start in from..bytes.len().saturating_sub(wal::RECORD_HEADER_BYTES) {
        if bytes.get(start + 8..start + 12) != Some(&epoch[..]) {
            continue;
        }
        let Some(seq) = bytes
            .get(start + 12..start + 20)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
        else {
            continue;
        };
        let head = wal::SegmentHeader {
            first_seq: seq,
            ..header
        }
        .encode();
        let mut copy = head.to_vec();
        copy.extend_from_slice(&bytes[start..]);
        if let Ok(scan) = wal::scan_segment(id, &copy, true, None)
            && !scan.records.is_empty()
        {
            return scan.records;
        }
    }
    Vec::new()
}
