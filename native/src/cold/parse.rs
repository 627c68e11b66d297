//! Reading trees and commits back. Bytes from the repository are untrusted (a user can
//! commit anything to it): every length is checked, nothing panics, damage is an error.

use super::objects::{Oid, TreeEntry};

/// Decodes a tree object's entries.
pub(crate) fn tree_entries(data: &[u8]) -> Result<Vec<TreeEntry>, String> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or("tree entry without a mode")?;
        let mode = &rest[..space];
        let after = &rest[space + 1..];
        let nul = after
            .iter()
            .position(|&b| b == 0)
            .ok_or("tree entry without a name end")?;
        let name = after[..nul].to_vec();
        let oid: Oid = after
            .get(nul + 1..nul + 21)
            .and_then(|s| s.try_into().ok())
            .ok_or("tree entry with a short object id")?;
        let is_tree = mode == b"40000";
        if !is_tree && !mode.starts_with(b"100") && mode != b"120000" && mode != b"160000" {
            return Err(format!(
                "tree entry with mode {:?}",
                String::from_utf8_lossy(mode)
            ));
        }
        out.push(TreeEntry { name, is_tree, oid });
        rest = &after[nul + 21..];
    }
    Ok(out)
}

/// Finds one entry of a tree by name without decoding the others (trees of a wide directory
/// hold thousands of entries; a lookup should not allocate for each).
pub(crate) fn find_entry(data: &[u8], name: &[u8], want_tree: bool) -> Result<Option<Oid>, String> {
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or("tree entry without a mode")?;
        let after = &rest[space + 1..];
        let nul = after
            .iter()
            .position(|&b| b == 0)
            .ok_or("tree entry without a name end")?;
        let oid = after
            .get(nul + 1..nul + 21)
            .ok_or("tree entry with a short object id")?;
        if &after[..nul] == name && (&rest[..space] == b"40000") == want_tree {
            return Ok(Some(oid.try_into().map_err(|_| "short object id")?));
        }
        rest = &after[nul + 21..];
    }
    Ok(None)
}

/// The parts of a commit the store reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommitInfo {
    pub tree: Oid,
    pub parents: Vec<Oid>,
    pub time_secs: i64,
    pub message: String,
}

fn parse_hex(hex: &[u8]) -> Option<Oid> {
    if hex.len() != 40 {
        return None;
    }
    let mut oid = [0u8; 20];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        oid[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(oid)
}

pub(crate) fn commit(data: &[u8]) -> Result<CommitInfo, String> {
    let text = String::from_utf8_lossy(data);
    let (headers, message) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut tree = None;
    let mut parents = Vec::new();
    let mut time_secs = 0;
    for line in headers.lines() {
        if let Some(hex) = line.strip_prefix("tree ") {
            tree = parse_hex(hex.as_bytes());
        } else if let Some(hex) = line.strip_prefix("parent ") {
            parents.push(parse_hex(hex.as_bytes()).ok_or("commit with a bad parent id")?);
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
        tree: tree.ok_or("commit without a tree")?,
        parents,
        time_secs,
        message: message.to_owned(),
    })
}

/// The sequence number a commit made by this store records (`Thermocline-Seq: N`).
pub(crate) fn through_seq(message: &str) -> Option<u64> {
    message
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Thermocline-Seq: "))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cold::objects::{Signature, encode_commit, encode_tree};

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
        for cut in 0..data.len() {
            let _ = tree_entries(&data[..cut]); // never panics
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
