//! The git cold tier in IndexedDB: objects in the `git` store, the `main` ref in `meta`.
//!
//! The objects are git's own (the core builds them, with their SHA-1 ids), stored one record
//! each: `kind u8 | data`, keyed by the id in hex. A commit is one read-write transaction with
//! `durability: "strict"` holding its new objects, the ref, and the removal of the tombstones
//! it records: IndexedDB commits a transaction whole, so a crash leaves the old tip or the new
//! one, never a ref naming a missing object.
//!
//! Reads go through a [`Reader`]: each round of lookups is one read-only transaction, and the
//! objects read are kept for the rest of the operation (a history walk reads each tree once).
//! Every record read is untrusted: its kind is checked and its content hashed against its id.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use js_sys::Uint8Array;
use thermocline_core::Key;
use thermocline_core::cold::bundle::{self, BundleView};
use thermocline_core::cold::objects::{self, Kind, Object, Oid, TreeEntry, hex, parse_hex};
use thermocline_core::cold::pack_read::{self, PackLimits};
use thermocline_core::cold::parse::{self, CommitInfo};
use thermocline_core::cold::rev::{LogEntry, RevBase, Version, parse_rev};
use thermocline_core::cold::{key_to_path, path_to_key};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbKeyRange};

use crate::error::Error;
use crate::idb::{self, IdbError};

/// The `meta` key holding the id (hex) of the tip of `main`.
pub(crate) const REF_KEY: &str = "refs/heads/main";
/// Objects fetched per read transaction at most: bounds what one round holds in flight.
const FETCH_MAX: usize = 4096;
/// Matches for an abbreviated id read at most: two are enough to call it ambiguous.
const PREFIX_MATCHES_MAX: u32 = 2;

/// The tip of `main`.
#[derive(Clone, Debug)]
pub(crate) struct Tip {
    pub commit: Oid,
    pub info: CommitInfo,
    /// The store as of this sequence number (0 for a commit made elsewhere).
    pub through_seq: u64,
}

/// What `importGit` loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportReport {
    pub commits: u64,
    pub objects: u64,
    pub keys: u64,
}

fn storage(op: &'static str) -> impl Fn(IdbError) -> Error {
    move |e| crate::store::storage_error(op, &e)
}

fn corrupt(oid: &Oid, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        what: format!("git object {}", hex(oid)),
        detail: detail.into(),
    }
}

/// An object record as stored.
fn encode(o: &Object) -> Uint8Array {
    let out = Uint8Array::new_with_length(u32::try_from(o.data.len() + 1).unwrap_or(u32::MAX));
    out.set_index(0, o.kind as u8);
    out.subarray(1, out.length()).copy_from(&o.data);
    out
}

/// Checks a stored record against its id.
fn decode(oid: &Oid, v: &JsValue) -> Result<(Kind, Vec<u8>), Error> {
    let bytes: &Uint8Array = v
        .dyn_ref()
        .ok_or_else(|| corrupt(oid, "not a byte array"))?;
    let bytes = bytes.to_vec();
    let (&kind, data) = bytes
        .split_first()
        .ok_or_else(|| corrupt(oid, "empty record"))?;
    let kind = Kind::from_pack_type(kind)
        .ok_or_else(|| corrupt(oid, format!("unknown object kind {kind}")))?;
    if objects::object_id(kind, data) != *oid {
        return Err(corrupt(oid, "content does not hash to its id"));
    }
    Ok((kind, data.to_vec()))
}

/// The id the ref names, if any.
pub(crate) async fn read_ref(db: &IdbDatabase) -> Result<Option<Oid>, Error> {
    let read = storage("read the git ref");
    let tx = idb::read(db, &[idb::META]).map_err(&read)?;
    let meta = idb::store(&tx, idb::META).map_err(&read)?;
    let request = idb::issue(&tx, || meta.get(&REF_KEY.into())).map_err(&read)?;
    idb::committed(&tx).await.map_err(&read)?;
    let value = request.result().map_err(|e| read(IdbError::from_js(&e)))?;
    parse_ref(&value)
}

pub(crate) fn parse_ref(value: &JsValue) -> Result<Option<Oid>, Error> {
    if value.is_undefined() {
        return Ok(None);
    }
    value
        .as_string()
        .and_then(|s| parse_hex(s.as_bytes()))
        .map(Some)
        .ok_or_else(|| Error::Corrupt {
            what: "the git ref refs/heads/main".into(),
            detail: format!("{value:?} is not a commit id"),
        })
}

/// Reads objects for one operation, keeping what it read.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    db: &'a IdbDatabase,
    cache: HashMap<Oid, Rc<(Kind, Vec<u8>)>>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(db: &'a IdbDatabase) -> Reader<'a> {
        Reader {
            db,
            cache: HashMap::new(),
        }
    }

    /// Reads every object of `oids` not read yet, in as few transactions as the bound allows.
    pub(crate) async fn fetch(&mut self, oids: &[Oid]) -> Result<(), Error> {
        let mut missing: Vec<Oid> = oids
            .iter()
            .filter(|o| !self.cache.contains_key(*o))
            .copied()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let read = storage("read git objects");
        for chunk in missing.chunks(FETCH_MAX) {
            let tx = idb::read(self.db, &[idb::GIT]).map_err(&read)?;
            let store = idb::store(&tx, idb::GIT).map_err(&read)?;
            let requests = idb::issue(&tx, || {
                chunk
                    .iter()
                    .map(|o| store.get(&hex(o).into()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&read)?;
            idb::committed(&tx).await.map_err(&read)?;
            for (oid, request) in chunk.iter().zip(requests) {
                let value = request.result().map_err(|e| read(IdbError::from_js(&e)))?;
                if value.is_undefined() {
                    return Err(corrupt(oid, "missing from the git store"));
                }
                let object = decode(oid, &value)?;
                self.cache.insert(*oid, Rc::new(object));
            }
        }
        Ok(())
    }

    pub(crate) async fn object(&mut self, oid: &Oid) -> Result<Rc<(Kind, Vec<u8>)>, Error> {
        if let Some(o) = self.cache.get(oid) {
            return Ok(Rc::clone(o));
        }
        self.fetch(&[*oid]).await?;
        self.cache
            .get(oid)
            .cloned()
            .ok_or_else(|| corrupt(oid, "missing from the git store"))
    }

    async fn of_kind(&mut self, oid: &Oid, want: Kind) -> Result<Rc<(Kind, Vec<u8>)>, Error> {
        let o = self.object(oid).await?;
        if o.0 != want {
            return Err(corrupt(
                oid,
                format!("expected a {}, found a {}", want.name(), o.0.name()),
            ));
        }
        Ok(o)
    }

    pub(crate) async fn commit(&mut self, oid: &Oid) -> Result<CommitInfo, Error> {
        let o = self.of_kind(oid, Kind::Commit).await?;
        parse::commit(&o.1).map_err(|e| corrupt(oid, e.0))
    }

    /// Entries of tree `oid`, from what was fetched already: for the core's commit builder,
    /// which cannot wait.
    pub(crate) fn cached_tree(&self, oid: &Oid) -> Result<Vec<TreeEntry>, Error> {
        let o = self
            .cache
            .get(oid)
            .ok_or_else(|| corrupt(oid, "tree not fetched before the commit"))?;
        if o.0 != Kind::Tree {
            return Err(corrupt(oid, "not a tree"));
        }
        parse::tree_entries(&o.1).map_err(|e| corrupt(oid, e.0))
    }

    pub(crate) async fn tip(&mut self) -> Result<Option<Tip>, Error> {
        let Some(commit) = read_ref(self.db).await? else {
            return Ok(None);
        };
        let info = self.commit(&commit).await?;
        let through_seq = parse::through_seq(&info.message).unwrap_or(0);
        Ok(Some(Tip {
            commit,
            info,
            through_seq,
        }))
    }

    /// The blob at `path` under `tree`, if any.
    pub(crate) async fn lookup(&mut self, tree: &Oid, path: &str) -> Result<Option<Oid>, Error> {
        let mut current = *tree;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            let data = self.of_kind(&current, Kind::Tree).await?;
            match parse::find_entry(&data.1, part.as_bytes(), !last)
                .map_err(|e| corrupt(&current, e.0))?
            {
                Some(oid) => current = oid,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    pub(crate) async fn blob(&mut self, oid: &Oid) -> Result<Vec<u8>, Error> {
        Ok(self.of_kind(oid, Kind::Blob).await?.1.clone())
    }

    /// Fetches the trees along `dirs` under `root`, a level of the tree per transaction.
    pub(crate) async fn fetch_dirs(&mut self, root: Oid, dirs: &[String]) -> Result<(), Error> {
        // A few directories per commit: a list is enough.
        let mut found: Vec<(&str, Oid)> = vec![("", root)];
        self.fetch(&[root]).await?;
        let depth_max = dirs.iter().map(|d| d.matches('/').count() + 1).max();
        for depth in 1..=depth_max.unwrap_or(0) {
            let mut level = Vec::new();
            for dir in dirs.iter().filter(|d| !d.is_empty()) {
                if dir.matches('/').count() + 1 != depth {
                    continue;
                }
                let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
                let Some(&(_, parent_oid)) = found.iter().find(|(d, _)| *d == parent) else {
                    continue;
                };
                let entries = self.cached_tree(&parent_oid)?;
                if let Some(e) = entries
                    .iter()
                    .find(|e| e.is_tree && e.name == name.as_bytes())
                {
                    found.push((dir, e.oid));
                    level.push(e.oid);
                }
            }
            self.fetch(&level).await?;
        }
        Ok(())
    }

    /// Every key at `tree` with its blob id. Paths the mapping does not produce (files a person
    /// committed elsewhere) are skipped and counted.
    pub(crate) async fn keys_at(&mut self, tree: Oid) -> Result<(Vec<(Key, Oid)>, u64), Error> {
        let mut out = Vec::new();
        let mut foreign = 0;
        let mut level = vec![(String::new(), tree)];
        while !level.is_empty() {
            let oids: Vec<Oid> = level.iter().map(|(_, o)| *o).collect();
            self.fetch(&oids).await?;
            let mut next = Vec::new();
            for (prefix, oid) in level {
                for e in self.cached_tree(&oid)? {
                    let name = String::from_utf8_lossy(&e.name);
                    let path = if prefix.is_empty() {
                        name.into_owned()
                    } else {
                        format!("{prefix}/{name}")
                    };
                    if e.is_tree {
                        next.push((path, e.oid));
                    } else {
                        match path_to_key(&path) {
                            Ok(key) => out.push((key, e.oid)),
                            Err(_) => foreign += 1,
                        }
                    }
                }
            }
            level = next;
        }
        Ok((out, foreign))
    }

    /// Drops what was read (a long walk keeps only what it still needs).
    fn forget(&mut self) {
        self.cache.clear();
    }
}

/// `key`'s value at the tip of `main`.
pub(crate) async fn read_tip(db: &IdbDatabase, key: &str) -> Result<Option<Vec<u8>>, Error> {
    let mut r = Reader::new(db);
    let Some(tip) = r.tip().await? else {
        return Ok(None);
    };
    match r
        .lookup(&tip.info.tree, &key_to_path(&Key::new(key)?))
        .await?
    {
        Some(blob) => Ok(Some(r.blob(&blob).await?)),
        None => Ok(None),
    }
}

/// The commits on `main` that changed `key`, newest first.
pub(crate) async fn history(db: &IdbDatabase, key: &Key) -> Result<Vec<Version>, Error> {
    let mut r = Reader::new(db);
    let path = key_to_path(key);
    let mut out = Vec::new();
    let Some(tip) = r.tip().await? else {
        return Ok(out);
    };
    // Walking first parents, a commit's "before" is the next commit's "here".
    let mut here = r.lookup(&tip.info.tree, &path).await?;
    let mut current = Some((tip.commit, tip.info));
    while let Some((id, info)) = current {
        let parent = match info.parents.first() {
            Some(p) => Some((*p, r.commit(p).await?)),
            None => None,
        };
        let before = match &parent {
            Some((_, p)) => r.lookup(&p.tree, &path).await?,
            None => None,
        };
        if here != before {
            let size = match here {
                Some(oid) => Some(r.object(&oid).await?.1.len() as u64),
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
        // Only the parent's trees are needed from here on.
        if r.cache.len() > 10_000 {
            r.forget();
        }
    }
    Ok(out)
}

/// The newest `n` commits of `main`.
pub(crate) async fn log(db: &IdbDatabase, n: usize) -> Result<Vec<LogEntry>, Error> {
    let mut r = Reader::new(db);
    let mut out = Vec::new();
    let mut next = r.tip().await?.map(|t| (t.commit, t.info));
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
            Some(p) => Some((*p, r.commit(p).await?)),
            None => None,
        };
    }
    Ok(out)
}

/// `key`'s value at revision `rev`.
pub(crate) async fn get_at(
    db: &IdbDatabase,
    key: &Key,
    rev: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let parsed = parse_rev(rev).map_err(|e| Error::Revision {
        rev: rev.to_owned(),
        detail: e.to_string(),
    })?;
    let unknown = |detail: &str| Error::Revision {
        rev: rev.to_owned(),
        detail: detail.to_owned(),
    };
    let mut r = Reader::new(db);
    let mut commit = match parsed.base {
        RevBase::Tip => read_ref(db)
            .await?
            .ok_or_else(|| unknown("nothing is committed yet"))?,
        RevBase::Id(oid) => oid,
        RevBase::Prefix(prefix) => resolve_prefix(db, &prefix)
            .await?
            .map_err(|detail| unknown(&detail))?,
    };
    if !has_object(db, &commit).await? {
        return Err(unknown("no such commit"));
    }
    let kind = r.object(&commit).await?.0;
    if kind != Kind::Commit {
        return Err(unknown(&format!(
            "{} is a {}, not a commit",
            hex(&commit),
            kind.name()
        )));
    }
    let mut info = r.commit(&commit).await?;
    for _ in 0..parsed.back {
        commit = *info
            .parents
            .first()
            .ok_or_else(|| unknown("the history is shorter than that"))?;
        info = r.commit(&commit).await?;
    }
    match r.lookup(&info.tree, &key_to_path(key)).await? {
        Some(blob) => Ok(Some(r.blob(&blob).await?)),
        None => Ok(None),
    }
}

async fn has_object(db: &IdbDatabase, oid: &Oid) -> Result<bool, Error> {
    let read = storage("read git objects");
    let tx = idb::read(db, &[idb::GIT]).map_err(&read)?;
    let store = idb::store(&tx, idb::GIT).map_err(&read)?;
    let request = idb::issue(&tx, || store.count_with_key(&hex(oid).into())).map_err(&read)?;
    idb::committed(&tx).await.map_err(&read)?;
    let n = request.result().map_err(|e| read(IdbError::from_js(&e)))?;
    Ok(n.as_f64().is_some_and(|n| n > 0.0))
}

/// The one commit whose id starts with `prefix`, or why there is none.
async fn resolve_prefix(db: &IdbDatabase, prefix: &str) -> Result<Result<Oid, String>, Error> {
    let read = storage("read git objects");
    // Ids are lower-case hex: every id with the prefix sorts between it and it followed by `g`.
    let range = IdbKeyRange::bound(&prefix.into(), &format!("{prefix}g").into())
        .map_err(|e| read(IdbError::from_js(&e)))?;
    let tx = idb::read(db, &[idb::GIT]).map_err(&read)?;
    let store = idb::store(&tx, idb::GIT).map_err(&read)?;
    let request = idb::issue(&tx, || {
        store.get_all_keys_with_key_and_limit(&range, PREFIX_MATCHES_MAX * 64)
    })
    .map_err(&read)?;
    idb::committed(&tx).await.map_err(&read)?;
    let keys: js_sys::Array = request
        .result()
        .map_err(|e| read(IdbError::from_js(&e)))?
        .dyn_into()
        .map_err(|_| Error::Corrupt {
            what: "the git store".into(),
            detail: "keys are not a list".into(),
        })?;
    let ids: Vec<Oid> = keys
        .iter()
        .filter_map(|k| k.as_string().and_then(|s| parse_hex(s.as_bytes())))
        .collect();
    // Only commits count: a blob or tree sharing the prefix does not make it ambiguous.
    let mut r = Reader::new(db);
    r.fetch(&ids).await?;
    let commits: Vec<Oid> = ids
        .into_iter()
        .filter(|o| r.cache.get(o).is_some_and(|x| x.0 == Kind::Commit))
        .collect();
    Ok(match commits.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("no commit id starts with {prefix}")),
        _ => Err(format!("{prefix} is ambiguous: use more digits")),
    })
}

/// Every object reachable from the tip, read a level at a time.
async fn reachable(db: &IdbDatabase, tip: Oid) -> Result<Vec<Object>, Error> {
    let mut r = Reader::new(db);
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut out = Vec::new();
    let mut level = vec![tip];
    seen.insert(tip);
    while !level.is_empty() {
        r.fetch(&level).await?;
        let mut next = Vec::new();
        for oid in level {
            let o = r.object(&oid).await?;
            match o.0 {
                Kind::Commit => {
                    let info = parse::commit(&o.1).map_err(|e| corrupt(&oid, e.0))?;
                    next.push(info.tree);
                    next.extend(info.parents);
                }
                Kind::Tree => {
                    let entries = parse::tree_entries(&o.1).map_err(|e| corrupt(&oid, e.0))?;
                    next.extend(entries.into_iter().map(|e| e.oid));
                }
                Kind::Blob | Kind::Tag => {}
            }
            out.push(Object {
                oid,
                kind: o.0,
                data: o.1.clone(),
            });
        }
        next.retain(|o| seen.insert(*o));
        level = next;
        r.forget();
    }
    Ok(out)
}

/// The whole history as a git bundle (version 2) with `refs/heads/main`.
pub(crate) async fn export(db: &IdbDatabase) -> Result<Vec<u8>, Error> {
    let tip = read_ref(db).await?.ok_or_else(|| Error::Revision {
        rev: REF_KEY.into(),
        detail: "nothing is committed yet: sync(\"commit\") first".into(),
    })?;
    let objects = reachable(db, tip).await?;
    let pack = objects::write_pack(&objects);
    // `HEAD` too, so that `git clone` checks `main` out.
    Ok(bundle::write_bundle(
        &[("HEAD", tip), (REF_KEY, tip)],
        &pack.pack,
    ))
}

/// A bundle's objects, checked: the chosen ref's commit and everything it reaches is there.
pub(crate) struct Imported {
    pub tip: Oid,
    pub objects: Vec<Object>,
    pub report: ImportReport,
}

/// Parses and checks a bundle (made by `exportGit`, the native store or `git bundle create`).
pub(crate) fn parse_import(bytes: &[u8]) -> Result<Imported, Error> {
    let bad = |detail: String| Error::Import { detail };
    let BundleView { refs, pack } =
        bundle::parse_bundle(bytes).map_err(|e| bad(format!("not a usable git bundle: {e}")))?;
    let tip = ["refs/heads/main", "HEAD", "refs/heads/master"]
        .iter()
        .find_map(|want| refs.iter().find(|(name, _)| name == want))
        .or(match refs.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .map(|(_, oid)| *oid)
        .ok_or_else(|| {
            bad(format!(
                "the bundle has no refs/heads/main and {} other refs; which to load is unclear",
                refs.len()
            ))
        })?;
    let objects = pack_read::read_pack(pack, &PackLimits::default())
        .map_err(|e| bad(format!("its pack does not read: {e}")))?;
    let mut objects = objects;
    objects.sort_unstable_by_key(|o| o.oid);
    let find = |oid: &Oid| {
        objects
            .binary_search_by_key(oid, |o| o.oid)
            .ok()
            .and_then(|i| objects.get(i))
    };
    let mut report = ImportReport {
        commits: 0,
        objects: 0,
        keys: 0,
    };
    let mut seen = HashSet::new();
    let mut todo = vec![(tip, Kind::Commit)];
    while let Some((oid, want)) = todo.pop() {
        if !seen.insert(oid) {
            continue;
        }
        let o =
            find(&oid).ok_or_else(|| bad(format!("object {} is missing from it", hex(&oid))))?;
        if o.kind != want {
            return Err(bad(format!(
                "object {} is a {} where a {} was expected",
                hex(&oid),
                o.kind.name(),
                want.name()
            )));
        }
        let malformed = |e: parse::MalformedObject| bad(format!("object {}: {e}", hex(&oid)));
        match o.kind {
            Kind::Commit => {
                report.commits += 1;
                let info = parse::commit(&o.data).map_err(malformed)?;
                todo.push((info.tree, Kind::Tree));
                todo.extend(info.parents.into_iter().map(|p| (p, Kind::Commit)));
            }
            Kind::Tree => {
                for e in parse::tree_entries(&o.data).map_err(malformed)? {
                    todo.push((e.oid, if e.is_tree { Kind::Tree } else { Kind::Blob }));
                }
            }
            Kind::Blob | Kind::Tag => {}
        }
    }
    // Only what the history reaches is kept.
    let objects: Vec<Object> = objects
        .into_iter()
        .filter(|o| seen.contains(&o.oid))
        .collect();
    report.objects = objects.len() as u64;
    Ok(Imported {
        tip,
        objects,
        report,
    })
}

/// Stores imported objects and points the ref at their tip, in one strict transaction.
pub(crate) async fn store_import(db: &IdbDatabase, imported: &Imported) -> Result<(), Error> {
    let write = storage("store the imported history");
    let tx = idb::write(
        db,
        &[idb::GIT, idb::GIT_SIZES, idb::META],
        idb::Durability::Strict,
    )
    .map_err(&write)?;
    issue_objects(&tx, &imported.objects, &imported.tip).map_err(&write)?;
    idb::committed(&tx).await.map_err(&write)
}

/// Issues a commit's writes in `tx` (over `git`, `git_sizes`, `meta` and `warm`): its objects,
/// the ref, and the removal of the tombstones it records.
pub(crate) fn issue_commit(
    tx: &web_sys::IdbTransaction,
    objects: &[Object],
    commit: &Oid,
    tombstones: &[Key],
) -> Result<(), IdbError> {
    issue_objects(tx, objects, commit)?;
    let warm = idb::store(tx, idb::WARM)?;
    idb::issue(tx, || {
        for key in tombstones {
            warm.delete(&key.as_str().into())?;
        }
        Ok(())
    })
}

/// Puts `objects` (and each blob's size) and moves the ref to `tip`, in `tx`.
fn issue_objects(
    tx: &web_sys::IdbTransaction,
    objects: &[Object],
    tip: &Oid,
) -> Result<(), IdbError> {
    let git = idb::store(tx, idb::GIT)?;
    let sizes = idb::store(tx, idb::GIT_SIZES)?;
    let meta = idb::store(tx, idb::META)?;
    idb::issue(tx, || {
        for o in objects {
            let id = JsValue::from(hex(&o.oid));
            git.put_with_key(&encode(o), &id)?;
            if o.kind == Kind::Blob {
                sizes.put_with_key(&(o.data.len() as f64).into(), &id)?;
            }
        }
        meta.put_with_key(&hex(tip).into(), &REF_KEY.into())?;
        Ok(())
    })
}

/// The sizes of `blobs` as recorded when they were stored, in one read transaction; `None`
/// where none was recorded.
pub(crate) async fn blob_sizes(db: &IdbDatabase, blobs: &[Oid]) -> Result<Vec<Option<u64>>, Error> {
    let read = storage("read blob sizes");
    let tx = idb::read(db, &[idb::GIT_SIZES]).map_err(&read)?;
    let store = idb::store(&tx, idb::GIT_SIZES).map_err(&read)?;
    let requests = idb::issue(&tx, || {
        blobs
            .iter()
            .map(|o| store.get(&hex(o).into()))
            .collect::<Result<Vec<_>, _>>()
    })
    .map_err(&read)?;
    idb::committed(&tx).await.map_err(&read)?;
    requests
        .iter()
        .map(|r| {
            let v = r.result().map_err(|e| read(IdbError::from_js(&e)))?;
            Ok(crate::convert::safe_integer(&v))
        })
        .collect()
}
