//! Historical reads against a model of every version, while the packs under them change: new
//! commits (a new pack each), the store's background repack (deltified trees, old packs
//! deleted), a repack by hand with other delta choices, and loose objects a person's `git`
//! wrote. The reads go through the cold tier's pack reader and its caches (roots, views, ids
//! to entries): a cache that served a version's bytes for another's, or a pack's entry after
//! the pack was replaced, fails here.

use std::collections::BTreeMap;
use std::path::Path;

use thermocline::{Store, SyncLevel};

mod common;
use common::{git, git_stdin, manual_options as options};

/// Keys: most in one wide directory (a tree of ~800 entries, deltified by a repack), a few in
/// subdirectories.
fn key(k: usize) -> String {
    if k % 50 == 7 {
        format!("sub/d{}/k{k:04}", k % 3)
    } else {
        format!("k{k:04}")
    }
}

const KEYS: usize = 800;

type Model = Vec<(String, BTreeMap<usize, String>)>;

/// Checks every recorded version of every `stride`-th key (and keys never written).
fn check_all(store: &Store, model: &Model, stride: usize, when: &str) {
    for (commit, values) in model {
        for k in (0..KEYS + 3).step_by(stride) {
            assert_eq!(
                store.get_at(&key(k), commit).unwrap().as_deref(),
                values.get(&k).map(String::as_bytes),
                "{when}: key {} at {commit}",
                key(k)
            );
        }
    }
}

/// Commits `n` versions, each changing, adding or deleting a few keys; records each in `model`.
fn commit_versions(store: &Store, model: &mut Model, n: usize, seed: &mut u64) {
    let mut values = model.last().map(|(_, v)| v.clone()).unwrap_or_default();
    for _ in 0..n {
        for _ in 0..6 {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            let k = (*seed % KEYS as u64) as usize;
            if seed.is_multiple_of(7) {
                store.delete_with(&key(k), SyncLevel::Memory).unwrap();
                values.remove(&k);
            } else {
                let v = format!("{} at {}", key(k), model.len());
                store.put_with(&key(k), &v, SyncLevel::Memory).unwrap();
                values.insert(k, v);
            }
        }
        store.sync(SyncLevel::Commit).unwrap();
        let head = store.log(1).unwrap().remove(0).commit;
        model.push((head, values.clone()));
    }
}

/// Tree entries of the pack(s) stored as deltas.
fn deltified_trees(repo: &Path) -> usize {
    let pack_dir = repo.join("objects/pack");
    let mut n = 0;
    for entry in std::fs::read_dir(&pack_dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "idx") {
            let out = git(repo, &["verify-pack", "-v", path.to_str().unwrap()]);
            n += out
                .lines()
                .filter(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.get(1) == Some(&"tree") && f.len() == 7
                })
                .count();
        }
    }
    n
}

#[test]
fn every_version_reads_back_across_commits_repacks_and_loose_objects() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("cold.git");
    let store = Store::open(dir.path(), options()).unwrap();
    let mut model: Model = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    // The first version: every key.
    let mut values = BTreeMap::new();
    for k in 0..KEYS {
        let v = format!("{} at 0", key(k));
        store.put_with(&key(k), &v, SyncLevel::Memory).unwrap();
        values.insert(k, v);
    }
    store.sync(SyncLevel::Commit).unwrap();
    model.push((store.log(1).unwrap().remove(0).commit, values));

    // One pack per commit, read while they pile up (each read fills the caches).
    commit_versions(&store, &mut model, 20, &mut seed);
    check_all(&store, &model, 5, "undeltified packs");

    // Past 32 packs the store repacks in the background: the packs read so far are deleted and
    // their trees become deltas in one new pack.
    commit_versions(&store, &mut model, 15, &mut seed);
    store.wait_for_maintenance();
    let stats = store.stats();
    assert!(stats.cold_repacks >= 1, "{stats:?}");
    assert!(deltified_trees(&repo) > 10, "the repack deltified trees");
    let served = store.stats().cold_tree_view_lookups;
    check_all(&store, &model, 3, "after the background repack");
    // Those reads went through the tree views (a reader that always fell back to gix would
    // answer the same, and pass everything else here).
    assert!(
        store.stats().cold_tree_view_lookups > served,
        "no lookup was answered from a packed tree view"
    );
    // Readers at once (they share the caches).
    std::thread::scope(|s| {
        for stride in [2, 3, 5] {
            let (store, model) = (&store, &model);
            s.spawn(move || check_all(store, model, stride, "concurrent readers"));
        }
    });

    // New commits on top: new packs the reader has not seen.
    commit_versions(&store, &mut model, 5, &mut seed);
    check_all(&store, &model, 4, "after commits on the repacked history");

    // A repack by hand, with other delta choices and deeper chains, which the store is not told
    // about: every pack it holds is replaced under it.
    git(
        &repo,
        &[
            "repack",
            "-a",
            "-d",
            "-f",
            "-q",
            "--depth=50",
            "--window=50",
        ],
    );
    check_all(&store, &model, 3, "after a repack by hand");
    commit_versions(&store, &mut model, 3, &mut seed);
    check_all(&store, &model, 4, "after commits on the hand-made repack");

    // A version whose trees are loose objects, written by `git mktree` and `commit-tree`: one
    // key changed in the wide directory.
    let (tip, tip_values) = model.last().unwrap().clone();
    let listing = git(&repo, &["ls-tree", &tip]);
    let blob = git_stdin(&repo, &["hash-object", "-w", "--stdin"], "by hand")
        .trim()
        .to_string();
    let edited: String = listing
        .lines()
        .map(|line| {
            if line.ends_with("\tk0002.v") {
                format!("100644 blob {blob}\tk0002.v\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let tree = git_stdin(&repo, &["mktree"], &edited).trim().to_string();
    let loose = git(&repo, &["commit-tree", &tree, "-p", &tip, "-m", "by hand"])
        .trim()
        .to_string();
    let mut loose_values = tip_values;
    loose_values.insert(2, "by hand".to_string());
    check_all(&store, &[(loose, loose_values)].into(), 1, "loose tree");
    check_all(&store, &model, 7, "after reading a loose tree");

    store.close().unwrap();
    // Reopened (caches empty), the same answers.
    let store = Store::open(dir.path(), options()).unwrap();
    check_all(&store, &model, 6, "after reopening");
    store.close().unwrap();
}
