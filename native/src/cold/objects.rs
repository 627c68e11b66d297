//! Git objects written by hand: ids, trees, commits, and one pack with its index per commit.
//!
//! gix reads everything here; it does not write packs or fsync, and one pack per commit is
//! what makes the `commit` level cheap: two files and their fsyncs instead of one loose file
//! (and its fsync) per object. Formats: git's `Documentation/gitformat-pack.txt`.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// A SHA-1 object id.
pub(crate) type Oid = [u8; 20];

/// Object types as numbered in pack entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
        }
    }
}

/// An object ready to be packed.
#[derive(Debug)]
pub(crate) struct Object {
    pub oid: Oid,
    pub kind: Kind,
    pub data: Vec<u8>,
}

impl Object {
    pub(crate) fn new(kind: Kind, data: Vec<u8>) -> Object {
        Object {
            oid: object_id(kind, &data),
            kind,
            data,
        }
    }
}

/// The id git gives `data` as an object of `kind`: SHA-1 of "<type> <len>\0<data>".
pub(crate) fn object_id(kind: Kind, data: &[u8]) -> Oid {
    let mut h = sha1_smol::Sha1::new();
    h.update(format!("{} {}\0", kind.name(), data.len()).as_bytes());
    h.update(data);
    h.digest().bytes()
}

pub(crate) fn hex(oid: &Oid) -> String {
    oid.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tree entry modes.
pub(crate) const MODE_BLOB: &str = "100644";
pub(crate) const MODE_TREE: &str = "40000";

/// One entry of a tree being built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TreeEntry {
    pub name: Vec<u8>,
    pub is_tree: bool,
    pub oid: Oid,
}

/// Encodes a tree in git's order: by name, with a subtree compared as if its name ended in `/`
/// (so `a.v` sorts before the directory `a`'s `a/`... and `fsck` accepts it).
pub(crate) fn encode_tree(entries: &mut [TreeEntry]) -> Vec<u8> {
    entries.sort_by_key(sort_key);
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

fn sort_key(e: &TreeEntry) -> Vec<u8> {
    let mut k = e.name.clone();
    if e.is_tree {
        k.push(b'/');
    }
    k
}

/// Who and when, for a commit.
#[derive(Clone, Debug)]
pub(crate) struct Signature {
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

pub(crate) fn encode_commit(
    tree: &Oid,
    parent: Option<&Oid>,
    author: &Signature,
    committer: &Signature,
    message: &str,
) -> Vec<u8> {
    let mut out = format!("tree {}\n", hex(tree));
    if let Some(p) = parent {
        out += &format!("parent {}\n", hex(p));
    }
    out += &format!(
        "author {}\ncommitter {}\n\n{message}",
        author.line(),
        committer.line()
    );
    out.into_bytes()
}

/// A pack holding `objects` (undeltified, zlib-compressed) and its version-2 index.
pub(crate) struct Pack {
    pub pack: Vec<u8>,
    pub index: Vec<u8>,
    pub checksum: Oid,
}

pub(crate) fn write_pack(objects: &[Object]) -> Pack {
    let mut pack =
        Vec::with_capacity(objects.iter().map(|o| o.data.len() / 2 + 32).sum::<usize>() + 32);
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&(objects.len() as u32).to_be_bytes());
    let mut entries: Vec<(Oid, u32, u64)> = Vec::with_capacity(objects.len());
    for o in objects {
        let offset = pack.len() as u64;
        push_entry_header(&mut pack, o.kind, o.data.len() as u64);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&o.data).expect("writing to memory");
        pack.extend_from_slice(&z.finish().expect("writing to memory"));
        let crc = crc32fast::hash(&pack[offset as usize..]);
        entries.push((o.oid, crc, offset));
    }
    let checksum = sha1_smol::Sha1::from(&pack).digest().bytes();
    pack.extend_from_slice(&checksum);
    entries.sort_by_key(|e| e.0);
    let index = write_index(&entries, &checksum);
    Pack {
        pack,
        index,
        checksum,
    }
}

fn push_entry_header(out: &mut Vec<u8>, kind: Kind, mut size: u64) {
    let mut byte = ((kind as u8) << 4) | (size & 0x0f) as u8;
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
        fanout[oid[0] as usize] += 1;
    }
    let mut total = 0;
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
    let mut large = Vec::new();
    for (_, _, offset) in entries {
        if *offset < 0x8000_0000 {
            idx.extend_from_slice(&(*offset as u32).to_be_bytes());
        } else {
            idx.extend_from_slice(&(0x8000_0000u32 | large.len() as u32).to_be_bytes());
            large.push(*offset);
        }
    }
    for offset in large {
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(pack_checksum);
    let own = sha1_smol::Sha1::from(&idx).digest().bytes();
    idx.extend_from_slice(&own);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

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
        push_entry_header(&mut out, Kind::Blob, 15);
        assert_eq!(out, [0x3f]);
        out.clear();
        push_entry_header(&mut out, Kind::Blob, 16);
        assert_eq!(out, [0xb0, 0x01]);
    }
}
