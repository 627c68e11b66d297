//! The write-ahead log's byte format: segment headers, records, the encoder and an untrusting
//! decoder.
//!
//! A WAL is a sequence of segment files. Each starts with a fixed [`SegmentHeader`] and holds
//! records back to back; every record carries its payload length, a CRC32, the segment's epoch,
//! a sequence number, the highest sequence number its writer knew to be durable, and a kind. The
//! full layout, the tail rules and the reasoning behind them are in `docs/wal-format.md`; this
//! module is the normative implementation of that document.
//!
//! The decoder ([`scan_segment`]) treats its input as hostile: it never panics, checks every
//! length against the bytes that remain before slicing or allocating, validates every key, and
//! tells a torn tail (damage to data that was never made durable, which recovery truncates) apart
//! from corruption (damage to data that was durable, which recovery must not paper over).

mod decode;
mod encode;
mod header;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use core::fmt;

use crate::key::{Key, KeyError};
use crate::value::Value;

pub use decode::{SegmentDecoder, scan_segment};
pub use encode::{encode_record, encoded_record_len};

/// The format version written into, and required of, every segment header.
pub const WAL_FORMAT_VERSION: u16 = 1;

/// The segment header's size: magic 8 | version 2 | flags 2 | segment_id 8 | epoch 4 |
/// first_seq 8 | crc 4 | reserved 4.
pub const SEGMENT_HEADER_BYTES: usize = 40;

/// A record header's size: len u32 | crc u32 | epoch u32 | seq u64 | durable_seq u64 | kind u8.
pub const RECORD_HEADER_BYTES: usize = 29;

/// Hard bound used by the decoder before trusting a length field. The encoder refuses (panics
/// on) a record whose payload would be larger; callers bound their values well below it.
pub const RECORD_PAYLOAD_BYTES_MAX: u32 = 1 << 30;

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TCLNWAL\0";

/// Record kinds (the byte at offset 28 of a record header).
pub(crate) const KIND_PUT: u8 = 1;
pub(crate) const KIND_DELETE: u8 = 2;
pub(crate) const KIND_BATCH: u8 = 3;

/// Operation kinds inside a batch payload.
pub(crate) const OP_PUT: u8 = 1;
pub(crate) const OP_DELETE: u8 = 2;

/// The fixed header at the start of every segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's id; the host names the file after it.
    pub segment_id: u64,
    /// Host-chosen per-use value (the engine uses the low 32 bits of `segment_id`); every
    /// record written into this use of the file carries it, so records left over from an older
    /// use of a recycled file are recognised as stale.
    pub epoch: u32,
    /// The seq of the segment's first record (one past the previous segment's last seq).
    pub first_seq: u64,
}

/// One logical operation in a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put { key: Key, value: Value },
    Delete { key: Key },
}

impl Op {
    #[must_use]
    pub fn key(&self) -> &Key {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    /// The highest seq the writer knew to be durable (fsynced) when it appended this record;
    /// always below `seq` (0: none yet).
    pub durable_seq: u64,
    /// Byte offset of the record's header within the segment file.
    pub offset: u64,
    /// The record's whole size, header included.
    pub len_bytes: u64,
    /// The operations, in the order they were encoded (empty for an empty batch).
    pub ops: Vec<Op>,
}

/// How a segment's data ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// The data ends exactly at the end of the bytes.
    Clean,
    /// Zeros from `offset` to the end (preallocation or a file system that extended the file).
    ZeroFill { offset: u64 },
    /// Damage in the last segment that no later record shows to have been durable (an
    /// incomplete last record, or unsynced records persisted out of order): truncate at
    /// `offset`.
    Torn { offset: u64, discarded_bytes: u64 },
    /// A checksum-valid record from an older epoch (a recycled segment file): data ends here.
    Stale { offset: u64, discarded_bytes: u64 },
}

/// The result of decoding one whole segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentScan {
    pub header: SegmentHeader,
    /// Every valid record, in order; seqs run `header.first_seq..` without gaps.
    pub records: Vec<Record>,
    /// Where the valid data ends (the header plus every record): the length to truncate the
    /// file to before appending to it again.
    pub valid_bytes: u64,
    pub tail: Tail,
}

/// Why a segment could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// The file is shorter than a segment header.
    #[error(
        "wal segment {segment} is too short: {len} bytes is less than the {SEGMENT_HEADER_BYTES}-byte header"
    )]
    TooShort { segment: u64, len: u64 },
    #[error(
        "wal segment {segment} has a bad magic number at offset 0 (not a thermocline wal segment)"
    )]
    BadMagic { segment: u64 },
    #[error(
        "wal segment {segment} has unknown format version {found} at offset 8 (this build reads version {supported})"
    )]
    UnknownVersion {
        segment: u64,
        found: u16,
        supported: u16,
    },
    /// The header checksum does not match, or a field that must be zero (flags, reserved
    /// bytes) is not.
    #[error(
        "wal segment {segment} has a damaged header: checksum mismatch or nonzero flags or reserved bytes"
    )]
    HeaderChecksum { segment: u64 },
    #[error("wal segment {segment} has a header naming segment {found} at offset 12")]
    SegmentIdMismatch { segment: u64, found: u64 },
    #[error("wal segment {segment} is corrupt at offset {offset}: {reason}")]
    Corrupt {
        segment: u64,
        offset: u64,
        reason: CorruptReason,
    },
    /// A checksum-valid record of the segment's epoch whose seq is not the next one (or a
    /// header whose `first_seq` does not follow the previous segment's last seq, at offset 0).
    #[error(
        "wal segment {segment} has a sequence gap at offset {offset}: expected seq {expected}, found {found}"
    )]
    SequenceGap {
        segment: u64,
        offset: u64,
        expected: u64,
        found: u64,
    },
}

/// What is wrong with the bytes at a [`WalError::Corrupt`] offset.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// `expected` is the checksum stored in the record, `found` the one computed over its bytes.
    ChecksumMismatch { expected: u32, found: u32 },
    /// The length field points past the end of the segment.
    LengthPastEnd { len: u32 },
    /// The length field exceeds [`RECORD_PAYLOAD_BYTES_MAX`].
    LengthTooLarge { len: u32 },
    /// A checksum-valid record of an unknown kind.
    UnknownKind { kind: u8 },
    /// A checksum-valid record whose payload does not parse or whose `durable_seq` is not below
    /// its seq, or bytes that cannot be a record (an incomplete header, a zero length); `what`
    /// says which.
    BadPayload { what: &'static str },
    /// A checksum-valid record holding a key that does not validate.
    InvalidKey(KeyError),
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptReason::ChecksumMismatch { expected, found } => {
                write!(
                    f,
                    "checksum mismatch (expected {expected:#010x}, found {found:#010x})"
                )
            }
            CorruptReason::LengthPastEnd { len } => {
                write!(f, "record length {len} runs past the end of the segment")
            }
            CorruptReason::LengthTooLarge { len } => write!(
                f,
                "record length {len} is larger than the limit of {RECORD_PAYLOAD_BYTES_MAX}"
            ),
            CorruptReason::UnknownKind { kind } => write!(f, "unknown record kind {kind}"),
            CorruptReason::BadPayload { what } => f.write_str(what),
            CorruptReason::InvalidKey(e) => write!(f, "{e}"),
        }
    }
}
