//! One row per class of bad input, each asserting the exact typed error (or, for a torn or
//! stale tail, the exact recovery outcome). Never a panic, never a silent loss.

use std::path::Path;

use thermocline::{Batch, Error, KeyError, Options, Store, SyncLevel};
use thermocline_core::recovery::RecoveryError;
use thermocline_core::wal::{self, CorruptReason, Op, SegmentHeader, WalError};
use thermocline_core::{Key, Value};

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: Key::new(key).unwrap(),
        value: Value::from(value),
    }
}

/// A WAL segment as the store writes it: records with seq `first..`, each after the previous
/// was fsynced (durable_seq = seq - 1).
fn segment(id: u64, first_seq: u64, ops: &[Op]) -> Vec<u8> {
    let mut out = SegmentHeader {
        segment_id: id,
        epoch: id as u32,
        first_seq,
    }
    .encode()
    .to_vec();
    for (i, op) in ops.iter().enumerate() {
        let seq = first_seq + i as u64;
        wal::encode_record(&mut out, id as u32, seq, seq - 1, std::slice::from_ref(op));
    }
    out
}

fn write_wal(dir: &Path, segments: &[(u64, Vec<u8>)]) {
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    for (id, bytes) in segments {
        std::fs::write(dir.join(format!("wal/{id:020}.wal")), bytes).unwrap();
    }
}

fn open(dir: &Path) -> Result<Store, Error> {
    Store::open(dir, Options::default())
}

fn wal_error(dir: &Path) -> WalError {
    match open(dir) {
        Err(Error::Wal(RecoveryError::Wal(e))) => e,
        other => panic!("expected a WAL error, got {other:?}"),
    }
}

fn three_puts() -> Vec<u8> {
    segment(1, 1, &[put("a", "1"), put("b", "2"), put("c", "3")])
}

/// Offset of record `n` (0-based) in `three_puts()`: records are the same size.
fn record_offset(n: usize) -> usize {
    let one = wal::encoded_record_len(&[put("a", "1")]);
    wal::SEGMENT_HEADER_BYTES + n * one
}

fn recrc(bytes: &mut [u8], start: usize, len: usize) {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[start..start + 4]);
    h.update(&bytes[start + 8..start + len]);
    let crc = h.finalize();
    bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn every_class_of_bad_input_gets_its_typed_error() {
    let mut classes = 0;
    let mut class = |name: &str, check: &dyn Fn()| {
        check();
        classes += 1;
        eprintln!("  ok: {name}");
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default().value_bytes_max(64)).unwrap();
    let key_err = |key: &str| match store.put(key, "v") {
        Err(Error::InvalidKey(e)) => e,
        other => panic!("{key:?}: {other:?}"),
    };
    class("empty key", &|| assert_eq!(key_err(""), KeyError::Empty));
    class("key with ..", &|| {
        assert_eq!(
            key_err("a/../b"),
            KeyError::ReservedSegment {
                segment: "..",
                offset: 2
            }
        )
    });
    class("key with .", &|| {
        assert_eq!(
            key_err("./b"),
            KeyError::ReservedSegment {
                segment: ".",
                offset: 0
            }
        )
    });
    class("key with .git", &|| {
        assert_eq!(
            key_err("x/.Git/y"),
            KeyError::ReservedSegment {
                segment: ".git",
                offset: 2
            }
        )
    });
    class("key with NUL", &|| {
        assert_eq!(key_err("a\0"), KeyError::Nul { offset: 1 })
    });
    class("key with a control character", &|| {
        assert_eq!(key_err("a\tb"), KeyError::Control { code: 9, offset: 1 })
    });
    class("key with an empty segment", &|| {
        assert_eq!(key_err("a//b"), KeyError::EmptySegment { offset: 2 })
    });
    class("key too long", &|| {
        assert_eq!(
            key_err(&"k".repeat(1025)),
            KeyError::TooLong {
                len: 1025,
                max: 1024
            }
        )
    });
    class("value too large", &|| {
        assert!(matches!(
            store.put("k", [0u8; 65]),
            Err(Error::ValueTooLarge { len: 65, max: 64 })
        ));
    });
    class("sync level without a remote", &|| {
        assert!(matches!(
            store.sync(SyncLevel::Push),
            Err(Error::LevelUnavailable {
                level: SyncLevel::Push,
                ..
            })
        ));
    });
    class("unknown revision", &|| {
        assert!(matches!(
            store.get_at("k", "no-such-rev"),
            Err(Error::Revision { .. })
        ))
    });
    class("JSON of the wrong shape", &|| {
        store.put("doc", "[1, 2]").unwrap();
        assert!(matches!(
            store.get_json::<std::collections::BTreeMap<String, u32>>("doc"),
            Err(Error::Json { .. })
        ));
    });
    class("store locked", &|| {
        assert!(
            matches!(open(dir.path()), Err(Error::Locked { pid: Some(p), .. }) if p == std::process::id())
        );
    });
    store.close().unwrap();

    class("transaction too large", &|| {
        let d = tempfile::tempdir().unwrap();
        let mut o = Options::default().value_bytes_max(100);
        o.config.batch_bytes_max = 1000;
        let s = Store::open(d.path(), o).unwrap();
        let mut tx = Batch::new();
        for i in 0..20 {
            tx.put(&format!("k{i}"), [0u8; 90]).unwrap();
        }
        assert!(matches!(
            s.commit(tx),
            Err(Error::BatchTooLarge { max: 1000, .. })
        ));
        s.close().unwrap();
    });

    let wal_case = |segments: Vec<(u64, Vec<u8>)>| {
        let d = tempfile::tempdir().unwrap();
        write_wal(d.path(), &segments);
        d
    };
    class("WAL segment shorter than its header", &|| {
        let d = wal_case(vec![(1, three_puts()[..20].to_vec())]);
        assert_eq!(
            wal_error(d.path()),
            WalError::TooShort {
                segment: 1,
                len: 20
            }
        );
    });
    class("WAL segment with a bad magic", &|| {
        let mut s = three_puts();
        s[0] = b'X';
        assert_eq!(
            wal_error(wal_case(vec![(1, s)]).path()),
            WalError::BadMagic { segment: 1 }
        );
    });
    class("WAL segment of an unknown format version", &|| {
        let mut s = three_puts();
        s[8..10].copy_from_slice(&9u16.to_le_bytes());
        assert!(matches!(
            wal_error(wal_case(vec![(1, s)]).path()),
            WalError::UnknownVersion {
                segment: 1,
                found: 9,
                ..
            }
        ));
    });
    class("WAL header checksum", &|| {
        let mut s = three_puts();
        s[24] ^= 1; // inside first_seq
        assert_eq!(
            wal_error(wal_case(vec![(1, s)]).path()),
            WalError::HeaderChecksum { segment: 1 }
        );
    });
    class("WAL segment named for another id", &|| {
        let d = wal_case(vec![(2, three_puts())]);
        assert_eq!(
            wal_error(d.path()),
            WalError::SegmentIdMismatch {
                segment: 2,
                found: 1
            }
        );
    });
    class("WAL length past the end, mid-log", &|| {
        let mut s = three_puts();
        let at = record_offset(0);
        s[at..at + 4].copy_from_slice(&5_000u32.to_le_bytes());
        match wal_error(wal_case(vec![(1, s)]).path()) {
            WalError::Corrupt {
                segment: 1,
                offset,
                reason: CorruptReason::LengthPastEnd { len: 5_000 },
            } => {
                assert_eq!(offset, at as u64);
            }
            other => panic!("{other:?}"),
        }
    });
    class("WAL checksum mismatch mid-log", &|| {
        let mut s = three_puts();
        let at = record_offset(1);
        s[at + 30] ^= 0x10;
        match wal_error(wal_case(vec![(1, s)]).path()) {
            WalError::Corrupt {
                segment: 1,
                offset,
                reason: CorruptReason::ChecksumMismatch { .. },
            } => {
                assert_eq!(offset, at as u64);
            }
            other => panic!("{other:?}"),
        }
    });
    class(
        "WAL checksum mismatch at the tail (torn: cut, not an error)",
        &|| {
            let mut s = three_puts();
            let at = record_offset(2);
            let len = s.len();
            s[len - 1] ^= 0x10;
            let d = wal_case(vec![(1, s)]);
            let store = open(d.path()).unwrap();
            let report = store.open_report().wal.clone();
            assert_eq!(report.torn_tail, Some((1, at as u64, (len - at) as u64)));
            assert_eq!(report.records_replayed, 2);
            assert_eq!(store.get("c").unwrap(), None);
            store.close().unwrap();
        },
    );
    class(
        "WAL record from an older epoch (stale: ends the data)",
        &|| {
            let mut s = three_puts();
            wal::encode_record(&mut s, 7, 4, 3, &[put("stale", "x")]);
            let d = wal_case(vec![(1, s)]);
            let store = open(d.path()).unwrap();
            assert_eq!(store.open_report().wal.records_replayed, 3);
            assert_eq!(store.get("stale").unwrap(), None);
            store.close().unwrap();
        },
    );
    class("WAL sequence gap inside a segment", &|| {
        let mut s = segment(1, 1, &[put("a", "1"), put("b", "2")]);
        wal::encode_record(&mut s, 1, 4, 3, &[put("d", "4")]);
        assert!(matches!(
            wal_error(wal_case(vec![(1, s)]).path()),
            WalError::SequenceGap {
                segment: 1,
                expected: 3,
                found: 4,
                ..
            }
        ));
    });
    class("WAL segment missing between two others", &|| {
        let d = wal_case(vec![
            (1, segment(1, 1, &[put("a", "1")])),
            (3, segment(3, 5, &[put("e", "5")])),
        ]);
        assert!(matches!(
            open(d.path()),
            Err(Error::Wal(RecoveryError::Gap {
                segment: 3,
                expected: 2,
                found: 5
            }))
        ));
    });
    class(
        "WAL record holding an invalid key (checksum-valid)",
        &|| {
            let mut s = segment(1, 1, &[put("ab", "1"), put("c", "2")]);
            let at = record_offset(0);
            let key_at = at + wal::RECORD_HEADER_BYTES + 2;
            s[key_at + 1] = b'/'; // "ab" -> "a/"
            let len = wal::encoded_record_len(&[put("ab", "1")]);
            recrc(&mut s, at, len);
            assert!(matches!(
                wal_error(wal_case(vec![(1, s)]).path()),
                WalError::Corrupt {
                    reason: CorruptReason::InvalidKey(KeyError::EmptySegment { .. }),
                    ..
                }
            ));
        },
    );

    // The warm tier and the cold tier, damaged after a clean session.
    let committed = || {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path(), Options::default()).unwrap();
        s.put("x", "value of x").unwrap();
        s.put("y", "value of y").unwrap();
        s.sync(SyncLevel::Commit).unwrap();
        s.close().unwrap();
        d
    };
    let warm_segment = |d: &Path| d.join("warm/0000000001.seg");
    class("warm record damaged in a committed batch", &|| {
        let d = committed();
        let mut bytes = std::fs::read(warm_segment(d.path())).unwrap();
        bytes[40] ^= 0xff;
        std::fs::write(warm_segment(d.path()), bytes).unwrap();
        match open(d.path()) {
            Err(Error::Corrupt {
                path,
                offset: 32,
                what,
            }) => {
                assert!(
                    path.ends_with("warm/0000000001.seg") && what.contains("checksum"),
                    "{what}"
                );
            }
            other => panic!("{other:?}"),
        }
    });
    class("warm segment of an unknown format version", &|| {
        let d = committed();
        let mut bytes = std::fs::read(warm_segment(d.path())).unwrap();
        bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
        let crc = crc32fast::hash(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(warm_segment(d.path()), bytes).unwrap();
        assert!(
            matches!(open(d.path()), Err(Error::Corrupt { offset: 0, what, .. }) if what.contains("unknown warm format version 2"))
        );
    });
    class("damaged git object", &|| {
        let d = committed();
        let pack_dir = d.path().join("cold.git/objects/pack");
        let pack = std::fs::read_dir(&pack_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "pack"))
            .unwrap();
        let mut bytes = std::fs::read(&pack).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&pack, bytes).unwrap();
        // Whichever object the flip hit, it surfaces as a git error naming it: at open (the
        // tip's tree is listed) or when the damaged value is read.
        match open(d.path()) {
            Err(Error::Git { detail, .. }) => assert!(detail.contains("decompress"), "{detail}"),
            Ok(store) => {
                let reads = [store.get_at("x", "HEAD"), store.get_at("y", "HEAD")];
                assert!(
                    reads.iter().any(|r| matches!(r, Err(Error::Git { .. }))),
                    "{reads:?}"
                );
                store.close().unwrap_or(());
            }
            Err(other) => panic!("{other:?}"),
        }
        let report = thermocline::check::check(d.path()).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("cold.git")),
            "{report:?}"
        );
    });
    class("missing branch ref", &|| {
        let d = committed();
        std::fs::remove_file(d.path().join("cold.git/refs/heads/main")).unwrap();
        let store = open(d.path()).unwrap();
        assert_eq!(
            store.get("x").unwrap().as_deref(),
            Some(&b"value of x"[..]),
            "the warm tier still has it"
        );
        assert!(matches!(
            store.get_at("x", "main"),
            Err(Error::Revision { .. })
        ));
        store.close().unwrap();
    });
    eprintln!("bad-input classes: {classes}, each with its exact typed error");
    assert!(classes >= 20);
}
