//! The segment header: 40 bytes at offset 0 of every segment file.
//!
//! ```text
//!  0  magic      [u8; 8]  b"TCLNWAL\0"
//!  8  version    u16      WAL_FORMAT_VERSION
//! 10  flags      u16      0
//! 12  segment_id u64
//! 20  epoch      u32
//! 24  first_seq  u64
//! 32  crc        u32      CRC32 (IEEE) of bytes 0..32
//! 36  reserved   [u8; 4]  0
//! ```

use super::{SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, SegmentHeader, WAL_FORMAT_VERSION, WalError};

const VERSION_AT: usize = 8;
const FLAGS_AT: usize = 10;
const SEGMENT_ID_AT: usize = 12;
const EPOCH_AT: usize = 20;
const FIRST_SEQ_AT: usize = 24;
const CRC_AT: usize = 32;
const RESERVED_AT: usize = 36;

impl SegmentHeader {
    /// The header's bytes, checksum included.
    #[must_use]
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut out = [0u8; SEGMENT_HEADER_BYTES];
        let (body, tail) = out.split_at_mut(CRC_AT);
        let fields: [(usize, &[u8]); 6] = [
            (0, &SEGMENT_MAGIC),
            (VERSION_AT, &WAL_FORMAT_VERSION.to_le_bytes()),
            (FLAGS_AT, &0u16.to_le_bytes()),
            (SEGMENT_ID_AT, &self.segment_id.to_le_bytes()),
            (EPOCH_AT, &self.epoch.to_le_bytes()),
            (FIRST_SEQ_AT, &self.first_seq.to_le_bytes()),
        ];
        for (at, bytes) in fields {
            for (dst, src) in body.iter_mut().skip(at).zip(bytes) {
                *dst = *src;
            }
        }
        let crc = crate::crc::hash(body);
        for (dst, src) in tail.iter_mut().zip(crc.to_le_bytes()) {
            *dst = src;
        }
        out
    }

    /// `segment_id` is the id the host found the file under (its name); a header naming another
    /// id is an error.
    ///
    /// Checks, in order: length, magic, version (before the checksum, so that a file from a
    /// newer format is reported as such even if its header is laid out differently), checksum,
    /// flags and reserved bytes (zero), segment id.
    pub fn decode(segment_id: u64, bytes: &[u8]) -> Result<SegmentHeader, WalError> {
        let segment = segment_id;
        let Some(header) = bytes.first_chunk::<SEGMENT_HEADER_BYTES>() else {
            return Err(WalError::TooShort {
                segment,
                len: bytes.len() as u64,
            });
        };
        if header.first_chunk::<8>() != Some(&SEGMENT_MAGIC) {
            return Err(WalError::BadMagic { segment });
        }
        let version = u16::from_le_bytes(field(header, VERSION_AT));
        if version != WAL_FORMAT_VERSION {
            return Err(WalError::UnknownVersion {
                segment,
                found: version,
                supported: WAL_FORMAT_VERSION,
            });
        }
        let stored_crc = u32::from_le_bytes(field(header, CRC_AT));
        let (body, _) = header.split_at(CRC_AT);
        if crate::crc::hash(body) != stored_crc {
            return Err(WalError::HeaderChecksum { segment });
        }
        let flags = u16::from_le_bytes(field(header, FLAGS_AT));
        let reserved: [u8; 4] = field(header, RESERVED_AT);
        if flags != 0 || reserved != [0; 4] {
            return Err(WalError::HeaderChecksum { segment });
        }
        let found = u64::from_le_bytes(field(header, SEGMENT_ID_AT));
        if found != segment_id {
            return Err(WalError::SegmentIdMismatch { segment, found });
        }
        Ok(SegmentHeader {
            segment_id,
            epoch: u32::from_le_bytes(field(header, EPOCH_AT)),
            first_seq: u64::from_le_bytes(field(header, FIRST_SEQ_AT)),
        })
    }
}

/// The `N` bytes at `at` (all offsets used here are constants well inside the header).
fn field<const N: usize>(header: &[u8; SEGMENT_HEADER_BYTES], at: usize) -> [u8; N] {
    header
        .get(at..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .unwrap_or([0; N])
}
