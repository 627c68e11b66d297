//! Git objects written by hand: ids, trees, commits, and undeltified packs with their index.
//!
//! Both hosts write the same bytes: the native store one pack per commit under `cold.git`, the
//! browser its objects into IndexedDB and its exports as bundles. Formats: git's
//! `Documentation/gitformat-pack.txt` and `gitformat-index.txt`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

/// A SHA-1 object id.
pub type Oid = [u8; 20];

/// Object types as numbered in pack entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
    Tag = 4,
}

impl Kind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
            Kind::Tag => "tag",
        }
    }

    /// The kind numbered `n` in a pack entry header (deltas, 6 and 7, are not object kinds).
    #[must_use]
    pub fn from_pack_type(n: u8) -> Option<Kind> {
        match n {
            1 => Some(Kind::Commit),
            2 => Some(Kind::Tree),
            3 => Some(Kind::Blob),
            4 => Some(Kind::Tag),
            _ => None,
        }
    }
}

/// An object ready to be packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub oid: Oid,
    pub kind: Kind,
    pub data: Vec<u8>,
}

impl Object {
    #[must_use]
    pub fn new(kind: Kind, data: Vec<u8>) -> Object {
        Object {
            oid: object_id(kind, &data),
            kind,
            data,
        }
    }
}

/// The id git gives `data` as an object of `kind`: SHA-1 of `"<type> <len>\0<data>"`.
#[must_use]
pub fn object_id(kind: Kind, data: &[u8]) -> Oid {
    let mut h = sha1_smol::Sha1::new();
    h.update(format!("{} {}\0", kind.name(), data.len()).as_bytes());
    h.update(data);
    h.digest().bytes()
}

/// SHA-1 of raw bytes (pack and index trailers).
#[must_use]
pub fn sha1(data: &[u8]) -> Oid {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// Lower-case hexadecimal, as git prints ids.
#[must_use]
pub fn hex(oid: &Oid) -> String {
    let mut s = String::with_capacity(40);
    for b in oid {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A 40-digit hexadecimal id (either case), or `None`.
#[must_use]
pub fn parse_hex(hex: &[u8]) -> Option<Oid> {
    if hex.len() != 40 {
        return None;
    }
    let mut oid = [0u8; 20];
    for (byte, pair) in oid.iter_mut().zip(hex.chunks_exact(2)) {
        let s = core::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(s, 16).ok()?;
    }
    Some(oid)
}

/// Tree entry modes.
pub const MODE_BLOB: &str = "100644";
pub const MODE_TREE: &str = "40000";

/// One entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub name: Vec<u8>,
    pub is_tree: bool,
    pub oid: Oid,
}

/// Encodes a tree in git's order: by name, with a subtree compared as if its name ended in `/`
/// (so `a.v` sorts before the directory `a`, and `git fsck` accepts the tree).
pub fn encode_tree(entries: &mut [TreeEntry]) -> Vec<u8> {
    entries.sort_unstable_by(|a, b| git_order(a).cmp(git_order(b)));
    let mut out = Vec::with_capacity(entries.len() * 40);
    for e in entries.iter() {
        out.extend_from_slice(if e.is_tree { MODE_TREE } else { MODE_BLOB }.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&e.name);
        out.push(0);
        out.extend_from_slice(&e.oid);
    }
    out
}

/// A tree entry's name as git compares it: a subtree's with a `/` after it.
fn git_order(e: &TreeEntry) -> impl Iterator<Item = u8> + '_ {
    e.name.iter().copied().chain(e.is_tree.then_some(b'/'))
}

/// Who and when, for a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
    pub time_secs: i64,
}

impl Signature {
    fn line(&self) -> String {
        // Names and emails come from the options; keep git's delimiters out of them.
        let clean = |s: &str| s.replace(['<', '>', '\n'], "");
        format!(
            "{} <{}> {} +0000",
            clean(&self.name),
            clean(&self.email),
            self.time_secs
        )
    }
}

#[must_use]
pub fn encode_commit(
    tree: &Oid,
    parent: Option<&Oid>,
    author: &Signature,
    committer: &Signature,
    message: &str,
) -> Vec<u8> {
    let mut out = format!("tree {}\n", hex(tree));
    if let Some(p) = parent {
        let _ = writeln!(out, "parent {}", hex(p));
    }
    let _ = write!(
        out,
        "author {}\ncommitter {}\n\n{message}",
        author.line(),
        committer.line()
    );
    out.into_bytes()
}

/// A pack holding some objects (undeltified) and its version-2 index.
#[derive(Clone, Debug)]
pub struct Pack {
    pub pack: Vec<u8>,
    pub index: Vec<u8>,
    pub checksum: Oid,
}

/// `data` as a zlib stream of stored (uncompressed) blocks: valid for every reader, and no
/// compressor in the build. The browser writes packs with it, which keeps its WebAssembly small;
/// the native store compresses (`write_pack_with` and zlib-rs).
pub fn zlib_stored(data: &[u8], out: &mut Vec<u8>) {
    const BLOCK_MAX: usize = 0xffff;
    out.extend_from_slice(&[0x78, 0x01]);
    let mut chunks = data.chunks(BLOCK_MAX).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
}

fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // 5552 bytes is the most that can be summed before the 32-bit sums must be reduced.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// A pack of `objects` with their zlib streams stored uncompressed ([`zlib_stored`]).
#[must_use]
pub fn write_pack(objects: &[Object]) -> Pack {
    write_pack_with(objects, zlib_stored)
}

/// A pack of `objects`, each object's data turned into a zlib stream by `zlib` (which appends
/// it to its second argument): the host chooses the compressor, the core the format.
#[must_use]
pub fn write_pack_with(objects: &[Object], mut zlib: impl FnMut(&[u8], &mut Vec<u8>)) -> Pack {
    let mut pack =
        Vec::with_capacity(objects.iter().map(|o| o.data.len() / 2 + 32).sum::<usize>() + 32);
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(
        &u32::try_from(objects.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    let mut entries: Vec<(Oid, u32, u64)> = Vec::with_capacity(objects.len());
    for o in objects {
        let start = pack.len();
        push_entry_header(&mut pack, o.kind as u8, o.data.len() as u64);
        zlib(&o.data, &mut pack);
        let crc = crate::crc::hash(pack.get(start..).unwrap_or_default());
        entries.push((o.oid, crc, start as u64));
    }
    let checksum = sha1(&pack);
    pack.extend_from_slice(&checksum);
    entries.sort_unstable_by_key(|e| e.0);
    let index = write_index(&entries, &checksum);
    Pack {
        pack,
        index,
        checksum,
    }
}

/// A pack entry header: type in bits 4-6 of the first byte, size in little-endian groups of
/// 4 then 7 bits, the high bit saying another byte follows.
pub(crate) fn push_entry_header(out: &mut Vec<u8>, type_number: u8, mut size: u64) {
    let mut byte = (type_number << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size != 0 {
        out.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(byte);
}

/// Index version 2: fan-out, sorted ids, CRC-32s, offsets (with the large-offset table when a
/// pack passes 2 GiB), the pack's checksum and the index's own.
fn write_index(entries: &[(Oid, u32, u64)], pack_checksum: &Oid) -> Vec<u8> {
    let mut idx = Vec::with_capacity(8 + 1024 + entries.len() * 28 + 40);
    idx.extend_from_slice(&[0xff, b't', b'O', b'c']);
    idx.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (oid, _, _) in entries {
        if let Some(slot) = fanout.get_mut(usize::from(oid[0])) {
            *slot += 1;
        }
    }
    let mut total = 0u32;
    for count in fanout {
        total += count;
        idx.extend_from_slice(&total.to_be_bytes());
    }
    for (oid, _, _) in entries {
        idx.extend_from_slice(oid);
    }
    for (_, crc, _) in entries {
        idx.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large: Vec<u64> = Vec::new();
    for (_, _, offset) in entries {
        match u32::try_from(*offset) {
            Ok(small) if small < 0x8000_0000 => idx.extend_from_slice(&small.to_be_bytes()),
            _ => {
                let slot = u32::try_from(large.len()).unwrap_or(u32::MAX);
                idx.extend_from_slice(&(0x8000_0000u32 | slot).to_be_bytes());
                large.push(*offset);
            }
        }
    }
    for offset in large {
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(pack_checksum);
    let own = sha1(&idx);
    idx.extend_from_slice(&own);
    idx
}

/// Subject naming the keys (abbreviated past a few), a body listing up to 100, and the
/// `Thermocline-Seq` trailer that recovery reads. `changes` is (key, is a put).
#[must_use]
pub fn commit_message<'a>(
    changes: impl ExactSizeIterator<Item = (&'a str, bool)> + Clone,
    through_seq: u64,
) -> String {
    const SUBJECT_KEYS: usize = 3;
    const BODY_KEYS: usize = 100;
    let count = changes.len();
    let names: Vec<&str> = changes.clone().take(SUBJECT_KEYS).map(|(k, _)| k).collect();
    let mut out = format!(
        "{count} {}: {}",
        if count == 1 { "key" } else { "keys" },
        names.join(", ")
    );
    if count > SUBJECT_KEYS {
        let _ = write!(out, " and {} more", count - SUBJECT_KEYS);
    }
    out.push_str("\n\n");
    for (key, put) in changes.take(BODY_KEYS) {
        let _ = writeln!(out, "{} {key}", if put { "put" } else { "delete" });
    }
    if count > BODY_KEYS {
        let _ = writeln!(out, "... and {} more", count - BODY_KEYS);
    }
    let _ = write!(out, "\n{THROUGH_SEQ_TRAILER}{through_seq}\n");
    out
}

/// The trailer recording the sequence number a commit holds the store as of.
pub const THROUGH_SEQ_TRAILER: &str = "Thermocline-Seq: ";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            hex(&object_id(Kind::Blob, b"hello\n")),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        // `git hash-object -t tree /dev/null` (the empty tree)
        assert_eq!(
            hex(&object_id(Kind::Tree, b"")),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        let id = object_id(Kind::Blob, b"x");
        assert_eq!(parse_hex(hex(&id).as_bytes()), Some(id));
        assert_eq!(parse_hex(b"zz"), None);
    }

    #[test]
    fn trees_sort_subtrees_as_if_suffixed_with_a_slash() {
        let e = |name: &str, is_tree| TreeEntry {
            name: name.into(),
            is_tree,
            oid: [0; 20],
        };
        let mut entries = vec![e("a", true), e("a.v", false), e("a-b", false)];
        encode_tree(&mut entries);
        let names: Vec<_> = entries
            .iter()
            .map(|e| String::from_utf8(e.name.clone()).unwrap())
            .collect();
        assert_eq!(names, ["a-b", "a.v", "a"]); // '-' < '.' < '/'
    }

    #[test]
    fn entry_headers_encode_size_in_varint_groups() {
        let mut out = Vec::new();
        push_entry_header(&mut out, Kind::Blob as u8, 15);
        assert_eq!(out, [0x3f]);
        out.clear();
        push_entry_header(&mut out, Kind::Blob as u8, 16);
        assert_eq!(out, [0xb0, 0x01]);
    }

    #[test]
    fn pack_entries_inflate_back_to_their_data() {
        for len in [0usize, 1, 100, 70_000, 140_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut z = Vec::new();
            zlib_stored(&data, &mut z);
            assert_eq!(
                miniz_oxide::inflate::decompress_to_vec_zlib(&z).unwrap(),
                data,
                "{len} bytes"
            );
        }
    }

    #[test]
    fn commit_messages_name_the_keys_and_end_in_the_trailer() {
        let keys = [("a", true), ("b", false), ("c", true), ("d", true)];
        let m = commit_message(keys.iter().copied(), 42);
        assert!(m.starts_with("4 keys: a, b, c and 1 more\n\nput a\ndelete b\n"));
        assert!(m.ends_with("\nThermocline-Seq: 42\n"));
    }
}
