//! Helpers shared by the integration tests that talk to the real `git`.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use thermocline::{AutoCommit, Options};

/// `git -C repo args...`, which must succeed; its standard output.
pub fn git(repo: &Path, args: &[&str]) -> String {
    git_stdin(repo, args, "")
}

/// [`git`] with `input` on its standard input.
pub fn git_stdin(repo: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(input.as_bytes())
        .expect("git reads its input");
    drop(stdin);
    let out = child.wait_with_output().expect("git ends");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The number a segment file is named after (`wal/00000042.wal` is 42).
pub fn file_number(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.parse().ok())
        .expect("a numbered file")
}

/// A store that commits only when asked and flushes to the warm tier only when asked.
pub fn manual_options() -> Options {
    let mut o = Options::default().auto_commit(AutoCommit::Manual);
    o.config.write_behind.flush_ops = u64::MAX;
    o.config.write_behind.flush_bytes = u64::MAX;
    o
}
