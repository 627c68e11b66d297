//! The `thermocline` command: a store at a terminal, and a line protocol for scripts.
//!
//! Exit codes: 0 success, 1 an error (one line on stderr), 2 a usage error.

mod demo;
mod jsonl;
mod shell;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use thermocline::{Options, RecoveryMode, Store, SyncLevel};

#[derive(Parser, Debug)]
#[command(
    name = "thermocline",
    version,
    about = "An embedded tiered key-value store: hot in memory, warm on disk, cold in git"
)]
struct Cli {
    /// Store directory [default: $THERMOCLINE_DIR, else ./thermocline-data]
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// Durability of writes: memory, os, fsync or commit (a git commit)
    #[arg(long, global = true, default_value = "fsync", value_parser = parse_level)]
    sync: SyncLevel,
    /// If the WAL or warm tier is damaged beyond repair, rebuild from the git tip (damaged
    /// files are moved aside; the writes lost are listed on stderr)
    #[arg(long, global = true)]
    recover_from_git: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write VALUE (or stdin when absent) under KEY
    Put { key: String, value: Option<String> },
    /// Print the value's bytes; "not found: KEY" and exit 1 when absent
    Get {
        key: String,
        /// Read the value at a git revision: a commit id (full or abbreviated), HEAD~N, main
        #[arg(long)]
        at: Option<String>,
    },
    /// The commits that changed KEY: id, time, size or "deleted", newest first
    History { key: String },
    /// Recent commits of the cold tier: id, time, keys changed
    Log {
        #[arg(short = 'n', default_value_t = 10)]
        n: usize,
    },
    /// Raise everything written so far to LEVEL (default: --sync)
    Sync { level: Option<String> },
    /// Delete KEY
    Del { key: String },
    /// List keys starting with PREFIX, one a line, sorted
    Ls { prefix: Option<String> },
    /// Per tier: keys and bytes; hits, misses, evictions; WAL; write-behind backlog
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Load JSON lines {"key": "...", "value": <any JSON>}
    Import { file: PathBuf },
    /// Write every key as JSON lines on stdout
    Export,
    /// Write the git history (branch main) to FILE as a git bundle: `git clone FILE` reads it.
    /// Committed writes only (`sync commit` first to include the latest)
    ExportGit { file: PathBuf },
    /// Verify the WAL and the warm tier; exit 0 when sound
    Check,
    /// Read commands from stdin, one a line, and answer one line each
    Shell,
    /// A guided tour on a fresh store, showing data move between tiers
    Demo,
}

fn parse_level(s: &str) -> Result<SyncLevel, String> {
    s.parse::<SyncLevel>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn store_dir(cli: &Cli) -> PathBuf {
    cli.dir
        .clone()
        .or_else(|| std::env::var_os("THERMOCLINE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("thermocline-data"))
}

fn open(cli: &Cli) -> Result<Store> {
    let dir = store_dir(cli);
    let mut options = Options::default().default_sync(cli.sync);
    if cli.recover_from_git {
        options = options.recovery(RecoveryMode::FromGit);
    }
    let store = Store::open(&dir, options)
        .with_context(|| format!("cannot open store {}", dir.display()))?;
    if let Some(r) = &store.open_report().rebuilt_from_git {
        eprintln!("rebuilt from git: {}", r.damage);
        let commit = r.commit.as_deref().unwrap_or("(none)");
        eprintln!(
            "  restored the store as of commit {commit} (sequence {})",
            r.through_seq
        );
        for w in &r.lost {
            let op = if w.deleted { "delete" } else { "put" };
            eprintln!("  lost: #{} {op} {}", w.seq, w.key);
        }
        for u in &r.unreadable {
            eprintln!("  unreadable: {u}");
        }
        for p in &r.moved_aside {
            eprintln!("  damaged files kept in {}", p.display());
        }
    }
    Ok(store)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Demo => demo::run().map(|()| ExitCode::SUCCESS),
        Command::Check => check(&store_dir(&cli)),
        Command::Put { key, value } => {
            let store = open(&cli)?;
            let bytes = match value {
                Some(v) => v.clone().into_bytes(),
                None => {
                    let mut buf = Vec::new();
                    io::stdin()
                        .read_to_end(&mut buf)
                        .context("cannot read the value from stdin")?;
                    buf
                }
            };
            store.put(key, bytes)?;
            store.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Get { key, at } => {
            let store = open(&cli)?;
            let value = match at {
                Some(rev) => store.get_at(key, rev)?,
                None => store.get(key)?,
            };
            match value {
                Some(v) => {
                    io::stdout()
                        .write_all(&v)
                        .context("cannot write to stdout")?;
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("not found: {key}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::History { key } => {
            let store = open(&cli)?;
            let mut out = io::stdout().lock();
            for v in store.history(key)? {
                let size = v
                    .size
                    .map_or("deleted".to_owned(), |n| format!("{n} bytes"));
                writeln!(
                    out,
                    "{} {} {size}",
                    v.commit,
                    thermocline::time::iso8601(v.time_secs)
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Log { n } => {
            let store = open(&cli)?;
            let mut out = io::stdout().lock();
            for c in store.log(*n)? {
                writeln!(
                    out,
                    "{} {} {}",
                    c.commit,
                    thermocline::time::iso8601(c.time_secs),
                    c.summary
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { level } => {
            let store = open(&cli)?;
            let level = match level {
                Some(l) => parse_level(l).map_err(anyhow::Error::msg)?,
                None => cli.sync,
            };
            store.sync(level)?;
            store.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Del { key } => {
            let store = open(&cli)?;
            store.delete(key)?;
            store.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ls { prefix } => {
            let store = open(&cli)?;
            let mut out = io::stdout().lock();
            for key in store.list(prefix.as_deref().unwrap_or(""))? {
                writeln!(out, "{key}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats { json } => {
            let store = open(&cli)?;
            print_stats(&store, *json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file } => {
            let store = open(&cli)?;
            jsonl::import(&store, file)?;
            store.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export => {
            let store = open(&cli)?;
            jsonl::export(&store, &mut io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ExportGit { file } => {
            let store = open(&cli)?;
            let bundle = store.export_git()?;
            let tip = store.log(1)?.into_iter().next().map(|c| c.commit);
            write_atomically(file, &bundle)
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "exported main ({}) to {}: {} bytes",
                tip.as_deref().unwrap_or("no commit"),
                file.display(),
                bundle.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Shell => {
            let store = open(&cli)?;
            shell::run(
                &store,
                cli.sync,
                io::stdin().lock(),
                &mut io::stdout().lock(),
            )?;
            store.close()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `bytes` to a temporary file next to `path`, syncs it and renames it over `path`: a
/// reader never sees half a file, and a crash leaves the old one (or none).
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .context("the path names no file")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    // The rename is durable once the directory is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn check(dir: &std::path::Path) -> Result<ExitCode> {
    let report = thermocline::check::check(dir)
        .with_context(|| format!("cannot check {}", dir.display()))?;
    println!(
        "wal: {} segments, {} records to replay; warm: {} segments, {} records; cold: {} objects verified",
        report.wal_segments,
        report.wal_records,
        report.warm_segments,
        report.warm_records,
        report.cold_objects
    );
    if let Some((segment, offset, bytes)) = report.wal_torn_tail {
        println!(
            "wal: torn tail in segment {segment} at offset {offset} ({bytes} bytes of an interrupted write; cut at next open)"
        );
    }
    if let Some((segment, offset, bytes)) = report.warm_cut {
        let what = match &report.warm_cut_damage {
            Some((at, what)) => format!(
                "a final batch torn by a power cut (damage at offset {at}: {what}; the WAL holds its writes)"
            ),
            None => "an interrupted flush".to_owned(),
        };
        println!(
            "warm: segment {segment} from offset {offset} ({bytes} bytes of {what}; cut at next open)"
        );
    }
    if report.is_sound() {
        println!("sound");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &report.problems {
        eprintln!("damaged: {p}");
    }
    Ok(ExitCode::FAILURE)
}

pub(crate) fn print_stats(store: &Store, json: bool) -> Result<()> {
    let s = store.stats();
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("keys        {}", s.keys);
    println!(
        "hot         {} keys, {} of {} bytes",
        s.hot_keys, s.hot_bytes, s.hot_capacity_bytes
    );
    println!(
        "warm        {} keys, {} live of {} bytes in {} segments",
        s.warm_keys, s.warm_live_bytes, s.warm_file_bytes, s.warm_segments
    );
    let last = s
        .last_commit_age_ms
        .map_or("none this session".to_owned(), |ms| {
            format!("{} s ago", ms / 1000)
        });
    println!(
        "cold        {} keys ({} only in git); {} commits this session, last {last}; cold.git {} bytes; {} keys wait for the next commit",
        s.cold_keys, s.cold_only_keys, s.commits, s.cold_git_bytes, s.cold_pending_keys
    );
    println!(
        "reads       {} hot hits, {} warm hits, {} misses",
        s.hits_hot, s.hits_warm, s.misses
    );
    println!(
        "hot tier    {} evictions, {} expirations, {} idle demotions, {} promotions",
        s.evictions, s.expirations, s.idle_demotions, s.promotions
    );
    println!(
        "wal         {} bytes in {} segments, last seq {}, synced {}, {} fsyncs",
        s.wal_bytes, s.wal_segments, s.last_seq, s.synced_seq, s.wal_syncs
    );
    let age = s
        .dirty_oldest_age_ms
        .map_or("-".to_owned(), |ms| format!("{ms} ms"));
    println!(
        "write-behind {} keys, {} bytes waiting, oldest {age}; {} flushes, {} writes coalesced",
        s.dirty_keys, s.dirty_bytes, s.flushes, s.coalesced_writes
    );
    Ok(())
}
