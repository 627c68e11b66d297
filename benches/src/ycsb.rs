//! (h) YCSB workloads A, B, C and F: one thread, Zipf 0.99 request keys, values of 100 B to
//! 1 KiB, no fsync per operation (the `os` level of [`crate::kv`]).

use std::fmt::Write as _;

use thermocline::Options;

use crate::Config;
use crate::common::{Rng, Zipf, now, rotation, splitmix};
use crate::kv::{self, Kv};
use crate::report::{Table, Unit};

pub const A: &str = "A: 50 % reads, 50 % updates";
pub const B: &str = "B: 95 % reads, 5 % updates";
pub const C: &str = "C: 100 % reads";
pub const F: &str = "F: 50 % reads, 50 % read-modify-writes";
pub const FROM_MEMORY: &str = "reads from memory (%)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Update,
    ReadModifyWrite,
}

/// (label, share of operations that are not reads, what they are).
const WORKLOADS: [(&str, f64, Op); 4] = [
    (A, 0.5, Op::Update),
    (B, 0.05, Op::Update),
    (C, 0.0, Op::Update),
    (F, 0.5, Op::ReadModifyWrite),
];

/// YCSB's keys: `user` and a scrambled number (so that the popular keys are spread over the
/// key space).
fn key(out: &mut String, rank: u64) {
    out.clear();
    let _ = write!(out, "user{:016x}", splitmix(rank));
}

/// The value size of the key of `rank`: 100 B to 1 KiB, fixed per key.
fn value_size(rank: u64) -> usize {
    100 + (splitmix(rank ^ 0x005e_ed0f_5123) % 925) as usize
}

fn fill(buf: &mut [u8], rank: u64, version: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (rank as usize).wrapping_add(i * 7) as u8;
    }
    buf[..8].copy_from_slice(&version.to_le_bytes());
}

pub fn run(cfg: &Config) -> Table {
    let (systems, skipped) = kv::systems(&[kv::REDB, kv::FJALL, kv::SQLITE]);
    let n: u64 = if cfg.quick { 20_000 } else { 1_000_000 };
    let ops: usize = if cfg.quick { 20_000 } else { 150_000 };
    let rounds = cfg.rounds(3, 1);
    let mut table = Table::new(
        "ycsb",
        "(h) YCSB A, B, C, F: one thread, no fsync per operation",
        Unit::Rate,
        systems.clone(),
    );
    table.skipped = skipped;
    table.rounds = rounds;
    let data_bytes: u64 = (0..n).map(|r| 20 + value_size(r) as u64).sum();
    // Loaded in key order (the keys are fixed-width hex, so their order is that of the
    // scrambled numbers): untimed, and it keeps the B-trees' load short.
    let mut load_order: Vec<u64> = (0..n).collect();
    load_order.sort_unstable_by_key(|&r| splitmix(r));
    let cache = data_bytes / 10;
    let dirs: Vec<tempfile::TempDir> = systems
        .iter()
        .map(|_| tempfile::tempdir_in(&cfg.tmp).expect("temp dir"))
        .collect();
    // Load: every key once, in chunks, not timed with the runs (its time is a count below).
    let mut stores: Vec<(String, Box<dyn Kv>)> = Vec::new();
    let mut load_secs = Vec::new();
    for (system, dir) in systems.iter().zip(&dirs) {
        let options = Options::default()
            .without_cold_tier()
            .hot_capacity_bytes(cache);
        let mut store = kv::open(system, dir.path(), options, Some(cache)).expect("open");
        let started = now();
        let mut chunk = Vec::with_capacity(10_000);
        let mut k = String::new();
        for (i, &rank) in load_order.iter().enumerate() {
            key(&mut k, rank);
            let mut v = vec![0u8; value_size(rank)];
            fill(&mut v, rank, 0);
            chunk.push((k.clone(), v));
            if chunk.len() == 10_000 || i + 1 == load_order.len() {
                store.load(&chunk).expect("load");
                chunk.clear();
            }
        }
        store.finish().expect("finish the load");
        load_secs.push(started.elapsed().as_secs_f64());
        eprintln!(
            "  ycsb: {system} loaded {n} keys in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        stores.push((system.clone(), store));
    }
    let zipf = Zipf::new(n as usize, 0.99);
    let mut plan: Vec<(Op, u64)> = Vec::with_capacity(ops);
    let mut k = String::new();
    let mut out = Vec::with_capacity(1024);
    let mut buf = vec![0u8; 1024];
    let mut version = 0u64;
    for round in 0..rounds {
        for (w, &(label, writes, write_op)) in WORKLOADS.iter().enumerate() {
            // The same requests for every system of this round.
            let mut rng = Rng::new(((round * WORKLOADS.len() + w) as u64) << 8 | 0x9c5b);
            plan.clear();
            plan.extend((0..ops).map(|_| {
                let op = if rng.unit() < writes {
                    write_op
                } else {
                    Op::Read
                };
                (op, zipf.sample(&mut rng))
            }));
            let order: Vec<usize> = rotation(&(0..stores.len()).collect::<Vec<_>>(), round + w);
            for i in order {
                let (system, store) = &mut stores[i];
                let tiers = store.read_tiers();
                let started = now();
                for &(op, rank) in &plan {
                    key(&mut k, rank);
                    if op != Op::Update {
                        let found = store.get(&k, &mut out).expect("get");
                        assert!(found, "{system}: loaded key {k} not found");
                    }
                    if op != Op::Read {
                        version += 1;
                        let v = &mut buf[..value_size(rank)];
                        fill(v, rank, version);
                        store.put(&k, v).expect("put");
                    }
                }
                store.finish().expect("finish");
                let secs = started.elapsed().as_secs_f64();
                let row = table.row_mut(label);
                row.push(system, ops as f64 / secs);
                if let (Some((h0, d0)), Some((h1, d1))) = (tiers, store.read_tiers()) {
                    let (h, d) = (h1 - h0, d1 - d0);
                    row.count(
                        system,
                        FROM_MEMORY,
                        100.0 * h as f64 / (h + d).max(1) as f64,
                    );
                }
            }
        }
        eprintln!("  ycsb: round {} of {rounds} done", round + 1);
    }
    for ((system, _), secs) in stores.iter().zip(&load_secs) {
        table
            .row_mut(A)
            .count(system, "load, not timed in the runs (s)", *secs);
    }
    drop(stores);
    table.about = format!(
        "YCSB core workloads over {} k keys (`user` + 16 hex digits of a scrambled number), \
values of 100 B to 1 KiB (size fixed per key, {:.0} MB of keys and values in all), request keys \
drawn from a Zipf distribution with exponent 0.99 over the keys (hot keys scattered over the key \
space), one thread. Load phase first: every key once, in key order, in batches (Thermocline `commit_with` of \
~1 MB batches, redb and SQLite one transaction per 10,000 keys, fjall one insert per key), then \
what each system defers is finished (for redb, each load transaction is durable); its time is shown below the table and is not part of the \
figures. Then, in each of {rounds} round(s), the four workloads in turn, each {} k operations \
per system with the same request sequence for every system of the round, the systems in an order \
rotated per workload and round. An update writes a new value of the key's size; F's \
read-modify-write reads the key and writes it back changed (two calls, as YCSB does) and counts \
as one operation. Each run ends with what the system deferred, inside the timed span: \
Thermocline's write-behind flush to the warm tier, fjall's `persist(SyncAll)`, SQLite's \
`wal_checkpoint(PASSIVE)`, redb one empty `Durability::Immediate` commit (redb 4.6: 4.1 slowed \
down after durable commits between non-durable ones, fixed by redb pull request 1206); between \
those, redb commits with \
`Durability::None`. Durability of updates, the same for all: **no fsync per operation**: \
Thermocline `SyncLevel::Os` (the WAL record is written to the OS before `put` returns, no \
fsync), fjall `insert` (its journal is written to the OS per insert; no `persist`), SQLite \
`journal_mode=WAL` with `synchronous=NORMAL` (each commit written to the WAL, synced only at \
checkpoints: the same promise; `OFF` would also skip those), redb one write transaction per \
update with `Durability::None` (its only level without fsync, and weaker: a non-durable commit \
is not persisted at all until a durable one follows, so it would not survive a process crash). \
Caches: Thermocline's hot tier is {:.0} MB, 10 % of the data; redb's cache, fjall's block cache \
and SQLite's page cache get the same budget. The data set fits the OS page cache, so reads \
that miss a system's own cache cost a system call and a copy, not a disk read. `{FROM_MEMORY}` \
is the share of Thermocline's reads served by its hot tier and write-behind buffer.",
        n / 1000,
        data_bytes as f64 / 1e6,
        ops / 1000,
        cache as f64 / 1e6,
    );
    table
}
