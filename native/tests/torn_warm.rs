//! A power cut before a warm flush's fdatasync may persist the batch's pages in any order
//! (`docs/durability.md`): the page holding the flush marker can reach the disk while an
//! earlier page of the same batch does not. Open must tell that torn final batch (cut, the
//! WAL restores it) from corruption of a batch that had been durable (refused, naming the
//! offset). Disk images are taken from a live store, then damaged as a power cut would.

use std::fs;
use std::path::{Path, PathBuf};

mod common;

use thermocline::{Error, Options, Store, SyncLevel};

fn quiet() -> Options {
    // Write-behind triggers far away: the test decides when batches are flushed. No git
    // tier: a debounced commit landing before the copy would make the batch durable history
    // (that case is corruption, see `bad_input.rs`).
    let mut o = Options::default();
    o.config.write_behind.flush_ops = u64::MAX;
    o.config.write_behind.flush_bytes = u64::MAX;
    o.config.cold = None;
    o
}

/// The warm segment file (there is one in these tests).
fn warm_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = fs::read_dir(dir.join("warm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 1, "{segs:?}");
    segs.pop().unwrap()
}

/// Where each flush marker of a warm segment starts (`docs/warm-format.md`: 32-byte header,
/// then records whose first 4 bytes are their length and whose 9th is their kind, 3 a marker).
fn markers(bytes: &[u8]) -> Vec<usize> {
    let mut pos = 32;
    let mut found = Vec::new();
    while pos + 19 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if bytes[pos + 8] == 3 {
            found.push(pos);
        }
        pos += len;
    }
    assert_eq!(pos, bytes.len(), "whole records");
    found
}

/// Copies a store directory file by file (what the disk holds at this instant). The store is
/// live: a file listed may be gone (a released WAL segment) by the time it is copied.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if let Err(e) = fs::copy(entry.path(), &target) {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
        }
    }
}

fn value(batch: usize, i: usize) -> String {
    format!("batch {batch} value {i} {}", "x".repeat(300))
}

/// A store whose warm segment holds `batches` flushed batches of 40 keys each (every batch
/// rewrites the same keys), all acknowledged at `fsync`, copied as the disk holds it while
/// the store is still open (a crash image: no close, so nothing after the last flush). The
/// copy's warm segment, with where its last batch starts (the previous marker's end) and
/// where its final marker is.
fn image(batches: usize, options: &Options) -> (tempfile::TempDir, PathBuf, usize, usize) {
    let live = tempfile::tempdir().unwrap();
    let store = Store::open(live.path(), options.clone()).unwrap();
    for b in 1..=batches {
        for i in 0..40 {
            store
                .put_with(&format!("k{i:02}"), value(b, i), SyncLevel::Fsync)
                .unwrap();
        }
        store.flush().unwrap();
    }
    // Background work the flush started (releasing WAL segments) done: a stable image.
    store.run_timers().unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(live.path(), copy.path());
    drop(store);
    let seg = warm_segment(copy.path());
    let bytes = fs::read(&seg).unwrap();
    let found = markers(&bytes);
    assert_eq!(found.len(), batches, "one marker per batch");
    let last = *found.last().unwrap();
    assert_eq!(last + 19, bytes.len());
    let start = found.len().checked_sub(2).map_or(32, |i| found[i] + 19);
    (copy, seg, start, last)
}

/// Zeroes the first 4 KiB of the batch starting at `start` (short of the marker at
/// `marker`): its first page never reached the disk, its marker's page did.
fn lose_first_page(seg: &Path, start: usize, marker: usize) {
    let mut bytes = fs::read(seg).unwrap();
    let end = (start + 4096).min(marker);
    assert!(end > start + 100, "the batch spans more than the lost page");
    bytes[start..end].fill(0);
    fs::write(seg, bytes).unwrap();
}

#[test]
fn a_torn_final_batch_whose_writes_the_wal_holds_is_cut_and_replayed() {
    let (copy, seg, start, marker) = image(2, &quiet());
    let len = fs::metadata(&seg).unwrap().len();
    lose_first_page(&seg, start, marker);

    // `check` sees what open will do: a cut, not damage.
    let report = thermocline::check::check(copy.path()).unwrap();
    assert!(report.is_sound(), "{report:?}");
    assert_eq!(
        report.warm_cut.map(|c| c.1),
        Some(start as u64),
        "{report:?}"
    );
    assert_eq!(
        report.warm_cut_damage.as_ref().map(|d| d.0),
        Some(start as u64)
    );

    let store = Store::open(copy.path(), quiet()).expect("a torn final batch is no corruption");
    let report = store.open_report().clone();
    assert_eq!(
        report.warm_cut.map(|(_, offset, bytes)| (offset, bytes)),
        Some((start as u64, len - start as u64)),
        "{report:?}"
    );
    let (at, what) = report.warm_cut_damage.clone().expect("says what was cut");
    assert_eq!(at, start as u64);
    assert!(!what.is_empty());
    assert_eq!(
        report.wal.records_replayed, 40,
        "the batch, from the WAL: {report:?}"
    );
    // Every acknowledged write is there, newest values.
    for i in 0..40 {
        assert_eq!(
            store.get(&format!("k{i:02}")).unwrap().as_deref(),
            Some(value(2, i).as_bytes()),
            "k{i:02}"
        );
    }
    assert_eq!(
        fs::metadata(&seg).unwrap().len(),
        start as u64,
        "cut durably"
    );
    store.close().unwrap();
    let store = Store::open(copy.path(), quiet()).unwrap();
    assert_eq!(store.open_report().warm_cut, None);
    assert_eq!(
        store.get("k07").unwrap().as_deref(),
        Some(value(2, 7).as_bytes())
    );
    store.close().unwrap();
    assert!(thermocline::check::check(copy.path()).unwrap().is_sound());
}

/// The damage is followed by the final marker only, but the WAL no longer holds the batch:
/// it had been durable (the WAL releases segments only after that), so this is corruption.
#[test]
fn the_same_damage_without_the_wal_segments_covering_the_batch_is_corruption() {
    // Small WAL segments: the batch's records span several, released after its flush.
    let mut options = quiet();
    options.config.wal_segment_bytes_max = 4096;
    let (copy, seg, start, marker) = image(2, &options);
    lose_first_page(&seg, start, marker);
    // The released segments, as the WAL deletes them once the flush is durable: all but
    // the newest (which starts after the batch's first record).
    let wal = copy.path().join("wal");
    let mut segments: Vec<PathBuf> = fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let newest = segments.pop().unwrap();
    for s in &segments {
        fs::remove_file(s).unwrap();
    }
    let header = fs::read(&newest).unwrap();
    let id: u64 = common::file_number(&newest);
    let first_seq = thermocline_core::wal::SegmentHeader::decode(id, &header)
        .unwrap()
        .first_seq;
    assert!(
        first_seq > 41,
        "the batch's first records are gone: {first_seq}"
    );

    let report = thermocline::check::check(copy.path()).unwrap();
    assert!(!report.is_sound());
    assert!(
        report.problems[0].contains(&format!("corrupt at offset {start}")),
        "{report:?}"
    );
    let len = fs::metadata(&seg).unwrap().len();
    match Store::open(copy.path(), options.clone()) {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (seg.clone(), start as u64));
        }
        other => panic!("{:?}", other.map(|s| s.open_report().clone())),
    }
    assert_eq!(fs::metadata(&seg).unwrap().len(), len, "nothing cut");

    // And with no WAL segment left at all.
    fs::remove_file(&newest).unwrap();
    match Store::open(copy.path(), options) {
        Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, start as u64),
        other => panic!("{:?}", other.map(|s| s.open_report().clone())),
    }
}

/// Damage followed by two markers: the damaged batch was synced before the next was written,
/// so it is corruption even though the WAL still holds every write.
#[test]
fn damage_followed_by_two_markers_is_corruption() {
    let (copy, seg, _, _) = image(3, &quiet());
    let bytes = fs::read(&seg).unwrap();
    let found = markers(&bytes);
    let start = found[0] + 19;
    lose_first_page(&seg, start, found[1]);
    let report = thermocline::check::check(copy.path()).unwrap();
    assert!(!report.is_sound());
    match Store::open(copy.path(), quiet()) {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (seg, start as u64));
        }
        other => panic!("{:?}", other.map(|s| s.open_report().clone())),
    }
}
