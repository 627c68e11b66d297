//! The `thermocline` command's contract, black-box: what people and scripts rely on.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_thermocline"))
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("runs")
}

fn run_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn put_get_del_ls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(run(d, &["put", "notes/a", "hello world"]).status.success());
    assert!(
        run_stdin(d, &["put", "notes/b"], "from\nstdin")
            .status
            .success()
    );
    let o = run(d, &["get", "notes/b"]);
    assert_eq!(o.stdout, b"from\nstdin");
    assert_eq!(stdout(&run(d, &["ls"])), "notes/a\nnotes/b\n");
    assert_eq!(stdout(&run(d, &["ls", "notes/b"])), "notes/b\n");
    assert!(run(d, &["del", "notes/a"]).status.success());
    let o = run(d, &["get", "notes/a"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "not found: notes/a\n");
    assert!(o.stdout.is_empty());
}

#[test]
fn dir_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .env("THERMOCLINE_DIR", dir.path())
        .args(["put", "k", "v"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("LOCK").exists());
    let o = bin()
        .env("THERMOCLINE_DIR", dir.path())
        .args(["get", "k"])
        .output()
        .unwrap();
    assert_eq!(o.stdout, b"v");
}

#[test]
fn usage_errors_exit_2_and_errors_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(run(d, &["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(d, &["get"]).status.code(), Some(2));
    assert_eq!(
        run(d, &["--sync", "sometimes", "put", "k", "v"])
            .status
            .code(),
        Some(2)
    );
    let o = run(d, &["put", "a/../b", "v"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid key") && err.contains(".."), "{err}");
}

#[test]
fn stats_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["put", "k", "v"]);
    let text = stdout(&run(d, &["stats"]));
    for word in ["hot", "warm", "wal", "write-behind", "evictions", "misses"] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&run(d, &["stats", "--json"]).stdout).unwrap();
    assert_eq!(json["keys"], 1);
    for field in [
        "hot_keys",
        "warm_keys",
        "hits_hot",
        "misses",
        "evictions",
        "wal_bytes",
        "dirty_keys",
        "dirty_oldest_age_ms",
    ] {
        assert!(json.get(field).is_some(), "{field}");
    }
}

#[test]
fn import_then_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let input = dir.path().join("in.jsonl");
    let lines = [
        r#"{"key":"a/doc","value":{"title":"plan","tags":["x","y"]}}"#,
        r#"{"key":"a/num","value":42}"#,
        r#"{"key":"a/text","value":"plain text"}"#,
        r#"{"key":"b/bin","base64":"AP8Q"}"#,
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let o = run(&d, &["import", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(run(&d, &["get", "a/text"]).stdout, b"plain text");
    assert_eq!(run(&d, &["get", "b/bin"]).stdout, [0, 255, 16]);
    let exported = stdout(&run(&d, &["export"]));
    let parsed: Vec<serde_json::Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<serde_json::Value> = {
        let mut v: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        v.sort_by_key(|j| j["key"].as_str().unwrap().to_owned());
        v
    };
    assert_eq!(parsed, want);
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"key\":\"ok\",\"value\":1}\n{\"key\":\"x/../y\",\"value\":1}\n",
    )
    .unwrap();
    let o = run(&d, &["import", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.jsonl:2"), "{}", stderr(&o));
}

#[test]
fn shell_answers_one_line_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let script = "put a hello world\nget a\nget nothing\ndel a\nget a\nsync\nsync os\nbegin\nput t1 one\nput t2 two\ncommit\nget t2\nsync commit\nbogus\nput bad/../key v\ncommit\nput\n\nsync push\n";
    let o = run_stdin(dir.path(), &["shell"], script);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), script.lines().count(), "{out}");
    assert_eq!(
        &lines[..13],
        [
            "ok",
            "value hello world",
            "none",
            "ok",
            "none",
            "ok",
            "ok",
            "ok",
            "ok",
            "ok",
            "ok",
            "value two",
            "ok"
        ]
    );
    for (i, line) in lines[13..].iter().enumerate() {
        assert!(line.starts_with("err "), "line {}: {line}", 13 + i);
    }
}

#[test]
fn check_reports_sound_and_damaged_stores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..20 {
        run(d, &["put", &format!("k{i}"), "some value"]);
    }
    let o = run(d, &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sound"));
    // Damage a committed warm record: flip a byte in the middle of the first segment.
    let seg = std::fs::read_dir(d.join("warm"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let o = run(d, &["check"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("corrupt at offset 32"),
        "{}",
        stderr(&o)
    );
    let o = run(d, &["get", "k1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("corrupt"), "{}", stderr(&o));
}

#[test]
fn a_second_process_gets_locked_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = bin()
        .arg("--dir")
        .arg(dir.path())
        .arg("shell")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    writeln!(stdin, "put k v").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "ok");
    let o = run(dir.path(), &["get", "k"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("locked") && err.contains(&holder.id().to_string()),
        "{err}"
    );
    drop(stdin);
    holder.wait().unwrap();
    assert_eq!(run(dir.path(), &["get", "k"]).stdout, b"v");
}

#[test]
fn demo_runs() {
    let o = bin().arg("demo").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("hot (unflushed)") && out.contains("warm"),
        "{out}"
    );
}
