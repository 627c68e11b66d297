//! `thermocline-bench`: Thermocline side by side with its peers, in one process, interleaved.
//!
//! ```text
//! cargo run --release -p thermocline-bench --features all            # full suite, ~11 min
//! cargo run --release -p thermocline-bench --features all -- --quick # each workload briefly
//! ```
//!
//! The full run rewrites the generated section of `BENCHMARKS.md` at the workspace root (and
//! `BENCHMARKS.json` beside it), keeping every other section of the file. `--quick` writes to
//! `target/thermocline-bench-quick/` instead, so a smoke run never replaces the real figures.
//!
//! Options: `--quick`, `--only a,b,..` (hit, hot, device, single, group, commit, history,
//! ingest, ycsb, recovery),
//! `--rounds N`, `--out DIR`, `--traces DIR` (default `../shared/traces` beside the workspace,
//! or `$THERMOCLINE_TRACES`), `--tmp DIR` (where stores are created; default the system's
//! temporary directory).
//!
//! Hidden: `--child-ingest ..` and `--child-write ..` make this executable one run of the
//! ingest workload or the writer that the recovery workload SIGKILLs (the workloads start these
//! children themselves).

mod cold;
mod common;
mod durable;
mod hitratio;
mod hotget;
mod ingest;
mod kv;
mod recovery;
mod report;
mod ycsb;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::json;

use crate::common::{Device, now};
use crate::report::{Bar, Table, Unit, Verdict};

#[derive(Debug)]
pub struct Config {
    pub quick: bool,
    pub traces: PathBuf,
    pub tmp: PathBuf,
    pub device: Option<Device>,
    rounds: Option<usize>,
}

impl Config {
    /// Rounds for a workload: its full-run or quick-run default, unless `--rounds` says.
    #[must_use]
    pub fn rounds(&self, full: usize, quick: usize) -> usize {
        self.rounds
            .unwrap_or(if self.quick { quick } else { full })
            .max(1)
    }
}

const WORKLOADS: [&str; 10] = [
    "hit", "hot", "device", "single", "group", "commit", "history", "ingest", "ycsb", "recovery",
];
const BEGIN: &str = "<!-- thermocline-bench:begin (generated; edit outside these markers) -->";
const END: &str = "<!-- thermocline-bench:end -->";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf()
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: thermocline-bench [--quick] [--only {}] [--rounds N] [--out DIR] [--traces DIR] [--tmp DIR]",
        WORKLOADS.join(",")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // A child process of a workload, before the options: it takes its own arguments.
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("--child-ingest") => return ingest::child(&argv[1..]),
        Some("--child-write") => return recovery::child(&argv[1..]),
        _ => {}
    }
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut rounds = None;
    let mut out = None;
    let mut traces = std::env::var_os("THERMOCLINE_TRACES").map(PathBuf::from);
    let mut tmp = std::env::temp_dir();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--only" => match args.next() {
                Some(v) => only = Some(v.split(',').map(str::to_string).collect()),
                None => return usage(),
            },
            "--rounds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => rounds = Some(n),
                None => return usage(),
            },
            "--out" => match args.next() {
                Some(v) => out = Some(PathBuf::from(v)),
                None => return usage(),
            },
            "--traces" => match args.next() {
                Some(v) => traces = Some(PathBuf::from(v)),
                None => return usage(),
            },
            "--tmp" => match args.next() {
                Some(v) => tmp = PathBuf::from(v),
                None => return usage(),
            },
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    if let Some(o) = &only
        && let Some(bad) = o.iter().find(|w| !WORKLOADS.contains(&w.as_str()))
    {
        eprintln!("unknown workload {bad:?}");
        return usage();
    }
    let root = workspace_root();
    let cfg = Config {
        quick,
        traces: traces.unwrap_or_else(|| root.join("../shared/traces")),
        device: Device::of(&tmp),
        tmp,
        rounds,
    };
    let out = out.unwrap_or_else(|| {
        if quick {
            root.join("target/thermocline-bench-quick")
        } else {
            root.clone()
        }
    });
    let wants = |w: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == w));
    let started = now();
    let mut tables: Vec<Table> = Vec::new();
    type Workload = fn(&Config) -> Table;
    let plan: [(&str, &str, Workload); 10] = [
        ("hit", "(a) hit ratio", hitratio::run),
        ("hot", "(b) hot get", hotget::run),
        ("device", "raw device", durable::device),
        ("single", "(c) durable single writer", durable::single),
        ("group", "(d) group commit", durable::group),
        ("commit", "(e) cold commit", cold::commit),
        ("history", "(f) historical read", cold::history),
        ("ingest", "(g) write-behind ingest", ingest::run),
        ("ycsb", "(h) YCSB", ycsb::run),
        ("recovery", "(i) recovery after SIGKILL", recovery::run),
    ];
    for (id, name, f) in plan {
        if !wants(id) {
            continue;
        }
        let t0 = now();
        eprintln!("==> {name}");
        let table = f(&cfg);
        eprintln!("    {name}: {:.1} s", t0.elapsed().as_secs_f64());
        tables.push(table);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let bars = bars(&tables);
    let machine = machine(&cfg);
    let versions = versions(&root);
    let header = header(&cfg, &machine, &versions, elapsed, only.as_deref());
    let md = report::markdown(&header, &tables, &bars);
    let json = json!({
        "generated_at": utc_now(),
        "mode": if quick { "quick" } else { "full" },
        "duration_s": elapsed,
        "machine": machine.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "versions": versions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "bars": bars.iter().map(Bar::json).collect::<Vec<_>>(),
        "tables": tables.iter().map(Table::json).collect::<Vec<_>>(),
    });
    if let Err(e) = write(&out, &md, &json) {
        eprintln!("writing results to {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    // The verdicts on stdout; the tables are in the files.
    if let Some(bars_md) = md
        .split("### Bars from issue 5")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
    {
        print!("### Bars from issue 5{bars_md}");
    }
    eprintln!(
        "\nwrote {} and {} ({elapsed:.0} s)",
        out.join("BENCHMARKS.md").display(),
        out.join("BENCHMARKS.json").display()
    );
    ExitCode::SUCCESS
}

/// Replaces the generated section of BENCHMARKS.md (between the markers), keeping everything
/// else other people wrote there; creates the file if needed.
fn write(out: &Path, section: &str, json: &serde_json::Value) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let path = out.join("BENCHMARKS.md");
    let block = format!("{BEGIN}\n{section}{END}\n");
    let text = match std::fs::read_to_string(&path) {
        Ok(old) => match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if b < e => {
                let rest = old[e + END.len()..].trim_start_matches('\n');
                let gap = if rest.is_empty() { "" } else { "\n" };
                format!("{}{block}{gap}{rest}", &old[..b])
            }
            _ => format!("{}\n\n{block}", old.trim_end()),
        },
        Err(_) => format!("# Benchmarks\n\n{block}"),
    };
    std::fs::write(&path, text)?;
    std::fs::write(
        out.join("BENCHMARKS.json"),
        serde_json::to_string_pretty(json).unwrap_or_default() + "\n",
    )
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn machine(cfg: &Config) -> Vec<(&'static str, String)> {
    let cpuinfo = read_trim("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string());
    let mem = read_trim("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0),
        );
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    // The mount holding the temporary directory: longest matching mount point.
    let tmp = cfg.tmp.canonicalize().unwrap_or_else(|_| cfg.tmp.clone());
    let mounts = read_trim("/proc/mounts");
    let fs = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && tmp.starts_with(f[1])).then(|| {
                (
                    f[1].len(),
                    format!("{} on {} ({}, {})", f[0], f[1], f[2], f[3]),
                )
            })
        })
        .max_by_key(|(n, _)| *n)
        .map_or_else(|| "unknown".into(), |(_, s)| s);
    let git = Command::new("git")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "not installed".into());
    vec![
        ("cores (nproc)", cores.to_string()),
        ("cpu", cpu),
        ("memory", mem),
        ("kernel", read_trim("/proc/sys/kernel/osrelease")),
        (
            "disk",
            cfg.device
                .as_ref()
                .map_or_else(|| "unknown".into(), Device::describe),
        ),
        ("file system of the stores", fs),
        ("temporary directory", cfg.tmp.display().to_string()),
        ("git", git),
    ]
}

/// Versions of the peers as resolved in Cargo.lock.
fn versions(root: &Path) -> Vec<(String, String)> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let wanted = [
        "quick_cache",
        "moka",
        "lru",
        "hashbrown",
        "redb",
        "fjall",
        "rusqlite",
        "libsqlite3-sys",
        "git2",
        "libgit2-sys",
        "gix",
    ];
    let mut out: Vec<(String, String)> = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && wanted.contains(&n.as_str())
        {
            let v = v.trim_matches('"').to_string();
            match out.iter_mut().find(|(x, _)| *x == n) {
                Some((_, vs)) => {
                    vs.push_str(", ");
                    vs.push_str(&v);
                }
                None => out.push((n, v)),
            }
        }
    }
    out
}

fn header(
    cfg: &Config,
    machine: &[(&str, String)],
    versions: &[(String, String)],
    elapsed: f64,
    only: Option<&[String]>,
) -> String {
    let mut h = String::new();
    let _ = writeln!(h, "## Thermocline side by side with its peers\n");
    let _ = writeln!(
        h,
        "Generated by `thermocline-bench` (`benches/`) on {} UTC: {} run{}, {:.0} s. \
Everything between the markers of this section is rewritten by the next full run; \
write commentary outside them.\n",
        utc_now(),
        if cfg.quick { "a `--quick`" } else { "the full" },
        only.map(|o| format!(" of {}", o.join(", ")))
            .unwrap_or_default(),
        elapsed
    );
    let _ = writeln!(
        h,
        "**Rerun** (about 11 minutes on 2 cores, plus the first build of the peers):\n\n\
```sh\ncargo run --release -p thermocline-bench --features all            # writes BENCHMARKS.md + BENCHMARKS.json here\n\
cargo run --release -p thermocline-bench --features all -- --quick # a short smoke run into target/thermocline-bench-quick/\n\
cargo run --release -p thermocline-bench --features quick_cache,lru -- --only hit,hot  # only some workloads and peers\n```\n\n\
Each peer is a cargo feature (`quick_cache`, `moka`, `lru`, `redb`, `fjall`, `sqlite`, `git2`, or \
`all`); a peer whose feature is off is listed as not measured. The traces are read from \
`../shared/traces` (or `--traces DIR`) and skipped with a note when absent.\n"
    );
    let _ = writeln!(
        h,
        "**Method.** All systems run in one process. Workloads that take time are run in several \
rounds, and within a round every system runs once, in an order rotated from round to round; \
a ratio is ours ÷ the peer *within a round* and the tables give the median ratio and its \
min–max over the rounds, so a burst of noise (other builds on this machine; fsync latency that \
moves between ~0.25 ms and ~4 ms) hits one round of both, not all rounds of one. Values are \
medians over rounds with their min–max. Counts below each table (syncs per commit, bytes per \
operation) do not drift with the machine's speed.\n"
    );
    let _ = writeln!(h, "**Machine.**\n\n| | |\n|---|---|");
    for (k, v) in machine {
        let _ = writeln!(h, "| {k} | {v} |");
    }
    let _ = writeln!(
        h,
        "| peers (Cargo.lock) | {} |\n",
        versions
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    h
}

/// The bars of issue 5, judged on this run's figures.
fn bars(tables: &[Table]) -> Vec<Bar> {
    let find = |id: &str| tables.iter().find(|t| t.id == id);
    let mut bars = Vec::new();
    let not_measured = |workload: &str, bar: &str, why: &str| Bar {
        workload: workload.into(),
        bar: bar.into(),
        verdict: Verdict::NotMeasured,
        evidence: why.into(),
    };

    // (b) hot get vs quick_cache.
    let bar = "time per get ≤ 1.2× quick_cache";
    match find("hot_get").filter(|t| t.systems.iter().any(|s| s == hotget::QUICK)) {
        Some(t) => {
            let mut ok = true;
            let mut ev = Vec::new();
            for row in &t.rows {
                if let Some((m, lo, hi)) = row.ratio(t.unit, t.ours(), hotget::QUICK) {
                    ok &= m <= 1.2;
                    ev.push(format!("{}: {m:.2}× ({lo:.2}–{hi:.2})", row.label));
                }
            }
            bars.push(Bar {
                workload: "hot get".into(),
                bar: bar.into(),
                verdict: judge(ok && !ev.is_empty()),
                evidence: ev.join("; "),
            });
        }
        None => bars.push(not_measured("hot get", bar, "quick_cache not built in")),
    }

    // (a) hit ratio vs the best peer.
    let bar = "default policy within 1 point of the best peer on ≥ 80 % of cells, within 3 on all";
    match find("hit_ratio") {
        Some(t) => {
            let mut cells = 0;
            let mut within1 = 0;
            let mut worst: Option<(f64, String)> = None;
            for row in &t.rows {
                let (Some(ours), Some((peer, best))) =
                    (row.median(hitratio::OURS), hitratio::best_peer(t, row))
                else {
                    continue;
                };
                let d = ours - best;
                cells += 1;
                within1 += usize::from(d >= -1.0);
                if worst.as_ref().is_none_or(|(w, _)| d < *w) {
                    worst = Some((d, format!("{} (best: {peer})", row.label)));
                }
            }
            if cells == 0 {
                bars.push(not_measured("hit ratio", bar, "no peer built in"));
            } else {
                let (w, at) = worst.unwrap_or_default();
                let share = within1 as f64 / cells as f64;
                bars.push(Bar {
                    workload: "hit ratio".into(),
                    bar: bar.into(),
                    verdict: judge(share >= 0.8 && w >= -3.0),
                    evidence: format!(
                        "{within1} of {cells} cells within 1 point ({:.0} %); worst {w:+.2} points at {at}",
                        share * 100.0
                    ),
                });
            }
            let lru_bar = "our LRU mode gives exactly the `lru` crate's figures";
            if t.systems.iter().any(|s| s == "lru") {
                bars.push(Bar {
                    workload: "hit ratio".into(),
                    bar: lru_bar.into(),
                    verdict: Verdict::Met,
                    evidence: format!(
                        "equal hit counts on all {} cells (asserted: the run fails otherwise)",
                        t.rows.len()
                    ),
                });
            } else {
                bars.push(not_measured("hit ratio", lru_bar, "`lru` not built in"));
            }
        }
        None => bars.push(not_measured("hit ratio", bar, "not run")),
    }

    // (c) durable single writer.
    if let Some(t) = find("durable_single") {
        let mut ev_raw = Vec::new();
        let mut ok_raw = true;
        let mut ev_peer = Vec::new();
        let mut ok_peer = true;
        let mut ev_sync = Vec::new();
        let mut ok_sync = true;
        for row in &t.rows {
            for raw in [durable::RAW_DIRECT, durable::RAW_APPEND] {
                if let Some((m, lo, hi)) = row.ratio(t.unit, t.ours(), raw) {
                    ok_raw &= m >= 0.9;
                    ev_raw.push(format!(
                        "{}, vs {raw}: {m:.2}× ({lo:.2}–{hi:.2})",
                        row.label
                    ));
                }
            }
            for peer in t.systems.iter().skip(1) {
                if peer.starts_with("raw") {
                    continue;
                }
                if let Some((m, lo, hi)) = row.ratio(t.unit, t.ours(), peer) {
                    ok_peer &= m >= 1.0;
                    ev_peer.push(format!(
                        "{}, vs {peer}: {m:.2}× ({lo:.2}–{hi:.2})",
                        row.label
                    ));
                }
            }
            if let Some(s) = row.count_median(t.ours(), "WAL fdatasyncs / commit") {
                ok_sync &= (s - 1.0).abs() < 0.005;
                let dev = row
                    .count_median(t.ours(), durable::SYNC_CALLS)
                    .map(|d| {
                        ok_sync &= (d - 1.0).abs() < 0.05;
                        format!(", {d:.3} sync calls / commit (all files, all threads)")
                    })
                    .unwrap_or_default();
                ev_sync.push(format!(
                    "{}: {s:.3} WAL fdatasyncs / commit{dev}",
                    row.label
                ));
            }
        }
        bars.push(Bar {
            workload: "durable single writer".into(),
            bar: "≥ 0.9× the raw fdatasync loop's commits/s".into(),
            verdict: judge(ok_raw && !ev_raw.is_empty()),
            evidence: ev_raw.join("; "),
        });
        let peer_bar = "≥ 1.0× every peer (redb, fjall, SQLite)";
        if ev_peer.is_empty() {
            bars.push(not_measured(
                "durable single writer",
                peer_bar,
                "no peer built in",
            ));
        } else {
            bars.push(Bar {
                workload: "durable single writer".into(),
                bar: peer_bar.into(),
                verdict: judge(ok_peer),
                evidence: ev_peer.join("; "),
            });
        }
        bars.push(Bar {
            workload: "durable single writer".into(),
            bar: "exactly 1 fsync per commit".into(),
            verdict: judge(ok_sync && !ev_sync.is_empty()),
            evidence: ev_sync.join("; "),
        });
    }

    // (d) group commit.
    if let Some(t) = find("group_commit") {
        let ours = t.ours();
        let samples = |label: &str| {
            t.row(label)
                .and_then(|r| r.samples.get(ours))
                .cloned()
                .unwrap_or_default()
        };
        // Per round: both rates measured within a few seconds, in the same fsync regime.
        let per_round: Vec<f64> = samples("128 writer(s)")
            .iter()
            .zip(samples("1 writer(s)"))
            .map(|(many, one)| many / one)
            .collect();
        let one = t.row("1 writer(s)").and_then(|r| r.median(ours));
        let many = t.row("128 writer(s)").and_then(|r| r.median(ours));
        let bar = "≥ 25× the single-writer rate at 128 writers";
        match (one, many, report::median(&per_round)) {
            (Some(a), Some(b), Some(m)) => {
                let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let syncs = t
                    .row("128 writer(s)")
                    .and_then(|r| r.count_median(ours, "WAL fdatasyncs / commit"))
                    .map(|s| format!(", {s:.3} WAL fdatasyncs / commit at 128"))
                    .unwrap_or_default();
                let ceiling = t
                    .row("128 writer(s)")
                    .and_then(|r| r.median(durable::OURS_TMPFS))
                    .map(|c| {
                        format!(
                            "; the same store on tmpfs (no device, the CPU ceiling): {} at 128 \
                             writers, {:.1}× the single writer on disk",
                            Unit::Rate.format(c),
                            c / a
                        )
                    })
                    .unwrap_or_default();
                bars.push(Bar {
                    workload: "group commit".into(),
                    bar: bar.into(),
                    verdict: judge(m >= 25.0),
                    evidence: format!(
                        "{m:.1}× ({lo:.1}–{hi:.1}) per round; medians {} at 128 writers, {} at 1{syncs}{ceiling}",
                        Unit::Rate.format(b),
                        Unit::Rate.format(a),
                    ),
                });
            }
            _ => bars.push(not_measured("group commit", bar, "rows missing")),
        }
        let bar = "≥ 1.0× fjall";
        if t.systems.iter().any(|s| s == durable::FJALL) {
            let mut ok = true;
            let mut ev = Vec::new();
            for row in &t.rows {
                if let Some((m, lo, hi)) = row.ratio(t.unit, ours, durable::FJALL) {
                    ok &= m >= 1.0;
                    ev.push(format!("{}: {m:.2}× ({lo:.2}–{hi:.2})", row.label));
                }
            }
            bars.push(Bar {
                workload: "group commit".into(),
                bar: bar.into(),
                verdict: judge(ok && !ev.is_empty()),
                evidence: ev.join("; "),
            });
        } else {
            bars.push(not_measured("group commit", bar, "fjall not built in"));
        }
    }

    // (e) cold commit.
    if let Some(t) = find("cold_commit") {
        let bar = "≤ 1.0× libgit2 per commit";
        if t.systems.iter().any(|s| s == cold::GIT2) {
            let mut ok = true;
            let mut ev = Vec::new();
            for row in &t.rows {
                if let Some((m, _, _)) = row.ratio(t.unit, t.ours(), cold::GIT2) {
                    ok &= m <= 1.0;
                    let f = row
                        .ratio(t.unit, t.ours(), cold::GIT2_FSYNC)
                        .map(|(x, _, _)| format!(" ({x:.2}× libgit2 with fsync)"))
                        .unwrap_or_default();
                    ev.push(format!("{}: {m:.2}×{f}", row.label));
                }
            }
            bars.push(Bar {
                workload: "cold commit".into(),
                bar: bar.into(),
                verdict: judge(ok && !ev.is_empty()),
                evidence: ev.join("; "),
            });
        } else {
            bars.push(not_measured("cold commit", bar, "git2 not built in"));
        }
        let ks: Vec<String> = t
            .rows
            .iter()
            .filter(|r| r.label.starts_with("K = 10,"))
            .filter_map(|r| r.median(t.ours()).map(|v| (r.label.clone(), v)))
            .map(|(l, v)| format!("{l}: {}", Unit::Time.format(v)))
            .collect();
        let ok = t
            .rows
            .iter()
            .filter(|r| r.label.starts_with("K = 10,"))
            .all(|r| r.median(t.ours()).is_some_and(|v| v <= 1e-3));
        bars.push(Bar {
            workload: "cold commit".into(),
            bar: "aim: ≤ 1 ms for K = 10".into(),
            verdict: judge(ok && !ks.is_empty()),
            evidence: ks.join("; "),
        });
    }

    // (f) historical read.
    if let Some(t) = find("history_read") {
        let bar = "≤ 1.0× libgit2";
        if t.systems.iter().any(|s| s == cold::H_GIT2) {
            let mut ok = true;
            let mut ev = Vec::new();
            for row in &t.rows {
                if let Some((m, lo, hi)) = row.ratio(t.unit, t.ours(), cold::H_GIT2) {
                    ok &= m <= 1.0;
                    ev.push(format!("{}: {m:.2}× ({lo:.2}–{hi:.2})", row.label));
                }
            }
            bars.push(Bar {
                workload: "historical read".into(),
                bar: bar.into(),
                verdict: judge(ok && !ev.is_empty()),
                evidence: ev.join("; "),
            });
        } else {
            bars.push(not_measured("historical read", bar, "git2 not built in"));
        }
        let bar = "≥ 50× faster than `git show`";
        if t.systems.iter().any(|s| s == cold::H_SHOW) {
            let mut ok = true;
            let mut ev = Vec::new();
            for row in &t.rows {
                if let Some((m, _, _)) = row.ratio(t.unit, t.ours(), cold::H_SHOW) {
                    ok &= 1.0 / m >= 50.0;
                    ev.push(format!("{}: {:.0}× faster", row.label, 1.0 / m));
                }
            }
            bars.push(Bar {
                workload: "historical read".into(),
                bar: bar.into(),
                verdict: judge(ok && !ev.is_empty()),
                evidence: ev.join("; "),
            });
        }
    }
    if let Some(t) = find("ingest") {
        ingest_bars(t, &mut bars);
    }
    if let Some(t) = find("ycsb") {
        ycsb_bars(t, &mut bars);
    }
    if let Some(t) = find("recovery") {
        recovery_bars(t, &mut bars);
    }
    bars
}

fn judge(ok: bool) -> Verdict {
    if ok { Verdict::Met } else { Verdict::Missed }
}

/// (g) Write-behind ingest: small-value rate, share of the device, memory.
fn ingest_bars(t: &Table, bars: &mut Vec<Bar>) {
    let ours = t.ours();
    let workload = "write-behind ingest";
    let fjall = |row: &report::Row, name: &str| {
        row.count_median(kv::FJALL, name)
            .map(|v| format!("; fjall {}", Unit::Rate.format(v)))
            .unwrap_or_default()
    };
    let small = t.row(ingest::SMALL);
    let bar = "≥ 1 M puts/s with small values (16 B)";
    match small.and_then(|r| r.count_spread(ours, ingest::PUTS).map(|s| (r, s))) {
        Some((row, (m, lo, hi))) => bars.push(Bar {
            workload: workload.into(),
            bar: bar.into(),
            verdict: judge(m >= 1e6),
            evidence: format!(
                "{}: {} ({}–{}), `flush()` included{}",
                row.label,
                Unit::Rate.format(m),
                Unit::Rate.format(lo),
                Unit::Rate.format(hi),
                fjall(row, ingest::PUTS)
            ),
        }),
        None => bars.push(Bar {
            workload: workload.into(),
            bar: bar.into(),
            verdict: Verdict::NotMeasured,
            evidence: "row missing".into(),
        }),
    }
    let large = t.row(ingest::LARGE);
    let bar = "≥ 50 % of the raw sequential write bandwidth (1 KiB values)";
    match large.and_then(|r| r.ratio(t.unit, ours, ingest::RAW).map(|s| (r, s))) {
        Some((row, (m, lo, hi))) => {
            let peer = row
                .ratio(t.unit, kv::FJALL, ingest::RAW)
                .map(|(f, _, _)| format!("; fjall {:.0} % of raw", f * 100.0))
                .unwrap_or_default();
            bars.push(Bar {
                workload: workload.into(),
                bar: bar.into(),
                verdict: judge(m >= 0.5),
                evidence: format!(
                    "{}: {:.0} % of raw ({:.0}–{:.0} %): {} against {}, `flush()` included{peer}",
                    row.label,
                    m * 100.0,
                    lo * 100.0,
                    hi * 100.0,
                    row.median(ours)
                        .map_or("–".into(), |v| Unit::Bandwidth.format(v)),
                    row.median(ingest::RAW)
                        .map_or("–".into(), |v| Unit::Bandwidth.format(v)),
                ),
            });
        }
        None => bars.push(Bar {
            workload: workload.into(),
            bar: bar.into(),
            verdict: Verdict::NotMeasured,
            evidence: "row missing".into(),
        }),
    }
    // Judged where keys repeat (the key directory stops growing); the new-key row is shown.
    let bar = format!(
        "memory stays bounded: peak RSS growth ≤ `dirty_bytes_max` + hot capacity + {} MiB + {} B per key (1 KiB values, keys repeating)",
        ingest::SLACK_FIXED >> 20,
        ingest::SLACK_PER_KEY
    );
    let mem = |row: &report::Row| {
        let peak = row.count_values(ours, ingest::RSS);
        let bound = row.count_values(ours, ingest::BOUND);
        let worst = peak.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let limit = bound.iter().copied().fold(f64::INFINITY, f64::min);
        (!peak.is_empty() && !bound.is_empty()).then_some((worst, limit))
    };
    match large.and_then(|r| mem(r).map(|m| (r, m))) {
        Some((row, (worst, limit))) => {
            let other = small
                .and_then(|r| mem(r).map(|m| (r, m)))
                .map(|(r, (w, l))| {
                    format!(
                        "; {} (every key new, not judged): {w:.0} MiB, bound {l:.0} MiB",
                        r.label
                    )
                })
                .unwrap_or_default();
            let peer = row
                .count_median(kv::FJALL, ingest::RSS)
                .map(|f| format!("; fjall {f:.0} MiB"))
                .unwrap_or_default();
            bars.push(Bar {
                workload: workload.into(),
                bar,
                verdict: judge(worst <= limit),
                evidence: format!(
                    "{}: peak growth {worst:.0} MiB, bound {limit:.0} MiB{other}{peer}",
                    row.label
                ),
            });
        }
        None => bars.push(Bar {
            workload: workload.into(),
            bar,
            verdict: Verdict::NotMeasured,
            evidence: "no memory samples".into(),
        }),
    }
}

/// (h) YCSB: B and C against redb and fjall, A against fjall.
fn ycsb_bars(t: &Table, bars: &mut Vec<Bar>) {
    let ours = t.ours();
    let peers: Vec<&str> = [kv::REDB, kv::FJALL]
        .into_iter()
        .filter(|p| t.systems.iter().any(|s| s == p))
        .collect();
    let mut judged = |label: &str, bar: &str, rows: &[&str], peers: &[&str], min: f64| {
        let mut ok = true;
        let mut ev = Vec::new();
        for &r in rows {
            let Some(row) = t.row(r) else { continue };
            for &p in peers {
                if let Some((m, lo, hi)) = row.ratio(t.unit, ours, p) {
                    ok &= m >= min;
                    let short = p.split(' ').next().unwrap_or(p);
                    let name = row.label.split(':').next().unwrap_or(&row.label);
                    ev.push(format!("{name} vs {short}: {m:.2}× ({lo:.2}–{hi:.2})"));
                }
            }
        }
        bars.push(Bar {
            workload: label.into(),
            bar: bar.into(),
            verdict: if ev.is_empty() {
                Verdict::NotMeasured
            } else {
                judge(ok)
            },
            evidence: if ev.is_empty() {
                "no peer built in".into()
            } else {
                ev.join("; ")
            },
        });
    };
    judged(
        "YCSB",
        "B and C ≥ 1.0× redb and fjall",
        &[ycsb::B, ycsb::C],
        &peers,
        1.0,
    );
    let fjall: Vec<&str> = peers.iter().copied().filter(|p| *p == kv::FJALL).collect();
    judged("YCSB", "A ≥ 0.8× fjall", &[ycsb::A], &fjall, 0.8);
}

/// (i) Recovery: cold replay against O_DIRECT, and nothing acknowledged lost.
fn recovery_bars(t: &Table, bars: &mut Vec<Bar>) {
    let ours = t.ours();
    let mut ok = true;
    let mut ev = Vec::new();
    for row in t.rows.iter().filter(|r| r.label.contains("cold")) {
        if let Some((m, lo, hi)) = row.count_spread(ours, recovery::VS_RAW) {
            ok &= m >= 0.5;
            let replay = row
                .count_median(ours, recovery::REPLAY_MBS)
                .unwrap_or(f64::NAN);
            let raw = row.count_median(recovery::RAW, "MB/s").unwrap_or(f64::NAN);
            ev.push(format!(
                "{}: {m:.2}× ({lo:.2}–{hi:.2}): replay {replay:.0} MB/s, O_DIRECT {raw:.0} MB/s",
                row.label
            ));
        }
    }
    bars.push(Bar {
        workload: "recovery".into(),
        bar: "cold replay ≥ 0.5× raw O_DIRECT read speed".into(),
        verdict: if ev.is_empty() {
            Verdict::NotMeasured
        } else {
            judge(ok)
        },
        evidence: ev.join("; "),
    });
    let mut ok = true;
    let mut ev = Vec::new();
    for system in t.systems.iter().filter(|s| *s != recovery::RAW) {
        let mut reopens = 0;
        let mut acked = 0.0;
        let mut missing = 0.0;
        for row in &t.rows {
            let a = row.count_values(system, recovery::ACKED);
            let m = row.count_values(system, recovery::MISSING);
            reopens += m.len();
            acked += a.iter().sum::<f64>();
            missing += m.iter().sum::<f64>();
            if system == ours {
                ok &= !m.is_empty() && m.iter().all(|x| *x == 0.0) && a.iter().all(|x| *x > 0.0);
            }
        }
        ev.push(format!(
            "{system}: {missing:.0} missing of {acked:.0} acknowledged writes checked over {reopens} reopens"
        ));
    }
    bars.push(Bar {
        workload: "recovery".into(),
        bar: "every acknowledged write present after the reopen".into(),
        verdict: judge(ok),
        evidence: ev.join("; "),
    });
}

/// The current UTC time as `YYYY-MM-DD HH:MM`.
#[allow(clippy::disallowed_methods)]
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // "YYYY-MM-DDTHH:MM:SSZ" to the minute, with a space for the T.
    let iso = thermocline::time::iso8601(i64::try_from(secs).unwrap_or(i64::MAX));
    iso.get(..16).unwrap_or(&iso).replacen('T', " ", 1)
}
