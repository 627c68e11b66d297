//! Real crashes: a child `thermocline shell` is SIGKILLed mid-write, then the store is reopened
//! in this process and checked against what the child had acknowledged. And damage to the WAL
//! on disk: a torn tail recovers, a flipped byte mid-log is reported, never swallowed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod common;

use thermocline::{Error, Options, Store};
use thermocline_core::recovery::RecoveryError;
use thermocline_core::wal::WalError;

fn shell(dir: &Path, level: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_thermocline"))
        .args(["--dir", dir.to_str().unwrap(), "--sync", level, "shell"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shell")
}

/// xorshift64*: deterministic per round, so a failure names a reproducible seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A transaction's writes.
type Tx = Vec<(String, String)>;

enum Sent {
    Put(String, String),
    Tx(Tx),
}

/// One round: the child writes, we count its acknowledgements, kill it after `kill_after`.
/// Returns what was acknowledged and every transaction that was sent (acknowledged or not).
fn crash_round(dir: &Path, level: &str, seed: u64) -> (BTreeMap<String, String>, Vec<Tx>) {
    let mut rng = Rng(seed);
    let mut child = shell(dir, level);
    let mut stdin = child.stdin.take().unwrap();
    let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
    let kill_after = 5 + rng.next() % 60;
    let mut acked = BTreeMap::new();
    let mut txs = Vec::new();
    let mut sent: Vec<Sent> = Vec::new();
    let mut oks = 0;
    // Send ahead of the answers so the kill lands while writes are in flight.
    for i in 0..400u64 {
        let key = format!("s{seed}/k{}", rng.next() % 40);
        if i % 7 == 3 {
            let tx: Tx = (0..3)
                .map(|j| (format!("s{seed}/tx{i}/{j}"), format!("v{i}")))
                .collect();
            let mut text = String::from("begin\n");
            for (k, v) in &tx {
                text += &format!("put {k} {v}\n");
            }
            text += "commit\n";
            if stdin.write_all(text.as_bytes()).is_err() {
                break;
            }
            txs.push(tx.clone());
            sent.push(Sent::Tx(tx));
        } else {
            let value = format!("{seed}-{i}");
            if writeln!(stdin, "put {key} {value}").is_err() {
                break;
            }
            sent.push(Sent::Put(key, value));
        }
    }
    let _ = stdin.flush();
    for s in sent {
        let lines_for = match &s {
            Sent::Put(..) => 1,
            Sent::Tx(tx) => tx.len() + 2,
        };
        let mut all_ok = true;
        for _ in 0..lines_for {
            match answers.next() {
                Some(Ok(line)) => all_ok &= line == "ok",
                _ => all_ok = false,
            }
        }
        if !all_ok {
            break;
        }
        match s {
            Sent::Put(k, v) => {
                acked.insert(k, v);
            }
            Sent::Tx(tx) => acked.extend(tx),
        }
        oks += 1;
        if oks == kill_after {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    let _ = child.kill();
    child.wait().unwrap();
    (acked, txs)
}

#[test]
fn sigkill_loses_no_acknowledged_write_and_no_transaction_is_half_there() {
    let dir = tempfile::tempdir().unwrap();
    let rounds = 200;
    let mut acked_total = 0;
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..rounds {
        let level = if round % 4 == 0 { "fsync" } else { "os" };
        let seed = 0x9e37_79b9_7f4a_7c15 ^ round;
        let (acked, txs) = crash_round(dir.path(), level, seed);
        acked_total += acked.len();
        latest.extend(acked);
        // Manual commits: the check only reads; closing need not write a commit each round.
        let options = Options::default().auto_commit(thermocline::AutoCommit::Manual);
        let store = Store::open(dir.path(), options)
            .unwrap_or_else(|e| panic!("round {round} (seed {seed:#x}): reopen failed: {e}"));
        // Keys of earlier rounds must survive later rounds' crashes too. A key written again
        // after its last acknowledgement may hold a newer, unacknowledged value (never older).
        let mut newer = Vec::new();
        for (key, value) in &latest {
            let got = store.get(key).unwrap().unwrap_or_else(|| {
                panic!("round {round} (seed {seed:#x}): acknowledged {key} lost")
            });
            let got = String::from_utf8(got.to_vec()).unwrap();
            let index = |v: &str| {
                v.rsplit('-')
                    .next()
                    .and_then(|i| i.trim_start_matches('v').parse::<u64>().ok())
            };
            assert!(
                index(&got) >= index(value),
                "round {round} (seed {seed:#x}): {key} went back from {value} to {got}"
            );
            if &got != value {
                newer.push((key.clone(), got));
            }
        }
        latest.extend(newer);
        for tx in txs {
            let present = tx
                .iter()
                .filter(|(k, _)| store.get(k).unwrap().is_some())
                .count();
            assert!(
                present == 0 || present == tx.len(),
                "round {round} (seed {seed:#x}): transaction {tx:?} is half there ({present} of {})",
                tx.len()
            );
        }
        store.close().unwrap();
    }
    eprintln!("real crashes: {rounds} SIGKILLs, {acked_total} acknowledged writes checked, 0 lost");
}

/// Leaves a WAL with `n` fsync-level records and no flush (the child is killed first).
fn wal_with_records(dir: &Path, n: usize) -> PathBuf {
    let mut child = shell(dir, "fsync");
    let mut stdin = child.stdin.take().unwrap();
    let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
    for i in 0..n {
        writeln!(stdin, "put key{i:02} value-{i:02}").unwrap();
        assert_eq!(answers.next().unwrap().unwrap(), "ok");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let wal = dir.join("wal");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

#[test]
fn a_torn_wal_tail_is_cut_and_the_rest_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let segment = wal_with_records(dir.path(), 30);
    // The file is preallocated past its data: find where the records end.
    let id: u64 = common::file_number(&segment);
    let bytes = std::fs::read(&segment).unwrap();
    let len = thermocline_core::wal::scan_segment(id, &bytes, true, None)
        .unwrap()
        .valid_bytes;
    // Tear the last record: its tail never reached the disk.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let report = store.open_report().clone();
    let (_, offset, discarded) = report.wal.torn_tail.expect("torn tail reported");
    assert!(offset < len && discarded > 0, "{report:?}");
    assert_eq!(report.wal.records_replayed, 29);
    assert_eq!(store.list("").unwrap().len(), 29);
    assert_eq!(
        store.get("key28").unwrap().as_deref(),
        Some(&b"value-28"[..])
    );
    assert_eq!(store.get("key29").unwrap(), None);
    store.put("after", "tear").unwrap();
    store.close().unwrap();
    let report = thermocline::check::check(dir.path()).unwrap();
    assert!(report.is_sound(), "{report:?}");
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(store.list("").unwrap().len(), 30);
    store.close().unwrap();
}

#[test]
fn a_flipped_byte_mid_log_is_reported_not_swallowed() {
    let dir = tempfile::tempdir().unwrap();
    let segment = wal_with_records(dir.path(), 30);
    let mut bytes = std::fs::read(&segment).unwrap();
    let header = thermocline_core::wal::SEGMENT_HEADER_BYTES;
    let flip_at = header + thermocline_core::wal::RECORD_HEADER_BYTES + 3; // inside record 1's key
    bytes[flip_at] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let segment_id: u64 = common::file_number(&segment);
    match Store::open(dir.path(), Options::default()) {
        Err(Error::Wal(RecoveryError::Wal(WalError::Corrupt {
            segment, offset, ..
        }))) => {
            assert_eq!((segment, offset), (segment_id, header as u64));
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    let msg = Store::open(dir.path(), Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!("segment {segment_id}")) && msg.contains(&format!("offset {header}")),
        "{msg}"
    );
    let report = thermocline::check::check(dir.path()).unwrap();
    assert!(!report.is_sound());
    assert!(report.problems[0].contains("corrupt"), "{report:?}");
}
