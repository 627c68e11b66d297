//! (e) cold commit of K changed keys into a 10 k-key tree, (f) reading a historical version.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use thermocline::{AutoCommit, Key, Options, Store, SyncLevel};
use thermocline_core::cold::key_to_path;

use crate::Config;
use crate::common::{Counters, Rng, Run, now, rotation};
use crate::report::{Table, Unit};

pub const OURS: &str = "thermocline sync(Commit)";
pub const GIT2: &str = "libgit2 (git2)";
pub const GIT2_FSYNC: &str = "libgit2, core.fsyncObjectFiles";
pub const GIT_CLI: &str = "git plumbing, core.fsync=committed";
const KEYS: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Every key in one directory: one tree of 10 k entries, rewritten by every commit.
    Flat,
    /// 100 directories of 100 keys.
    Nested,
}

fn key(layout: Layout, k: usize) -> String {
    match layout {
        Layout::Flat => format!("k{k:05}"),
        Layout::Nested => format!("d{:03}/k{k:05}", k % 100),
    }
}

/// The path in the tree (Thermocline's documented mapping: `d042/k00042.v`).
fn path_of(key: &str) -> String {
    key_to_path(&Key::new(key).expect("valid key"))
}

fn value(k: usize, version: u64) -> String {
    format!(
        "{{\"key\": {k}, \"version\": {version}, \"body\": \"{}\"}}\n",
        "lorem ipsum ".repeat(8)
    )
}

/// K distinct keys out of 10 k, from a random start with a stride coprime to 10 k.
fn changed(rng: &mut Rng, k: usize) -> Vec<usize> {
    let start = rng.below(KEYS as u64) as usize;
    (0..k).map(|j| (start + j * 7919) % KEYS).collect()
}

/// Something that commits a set of changed keys into a git tree, durably or not.
trait Committer {
    fn commit(&mut self, changes: &[(String, String)]) -> Result<(), String>;
    /// Work deferred to the background (Thermocline's repack), waited for at the end of a run.
    fn settle(&mut self) {}
    /// Called once the initial 10 k-key commit is in: from here on, commit durably (the
    /// peers' fsync settings would make setting up take minutes).
    fn durable(&mut self) -> Result<(), String> {
        Ok(())
    }
}

struct Ours(Store);

impl Committer for Ours {
    fn commit(&mut self, changes: &[(String, String)]) -> Result<(), String> {
        for (k, v) in changes {
            self.0
                .put_with(k, v, SyncLevel::Memory)
                .map_err(|e| e.to_string())?;
        }
        self.0.sync(SyncLevel::Commit).map_err(|e| e.to_string())
    }
    fn settle(&mut self) {
        self.0.wait_for_maintenance();
    }
}

fn open_ours(dir: &Path) -> Result<Store, String> {
    Store::open(dir, Options::default().auto_commit(AutoCommit::Manual)).map_err(|e| e.to_string())
}

#[cfg(feature = "git2")]
struct Git2 {
    repo: git2::Repository,
    parent: Option<git2::Oid>,
    fsync: bool,
}

#[cfg(feature = "git2")]
impl Git2 {
    fn new(dir: &Path, fsync: bool) -> Result<Git2, String> {
        let repo = git2::Repository::init_bare(dir).map_err(|e| e.to_string())?;
        Ok(Git2 {
            repo,
            parent: None,
            fsync,
        })
    }

    /// A new tree: `base` with `entries` (name → blob or subtree id) set.
    fn update(
        &self,
        base: Option<&git2::Tree<'_>>,
        entries: &[(String, git2::Oid, i32)],
    ) -> Result<git2::Oid, git2::Error> {
        let mut tb = self.repo.treebuilder(base)?;
        for (name, oid, mode) in entries {
            tb.insert(name, *oid, *mode)?;
        }
        tb.write()
    }
}

#[cfg(feature = "git2")]
impl Committer for Git2 {
    fn commit(&mut self, changes: &[(String, String)]) -> Result<(), String> {
        let go = || -> Result<git2::Oid, git2::Error> {
            let parent = self.parent.map(|p| self.repo.find_commit(p)).transpose()?;
            let base = parent.as_ref().map(git2::Commit::tree).transpose()?;
            // Group the changed files by directory (one level at most here).
            let mut by_dir: std::collections::BTreeMap<String, Vec<(String, git2::Oid, i32)>> =
                std::collections::BTreeMap::new();
            for (k, v) in changes {
                let path = path_of(k);
                let blob = self.repo.blob(v.as_bytes())?;
                let (dir, name) = match path.rsplit_once('/') {
                    Some((d, n)) => (d.to_string(), n.to_string()),
                    None => (String::new(), path.clone()),
                };
                by_dir.entry(dir).or_default().push((name, blob, 0o100_644));
            }
            let mut root_entries = by_dir.remove("").unwrap_or_default();
            for (dir, entries) in by_dir {
                let sub = base
                    .as_ref()
                    .and_then(|t| t.get_name(&dir))
                    .map(|e| e.to_object(&self.repo).and_then(|o| o.peel_to_tree()))
                    .transpose()?;
                let oid = self.update(sub.as_ref(), &entries)?;
                root_entries.push((dir, oid, 0o040_000));
            }
            let tree_id = self.update(base.as_ref(), &root_entries)?;
            let tree = self.repo.find_tree(tree_id)?;
            let sig = git2::Signature::now("bench", "bench@localhost")?;
            let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
            self.repo.commit(
                Some("refs/heads/main"),
                &sig,
                &sig,
                &format!("{} keys", changes.len()),
                &tree,
                &parents,
            )
        };
        self.parent = Some(go().map_err(|e| e.to_string())?);
        Ok(())
    }
    fn durable(&mut self) -> Result<(), String> {
        if self.fsync {
            self.repo
                .config()
                .and_then(|mut c| c.set_bool("core.fsyncObjectFiles", true))
                .map_err(|e| e.to_string())?;
            // Reopen so that the configuration is read afresh.
            self.repo = git2::Repository::open_bare(self.repo.path()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The `git` command line, one process per plumbing step, an index file to keep the tree.
struct GitCli {
    git_dir: PathBuf,
    index: PathBuf,
    scratch: PathBuf,
    parent: Option<String>,
    durable: bool,
}

fn git_available() -> bool {
    Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl GitCli {
    fn new(dir: &Path) -> Result<GitCli, String> {
        let git_dir = dir.join("repo.git");
        let out = Command::new("git")
            .args(["init", "--bare", "-q", "-b", "main"])
            .arg(&git_dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into());
        }
        let scratch = dir.join("scratch");
        std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
        Ok(GitCli {
            git_dir,
            index: dir.join("index"),
            scratch,
            parent: None,
            durable: false,
        })
    }

    fn git(&self, args: &[&str], input: &str) -> Result<String, String> {
        let fsync: &[&str] = if self.durable {
            &["-c", "core.fsync=committed", "-c", "core.fsyncMethod=batch"]
        } else {
            &["-c", "core.fsync=none"]
        };
        let mut child = Command::new("git")
            .args(fsync)
            .args(args)
            .env("GIT_DIR", &self.git_dir)
            .env("GIT_INDEX_FILE", &self.index)
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@localhost")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@localhost")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut stdin = child.stdin.take().expect("piped");
        let input = input.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        writer
            .join()
            .expect("writer thread")
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Committer for GitCli {
    fn commit(&mut self, changes: &[(String, String)]) -> Result<(), String> {
        let mut paths = String::new();
        for (i, (_, v)) in changes.iter().enumerate() {
            let p = self.scratch.join(i.to_string());
            std::fs::write(&p, v).map_err(|e| e.to_string())?;
            paths.push_str(&p.to_string_lossy());
            paths.push('\n');
        }
        let oids = self.git(&["hash-object", "-w", "--stdin-paths"], &paths)?;
        let mut info = String::new();
        for ((k, _), oid) in changes.iter().zip(oids.lines()) {
            info.push_str(&format!("100644 {oid}\t{}\n", path_of(k)));
        }
        self.git(&["update-index", "--add", "--index-info"], &info)?;
        let tree = self.git(&["write-tree"], "")?;
        let msg = format!("{} keys", changes.len());
        let mut args = vec!["commit-tree", &tree, "-m", &msg];
        let parent = self.parent.clone();
        if let Some(p) = &parent {
            args.extend(["-p", p]);
        }
        let commit = self.git(&args, "")?;
        self.git(&["update-ref", "refs/heads/main", &commit], "")?;
        self.parent = Some(commit);
        Ok(())
    }
    fn durable(&mut self) -> Result<(), String> {
        self.durable = true;
        Ok(())
    }
}

fn committers(cfg: &Config, dirs: &[tempfile::TempDir]) -> Vec<(String, Box<dyn Committer>)> {
    let _ = cfg;
    let mut out: Vec<(String, Box<dyn Committer>)> = Vec::new();
    let mut dirs = dirs.iter();
    let mut next = || dirs.next().expect("enough dirs").path().to_path_buf();
    out.push((
        OURS.into(),
        Box::new(Ours(open_ours(&next()).expect("open store"))),
    ));
    #[cfg(feature = "git2")]
    {
        out.push((
            GIT2.into(),
            Box::new(Git2::new(&next(), false).expect("git2 init")),
        ));
        out.push((
            GIT2_FSYNC.into(),
            Box::new(Git2::new(&next(), true).expect("git2 init")),
        ));
    }
    if git_available() {
        out.push((
            GIT_CLI.into(),
            Box::new(GitCli::new(&next()).expect("git init")),
        ));
    }
    out
}

/// (e) Commit K changed keys into a 10 k-key tree.
pub fn commit(cfg: &Config) -> Table {
    let mut systems = vec![OURS.to_string()];
    let mut skipped = Vec::new();
    if cfg!(feature = "git2") {
        systems.push(GIT2.into());
        systems.push(GIT2_FSYNC.into());
    } else {
        skipped.push(format!("{GIT2} (feature `git2`)"));
    }
    if git_available() {
        systems.push(GIT_CLI.into());
    } else {
        skipped.push(format!("{GIT_CLI} (no `git` on PATH)"));
    }
    let mut table = Table::new(
        "cold_commit",
        "(e) Cold commit of K changed keys into a 10 k-key tree",
        Unit::Time,
        systems,
    );
    table.skipped = skipped;
    let rounds = cfg.rounds(3, 1);
    table.rounds = rounds;
    let ks: [(usize, usize); 4] = if cfg.quick {
        [(1, 2), (10, 2), (100, 1), (1000, 1)]
    } else {
        [(1, 10), (10, 10), (100, 6), (1000, 3)]
    };
    let layouts: &[Layout] = if cfg.quick {
        &[Layout::Flat]
    } else {
        &[Layout::Flat, Layout::Nested]
    };
    for &layout in layouts {
        let dirs: Vec<tempfile::TempDir> = (0..4)
            .map(|_| tempfile::tempdir_in(&cfg.tmp).expect("temp dir"))
            .collect();
        let mut subjects = committers(cfg, &dirs);
        let all: Vec<(String, String)> = (0..KEYS).map(|k| (key(layout, k), value(k, 0))).collect();
        for (name, c) in &mut subjects {
            let started = now();
            c.commit(&all).expect("initial commit");
            c.settle();
            c.durable().expect("durable settings");
            eprintln!(
                "  {name}: initial commit of {KEYS} keys ({layout:?}) in {:.2} s",
                started.elapsed().as_secs_f64()
            );
        }
        let mut version = 1;
        for round in 0..rounds {
            // The K values in a rotated order too, so that the store's background repack (every
            // 32 packs) does not keep landing in the runs of the same K.
            for (k, commits) in rotation(&ks, round) {
                let label = format!(
                    "K = {k}, {}",
                    match layout {
                        Layout::Flat => "flat (10 k entries in one tree)",
                        Layout::Nested => "nested (100 trees of 100)",
                    }
                );
                let order: Vec<usize> = rotation(&(0..subjects.len()).collect::<Vec<_>>(), round);
                for i in order {
                    let (name, c) = &mut subjects[i];
                    let mut rng = Rng::new((round * 1000 + k) as u64);
                    let batches: Vec<Vec<(String, String)>> = (0..commits)
                        .map(|_| {
                            version += 1;
                            changed(&mut rng, k)
                                .into_iter()
                                .map(|x| (key(layout, x), value(x, version)))
                                .collect()
                        })
                        .collect();
                    let start = Counters::take(&cfg.tmp, true);
                    for b in &batches {
                        c.commit(b).expect("commit");
                    }
                    let run = Run::finish(start, commits as u64);
                    // A background repack started by these commits is waited for outside the
                    // timed span (the commits had returned), and reported on its own.
                    let waited = now();
                    c.settle();
                    let waited = waited.elapsed().as_secs_f64();
                    let row = table.row_mut(&label);
                    row.push(name, run.secs_per_op());
                    if name.as_str() == OURS {
                        row.count(
                            name,
                            "repack wait after the run, ms / commit",
                            waited * 1e3 / commits as f64,
                        );
                    }
                    if let Some(f) = run.sync_calls {
                        row.count(name, "sync calls / commit", f as f64 / commits as f64);
                    }
                    if name.as_str() != GIT_CLI {
                        row.count(
                            name,
                            "bytes written / commit",
                            run.io.wchar as f64 / commits as f64,
                        );
                    }
                }
            }
            eprintln!(
                "  cold commit {layout:?}: round {} of {rounds} done",
                round + 1
            );
        }
    }
    table.about = "Time per commit of K changed keys (random, distinct) into a tree of 10,000 \
keys, values ~130 B of JSON text. Thermocline: `put_with(.., SyncLevel::Memory)` for the K keys, \
then `sync(SyncLevel::Commit)`, which also makes the writes durable in the WAL and the warm tier \
before it writes the commit as one pack with its index and moves `main` durably (see \
docs/cold-format.md); the store uses `AutoCommit::Manual`. The store repacks in the background \
every 32 packs (`git repack -a -d`): a repack runs alongside the commits that follow it, and what \
is left of it when a run ends is waited for outside the timed span and shown below the table \
(repack wait per commit), so that its cost does not land on whichever K happens to cross the \
32-pack boundary. libgit2: one \
loose blob per key, `TreeBuilder` from the parent's trees, `Repository::commit` updating \
`refs/heads/main`; without fsync (libgit2's default) and with `core.fsyncObjectFiles` (fsyncs each \
object file and the ref). git plumbing, the reference: `hash-object -w --stdin-paths`, \
`update-index --index-info` (an index file keeps the tree), `write-tree`, `commit-tree`, \
`update-ref`, five processes per commit, with `core.fsync=committed` and \
`core.fsyncMethod=batch`. The initial commit of 10,000 keys is made before durability is \
switched on for the peers (libgit2 with `core.fsyncObjectFiles` would take ~40 s for it). Sync \
calls per commit are the `fsync`-family calls of the process and its children (perf); bytes \
written are what the process handed to `write` (`/proc/self/io` `wchar`; in-process systems \
only, the git CLI writes from child processes). Thermocline's bytes include its WAL and warm \
tier writes."
        .into();
    table
}

/// A reader of historical versions: (commit id, key) → value bytes.
trait HistoryReader {
    fn read(&mut self, commit: &str, key: &str) -> Result<Option<Vec<u8>>, String>;
}

struct OursReader<'a>(&'a Store);

impl HistoryReader for OursReader<'_> {
    fn read(&mut self, commit: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.0
            .get_at(key, commit)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| e.to_string())
    }
}

#[cfg(feature = "git2")]
struct Git2Reader(git2::Repository);

#[cfg(feature = "git2")]
impl HistoryReader for Git2Reader {
    fn read(&mut self, commit: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        let go = || -> Result<Option<Vec<u8>>, git2::Error> {
            let c = self.0.find_commit(git2::Oid::from_str(commit)?)?;
            let tree = c.tree()?;
            let entry = match tree.get_path(Path::new(&path_of(key))) {
                Ok(e) => e,
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let blob = self.0.find_blob(entry.id())?;
            Ok(Some(blob.content().to_vec()))
        };
        go().map_err(|e| e.to_string())
    }
}

/// `git cat-file --batch`, one long-lived process.
struct CatFile {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl CatFile {
    fn new(git_dir: &Path) -> Result<CatFile, String> {
        let mut child = Command::new("git")
            .arg("--git-dir")
            .arg(git_dir)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(CatFile {
            child,
            stdin,
            stdout,
        })
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HistoryReader for CatFile {
    fn read(&mut self, commit: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        writeln!(self.stdin, "{commit}:{}", path_of(key)).map_err(|e| e.to_string())?;
        self.stdin.flush().map_err(|e| e.to_string())?;
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .map_err(|e| e.to_string())?;
        if header.trim_end().ends_with(" missing") {
            return Ok(None);
        }
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("cat-file: unexpected header {header:?}"))?;
        let mut body = vec![0u8; size + 1];
        self.stdout
            .read_exact(&mut body)
            .map_err(|e| e.to_string())?;
        body.truncate(size);
        Ok(Some(body))
    }
}

/// `git show <commit>:<path>`, a process per read.
struct GitShow(PathBuf);

impl HistoryReader for GitShow {
    fn read(&mut self, commit: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&self.0)
            .args(["show", &format!("{commit}:{}", path_of(key))])
            .stderr(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        Ok(out.status.success().then_some(out.stdout))
    }
}

pub const H_OURS: &str = "thermocline get_at";
pub const H_GIT2: &str = "libgit2 (git2)";
pub const H_CATFILE: &str = "git cat-file --batch";
pub const H_SHOW: &str = "git show";

/// (f) Read a random key at a random commit.
pub fn history(cfg: &Config) -> Table {
    let mut systems = vec![H_OURS.to_string()];
    let mut skipped = Vec::new();
    if cfg!(feature = "git2") {
        systems.push(H_GIT2.into());
    } else {
        skipped.push(format!("{H_GIT2} (feature `git2`)"));
    }
    let git = git_available();
    if git {
        systems.push(H_CATFILE.into());
        systems.push(H_SHOW.into());
    } else {
        skipped.push("git cat-file and git show (no `git` on PATH)".into());
    }
    let mut table = Table::new(
        "history_read",
        "(f) Read of a historical version (random key, random commit)",
        Unit::Time,
        systems.clone(),
    );
    table.skipped = skipped;
    let rounds = cfg.rounds(3, 1);
    table.rounds = rounds;
    let (commits, per_commit, reads, show_reads) = if cfg.quick {
        (40, 20, 100, 10)
    } else {
        (400, 20, 1000, 60)
    };
    let layouts: &[Layout] = if cfg.quick {
        &[Layout::Flat]
    } else {
        &[Layout::Flat, Layout::Nested]
    };
    for &layout in layouts {
        let dir = tempfile::tempdir_in(&cfg.tmp).expect("temp dir");
        let store = open_ours(dir.path()).expect("open store");
        let started = now();
        let mut c = Ours(store);
        let all: Vec<(String, String)> = (0..KEYS).map(|k| (key(layout, k), value(k, 0))).collect();
        c.commit(&all).expect("initial commit");
        let mut rng = Rng::new(99);
        for v in 1..=commits {
            let batch: Vec<(String, String)> = changed(&mut rng, per_commit)
                .into_iter()
                .map(|x| (key(layout, x), value(x, v)))
                .collect();
            c.commit(&batch).expect("commit");
        }
        c.settle();
        let store = c.0;
        let stats = store.stats();
        eprintln!(
            "  history {layout:?}: {} commits in {:.1} s, cold.git {:.1} MiB in {} pack(s)",
            stats.commits,
            started.elapsed().as_secs_f64(),
            stats.cold_git_bytes as f64 / (1 << 20) as f64,
            stats.cold_packs
        );
        let log: Vec<String> = store
            .log(usize::MAX)
            .expect("log")
            .into_iter()
            .map(|e| e.commit)
            .collect();
        let git_dir = dir.path().join("cold.git");
        let label_of = |layout: Layout| match layout {
            Layout::Flat => format!(
                "flat (10 k entries in one tree), {} commits, {} pack(s)",
                log.len(),
                stats.cold_packs
            ),
            Layout::Nested => format!(
                "nested (100 trees of 100), {} commits, {} pack(s)",
                log.len(),
                stats.cold_packs
            ),
        };
        let label = label_of(layout);
        for round in 0..rounds {
            let mut pick = Rng::new(500 + round as u64);
            let queries: Vec<(String, String)> = (0..reads)
                .map(|_| {
                    let commit = log[pick.below(log.len() as u64) as usize].clone();
                    (commit, key(layout, pick.below(KEYS as u64) as usize))
                })
                .collect();
            let mut expected: Option<Vec<Option<Vec<u8>>>> = None;
            for name in rotation(&systems, round) {
                let mut reader: Box<dyn HistoryReader + '_> = match name.as_str() {
                    H_OURS => Box::new(OursReader(&store)),
                    #[cfg(feature = "git2")]
                    H_GIT2 => Box::new(Git2Reader(
                        git2::Repository::open_bare(&git_dir).expect("git2 open"),
                    )),
                    H_CATFILE => Box::new(CatFile::new(&git_dir).expect("cat-file")),
                    H_SHOW => Box::new(GitShow(git_dir.clone())),
                    _ => continue,
                };
                let n = if name == H_SHOW { show_reads } else { reads };
                // One read to warm up (open files, spawn), not timed.
                reader
                    .read(&queries[0].0, &queries[0].1)
                    .expect("warm-up read");
                let started = now();
                let got: Vec<Option<Vec<u8>>> = queries[..n]
                    .iter()
                    .map(|(c, k)| reader.read(c, k).expect("historical read"))
                    .collect();
                let secs = started.elapsed().as_secs_f64() / n as f64;
                // Every reader must return the same bytes.
                match &expected {
                    Some(e) => assert!(
                        e[..n] == got[..],
                        "{name} read different values than another reader"
                    ),
                    None if n == reads => expected = Some(got),
                    None => {}
                }
                table.row_mut(&label).push(&name, secs);
            }
        }
        store.close().expect("close");
        eprintln!("  history {layout:?}: measured");
    }
    table.about = format!(
        "Time to read one key's value at one commit, both chosen at random, from a store built \
with `AutoCommit::Manual`: 10,000 keys (~130 B each) committed once, then {commits} commits of \
{per_commit} changed keys, after the store's background maintenance (repack every 32 packs) has \
finished. Every reader reads the same `cold.git` and must return the same bytes (checked): \
Thermocline `get_at(key, full_commit_id)`; libgit2 `find_commit` → `tree` → `get_path` → \
`find_blob`, one `Repository` opened per round; `git cat-file --batch` one process per round fed \
`<commit>:<path>` lines; `git show <commit>:<path>` one process per read ({show_reads} reads, the \
others {reads}). One untimed read first (opening, spawning). Loose-object repositories are not \
measured here: the store writes packs."
    );
    table
}
