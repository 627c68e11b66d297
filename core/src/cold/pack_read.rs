//! Reading a pack back into objects: a bundle's pack, or any pack `git` wrote.
//!
//! The bytes are untrusted (a bundle comes from anywhere). Every declared size is checked
//! against [`PackLimits`] and against what the remaining input could inflate to before any
//! memory is set aside for it, inflation grows its buffer as output actually arrives, delta
//! chains are resolved with an explicit work list (no recursion), and nothing panics: damage is
//! a [`PackError`] naming what was wrong and the offset of the entry.
//!
//! Format: git's `Documentation/gitformat-pack.txt`. Versions 2 and 3 (the same layout) are
//! read; entries may be whole objects, `OFS_DELTA` (base named by its offset earlier in the
//! pack) or `REF_DELTA` (base named by id, which must be in the same pack: a thin pack is an
//! error naming the missing base). The trailing SHA-1 is checked first, every object's id is
//! computed from its content.

use alloc::boxed::Box;
use alloc::vec::Vec;

use hashbrown::{HashMap, HashSet};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

use super::objects::{Kind, Object, Oid, hex, object_id, sha1};

/// What one pack may cost to read. Sizes in a pack are untrusted: each is checked against
/// these before memory is set aside for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackLimits {
    /// Entries in the pack (its header's count).
    pub objects_max: u32,
    /// Bytes of one inflated entry: an object, a delta, or a delta's result.
    pub object_bytes_max: u64,
    /// Bytes inflated and produced by delta resolution over the whole pack, together: a bound
    /// on the memory and the work of one read.
    pub total_bytes_max: u64,
    /// Deltas on top of deltas, from a whole object to the last delta of its chain.
    pub delta_depth_max: u32,
}

impl Default for PackLimits {
    /// Generous for any history this store writes, bounded for memory:
    /// - 4,000,000 objects: a store of a million keys, committed many times and repacked, is
    ///   well under it; each entry costs about a hundred bytes of bookkeeping on top of its data;
    /// - 64 MiB per object: four times the default `value_bytes_max` (16 MiB), and room for the
    ///   tree of a directory of about a million keys;
    /// - 1 GiB in total: the objects are returned in memory, so the whole history has to fit,
    ///   with the bases of pending deltas and the caller's own copy, in a 32-bit address space
    ///   (the browser); a bigger history is better cloned with `git` than imported in one piece;
    /// - a delta depth of 4095: the deepest chain `git pack-objects` writes (it caps `--depth`
    ///   there); resolution is iterative, so depth costs no stack.
    fn default() -> PackLimits {
        PackLimits {
            objects_max: 4_000_000,
            object_bytes_max: 64 << 20,
            total_bytes_max: 1 << 30,
            delta_depth_max: 4095,
        }
    }
}

/// Why a pack does not read. Offsets are from the start of the pack.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    #[error("pack of {len} bytes is shorter than a header and trailer")]
    TooShort { len: u64 },
    #[error("not a pack: no \"PACK\" signature at offset 0")]
    BadMagic,
    #[error("pack version {version} is not supported (only 2 and 3)")]
    UnsupportedVersion { version: u32 },
    #[error("pack checksum mismatch: the trailing SHA-1 is not that of the pack's contents")]
    ChecksumMismatch,
    #[error("pack holds {count} objects, above the limit of {max}")]
    TooManyObjects { count: u32, max: u32 },
    #[error("pack entry at offset {offset} is cut short: {what}")]
    Truncated { offset: u64, what: &'static str },
    #[error(
        "pack entry at offset {offset} has type {type_number}, which is not an object or delta"
    )]
    BadType { offset: u64, type_number: u8 },
    #[error("pack entry at offset {offset} has a size or offset that does not fit 64 bits")]
    VarintOverflow { offset: u64 },
    #[error("pack entry at offset {offset} is {size} bytes, above the limit of {max}")]
    ObjectTooLarge { offset: u64, size: u64, max: u64 },
    #[error("pack entry at offset {offset} passes the limit of {max} bytes inflated in one pack")]
    TotalTooLarge { offset: u64, max: u64 },
    #[error(
        "pack entry at offset {offset} declares {size} bytes, more than the {remaining} bytes \
         left in the pack could inflate to"
    )]
    SizeBeyondInput {
        offset: u64,
        size: u64,
        remaining: u64,
    },
    #[error("pack entry at offset {offset} has bad compressed data: {what}")]
    Zlib { offset: u64, what: &'static str },
    #[error("pack entry at offset {offset} inflates to more than its declared {declared} bytes")]
    LargerThanDeclared { offset: u64, declared: u64 },
    #[error(
        "pack entry at offset {offset} inflates to {inflated} bytes, not its declared {declared}"
    )]
    SmallerThanDeclared {
        offset: u64,
        declared: u64,
        inflated: u64,
    },
    #[error("delta at offset {offset} names a base at offset {base_offset}, where no entry starts")]
    BadBaseOffset { offset: u64, base_offset: u64 },
    #[error(
        "delta at offset {offset} needs base {} which is not in the pack (a thin pack: its base \
         lives in another repository)",
        hex(.base)
    )]
    MissingBase { offset: u64, base: Oid },
    #[error("delta at offset {offset} could not be resolved (its chain of bases loops)")]
    Unresolved { offset: u64 },
    #[error("delta at offset {offset} is deeper than {max} deltas on top of an object")]
    DeltaTooDeep { offset: u64, max: u32 },
    #[error(
        "delta at offset {offset} is for a base of {expected} bytes, but its base has {actual}"
    )]
    DeltaBaseSize {
        offset: u64,
        expected: u64,
        actual: u64,
    },
    #[error("delta at offset {offset} is malformed: {what}")]
    BadDelta { offset: u64, what: &'static str },
    #[error("pack entries end at offset {offset}, before the trailing checksum")]
    TrailingBytes { offset: u64 },
}

const HEADER_BYTES: usize = 12;
const TRAILER_BYTES: usize = 20;
const OFS_DELTA: u8 = 6;
const REF_DELTA: u8 = 7;
/// Deflate's densest output: a length of 258 from a 1-bit length code and a 1-bit distance
/// code, 258 bytes per 2 bits of input. No stream inflates to more than this per input byte.
const INFLATE_RATIO_MAX: u64 = 1032;
/// The output buffer of an inflation starts this big (or at the declared size when smaller)
/// and doubles as output arrives, so a false declared size costs no more than the real output.
const INFLATE_FIRST_BYTES: usize = 64 << 10;
/// The smallest entry: a one-byte header and an empty zlib stream (2-byte header, 2-byte
/// empty block, 4-byte Adler-32). Bounds the bookkeeping set aside from the header's count.
const ENTRY_BYTES_MIN: usize = 9;

/// Where an entry's base is.
#[derive(Clone, Copy, Debug)]
enum Base {
    /// A whole object.
    Whole(Kind),
    /// A delta on the entry with this index.
    Entry(usize),
    /// A delta on the object with this id.
    Id(Oid),
}

#[derive(Debug)]
struct Entry {
    offset: u64,
    base: Base,
    /// Inflated bytes: the object, or the delta until resolved, then its result.
    data: Vec<u8>,
    /// Kind, id and delta depth once known.
    resolved: Option<(Kind, Oid, u32)>,
}

/// Reads every object of the pack `bytes`, in pack order, each with its id computed from its
/// content.
pub fn read_pack(bytes: &[u8], limits: &PackLimits) -> Result<Vec<Object>, PackError> {
    let (body, trailer) = bytes
        .len()
        .checked_sub(TRAILER_BYTES)
        .filter(|&n| n >= HEADER_BYTES)
        .and_then(|n| bytes.split_at_checked(n))
        .ok_or(PackError::TooShort {
            len: bytes.len() as u64,
        })?;
    let (header, _) = body
        .split_at_checked(HEADER_BYTES)
        .ok_or(PackError::TooShort {
            len: bytes.len() as u64,
        })?;
    if header.get(..4) != Some(b"PACK".as_slice()) {
        return Err(PackError::BadMagic);
    }
    let version = be_u32(header.get(4..8));
    if version != 2 && version != 3 {
        return Err(PackError::UnsupportedVersion { version });
    }
    let count = be_u32(header.get(8..12));
    if count > limits.objects_max {
        return Err(PackError::TooManyObjects {
            count,
            max: limits.objects_max,
        });
    }
    if sha1(body).as_slice() != trailer {
        return Err(PackError::ChecksumMismatch);
    }
    let mut entries = read_entries(body, count, limits)?;
    resolve(&mut entries, limits)?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let (kind, oid, _) = e
            .resolved
            .ok_or(PackError::Unresolved { offset: e.offset })?;
        out.push(Object {
            oid,
            kind,
            data: e.data,
        });
    }
    Ok(out)
}

fn be_u32(bytes: Option<&[u8]>) -> u32 {
    bytes
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes)
}

/// Bytes inflated or produced so far, against the pack's limit.
struct Budget {
    used: u64,
    max: u64,
}

impl Budget {
    fn charge(&mut self, bytes: u64, offset: u64) -> Result<(), PackError> {
        match self.used.checked_add(bytes) {
            Some(used) if used <= self.max => {
                self.used = used;
                Ok(())
            }
            _ => Err(PackError::TotalTooLarge {
                offset,
                max: self.max,
            }),
        }
    }
}

/// Parses and inflates every entry of `body` (the pack without its trailer).
fn read_entries(body: &[u8], count: u32, limits: &PackLimits) -> Result<Vec<Entry>, PackError> {
    let capacity = (count as usize).min(body.len() / ENTRY_BYTES_MIN);
    let mut entries: Vec<Entry> = Vec::with_capacity(capacity);
    let mut budget = Budget {
        used: 0,
        max: limits.total_bytes_max,
    };
    let mut inflater = Box::<DecompressorOxide>::default();
    let mut pos = HEADER_BYTES;
    for _ in 0..count {
        let offset = pos as u64;
        let rest = body.get(pos..).unwrap_or_default();
        let (type_number, size, header_len) = entry_header(rest, offset)?;
        let after_header = rest.get(header_len..).unwrap_or_default();
        let (base, base_len) = match type_number {
            OFS_DELTA => {
                let (distance, len) = base_distance(after_header, offset)?;
                let base_offset = offset
                    .checked_sub(distance)
                    .filter(|_| distance != 0)
                    .ok_or(PackError::BadBaseOffset {
                        offset,
                        base_offset: 0,
                    })?;
                // Entries are in offset order: the base is found by binary search.
                let index = entries
                    .binary_search_by_key(&base_offset, |e| e.offset)
                    .map_err(|_| PackError::BadBaseOffset {
                        offset,
                        base_offset,
                    })?;
                (Base::Entry(index), len)
            }
            REF_DELTA => {
                let id: Oid = after_header
                    .get(..20)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(PackError::Truncated {
                        offset,
                        what: "in the base id of a delta",
                    })?;
                (Base::Id(id), 20)
            }
            n => match Kind::from_pack_type(n) {
                Some(kind) => (Base::Whole(kind), 0),
                None => {
                    return Err(PackError::BadType {
                        offset,
                        type_number: n,
                    });
                }
            },
        };
        let compressed = after_header.get(base_len..).unwrap_or_default();
        if size > limits.object_bytes_max {
            return Err(PackError::ObjectTooLarge {
                offset,
                size,
                max: limits.object_bytes_max,
            });
        }
        budget.charge(size, offset)?;
        let remaining = compressed.len() as u64;
        if size > remaining.saturating_mul(INFLATE_RATIO_MAX) {
            return Err(PackError::SizeBeyondInput {
                offset,
                size,
                remaining,
            });
        }
        let (data, consumed) = inflate(&mut inflater, compressed, size, offset)?;
        pos = pos
            .saturating_add(header_len)
            .saturating_add(base_len)
            .saturating_add(consumed);
        entries.push(Entry {
            offset,
            base,
            data,
            resolved: None,
        });
    }
    if pos != body.len() {
        return Err(PackError::TrailingBytes { offset: pos as u64 });
    }
    Ok(entries)
}

/// An entry header: (type, size, bytes it takes). The type is in bits 4-6 of the first byte,
/// the size in little-endian groups of 4 then 7 bits, the high bit saying another byte follows.
fn entry_header(rest: &[u8], offset: u64) -> Result<(u8, u64, usize), PackError> {
    let truncated = PackError::Truncated {
        offset,
        what: "in the entry header",
    };
    let mut bytes = rest.iter();
    let &first = bytes.next().ok_or(truncated.clone())?;
    let type_number = (first >> 4) & 0x07;
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4u32;
    let mut len = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *bytes.next().ok_or(truncated.clone())?;
        len += 1;
        let part = u64::from(byte & 0x7f);
        let shifted = part.checked_shl(shift).unwrap_or(0);
        if shifted >> shift != part {
            return Err(PackError::VarintOverflow { offset });
        }
        size |= shifted;
        shift += 7;
    }
    Ok((type_number, size, len))
}

/// The distance back to an `OFS_DELTA`'s base, and the bytes it takes: big-endian groups of 7
/// bits where each continuation also adds one (so no value has two encodings).
fn base_distance(rest: &[u8], offset: u64) -> Result<(u64, usize), PackError> {
    let mut bytes = rest.iter();
    let truncated = PackError::Truncated {
        offset,
        what: "in the base offset of a delta",
    };
    let mut byte = *bytes.next().ok_or(truncated.clone())?;
    let mut distance = u64::from(byte & 0x7f);
    let mut len = 1;
    while byte & 0x80 != 0 {
        byte = *bytes.next().ok_or(truncated.clone())?;
        len += 1;
        distance = distance
            .checked_add(1)
            .filter(|d| d.leading_zeros() >= 7)
            .ok_or(PackError::VarintOverflow { offset })?;
        distance = (distance << 7) | u64::from(byte & 0x7f);
    }
    Ok((distance, len))
}

/// Inflates one zlib stream from the start of `input` to exactly `size` bytes; returns them
/// and the number of compressed bytes the stream took.
fn inflate(
    inflater: &mut DecompressorOxide,
    input: &[u8],
    size: u64,
    offset: u64,
) -> Result<(Vec<u8>, usize), PackError> {
    // The caller checked `size` against the limits; it fits in memory, so in a usize.
    let size_bytes = usize::try_from(size).map_err(|_| PackError::ObjectTooLarge {
        offset,
        size,
        max: usize::MAX as u64,
    })?;
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
    inflater.init();
    let mut out = alloc::vec![0u8; size_bytes.min(INFLATE_FIRST_BYTES)];
    let mut in_pos = 0usize;
    let mut out_pos = 0usize;
    loop {
        let input_left = input.get(in_pos..).unwrap_or_default();
        let (status, consumed, written) =
            decompress(inflater, input_left, &mut out, out_pos, flags);
        in_pos = in_pos.saturating_add(consumed);
        out_pos = out_pos.saturating_add(written);
        match status {
            TINFLStatus::Done => break,
            TINFLStatus::HasMoreOutput => {
                if out.len() >= size_bytes {
                    return Err(PackError::LargerThanDeclared {
                        offset,
                        declared: size,
                    });
                }
                let grown = out.len().saturating_mul(2).max(1).min(size_bytes);
                out.resize(grown, 0);
            }
            TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
                return Err(PackError::Truncated {
                    offset,
                    what: "in compressed data",
                });
            }
            TINFLStatus::Adler32Mismatch => {
                return Err(PackError::Zlib {
                    offset,
                    what: "Adler-32 mismatch",
                });
            }
            _ => {
                return Err(PackError::Zlib {
                    offset,
                    what: "not a valid zlib stream",
                });
            }
        }
    }
    if out_pos != size_bytes {
        return Err(PackError::SmallerThanDeclared {
            offset,
            declared: size,
            inflated: out_pos as u64,
        });
    }
    out.truncate(out_pos);
    Ok((out, in_pos))
}

/// Gives every entry its kind, id and final data: whole objects first, then each delta once
/// its base is known, from a work list (a chain of any depth costs no stack).
fn resolve(entries: &mut [Entry], limits: &PackLimits) -> Result<(), PackError> {
    let mut budget = Budget {
        used: entries.iter().map(|e| e.data.len() as u64).sum(),
        max: limits.total_bytes_max,
    };
    let mut on_entry: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut on_id: HashMap<Oid, Vec<usize>> = HashMap::new();
    let mut ready: Vec<usize> = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        match e.base {
            Base::Whole(kind) => {
                e.resolved = Some((kind, object_id(kind, &e.data), 0));
                ready.push(i);
            }
            Base::Entry(base) => on_entry.entry(base).or_default().push(i),
            Base::Id(id) => on_id.entry(id).or_default().push(i),
        }
    }
    while let Some(i) = ready.pop() {
        let Some(entry) = entries.get_mut(i) else {
            continue;
        };
        let Some((kind, oid, depth)) = entry.resolved else {
            continue;
        };
        let mut children = on_entry.remove(&i).unwrap_or_default();
        children.extend(on_id.remove(&oid).unwrap_or_default());
        if children.is_empty() {
            continue;
        }
        // The base's bytes are lent out while its deltas are applied, then put back.
        let base = core::mem::take(&mut entry.data);
        let result = apply_children(entries, &base, kind, depth, &children, limits, &mut budget);
        if let Some(entry) = entries.get_mut(i) {
            entry.data = base;
        }
        result?;
        ready.extend(children);
    }
    if let Some(unresolved) = entries.iter().find(|e| e.resolved.is_none()) {
        // Name the root cause: a base id that no object of the pack has.
        let known: HashSet<Oid> = entries
            .iter()
            .filter_map(|e| e.resolved.map(|(_, oid, _)| oid))
            .collect();
        for e in entries.iter() {
            if let (Base::Id(base), None) = (e.base, e.resolved)
                && !known.contains(&base)
            {
                return Err(PackError::MissingBase {
                    offset: e.offset,
                    base,
                });
            }
        }
        return Err(PackError::Unresolved {
            offset: unresolved.offset,
        });
    }
    Ok(())
}

fn apply_children(
    entries: &mut [Entry],
    base: &[u8],
    kind: Kind,
    depth: u32,
    children: &[usize],
    limits: &PackLimits,
    budget: &mut Budget,
) -> Result<(), PackError> {
    for &c in children {
        let Some(child) = entries.get_mut(c) else {
            continue;
        };
        if depth >= limits.delta_depth_max {
            return Err(PackError::DeltaTooDeep {
                offset: child.offset,
                max: limits.delta_depth_max,
            });
        }
        let result = apply_delta(base, &child.data, child.offset, limits, budget)?;
        child.resolved = Some((kind, object_id(kind, &result), depth + 1));
        child.data = result;
    }
    Ok(())
}

/// Why a git delta's instructions cannot be decoded (shared by this reader and
/// `tree_view`, which applies deltas as pieces instead of bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeltaFault {
    HeaderCutShort,
    SizeOverflow,
    CopyCutShort,
    InsertCutShort,
    Reserved,
}

impl DeltaFault {
    pub(crate) fn what(self) -> &'static str {
        match self {
            DeltaFault::HeaderCutShort => "header cut short",
            DeltaFault::SizeOverflow => "size overflows",
            DeltaFault::CopyCutShort => "copy instruction cut short",
            DeltaFault::InsertCutShort => "insert instruction cut short",
            DeltaFault::Reserved => "reserved instruction 0",
        }
    }
}

/// A size in a delta's header: little-endian groups of 7 bits.
pub(crate) fn delta_header_size(delta: &[u8]) -> Result<(u64, &[u8]), DeltaFault> {
    let mut value = 0u64;
    let mut shift = 0u32;
    let mut rest = delta;
    loop {
        let (&byte, tail) = rest.split_first().ok_or(DeltaFault::HeaderCutShort)?;
        rest = tail;
        let part = u64::from(byte & 0x7f);
        let shifted = part.checked_shl(shift).unwrap_or(0);
        if shifted >> shift != part {
            return Err(DeltaFault::SizeOverflow);
        }
        value |= shifted;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok((value, rest));
        }
    }
}

fn delta_size(delta: &[u8], offset: u64) -> Result<(u64, &[u8]), PackError> {
    delta_header_size(delta).map_err(|fault| match fault {
        DeltaFault::SizeOverflow => PackError::VarintOverflow { offset },
        other => PackError::BadDelta {
            offset,
            what: other.what(),
        },
    })
}

/// One instruction of a git delta.
pub(crate) enum DeltaOp<'a> {
    /// Copy `size` bytes of the base from `offset` (not yet checked against the base).
    Copy { offset: usize, size: usize },
    /// Insert these bytes.
    Insert(&'a [u8]),
}

/// Takes the next instruction off `ops`: copy a range of the base (high bit set; which offset
/// and size bytes follow is in the low 7 bits; a size of 0 means 0x10000) or insert the next
/// 1-127 bytes (the instruction is the count; 0 is reserved). `None` at the end.
pub(crate) fn next_delta_op<'a>(ops: &mut &'a [u8]) -> Option<Result<DeltaOp<'a>, DeltaFault>> {
    let (&op, tail) = ops.split_first()?;
    *ops = tail;
    if op & 0x80 != 0 {
        let mut offset = 0usize;
        let mut size = 0usize;
        for bit in 0..7u32 {
            if op & (1 << bit) == 0 {
                continue;
            }
            let Some((&byte, tail)) = ops.split_first() else {
                return Some(Err(DeltaFault::CopyCutShort));
            };
            *ops = tail;
            if bit < 4 {
                offset |= usize::from(byte) << (8 * bit);
            } else {
                size |= usize::from(byte) << (8 * (bit - 4));
            }
        }
        if size == 0 {
            size = 0x10000;
        }
        Some(Ok(DeltaOp::Copy { offset, size }))
    } else if op == 0 {
        Some(Err(DeltaFault::Reserved))
    } else {
        let Some((data, tail)) = ops.split_at_checked(usize::from(op)) else {
            return Some(Err(DeltaFault::InsertCutShort));
        };
        *ops = tail;
        Some(Ok(DeltaOp::Insert(data)))
    }
}

/// Applies git's delta instructions ([`next_delta_op`]) to `base`.
fn apply_delta(
    base: &[u8],
    delta: &[u8],
    offset: u64,
    limits: &PackLimits,
    budget: &mut Budget,
) -> Result<Vec<u8>, PackError> {
    let bad = |what| PackError::BadDelta { offset, what };
    let (base_size, rest) = delta_size(delta, offset)?;
    if base_size != base.len() as u64 {
        return Err(PackError::DeltaBaseSize {
            offset,
            expected: base_size,
            actual: base.len() as u64,
        });
    }
    let (result_size, mut rest) = delta_size(rest, offset)?;
    if result_size > limits.object_bytes_max {
        return Err(PackError::ObjectTooLarge {
            offset,
            size: result_size,
            max: limits.object_bytes_max,
        });
    }
    // Each instruction byte yields at most a copy of the whole base, or one inserted byte.
    let reachable = (rest.len() as u64).saturating_mul((base.len() as u64).max(0x7f));
    if result_size > reachable {
        return Err(bad(
            "declares a result longer than its instructions can produce",
        ));
    }
    budget.charge(result_size, offset)?;
    let result_bytes =
        usize::try_from(result_size).map_err(|_| bad("result does not fit in memory"))?;
    let mut out = Vec::with_capacity(result_bytes);
    while let Some(op) = next_delta_op(&mut rest) {
        let chunk = match op.map_err(|fault| bad(fault.what()))? {
            DeltaOp::Copy { offset: from, size } => from
                .checked_add(size)
                .and_then(|end| base.get(from..end))
                .ok_or(bad("copy past the end of the base"))?,
            DeltaOp::Insert(data) => data,
        };
        if out.len().saturating_add(chunk.len()) > result_bytes {
            return Err(bad("result longer than declared"));
        }
        out.extend_from_slice(chunk);
    }
    if out.len() != result_bytes {
        return Err(bad("result shorter than declared"));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
pub(super) mod tests {
    use super::*;
    use crate::cold::objects::{push_entry_header, write_pack};
    use alloc::vec;

    fn blob(data: &[u8]) -> Object {
        Object::new(Kind::Blob, data.to_vec())
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
    }

    /// A pack of raw entries (header bytes and payload already built), sealed with its SHA-1.
    fn seal(count: u32, entries: &[u8]) -> Vec<u8> {
        let mut pack = b"PACK".to_vec();
        pack.extend_from_slice(&2u32.to_be_bytes());
        pack.extend_from_slice(&count.to_be_bytes());
        pack.extend_from_slice(entries);
        let sum = sha1(&pack);
        pack.extend_from_slice(&sum);
        pack
    }

    /// Replaces the trailer of a (possibly damaged) pack with the right checksum, so the
    /// damage reaches the entry parser.
    fn reseal(bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out.extend_from_slice(&sha1(bytes));
        out
    }

    /// A delta header's size: little-endian groups of 7 bits (also used by `tree_view`'s tests).
    pub(crate) fn varint(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn ofs_distance(mut d: u64) -> Vec<u8> {
        let mut bytes = vec![(d & 0x7f) as u8];
        d >>= 7;
        while d != 0 {
            d -= 1;
            bytes.push(0x80 | (d & 0x7f) as u8);
            d >>= 7;
        }
        bytes.reverse();
        bytes
    }

    /// A delta turning `base` into `base[..keep] + insert`.
    fn delta(base: &[u8], keep: usize, insert: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        varint(base.len() as u64, &mut d);
        varint((keep + insert.len()) as u64, &mut d);
        // copy offset 0, size `keep` (2 size bytes)
        d.push(0x80 | 0x10 | 0x20);
        d.push((keep & 0xff) as u8);
        d.push((keep >> 8) as u8);
        d.push(insert.len() as u8);
        d.extend_from_slice(insert);
        d
    }

    #[test]
    fn write_pack_output_reads_back() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let exact: Vec<u8> = (0..65_536u32).map(|i| (i % 13) as u8).collect();
        let objects = vec![
            blob(b"hello\n"),
            blob(b""),
            blob(&big),
            blob(&exact),
            Object::new(Kind::Tree, Vec::new()),
            Object::new(
                Kind::Commit,
                b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n".to_vec(),
            ),
        ];
        let pack = write_pack(&objects);
        let read = read_pack(&pack.pack, &PackLimits::default()).unwrap();
        assert_eq!(read, objects);
        let empty = write_pack(&[]);
        assert_eq!(
            read_pack(&empty.pack, &PackLimits::default()).unwrap(),
            vec![]
        );
        let mut v3 = pack.pack.clone();
        v3[7] = 3;
        assert_eq!(
            read_pack(&reseal(&v3[..v3.len() - 20]), &PackLimits::default()).unwrap(),
            objects
        );
        v3[7] = 4;
        assert_eq!(
            read_pack(&reseal(&v3[..v3.len() - 20]), &PackLimits::default()),
            Err(PackError::UnsupportedVersion { version: 4 })
        );
    }

    /// A base blob, an `OFS_DELTA` on it, a `REF_DELTA` on the delta (a chain of two), and a
    /// `REF_DELTA` whose base comes later in the pack.
    fn delta_pack() -> (Vec<u8>, Vec<Object>) {
        let base = b"The quick brown fox jumps over the lazy dog.\n".repeat(20);
        let second = [&base[..800], b"and then sleeps.\n".as_slice()].concat();
        let third = [&second[..100], b"short.\n".as_slice()].concat();
        let late = b"a base written after its delta\n".to_vec();
        let late_child = [&late[..7], b" child\n".as_slice()].concat();
        let mut body = Vec::new();
        let base_at = 12u64;
        push_entry_header(&mut body, Kind::Blob as u8, base.len() as u64);
        body.extend_from_slice(&zlib(&base));
        let ofs_at = 12 + body.len() as u64;
        let d1 = delta(&base, 800, b"and then sleeps.\n");
        push_entry_header(&mut body, OFS_DELTA, d1.len() as u64);
        body.extend_from_slice(&ofs_distance(ofs_at - base_at));
        body.extend_from_slice(&zlib(&d1));
        let d2 = delta(&second, 100, b"short.\n");
        push_entry_header(&mut body, REF_DELTA, d2.len() as u64);
        body.extend_from_slice(&object_id(Kind::Blob, &second));
        body.extend_from_slice(&zlib(&d2));
        let d3 = delta(&late, 7, b" child\n");
        push_entry_header(&mut body, REF_DELTA, d3.len() as u64);
        body.extend_from_slice(&object_id(Kind::Blob, &late));
        body.extend_from_slice(&zlib(&d3));
        push_entry_header(&mut body, Kind::Blob as u8, late.len() as u64);
        body.extend_from_slice(&zlib(&late));
        let want = vec![
            blob(&base),
            blob(&second),
            blob(&third),
            blob(&late_child),
            blob(&late),
        ];
        (seal(5, &body), want)
    }

    #[test]
    fn ofs_and_ref_deltas_resolve() {
        let (pack, want) = delta_pack();
        let got = read_pack(&pack, &PackLimits::default()).unwrap();
        assert_eq!(got, want);
        assert_eq!(got[2].data, [&want[0].data[..100], b"short.\n"].concat());
        // The chain is two deep: a depth limit of 1 refuses the REF_DELTA on the OFS_DELTA.
        let limits = PackLimits {
            delta_depth_max: 1,
            ..PackLimits::default()
        };
        assert!(matches!(
            read_pack(&pack, &limits),
            Err(PackError::DeltaTooDeep { max: 1, .. })
        ));
    }

    #[test]
    fn a_thin_pack_names_its_missing_base() {
        let base = b"elsewhere\n".to_vec();
        let d = delta(&base, 4, b"!\n");
        let mut body = Vec::new();
        push_entry_header(&mut body, REF_DELTA, d.len() as u64);
        let missing = object_id(Kind::Blob, &base);
        body.extend_from_slice(&missing);
        body.extend_from_slice(&zlib(&d));
        let err = read_pack(&seal(1, &body), &PackLimits::default()).unwrap_err();
        assert_eq!(
            err,
            PackError::MissingBase {
                offset: 12,
                base: missing
            }
        );
        assert!(alloc::format!("{err}").contains(&hex(&missing)));
    }

    #[test]
    fn bad_delta_base_offsets_and_sizes_are_errors() {
        let base = b"0123456789".to_vec();
        let mut body = Vec::new();
        push_entry_header(&mut body, Kind::Blob as u8, base.len() as u64);
        body.extend_from_slice(&zlib(&base));
        let at = 12 + body.len() as u64;
        // Points one byte after the base's start: no entry there.
        let d = delta(&base, 4, b"x");
        push_entry_header(&mut body, OFS_DELTA, d.len() as u64);
        body.extend_from_slice(&ofs_distance(at - 13));
        body.extend_from_slice(&zlib(&d));
        assert_eq!(
            read_pack(&seal(2, &body), &PackLimits::default()),
            Err(PackError::BadBaseOffset {
                offset: at,
                base_offset: 13
            })
        );
        // A delta for a base of another size.
        let mut body = Vec::new();
        push_entry_header(&mut body, Kind::Blob as u8, base.len() as u64);
        body.extend_from_slice(&zlib(&base));
        let at = 12 + body.len() as u64;
        let d = delta(b"0123", 4, b"x");
        push_entry_header(&mut body, OFS_DELTA, d.len() as u64);
        body.extend_from_slice(&ofs_distance(at - 12));
        body.extend_from_slice(&zlib(&d));
        assert_eq!(
            read_pack(&seal(2, &body), &PackLimits::default()),
            Err(PackError::DeltaBaseSize {
                offset: at,
                expected: 4,
                actual: 10
            })
        );
    }

    #[test]
    fn delta_instructions_are_checked() {
        let base = b"0123456789";
        let limits = PackLimits::default();
        let mut budget = Budget {
            used: 0,
            max: u64::MAX,
        };
        let mut run = |d: &[u8]| apply_delta(base, d, 0, &limits, &mut budget);
        assert_eq!(run(&delta(base, 4, b"ab")).unwrap(), b"0123ab");
        // Copy offset 8, size 4: past the end.
        assert!(run(&[10, 4, 0x91, 8, 4]).is_err());
        // Reserved instruction.
        assert!(run(&[10, 1, 0]).is_err());
        // Insert cut short.
        assert!(run(&[10, 3, 3, b'a']).is_err());
        // Result longer and shorter than declared.
        assert!(run(&[10, 1, 2, b'a', b'b']).is_err());
        assert!(run(&[10, 3, 2, b'a', b'b']).is_err());
        // A declared result no instruction stream that short could produce.
        assert!(matches!(
            run(&[10, 0xff, 0xff, 0x03, 1, b'a']),
            Err(PackError::BadDelta { .. })
        ));
        // Sizes that overflow 64 bits.
        assert!(matches!(
            run(&[0xff; 12]),
            Err(PackError::VarintOverflow { .. })
        ));
        // Size 0 in a copy means 0x10000.
        let big = vec![7u8; 0x10000];
        let mut d = Vec::new();
        varint(0x10000, &mut d);
        varint(0x10000, &mut d);
        d.push(0x80);
        assert_eq!(apply_delta(&big, &d, 0, &limits, &mut budget).unwrap(), big);
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_an_error_not_a_panic() {
        let (pack, _) = delta_pack();
        let limits = PackLimits::default();
        for cut in 0..pack.len() {
            // As given (the checksum fails) and resealed (the damage reaches the entries).
            assert!(read_pack(&pack[..cut], &limits).is_err(), "cut {cut}");
            let body = &pack[..cut.min(pack.len() - 20)];
            if body.len() < pack.len() - 20 {
                assert!(
                    read_pack(&reseal(body), &limits).is_err(),
                    "resealed cut {cut}"
                );
            }
        }
        let body = &pack[..pack.len() - 20];
        for i in 0..body.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = body.to_vec();
                damaged[i] ^= flip;
                let mut sealed_wrong = damaged.clone();
                sealed_wrong.extend_from_slice(&pack[pack.len() - 20..]);
                // The header is checked before the checksum; the rest is covered by it.
                let err = read_pack(&sealed_wrong, &limits).unwrap_err();
                if i >= HEADER_BYTES {
                    assert_eq!(err, PackError::ChecksumMismatch);
                }
                // Resealed, the damage may still decode (a padding bit of a zlib stream, say),
                // but every id is that of the content returned.
                if let Ok(objects) = read_pack(&reseal(&damaged), &limits) {
                    for o in &objects {
                        assert_eq!(o.oid, object_id(o.kind, &o.data));
                    }
                }
            }
        }
        // Trailing bytes between the last entry and the checksum.
        let mut extra = body.to_vec();
        extra.push(0);
        assert_eq!(
            read_pack(&reseal(&extra), &limits),
            Err(PackError::TrailingBytes {
                offset: body.len() as u64
            })
        );
    }

    #[test]
    fn limits_are_enforced_before_memory_is_set_aside() {
        let objects = vec![blob(&[1u8; 5000]), blob(&[2u8; 5000])];
        let pack = write_pack(&objects).pack;
        let with = |f: fn(&mut PackLimits)| {
            let mut l = PackLimits::default();
            f(&mut l);
            read_pack(&pack, &l)
        };
        assert_eq!(
            with(|l| l.objects_max = 1),
            Err(PackError::TooManyObjects { count: 2, max: 1 })
        );
        assert_eq!(
            with(|l| l.object_bytes_max = 4999),
            Err(PackError::ObjectTooLarge {
                offset: 12,
                size: 5000,
                max: 4999
            })
        );
        assert!(matches!(
            with(|l| l.total_bytes_max = 9999),
            Err(PackError::TotalTooLarge { max: 9999, .. })
        ));
        assert!(with(|l| l.total_bytes_max = 10_000).is_ok());
        // A declared size of 60 GiB on a few bytes of input: refused from the input's length,
        // with limits that would allow it.
        let mut body = Vec::new();
        push_entry_header(&mut body, Kind::Blob as u8, 60 << 30);
        body.extend_from_slice(&zlib(b"tiny"));
        let unlimited = PackLimits {
            objects_max: u32::MAX,
            object_bytes_max: u64::MAX,
            total_bytes_max: u64::MAX,
            delta_depth_max: u32::MAX,
        };
        assert!(matches!(
            read_pack(&seal(1, &body), &unlimited),
            Err(PackError::SizeBeyondInput { .. })
        ));
        // A declared size that is possible but false: the stream inflates to less.
        let mut body = Vec::new();
        push_entry_header(&mut body, Kind::Blob as u8, 1000);
        body.extend_from_slice(&zlib(&[0u8; 10]));
        assert_eq!(
            read_pack(&seal(1, &body), &unlimited),
            Err(PackError::SmallerThanDeclared {
                offset: 12,
                declared: 1000,
                inflated: 10
            })
        );
        let mut body = Vec::new();
        push_entry_header(&mut body, Kind::Blob as u8, 9);
        body.extend_from_slice(&zlib(&[0u8; 10]));
        assert_eq!(
            read_pack(&seal(1, &body), &unlimited),
            Err(PackError::LargerThanDeclared {
                offset: 12,
                declared: 9
            })
        );
        // A count of four billion entries on an empty body.
        assert!(matches!(
            read_pack(&seal(u32::MAX, &[]), &unlimited),
            Err(PackError::Truncated { .. })
        ));
        // Entry types 0 and 5 are not objects.
        for t in [0u8, 5] {
            let mut body = Vec::new();
            push_entry_header(&mut body, t, 1);
            body.extend_from_slice(&zlib(b"x"));
            assert_eq!(
                read_pack(&seal(1, &body), &unlimited),
                Err(PackError::BadType {
                    offset: 12,
                    type_number: t
                })
            );
        }
    }
}
