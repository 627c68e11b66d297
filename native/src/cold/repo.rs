//! The repository: open (or create), read the tip, commit durably, history.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use thermocline_core::cold::{key_to_path, path_to_key};
use thermocline_core::{Key, Value};

use crate::error::Error;
use crate::fsutil::fsync_dir;
use thermocline_core::cold::bundle;
use thermocline_core::cold::commit::build_commit;
use thermocline_core::cold::objects::{self, Kind, Oid, Signature, TreeEntry, hex, parse_hex};
use thermocline_core::cold::parse::{self, CommitInfo, MalformedObject};
use thermocline_core::cold::rev::{LogEntry, Version};

pub(crate) const BRANCH_REF: &str = "refs/heads/main";

/// Author and committer of the store's commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Author {
    pub name: String,
    pub email: String,
}

/// The tip of `main`.
#[derive(Clone, Debug)]
pub(crate) struct Tip {
    pub commit: Oid,
    pub info: CommitInfo,
    /// The store as of this sequence number (0 for a commit made by someone else).
    pub through_seq: u64,
}

/// Steps of a durable commit, named for crash tests (`THERMOCLINE_FAILPOINT=cold-commit:N`
/// aborts the process after step N; see `native/tests/cold.rs`).
/// zlib level of pack entries: git's `core.compression` default.
const ZLIB_LEVEL: u32 = 6;

/// A pack of `objects`, compressed with zlib-rs (the core writes the format).
fn write_pack(objects: &[objects::Object]) -> objects::Pack {
    objects::write_pack_with(objects, |data, out| {
        let mut z = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(data.len() / 2 + 16),
            flate2::Compression::new(ZLIB_LEVEL),
        );
        // Writing to memory cannot fail; should it, the stream is stored instead.
        match z.write_all(data).and_then(|()| z.finish()) {
            Ok(compressed) => out.extend_from_slice(&compressed),
            Err(_) => objects::zlib_stored(data, out),
        }
    })
}

const COMMIT_STEPS: [&str; 7] = [
    "objects built",
    "pack, index and ref lock written and synced",
    "pack renamed",
    "index renamed",
    "pack directory synced",
    "ref renamed",
    "refs directory synced",
];

fn failpoint(step: usize) {
    static AT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("THERMOCLINE_FAILPOINT")
            .ok()?
            .strip_prefix("cold-commit:")?
            .parse()
            .ok()
    });
    if *at == Some(step) {
        eprintln!(
            "failpoint: aborting after cold commit step {step} ({})",
            COMMIT_STEPS[step]
        );
        std::process::abort();
    }
}

fn git_err(op: &'static str) -> impl Fn(MalformedObject) -> Error {
    move |e| Error::Git { op, detail: e.0 }
}

/// Each commit adds one pack. Past this many packs, a background `git repack -a -d` merges
/// them into one delta-compressed pack: many small packs slow every object lookup, and without
/// deltas every commit would keep a full copy of each tree on its changed paths.
const REPACK_AT_PACKS: usize = 32;
/// Pack indices gix can hold at once. Far above `REPACK_AT_PACKS`, so commits go on while a
/// repack runs, or for a long while when `git` is not installed.
const PACK_SLOTS: u16 = 4096;
/// Per reading thread: enough for the trees along a few hot paths of a wide repository.
const OBJECT_CACHE_BYTES: usize = 16 << 20;

/// Bound on the tip's trees kept for the next commit ([`CommitBase`]), counted as encoded tree
/// bytes: a 10,000-entry directory is ~350 KB.
const COMMIT_BASE_TREE_BYTES_MAX: usize = 16 << 20;

/// The commit this store wrote last, and the trees of it that commits have written or read,
/// so that the next commit builds on them without asking gix. A new pack per commit makes
/// every gix lookup rescan the pack directory and map the new pack first: most of a small
/// commit's CPU time. Trees are content-addressed, so a cached tree is never stale; the tip is
/// used only while `refs/heads/main` still names it.
#[derive(Debug, Default)]
struct CommitBase {
    tip: Option<(Oid, Oid)>,
    trees: std::collections::HashMap<Oid, Vec<TreeEntry>>,
    tree_bytes: usize,
}

impl CommitBase {
    /// A tree for the commit being built, taken out: the commit replaces it with a new
    /// version, which [`CommitBase::advance`] puts in its place.
    fn take(&mut self, oid: &Oid) -> Option<Vec<TreeEntry>> {
        let entries = self.trees.remove(oid)?;
        self.tree_bytes = self.tree_bytes.saturating_sub(Self::bytes(&entries));
        Some(entries)
    }

    /// After commit `commit` (root `tree`) was made durable with `objects`.
    fn advance(&mut self, commit: Oid, tree: Oid, objects: &[objects::Object]) {
        for object in objects.iter().filter(|o| o.kind == Kind::Tree) {
            let Ok(entries) = parse::tree_entries(&object.data) else {
                continue;
            };
            self.tree_bytes += Self::bytes(&entries);
            self.trees.insert(object.oid, entries);
        }
        if self.tree_bytes > COMMIT_BASE_TREE_BYTES_MAX {
            self.trees.clear();
            self.tree_bytes = 0;
        }
        self.tip = Some((commit, tree));
    }

    /// A tree's encoded size, near enough: name, mode and id per entry.
    fn bytes(entries: &[TreeEntry]) -> usize {
        entries.iter().map(|e| e.name.len() + 28).sum()
    }
}

#[derive(Debug)]
pub(crate) struct ColdRepo {
    path: PathBuf,
    repo: gix::ThreadSafeRepository,
    author: Author,
    maintenance: Maintenance,
    handles: std::sync::Mutex<Vec<gix::Repository>>,
    /// Entry lookups in packed trees without rebuilding them (historical reads of wide
    /// directories); see `trees.rs`.
    trees: super::trees::TreeReader,
    base: std::sync::Mutex<CommitBase>,
}

/// Handles kept for reuse: about one per concurrent reader.
const POOLED_HANDLES_MAX: usize = 8;

/// A pooled handle, returned to the pool when dropped.
struct Local<'a> {
    pool: &'a std::sync::Mutex<Vec<gix::Repository>>,
    repo: Option<gix::Repository>,
}

impl std::ops::Deref for Local<'_> {
    type Target = gix::Repository;
    fn deref(&self) -> &gix::Repository {
        self.repo.as_ref().expect("present until dropped")
    }
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(repo) = self.repo.take()
            && pool.len() < POOLED_HANDLES_MAX
        {
            pool.push(repo);
        }
    }
}

/// Background repacking: at most one at a time, its outcome kept for `stats`.
#[derive(Debug, Default)]
struct Maintenance {
    running: std::sync::atomic::AtomicBool,
    repacks: std::sync::atomic::AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl ColdRepo {
    /// Opens `path`, creating the repository if it does not exist, and removes what a killed
    /// process may have left: a stale ref lock, temporary packs, a pack without its index.
    pub(crate) fn open(path: &Path, author: Author) -> Result<ColdRepo, Error> {
        if !path.join("HEAD").exists() {
            init(path)?;
        }
        clean_stale(path)?;
        Self::open_read_only(path, author)
    }

    /// Opens an existing repository and changes nothing (for `check`).
    pub(crate) fn open_read_only(path: &Path, author: Author) -> Result<ColdRepo, Error> {
        // `isolated()` ignores the user's git config (the store must not depend on it) but also
        // limits the object database to 32 pack indices; a pack per commit needs more between
        // two background repacks.
        let options = gix::open::Options::isolated()
            .object_store_slots(gix::odb::store::init::Slots::Given(PACK_SLOTS));
        let repo = gix::open_opts(path, options)
            .map_err(|e| Error::Git {
                op: "open",
                detail: e.to_string(),
            })?
            .into_sync();
        Ok(ColdRepo {
            path: path.to_path_buf(),
            repo,
            author,
            maintenance: Maintenance::default(),
            handles: std::sync::Mutex::new(Vec::new()),
            trees: super::trees::TreeReader::new(path),
            base: std::sync::Mutex::new(CommitBase::default()),
        })
    }

    fn pack_count(&self) -> usize {
        fs::read_dir(self.path.join("objects/pack")).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".idx"))
                .count()
        })
    }

    /// Starts a background repack when packs have piled up (and none is running). Maintenance
    /// is the one place `git` itself runs: never on the commit or read path; without `git`
    /// installed the store works on, only bigger.
    pub(crate) fn maybe_repack(self: &std::sync::Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.pack_count() < REPACK_AT_PACKS
            || self.maintenance.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let repo = std::sync::Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("thermocline-repack".into())
            .spawn(move || {
                let out = std::process::Command::new("git")
                    .arg("-C")
                    .arg(&repo.path)
                    .args([
                        "repack",
                        "-a",
                        "-d",
                        "-q",
                        "--depth=10",
                        "--no-write-bitmap-index",
                    ])
                    .output();
                let error = match out {
                    Ok(o) if o.status.success() => None,
                    Ok(o) => Some(format!(
                        "git repack failed: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    )),
                    Err(e) => Some(format!("cannot run git repack: {e}")),
                };
                if error.is_none() {
                    repo.maintenance.repacks.fetch_add(1, Ordering::Relaxed);
                    // The packs merged into the new one are deleted: let go of them.
                    repo.trees.forget_packs();
                }
                *repo
                    .maintenance
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = error;
                repo.maintenance.running.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.maintenance.running.store(false, Ordering::Release);
        }
    }

    /// Packs on disk, repacks done by this process, and the last repack error.
    /// Tree lookups answered from packed tree views rather than through gix.
    pub(crate) fn tree_view_lookups(&self) -> u64 {
        self.trees.served()
    }

    pub(crate) fn maintenance_stats(&self) -> (u64, u64, Option<String>) {
        use std::sync::atomic::Ordering;
        let error = self
            .maintenance
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (
            self.pack_count() as u64,
            self.maintenance.repacks.load(Ordering::Relaxed),
            error,
        )
    }

    /// Waits for a running repack (tests and benchmarks measure the settled size).
    pub(crate) fn wait_for_maintenance(&self) {
        while self
            .maintenance
            .running
            .load(std::sync::atomic::Ordering::Acquire)
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// A repository handle from the pool (or a new one): handles keep their object caches
    /// between calls, so a tree decoded for one read serves the next.
    fn local(&self) -> Local<'_> {
        let pooled = self.handles.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let repo = pooled.unwrap_or_else(|| {
            let mut repo = self.repo.to_thread_local();
            repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
            repo
        });
        Local {
            pool: &self.handles,
            repo: Some(repo),
        }
    }

    fn read(repo: &gix::Repository, oid: &Oid) -> Result<(Kind, Vec<u8>), Error> {
        let id = gix::ObjectId::from_bytes_or_panic(oid);
        let obj = repo
            .find_object(id)
            .map_err(|e| Error::Git {
                op: "read object",
                detail: format!("{}: {e}", hex(oid)),
            })?
            .detach();
        let kind = match obj.kind {
            gix::object::Kind::Commit => Kind::Commit,
            gix::object::Kind::Tree => Kind::Tree,
            gix::object::Kind::Blob => Kind::Blob,
            gix::object::Kind::Tag => {
                return Err(Error::Git {
                    op: "read object",
                    detail: format!("{} is a tag", hex(oid)),
                });
            }
        };
        Ok((kind, obj.data))
    }

    fn read_commit(repo: &gix::Repository, oid: &Oid) -> Result<CommitInfo, Error> {
        match Self::read(repo, oid)? {
            (Kind::Commit, data) => parse::commit(&data).map_err(git_err("parse commit")),
            _ => Err(Error::Git {
                op: "read commit",
                detail: format!("{} is not a commit", hex(oid)),
            }),
        }
    }

    fn read_tree(repo: &gix::Repository, oid: &Oid) -> Result<Vec<TreeEntry>, Error> {
        match Self::read(repo, oid)? {
            (Kind::Tree, data) => parse::tree_entries(&data).map_err(git_err("parse tree")),
            _ => Err(Error::Git {
                op: "read tree",
                detail: format!("{} is not a tree", hex(oid)),
            }),
        }
    }

    fn tip_in(repo: &gix::Repository) -> Result<Option<Tip>, Error> {
        let reference = repo
            .try_find_reference(BRANCH_REF)
            .map_err(|e| Error::Git {
                op: "read ref",
                detail: e.to_string(),
            })?;
        let Some(id) = reference.and_then(|r| r.try_id().map(|id| id.detach())) else {
            return Ok(None);
        };
        let commit: Oid = id.as_slice().try_into().map_err(|_| Error::Git {
            op: "read ref",
            detail: "not a SHA-1 id".into(),
        })?;
        let info = Self::read_commit(repo, &commit)?;
        let through_seq = parse::through_seq(&info.message).unwrap_or(0);
        Ok(Some(Tip {
            commit,
            info,
            through_seq,
        }))
    }

    pub(crate) fn tip(&self) -> Result<Option<Tip>, Error> {
        Self::tip_in(&self.local())
    }

    /// The blob at `path` under `tree`, if any. Packed trees are searched where they lie
    /// (`trees.rs`); others (loose objects) are read whole through gix.
    fn lookup(&self, repo: &gix::Repository, tree: &Oid, path: &str) -> Result<Option<Oid>, Error> {
        let mut current = *tree;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            match self.trees.find_entry(&current, part.as_bytes(), !last)? {
                super::trees::Found::Entry(Some(oid)) => {
                    current = oid;
                    continue;
                }
                super::trees::Found::Entry(None) => return Ok(None),
                super::trees::Found::NotHere => {}
            }
            let data = match Self::read(repo, &current)? {
                (Kind::Tree, data) => data,
                _ => {
                    return Err(Error::Git {
                        op: "read tree",
                        detail: format!("{} is not a tree", hex(&current)),
                    });
                }
            };
            match parse::find_entry(&data, part.as_bytes(), !last).map_err(git_err("parse tree"))? {
                Some(oid) => current = oid,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    fn blob(repo: &gix::Repository, oid: &Oid) -> Result<Vec<u8>, Error> {
        match Self::read(repo, oid)? {
            (Kind::Blob, data) => Ok(data),
            _ => Err(Error::Git {
                op: "read blob",
                detail: format!("{} is not a blob", hex(oid)),
            }),
        }
    }

    /// `key`'s value at the tip of `main`.
    pub(crate) fn read_tip(&self, key: &Key) -> Result<Option<Value>, Error> {
        let repo = self.local();
        let Some(tip) = Self::tip_in(&repo)? else {
            return Ok(None);
        };
        match self.lookup(&repo, &tip.info.tree, &key_to_path(key))? {
            Some(oid) => Ok(Some(Value::from(Self::blob(&repo, &oid)?))),
            None => Ok(None),
        }
    }

    /// Every key at the tip with its value size. Paths the mapping does not produce (files a
    /// person committed by hand) are skipped and counted.
    pub(crate) fn keys_at_tip(&self) -> Result<(Vec<(Key, u64)>, u64), Error> {
        let repo = self.local();
        let Some(tip) = Self::tip_in(&repo)? else {
            return Ok((Vec::new(), 0));
        };
        let mut out = Vec::new();
        let mut foreign = 0;
        let mut stack = vec![(String::new(), tip.info.tree)];
        while let Some((prefix, tree)) = stack.pop() {
            for e in Self::read_tree(&repo, &tree)? {
                let name = String::from_utf8_lossy(&e.name);
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                if e.is_tree {
                    stack.push((path, e.oid));
                    continue;
                }
                match path_to_key(&path) {
                    Ok(key) => {
                        let id = gix::ObjectId::from_bytes_or_panic(&e.oid);
                        let header = repo.find_header(id).map_err(|err| Error::Git {
                            op: "read object header",
                            detail: format!("{path}: {err}"),
                        })?;
                        out.push((key, header.size()));
                    }
                    Err(_) => foreign += 1,
                }
            }
        }
        Ok((out, foreign))
    }

    /// Writes one commit on `main` applying `changes` (a value, or `None` to delete), durably:
    /// one pack with its index, then the ref through a lock file. Returns the commit id.
    pub(crate) fn commit(
        &self,
        changes: &[(Key, Option<Vec<u8>>)],
        through_seq: u64,
        time_ms: u64,
    ) -> Result<Oid, Error> {
        let repo = self.local();
        let mut base = self.base.lock().unwrap_or_else(|e| e.into_inner());
        // The ref as a file, read directly: it names the commit this store wrote last unless
        // something else moved it (then gix resolves it, packed refs included).
        let ref_file = fs::read(self.path.join(BRANCH_REF)).ok();
        let named = ref_file
            .as_deref()
            .and_then(|line| parse_hex(line.strip_suffix(b"\n").unwrap_or(line)));
        let parent = match base.tip {
            Some((commit, tree)) if named == Some(commit) => Some((commit, tree)),
            _ => {
                *base = CommitBase::default();
                Self::tip_in(&repo)?.map(|t| (t.commit, t.info.tree))
            }
        };
        let sig = Signature {
            name: self.author.name.clone(),
            email: self.author.email.clone(),
            time_secs: (time_ms / 1000) as i64,
        };
        let built = build_commit(
            changes,
            parent,
            &sig,
            through_seq,
            &mut |oid| match base.take(oid) {
                Some(entries) => Ok(entries),
                None => Self::read_tree(&repo, oid),
            },
        )?;
        failpoint(0);
        self.publish(&write_pack(&built.objects), &built.commit)?;
        base.advance(built.commit, built.tree, &built.objects);
        Ok(built.commit)
    }

    /// Makes the pack durable and moves `main` to `commit`, in three sequential sync latencies
    /// rather than six: the pack, its index and the ref's lock file are written and synced at
    /// the same time (three threads; the device works on them together), then the renames, with
    /// one fsync of the pack directory before the ref's rename and one of the refs directory
    /// after it. Ordering argument: the ref's rename happens only after the pack directory's
    /// fsync made the pack and index names durable, so no crash leaves a ref naming a missing
    /// object; a crash before it leaves temporary files and a lock, removed at the next open.
    fn publish(&self, pack: &objects::Pack, commit: &Oid) -> Result<(), Error> {
        let dir = self.path.join("objects/pack");
        let name = format!("pack-{}", hex(&pack.checksum));
        let tmp_pack = dir.join(format!("tmp-{name}.pack"));
        let tmp_idx = dir.join(format!("tmp-{name}.idx"));
        let ref_path = self.path.join(BRANCH_REF);
        let refs_dir = ref_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.path.clone());
        let lock = ref_path.with_extension("lock");
        let ref_line = format!("{}\n", hex(commit));
        let io = |op: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |e| Error::io(op, p, e)
        };
        let (pack_done, idx_done, lock_done) = std::thread::scope(|s| {
            let pack_thread = s.spawn(|| write_synced(&tmp_pack, &pack.pack, false));
            let idx_thread = s.spawn(|| write_synced(&tmp_idx, &pack.index, false));
            // The lock is created exclusively, as git does: a second writer would fail here.
            let lock_done = write_synced(&lock, ref_line.as_bytes(), true);
            let join = |h: std::thread::ScopedJoinHandle<'_, std::io::Result<()>>| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a writer thread panicked")))
            };
            (join(pack_thread), join(idx_thread), lock_done)
        });
        pack_done.map_err(io("write", &tmp_pack))?;
        idx_done.map_err(io("write", &tmp_idx))?;
        lock_done.map_err(io("write", &lock))?;
        failpoint(1);
        // The pack goes first: git and gix only look at packs that have an index.
        let final_pack = dir.join(format!("{name}.pack"));
        fs::rename(&tmp_pack, &final_pack).map_err(io("rename", &tmp_pack))?;
        failpoint(2);
        let final_idx = dir.join(format!("{name}.idx"));
        fs::rename(&tmp_idx, &final_idx).map_err(io("rename", &tmp_idx))?;
        failpoint(3);
        fsync_dir(&dir).map_err(io("fsync", &dir))?;
        failpoint(4);
        fs::rename(&lock, &ref_path).map_err(io("rename", &lock))?;
        failpoint(5);
        fsync_dir(&refs_dir).map_err(io("fsync", &refs_dir))?;
        failpoint(6);
        Ok(())
    }

    /// The commits on `main` that changed `key`, newest first.
    pub(crate) fn history(&self, key: &Key) -> Result<Vec<Version>, Error> {
        let repo = self.local();
        let path = key_to_path(key);
        let mut out = Vec::new();
        let Some(tip) = Self::tip_in(&repo)? else {
            return Ok(out);
        };
        // Walking first parents, a commit's "before" is the next commit's "here": one lookup
        // per commit.
        let mut here = self.lookup(&repo, &tip.info.tree, &path)?;
        let mut current = Some((tip.commit, tip.info));
        while let Some((id, info)) = current {
            let parent = match info.parents.first() {
                Some(p) => Some((*p, Self::read_commit(&repo, p)?)),
                None => None,
            };
            let before = match &parent {
                Some((_, p)) => self.lookup(&repo, &p.tree, &path)?,
                None => None,
            };
            if here != before {
                let size = match here {
                    Some(oid) => {
                        let header = repo
                            .find_header(gix::ObjectId::from_bytes_or_panic(&oid))
                            .map_err(|e| Error::Git {
                                op: "read object header",
                                detail: e.to_string(),
                            })?;
                        Some(header.size())
                    }
                    None => None,
                };
                out.push(Version {
                    commit: hex(&id),
                    time_secs: info.time_secs,
                    size,
                });
            }
            here = before;
            current = parent;
        }
        Ok(out)
    }

    /// `key`'s value at revision `rev` (a full or abbreviated commit id, `HEAD~N`, `main`, ...).
    pub(crate) fn get_at(&self, key: &Key, rev: &str) -> Result<Option<Value>, Error> {
        let repo = self.local();
        // A full commit id needs no rev-parse (which lists the pack directory on every call):
        // the id is the object to read.
        let oid: Oid = match parse_hex(rev.as_bytes()) {
            Some(oid) => oid,
            None => {
                let id = repo
                    .rev_parse_single(rev)
                    .map_err(|e| Error::Revision {
                        rev: rev.to_owned(),
                        detail: e.to_string(),
                    })?
                    .detach();
                id.as_slice().try_into().map_err(|_| Error::Revision {
                    rev: rev.to_owned(),
                    detail: "not a SHA-1 id".into(),
                })?
            }
        };
        if repo
            .find_header(gix::ObjectId::from_bytes_or_panic(&oid))
            .is_err()
        {
            return Err(Error::Revision {
                rev: rev.to_owned(),
                detail: "no such commit".into(),
            });
        }
        let info = Self::read_commit(&repo, &oid)?;
        match self.lookup(&repo, &info.tree, &key_to_path(key))? {
            Some(blob) => Ok(Some(Value::from(Self::blob(&repo, &blob)?))),
            None => Ok(None),
        }
    }

    /// The newest `n` commits of `main`.
    pub(crate) fn log(&self, n: usize) -> Result<Vec<LogEntry>, Error> {
        let repo = self.local();
        let mut out = Vec::new();
        let mut next = Self::tip_in(&repo)?.map(|t| (t.commit, t.info));
        while let Some((id, info)) = next {
            if out.len() == n {
                break;
            }
            out.push(LogEntry {
                commit: hex(&id),
                time_secs: info.time_secs,
                summary: info.message.lines().next().unwrap_or("").to_owned(),
            });
            next = match info.parents.first() {
                Some(p) => Some((*p, Self::read_commit(&repo, p)?)),
                None => None,
            };
        }
        Ok(out)
    }

    /// Bytes the repository takes on disk.
    pub(crate) fn size_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            fs::read_dir(p).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => walk(&e.path()),
                        _ => e.metadata().map_or(0, |m| m.len()),
                    })
                    .sum()
            })
        }
        walk(&self.path)
    }

    /// Checks every object reachable from `main`: it exists, has the right type, decodes, and
    /// its content hashes to its id. Returns the number of objects checked.
    pub(crate) fn verify(&self) -> Result<u64, Error> {
        let repo = self.local();
        let Some(tip) = Self::tip_in(&repo)? else {
            return Ok(0);
        };
        Self::walk_reachable(&repo, tip.commit, "verify", |_, _, _| {})
    }

    /// The whole history of `main` as a git bundle naming `HEAD` and `refs/heads/main` (`git
    /// clone FILE` reads it and checks out `main`): every object reachable from the tip, checked
    /// as [`Self::verify`] checks them, in one undeltified pack. An error when `main` has no
    /// commit yet.
    pub(crate) fn export_bundle(&self) -> Result<Vec<u8>, Error> {
        let repo = self.local();
        let Some(tip) = Self::tip_in(&repo)? else {
            return Err(Error::Revision {
                rev: BRANCH_REF.to_owned(),
                detail: "the cold tier has no commit to export yet".into(),
            });
        };
        let mut all = Vec::new();
        Self::walk_reachable(&repo, tip.commit, "export", |oid, kind, data| {
            all.push(objects::Object { oid, kind, data });
        })?;
        let pack = write_pack(&all);
        // HEAD too, as `git bundle create FILE HEAD main` writes it: without it, `git clone`
        // cannot tell which branch to check out ("remote HEAD refers to nonexistent ref").
        Ok(bundle::write_bundle(
            &[("HEAD", tip.commit), (BRANCH_REF, tip.commit)],
            &pack.pack,
        ))
    }

    /// Walks every object reachable from commit `tip`, checking that it exists, has the type
    /// its referrer says, decodes, and hashes to its id, and hands each to `visit` once.
    /// Returns the number of objects walked.
    fn walk_reachable(
        repo: &gix::Repository,
        tip: Oid,
        op: &'static str,
        mut visit: impl FnMut(Oid, Kind, Vec<u8>),
    ) -> Result<u64, Error> {
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<(Oid, Kind)> = vec![(tip, Kind::Commit)];
        while let Some((oid, want)) = todo.pop() {
            if !seen.insert(oid) {
                continue;
            }
            let (kind, data) = Self::read(repo, &oid)?;
            let bad = |detail: String| Error::Git {
                op,
                detail: format!("object {}: {detail}", hex(&oid)),
            };
            if kind != want {
                return Err(bad(format!("expected a {want:?}, found a {kind:?}")));
            }
            if objects::object_id(kind, &data) != oid {
                return Err(bad("content does not hash to its id".into()));
            }
            match kind {
                Kind::Commit => {
                    let info = parse::commit(&data).map_err(|e| bad(e.0))?;
                    todo.push((info.tree, Kind::Tree));
                    todo.extend(info.parents.into_iter().map(|p| (p, Kind::Commit)));
                }
                Kind::Tree => {
                    for e in parse::tree_entries(&data).map_err(|e| bad(e.0))? {
                        todo.push((e.oid, if e.is_tree { Kind::Tree } else { Kind::Blob }));
                    }
                }
                Kind::Blob | Kind::Tag => {}
            }
            visit(oid, kind, data);
        }
        Ok(seen.len() as u64)
    }
}

/// Writes a new file and syncs it; `exclusive` fails if it exists (a lock file).
fn write_synced(path: &Path, bytes: &[u8], exclusive: bool) -> std::io::Result<()> {
    let mut f = if exclusive {
        OpenOptions::new().write(true).create_new(true).open(path)?
    } else {
        File::create(path)?
    };
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates the bare repository under a temporary name and renames it into place, so a crash
/// never leaves half a repository.
fn init(path: &Path) -> Result<(), Error> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("git.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
    }
    let io = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |e| Error::io(op, p, e)
    };
    for dir in ["objects/pack", "objects/info", "refs/heads", "refs/tags"] {
        fs::create_dir_all(tmp.join(dir)).map_err(io("create", &tmp.join(dir)))?;
    }
    // core.fsync makes `git` itself (maintenance, a person's commands) as careful as we are.
    let files: [(&str, &str); 3] = [
        ("HEAD", "ref: refs/heads/main\n"),
        (
            "config",
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n\tfsync = objects,reference\n\tfsyncMethod = fsync\n[gc]\n\tauto = 0\n",
        ),
        (
            "description",
            "Thermocline cold tier: one commit per cold flush; see docs/cold-format.md\n",
        ),
    ];
    for (name, text) in files {
        write_synced(&tmp.join(name), text.as_bytes(), false)
            .map_err(io("write", &tmp.join(name)))?;
    }
    for dir in [
        "objects/pack",
        "objects/info",
        "objects",
        "refs/heads",
        "refs/tags",
        "refs",
        "",
    ] {
        fsync_dir(&tmp.join(dir)).map_err(io("fsync", &tmp.join(dir)))?;
    }
    fs::rename(&tmp, path).map_err(io("rename", &tmp))?;
    fsync_dir(parent).map_err(io("fsync", parent))
}

fn clean_stale(path: &Path) -> Result<(), Error> {
    let lock = path.join(BRANCH_REF).with_extension("lock");
    if lock.exists() {
        fs::remove_file(&lock).map_err(|e| Error::io("remove stale", &lock, e))?;
    }
    let pack_dir = path.join("objects/pack");
    let entries = fs::read_dir(&pack_dir).map_err(|e| Error::io("list", &pack_dir, e))?;
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let orphan_pack = name.ends_with(".pack") && !p.with_extension("idx").exists();
        if name.starts_with("tmp-") || orphan_pack {
            fs::remove_file(&p).map_err(|e| Error::io("remove stale", &p, e))?;
        }
    }
    // A process killed between a commit's last renames and their directory fsyncs leaves a
    // ref that only the page cache holds. Open trusts the tip (its `through_seq` decides
    // which WAL records need no replay, and those segments are then deleted), so the names
    // are made durable first: the packs' before the ref's, as a commit orders them.
    let refs_dir = path.join(BRANCH_REF);
    let refs_dir = refs_dir.parent().unwrap_or(path);
    for dir in [pack_dir.as_path(), refs_dir] {
        fsync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    }
    Ok(())
}
