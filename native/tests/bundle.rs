//! Git bundles against the real `git`: the store's export is cloned and checked by git, and
//! bundles and packs git wrote (with deltas, in both delta encodings, v2 and v3) are read back
//! by the core's readers; incremental bundles are refused.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use thermocline::{AutoCommit, Error, Options, Store, SyncLevel};
use thermocline_core::Key;
use thermocline_core::cold::bundle::{BundleError, parse_bundle};
use thermocline_core::cold::key_to_path;
use thermocline_core::cold::objects::{Kind, hex, object_id, parse_hex, sha1};
use thermocline_core::cold::pack_read::{PackLimits, read_pack};

/// `git` with no user or system configuration and a fixed identity.
fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
    c
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn git_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn options() -> Options {
    let mut o = Options::default().auto_commit(AutoCommit::Manual);
    o.config.write_behind.flush_ops = u64::MAX;
    o.config.write_behind.flush_bytes = u64::MAX;
    o
}

fn kind_name(kind: Kind) -> &'static str {
    kind.name()
}

/// Every object `git cat-file --batch-all-objects` lists in `repo`: id to (type, size).
fn git_objects(repo: &Path) -> HashMap<String, (String, u64)> {
    git(repo, &["cat-file", "--batch-all-objects", "--batch-check"])
        .lines()
        .map(|l| {
            let mut parts = l.split(' ');
            let id = parts.next().unwrap().to_owned();
            let kind = parts.next().unwrap().to_owned();
            let size = parts.next().unwrap().parse().unwrap();
            (id, (kind, size))
        })
        .collect()
}

/// Reads `pack` and checks that it holds exactly the objects `want` lists, with their types
/// and sizes (the reader computed each id from the content, so the content is right too).
fn assert_pack_holds(pack: &[u8], want: &HashMap<String, (String, u64)>) {
    let objects = read_pack(pack, &PackLimits::default()).unwrap();
    let got: HashMap<String, (String, u64)> = objects
        .iter()
        .map(|o| {
            (
                hex(&o.oid),
                (kind_name(o.kind).to_owned(), o.data.len() as u64),
            )
        })
        .collect();
    assert_eq!(got.len(), objects.len(), "an object twice in the pack");
    for (id, (kind, size)) in want {
        assert_eq!(
            got.get(id),
            Some(&(kind.clone(), *size)),
            "object {id} ({kind}, {size} bytes)"
        );
    }
    assert_eq!(got.len(), want.len());
}

#[test]
fn git_clones_the_stores_export() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options().author("Ada", "ada@example.org")).unwrap();
    // Nothing committed yet: nothing to export.
    store.put("users/alice", "draft").unwrap();
    assert!(matches!(store.export_git(), Err(Error::Revision { .. })));
    store.sync(SyncLevel::Commit).unwrap();
    store.put("users/alice", "alice v2").unwrap();
    store.put("users/bob", "bob").unwrap();
    store.put("Config", vec![0u8, 159, 146, 150, 255]).unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    store.delete("users/bob").unwrap();
    store.put("deep/a/b/c", "nested").unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    store.put("users/alice", "alice v3").unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    // Not committed: not exported.
    store.put("users/carol", "later").unwrap();

    let bundle = store.export_git().unwrap();
    let file = dir.path().join("store.bundle");
    std::fs::write(&file, &bundle).unwrap();
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("clone");
    git(
        work.path(),
        &[
            "clone",
            "-q",
            file.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    git(&clone, &["fsck", "--strict", "--no-dangling"]);
    let git_log: Vec<String> = git(&clone, &["log", "--format=%H", "main"])
        .lines()
        .map(String::from)
        .collect();
    let ours: Vec<String> = store
        .log(100)
        .unwrap()
        .into_iter()
        .map(|c| c.commit)
        .collect();
    assert_eq!(ours.len(), 4);
    assert_eq!(git_log, ours);
    let path = |key: &str| key_to_path(&Key::new(key).unwrap());
    let show = |rev: &str, key: &str| git_bytes(&clone, &["show", &format!("{rev}:{}", path(key))]);
    assert_eq!(show("main", "users/alice"), b"alice v3");
    assert_eq!(show("main~1", "users/alice"), b"alice v2");
    assert_eq!(show("main~3", "users/alice"), b"draft");
    assert_eq!(show("main", "deep/a/b/c"), b"nested");
    assert_eq!(show("main", "Config"), [0u8, 159, 146, 150, 255]);
    assert_eq!(show("main~2", "users/bob"), b"bob");
    let deleted = git_cmd(&clone)
        .args(["cat-file", "-e", &format!("main:{}", path("users/bob"))])
        .status()
        .unwrap();
    assert!(!deleted.success(), "users/bob was deleted");
    let uncommitted = git_cmd(&clone)
        .args(["cat-file", "-e", &format!("main:{}", path("users/carol"))])
        .status()
        .unwrap();
    assert!(!uncommitted.success(), "users/carol was never committed");

    // The core reads its own export back: the ref, and every object git has in the clone.
    let view = parse_bundle(&bundle).unwrap();
    let tip = parse_hex(ours[0].as_bytes()).unwrap();
    assert_eq!(
        view.refs,
        vec![
            ("HEAD".to_owned(), tip),
            ("refs/heads/main".to_owned(), tip)
        ]
    );
    assert_pack_holds(view.pack, &git_objects(&clone));
    store.close().unwrap();
}

#[test]
fn a_store_without_a_cold_tier_has_nothing_to_export() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.config.cold = None;
    let store = Store::open(dir.path(), o).unwrap();
    store.put("a", "1").unwrap();
    assert!(matches!(
        store.export_git(),
        Err(Error::LevelUnavailable { .. })
    ));
}

#[test]
fn the_cli_exports_a_bundle_git_can_clone() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_thermocline");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .arg("--dir")
            .arg(dir.path().join("store"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    run(&["--sync", "commit", "put", "notes/today", "ship it"]);
    let file = dir.path().join("out.bundle");
    let summary = run(&["export-git", file.to_str().unwrap()]);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(summary.starts_with("exported main ("), "{summary}");
    let clone = dir.path().join("clone");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            file.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    assert_eq!(git(&clone, &["show", "main:notes/today.v"]), "ship it");
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
}

/// A repository made by `git` whose history is mostly deltas: a text file edited a little in
/// each of several commits, repacked with long delta chains.
fn repo_with_deltas(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let mut lines: Vec<String> = (0..3000)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog"))
        .collect();
    for commit in 0..12 {
        lines[commit * 97 % 3000] = format!("line changed in commit {commit}");
        lines.push(format!("appended in commit {commit}"));
        std::fs::write(repo.join("big.txt"), lines.join("\n")).unwrap();
        std::fs::create_dir_all(repo.join("sub")).unwrap();
        std::fs::write(repo.join("sub/small.txt"), format!("small {commit}\n")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &format!("commit {commit}")]);
    }
    git(&repo, &["repack", "-adfq", "--depth=50", "--window=50"]);
    // The test means something only if the pack holds deltas, chains of them.
    let pack_dir = repo.join(".git/objects/pack");
    let idx = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .unwrap();
    let verify = git(&repo, &["verify-pack", "-v", idx.to_str().unwrap()]);
    assert!(
        verify.contains("chain length = 2"),
        "no delta chains:\n{verify}"
    );
    repo
}

#[test]
fn bundles_and_packs_git_wrote_read_back_with_every_object() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with_deltas(dir.path());
    let want = git_objects(&repo);
    assert!(want.len() >= 12 * 3, "{} objects", want.len());
    let head = parse_hex(git(&repo, &["rev-parse", "main"]).trim().as_bytes()).unwrap();

    // A version-2 bundle (its pack uses OFS_DELTA).
    git(&repo, &["bundle", "create", "-q", "b.bundle", "main"]);
    let bytes = std::fs::read(repo.join("b.bundle")).unwrap();
    let view = parse_bundle(&bytes).unwrap();
    assert_eq!(view.refs, vec![("refs/heads/main".to_owned(), head)]);
    assert_pack_holds(view.pack, &want);

    // A version-3 bundle, with its object-format capability.
    git(
        &repo,
        &["bundle", "create", "-q", "--version=3", "b3.bundle", "main"],
    );
    let bytes = std::fs::read(repo.join("b3.bundle")).unwrap();
    assert!(bytes.starts_with(b"# v3 git bundle\n@object-format=sha1\n"));
    let view = parse_bundle(&bytes).unwrap();
    assert_eq!(view.refs, vec![("refs/heads/main".to_owned(), head)]);
    assert_pack_holds(view.pack, &want);

    // A pack without --delta-base-offset: its deltas name their bases by id (REF_DELTA).
    let mut child = git_cmd(&repo)
        .args(["pack-objects", "--revs", "--stdout", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"main\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_pack_holds(&out.stdout, &want);

    // Damage anywhere in a real pack: as is, the checksum refuses it; resealed with a right
    // checksum, the entry parser meets it, and never panics nor returns an object whose id is
    // not that of its content.
    let body = &out.stdout[..out.stdout.len() - 20];
    let mut refused = 0;
    for i in (12..body.len()).step_by(body.len() / 97 + 1) {
        let mut damaged = body.to_vec();
        damaged[i] ^= 0x40;
        damaged.extend_from_slice(&out.stdout[out.stdout.len() - 20..]);
        assert!(read_pack(&damaged, &PackLimits::default()).is_err());
        damaged.truncate(body.len());
        let checksum = sha1(&damaged);
        damaged.extend_from_slice(&checksum);
        match read_pack(&damaged, &PackLimits::default()) {
            Ok(objects) => {
                for o in objects {
                    assert_eq!(o.oid, object_id(o.kind, &o.data));
                }
            }
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 50, "only {refused} of ~97 damaged packs refused");
}

#[test]
fn incremental_bundles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with_deltas(dir.path());
    git(
        &repo,
        &["bundle", "create", "-q", "x.bundle", "main~1..main"],
    );
    let bytes = std::fs::read(repo.join("x.bundle")).unwrap();
    let parent = parse_hex(git(&repo, &["rev-parse", "main~1"]).trim().as_bytes()).unwrap();
    match parse_bundle(&bytes) {
        Err(BundleError::Prerequisite { commit, .. }) => assert_eq!(commit, parent),
        other => panic!("an incremental bundle was not refused: {other:?}"),
    }
}
