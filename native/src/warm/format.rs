//! The warm tier's byte format. Every byte is documented in `docs/warm-format.md`.
//!
//! Bytes read back are untrusted: every length is checked against what is left before it is
//! used, and nothing here panics on any input.

use thermocline_core::Key;

pub(crate) const MAGIC: [u8; 8] = *b"TCLNWRM\0";
pub(crate) const VERSION: u16 = 1;
pub(crate) const HEADER_BYTES: usize = 32;
/// len u32 | crc u32 | kind u8 | key_len u16 | seq u64
pub(crate) const RECORD_HEADER_BYTES: usize = 19;
/// Hard bound on one record, checked before trusting a length field. Far above the largest
/// value the store accepts (configurable, 16 MiB by default) plus a key.
pub(crate) const RECORD_BYTES_MAX: u32 = 1 << 29;

pub(crate) const KIND_PUT: u8 = 1;
pub(crate) const KIND_TOMBSTONE: u8 = 2;
pub(crate) const KIND_MARKER: u8 = 3;

pub(crate) fn encode_header(segment_id: u32) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&segment_id.to_le_bytes());
    let crc = crc32fast::hash(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a header was refused.
pub(crate) fn check_header(segment_id: u32, bytes: &[u8]) -> Result<(), String> {
    let Some(h) = bytes.get(..HEADER_BYTES) else {
        return Err(format!(
            "file of {} bytes is shorter than its header",
            bytes.len()
        ));
    };
    if h[0..8] != MAGIC {
        return Err("not a warm segment (bad magic)".into());
    }
    let stored = u32::from_le_bytes([h[28], h[29], h[30], h[31]]);
    if crc32fast::hash(&h[0..28]) != stored {
        return Err("header checksum mismatch".into());
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != VERSION {
        return Err(format!(
            "unknown warm format version {version} (this build reads {VERSION})"
        ));
    }
    let id = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    if id != segment_id {
        return Err(format!("header names segment {id}"));
    }
    Ok(())
}

/// Appends one record; returns its length.
pub(crate) fn encode_record(out: &mut Vec<u8>, kind: u8, seq: u64, key: &str, value: &[u8]) -> u32 {
    let len = encode_record_head(out, kind, seq, key, value);
    out.extend_from_slice(value);
    len
}

/// Appends a record's header and key, with the checksum over all of it and `value`, but not
/// `value` itself; returns the whole record's length. The caller writes `value` right after
/// (from where it already is: a flush does not copy a large value into its buffer).
pub(crate) fn encode_record_head(
    out: &mut Vec<u8>,
    kind: u8,
    seq: u64,
    key: &str,
    value: &[u8],
) -> u32 {
    let len = RECORD_HEADER_BYTES + key.len() + value.len();
    let len32 = u32::try_from(len).expect("record length bounded by the value limit");
    assert!(len32 <= RECORD_BYTES_MAX, "record over the format's bound");
    let start = out.len();
    out.extend_from_slice(&len32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    let key_len = u16::try_from(key.len()).expect("keys are at most 1 KiB");
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&out[start..start + 4]);
    h.update(&out[start + 8..]);
    h.update(value);
    let crc = h.finalize();
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    len32
}

/// The length field of the record starting `bytes`, checked against the format's bounds
/// before anyone sizes a buffer by it; `None` if fewer than its 4 bytes are there.
pub(crate) fn record_len(bytes: &[u8]) -> Option<Result<usize, String>> {
    let field = bytes.get(..4)?;
    let len = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
    Some(
        if (len as usize) < RECORD_HEADER_BYTES || len > RECORD_BYTES_MAX {
            Err(format!("record length {len} out of bounds"))
        } else {
            Ok(len as usize)
        },
    )
}

/// CRC32 of a whole record except its crc field.
fn record_crc(record: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(record.get(0..4).unwrap_or(&[]));
    h.update(record.get(8..).unwrap_or(&[]));
    h.finalize()
}

/// A record decoded in place.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub kind: u8,
    pub seq: u64,
    pub key: Option<Key>,
    pub value: &'a [u8],
    pub len: u32,
}

/// Decodes the record at the start of `bytes`, or says what is wrong with it.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<Decoded<'_>, String> {
    let Some(head) = bytes.get(..RECORD_HEADER_BYTES) else {
        return Err(format!(
            "{} bytes left, less than a record header",
            bytes.len()
        ));
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if (len as usize) < RECORD_HEADER_BYTES || len > RECORD_BYTES_MAX {
        return Err(format!("record length {len} out of bounds"));
    }
    let Some(record) = bytes.get(..len as usize) else {
        return Err(format!("record length {len} runs past the end of the file"));
    };
    let stored = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let computed = record_crc(record);
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    let kind = head[8];
    let key_len = usize::from(u16::from_le_bytes([head[9], head[10]]));
    let seq = u64::from_le_bytes([
        head[11], head[12], head[13], head[14], head[15], head[16], head[17], head[18],
    ]);
    let Some(key_bytes) = record.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + key_len) else {
        return Err(format!("key length {key_len} runs past the record"));
    };
    let value = record.get(RECORD_HEADER_BYTES + key_len..).unwrap_or(&[]);
    let key = match kind {
        KIND_PUT | KIND_TOMBSTONE => {
            Some(Key::from_utf8(key_bytes).map_err(|e| format!("record holds an {e}"))?)
        }
        KIND_MARKER if key_len == 0 && value.is_empty() => None,
        KIND_MARKER => return Err("flush marker with a payload".into()),
        other => return Err(format!("unknown record kind {other}")),
    };
    if kind == KIND_TOMBSTONE && !value.is_empty() {
        return Err("tombstone with a value".into());
    }
    Ok(Decoded {
        kind,
        seq,
        key,
        value,
        len,
    })
}

/// Whether a valid flush marker starts anywhere after `from` (resynchronisation: damage
/// followed by a marker is corruption of committed data, not a torn uncommitted tail).
pub(crate) fn marker_after(bytes: &[u8], from: usize) -> Option<usize> {
    let last = bytes.len().checked_sub(RECORD_HEADER_BYTES)?;
    (from..=last).find(|&p| {
        let candidate = bytes.get(p..p + RECORD_HEADER_BYTES);
        candidate.is_some_and(|c| {
            c[0..4] == (RECORD_HEADER_BYTES as u32).to_le_bytes() && c[8] == KIND_MARKER
        }) && decode_record(&bytes[p..]).is_ok_and(|d| d.kind == KIND_MARKER)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_named() {
        let mut buf = Vec::new();
        let n = encode_record(&mut buf, KIND_PUT, 7, "a/b", b"value");
        assert_eq!(n as usize, buf.len());
        let d = decode_record(&buf).expect("valid");
        assert_eq!(
            (d.kind, d.seq, d.key.as_deref(), d.value),
            (KIND_PUT, 7, Some("a/b"), &b"value"[..])
        );
        encode_record(&mut buf, KIND_MARKER, 9, "", b"");
        assert_eq!(marker_after(&buf, 1), Some(n as usize));
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            // Never panics; the damaged first record is refused or decodes to something else
            // only if the flip hit nothing the checksum covers (impossible: it covers all).
            assert!(
                decode_record(&bad).is_err() || i >= n as usize,
                "flip at {i} accepted"
            );
        }
        assert!(decode_record(&buf[..10]).is_err());
        let mut evil = Vec::new();
        encode_record(&mut evil, KIND_PUT, 1, "x", b"");
        evil[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_record(&evil).unwrap_err().contains("out of bounds"));
        assert!(check_header(3, &encode_header(3)).is_ok());
        assert!(
            check_header(4, &encode_header(3))
                .unwrap_err()
                .contains("names segment 3")
        );
        assert!(check_header(3, &encode_header(3)[..20]).is_err());
    }

    #[test]
    fn invalid_keys_in_checksum_valid_records_are_refused() {
        let mut buf = Vec::new();
        encode_record(&mut buf, KIND_PUT, 1, "a/../b", b"v");
        assert!(decode_record(&buf).unwrap_err().contains("invalid key"));
    }
}
