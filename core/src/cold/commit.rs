//! Building a commit: the blobs, the trees along the changed paths, the commit object.
//!
//! Pure: the trees it starts from come through `load`, so the native host reads them from its
//! repository and the browser from trees it fetched beforehand ([`dirs_along`] says which).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use hashbrown::HashSet;

use super::objects::{
    Kind, Object, Oid, Signature, TreeEntry, commit_message, encode_commit, encode_tree,
};
use super::path::key_to_path;
use crate::key::Key;

/// A commit ready to be stored: every new object (deduplicated), the commit's id last.
#[derive(Clone, Debug)]
pub struct BuiltCommit {
    pub objects: Vec<Object>,
    pub commit: Oid,
    pub tree: Oid,
}

/// Builds one commit on top of `parent` (its id and tree) applying `changes` (a value, or
/// `None` to delete; one change per key, as the engine's batches are), signed by `signature`
/// and recording `through_seq`.
pub fn build_commit<V: AsRef<[u8]>, E>(
    changes: &[(Key, Option<V>)],
    parent: Option<(Oid, Oid)>,
    signature: &Signature,
    through_seq: u64,
    load: &mut impl FnMut(&Oid) -> Result<Vec<TreeEntry>, E>,
) -> Result<BuiltCommit, E> {
    let mut objects = Vec::with_capacity(changes.len() + 8);
    // Sorted vectors rather than ordered maps: the same work, and far less code in the
    // WebAssembly build, where every map type is compiled anew.
    let mut by_path: Vec<(String, Option<Oid>)> = Vec::with_capacity(changes.len());
    for (key, value) in changes {
        let oid = value.as_ref().map(|v| {
            let blob = Object::new(Kind::Blob, v.as_ref().to_vec());
            let oid = blob.oid;
            objects.push(blob);
            oid
        });
        by_path.push((key_to_path(key), oid));
    }
    by_path.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    debug_assert!(
        by_path
            .windows(2)
            .all(|w| w.first().map(|a| &a.0) != w.get(1).map(|b| &b.0)),
        "one change per key"
    );
    let refs: Vec<(&str, Option<Oid>)> = by_path.iter().map(|(p, o)| (p.as_str(), *o)).collect();
    let tree = match build_tree(parent.map(|(_, tree)| tree), &refs, load, &mut objects)? {
        Some(tree) => tree,
        None => {
            let empty = Object::new(Kind::Tree, Vec::new());
            let oid = empty.oid;
            objects.push(empty);
            oid
        }
    };
    let message = commit_message(
        changes.iter().map(|(k, v)| (k.as_str(), v.is_some())),
        through_seq,
    );
    let commit = Object::new(
        Kind::Commit,
        encode_commit(
            &tree,
            parent.as_ref().map(|(id, _)| id),
            signature,
            signature,
            &message,
        ),
    );
    let commit_id = commit.oid;
    objects.push(commit);
    let mut seen = HashSet::with_capacity(objects.len());
    objects.retain(|o| seen.insert(o.oid));
    Ok(BuiltCommit {
        objects,
        commit: commit_id,
        tree,
    })
}

/// The directories (as `/`-joined paths, the root as `""`) whose trees a commit changing
/// `keys` reads, sorted: parents before children.
#[must_use]
pub fn dirs_along<'a>(keys: impl IntoIterator<Item = &'a Key>) -> Vec<String> {
    let mut dirs = vec![String::new()];
    for key in keys {
        let path = key_to_path(key);
        let mut end = 0;
        while let Some(slash) = path.get(end..).and_then(|rest| rest.find('/')) {
            end += slash;
            dirs.push(String::from(path.get(..end).unwrap_or_default()));
            end += 1;
        }
    }
    dirs.sort_unstable();
    dirs.dedup();
    dirs
}

/// Rebuilds the trees along the changed paths under `base`; `None` when the result is empty.
/// `changes` is sorted by path, one change a path.
fn build_tree<E>(
    base: Option<Oid>,
    changes: &[(&str, Option<Oid>)],
    load: &mut impl FnMut(&Oid) -> Result<Vec<TreeEntry>, E>,
    out: &mut Vec<Object>,
) -> Result<Option<Oid>, E> {
    // Entries sorted by name for binary search (git's own order differs for subtrees; the
    // encoder restores it).
    let mut entries: Vec<TreeEntry> = match base {
        Some(oid) => load(&oid)?,
        None => Vec::new(),
    };
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let mut rest = changes;
    while let Some(((path, change), _)) = rest.split_first() {
        let (name, nested) = match path.split_once('/') {
            None => (*path, false),
            Some((dir, _)) => (dir, true),
        };
        let (oid, is_tree, consumed) = if nested {
            // Every change under `name/`, adjacent since sorted (`name/` sorts after `name.x`
            // and before `name0`, and no other path has the prefix).
            let prefix_len = name.len() + 1;
            let count = rest
                .iter()
                .take_while(|(p, _)| {
                    p.len() > prefix_len && p.get(..prefix_len) == path.get(..prefix_len)
                })
                .count();
            let sub: Vec<(&str, Option<Oid>)> = rest
                .get(..count)
                .unwrap_or_default()
                .iter()
                .map(|(p, c)| (p.get(prefix_len..).unwrap_or_default(), *c))
                .collect();
            let base_sub = entries
                .binary_search_by(|e| e.name.as_slice().cmp(name.as_bytes()))
                .ok()
                .and_then(|i| entries.get(i))
                .filter(|e| e.is_tree)
                .map(|e| e.oid);
            (build_tree(base_sub, &sub, load, out)?, true, count.max(1))
        } else {
            (*change, false, 1)
        };
        let at = entries.binary_search_by(|e| e.name.as_slice().cmp(name.as_bytes()));
        match (at, oid) {
            (Ok(i), Some(oid)) => {
                if let Some(e) = entries.get_mut(i) {
                    *e = TreeEntry {
                        name: name.as_bytes().to_vec(),
                        is_tree,
                        oid,
                    };
                }
            }
            (Err(i), Some(oid)) => entries.insert(
                i,
                TreeEntry {
                    name: name.as_bytes().to_vec(),
                    is_tree,
                    oid,
                },
            ),
            (Ok(i), None) => {
                entries.remove(i);
            }
            (Err(_), None) => {}
        }
        rest = rest.get(consumed..).unwrap_or_default();
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let tree = Object::new(Kind::Tree, encode_tree(&mut entries));
    let oid = tree.oid;
    out.push(tree);
    Ok(Some(oid))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::cold::parse;
    use alloc::vec;
    use hashbrown::HashMap;

    fn sig() -> Signature {
        Signature {
            name: "t".into(),
            email: "t@example.invalid".into(),
            time_secs: 1,
        }
    }

    #[test]
    fn commits_on_top_of_a_parent_keep_untouched_paths_and_drop_emptied_directories() {
        let mut store: HashMap<Oid, Object> = HashMap::new();
        let load = |store: &HashMap<Oid, Object>, oid: &Oid| {
            parse::tree_entries(&store.get(oid).ok_or(())?.data).map_err(|_| ())
        };
        let k = |s: &str| Key::new(s).unwrap();
        let first = build_commit(
            &[
                (k("a/x"), Some(b"1".as_slice())),
                (k("b"), Some(b"2".as_slice())),
            ],
            None,
            &sig(),
            2,
            &mut |o| load(&store, o),
        )
        .unwrap();
        store.extend(first.objects.iter().map(|o| (o.oid, o.clone())));
        let second = build_commit(
            &[(k("a/x"), None::<&[u8]>)],
            Some((first.commit, first.tree)),
            &sig(),
            3,
            &mut |o| load(&store, o),
        )
        .unwrap();
        let root = load(&store, &first.tree).unwrap();
        assert_eq!(root.len(), 2);
        store.extend(second.objects.iter().map(|o| (o.oid, o.clone())));
        let root = load(&store, &second.tree).unwrap();
        let names: Vec<_> = root.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, vec![b"b.v".to_vec()]);
        let info = parse::commit(&second.objects.last().unwrap().data).unwrap();
        assert_eq!(info.parents, vec![first.commit]);
        assert_eq!(parse::through_seq(&info.message), Some(3));
    }

    #[test]
    fn dirs_along_lists_every_ancestor_directory() {
        let keys = [Key::new("a/b/c").unwrap(), Key::new("d").unwrap()];
        assert_eq!(dirs_along(&keys), ["", "a", "a/b"]);
    }
}
