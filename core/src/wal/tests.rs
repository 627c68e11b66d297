//! Tests of the WAL format: round trips, one test per bad-bytes path with its exact typed
//! error, and deterministic pseudo-random truncation and corruption sweeps.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::key::KEY_BYTES_MAX;

const SEG: u64 = 7;
const EPOCH: u32 = 7;

fn key(s: &str) -> Key {
    Key::new(s).expect("valid test key")
}

fn put(k: &str, v: &[u8]) -> Op {
    Op::Put {
        key: key(k),
        value: Value::from(v),
    }
}

fn del(k: &str) -> Op {
    Op::Delete { key: key(k) }
}

/// A segment built with the encoder, and the records a scan of it must return.
struct Built {
    bytes: Vec<u8>,
    records: Vec<Record>,
}

/// Records written one fsync at a time: each record's `durable_seq` is the seq before it.
fn build(first_seq: u64, records: &[Vec<Op>]) -> Built {
    let durable: Vec<u64> = (first_seq..)
        .take(records.len())
        .map(|seq| seq - 1)
        .collect();
    build_with(first_seq, records, &durable)
}

/// Records with the given `durable_seq`s, one per record.
fn build_with(first_seq: u64, records: &[Vec<Op>], durable: &[u64]) -> Built {
    assert_eq!(records.len(), durable.len());
    let header = SegmentHeader {
        segment_id: SEG,
        epoch: EPOCH,
        first_seq,
    };
    let mut bytes = header.encode().to_vec();
    let mut expected = Vec::new();
    for ((seq, ops), &durable_seq) in (first_seq..).zip(records).zip(durable) {
        let offset = bytes.len();
        let n = encode_record(&mut bytes, EPOCH, seq, durable_seq, ops);
        assert_eq!(n, bytes.len() - offset);
        assert_eq!(n, encoded_record_len(ops));
        expected.push(Record {
            seq,
            durable_seq,
            offset: offset as u64,
            len_bytes: n as u64,
            ops: ops.clone(),
        });
    }
    Built {
        bytes,
        records: expected,
    }
}

/// Three ordinary records: seqs 10, 11, 12.
fn three() -> Built {
    build(
        10,
        &[
            vec![put("a", b"one")],
            vec![put("b/c", b"two"), del("a")],
            vec![del("b/c")],
        ],
    )
}

/// A record with a valid checksum and any kind and payload, built without the encoder.
fn raw_record(epoch: u32, seq: u64, durable_seq: u64, kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("test payload fits a u32");
    let mut covered = Vec::new();
    covered.extend_from_slice(&len.to_le_bytes());
    covered.extend_from_slice(&epoch.to_le_bytes());
    covered.extend_from_slice(&seq.to_le_bytes());
    covered.extend_from_slice(&durable_seq.to_le_bytes());
    covered.push(kind);
    covered.extend_from_slice(payload);
    let crc = crc32fast::hash(&covered);
    let mut out = Vec::new();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&durable_seq.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    out
}

/// A header for seq 10 followed by `record`.
fn with_record(record: &[u8]) -> Vec<u8> {
    let header = SegmentHeader {
        segment_id: SEG,
        epoch: EPOCH,
        first_seq: 10,
    };
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(record);
    bytes
}

fn patch(bytes: &mut [u8], at: usize, new: &[u8]) {
    bytes
        .get_mut(at..at + new.len())
        .expect("patch inside the buffer")
        .copy_from_slice(new);
}

fn xor(bytes: &mut [u8], at: usize, mask: u8) {
    *bytes.get_mut(at).expect("xor inside the buffer") ^= mask;
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let field = bytes.get(at..at + 4).expect("field inside the buffer");
    u32::from_le_bytes(field.try_into().expect("four bytes"))
}

fn offset_of(built: &Built, index: usize) -> usize {
    let record = built.records.get(index).expect("record index");
    usize::try_from(record.offset).expect("offset fits")
}

fn scan(bytes: &[u8], is_last: bool) -> Result<SegmentScan, WalError> {
    scan_segment(SEG, bytes, is_last, None)
}

fn scan_ok(bytes: &[u8], is_last: bool) -> SegmentScan {
    scan(bytes, is_last).expect("segment scans")
}

fn corrupt(offset: usize, reason: CorruptReason) -> WalError {
    WalError::Corrupt {
        segment: SEG,
        offset: offset as u64,
        reason,
    }
}

fn prefix(built: &Built, n: usize) -> Vec<Record> {
    built.records.iter().take(n).cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Layout and round trips

#[test]
fn header_layout_and_round_trip() {
    let header = SegmentHeader {
        segment_id: 0x0102_0304_0506_0708,
        epoch: 0xAABB_CCDD,
        first_seq: 42,
    };
    let bytes = header.encode();
    assert_eq!(bytes.len(), SEGMENT_HEADER_BYTES);
    let mut want = Vec::new();
    want.extend_from_slice(b"TCLNWAL\0");
    want.extend_from_slice(&1u16.to_le_bytes());
    want.extend_from_slice(&0u16.to_le_bytes());
    want.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
    want.extend_from_slice(&0xAABB_CCDDu32.to_le_bytes());
    want.extend_from_slice(&42u64.to_le_bytes());
    let crc = crc32fast::hash(&want);
    want.extend_from_slice(&crc.to_le_bytes());
    want.extend_from_slice(&[0; 4]);
    assert_eq!(bytes.to_vec(), want);
    assert_eq!(
        SegmentHeader::decode(0x0102_0304_0506_0708, &bytes),
        Ok(header)
    );
    // Trailing bytes after the header are the decoder's business, not the header's.
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[0xFF; 7]);
    assert_eq!(
        SegmentHeader::decode(0x0102_0304_0506_0708, &longer),
        Ok(header)
    );
}

#[test]
fn record_layout_matches_the_spec() {
    let cases: Vec<(Vec<Op>, u8, Vec<u8>)> = vec![
        (
            vec![put("k/x", b"val")],
            1,
            [&3u16.to_le_bytes()[..], b"k/x", b"val"].concat(),
        ),
        (vec![del("k/x")], 2, b"k/x".to_vec()),
        (
            vec![put("a", b""), del("bc")],
            3,
            [
                &2u32.to_le_bytes()[..],
                &[1],
                &1u16.to_le_bytes(),
                b"a",
                &0u32.to_le_bytes(),
                &[2],
                &2u16.to_le_bytes(),
                b"bc",
            ]
            .concat(),
        ),
        (vec![], 3, 0u32.to_le_bytes().to_vec()),
    ];
    for (ops, kind, payload) in cases {
        let mut out = vec![0xEE; 3]; // encode_record appends
        let (seq, durable) = (0x0A0B_0C0D_0E0F_1011, 0x0102_0304_0506_0708);
        let n = encode_record(&mut out, 0x1234_5678, seq, durable, &ops);
        let want = raw_record(0x1234_5678, seq, durable, kind, &payload);
        assert_eq!(n, want.len(), "{ops:?}");
        assert_eq!(out.get(3..), Some(&want[..]), "{ops:?}");
        assert_eq!(out.get(..3), Some(&[0xEE; 3][..]));
        assert_eq!(encoded_record_len(&ops), n);
    }
    // The header, field by field.
    let mut out = Vec::new();
    encode_record(&mut out, 0x1234_5678, 9, 4, &[del("k")]);
    let mut covered = Vec::new();
    covered.extend_from_slice(&1u32.to_le_bytes());
    covered.extend_from_slice(&0x1234_5678u32.to_le_bytes());
    covered.extend_from_slice(&9u64.to_le_bytes());
    covered.extend_from_slice(&4u64.to_le_bytes());
    covered.push(2);
    covered.push(b'k');
    let crc = crc32fast::hash(&covered);
    let want = [
        &1u32.to_le_bytes()[..],
        &crc.to_le_bytes(),
        &0x1234_5678u32.to_le_bytes(),
        &9u64.to_le_bytes(),
        &4u64.to_le_bytes(),
        &[2],
        b"k",
    ]
    .concat();
    assert_eq!(out, want);
    assert_eq!(RECORD_HEADER_BYTES, 29);
}

#[test]
#[should_panic(expected = "durable_seq 5 is not below its seq 5")]
fn encoder_refuses_durable_seq_not_below_seq() {
    encode_record(&mut Vec::new(), EPOCH, 5, 5, &[del("k")]);
}

#[test]
fn round_trips_every_kind() {
    let long_key = "k".repeat(KEY_BYTES_MAX);
    let big_value: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 251) as u8).collect();
    let records = vec![
        vec![put("a", b"hello")],
        vec![put("empty/value", b"")],
        vec![del("a")],
        vec![put("x", b"1"), del("y"), put("z/w", b"333")],
        vec![],
        vec![put(&long_key, b"v")],
        vec![put("big", &big_value)],
        vec![del(&long_key), put("big", &big_value)],
        vec![put("ünï/cødé", &[0, 1, 2, 255])],
    ];
    let built = build(1000, &records);
    for is_last in [true, false] {
        let got = scan_ok(&built.bytes, is_last);
        assert_eq!(
            got.header,
            SegmentHeader {
                segment_id: SEG,
                epoch: EPOCH,
                first_seq: 1000
            }
        );
        assert_eq!(got.records, built.records);
        assert_eq!(got.valid_bytes, built.bytes.len() as u64);
        assert_eq!(got.tail, Tail::Clean);
    }
    // The kind byte the encoder picked.
    let kinds: Vec<u8> = built
        .records
        .iter()
        .map(|r| *built.bytes.get(r.offset as usize + 28).expect("kind byte"))
        .collect();
    assert_eq!(kinds, vec![1, 1, 2, 3, 3, 1, 1, 3, 1]);
    // With the previous segment's last seq.
    assert!(scan_segment(SEG, &built.bytes, true, Some(999)).is_ok());
}

#[test]
fn empty_segment_is_clean() {
    let built = build(5, &[]);
    let got = scan_ok(&built.bytes, false);
    assert_eq!(got.records, vec![]);
    assert_eq!(got.valid_bytes, SEGMENT_HEADER_BYTES as u64);
    assert_eq!(got.tail, Tail::Clean);
    assert!(scan_segment(SEG, &built.bytes, true, Some(4)).is_ok());
}

#[test]
fn op_key_returns_the_key_of_either_op() {
    assert_eq!(put("p", b"v").key(), &key("p"));
    assert_eq!(del("d").key(), &key("d"));
}

// ---------------------------------------------------------------------------------------------
// Header errors

#[test]
fn truncated_header_is_too_short() {
    let built = three();
    for len in 0..SEGMENT_HEADER_BYTES {
        let bytes = built.bytes.get(..len).expect("prefix");
        for is_last in [true, false] {
            assert_eq!(
                scan(bytes, is_last),
                Err(WalError::TooShort {
                    segment: SEG,
                    len: len as u64
                })
            );
        }
    }
}

#[test]
fn bad_magic() {
    let mut bytes = three().bytes;
    patch(&mut bytes, 0, b"TCLNWAL1");
    assert_eq!(scan(&bytes, true), Err(WalError::BadMagic { segment: SEG }));
    assert_eq!(
        scan(&[0; 64], true),
        Err(WalError::BadMagic { segment: SEG })
    );
}

#[test]
fn unknown_version() {
    let mut bytes = three().bytes;
    patch(&mut bytes, 8, &2u16.to_le_bytes());
    assert_eq!(
        scan(&bytes, true),
        Err(WalError::UnknownVersion {
            segment: SEG,
            found: 2,
            supported: WAL_FORMAT_VERSION
        })
    );
}

#[test]
fn header_checksum() {
    let mut bytes = three().bytes;
    xor(&mut bytes, 24, 0x01); // first_seq
    assert_eq!(
        scan(&bytes, true),
        Err(WalError::HeaderChecksum { segment: SEG })
    );
    let mut bytes = three().bytes;
    xor(&mut bytes, 33, 0x80); // the checksum itself
    assert_eq!(
        scan(&bytes, true),
        Err(WalError::HeaderChecksum { segment: SEG })
    );
}

#[test]
fn nonzero_flags_or_reserved_bytes_are_refused_even_with_a_valid_checksum() {
    let mut bytes = three().bytes;
    patch(&mut bytes, 10, &1u16.to_le_bytes());
    let crc = crc32fast::hash(bytes.get(..32).expect("header body"));
    patch(&mut bytes, 32, &crc.to_le_bytes());
    assert_eq!(
        scan(&bytes, true),
        Err(WalError::HeaderChecksum { segment: SEG })
    );

    let mut bytes = three().bytes;
    patch(&mut bytes, 36, &[0, 0, 1, 0]);
    assert_eq!(
        scan(&bytes, true),
        Err(WalError::HeaderChecksum { segment: SEG })
    );
}

#[test]
fn segment_id_mismatch() {
    let built = three();
    assert_eq!(
        scan_segment(8, &built.bytes, true, None),
        Err(WalError::SegmentIdMismatch {
            segment: 8,
            found: SEG
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Tails and record damage

#[test]
fn torn_write_at_the_tail_is_truncated() {
    let built = three();
    let last = offset_of(&built, 2);
    // Cut inside the last record's payload and inside its header.
    for cut in [
        built.bytes.len() - 1,
        last + RECORD_HEADER_BYTES,
        last + 5,
        last + 1,
    ] {
        let bytes = built.bytes.get(..cut).expect("prefix");
        let got = scan_ok(bytes, true);
        assert_eq!(got.records, prefix(&built, 2));
        assert_eq!(got.valid_bytes, last as u64);
        assert_eq!(
            got.tail,
            Tail::Torn {
                offset: last as u64,
                discarded_bytes: (cut - last) as u64
            }
        );
    }
}

#[test]
fn length_past_end_at_the_tail_vs_mid_log() {
    let built = three();
    let remaining = built.bytes.len() - offset_of(&built, 2);
    // At the tail: the last record claims more than is there.
    let mut bytes = built.bytes.clone();
    let len = u32::try_from(remaining).expect("small");
    patch(&mut bytes, offset_of(&built, 2), &len.to_le_bytes());
    let at = offset_of(&built, 2);
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, prefix(&built, 2));
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: at as u64,
            discarded_bytes: remaining as u64
        }
    );
    assert_eq!(got.valid_bytes, at as u64);
    assert_eq!(
        scan(&bytes, false),
        Err(corrupt(at, CorruptReason::LengthPastEnd { len }))
    );

    // Mid-log: record 1 claims to run past the end, and record 2 is intact after it.
    let mut bytes = built.bytes.clone();
    let at = offset_of(&built, 1);
    patch(&mut bytes, at, &100_000u32.to_le_bytes());
    let want = corrupt(at, CorruptReason::LengthPastEnd { len: 100_000 });
    assert_eq!(scan(&bytes, true), Err(want.clone()));
    assert_eq!(scan(&bytes, false), Err(want));
}

#[test]
fn length_too_large_at_the_tail_vs_mid_log() {
    let built = three();
    let len = RECORD_PAYLOAD_BYTES_MAX + 1;
    let mut bytes = built.bytes.clone();
    let at = offset_of(&built, 2);
    patch(&mut bytes, at, &len.to_le_bytes());
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, prefix(&built, 2));
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: at as u64,
            discarded_bytes: (built.bytes.len() - at) as u64
        }
    );
    assert_eq!(
        scan(&bytes, false),
        Err(corrupt(at, CorruptReason::LengthTooLarge { len }))
    );

    let mut bytes = built.bytes.clone();
    let at = offset_of(&built, 0);
    patch(&mut bytes, at, &u32::MAX.to_le_bytes());
    let want = corrupt(at, CorruptReason::LengthTooLarge { len: u32::MAX });
    assert_eq!(scan(&bytes, true), Err(want));
}

#[test]
fn checksum_mismatch_at_the_tail_is_torn() {
    let built = three();
    let at = offset_of(&built, 2);
    let mut bytes = built.bytes.clone();
    xor(&mut bytes, built.bytes.len() - 1, 0x40);
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, prefix(&built, 2));
    assert_eq!(got.valid_bytes, at as u64);
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: at as u64,
            discarded_bytes: (built.bytes.len() - at) as u64
        }
    );
}

#[test]
fn checksum_mismatch_mid_log_is_corruption_naming_the_offset() {
    let built = three();
    let at = offset_of(&built, 1);
    let end = offset_of(&built, 2);
    let mut bytes = built.bytes.clone();
    xor(&mut bytes, at + RECORD_HEADER_BYTES + 3, 0x01);
    let expected = read_u32(&bytes, at + 4);
    let mut covered = bytes.get(at..at + 4).expect("len").to_vec();
    covered.extend_from_slice(bytes.get(at + 8..end).expect("rest"));
    let found = crc32fast::hash(&covered);
    assert_ne!(expected, found);
    let want = corrupt(at, CorruptReason::ChecksumMismatch { expected, found });
    assert_eq!(scan(&bytes, true), Err(want.clone()));
    assert_eq!(scan(&bytes, false), Err(want));
}

#[test]
fn damage_in_an_older_segment_is_always_corruption() {
    let built = three();
    let at = offset_of(&built, 2);
    let mut bytes = built.bytes.clone();
    xor(&mut bytes, built.bytes.len() - 1, 0x40);
    assert!(matches!(
        scan(&bytes, false),
        Err(WalError::Corrupt { segment: SEG, offset, reason: CorruptReason::ChecksumMismatch { .. } })
            if offset == at as u64
    ));
    // And a truncated one.
    let bytes = built.bytes.get(..built.bytes.len() - 1).expect("prefix");
    let len = read_u32(&built.bytes, at);
    assert_eq!(
        scan(bytes, false),
        Err(corrupt(at, CorruptReason::LengthPastEnd { len }))
    );
}

#[test]
fn non_last_segment_with_garbage_tail_is_corrupt() {
    let built = three();
    let end = built.bytes.len();
    let garbage: Vec<u8> = (0u8..100)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let mut bytes = built.bytes.clone();
    bytes.extend_from_slice(&garbage);
    let len = read_u32(&bytes, end);
    assert!(len > RECORD_PAYLOAD_BYTES_MAX || len as usize > garbage.len() - RECORD_HEADER_BYTES);
    assert!(matches!(
        scan(&bytes, false),
        Err(WalError::Corrupt { segment: SEG, offset, .. }) if offset == end as u64
    ));
    // The same bytes in the last segment are a torn tail.
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, built.records);
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: end as u64,
            discarded_bytes: 100
        }
    );
}

#[test]
fn short_garbage_tail() {
    let built = three();
    let end = built.bytes.len();
    let mut bytes = built.bytes.clone();
    bytes.extend_from_slice(&[0, 0, 9, 0, 0]);
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, built.records);
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: end as u64,
            discarded_bytes: 5
        }
    );
    assert_eq!(
        scan(&bytes, false),
        Err(corrupt(
            end,
            CorruptReason::BadPayload {
                what: "incomplete record header"
            }
        ))
    );
}

#[test]
fn zero_length_field_with_nonzero_bytes_after_it() {
    let built = three();
    let end = built.bytes.len();
    let mut bytes = built.bytes.clone();
    bytes.extend_from_slice(&[0; 30]);
    xor(&mut bytes, end + 25, 0xFF);
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, built.records);
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: end as u64,
            discarded_bytes: 30
        }
    );
    let want = corrupt(
        end,
        CorruptReason::BadPayload {
            what: "record length is zero",
        },
    );
    assert_eq!(scan(&bytes, false), Err(want.clone()));

    // A zeroed length mid-log, with a valid record after it, is corruption even at the tail.
    let mut bytes = built.bytes.clone();
    let at = offset_of(&built, 1);
    patch(&mut bytes, at, &[0; 4]);
    assert_eq!(
        scan(&bytes, true),
        Err(corrupt(
            at,
            CorruptReason::BadPayload {
                what: "record length is zero"
            }
        ))
    );
}

#[test]
fn zero_fill() {
    let built = three();
    let end = built.bytes.len();
    for zeros in [1, RECORD_HEADER_BYTES - 1, RECORD_HEADER_BYTES, 4096] {
        let mut bytes = built.bytes.clone();
        bytes.resize(end + zeros, 0);
        for is_last in [true, false] {
            let got = scan_ok(&bytes, is_last);
            assert_eq!(got.records, built.records);
            assert_eq!(got.valid_bytes, end as u64);
            assert_eq!(got.tail, Tail::ZeroFill { offset: end as u64 });
        }
    }
    // A preallocated segment with no records yet.
    let mut bytes = build(1, &[]).bytes;
    bytes.resize(1 << 16, 0);
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, vec![]);
    assert_eq!(
        got.tail,
        Tail::ZeroFill {
            offset: SEGMENT_HEADER_BYTES as u64
        }
    );
}

#[test]
fn stale_epoch_ends_the_data() {
    let built = three();
    let end = built.bytes.len();
    let mut bytes = built.bytes.clone();
    // A leftover from an older use of the file: right seq even, wrong epoch.
    encode_record(&mut bytes, EPOCH - 4, 13, 12, &[put("old", b"data")]);
    encode_record(&mut bytes, EPOCH - 4, 14, 13, &[del("old")]);
    bytes.extend_from_slice(&[0xAB; 10]);
    for is_last in [true, false] {
        let got = scan_ok(&bytes, is_last);
        assert_eq!(got.records, built.records);
        assert_eq!(got.valid_bytes, end as u64);
        assert_eq!(
            got.tail,
            Tail::Stale {
                offset: end as u64,
                discarded_bytes: (bytes.len() - end) as u64
            }
        );
    }
}

#[test]
fn recycled_file_with_an_unaligned_leftover_is_torn_in_the_last_segment() {
    // The file's previous use: epoch 3, one long record.
    let old = SegmentHeader {
        segment_id: SEG,
        epoch: 3,
        first_seq: 1,
    };
    let mut bytes = old.encode().to_vec();
    encode_record(&mut bytes, 3, 1, 0, &[put("old", &[0x5A; 500])]);
    // The new use overwrites the start with shorter records.
    let built = three();
    patch(&mut bytes, 0, &built.bytes);
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, built.records);
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: built.bytes.len() as u64,
            discarded_bytes: (bytes.len() - built.bytes.len()) as u64
        }
    );
}

#[test]
fn sequence_gap() {
    let mut bytes = build(5, &[vec![put("a", b"1")], vec![put("a", b"2")]]).bytes;
    let at = bytes.len();
    encode_record(&mut bytes, EPOCH, 8, 6, &[put("a", b"3")]);
    let want = WalError::SequenceGap {
        segment: SEG,
        offset: at as u64,
        expected: 7,
        found: 8,
    };
    assert_eq!(scan(&bytes, true), Err(want.clone()));
    assert_eq!(scan(&bytes, false), Err(want));

    // A repeated seq is a gap too.
    let mut bytes = build(5, &[vec![put("a", b"1")]]).bytes;
    let at = bytes.len();
    encode_record(&mut bytes, EPOCH, 5, 4, &[put("a", b"2")]);
    assert_eq!(
        scan(&bytes, true),
        Err(WalError::SequenceGap {
            segment: SEG,
            offset: at as u64,
            expected: 6,
            found: 5
        })
    );

    // The first record must carry the header's first_seq.
    let mut bytes = build(5, &[]).bytes;
    encode_record(&mut bytes, EPOCH, 6, 5, &[del("a")]);
    assert_eq!(
        scan(&bytes, true),
        Err(WalError::SequenceGap {
            segment: SEG,
            offset: SEGMENT_HEADER_BYTES as u64,
            expected: 5,
            found: 6
        })
    );
}

#[test]
fn prev_seq_mismatch() {
    let built = three(); // first_seq 10
    assert!(scan_segment(SEG, &built.bytes, true, Some(9)).is_ok());
    for prev in [8, 10, 0, u64::MAX] {
        assert_eq!(
            scan_segment(SEG, &built.bytes, false, Some(prev)),
            Err(WalError::SequenceGap {
                segment: SEG,
                offset: 0,
                expected: prev.saturating_add(1),
                found: 10
            }),
            "prev {prev}"
        );
    }
}

#[test]
fn unknown_kind_is_corruption_never_a_tail() {
    for kind in [0, 4, 0xFF] {
        let bytes = with_record(&raw_record(EPOCH, 10, 9, kind, b"key"));
        for is_last in [true, false] {
            assert_eq!(
                scan(&bytes, is_last),
                Err(corrupt(
                    SEGMENT_HEADER_BYTES,
                    CorruptReason::UnknownKind { kind }
                ))
            );
        }
    }
}

fn bad_payload(kind: u8, payload: &[u8]) -> Result<SegmentScan, WalError> {
    scan(&with_record(&raw_record(EPOCH, 10, 9, kind, payload)), true)
}

fn bad(what: &'static str) -> Result<SegmentScan, WalError> {
    Err(corrupt(
        SEGMENT_HEADER_BYTES,
        CorruptReason::BadPayload { what },
    ))
}

fn invalid_key(e: KeyError) -> Result<SegmentScan, WalError> {
    Err(corrupt(SEGMENT_HEADER_BYTES, CorruptReason::InvalidKey(e)))
}

#[test]
fn batch_with_trailing_garbage() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&1u32.to_le_bytes());
    payload.extend_from_slice(&[2, 1, 0, b'a']);
    payload.push(0);
    assert_eq!(
        bad_payload(3, &payload),
        bad("batch has trailing bytes after its last op")
    );
    // An empty batch with a stray byte.
    assert_eq!(
        bad_payload(3, &[0, 0, 0, 0, 7]),
        bad("batch has trailing bytes after its last op")
    );
}

#[test]
fn batch_op_count_too_large() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&u32::MAX.to_le_bytes());
    payload.extend_from_slice(&[2, 1, 0, b'a']);
    assert_eq!(
        bad_payload(3, &payload),
        bad("batch op count is larger than its payload can hold")
    );
    // A count the bytes could hold, but the ops run out.
    let mut payload = Vec::new();
    payload.extend_from_slice(&2u32.to_le_bytes());
    payload.extend_from_slice(&[1, 1, 0, b'a', 0, 0, 0, 0]);
    assert_eq!(
        bad_payload(3, &payload),
        bad("batch payload ends inside an op")
    );
}

#[test]
fn malformed_payloads() {
    assert_eq!(
        bad_payload(1, &[3]),
        bad("payload ends inside a key length")
    );
    assert_eq!(
        bad_payload(1, &[9, 0, b'a']),
        bad("key length runs past the end of the payload")
    );
    assert_eq!(
        bad_payload(3, &[1, 0]),
        bad("batch payload too short for its op count")
    );
    assert_eq!(
        bad_payload(3, &[1, 0, 0, 0, 9, 1, 0, b'a']),
        bad("unknown op kind in batch")
    );
    assert_eq!(
        bad_payload(3, &[1, 0, 0, 0, 1, 1, 0, b'a', 9, 0, 0, 0, 1]),
        bad("value length runs past the end of the payload")
    );
    assert_eq!(
        bad_payload(3, &[1, 0, 0, 0, 1, 1, 0, b'a', 0]),
        bad("batch payload ends inside an op")
    );
    // Malformed but checksum-valid is corruption in the last segment too, never a tail.
    let bytes = with_record(&raw_record(EPOCH, 10, 9, 1, &[3]));
    assert!(scan(&bytes, true).is_err());
}

#[test]
fn invalid_keys() {
    let dotdot = KeyError::ReservedSegment {
        segment: "..",
        offset: 2,
    };
    // Put, delete and batch, with a key the validator refuses.
    assert_eq!(
        bad_payload(1, b"\x06\x00a/../bvalue"),
        invalid_key(dotdot.clone())
    );
    assert_eq!(bad_payload(2, b"a/../b"), invalid_key(dotdot.clone()));
    assert_eq!(
        bad_payload(3, b"\x01\x00\x00\x00\x02\x06\x00a/../b"),
        invalid_key(dotdot)
    );
    // Not UTF-8.
    assert_eq!(
        bad_payload(2, b"a\xffb"),
        invalid_key(KeyError::NotUtf8 { offset: 1 })
    );
    assert_eq!(
        bad_payload(1, b"\x03\x00a\xffbv"),
        invalid_key(KeyError::NotUtf8 { offset: 1 })
    );
    // Empty, too long, control characters.
    assert_eq!(
        bad_payload(1, b"\x00\x00value"),
        invalid_key(KeyError::Empty)
    );
    let long = vec![b'k'; KEY_BYTES_MAX + 1];
    assert_eq!(
        bad_payload(2, &long),
        invalid_key(KeyError::TooLong {
            len: KEY_BYTES_MAX + 1,
            max: KEY_BYTES_MAX
        })
    );
    assert_eq!(
        bad_payload(2, b"a\nb"),
        invalid_key(KeyError::Control {
            code: 10,
            offset: 1
        })
    );
}

#[test]
fn error_messages_name_segment_and_offset() {
    let cases: Vec<(WalError, &str)> = vec![
        (
            WalError::Corrupt {
                segment: 3,
                offset: 4096,
                reason: CorruptReason::ChecksumMismatch {
                    expected: 0xABCD,
                    found: 0x1234_5678,
                },
            },
            "wal segment 3 is corrupt at offset 4096: checksum mismatch (expected 0x0000abcd, found 0x12345678)",
        ),
        (
            WalError::Corrupt {
                segment: 3,
                offset: 40,
                reason: CorruptReason::InvalidKey(KeyError::Empty),
            },
            "wal segment 3 is corrupt at offset 40: invalid key: empty",
        ),
        (
            WalError::Corrupt {
                segment: 1,
                offset: 61,
                reason: CorruptReason::UnknownKind { kind: 9 },
            },
            "wal segment 1 is corrupt at offset 61: unknown record kind 9",
        ),
        (
            WalError::Corrupt {
                segment: 1,
                offset: 61,
                reason: CorruptReason::LengthPastEnd { len: 77 },
            },
            "wal segment 1 is corrupt at offset 61: record length 77 runs past the end of the segment",
        ),
        (
            WalError::Corrupt {
                segment: 1,
                offset: 61,
                reason: CorruptReason::LengthTooLarge { len: u32::MAX },
            },
            "wal segment 1 is corrupt at offset 61: record length 4294967295 is larger than the limit of 1073741824",
        ),
        (
            WalError::Corrupt {
                segment: 1,
                offset: 61,
                reason: CorruptReason::BadPayload {
                    what: "batch payload ends inside an op",
                },
            },
            "wal segment 1 is corrupt at offset 61: batch payload ends inside an op",
        ),
        (
            WalError::SequenceGap {
                segment: 2,
                offset: 80,
                expected: 7,
                found: 9,
            },
            "wal segment 2 has a sequence gap at offset 80: expected seq 7, found 9",
        ),
        (
            WalError::TooShort { segment: 2, len: 5 },
            "wal segment 2 is too short: 5 bytes is less than the 40-byte header",
        ),
        (
            WalError::SegmentIdMismatch {
                segment: 2,
                found: 3,
            },
            "wal segment 2 has a header naming segment 3 at offset 12",
        ),
        (
            WalError::UnknownVersion {
                segment: 2,
                found: 9,
                supported: 1,
            },
            "wal segment 2 has unknown format version 9 at offset 8 (this build reads version 1)",
        ),
    ];
    for (error, want) in cases {
        assert_eq!(error.to_string(), want);
    }
    // Every message: lowercase start, no trailing period.
    for error in [
        WalError::BadMagic { segment: 1 },
        WalError::HeaderChecksum { segment: 1 },
    ] {
        let text = error.to_string();
        assert!(text.starts_with("wal segment 1 "), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// The resync scan

#[test]
fn resync_ignores_records_of_other_epochs_and_earlier_seqs() {
    // Damage at the tail followed by checksum-valid records that are not successors: one of
    // an older epoch, one of this epoch with an old seq. Neither makes the tail corruption.
    let built = three();
    let end = built.bytes.len();
    let mut bytes = built.bytes.clone();
    bytes.extend_from_slice(&[0xEE; 5]); // a torn header
    encode_record(&mut bytes, EPOCH + 1, 13, 13 - 1, &[put("x", b"y")]);
    encode_record(&mut bytes, EPOCH, 12, 12 - 1, &[put("x", b"y")]);
    let torn = Tail::Torn {
        offset: end as u64,
        discarded_bytes: (bytes.len() - end) as u64,
    };
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, built.records);
    assert_eq!(got.tail, torn);

    // A successor (seq 14: record 13 was lost in the damage) written before record 13 was
    // known durable proves nothing: still a torn tail.
    let mut with_successor = bytes.clone();
    encode_record(&mut with_successor, EPOCH, 14, 12, &[put("x", b"y")]);
    let got = scan_ok(&with_successor, true);
    assert_eq!(got.records, built.records);
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: end as u64,
            discarded_bytes: (with_successor.len() - end) as u64,
        }
    );

    // One written after record 13 was fsynced makes it corruption.
    let mut with_witness = bytes.clone();
    encode_record(&mut with_witness, EPOCH, 14, 13, &[put("x", b"y")]);
    assert!(matches!(
        scan(&with_witness, true),
        Err(WalError::Corrupt { offset, .. }) if offset == end as u64
    ));
}

/// Seqs 1 to 5, all appended before any fsync completed (`durable_seq` 0), except that the
/// last one carries `last_durable`; record 3 (index 2) has a damaged payload byte.
fn unsynced_five_with_record_3_damaged(last_durable: u64) -> (Built, Vec<u8>) {
    let records: Vec<Vec<Op>> = (1..=5u8).map(|i| vec![put("k", &[i; 8])]).collect();
    let built = build_with(1, &records, &[0, 0, 0, 0, last_durable]);
    let mut bytes = built.bytes.clone();
    xor(
        &mut bytes,
        offset_of(&built, 2) + RECORD_HEADER_BYTES + 4,
        0x10,
    );
    (built, bytes)
}

#[test]
fn unsynced_records_persisted_out_of_order_are_a_torn_tail() {
    // Power loss after a group commit's write but before its fsync: the OS persisted record 5
    // but not all of record 3. None of them was ever durable, so recovery truncates at record 3.
    for last_durable in [0, 2] {
        let (built, bytes) = unsynced_five_with_record_3_damaged(last_durable);
        let at = offset_of(&built, 2);
        let got = scan_ok(&bytes, true);
        assert_eq!(got.records, prefix(&built, 2), "durable {last_durable}");
        assert_eq!(got.valid_bytes, at as u64);
        assert_eq!(
            got.tail,
            Tail::Torn {
                offset: at as u64,
                discarded_bytes: (bytes.len() - at) as u64
            }
        );
        // An older segment was fsynced whole: the same bytes there are corruption.
        assert!(matches!(
            scan(&bytes, false),
            Err(WalError::Corrupt { offset, reason: CorruptReason::ChecksumMismatch { .. }, .. })
                if offset == at as u64
        ));
    }

    // Records 3 and 4 lost entirely (their pages never written: zeros), record 5 on disk.
    let (built, _) = unsynced_five_with_record_3_damaged(0);
    let at = offset_of(&built, 2);
    let mut bytes = built.bytes.clone();
    let hole = offset_of(&built, 4) - at;
    patch(&mut bytes, at, &vec![0; hole]);
    let got = scan_ok(&bytes, true);
    assert_eq!(got.records, prefix(&built, 2));
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: at as u64,
            discarded_bytes: (bytes.len() - at) as u64
        }
    );
    assert_eq!(
        scan(&bytes, false),
        Err(corrupt(
            at,
            CorruptReason::BadPayload {
                what: "record length is zero"
            }
        ))
    );
}

#[test]
fn damage_below_a_later_records_durable_seq_is_corruption() {
    // Record 5 was appended after an fsync covering records 1 to 4 (or just 1 to 3)
    // completed: record 3 was durable, so its damage is corruption, in the last segment too.
    for last_durable in [4, 3] {
        let (built, bytes) = unsynced_five_with_record_3_damaged(last_durable);
        let at = offset_of(&built, 2);
        let end = offset_of(&built, 3);
        let expected = read_u32(&bytes, at + 4);
        let mut covered = bytes.get(at..at + 4).expect("len").to_vec();
        covered.extend_from_slice(bytes.get(at + 8..end).expect("rest"));
        let found = crc32fast::hash(&covered);
        let want = corrupt(at, CorruptReason::ChecksumMismatch { expected, found });
        assert_eq!(
            scan(&bytes, true),
            Err(want.clone()),
            "durable {last_durable}"
        );
        assert_eq!(scan(&bytes, false), Err(want));
    }
}

#[test]
fn durable_seq_must_be_below_seq() {
    let want = bad("durable_seq not below seq");
    for durable in [10, 11, u64::MAX] {
        let bytes = with_record(&raw_record(EPOCH, 10, durable, 2, b"k"));
        for is_last in [true, false] {
            assert_eq!(scan(&bytes, is_last), want, "durable {durable}");
        }
    }
    // After a good record too, and in preference to a payload error.
    let mut bytes = with_record(&raw_record(EPOCH, 10, 9, 2, b"k"));
    let at = bytes.len();
    bytes.extend_from_slice(&raw_record(EPOCH, 11, 11, 0xFF, b"k"));
    assert_eq!(
        scan(&bytes, true),
        Err(corrupt(
            at,
            CorruptReason::BadPayload {
                what: "durable_seq not below seq"
            }
        ))
    );
    // Anything below is fine, including 0 and seqs of earlier segments.
    for durable in [0, 3, 9] {
        let bytes = with_record(&raw_record(EPOCH, 10, durable, 2, b"k"));
        let got = scan_ok(&bytes, true);
        assert_eq!(got.records.len(), 1);
        assert_eq!(got.records.first().map(|r| r.durable_seq), Some(durable));
    }
}

#[test]
fn resync_budget_bounds_crafted_input() {
    // A value full of fake headers of this epoch, a plausible seq and a durable_seq that would
    // make a witness, each claiming a long payload with a wrong checksum. Checking them all
    // would cost time quadratic in the value size; the budget runs out and the damage is
    // reported as corruption instead.
    let crafted = |durable: u64| {
        let mut value = Vec::new();
        while value.len() < 256 * 1024 {
            // Long, but short enough to fit inside the value.
            let len =
                u32::try_from((256 * 1024 - value.len()).saturating_sub(2 * RECORD_HEADER_BYTES))
                    .expect("small");
            value.extend_from_slice(&len.to_le_bytes());
            value.extend_from_slice(&0u32.to_le_bytes());
            value.extend_from_slice(&EPOCH.to_le_bytes());
            value.extend_from_slice(&12u64.to_le_bytes());
            value.extend_from_slice(&durable.to_le_bytes());
            value.push(1);
        }
        let built = build(10, &[vec![put("a", b"1")], vec![put("v", &value)]]);
        let at = offset_of(&built, 1);
        let mut bytes = built.bytes.clone();
        xor(&mut bytes, at + 4, 0x01); // record 11's checksum
        (bytes, at)
    };
    let (bytes, at) = crafted(11);
    assert!(matches!(
        scan(&bytes, true),
        Err(WalError::Corrupt { offset, reason: CorruptReason::ChecksumMismatch { .. }, .. })
            if offset == at as u64
    ));
    // Fake headers that could not witness record 11 cost no checksum: a torn tail.
    let (bytes, at) = crafted(10);
    let got = scan_ok(&bytes, true);
    assert_eq!(
        got.tail,
        Tail::Torn {
            offset: at as u64,
            discarded_bytes: (bytes.len() - at) as u64
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Deterministic pseudo-random sweeps

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn byte_nonzero(&mut self) -> u8 {
        (self.below(255) + 1) as u8
    }

    fn key(&mut self) -> Key {
        const CHARS: &[u8] = b"abcxyz019-_.";
        let mut s = String::new();
        for segment in 0..=self.below(3) {
            if segment > 0 {
                s.push('/');
            }
            // A leading letter keeps "." and ".." segments out.
            s.push('k');
            for _ in 0..self.below(6) {
                let c = CHARS
                    .get(self.below(CHARS.len() as u64) as usize)
                    .copied()
                    .unwrap_or(b'k');
                s.push(char::from(c));
            }
        }
        key(&s)
    }

    fn value(&mut self) -> Value {
        let len = if self.below(8) == 0 {
            self.below(600)
        } else {
            self.below(24)
        };
        (0..len)
            .map(|_| self.next() as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    fn op(&mut self) -> Op {
        if self.below(3) == 0 {
            Op::Delete { key: self.key() }
        } else {
            Op::Put {
                key: self.key(),
                value: self.value(),
            }
        }
    }

    fn records(&mut self, n: usize) -> Vec<Vec<Op>> {
        (0..n)
            .map(|_| match self.below(4) {
                0 => (0..self.below(4)).map(|_| self.op()).collect(),
                _ => vec![self.op()],
            })
            .collect()
    }

    /// `durable_seq`s for `n` records from `first_seq` as a group-committing writer would
    /// write them: everything before the segment is durable, and before each append an fsync
    /// sometimes completes, covering some of the records appended so far.
    fn durable_seqs(&mut self, first_seq: u64, n: usize) -> Vec<u64> {
        let mut synced = first_seq - 1;
        (first_seq..)
            .take(n)
            .map(|seq| {
                if self.below(3) == 0 {
                    synced += self.below(seq - synced);
                }
                synced
            })
            .collect()
    }

    /// A segment of `n` random records from a random first seq, with group-commit
    /// `durable_seq`s.
    fn segment(&mut self, n: usize, first_seq_below: u64) -> Built {
        let records = self.records(n);
        let first_seq = 1 + self.below(first_seq_below);
        let durable = self.durable_seqs(first_seq, n);
        build_with(first_seq, &records, &durable)
    }
}

/// Checks a scan of `bytes`: `built`'s bytes with the records whose index is in `damaged`
/// damaged (each so that it no longer checks out), and the others intact.
///
/// Let `k` be the first damaged record. Zeros from its start to the end are a zero fill. Else,
/// in the last segment, the damage is a torn tail unless an intact later record carries a
/// `durable_seq` of at least record `k`'s seq (then record `k` was durable: corruption); in an
/// older segment it is always corruption.
fn check_damage(
    built: &Built,
    bytes: &[u8],
    damaged: &[usize],
    is_last: bool,
    context: &dyn core::fmt::Debug,
) {
    let k = *damaged.iter().min().expect("something is damaged");
    let at = offset_of(built, k);
    let seq = built.records.get(k).expect("record").seq;
    let result = scan(bytes, is_last);
    let rest = bytes.get(at..).expect("inside");
    let witnessed = built
        .records
        .iter()
        .enumerate()
        .skip(k + 1)
        .any(|(j, r)| !damaged.contains(&j) && r.durable_seq >= seq);
    if rest.iter().all(|&b| b == 0) || (is_last && !witnessed) {
        assert!(result.is_ok(), "{context:?}: {result:?}");
        let got = result.expect("checked just above");
        assert_eq!(got.records, prefix(built, k), "{context:?}");
        assert_eq!(got.valid_bytes, at as u64, "{context:?}");
        let tail = if rest.iter().all(|&b| b == 0) {
            Tail::ZeroFill { offset: at as u64 }
        } else {
            Tail::Torn {
                offset: at as u64,
                discarded_bytes: rest.len() as u64,
            }
        };
        assert_eq!(got.tail, tail, "{context:?}");
    } else {
        assert!(
            matches!(&result, Err(WalError::Corrupt { segment: SEG, offset, .. })
                if *offset == at as u64),
            "{context:?}: {result:?}"
        );
    }
}

const SEEDS: [u64; 4] = [0x9E37_79B9_7F4A_7C15, 1, 0xDEAD_BEEF, 0x0123_4567_89AB_CDEF];

#[test]
fn truncation_at_every_offset_leaves_a_prefix() {
    for seed in SEEDS {
        let mut rng = XorShift(seed);
        let built = rng.segment(12, 1 << 40);
        for cut in 0..=built.bytes.len() {
            let bytes = built.bytes.get(..cut).expect("prefix");
            let result = scan(bytes, true);
            if cut < SEGMENT_HEADER_BYTES {
                assert_eq!(
                    result,
                    Err(WalError::TooShort {
                        segment: SEG,
                        len: cut as u64
                    })
                );
                continue;
            }
            let got = result.expect("a truncated last segment always scans");
            let whole = built
                .records
                .iter()
                .take_while(|r| r.offset + r.len_bytes <= cut as u64);
            let want: Vec<Record> = whole.cloned().collect();
            let end = want
                .last()
                .map_or(SEGMENT_HEADER_BYTES as u64, |r| r.offset + r.len_bytes);
            assert_eq!(got.records, want, "seed {seed:#x} cut {cut}");
            assert_eq!(got.valid_bytes, end, "seed {seed:#x} cut {cut}");
            let tail = if end == cut as u64 {
                Tail::Clean
            } else {
                Tail::Torn {
                    offset: end,
                    discarded_bytes: cut as u64 - end,
                }
            };
            assert_eq!(got.tail, tail, "seed {seed:#x} cut {cut}");
        }
    }
}

#[test]
fn flipping_any_byte_is_detected_where_it_happened() {
    for seed in SEEDS {
        let mut rng = XorShift(seed ^ 0x5555);
        // A writer that fsyncs every record before appending the next (every later record
        // witnesses every earlier one: damage anywhere but in the last record is corruption),
        // and one that commits in groups.
        let records = rng.records(10);
        let first_seq = 1 + rng.below(1 << 40);
        let group = rng.durable_seqs(first_seq, records.len());
        let one_by_one = build(first_seq, &records);
        let grouped = build_with(first_seq, &records, &group);
        for (schedule, built) in [("one by one", &one_by_one), ("grouped", &grouped)] {
            let last = built.records.len() - 1;
            for at in 0..built.bytes.len() {
                let mut bytes = built.bytes.clone();
                xor(&mut bytes, at, rng.byte_nonzero());
                for is_last in [true, false] {
                    let context = (seed, schedule, at, is_last);
                    if at < SEGMENT_HEADER_BYTES {
                        let want = match at {
                            0..8 => WalError::BadMagic { segment: SEG },
                            8..10 => {
                                let found = u16::from_le_bytes([
                                    *bytes.get(8).expect("in header"),
                                    *bytes.get(9).expect("in header"),
                                ]);
                                WalError::UnknownVersion {
                                    segment: SEG,
                                    found,
                                    supported: 1,
                                }
                            }
                            _ => WalError::HeaderChecksum { segment: SEG },
                        };
                        assert_eq!(scan(&bytes, is_last), Err(want), "{context:?}");
                        continue;
                    }
                    // The record the flipped byte belongs to.
                    let k = built
                        .records
                        .iter()
                        .position(|r| (at as u64) < r.offset + r.len_bytes)
                        .expect("every byte after the header belongs to a record");
                    if schedule == "one by one" && (k < last || !is_last) {
                        assert!(
                            matches!(scan(&bytes, is_last), Err(WalError::Corrupt { .. })),
                            "{context:?}"
                        );
                    }
                    check_damage(built, &bytes, &[k], is_last, &context);
                }
            }
        }
    }
}

#[test]
fn unsynced_records_lost_in_any_pattern_are_a_torn_tail() {
    // A crash while records after the last completed fsync were unsynced: the OS may have
    // persisted any subset of their pages. Whichever of them are lost or torn, the result is a
    // torn tail at the first one (or a zero fill), never corruption; and damage to an earlier
    // record is corruption exactly when an intact later record witnesses it.
    let (mut out_of_order, mut witnessed) = (0, 0);
    for seed in SEEDS {
        let mut rng = XorShift(seed.rotate_left(29));
        for _ in 0..60 {
            let built = rng.segment(12, 1 << 20);
            let first = built.records.first().expect("records").seq;
            let last_durable = built.records.last().expect("records").durable_seq;
            // The last fsync to complete covered up to some seq at or after the last
            // durable_seq written; the records after it were unsynced.
            let synced = last_durable + rng.below(first + 12 - last_durable);
            let unsynced: Vec<usize> = (0..built.records.len())
                .filter(|&i| built.records.get(i).is_some_and(|r| r.seq > synced))
                .collect();
            // Damage some of the unsynced records, and sometimes one durable record too.
            let mut damaged: Vec<usize> = unsynced
                .iter()
                .copied()
                .filter(|_| rng.below(2) == 0)
                .collect();
            if rng.below(4) == 0 || damaged.is_empty() {
                damaged.push(rng.below(built.records.len() as u64) as usize);
            }
            damaged.sort_unstable();
            damaged.dedup();
            let mut bytes = built.bytes.clone();
            for &i in &damaged {
                let r = built.records.get(i).expect("record");
                let (start, end) = (r.offset as usize, (r.offset + r.len_bytes) as usize);
                if rng.below(2) == 0 {
                    // A page that never reached the disk.
                    patch(&mut bytes, start, &vec![0; end - start]);
                } else {
                    // A torn sector: a burst of changed bytes.
                    let from = start + rng.below((end - start) as u64) as usize;
                    let to = (from + 1 + rng.below(64) as usize).min(end);
                    for j in from..to {
                        xor(&mut bytes, j, rng.byte_nonzero());
                    }
                }
            }
            for is_last in [true, false] {
                let context = (seed, synced, &damaged, is_last);
                check_damage(&built, &bytes, &damaged, is_last, &context);
            }
            // The case this is about, stated directly: damage that starts in the unsynced
            // records never stops recovery, whatever survived after it.
            let k = damaged.first().copied().expect("something is damaged");
            let result = scan(&bytes, true);
            if unsynced.contains(&k) {
                assert!(result.is_ok(), "{seed:#x} {synced} {damaged:?}: {result:?}");
                let intact_after = (k + 1..built.records.len()).any(|j| !damaged.contains(&j));
                if intact_after {
                    out_of_order += 1;
                }
            } else if result.is_err() {
                witnessed += 1;
            }
        }
    }
    // Both outcomes were exercised.
    assert!(out_of_order > 20, "{out_of_order}");
    assert!(witnessed > 20, "{witnessed}");
}

#[test]
fn random_damage_never_panics_and_never_invents_records() {
    for seed in SEEDS {
        let mut rng = XorShift(seed.rotate_left(17));
        let built = rng.segment(8, 1000);
        for _ in 0..400 {
            let mut bytes = built.bytes.clone();
            // Overwrite a burst with random bytes, or zeros, or cut and append garbage.
            let at = rng.below(bytes.len() as u64) as usize;
            let burst = 1 + rng.below(64) as usize;
            match rng.below(3) {
                0 => {
                    for i in at..(at + burst).min(bytes.len()) {
                        xor(&mut bytes, i, rng.byte_nonzero());
                    }
                }
                1 => {
                    for i in at..(at + burst).min(bytes.len()) {
                        patch(&mut bytes, i, &[0]);
                    }
                }
                _ => {
                    bytes.truncate(at);
                    bytes.extend((0..burst).map(|_| rng.next() as u8));
                }
            }
            for is_last in [true, false] {
                match scan(&bytes, is_last) {
                    Ok(got) => {
                        assert!(built.records.starts_with(&got.records), "seed {seed:#x}");
                        assert!(got.valid_bytes <= bytes.len() as u64);
                    }
                    Err(
                        WalError::Corrupt { offset, .. } | WalError::SequenceGap { offset, .. },
                    ) => assert!(offset < bytes.len() as u64),
                    Err(_) => assert!(at < SEGMENT_HEADER_BYTES, "header error, damage at {at}"),
                }
            }
        }
    }
}

/// Decodes `bytes` as a host reading it in pieces would: the records available after each cut,
/// then the rest with all bytes. Must equal [`scan_segment`] on the whole.
fn scan_in_pieces(bytes: &[u8], cuts: &[usize], is_last: bool) -> Result<SegmentScan, WalError> {
    let first = cuts
        .first()
        .copied()
        .unwrap_or(bytes.len())
        .min(bytes.len());
    let mut decoder = SegmentDecoder::new(SEG, bytes.get(..first).unwrap_or(bytes), None)?;
    let mut records = Vec::new();
    for &cut in cuts {
        records
            .extend(decoder.decode_available(bytes.get(..cut.min(bytes.len())).unwrap_or(bytes)));
    }
    let mut scan = decoder.finish(bytes, is_last)?;
    records.append(&mut scan.records);
    scan.records = records;
    Ok(scan)
}

#[test]
fn decoding_in_pieces_equals_decoding_the_whole() {
    for seed in SEEDS {
        let mut rng = XorShift(seed.rotate_left(29));
        let built = rng.segment(8, 1000);
        for round in 0..200 {
            let mut bytes = built.bytes.clone();
            // Intact, a torn tail, or damage in the middle.
            let at = SEGMENT_HEADER_BYTES
                + rng.below((bytes.len() - SEGMENT_HEADER_BYTES) as u64) as usize;
            match round % 3 {
                0 => {}
                1 => bytes.truncate(at),
                _ => xor(&mut bytes, at, rng.byte_nonzero()),
            }
            let mut cuts: Vec<usize> = (0..1 + rng.below(6))
                .map(|_| SEGMENT_HEADER_BYTES + rng.below(bytes.len() as u64) as usize)
                .collect();
            cuts.sort_unstable();
            for is_last in [true, false] {
                let whole = scan(&bytes, is_last);
                let pieces = scan_in_pieces(&bytes, &cuts, is_last);
                assert_eq!(whole, pieces, "seed {seed:#x} round {round} cuts {cuts:?}");
            }
        }
        // Every single cut of the intact segment.
        for cut in SEGMENT_HEADER_BYTES..=built.bytes.len() {
            let pieces = scan_in_pieces(&built.bytes, &[cut], true).expect("intact");
            assert_eq!(pieces.records, built.records, "seed {seed:#x} cut {cut}");
            assert_eq!(pieces.tail, Tail::Clean);
        }
    }
}
