//! The record encoder.
//!
//! ```text
//!  0  len          u32  payload length
//!  4  crc          u32  CRC32 (IEEE) of bytes 0..4, then 8..29, then the payload
//!  8  epoch        u32  the segment header's epoch
//! 12  seq          u64
//! 20  durable_seq  u64  the highest seq known durable when the record was appended; < seq
//! 28  kind         u8   1 put, 2 delete, 3 batch
//! 29  payload
//! ```

use alloc::vec::Vec;

use super::{
    KIND_BATCH, KIND_DELETE, KIND_PUT, OP_DELETE, OP_PUT, Op, RECORD_HEADER_BYTES,
    RECORD_PAYLOAD_BYTES_MAX,
};
use crate::key::KEY_BYTES_MAX;

// A key's length is written as a u16.
const _: () = assert!(KEY_BYTES_MAX <= u16::MAX as usize);

/// Appends one record holding `ops` (one op: kind Put or Delete; several or zero: kind Batch,
/// which is how a transaction stays all-or-nothing). Returns the number of bytes appended.
///
/// `durable_seq` is the highest seq the writer knows to be durable at this moment: every record
/// up to it has been covered by a completed fsync (0 if none has). It must never be more than
/// that: recovery reports damage to any record at or below a later record's `durable_seq` as
/// corruption, and truncates damage above it as a torn tail (see `docs/wal-format.md`).
///
/// # Panics
///
/// If `durable_seq >= seq` (no record can be durable before it is written, so a seq of 0 is
/// never valid), or if the payload would exceed [`RECORD_PAYLOAD_BYTES_MAX`], that is if
/// `encoded_record_len(ops) - RECORD_HEADER_BYTES > RECORD_PAYLOAD_BYTES_MAX`. Such a record
/// could never be read back, so writing it would lose data silently; callers bound value sizes
/// (and check [`encoded_record_len`] for batches) before getting here.
pub fn encode_record(
    out: &mut Vec<u8>,
    epoch: u32,
    seq: u64,
    durable_seq: u64,
    ops: &[Op],
) -> usize {
    assert!(
        durable_seq < seq,
        "wal record durable_seq {durable_seq} is not below its seq {seq}"
    );
    let payload_len = payload_len(ops);
    assert!(
        payload_len <= RECORD_PAYLOAD_BYTES_MAX as usize,
        "wal record payload of {payload_len} bytes exceeds RECORD_PAYLOAD_BYTES_MAX"
    );
    // Lossless: checked against RECORD_PAYLOAD_BYTES_MAX just above.
    let len = payload_len as u32;
    let kind = match ops {
        [Op::Put { .. }] => KIND_PUT,
        [Op::Delete { .. }] => KIND_DELETE,
        _ => KIND_BATCH,
    };

    let start = out.len();
    out.reserve(RECORD_HEADER_BYTES + payload_len);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // the crc, patched below
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&durable_seq.to_le_bytes());
    out.push(kind);
    match ops {
        [Op::Put { key, value }] => {
            put_key(out, key.as_str());
            out.extend_from_slice(value);
        }
        [Op::Delete { key }] => out.extend_from_slice(key.as_str().as_bytes()),
        _ => {
            // Lossless: every op takes at least 4 payload bytes.
            out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
            for op in ops {
                match op {
                    Op::Put { key, value } => {
                        out.push(OP_PUT);
                        put_key(out, key.as_str());
                        // Lossless: value.len() <= payload_len <= RECORD_PAYLOAD_BYTES_MAX.
                        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                        out.extend_from_slice(value);
                    }
                    Op::Delete { key } => {
                        out.push(OP_DELETE);
                        put_key(out, key.as_str());
                    }
                }
            }
        }
    }

    let appended = out.len() - start;
    debug_assert_eq!(appended, RECORD_HEADER_BYTES + payload_len);
    let record = out.get(start..).unwrap_or_default();
    let mut hasher = crate::crc::Hasher::new();
    hasher.update(record.get(..4).unwrap_or_default());
    hasher.update(record.get(8..).unwrap_or_default());
    let crc = hasher.finalize().to_le_bytes();
    for (dst, src) in out.iter_mut().skip(start + 4).zip(crc) {
        *dst = src;
    }
    appended
}

/// What [`encode_record`] would append, without encoding.
#[must_use]
pub fn encoded_record_len(ops: &[Op]) -> usize {
    RECORD_HEADER_BYTES.saturating_add(payload_len(ops))
}

fn payload_len(ops: &[Op]) -> usize {
    match ops {
        [Op::Put { key, value }] => 2usize.saturating_add(key.len()).saturating_add(value.len()),
        [Op::Delete { key }] => key.len(),
        _ => ops.iter().fold(4usize, |sum, op| {
            sum.saturating_add(match op {
                Op::Put { key, value } => (1 + 2 + 4usize)
                    .saturating_add(key.len())
                    .saturating_add(value.len()),
                Op::Delete { key } => (1 + 2usize).saturating_add(key.len()),
            })
        }),
    }
}

/// key_len u16 | key.
fn put_key(out: &mut Vec<u8>, key: &str) {
    // Lossless: a Key is at most KEY_BYTES_MAX bytes (asserted to fit a u16 above).
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
}
