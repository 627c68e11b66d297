//! The untrusting segment decoder.
//!
//! Every length read from the input is checked against the bytes that remain before anything
//! is sliced or allocated, so a hostile or damaged file costs at most time and memory
//! proportional to its own size, and decoding never panics.

use alloc::vec;
use alloc::vec::Vec;

use super::{
    CorruptReason, KIND_BATCH, KIND_DELETE, KIND_PUT, OP_DELETE, OP_PUT, Op, RECORD_HEADER_BYTES,
    RECORD_PAYLOAD_BYTES_MAX, Record, SEGMENT_HEADER_BYTES, SegmentHeader, SegmentScan, Tail,
    WalError,
};
use crate::key::Key;
use crate::value::Value;

/// The smallest possible record: a Delete of a one-byte key. (A Put needs at least 3 payload
/// bytes, a Batch at least 4.) Used to bound the seq a record at a given distance can carry.
const RECORD_BYTES_MIN: usize = RECORD_HEADER_BYTES + 1;

/// The smallest op inside a batch: op_kind u8 | key_len u16 | a one-byte key (a delete).
const BATCH_OP_BYTES_MIN: usize = 1 + 2 + 1;

/// How many bytes the resync scan may run through the CRC, on top of twice the bytes it scans,
/// before it gives up and assumes a witness may follow (the safe answer: corruption).
const RESYNC_CRC_SLACK_BYTES: usize = 1 << 20;

/// Decodes one whole segment file. `is_last`: the newest segment (the only one that may have a
/// torn tail; older ones were fsynced whole before the next was created, so damage in them is
/// always corruption). `prev_seq`: the last seq of the previous segment when the host has it
/// (then header.first_seq must be prev_seq + 1).
///
/// See `docs/wal-format.md` for the tail rules; in short, at the end `p` of the last good
/// record:
/// - nothing left: [`Tail::Clean`];
/// - fewer bytes than a record header, or a zero length field: [`Tail::ZeroFill`] if every
///   remaining byte is zero, else damage (below);
/// - a length over [`RECORD_PAYLOAD_BYTES_MAX`], a length past the end or a checksum mismatch:
///   damage;
/// - a checksum-valid record of another epoch: [`Tail::Stale`];
/// - a checksum-valid record of this epoch with the wrong seq: [`WalError::SequenceGap`];
///   with a `durable_seq` not below its seq, an unknown kind or a malformed payload:
///   [`WalError::Corrupt`].
///
/// Damage at `p`, where the next record must carry seq `e`, is [`WalError::Corrupt`] naming `p`
/// when the segment is not the last one, or when a later checksum-valid record of this epoch
/// that the writer could have written after record `e` carries `durable_seq >= e` (its writer
/// had seen record `e` fsynced, so the damaged bytes were durable). Otherwise it is
/// [`Tail::Torn`]: damage to records never made durable, which includes unsynced records that
/// the OS persisted out of order around a lost or torn one.
pub fn scan_segment(
    segment_id: u64,
    bytes: &[u8],
    is_last: bool,
    prev_seq: Option<u64>,
) -> Result<SegmentScan, WalError> {
    SegmentDecoder::new(segment_id, bytes, prev_seq)?.finish(bytes, is_last)
}

/// A segment decoded while its bytes are still arriving, so that a host can read a large
/// segment in chunks and decode each chunk while the next one is read.
///
/// [`SegmentDecoder::decode_available`] takes the good records that lie wholly within the bytes
/// read so far and stops, without a verdict, at the first thing that is not one: that may just
/// be the end of what has arrived. [`SegmentDecoder::finish`] takes every byte of the segment
/// and goes on from there exactly as [`scan_segment`] does, tail rules included. A record that
/// `decode_available` accepted passed every test `scan_segment` applies, on bytes that more
/// input cannot change, so the records of both ways are the same (a test cuts segments at every
/// offset to check it).
#[derive(Clone, Debug)]
pub struct SegmentDecoder {
    segment: u64,
    header: SegmentHeader,
    /// Where the next record starts: every byte before it is decoded.
    p: usize,
    /// The seq the next record must carry; `None` once a record carried u64::MAX.
    next_seq: Option<u64>,
}

/// Why decoding stopped at `p`: either the clean end or something the tail rules judge.
enum Stop {
    Clean,
    NoHeader(&'static str),
    Damaged(CorruptReason),
    Stale,
    Fatal(WalError),
}

impl SegmentDecoder {
    /// Decodes the segment header from the first bytes (all of them when the segment is
    /// shorter than a header). `prev_seq` as for [`scan_segment`].
    pub fn new(
        segment_id: u64,
        bytes: &[u8],
        prev_seq: Option<u64>,
    ) -> Result<SegmentDecoder, WalError> {
        let header = SegmentHeader::decode(segment_id, bytes)?;
        if let Some(prev) = prev_seq {
            let expected = prev.checked_add(1);
            if expected != Some(header.first_seq) {
                return Err(WalError::SequenceGap {
                    segment: segment_id,
                    offset: 0,
                    expected: expected.unwrap_or(u64::MAX),
                    found: header.first_seq,
                });
            }
        }
        Ok(SegmentDecoder {
            segment: segment_id,
            header,
            p: SEGMENT_HEADER_BYTES,
            next_seq: Some(header.first_seq),
        })
    }

    #[must_use]
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The good records wholly within `bytes`, the first bytes of the segment (the same bytes
    /// as before, and maybe more), after the ones already taken.
    pub fn decode_available(&mut self, bytes: &[u8]) -> Vec<Record> {
        let mut records = Vec::new();
        while let Ok(record) = self.next_record(bytes) {
            self.advance(&record);
            records.push(record);
        }
        records
    }

    /// Decodes the rest of the segment, `bytes` being all of it, and judges its end. The scan's
    /// records are the ones not taken by [`SegmentDecoder::decode_available`].
    pub fn finish(mut self, bytes: &[u8], is_last: bool) -> Result<SegmentScan, WalError> {
        let scanner = Scanner {
            segment: self.segment,
            bytes,
            epoch: self.header.epoch,
            is_last,
        };
        let mut records = Vec::new();
        let tail = loop {
            let (p, next_seq) = (self.p, self.next_seq);
            match self.next_record(bytes) {
                Ok(record) => {
                    self.advance(&record);
                    records.push(record);
                }
                Err(Stop::Clean) => break Tail::Clean,
                Err(Stop::NoHeader(what)) => {
                    break scanner.end_without_header(p, next_seq, what)?;
                }
                Err(Stop::Damaged(reason)) => break scanner.damaged(p, next_seq, reason)?,
                Err(Stop::Stale) => {
                    break Tail::Stale {
                        offset: p as u64,
                        discarded_bytes: bytes.len().saturating_sub(p) as u64,
                    };
                }
                Err(Stop::Fatal(e)) => return Err(e),
            }
        };
        Ok(SegmentScan {
            header: self.header,
            records,
            valid_bytes: self.p as u64,
            tail,
        })
    }

    fn advance(&mut self, record: &Record) {
        self.next_seq = record.seq.checked_add(1);
        self.p += record.len_bytes as usize;
    }

    /// The record at `p`, if it is a good one.
    fn next_record(&self, bytes: &[u8]) -> Result<Record, Stop> {
        let (segment, p, next_seq) = (self.segment, self.p, self.next_seq);
        let rest = bytes.get(p..).unwrap_or_default();
        if rest.is_empty() {
            return Err(Stop::Clean);
        }
        let Some(head) = rest.first_chunk::<RECORD_HEADER_BYTES>() else {
            return Err(Stop::NoHeader("incomplete record header"));
        };
        let head = RecordHeader::parse(head);
        if head.len == 0 {
            return Err(Stop::NoHeader("record length is zero"));
        }
        if head.len > RECORD_PAYLOAD_BYTES_MAX {
            return Err(Stop::Damaged(CorruptReason::LengthTooLarge {
                len: head.len,
            }));
        }
        let Some(payload) = payload_of(rest, head.len) else {
            return Err(Stop::Damaged(CorruptReason::LengthPastEnd {
                len: head.len,
            }));
        };
        let found = head.checksum(payload);
        if found != head.crc {
            return Err(Stop::Damaged(CorruptReason::ChecksumMismatch {
                expected: head.crc,
                found,
            }));
        }
        if head.epoch != self.header.epoch {
            return Err(Stop::Stale);
        }
        if Some(head.seq) != next_seq {
            return Err(Stop::Fatal(WalError::SequenceGap {
                segment,
                offset: p as u64,
                expected: next_seq.unwrap_or(u64::MAX),
                found: head.seq,
            }));
        }
        let corrupt = |reason| {
            Stop::Fatal(WalError::Corrupt {
                segment,
                offset: p as u64,
                reason,
            })
        };
        if head.durable_seq >= head.seq {
            return Err(corrupt(CorruptReason::BadPayload {
                what: "durable_seq not below seq",
            }));
        }
        let ops = decode_payload(head.kind, payload).map_err(corrupt)?;
        Ok(Record {
            seq: head.seq,
            durable_seq: head.durable_seq,
            offset: p as u64,
            len_bytes: (RECORD_HEADER_BYTES + payload.len()) as u64,
            ops,
        })
    }
}

/// The segment-wide facts the tail rules need.
struct Scanner<'a> {
    segment: u64,
    bytes: &'a [u8],
    epoch: u32,
    is_last: bool,
}

impl Scanner<'_> {
    /// The bytes at `p` are not a record header (too few of them, or a zero length): a zero
    /// fill if they are all zero, else damage.
    fn end_without_header(
        &self,
        p: usize,
        next_seq: Option<u64>,
        what: &'static str,
    ) -> Result<Tail, WalError> {
        let rest = self.bytes.get(p..).unwrap_or_default();
        if rest.iter().all(|&b| b == 0) {
            return Ok(Tail::ZeroFill { offset: p as u64 });
        }
        self.damaged(p, next_seq, CorruptReason::BadPayload { what })
    }

    /// The record at `p` is incomplete or damaged: a torn tail if this is the last segment and
    /// no later record witnesses that it was durable, corruption otherwise.
    fn damaged(
        &self,
        p: usize,
        next_seq: Option<u64>,
        reason: CorruptReason,
    ) -> Result<Tail, WalError> {
        if self.is_last && !self.durability_witness_follows(p, next_seq) {
            let discarded = self.bytes.len().saturating_sub(p);
            return Ok(Tail::Torn {
                offset: p as u64,
                discarded_bytes: discarded as u64,
            });
        }
        Err(WalError::Corrupt {
            segment: self.segment,
            offset: p as u64,
            reason,
        })
    }

    /// Whether a record that the writer appended after seeing the record expected at `p`
    /// (seq `next_seq`) fsynced is present and intact somewhere after `p`: at some offset
    /// `q > p`, a header whose epoch is this segment's, whose length is plausible and fits,
    /// whose seq is one a record at that distance could carry (at least `next_seq`, and at most
    /// one more per [`RECORD_BYTES_MIN`] bytes between `p` and `q`), whose `durable_seq` is at
    /// least `next_seq`, and whose checksum is valid.
    ///
    /// A later intact record with a lower `durable_seq` is no witness: it was written before
    /// the damaged record was known durable, and the OS may persist unsynced pages in any
    /// order, so it may have survived a crash that the damaged record did not.
    ///
    /// The epoch, length, seq and durable_seq tests are a few loads and compares per offset;
    /// only the rare offset passing all of them costs a checksum. A total checksum budget
    /// bounds crafted input; when it runs out the answer is "yes", so the caller reports
    /// corruption rather than discarding data it could not rule out.
    fn durability_witness_follows(&self, p: usize, next_seq: Option<u64>) -> bool {
        // After a record with seq u64::MAX, no later seq exists.
        let Some(seq_min) = next_seq else {
            return false;
        };
        let mut budget = self
            .bytes
            .len()
            .saturating_sub(p)
            .saturating_mul(2)
            .saturating_add(RESYNC_CRC_SLACK_BYTES);
        let epoch = self.epoch.to_le_bytes();
        let mut q = p.saturating_add(1);
        while let Some(rest) = self.bytes.get(q..) {
            if rest.len() < RECORD_BYTES_MIN {
                break;
            }
            // The epoch first: one compare rules out almost every offset.
            let head = rest
                .first_chunk::<RECORD_HEADER_BYTES>()
                .filter(|h| h.get(EPOCH_AT..SEQ_AT) == Some(&epoch[..]))
                .map(RecordHeader::parse);
            if let Some(head) = head {
                let seq_max = seq_min.saturating_add(((q - p) / RECORD_BYTES_MIN) as u64);
                let plausible = head.len != 0
                    && head.len <= RECORD_PAYLOAD_BYTES_MAX
                    && (seq_min..=seq_max).contains(&head.seq)
                    && head.durable_seq >= seq_min;
                if let Some(payload) = payload_of(rest, head.len).filter(|_| plausible) {
                    let cost = RECORD_HEADER_BYTES + payload.len();
                    if cost > budget {
                        return true;
                    }
                    budget -= cost;
                    if head.checksum(payload) == head.crc {
                        return true;
                    }
                }
            }
            q += 1;
        }
        false
    }
}

/// A record header's fields, not yet trusted.
struct RecordHeader {
    len: u32,
    crc: u32,
    epoch: u32,
    seq: u64,
    durable_seq: u64,
    kind: u8,
    /// The header bytes the checksum covers: the len field (0..4) and epoch..kind (8..29).
    covered: [u8; RECORD_HEADER_BYTES - 4],
}

const LEN_AT: usize = 0;
const CRC_AT: usize = 4;
const EPOCH_AT: usize = 8;
const SEQ_AT: usize = 12;
const DURABLE_SEQ_AT: usize = 20;
const KIND_AT: usize = 28;
const _: () = assert!(KIND_AT + 1 == RECORD_HEADER_BYTES);

impl RecordHeader {
    fn parse(head: &[u8; RECORD_HEADER_BYTES]) -> RecordHeader {
        let mut covered = [0u8; RECORD_HEADER_BYTES - 4];
        let covered_bytes = head.iter().take(CRC_AT).chain(head.iter().skip(EPOCH_AT));
        for (dst, src) in covered.iter_mut().zip(covered_bytes) {
            *dst = *src;
        }
        let [kind] = field(head, KIND_AT);
        RecordHeader {
            len: u32::from_le_bytes(field(head, LEN_AT)),
            crc: u32::from_le_bytes(field(head, CRC_AT)),
            epoch: u32::from_le_bytes(field(head, EPOCH_AT)),
            seq: u64::from_le_bytes(field(head, SEQ_AT)),
            durable_seq: u64::from_le_bytes(field(head, DURABLE_SEQ_AT)),
            kind,
            covered,
        }
    }

    /// The CRC32 of the len field, epoch, seq, durable_seq, kind and `payload`.
    fn checksum(&self, payload: &[u8]) -> u32 {
        let mut hasher = crate::crc::Hasher::new();
        hasher.update(&self.covered);
        hasher.update(payload);
        hasher.finalize()
    }
}

/// The `N` bytes at `at` (all offsets used here are constants well inside the header).
fn field<const N: usize>(head: &[u8; RECORD_HEADER_BYTES], at: usize) -> [u8; N] {
    head.get(at..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .unwrap_or([0; N])
}

/// The `len` payload bytes after the record header at the start of `rest`, if they are there.
fn payload_of(rest: &[u8], len: u32) -> Option<&[u8]> {
    let len = usize::try_from(len).ok()?;
    rest.get(RECORD_HEADER_BYTES..)?.get(..len)
}

/// Decodes a checksum-valid payload of the given kind.
fn decode_payload(kind: u8, payload: &[u8]) -> Result<Vec<Op>, CorruptReason> {
    match kind {
        KIND_PUT => {
            let mut r = Reader(payload);
            let key = r.key()?;
            Ok(vec![Op::Put {
                key,
                value: Value::from(r.0),
            }])
        }
        KIND_DELETE => {
            let key = Key::from_utf8(payload).map_err(CorruptReason::InvalidKey)?;
            Ok(vec![Op::Delete { key }])
        }
        KIND_BATCH => decode_batch(payload),
        kind => Err(CorruptReason::UnknownKind { kind }),
    }
}

/// op_count u32 | ops, each op_kind u8 | key_len u16 | key | (put) value_len u32 | value.
fn decode_batch(payload: &[u8]) -> Result<Vec<Op>, CorruptReason> {
    const TRUNCATED: CorruptReason = CorruptReason::BadPayload {
        what: "batch payload ends inside an op",
    };
    let mut r = Reader(payload);
    let count = r.u32().ok_or(CorruptReason::BadPayload {
        what: "batch payload too short for its op count",
    })?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    // Bounds the allocation below by the bytes actually present.
    if count > r.0.len() / BATCH_OP_BYTES_MIN {
        return Err(CorruptReason::BadPayload {
            what: "batch op count is larger than its payload can hold",
        });
    }
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let op_kind = r.u8().ok_or(TRUNCATED)?;
        if op_kind != OP_PUT && op_kind != OP_DELETE {
            return Err(CorruptReason::BadPayload {
                what: "unknown op kind in batch",
            });
        }
        let key = r.key()?;
        if op_kind == OP_PUT {
            let value_len = r.u32().ok_or(TRUNCATED)?;
            let value = r
                .take(value_len as usize)
                .ok_or(CorruptReason::BadPayload {
                    what: "value length runs past the end of the payload",
                })?;
            ops.push(Op::Put {
                key,
                value: Value::from(value),
            });
        } else {
            ops.push(Op::Delete { key });
        }
    }
    if !r.0.is_empty() {
        return Err(CorruptReason::BadPayload {
            what: "batch has trailing bytes after its last op",
        });
    }
    Ok(ops)
}

/// A cursor over untrusted bytes; every read checks what remains.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// key_len u16 | key, validated.
    fn key(&mut self) -> Result<Key, CorruptReason> {
        let len = self
            .array()
            .map(u16::from_le_bytes)
            .ok_or(CorruptReason::BadPayload {
                what: "payload ends inside a key length",
            })?;
        let key = self
            .take(usize::from(len))
            .ok_or(CorruptReason::BadPayload {
                what: "key length runs past the end of the payload",
            })?;
        Key::from_utf8(key).map_err(CorruptReason::InvalidKey)
    }
}
