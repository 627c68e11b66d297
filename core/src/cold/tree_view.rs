//! Looking one entry up in a tree stored as a delta chain, without rebuilding the tree.
//!
//! After `git repack`, a wide directory's tree (10,000 entries, ~350 KB) is stored as one whole
//! tree (the chain's root) and up to `--depth` deltas, each a few hundred bytes of "copy this
//! range of the previous version, insert these bytes". Rebuilding a version means inflating the
//! root and copying ~350 KB once per delta; a historical read needs one entry of it. So a
//! [`TreeView`] keeps a version as *pieces*: ranges of the (inflated, cached) root and inserted
//! bytes. Applying a delta to a view gives the next version's view, in work proportional to the
//! pieces and instructions, not to the tree's size; and [`TreeView::find_entry`] walks the
//! pieces, skipping whole runs of the root's entries by comparing the run's last name and
//! binary-searching the run that holds the name, parsing only the entries that straddle an
//! edit.
//!
//! Bytes are untrusted: every delta instruction is bounds-checked, nothing panics, damage is a
//! [`MalformedObject`]. Lookups rely on git's sort order of tree entries, as git's own lookups
//! do; the order is checked over the part of the tree a lookup walks, and a tree found out of
//! order there is searched entry by entry instead (the answer is then exactly
//! [`super::parse::find_entry`]'s). Disorder after the name looked for is not seen by a first
//! lookup, which stops where git's would; a later lookup that indexes the whole version sees it
//! and scans. So on a tree git itself would call broken (out of order past the name), the first
//! and later answers may differ; on every tree git writes, they are the same.

use alloc::vec::Vec;
use core::cmp::Ordering;

use super::objects::Oid;
use super::pack_read::{DeltaFault, DeltaOp, delta_header_size, next_delta_op};
use super::parse::{MalformedObject, find_entry, next_entry};

fn malformed(what: &str) -> MalformedObject {
    MalformedObject(alloc::borrow::ToOwned::to_owned(what))
}

const MODE_TREE: &[u8] = b"40000";

/// A whole tree (the root of a delta chain) with the offset of each entry, so that a run of its
/// entries can be binary-searched by name.
#[derive(Debug)]
pub struct RootTree {
    data: Vec<u8>,
    /// Offset of each entry, ascending. Offsets fit `u32`: a tree above 4 GiB is refused.
    starts: Vec<u32>,
    /// Whether the entries are in git's order, strictly (no name twice).
    sorted: bool,
}

impl RootTree {
    /// Indexes a tree object's bytes; an error when they do not parse as a tree.
    pub fn new(data: Vec<u8>) -> Result<RootTree, MalformedObject> {
        if u32::try_from(data.len()).is_err() {
            return Err(malformed("tree above 4 GiB"));
        }
        let mut starts = Vec::new();
        let mut sorted = true;
        let mut previous: Option<(&[u8], bool)> = None;
        let mut rest = data.as_slice();
        while !rest.is_empty() {
            starts.push((data.len() - rest.len()) as u32);
            let (mode, name, _, next) = next_entry(rest)?;
            let is_tree = mode == MODE_TREE;
            if let Some((p, p_tree)) = previous
                && git_cmp(p, p_tree, name, is_tree) != Ordering::Less
            {
                sorted = false;
            }
            previous = Some((name, is_tree));
            rest = next;
        }
        Ok(RootTree {
            data,
            starts,
            sorted,
        })
    }

    /// The tree's bytes.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Memory held, in bytes (for a cache's bound).
    #[must_use]
    pub fn footprint(&self) -> usize {
        self.data.capacity() + self.starts.capacity() * 4 + core::mem::size_of::<RootTree>()
    }

    fn len(&self) -> usize {
        self.data.len()
    }

    fn start(&self, k: usize) -> Option<usize> {
        self.starts.get(k).map(|&s| s as usize)
    }

    fn end(&self, k: usize) -> usize {
        self.start(k + 1).unwrap_or(self.data.len())
    }

    /// Entry `k`: (name, is a tree, id), without scanning its name: an entry ends with the
    /// name's NUL and a 20-byte id, and `new` checked that every entry parses.
    fn entry(&self, k: usize) -> Result<(&[u8], bool, Oid), MalformedObject> {
        let bad = || malformed("tree index out of range");
        let start = self.start(k).ok_or_else(bad)?;
        let end = self.end(k);
        let bytes = self.data.get(start..end).ok_or_else(bad)?;
        let (head, oid) = bytes
            .split_at_checked(bytes.len().checked_sub(20).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let head = head.strip_suffix(&[0]).ok_or_else(bad)?;
        let space = head.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let (mode, name) = head.split_at(space);
        let oid: Oid = oid.try_into().map_err(|_| bad())?;
        Ok((name.get(1..).unwrap_or_default(), mode == MODE_TREE, oid))
    }
}

/// Git's order of tree entries: by name, a subtree's name read as if it ended in `/`.
fn git_cmp(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> Ordering {
    let n = a.len().min(b.len());
    let (a_head, a_tail) = a.split_at(n);
    let (b_head, b_tail) = b.split_at(n);
    a_head.cmp(b_head).then_with(|| {
        let slash: &[u8] = b"/";
        let a_rest = a_tail.iter().chain(if a_tree { slash } else { &[] });
        let b_rest = b_tail.iter().chain(if b_tree { slash } else { &[] });
        a_rest.cmp(b_rest)
    })
}

/// A run of a version's bytes: `len` bytes from offset `src` of the root (`from_root`) or of
/// the view's own inserted bytes. 16 bytes, so that a view of a few hundred pieces stays small
/// enough to cache many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    /// Offset in the version.
    start: usize,
    len: u32,
    from_root: bool,
    src: u32,
}

impl Piece {
    /// A piece; an error when its length or source offset pass 4 GiB (no tree of a store's
    /// does).
    fn new(
        start: usize,
        len: usize,
        from_root: bool,
        src: usize,
    ) -> Result<Piece, MalformedObject> {
        let too_big = |_| malformed("tree above 4 GiB");
        Ok(Piece {
            start,
            len: u32::try_from(len).map_err(too_big)?,
            from_root,
            src: u32::try_from(src).map_err(too_big)?,
        })
    }
    fn len(&self) -> usize {
        self.len as usize
    }
    fn src(&self) -> usize {
        self.src as usize
    }
    fn end(&self) -> usize {
        self.start + self.len()
    }
}

/// When the pieces get this small on average (bytes), a view is flattened into one run of
/// inserted bytes: a delta that fragments the tree into tiny copies is cheaper rebuilt than
/// walked, and flattening bounds the piece list by the tree's size.
const PIECE_BYTES_MIN: usize = 32;
/// Fewer pieces than this are never flattened.
const PIECES_FLATTEN_AT: usize = 4096;

/// One version of a tree whose chain starts at a [`RootTree`]: its bytes as pieces of the root
/// and of bytes the deltas inserted. A view does not hold its root (a cache may keep views
/// longer than roots): every method takes it, and must be given the same root each time.
#[derive(Clone, Debug, Default)]
pub struct TreeView {
    pieces: Vec<Piece>,
    /// The bytes of the pieces not from the root, and only those.
    inserted: Vec<u8>,
    len: usize,
}

impl TreeView {
    /// The root itself.
    #[must_use]
    pub fn new(root: &RootTree) -> TreeView {
        // `RootTree::new` refused trees above 4 GiB: the piece fits.
        let pieces = Piece::new(0, root.len(), true, 0)
            .ok()
            .filter(|p| p.len > 0)
            .into_iter()
            .collect();
        TreeView {
            pieces,
            inserted: Vec::new(),
            len: root.len(),
        }
    }

    /// The version's size in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Memory held, in bytes (for a cache's bound).
    #[must_use]
    pub fn footprint(&self) -> usize {
        self.pieces.capacity() * core::mem::size_of::<Piece>()
            + self.inserted.capacity()
            + core::mem::size_of::<TreeView>()
    }

    fn piece_bytes<'a>(&'a self, root: &'a RootTree, p: &Piece) -> &'a [u8] {
        let source = if p.from_root {
            root.data()
        } else {
            &self.inserted
        };
        source.get(p.src()..p.src() + p.len()).unwrap_or_default()
    }

    /// The version's bytes, rebuilt.
    #[must_use]
    pub fn to_vec(&self, root: &RootTree) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for p in &self.pieces {
            out.extend_from_slice(self.piece_bytes(root, p));
        }
        out
    }

    /// The view of the version that git delta `delta` (`gitformat-pack`, "Deltified
    /// representation") makes from this one.
    ///
    /// `max_len` bounds the version's declared size: the header is untrusted, and a copy
    /// instruction of a few bytes can repeat the whole base, so a small delta could declare
    /// (and produce, as pieces) a version of any size, which a lookup in an out-of-order
    /// version then rebuilds whole. The pieces are bounded as well: flattened as soon as they
    /// pass what a finished view keeps (`PIECES_FLATTEN_AT`), not only at the end.
    pub fn with_delta(
        &self,
        root: &RootTree,
        delta: &[u8],
        max_len: usize,
    ) -> Result<TreeView, MalformedObject> {
        let (base_size, rest) = delta_size(delta)?;
        if base_size != self.len as u64 {
            return Err(malformed("delta for a base of another size"));
        }
        let (result_size, mut ops) = delta_size(rest)?;
        let result_size = usize::try_from(result_size)
            .ok()
            .filter(|&n| n <= max_len)
            .ok_or_else(|| malformed("delta result above the size limit"))?;
        let pieces_max = PIECES_FLATTEN_AT.max(result_size / PIECE_BYTES_MIN);
        let mut next = TreeView {
            pieces: Vec::with_capacity(self.pieces.len() + 64),
            inserted: Vec::new(),
            len: result_size,
        };
        let mut produced = 0usize;
        while let Some(op) = next_delta_op(&mut ops) {
            let len = match op.map_err(delta_fault)? {
                DeltaOp::Copy { offset, size } => {
                    if offset.checked_add(size).is_none_or(|end| end > self.len) {
                        return Err(malformed("delta copies past the end of its base"));
                    }
                    if produced.saturating_add(size) > result_size {
                        return Err(malformed("delta result longer than declared"));
                    }
                    self.copy_into(root, &mut next, produced, offset, size)?;
                    size
                }
                DeltaOp::Insert(data) => {
                    if produced.saturating_add(data.len()) > result_size {
                        return Err(malformed("delta result longer than declared"));
                    }
                    next.push_inserted(produced, data)?;
                    data.len()
                }
            };
            produced += len;
            if next.pieces.len() > pieces_max {
                // Fragmented beyond what is kept: the bytes so far as one run (at most once per
                // `pieces_max` pieces, each of at least a byte: a bounded number of times).
                next.flatten(root)?;
            }
        }
        if produced != result_size {
            return Err(malformed("delta result shorter than declared"));
        }
        if next.pieces.len() > pieces_max {
            next.flatten(root)?;
        }
        Ok(next)
    }

    /// Replaces the pieces by one run of inserted bytes holding the same bytes.
    fn flatten(&mut self, root: &RootTree) -> Result<(), MalformedObject> {
        let flat = self.to_vec(root);
        self.pieces = alloc::vec![Piece::new(0, flat.len(), false, 0)?];
        self.inserted = flat;
        Ok(())
    }

    /// Appends a piece of inserted bytes `data` at offset `at` of this version.
    fn push_inserted(&mut self, at: usize, data: &[u8]) -> Result<(), MalformedObject> {
        let src = self.inserted.len();
        self.inserted.extend_from_slice(data);
        push_piece(&mut self.pieces, Piece::new(at, data.len(), false, src)?);
        Ok(())
    }

    /// Appends to `next` the pieces of this version's bytes `offset..offset + size` (checked by
    /// the caller to be in range), placed at `at` in `next`.
    fn copy_into(
        &self,
        root: &RootTree,
        next: &mut TreeView,
        mut at: usize,
        offset: usize,
        size: usize,
    ) -> Result<(), MalformedObject> {
        let end = offset + size;
        let first = self.pieces.partition_point(|p| p.end() <= offset);
        for p in self.pieces.get(first..).unwrap_or_default() {
            if p.start >= end {
                break;
            }
            let from = offset.max(p.start);
            let to = end.min(p.end());
            if p.from_root {
                push_piece(
                    &mut next.pieces,
                    Piece::new(at, to - from, true, p.src() + (from - p.start))?,
                );
            } else {
                let bytes = self
                    .piece_bytes(root, p)
                    .get(from - p.start..to - p.start)
                    .unwrap_or_default();
                next.push_inserted(at, bytes)?;
            }
            at += to - from;
        }
        if at != next.pieces.last().map_or(0, Piece::end) {
            return Err(malformed("delta copy not covered by its base"));
        }
        Ok(())
    }

    /// The id of entry `name` (a subtree if `want_tree`, else a file), as
    /// [`super::parse::find_entry`] finds it in the rebuilt tree. Walks the pieces up to the
    /// name: for a version looked up more than once, [`TreeView::index`] and
    /// [`TreeView::find_indexed`] cost one whole walk, then a binary search per lookup.
    pub fn find_entry(
        &self,
        root: &RootTree,
        name: &[u8],
        want_tree: bool,
    ) -> Result<Option<Oid>, MalformedObject> {
        let mut result = None;
        let in_order = self.walk(root, |step, scratch| {
            let ordering = match step {
                Step::Run { i, j } => {
                    let (last, last_tree, last_oid) = root.entry(j - 1)?;
                    match git_cmp(name, want_tree, last, last_tree) {
                        Ordering::Greater => return Ok(Flow::Continue),
                        Ordering::Equal => {
                            result = exact(name, want_tree, last, last_tree, last_oid);
                            return Ok(Flow::Stop);
                        }
                        // In this run if anywhere.
                        Ordering::Less => {
                            result = search_run(root, i, j - 1, name, want_tree)?;
                            return Ok(Flow::Stop);
                        }
                    }
                }
                Step::Own { is_tree, oid, .. } => {
                    let ordering = git_cmp(name, want_tree, scratch, is_tree);
                    if ordering == Ordering::Equal {
                        result = exact(name, want_tree, scratch, is_tree, oid);
                    }
                    ordering
                }
            };
            Ok(if ordering == Ordering::Greater {
                Flow::Continue
            } else {
                Flow::Stop
            })
        })?;
        if in_order {
            Ok(result)
        } else {
            find_entry(&self.to_vec(root), name, want_tree)
        }
    }

    /// The version's entries in order, as runs of the root's and entries of its own, for
    /// [`TreeView::find_indexed`]: one walk over every piece.
    pub fn index(&self, root: &RootTree) -> Result<EntryIndex, MalformedObject> {
        let mut segments = Vec::new();
        let mut too_big = false;
        let in_order = self.walk(root, |step, _| {
            let segment = match step {
                Step::Run { i, j } => (u32::try_from(i), u32::try_from(j), false),
                Step::Own { at, piece, .. } => (u32::try_from(at), u32::try_from(piece), true),
            };
            match segment {
                (Ok(a), Ok(b), own) => segments.push(Segment { a, b, own }),
                _ => too_big = true,
            }
            Ok(Flow::Continue)
        })?;
        if too_big {
            return Err(malformed("tree above 4 GiB"));
        }
        if !in_order {
            segments = Vec::new();
        }
        segments.shrink_to_fit();
        Ok(EntryIndex { segments, in_order })
    }

    /// [`TreeView::find_entry`] with the version's `index` (made by [`TreeView::index`] of
    /// this view and `root`): a binary search over its runs and own entries.
    pub fn find_indexed(
        &self,
        root: &RootTree,
        index: &EntryIndex,
        name: &[u8],
        want_tree: bool,
    ) -> Result<Option<Oid>, MalformedObject> {
        if !index.in_order {
            return find_entry(&self.to_vec(root), name, want_tree);
        }
        let mut scratch = Scratch::default();
        // The first segment whose last entry is not below the name.
        let (mut lo, mut hi) = (0usize, index.segments.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let segment = *index
                .segments
                .get(mid)
                .ok_or_else(|| malformed("tree index out of range"))?;
            let (last, last_tree, _) = self.last_of(root, segment, &mut scratch)?;
            if git_cmp(last, last_tree, name, want_tree) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(&segment) = index.segments.get(lo) else {
            return Ok(None);
        };
        if segment.own {
            let (entry, is_tree, oid) = self.last_of(root, segment, &mut scratch)?;
            Ok(exact(name, want_tree, entry, is_tree, oid))
        } else {
            search_run(
                root,
                segment.a as usize,
                segment.b as usize,
                name,
                want_tree,
            )
        }
    }

    /// The last entry of `segment`: (name, is a tree, id).
    fn last_of<'a>(
        &'a self,
        root: &'a RootTree,
        segment: Segment,
        scratch: &'a mut Scratch,
    ) -> Result<(&'a [u8], bool, Oid), MalformedObject> {
        if segment.own {
            let (_, is_tree, oid) =
                self.entry_at(root, segment.b as usize, segment.a as usize, scratch)?;
            Ok((&scratch.name, is_tree, oid))
        } else {
            root.entry((segment.b as usize).saturating_sub(1))
        }
    }

    /// Walks the version's entries in order, handing `visit` each run of the root's entries
    /// and each entry of its own (its name in the scratch bytes), until `visit` says stop.
    /// Returns whether the entries walked were in git's order (checked at every step; within
    /// a run, `RootTree::new` checked it).
    fn walk(
        &self,
        root: &RootTree,
        mut visit: impl FnMut(Step, &[u8]) -> Result<Flow, MalformedObject>,
    ) -> Result<bool, MalformedObject> {
        if !root.sorted {
            return Ok(false);
        }
        // The walk's position: an entry boundary of this version, and the piece holding it.
        let mut at = 0usize;
        let mut p = 0usize;
        // The last entry passed (to check the order): the root's entry `k`, or one of the
        // version's own, whose name is in `previous_name`.
        let mut previous = Previous::None;
        let mut previous_name: Vec<u8> = Vec::new();
        let mut scratch = Scratch::default();
        let in_order = |previous: Previous,
                        previous_name: &[u8],
                        entry: &[u8],
                        is_tree: bool|
         -> Result<bool, MalformedObject> {
            let (p, p_tree) = match previous {
                Previous::None => return Ok(true),
                Previous::Root(k) => {
                    let (n, t, _) = root.entry(k)?;
                    (n, t)
                }
                Previous::Own(t) => (previous_name, t),
            };
            Ok(git_cmp(p, p_tree, entry, is_tree) == Ordering::Less)
        };
        while at < self.len {
            while self.pieces.get(p).is_some_and(|x| x.end() <= at) {
                p += 1;
            }
            let piece = *self
                .pieces
                .get(p)
                .ok_or_else(|| malformed("tree view shorter than its length"))?;
            if piece.from_root
                && let Some((i, j, b)) = root_run(root, &piece, at - piece.start)
            {
                // Entries `i..j` of the root lie wholly in this piece from `at` on: they are
                // entries of this version too, in the root's (checked) order.
                let (first, first_tree, _) = root.entry(i)?;
                if !in_order(previous, &previous_name, first, first_tree)? {
                    return Ok(false);
                }
                if visit(Step::Run { i, j }, &[])? == Flow::Stop {
                    return Ok(true);
                }
                previous = Previous::Root(j - 1);
                at += root.end(j - 1) - b;
                continue;
            }
            // An entry that starts in inserted bytes or straddles pieces.
            let (len, is_tree, oid) = self.entry_at(root, p, at, &mut scratch)?;
            if !in_order(previous, &previous_name, &scratch.name, is_tree)? {
                return Ok(false);
            }
            let step = Step::Own {
                at,
                piece: p,
                is_tree,
                oid,
            };
            if visit(step, &scratch.name)? == Flow::Stop {
                return Ok(true);
            }
            core::mem::swap(&mut previous_name, &mut scratch.name);
            previous = Previous::Own(is_tree);
            at += len;
        }
        Ok(true)
    }

    /// Parses the entry at offset `at` of the version, in piece `p`: where it lies when it fits
    /// in the piece, else from its bytes gathered. Leaves its name in `scratch.name`; returns
    /// its length, whether it is a subtree, and its id.
    fn entry_at(
        &self,
        root: &RootTree,
        p: usize,
        at: usize,
        scratch: &mut Scratch,
    ) -> Result<(usize, bool, Oid), MalformedObject> {
        let piece = self
            .pieces
            .get(p)
            .filter(|x| x.start <= at)
            .ok_or_else(|| malformed("tree index out of range"))?;
        let within = at - piece.start;
        let here = self
            .piece_bytes(root, piece)
            .get(within..)
            .unwrap_or_default();
        match next_entry(here) {
            Ok((mode, entry, oid, rest)) => {
                scratch.name.clear();
                scratch.name.extend_from_slice(entry);
                Ok((here.len() - rest.len(), mode == MODE_TREE, oid))
            }
            Err(_) => self.gather_entry(root, p, within, &mut scratch.bytes, &mut scratch.name),
        }
    }

    /// Parses the entry that starts `within` bytes into piece `p` and continues past it, its
    /// bytes gathered in `bytes`: leaves its name in `name` and returns its length, whether it
    /// is a subtree, and its id.
    fn gather_entry(
        &self,
        root: &RootTree,
        p: usize,
        within: usize,
        bytes: &mut Vec<u8>,
        name: &mut Vec<u8>,
    ) -> Result<(usize, bool, Oid), MalformedObject> {
        bytes.clear();
        let mut chunk = 64usize;
        let mut pieces = self.pieces.get(p..).unwrap_or_default().iter();
        let mut current: &[u8] = &[];
        let mut skip = within;
        loop {
            // Take more bytes, doubling the amount each time (an entry with a long name costs
            // linear time, not quadratic).
            let mut want = chunk;
            while want > 0 {
                if current.is_empty() {
                    let Some(piece) = pieces.next() else {
                        // The version ends here: the entry is whole, or the parse says what is
                        // wrong with it.
                        let (mode, entry, oid, rest) = next_entry(bytes)?;
                        name.clear();
                        name.extend_from_slice(entry);
                        return Ok((bytes.len() - rest.len(), mode == MODE_TREE, oid));
                    };
                    current = self
                        .piece_bytes(root, piece)
                        .get(skip..)
                        .unwrap_or_default();
                    skip = 0;
                }
                let (take, rest) = current.split_at(want.min(current.len()));
                bytes.extend_from_slice(take);
                current = rest;
                want -= take.len();
            }
            chunk = chunk.saturating_mul(2);
            if let Ok((mode, entry, oid, rest)) = next_entry(bytes) {
                name.clear();
                name.extend_from_slice(entry);
                return Ok((bytes.len() - rest.len(), mode == MODE_TREE, oid));
            }
        }
    }
}

/// The root's entries that start `within` bytes into root piece `piece` and lie wholly inside
/// it: `(i, j, b)` for entries `i..j` (not empty), `b` the root offset of entry `i`. `None`
/// when no entry of the root starts there, or none fits.
fn root_run(root: &RootTree, piece: &Piece, within: usize) -> Option<(usize, usize, usize)> {
    let b = piece.src() + within;
    let piece_end = piece.src() + piece.len();
    let i = root.starts.binary_search(&u32::try_from(b).ok()?).ok()?;
    // Entries from `i` on that end inside the piece: a galloping search, runs are short.
    let fits = |k: usize| root.end(k) <= piece_end;
    if !fits(i) {
        return None;
    }
    let count = root.starts.len();
    let mut step = 1usize;
    let mut lo = i + 1; // every entry below `lo` fits
    let mut hi = count; // no entry from `hi` on fits
    while lo < hi {
        let probe = (i + step).min(hi - 1);
        if fits(probe) {
            lo = probe + 1;
            step = step.saturating_mul(2);
        } else {
            hi = probe;
            break;
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Some((i, lo, b))
}

/// The entry a walk passed last.
#[derive(Clone, Copy)]
enum Previous {
    None,
    Root(usize),
    Own(bool),
}

/// What a walk hands its visitor.
#[derive(Clone, Copy)]
enum Step {
    /// The root's entries `i..j` (not empty).
    Run { i: usize, j: usize },
    /// An entry of the version's own (inserted by a delta, or straddling pieces), at offset
    /// `at` in piece `piece`.
    Own {
        at: usize,
        piece: usize,
        is_tree: bool,
        oid: Oid,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Buffers for parsing entries that straddle pieces.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    name: Vec<u8>,
}

/// `oid` when `entry` is exactly the one looked for (its key can equal the name's without being
/// it: a file named `a/` and a subtree `a` sort alike).
fn exact(name: &[u8], want_tree: bool, entry: &[u8], is_tree: bool, oid: Oid) -> Option<Oid> {
    (entry == name && is_tree == want_tree).then_some(oid)
}

/// Binary search of the root's entries `lo..hi` (in order) for the name.
fn search_run(
    root: &RootTree,
    mut lo: usize,
    mut hi: usize,
    name: &[u8],
    want_tree: bool,
) -> Result<Option<Oid>, MalformedObject> {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (entry, is_tree, oid) = root.entry(mid)?;
        match git_cmp(name, want_tree, entry, is_tree) {
            Ordering::Greater => lo = mid + 1,
            Ordering::Equal => return Ok(exact(name, want_tree, entry, is_tree, oid)),
            Ordering::Less => hi = mid,
        }
    }
    Ok(None)
}

/// One step of a version's walk, kept: the root's entries `a..b`, or (`own`) the version's own
/// entry at offset `a`, in piece `b`.
#[derive(Clone, Copy, Debug)]
struct Segment {
    a: u32,
    b: u32,
    own: bool,
}

/// A version's entries in order (see [`TreeView::index`]): ~12 bytes per run of the root's
/// entries and per entry of its own.
#[derive(Clone, Debug, Default)]
pub struct EntryIndex {
    segments: Vec<Segment>,
    /// False when the version's entries are out of git's order: lookups then scan the rebuilt
    /// tree.
    in_order: bool,
}

impl EntryIndex {
    /// Memory held, in bytes (for a cache's bound).
    #[must_use]
    pub fn footprint(&self) -> usize {
        self.segments.capacity() * core::mem::size_of::<Segment>()
            + core::mem::size_of::<EntryIndex>()
    }
}

/// Appends `piece`, merged into the last one when it continues it.
fn push_piece(out: &mut Vec<Piece>, piece: Piece) {
    if piece.len == 0 {
        return;
    }
    if let Some(last) = out.last_mut()
        && last.from_root == piece.from_root
        && last.src() + last.len() == piece.src()
        && last.end() == piece.start
        && let Some(len) = last.len.checked_add(piece.len)
    {
        last.len = len;
        return;
    }
    out.push(piece);
}

/// A size in a delta's header.
fn delta_size(delta: &[u8]) -> Result<(u64, &[u8]), MalformedObject> {
    delta_header_size(delta).map_err(delta_fault)
}

fn delta_fault(fault: DeltaFault) -> MalformedObject {
    MalformedObject(alloc::format!("delta {}", fault.what()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::cold::objects::{TreeEntry, encode_tree};
    use crate::cold::parse;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A delta header's size, as the pack reader's tests write it.
    fn varint(n: usize, out: &mut Vec<u8>) {
        crate::cold::pack_read::tests::varint(n as u64, out);
    }

    fn copy(offset: usize, size: usize, out: &mut Vec<u8>) {
        let mut op = 0x80u8;
        let mut args = Vec::new();
        for k in 0..4 {
            let b = (offset >> (8 * k)) as u8;
            if b != 0 {
                op |= 1 << k;
                args.push(b);
            }
        }
        if size != 0x10000 {
            for k in 0..3 {
                let b = (size >> (8 * k)) as u8;
                if b != 0 {
                    op |= 0x10 << k;
                    args.push(b);
                }
            }
        }
        out.push(op);
        out.extend_from_slice(&args);
    }

    /// A git delta from `base` to `target`: copies of matches found on `block`-byte blocks of
    /// the base (so copies start and end anywhere in an entry), inserts in random lengths.
    fn delta(base: &[u8], target: &[u8], block: usize, rng: &mut Rng) -> Vec<u8> {
        let mut out = Vec::new();
        varint(base.len(), &mut out);
        varint(target.len(), &mut out);
        let mut blocks = hashbrown::HashMap::new();
        let mut pos = 0;
        while pos + block <= base.len() {
            blocks.entry(&base[pos..pos + block]).or_insert(pos);
            pos += block;
        }
        let mut literal: Vec<u8> = Vec::new();
        let flush = |literal: &mut Vec<u8>, out: &mut Vec<u8>, rng: &mut Rng| {
            let mut rest = literal.as_slice();
            while !rest.is_empty() {
                let n = (1 + rng.below(127)).min(rest.len());
                out.push(n as u8);
                out.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            literal.clear();
        };
        let mut i = 0;
        while i < target.len() {
            if i + block <= target.len()
                && let Some(&p) = blocks.get(&target[i..i + block])
            {
                let mut len = block;
                while p + len < base.len()
                    && i + len < target.len()
                    && base[p + len] == target[i + len]
                {
                    len += 1;
                }
                flush(&mut literal, &mut out, rng);
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(0x10000);
                    copy(p + done, n, &mut out);
                    done += n;
                }
                i += len;
                continue;
            }
            literal.push(target[i]);
            i += 1;
        }
        flush(&mut literal, &mut out, rng);
        out
    }

    fn random_entry(rng: &mut Rng) -> TreeEntry {
        const ALPHABET: &[u8] = b"ab.%0z -";
        let len = 1 + rng.below(12);
        let name = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        let mut oid = [0u8; 20];
        for b in &mut oid {
            // Ids full of spaces, zeros and digits, to look like entry boundaries.
            *b = [b' ', 0, b'1', b'0', b'4', (rng.next() >> 8) as u8][rng.below(6)];
        }
        TreeEntry {
            name,
            is_tree: rng.below(4) == 0,
            oid,
        }
    }

    /// Entries with no key twice (git's order compares a subtree as if its name ended in `/`).
    fn dedup(entries: &mut Vec<TreeEntry>) {
        let key = |e: &TreeEntry| {
            let mut k = e.name.clone();
            if e.is_tree {
                k.push(b'/');
            }
            k
        };
        let mut seen = hashbrown::HashSet::new();
        entries.retain(|e| seen.insert(key(e)));
    }

    fn check_lookups(view: &TreeView, root: &RootTree, bytes: &[u8], names: &[TreeEntry]) {
        // Every name of small trees, a sample of big ones (a full scan per name is slow).
        let step = (names.len() / 25).max(1);
        let index = view.index(root).unwrap();
        for e in names.iter().step_by(step) {
            for want_tree in [false, true] {
                let expected = parse::find_entry(bytes, &e.name, want_tree).unwrap();
                let name = alloc::string::String::from_utf8_lossy(&e.name);
                assert_eq!(
                    view.find_entry(root, &e.name, want_tree).unwrap(),
                    expected,
                    "{name:?} {want_tree}"
                );
                assert_eq!(
                    view.find_indexed(root, &index, &e.name, want_tree).unwrap(),
                    expected,
                    "{name:?} {want_tree}, indexed"
                );
            }
        }
    }

    #[test]
    fn views_along_random_chains_find_what_a_full_scan_finds() {
        for seed in 1..30u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut entries: Vec<TreeEntry> = (0..rng.below(600))
                .map(|_| random_entry(&mut rng))
                .collect();
            dedup(&mut entries);
            let mut bytes = encode_tree(&mut entries);
            let root = RootTree::new(bytes.clone()).unwrap();
            assert!(root.sorted);
            let mut view = TreeView::new(&root);
            let mut probes: Vec<TreeEntry> = entries.clone();
            probes.extend((0..50).map(|_| random_entry(&mut rng)));
            check_lookups(&view, &root, &bytes, &probes);
            for _ in 0..8 {
                // Change some ids, add some entries, remove some.
                for _ in 0..rng.below(20) {
                    if entries.is_empty() {
                        break;
                    }
                    let k = rng.below(entries.len());
                    match rng.below(3) {
                        0 => entries[k].oid = random_entry(&mut rng).oid,
                        1 => {
                            entries.remove(k);
                        }
                        _ => {
                            let e = random_entry(&mut rng);
                            probes.push(e.clone());
                            entries.push(e);
                        }
                    }
                }
                dedup(&mut entries);
                let next = encode_tree(&mut entries);
                let block = [3, 8, 16, 40][rng.below(4)];
                let d = delta(&bytes, &next, block, &mut rng);
                view = view.with_delta(&root, &d, usize::MAX).unwrap();
                assert_eq!(view.to_vec(&root), next);
                bytes = next;
                check_lookups(&view, &root, &bytes, &probes);
            }
        }
    }

    #[test]
    fn out_of_order_trees_are_searched_entry_by_entry() {
        let entry = |name: &[u8], oid: u8| {
            let mut v = b"100644 ".to_vec();
            v.extend_from_slice(name);
            v.push(0);
            v.extend_from_slice(&[oid; 20]);
            v
        };
        // An unsorted root.
        let bytes = [entry(b"b", 1), entry(b"a", 2), entry(b"c", 3)].concat();
        let root = RootTree::new(bytes.clone()).unwrap();
        let view = TreeView::new(&root);
        for n in [&b"a"[..], b"b", b"c", b"d"] {
            assert_eq!(
                view.find_entry(&root, n, false).unwrap(),
                parse::find_entry(&bytes, n, false).unwrap()
            );
        }
        // A sorted root, and a delta that puts an entry out of order (and one twice).
        let sorted = [
            entry(b"a", 1),
            entry(b"b", 2),
            entry(b"c", 3),
            entry(b"d", 4),
        ]
        .concat();
        let root = RootTree::new(sorted.clone()).unwrap();
        let view = TreeView::new(&root);
        for target in [
            [
                entry(b"a", 1),
                entry(b"b", 2),
                entry(b"c", 3),
                entry(b"a", 4),
            ]
            .concat(),
            [
                entry(b"a", 1),
                entry(b"b", 2),
                entry(b"b", 9),
                entry(b"d", 4),
            ]
            .concat(),
        ] {
            let d = delta(&sorted, &target, 8, &mut Rng(7));
            let next = view.with_delta(&root, &d, usize::MAX).unwrap();
            let index = next.index(&root).unwrap();
            for n in [&b"a"[..], b"b", b"c", b"d", b"e"] {
                let expected = parse::find_entry(&target, n, false).unwrap();
                assert_eq!(next.find_entry(&root, n, false).unwrap(), expected);
                assert_eq!(
                    next.find_indexed(&root, &index, n, false).unwrap(),
                    expected
                );
            }
        }
    }

    /// A delta of a few bytes per copy of the whole base declares a version of any size: it
    /// is refused past the caller's limit, and a version within it keeps its pieces bounded
    /// while it is built (flattened as it goes), with the right bytes.
    #[test]
    fn copies_cannot_blow_a_version_up_past_the_limits() {
        let mut rng = Rng(9);
        let mut entries: Vec<TreeEntry> = (0..400).map(|_| random_entry(&mut rng)).collect();
        dedup(&mut entries);
        let bytes = encode_tree(&mut entries);
        assert!(bytes.len() > 8192);
        let root = RootTree::new(bytes.clone()).unwrap();
        let view = TreeView::new(&root);
        let repeat = |base_len: usize, times: usize| {
            let mut d = Vec::new();
            varint(base_len, &mut d);
            varint(base_len * times, &mut d);
            for _ in 0..times {
                copy(0, base_len, &mut d);
            }
            d
        };
        // 100,000 copies of the root: a few hundred KB of delta declaring ~1 GB.
        let huge = repeat(bytes.len(), 100_000);
        assert!(view.with_delta(&root, &huge, 1 << 20).is_err());
        // 4096 single bytes of the root (every other one): a view of 4096 one-byte pieces.
        let mut d = Vec::new();
        varint(bytes.len(), &mut d);
        varint(4096, &mut d);
        for k in 0..4096 {
            copy(2 * k, 1, &mut d);
        }
        let fragmented = view.with_delta(&root, &d, usize::MAX).unwrap();
        assert_eq!(fragmented.pieces.len(), 4096);
        let base: Vec<u8> = bytes.iter().step_by(2).take(4096).copied().collect();
        assert_eq!(fragmented.to_vec(&root), base);
        // 500 copies of it: 2 MB in 2M pieces unless flattened along the way.
        let d = repeat(4096, 500);
        let limit = 4096 * 500;
        assert!(fragmented.with_delta(&root, &d, limit - 1).is_err());
        let next = fragmented.with_delta(&root, &d, limit).unwrap();
        assert!(next.pieces.len() <= PIECES_FLATTEN_AT.max(limit / PIECE_BYTES_MIN));
        assert_eq!(next.to_vec(&root), base.repeat(500));
    }

    #[test]
    fn damaged_deltas_and_trees_are_errors_not_panics() {
        let mut rng = Rng(42);
        let mut entries: Vec<TreeEntry> = (0..200).map(|_| random_entry(&mut rng)).collect();
        dedup(&mut entries);
        let bytes = encode_tree(&mut entries);
        let root = RootTree::new(bytes.clone()).unwrap();
        let view = TreeView::new(&root);
        entries.truncate(150);
        entries.push(random_entry(&mut rng));
        dedup(&mut entries);
        let next = encode_tree(&mut entries);
        let d = delta(&bytes, &next, 8, &mut rng);
        let probe = |v: &TreeView| {
            let index = v.index(&root);
            for e in entries.iter().take(20) {
                let _ = v.find_entry(&root, &e.name, e.is_tree);
                let _ = v.find_entry(&root, b"zzz", false);
                if let Ok(index) = &index {
                    let _ = v.find_indexed(&root, index, &e.name, e.is_tree);
                }
            }
        };
        for cut in 0..d.len() {
            if let Ok(v) = view.with_delta(&root, &d[..cut], usize::MAX) {
                probe(&v);
            }
        }
        for i in 0..d.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = d.clone();
                damaged[i] ^= flip;
                if let Ok(v) = view.with_delta(&root, &damaged, usize::MAX) {
                    probe(&v);
                }
            }
        }
        // A root that is not a tree, and trees cut anywhere.
        assert!(RootTree::new(b"garbage".to_vec()).is_err());
        for cut in 0..bytes.len().min(300) {
            let _ = RootTree::new(bytes[..cut].to_vec());
        }
        // An empty tree.
        let empty = RootTree::new(Vec::new()).unwrap();
        assert_eq!(
            TreeView::new(&empty)
                .find_entry(&empty, b"a", false)
                .unwrap(),
            None
        );
    }
}
