//! Reading trees and commits back. Bytes from a repository or a bundle are untrusted (a user
//! can commit anything): every length is checked, nothing panics, damage is an error.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use super::objects::{Oid, THROUGH_SEQ_TRAILER, TreeEntry, parse_hex};

/// Why an object's bytes do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedObject(pub String);

fn malformed(what: &str) -> MalformedObject {
    MalformedObject(what.to_owned())
}

/// One raw entry: (mode, name, id), and the bytes after it.
type RawEntry<'a> = (&'a [u8], &'a [u8], Oid, &'a [u8]);

pub(crate) fn next_entry(rest: &[u8]) -> Result<RawEntry<'_>, MalformedObject> {
    let space = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| malformed("tree entry without a mode"))?;
    let (mode, after) = rest.split_at(space);
    let after = after.get(1..).unwrap_or_default();
    let nul = after
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| malformed("tree entry without a name end"))?;
    let (name, after) = after.split_at(nul);
    let oid: Oid = after
        .get(1..21)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| malformed("tree entry with a short object id"))?;
    Ok((mode, name, oid, after.get(21..).unwrap_or_default()))
}

/// Decodes a tree object's entries.
pub fn tree_entries(data: &[u8]) -> Result<Vec<TreeEntry>, MalformedObject> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (mode, name, oid, next) = next_entry(rest)?;
        let is_tree = mode == b"40000";
        if !is_tree && !mode.starts_with(b"100") && mode != b"120000" && mode != b"160000" {
            return Err(MalformedObject(alloc::format!(
                "tree entry with mode {:?}",
                String::from_utf8_lossy(mode)
            )));
        }
        out.push(TreeEntry {
            name: name.to_vec(),
            is_tree,
            oid,
        });
        rest = next;
    }
    Ok(out)
}

/// Finds one entry of a tree by name without decoding the others (trees of a wide directory
/// hold thousands of entries; a lookup should not allocate for each).
pub fn find_entry(
    data: &[u8],
    name: &[u8],
    want_tree: bool,
) -> Result<Option<Oid>, MalformedObject> {
    let mut rest = data;
    while !rest.is_empty() {
        let (mode, entry, oid, next) = next_entry(rest)?;
        if entry == name && (mode == b"40000") == want_tree {
            return Ok(Some(oid));
        }
        rest = next;
    }
    Ok(None)
}

/// The parts of a commit the store reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub tree: Oid,
    pub parents: Vec<Oid>,
    pub time_secs: i64,
    pub message: String,
}

pub fn commit(data: &[u8]) -> Result<CommitInfo, MalformedObject> {
    let text = String::from_utf8_lossy(data);
    let (headers, message) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut tree = None;
    let mut parents = Vec::new();
    let mut time_secs = 0;
    for line in headers.lines() {
        if let Some(hex) = line.strip_prefix("tree ") {
            tree = parse_hex(hex.as_bytes());
        } else if let Some(hex) = line.strip_prefix("parent ") {
            parents.push(
                parse_hex(hex.as_bytes())
                    .ok_or_else(|| malformed("commit with a bad parent id"))?,
            );
        } else if let Some(sig) = line.strip_prefix("committer ") {
            // "... <email> <secs> <tz>"
            time_secs = sig
                .rsplit(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
    }
    Ok(CommitInfo {
        tree: tree.ok_or_else(|| malformed("commit without a tree"))?,
        parents,
        time_secs,
        message: message.to_owned(),
    })
}

/// The sequence number a commit made by this store records (`Thermocline-Seq: N`).
#[must_use]
pub fn through_seq(message: &str) -> Option<u64> {
    message
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(THROUGH_SEQ_TRAILER))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::cold::objects::{Signature, encode_commit, encode_tree};
    use alloc::vec;

    #[test]
    fn trees_and_commits_round_trip_and_damage_is_an_error() {
        let mut entries = vec![
            TreeEntry {
                name: b"a.v".to_vec(),
                is_tree: false,
                oid: [7; 20],
            },
            TreeEntry {
                name: b"d".to_vec(),
                is_tree: true,
                oid: [9; 20],
            },
        ];
        let data = encode_tree(&mut entries);
        assert_eq!(tree_entries(&data).unwrap(), entries);
        assert_eq!(find_entry(&data, b"d", true).unwrap(), Some([9; 20]));
        assert_eq!(find_entry(&data, b"d", false).unwrap(), None);
        for cut in 0..data.len() {
            let _ = tree_entries(&data[..cut]); // never panics
            let _ = find_entry(&data[..cut], b"zz", false);
        }
        assert!(tree_entries(&data[..data.len() - 1]).is_err());
        let sig = Signature {
            name: "A".into(),
            email: "a@b".into(),
            time_secs: 1_700_000_000,
        };
        let c = encode_commit(
            &[1; 20],
            Some(&[2; 20]),
            &sig,
            &sig,
            "subject\n\nThermocline-Seq: 42\n",
        );
        let info = commit(&c).unwrap();
        assert_eq!(
            (info.tree, info.parents, info.time_secs),
            ([1; 20], vec![[2; 20]], 1_700_000_000)
        );
        assert_eq!(through_seq(&info.message), Some(42));
        assert!(commit(b"garbage").is_err());
    }
}
