//! The git cold tier against the real `git`: fsck, log, show, history; commit durability with
//! a crash at every step of a commit; demotion to cold and reads back after reopening.

use std::process::Command;

use thermocline::{Error, ManualClock, Options, Store, SyncLevel};

mod common;
use common::{git, git_stdin, manual_options as options};

#[test]
fn git_reads_what_the_store_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options().author("Ada", "ada@example.org")).unwrap();
    store.put("notes/today", "v1").unwrap();
    store
        .put_json(
            "docs/plan",
            &serde_json::json!({"title": "plan", "done": false}),
        )
        .unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    store.put("notes/today", "v2").unwrap();
    store.put("README", "top level").unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    store.delete("docs/plan").unwrap();
    store
        .put_with("notes/today", "v3", SyncLevel::Commit)
        .unwrap(); // a commit on its own
    let repo = dir.path().join("cold.git");
    // Visible to git at once: the commit level means objects and ref are on disk.
    git(&repo, &["fsck", "--strict", "--no-dangling"]);
    assert_eq!(git(&repo, &["show", "main:notes/today.v"]), "v3");
    assert_eq!(
        git(&repo, &["show", "main~2:docs/plan.v"]),
        "{\n  \"done\": false,\n  \"title\": \"plan\"\n}"
    );
    assert_eq!(
        git(&repo, &["show", "main:%52%45%41%44%4d%45.v"]),
        "top level"
    );
    let git_log: Vec<String> = git(&repo, &["log", "--format=%H"])
        .lines()
        .map(String::from)
        .collect();
    let ours: Vec<String> = store
        .log(100)
        .unwrap()
        .into_iter()
        .map(|c| c.commit)
        .collect();
    assert_eq!(git_log, ours);
    assert_eq!(ours.len(), 3);
    let author = git(&repo, &["log", "-1", "--format=%an <%ae>"]);
    assert_eq!(author.trim(), "Ada <ada@example.org>");
    // `git log -- <path>` is the key's history.
    let path_log: Vec<String> = git(&repo, &["log", "--format=%H", "--", "notes/today.v"])
        .lines()
        .map(String::from)
        .collect();
    let history = store.history("notes/today").unwrap();
    assert_eq!(
        history.iter().map(|v| v.commit.clone()).collect::<Vec<_>>(),
        path_log
    );
    assert_eq!(
        history.iter().map(|v| v.size).collect::<Vec<_>>(),
        [Some(2), Some(2), Some(2)]
    );
    let plan = store.history("docs/plan").unwrap();
    assert_eq!(
        plan.iter().map(|v| v.size).collect::<Vec<_>>(),
        [None, Some(38)],
        "deleted, then created"
    );
    assert_eq!(
        git(&repo, &["ls-tree", "-r", "--name-only", "main"]),
        "%52%45%41%44%4d%45.v\nnotes/today.v\n"
    );
    // Reads at a revision: full id, abbreviated id, HEAD~N, branch name.
    let first = &ours[2];
    assert_eq!(
        store.get_at("notes/today", first).unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        store.get_at("notes/today", &first[..8]).unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        store.get_at("notes/today", "HEAD~1").unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(
        store.get_at("notes/today", "main").unwrap().as_deref(),
        Some(&b"v3"[..])
    );
    assert_eq!(store.get_at("docs/plan", "HEAD").unwrap(), None);
    assert!(matches!(
        store.get_at("notes/today", "HEAD~9"),
        Err(Error::Revision { .. })
    ));
    assert!(matches!(
        store.get_at("notes/today", "0000000"),
        Err(Error::Revision { .. })
    ));
    let s = store.stats();
    assert_eq!(s.commits, 3);
    assert!(
        s.cold_git_bytes > 0 && s.last_commit_age_ms.is_some(),
        "{s:?}"
    );
    store.close().unwrap();
    // `git clone` works from the bare repository.
    let clone = tempfile::tempdir().unwrap();
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(&repo)
        .arg(clone.path().join("c"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(clone.path().join("c/notes/today.v")).unwrap(),
        "v3"
    );
}

#[test]
fn commit_messages_name_the_keys_and_abbreviate() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    for i in 0..150 {
        store
            .put_with(&format!("k/{i:03}"), "v", SyncLevel::Memory)
            .unwrap();
    }
    store.sync(SyncLevel::Commit).unwrap();
    let msg = git(&dir.path().join("cold.git"), &["log", "-1", "--format=%B"]);
    let mut lines = msg.lines();
    assert_eq!(
        lines.next(),
        Some("150 keys: k/000, k/001, k/002 and 147 more")
    );
    assert!(
        msg.contains("put k/099\n") && !msg.contains("put k/100\n"),
        "{msg}"
    );
    assert!(msg.contains("... and 50 more"));
    assert!(msg.contains("Thermocline-Seq: 150"));
    store.close().unwrap();
}

#[test]
fn auto_commit_on_close_unless_manual() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.put("a", "1").unwrap();
    store.close().unwrap();
    assert_eq!(
        git(&dir.path().join("cold.git"), &["show", "main:a.v"]),
        "1"
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    store.put("a", "1").unwrap();
    store.close().unwrap();
    let out = Command::new("git")
        .arg("-C")
        .arg(dir.path().join("cold.git"))
        .args(["rev-parse", "--verify", "-q", "main"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "manual mode made a commit");
    // The flushed write is committed by the next session's first commit.
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.stats().cold_pending_keys, 1);
    store.sync(SyncLevel::Commit).unwrap();
    assert_eq!(
        git(&dir.path().join("cold.git"), &["show", "main:a.v"]),
        "1"
    );
    store.close().unwrap();
}

#[test]
fn idle_values_move_to_git_and_read_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let mut o = options().clock(clock.clone());
    o.warm_segment_bytes_max = 4096;
    o.config.compact_dead_bytes_min = 1;
    let store = Store::open(dir.path(), o.clone()).unwrap();
    for i in 0..40 {
        store
            .put(
                &format!("old/{i}"),
                format!("value {i} {}", "x".repeat(100)),
            )
            .unwrap();
    }
    store.sync(SyncLevel::Commit).unwrap();
    store.flush().unwrap();
    store.put("new/0", "recent").unwrap(); // seals the first warm segment behind it
    store.flush().unwrap();
    clock.advance_ms(25 * 60 * 60 * 1000);
    store.put("new/1", "recent").unwrap();
    store.run_timers().unwrap(); // demotion scan, then compaction of the emptied segment
    store.run_timers().unwrap();
    let s = store.stats();
    assert_eq!(s.cold_demotions, 40, "{s:?}");
    assert!(s.cold_only_keys >= 40 && s.compactions >= 1, "{s:?}");
    assert!(!store.key_info("old/3").unwrap().warm);
    assert_eq!(store.get("old/3").unwrap().unwrap().len(), 108);
    assert!(store.key_info("old/3").unwrap().hot, "a cold hit promotes");
    store.close().unwrap();
    let store = Store::open(dir.path(), o).unwrap();
    let report = store.open_report().clone();
    assert!(report.cold_keys >= 39, "{report:?}");
    assert_eq!(store.list("old/").unwrap().len(), 40);
    for i in [0, 17, 39] {
        let value = store.get(&format!("old/{i}")).unwrap().unwrap();
        assert!(
            value.starts_with(format!("value {i} ").as_bytes()),
            "old/{i}"
        );
    }
    assert!(store.stats().hits_cold >= 3);
    store.close().unwrap();
}

#[test]
fn a_crash_at_every_step_of_a_commit_leaves_a_repository_git_accepts() {
    let bin = env!("CARGO_BIN_EXE_thermocline");
    for step in 0..7 {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let ok = Command::new(bin)
            .args(["--dir", d, "--sync", "commit", "put", "base", "b"])
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let crashed = Command::new(bin)
            .args(["--dir", d, "--sync", "commit", "put", "k", "v"])
            .env("THERMOCLINE_FAILPOINT", format!("cold-commit:{step}"))
            .output()
            .unwrap();
        assert!(
            !crashed.status.success(),
            "step {step}: the failpoint did not fire"
        );
        assert!(
            String::from_utf8_lossy(&crashed.stderr).contains("failpoint"),
            "step {step}"
        );
        let repo = dir.path().join("cold.git");
        git(&repo, &["fsck", "--strict", "--no-dangling"]);
        let store =
            Store::open(dir.path(), options()).unwrap_or_else(|e| panic!("step {step}: {e}"));
        assert_eq!(
            store.get("k").unwrap().as_deref(),
            Some(&b"v"[..]),
            "step {step}"
        );
        store.sync(SyncLevel::Commit).unwrap();
        assert_eq!(git(&repo, &["show", "main:k.v"]), "v", "step {step}");
        assert_eq!(git(&repo, &["show", "main:base.v"]), "b", "step {step}");
        assert!(!repo.join("refs/heads/main.lock").exists());
        store.close().unwrap();
        git(&repo, &["fsck", "--strict", "--no-dangling"]);
        let report = thermocline::check::check(dir.path()).unwrap();
        assert!(
            report.is_sound() && report.cold_objects > 0,
            "step {step}: {report:?}"
        );
    }
    eprintln!("cold commit: crashed after each of 7 steps; git fsck --strict clean every time");
}

#[test]
fn the_cli_shows_history_log_and_old_versions() {
    let bin = env!("CARGO_BIN_EXE_thermocline");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(["--dir", d])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["--sync", "commit", "put", "doc", "first"]);
    run(&["put", "doc", "second!"]);
    run(&["sync", "commit"]);
    run(&["del", "doc"]);
    run(&["sync", "commit"]);
    let history = run(&["history", "doc"]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(
        lines[0].ends_with(" deleted")
            && lines[1].ends_with(" 7 bytes")
            && lines[2].ends_with(" 5 bytes"),
        "{history}"
    );
    let first_commit = lines[2].split(' ').next().unwrap();
    assert_eq!(run(&["get", "doc", "--at", first_commit]), "first");
    assert_eq!(run(&["get", "doc", "--at", "HEAD~1"]), "second!");
    let log = run(&["log", "-n", "2"]);
    assert_eq!(log.lines().count(), 2);
    assert!(log.lines().next().unwrap().ends_with("1 key: doc"), "{log}");
    let stats = run(&["stats"]);
    assert!(stats.contains("cold.git"), "{stats}");
    assert!(run(&["check"]).contains("objects verified"));
}

#[test]
fn damage_beyond_repair_rebuilds_from_git_and_names_every_lost_write() {
    let bin = env!("CARGO_BIN_EXE_thermocline");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(["--dir", d])
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        run(&["--sync", "commit", "put", "kept", "committed"])
            .status
            .success()
    );
    // Three more fsync-level writes that stay in the WAL: the shell is killed before a flush.
    let mut child = Command::new(bin)
        .args(["--dir", d, "shell"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::{BufRead, BufReader, Write};
        let mut stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in ["put a 1", "put b 2", "del kept"] {
            writeln!(stdin, "{line}").unwrap();
            assert_eq!(out.next().unwrap().unwrap(), "ok");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // Flip a byte in the first of those records: mid-log corruption.
    let wal_dir = dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let seg = segs.last().unwrap();
    let mut bytes = std::fs::read(seg).unwrap();
    let at = thermocline_core::wal::SEGMENT_HEADER_BYTES
        + thermocline_core::wal::RECORD_HEADER_BYTES
        + 2;
    bytes[at] ^= 0x20;
    std::fs::write(seg, bytes).unwrap();
    assert!(
        matches!(
            Store::open(dir.path(), Options::default()),
            Err(Error::Wal(_))
        ),
        "strict open refuses"
    );
    let o = run(&["--recover-from-git", "ls"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "kept\n",
        "the store as of the last commit"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rebuilt from git") && err.contains("unreadable"),
        "{err}"
    );
    // The damaged record is unreadable; the two after it are listed as lost.
    assert!(
        err.contains("lost: #3 put b") && err.contains("lost: #4 delete kept"),
        "{err}"
    );
    assert!(
        !err.contains("#2 put a"),
        "record 2 is damaged, so it cannot be listed: {err}"
    );
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 2, "{aside:?}");
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        store.get("kept").unwrap().as_deref(),
        Some(&b"committed"[..])
    );
    store.put("after", "rebuild").unwrap();
    store.close().unwrap();
    assert!(thermocline::check::check(dir.path()).unwrap().is_sound());
}

#[test]
fn packs_are_merged_in_the_background_and_reads_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    for round in 0..40 {
        for k in 0..5 {
            store
                .put_with(
                    &format!("k{k}"),
                    format!("round {round}"),
                    SyncLevel::Memory,
                )
                .unwrap();
        }
        store.sync(SyncLevel::Commit).unwrap();
        assert_eq!(
            store.get_at("k3", "HEAD").unwrap().as_deref(),
            Some(format!("round {round}").as_bytes())
        );
    }
    store.wait_for_maintenance();
    let s = store.stats();
    assert!(
        s.cold_repacks >= 1 && s.cold_maintenance_error.is_none(),
        "{s:?}"
    );
    assert!(s.cold_packs < 32, "{s:?}");
    assert_eq!(store.history("k0").unwrap().len(), 40);
    assert_eq!(
        store.get_at("k0", "HEAD~39").unwrap().as_deref(),
        Some(&b"round 0"[..])
    );
    store.close().unwrap();
    git(
        &dir.path().join("cold.git"),
        &["fsck", "--strict", "--no-dangling"],
    );
}

/// The store keeps its last commit's trees to build the next commit on; a commit made by
/// someone else in between (here `git` itself) must be the parent instead, its files kept.
#[test]
fn a_commit_builds_on_a_ref_moved_by_git_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    for i in 0..20 {
        store
            .put(&format!("d{}/k{i}", i % 4), format!("v{i}"))
            .unwrap();
    }
    store.sync(SyncLevel::Commit).unwrap();
    store.put("d1/k1", "changed").unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    let repo = dir.path().join("cold.git");
    // By hand: a file added next to the store's in d2, as a new commit on main.
    let tip = git(&repo, &["rev-parse", "main"]).trim().to_owned();
    let blob = git_stdin(&repo, &["hash-object", "-w", "--stdin"], "by hand")
        .trim()
        .to_owned();
    let d2 = git(&repo, &["rev-parse", "main:d2"]).trim().to_owned();
    let mut listing = git(&repo, &["ls-tree", &d2]);
    listing.push_str(&format!("100644 blob {blob}\thand.txt\n"));
    let new_d2 = git_stdin(&repo, &["mktree"], &listing).trim().to_owned();
    let root = git(&repo, &["ls-tree", "main"]).replace(&d2, &new_d2);
    let new_root = git_stdin(&repo, &["mktree"], &root).trim().to_owned();
    let by_hand = git(
        &repo,
        &[
            "-c",
            "user.name=H",
            "-c",
            "user.email=h@example.org",
            "commit-tree",
            &new_root,
            "-p",
            &tip,
            "-m",
            "by hand",
        ],
    )
    .trim()
    .to_owned();
    git(&repo, &["update-ref", "refs/heads/main", &by_hand, &tip]);
    // The store's next commit, touching the same directory.
    store.put("d2/k2", "after").unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    assert_eq!(git(&repo, &["rev-parse", "main~1"]).trim(), by_hand);
    assert_eq!(git(&repo, &["show", "main:d2/hand.txt"]), "by hand");
    assert_eq!(git(&repo, &["show", "main:d2/k2.v"]), "after");
    assert_eq!(git(&repo, &["show", "main:d1/k1.v"]), "changed");
    git(&repo, &["fsck", "--strict", "--no-dangling"]);
    // Once more, on the store's own commit again.
    store.put("d2/k6", "again").unwrap();
    store.sync(SyncLevel::Commit).unwrap();
    assert_eq!(git(&repo, &["show", "main:d2/hand.txt"]), "by hand");
    assert_eq!(git(&repo, &["show", "main:d2/k6.v"]), "again");
    store.close().unwrap();
}
