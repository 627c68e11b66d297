//! Fuzzing entry points: each takes arbitrary bytes, decodes them the way the store decodes
//! what it reads from disk, and checks what must hold for any input. A panic is a finding.
//! The fuzz targets in `fuzz/` and the regression test `native/tests/fuzz_regressions.rs` call
//! these same functions, so a crash found once is replayed on stable Rust forever.

use thermocline_core::cold::pack_read::{self, PackLimits};
use thermocline_core::cold::{bundle, key_to_path, objects, path_to_key};
use thermocline_core::recovery::WalReplay;
use thermocline_core::wal::{self, SegmentHeader};

use crate::cold::parse;
use crate::warm::{self, format};

/// The names of the targets, as directories under `fuzz/corpus` and `fuzz/regressions`.
pub const TARGETS: [&str; 5] = [
    "wal_segment",
    "warm_segment",
    "git_objects",
    "key_path",
    "wal_replay",
];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "wal_segment" => wal_segment(data),
        "warm_segment" => warm_segment(data),
        "git_objects" => git_objects(data),
        "key_path" => key_path(data),
        "wal_replay" => wal_replay(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// A WAL segment, as the last segment and as an older one, with and without a previous seq.
pub fn wal_segment(data: &[u8]) {
    let _ = SegmentHeader::decode(1, data);
    for is_last in [true, false] {
        if let Ok(scan) = wal::scan_segment(1, data, is_last, None) {
            assert!(scan.valid_bytes <= data.len() as u64);
            let mut prev = None;
            for r in &scan.records {
                assert!(
                    r.offset + r.len_bytes <= scan.valid_bytes,
                    "a record past the valid end"
                );
                assert!(
                    prev.is_none_or(|p| r.seq == p + 1),
                    "records out of sequence"
                );
                prev = Some(r.seq);
            }
        }
    }
}

/// Several WAL segments cut from one input, replayed in order as recovery does.
pub fn wal_replay(data: &[u8]) {
    let mut replay = WalReplay::new(u64::from(data.first().copied().unwrap_or(0)));
    let parts: Vec<&[u8]> = data.split(|&b| b == 0xa5).collect();
    for (i, part) in parts.iter().enumerate() {
        if replay
            .segment(i as u64 + 1, part, i + 1 == parts.len())
            .is_err()
        {
            return;
        }
    }
    let report = replay.finish();
    assert!(report.wal_bytes_scanned <= data.len() as u64);
}

/// A warm segment scanned as open and `check` scan it (`warm::scan_segment`), as the
/// newest segment and as a sealed one. The input's header is replaced by a valid one, so the
/// records behind it are reached whatever the input's first bytes are.
pub fn warm_segment(data: &[u8]) {
    let _ = format::check_header(1, data);
    let mut bytes = format::encode_header(1).to_vec();
    bytes.extend_from_slice(data.get(format::HEADER_BYTES..).unwrap_or_default());
    for newest in [false, true] {
        let mut rec = warm::WarmRecovery::default();
        let Ok(scanned) = warm::scan_segment(1, &bytes, newest, &mut rec) else {
            continue;
        };
        assert!(scanned.committed_end <= bytes.len());
        if let warm::SegmentEnd::Torn(torn) = scanned.end {
            assert!(newest, "a torn batch in a sealed segment");
            assert_eq!(torn.offset + torn.bytes, bytes.len() as u64);
            assert!(torn.offset <= torn.damage_offset);
        }
    }
}

/// Limits for packs read while fuzzing: well inside the allocation bound the fuzz targets
/// check (8 times the input, plus 1 MiB), however far a small input inflates.
const FUZZ_PACK_LIMITS: PackLimits = PackLimits {
    objects_max: 1024,
    object_bytes_max: 64 << 10,
    total_bytes_max: 256 << 10,
    delta_depth_max: 64,
};

/// Trees and commits read back from the cold tier; bundles and packs as a bundle is imported.
pub fn git_objects(data: &[u8]) {
    git_trees_and_commits(data);
    if let Ok(view) = bundle::parse_bundle(data) {
        assert!(!view.refs.is_empty(), "a bundle parsed without refs");
        git_pack(view.pack);
    }
    git_pack(data);
    // A fuzzer cannot forge the trailing SHA-1: sealed with the right one, the bytes reach the
    // entry parser and the delta resolver.
    let mut sealed = Vec::with_capacity(data.len() + 20);
    sealed.extend_from_slice(data);
    sealed.extend_from_slice(&objects::sha1(data));
    git_pack(&sealed);
}

fn git_pack(data: &[u8]) {
    if let Ok(objects) = pack_read::read_pack(data, &FUZZ_PACK_LIMITS) {
        let mut total = 0u64;
        for o in &objects {
            assert_eq!(
                o.oid,
                objects::object_id(o.kind, &o.data),
                "an id that is not its content's"
            );
            assert!(o.data.len() as u64 <= FUZZ_PACK_LIMITS.object_bytes_max);
            total += o.data.len() as u64;
        }
        assert!(total <= FUZZ_PACK_LIMITS.total_bytes_max);
    }
}

fn git_trees_and_commits(data: &[u8]) {
    if let Ok(entries) = parse::tree_entries(data) {
        for e in &entries {
            let found = parse::find_entry(data, &e.name, e.is_tree).ok().flatten();
            assert!(
                found.is_some(),
                "an entry the decoder listed cannot be found"
            );
        }
    }
    let _ = parse::find_entry(data, b"a.v", false);
    if let Ok(c) = parse::commit(data) {
        let _ = parse::through_seq(&c.message);
    }
}

/// The key-to-path mapping: any path it accepts maps back to itself.
pub fn key_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = path_to_key(text) {
        assert_eq!(
            key_to_path(&key),
            text,
            "path_to_key accepted a non-canonical path"
        );
    }
    if let Ok(key) = thermocline_core::Key::new(text) {
        let path = key_to_path(&key);
        assert_eq!(
            path_to_key(&path).as_ref(),
            Ok(&key),
            "the mapping does not invert"
        );
    }
}
