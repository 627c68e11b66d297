//! The warm tier in IndexedDB: one record per key in the `warm` object store, keyed by the key.
//!
//! IndexedDB replaces a key's record in place and reclaims the space of old records itself, so
//! the browser's warm tier has no segments and no dead space. To the engine every record lives
//! in one segment, [`SEGMENT`], whose reported size is the sum of its live records: the engine
//! sees no dead bytes and, since a segment that was just written to counts as active, never
//! picks it for compaction. A record's `WarmLoc` is `(SEGMENT, seq, len)`: the sequence number
//! of the write it holds tells a read whether the record is still the one the key directory
//! named, or was replaced by a newer flush since the lookup.
//!
//! Record layout (little-endian): `version u8 = 1 | seq u64 | crc32 u32 | value bytes`. The
//! CRC covers the key's bytes, `seq` and the value, so a record filed under the wrong key is
//! caught as well as a damaged one.
//!
//! With the git cold tier, a deletion the tip of `main` does not have yet is a *tombstone*:
//! `kind u8 = 2 | seq u64 | crc32 u32`, the CRC over the key, `seq` and the bytes
//! [`TOMBSTONE_MARK`] (so a flipped kind byte cannot turn an empty value into a deletion).
//! Without it a crash between the deletion and the next commit would bring the committed value
//! back at open. The commit that records the deletion removes the tombstone.

use thermocline_core::Key;
use thermocline_core::io::WarmLoc;

/// The one segment every browser warm record is counted in.
pub(crate) const SEGMENT: u32 = 0;
const VERSION: u8 = 1;
const TOMBSTONE: u8 = 2;
const TOMBSTONE_MARK: &[u8] = b"\0tombstone";
pub(crate) const HEADER_BYTES: usize = 13;

/// Why a stored record could not be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("record of {len} bytes is shorter than its {HEADER_BYTES}-byte header")]
    TooShort { len: usize },
    #[error("record has unknown format version {found} (this build reads version {VERSION})")]
    UnknownVersion { found: u8 },
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("record of {len} bytes is too large to address")]
    TooLarge { len: usize },
}

/// A record as stored.
#[must_use]
pub(crate) fn encode(key: &str, seq: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + value.len());
    out.push(VERSION);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&checksum(key, seq, value).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// A tombstone of `key` deleted by write `seq`.
#[must_use]
pub(crate) fn encode_tombstone(key: &str, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES);
    out.push(TOMBSTONE);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&checksum(key, seq, TOMBSTONE_MARK).to_le_bytes());
    out
}

/// Checks a stored record of `key` and returns its sequence number and value, `None` for a
/// tombstone.
pub(crate) fn decode<'a>(
    key: &str,
    bytes: &'a [u8],
) -> Result<(u64, Option<&'a [u8]>), DecodeError> {
    if bytes.first() == Some(&TOMBSTONE) {
        let seq = header(bytes)?.0;
        let stored = bytes
            .get(9..HEADER_BYTES)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(DecodeError::TooShort { len: bytes.len() })?;
        let computed = checksum(key, seq, TOMBSTONE_MARK);
        if bytes.len() != HEADER_BYTES || stored != computed {
            return Err(DecodeError::Checksum { stored, computed });
        }
        return Ok((seq, None));
    }
    let (seq, value) = decode_value(key, bytes)?;
    Ok((seq, Some(value)))
}

fn decode_value<'a>(key: &str, bytes: &'a [u8]) -> Result<(u64, &'a [u8]), DecodeError> {
    let too_short = DecodeError::TooShort { len: bytes.len() };
    let (header, value) = bytes
        .split_at_checked(HEADER_BYTES)
        .ok_or(too_short.clone())?;
    let (&version, rest) = header.split_first().ok_or(too_short.clone())?;
    if version != VERSION {
        return Err(DecodeError::UnknownVersion { found: version });
    }
    let (seq, crc) = rest.split_at_checked(8).ok_or(too_short.clone())?;
    let seq = u64::from_le_bytes(seq.try_into().map_err(|_| too_short.clone())?);
    let stored = u32::from_le_bytes(crc.try_into().map_err(|_| too_short)?);
    let computed = checksum(key, seq, value);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    Ok((seq, value))
}

/// The sequence number in a record's header (the first [`HEADER_BYTES`] bytes), and whether
/// it is a tombstone: what open needs, without reading the value.
pub(crate) fn header(header: &[u8]) -> Result<(u64, bool), DecodeError> {
    let too_short = || DecodeError::TooShort { len: header.len() };
    let header = header.get(..HEADER_BYTES).ok_or_else(too_short)?;
    let (&version, rest) = header.split_first().ok_or_else(too_short)?;
    if version != VERSION && version != TOMBSTONE {
        return Err(DecodeError::UnknownVersion { found: version });
    }
    let seq = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(too_short)?;
    Ok((u64::from_le_bytes(seq), version == TOMBSTONE))
}

/// Where the engine is told a record lives: its length counts the key too, as the space the
/// record takes.
pub(crate) fn location(key: &Key, seq: u64, value_len: usize) -> Result<WarmLoc, DecodeError> {
    let len = key.len() + HEADER_BYTES + value_len;
    Ok(WarmLoc {
        segment: SEGMENT,
        offset: seq,
        len: u32::try_from(len).map_err(|_| DecodeError::TooLarge { len })?,
    })
}

fn checksum(key: &str, seq: u64, value: &[u8]) -> u32 {
    let mut h = thermocline_core::crc::Hasher::new();
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key.as_bytes());
    h.update(&seq.to_le_bytes());
    h.update(value);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_caught() {
        let rec = encode("a/b", 42, b"hello");
        assert_eq!(decode("a/b", &rec), Ok((42, Some(&b"hello"[..]))));
        assert_eq!(rec.len(), HEADER_BYTES + 5);
        // Under another key the checksum no longer matches.
        assert!(matches!(
            decode("a/c", &rec),
            Err(DecodeError::Checksum { .. })
        ));
        for i in 0..rec.len() {
            let mut bad = rec.clone();
            bad[i] ^= 0x40;
            assert!(
                decode("a/b", &bad).is_err(),
                "flipped byte {i} went unnoticed"
            );
        }
        for len in 0..HEADER_BYTES {
            assert_eq!(
                decode("a/b", &rec[..len]),
                Err(DecodeError::TooShort { len })
            );
        }
        let empty = encode("k", 1, b"");
        assert_eq!(decode("k", &empty), Ok((1, Some(&b""[..]))));
        let tomb = encode_tombstone("k", 9);
        assert_eq!(decode("k", &tomb), Ok((9, None)));
        assert_eq!(header(&tomb), Ok((9, true)));
        assert!(decode("j", &tomb).is_err());
        // An empty value whose kind byte flipped to a tombstone's is caught, and back.
        let mut flipped = empty.clone();
        flipped[0] = TOMBSTONE;
        assert!(decode("k", &flipped).is_err());
        let mut flipped = tomb.clone();
        flipped[0] = VERSION;
        assert!(decode("k", &flipped).is_err());
    }

    #[test]
    fn headers_give_the_sequence_number_alone() {
        let rec = encode("k", 99, b"value");
        assert_eq!(header(&rec[..HEADER_BYTES]), Ok((99, false)));
        assert_eq!(header(&rec[..5]), Err(DecodeError::TooShort { len: 5 }));
        let mut v3 = rec.clone();
        v3[0] = 3;
        assert_eq!(header(&v3), Err(DecodeError::UnknownVersion { found: 3 }));
    }

    #[test]
    fn locations_name_the_write_and_count_the_key() {
        let key = Key::new("abc").unwrap();
        let loc = location(&key, 7, 10).unwrap();
        assert_eq!(
            (loc.segment, loc.offset, loc.len),
            (SEGMENT, 7, 3 + 13 + 10)
        );
    }
}
