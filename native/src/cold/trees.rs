//! Tree lookups straight from the packs, for historical reads of wide directories.
//!
//! Reading one entry of a tree through gix rebuilds the whole tree: for a directory of 10,000
//! keys that is ~350 KB inflated from the chain's root and copied once per delta of the chain
//! (up to 10 after a repack), then copied out and scanned: ~300 µs, where the entry is one of
//! 10,000 (70 % of it inflating the root). Here the chain is walked by hand: the root (a whole
//! tree) is inflated once and kept with an index of its entries (`roots`), the deltas (a few
//! hundred bytes each) are applied as piece lists (`TreeView`, kept per version in `views`, so
//! a version whose base was read costs one delta), and the entry is found by skipping runs of
//! the root's entries and binary-searching the one that holds the name; a version read twice
//! gets an index of its entries (`EntryIndex`), and further reads are a binary search.
//!
//! Staleness: cached roots and views are keyed by the pack's checksum (its trailer; a pack's
//! name and bytes never change) and the entry's offset, and tree ids map to such keys, so no
//! key ever names other bytes: a repack writes new packs (new keys), a new commit new trees
//! (new ids). Objects are found by id in the packs listed here; an id missing from them (a
//! commit made since, a repack's new pack) lists the pack directory again. Packs a repack
//! deleted stay readable while held (their bytes are still correct) and are let go at that
//! next listing, or at [`TreeReader::forget_packs`] (after the store's own repack). Objects
//! outside packs (loose objects a person's `git` wrote) are left to the caller, which reads
//! them through gix.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use gix::odb::pack;
use thermocline_core::cold::objects::{Oid, hex};
use thermocline_core::cold::tree_view::{EntryIndex, RootTree, TreeView};

use crate::error::Error;

/// Bytes of inflated root trees kept, shared by all readers: about 60 versions of a
/// 10,000-entry directory (~400 KB each with its index), or every root of a typical history of
/// narrower trees. A miss costs one inflation of the root (~200 µs for 350 KB).
pub(crate) const ROOT_CACHE_BYTES: usize = 24 << 20;
/// Bytes of tree views (versions as pieces of their root, see `TreeView`, with their entry
/// index once read twice) kept, shared by all readers: ~15 KB of view and ~8 KB of index per
/// version of a 10,000-entry directory 10 deltas deep, so about 500 versions. A version whose
/// view is kept costs no inflation and no delta; a version whose base's view is kept costs one
/// delta.
pub(crate) const VIEW_CACHE_BYTES: usize = 12 << 20;
/// Deltas on top of a root that a chain may have: git's own maximum (`pack-objects --depth`
/// caps it at 4095). Deeper, or a chain that loops through `REF_DELTA`s, is damage.
const DELTA_DEPTH_MAX: usize = 4095;
/// Tree ids remembered with their pack entry (~60 bytes each, so ~2 MiB).
const VERSION_IDS_MAX: usize = 32 << 10;
/// Bytes one inflated tree or delta may declare. Pack headers are untrusted: this bounds what a
/// damaged one can make us allocate.
const OBJECT_BYTES_MAX: u64 = 256 << 20;
/// [`OBJECT_BYTES_MAX`] as a `usize`: also the most a version rebuilt from deltas may declare
/// (a delta of a few bytes per copy can declare any size).
const OBJECT_BYTES_MAX_USIZE: usize = 256 << 20;

/// One pack: its index and its data (both mapped by gix).
struct PackFiles {
    checksum: Oid,
    index: pack::index::File,
    data: pack::data::File,
}

/// Where an object's entry is.
type Location = (Arc<PackFiles>, u64);
/// A pack entry, by its pack's checksum and its offset: the same key always names the same
/// bytes.
type EntryKey = (Oid, u64);

/// The outcome of a lookup in a tree.
pub(crate) enum Found {
    /// The entry's id, or `None` when the tree has no such entry.
    Entry(Option<Oid>),
    /// The tree is not in a pack (or not a tree): read it another way.
    NotHere,
}

/// A cached version: its view, the root it is a view of, and, once the version has been read
/// twice, the index of its entries (a whole walk, paid once, then a binary search per read; a
/// version read once, as `history` reads each, pays only a walk up to the name).
struct CachedView {
    root: EntryKey,
    view: TreeView,
    index: OnceLock<EntryIndex>,
    reads: AtomicU32,
}

impl CachedView {
    fn new(root: EntryKey, view: TreeView) -> CachedView {
        CachedView {
            root,
            view,
            index: OnceLock::new(),
            reads: AtomicU32::new(0),
        }
    }

    fn footprint(&self) -> usize {
        self.view.footprint() + self.index.get().map_or(0, EntryIndex::footprint)
    }
}

pub(crate) struct TreeReader {
    pack_dir: PathBuf,
    packs: RwLock<Arc<Vec<Arc<PackFiles>>>>,
    roots: Mutex<Lru<RootTree>>,
    views: Mutex<Lru<CachedView>>,
    /// The pack entry of trees read lately, by id: a tree read again goes straight to its
    /// cached view, without looking its id up in every pack's index. At most
    /// `VERSION_IDS_MAX` ids (emptied when full).
    entry_of: Mutex<HashMap<Oid, EntryKey>>,
    /// Lookups answered from a view (the rest went to gix), for the store's stats.
    served: AtomicU64,
}

impl std::fmt::Debug for TreeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeReader")
            .field("pack_dir", &self.pack_dir)
            .finish_non_exhaustive()
    }
}

fn damaged(tree: &Oid, detail: impl std::fmt::Display) -> Error {
    Error::Git {
        op: "read tree",
        detail: format!("{}: {detail}", hex(tree)),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TreeReader {
    pub(crate) fn new(git_dir: &Path) -> TreeReader {
        TreeReader {
            pack_dir: git_dir.join("objects/pack"),
            packs: RwLock::new(Arc::new(Vec::new())),
            roots: Mutex::new(Lru::new(ROOT_CACHE_BYTES, RootTree::footprint)),
            views: Mutex::new(Lru::new(VIEW_CACHE_BYTES, CachedView::footprint)),
            entry_of: Mutex::new(HashMap::new()),
            served: AtomicU64::new(0),
        }
    }

    /// Lookups this reader answered since the store opened.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Lets go of every pack and cached tree (a repack just replaced the packs: their entries'
    /// keys will not be asked for again); the next lookup lists the packs again.
    pub(crate) fn forget_packs(&self) {
        *self.packs.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Vec::new());
        lock(&self.roots).clear();
        lock(&self.views).clear();
        lock(&self.entry_of).clear();
    }

    fn snapshot(&self) -> Arc<Vec<Arc<PackFiles>>> {
        Arc::clone(&self.packs.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Lists the pack directory again: packs still there are kept open, new ones opened, gone
    /// ones let go. A pack that vanishes between listing and opening (a repack deleting it) is
    /// skipped.
    fn refresh(&self) -> Arc<Vec<Arc<PackFiles>>> {
        let mut guard = self.packs.write().unwrap_or_else(|e| e.into_inner());
        let old = Arc::clone(&guard);
        let mut packs: Vec<Arc<PackFiles>> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.pack_dir) {
            for entry in entries.flatten() {
                let idx_path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with("pack-") || !name.ends_with(".idx") {
                    continue;
                }
                let data_path = idx_path.with_extension("pack");
                if let Some(open) = old.iter().find(|p| p.data.path() == data_path) {
                    packs.push(Arc::clone(open));
                    continue;
                }
                let kind = gix::hash::Kind::Sha1;
                let (Ok(index), Ok(data)) = (
                    pack::index::File::at(&idx_path, kind),
                    pack::data::File::at(&data_path, kind),
                ) else {
                    continue;
                };
                let Ok(checksum) = Oid::try_from(data.checksum().as_slice()) else {
                    continue;
                };
                packs.push(Arc::new(PackFiles {
                    checksum,
                    index,
                    data,
                }));
            }
        }
        // The biggest pack (the repack's) holds most objects: look there first.
        packs.sort_by_key(|p| std::cmp::Reverse(p.index.num_objects()));
        *guard = Arc::new(packs);
        Arc::clone(&guard)
    }

    fn locate_in(packs: &[Arc<PackFiles>], oid: &Oid) -> Option<Location> {
        let id = gix::hash::oid::try_from_bytes(oid).ok()?;
        packs.iter().find_map(|p| {
            let i = p.index.lookup(id)?;
            Some((Arc::clone(p), p.index.pack_offset_at_index(i)))
        })
    }

    /// The pack entry of `oid`, listing the packs again if it is in none of those known.
    fn locate(&self, oid: &Oid) -> Option<Location> {
        Self::locate_in(&self.snapshot(), oid).or_else(|| Self::locate_in(&self.refresh(), oid))
    }

    /// The pack with checksum `checksum`, if still there.
    fn pack(&self, checksum: &Oid) -> Option<Arc<PackFiles>> {
        let find =
            |packs: &[Arc<PackFiles>]| packs.iter().find(|p| p.checksum == *checksum).cloned();
        find(&self.snapshot()).or_else(|| find(&self.refresh()))
    }

    /// The root tree whose entry is `key`: cached, or inflated and indexed. `None` when its
    /// pack is gone.
    fn root(&self, tree: &Oid, key: EntryKey) -> Result<Option<Arc<RootTree>>, Error> {
        let cached = lock(&self.roots).get(&key);
        if let Some(root) = cached {
            return Ok(Some(root));
        }
        let Some(pack) = self.pack(&key.0) else {
            return Ok(None);
        };
        let entry = pack
            .data
            .entry(key.1)
            .map_err(|e| damaged(tree, format!("pack entry: {e}")))?;
        if !matches!(entry.header, pack::data::entry::Header::Tree) {
            return Err(damaged(tree, "the root of its delta chain is not a tree"));
        }
        let bytes = inflate(&pack, &entry, &mut gix::zlib::Inflate::default())
            .map_err(|e| damaged(tree, e))?;
        let root = Arc::new(RootTree::new(bytes).map_err(|e| damaged(tree, e))?);
        lock(&self.roots).insert(key, Arc::clone(&root));
        Ok(Some(root))
    }

    /// The id of entry `name` of `tree` (a subtree if `want_tree`), as
    /// [`thermocline_core::cold::parse::find_entry`] finds it in the tree's bytes.
    pub(crate) fn find_entry(
        &self,
        tree: &Oid,
        name: &[u8],
        want_tree: bool,
    ) -> Result<Found, Error> {
        let find = |key: EntryKey, cached: &CachedView, root: &RootTree| {
            let view = &cached.view;
            let found = if let Some(index) = cached.index.get() {
                view.find_indexed(root, index, name, want_tree)
            } else if cached.reads.fetch_add(1, Ordering::Relaxed) == 0 {
                view.find_entry(root, name, want_tree)
            } else {
                let index = view.index(root).map_err(|e| damaged(tree, e))?;
                let found = view.find_indexed(root, &index, name, want_tree);
                // Another reader may have set it first: the same index.
                let _ = cached.index.set(index);
                lock(&self.views).resize(&key);
                found
            };
            self.served.fetch_add(1, Ordering::Relaxed);
            found.map(Found::Entry).map_err(|e| damaged(tree, e))
        };
        // A tree read lately: its view and root are likely still cached.
        // (Each lock is taken and let go in its own statement: `find` may lock the views.)
        let known = lock(&self.entry_of).get(tree).copied();
        if let Some(key) = known {
            let cached = lock(&self.views).get(&key);
            if let Some(cached) = cached {
                let root = lock(&self.roots).get(&cached.root);
                if let Some(root) = root {
                    return find(key, &cached, &root);
                }
            }
        }
        let Some((mut pack, mut offset)) = self.locate(tree) else {
            return Ok(Found::NotHere);
        };
        // Walk the chain from the version down to a version whose view is cached, or to the
        // root, keeping the deltas' entries.
        let mut deltas: Vec<(Arc<PackFiles>, pack::data::Entry)> = Vec::new();
        let version_key = (pack.checksum, offset);
        let (root_key, base) = loop {
            let key = (pack.checksum, offset);
            let cached = lock(&self.views).get(&key);
            if let Some(cached) = cached {
                break (cached.root, Some(cached));
            }
            let entry = pack
                .data
                .entry(offset)
                .map_err(|e| damaged(tree, format!("pack entry: {e}")))?;
            let next = match entry.header {
                pack::data::entry::Header::Tree => break (key, None),
                pack::data::entry::Header::OfsDelta { base_distance } => {
                    let base = entry
                        .checked_base_pack_offset(base_distance)
                        .ok_or_else(|| damaged(tree, "delta base before the pack's start"))?;
                    (Arc::clone(&pack), base)
                }
                pack::data::entry::Header::RefDelta { base_id } => {
                    let base: Oid = base_id
                        .as_slice()
                        .try_into()
                        .map_err(|_| damaged(tree, "delta base is not a SHA-1 id"))?;
                    match self.locate(&base) {
                        Some(location) => location,
                        // A base outside the packs: let gix resolve it.
                        None => return Ok(Found::NotHere),
                    }
                }
                // Not a tree: the caller's read names the kind it found.
                _ => return Ok(Found::NotHere),
            };
            if deltas.len() == DELTA_DEPTH_MAX {
                return Err(damaged(tree, "delta chain too deep (or looping)"));
            }
            deltas.push((pack, entry));
            (pack, offset) = next;
        };
        let Some(root) = self.root(tree, root_key)? else {
            return Ok(Found::NotHere);
        };
        let mut view = match base {
            Some(view) => view,
            None => {
                let view = Arc::new(CachedView::new(root_key, TreeView::new(&root)));
                lock(&self.views).insert(root_key, Arc::clone(&view));
                view
            }
        };
        // Up the chain again, each version's view made from its base's, and kept.
        let mut inflater = None;
        for (pack, entry) in deltas.iter().rev() {
            let inflater = inflater.get_or_insert_with(gix::zlib::Inflate::default);
            let delta = inflate(pack, entry, inflater).map_err(|e| damaged(tree, e))?;
            let next = view
                .view
                .with_delta(&root, &delta, OBJECT_BYTES_MAX_USIZE)
                .map_err(|e| damaged(tree, e))?;
            view = Arc::new(CachedView::new(root_key, next));
            lock(&self.views).insert((pack.checksum, entry.pack_offset()), Arc::clone(&view));
        }
        let mut entry_of = lock(&self.entry_of);
        if entry_of.len() >= VERSION_IDS_MAX {
            entry_of.clear();
        }
        entry_of.insert(*tree, version_key);
        drop(entry_of);
        find(version_key, &view, &root)
    }
}

/// An entry's data inflated to exactly its declared size (a delta's instructions, or a whole
/// object's bytes).
fn inflate(
    pack: &PackFiles,
    entry: &pack::data::Entry,
    inflater: &mut gix::zlib::Inflate,
) -> Result<Vec<u8>, String> {
    if entry.decompressed_size > OBJECT_BYTES_MAX {
        return Err(format!(
            "pack entry of {} bytes, above the limit of {OBJECT_BYTES_MAX}",
            entry.decompressed_size
        ));
    }
    let mut out = vec![0u8; entry.decompressed_size as usize];
    pack.data
        .decompress_entry(entry, inflater, &mut out)
        .map_err(|e| format!("pack entry: {e}"))?;
    Ok(out)
}

/// Values by pack entry, the least recently used evicted past a bound in bytes (each value's
/// size as `size` says).
struct Lru<V> {
    max_bytes: usize,
    bytes: usize,
    size: fn(&V) -> usize,
    tick: u64,
    map: HashMap<EntryKey, (Arc<V>, u64, usize)>,
    by_use: BTreeMap<u64, EntryKey>,
}

impl<V> Lru<V> {
    fn new(max_bytes: usize, size: fn(&V) -> usize) -> Lru<V> {
        Lru {
            max_bytes,
            bytes: 0,
            size,
            tick: 0,
            map: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    fn get(&mut self, key: &EntryKey) -> Option<Arc<V>> {
        self.tick += 1;
        let (value, used, _) = self.map.get_mut(key)?;
        self.by_use.remove(used);
        *used = self.tick;
        self.by_use.insert(self.tick, *key);
        Some(Arc::clone(value))
    }

    fn insert(&mut self, key: EntryKey, value: Arc<V>) {
        // The map's and the order's bookkeeping per value, roughly.
        let size = (self.size)(&value) + 128;
        if size > self.max_bytes || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + size > self.max_bytes {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((_, _, evicted)) = self.map.remove(&oldest) {
                self.bytes -= evicted;
            }
        }
        self.tick += 1;
        self.bytes += size;
        self.by_use.insert(self.tick, key);
        self.map.insert(key, (value, self.tick, size));
    }

    /// Measures the value of `key` again (it grew), evicting others to stay in bounds.
    fn resize(&mut self, key: &EntryKey) {
        let Some((value, _, size)) = self.map.get_mut(key) else {
            return;
        };
        let new = (self.size)(value) + 128;
        self.bytes = self.bytes - *size + new;
        *size = new;
        while self.bytes > self.max_bytes {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((_, _, evicted)) = self.map.remove(&oldest) {
                self.bytes -= evicted;
            }
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.by_use.clear();
        self.bytes = 0;
    }
}
