//! The engine: one state machine that hosts drive.
//!
//! Method kinds, as in `quinn_proto::Connection`:
//! - inputs, `handle_*(now, ..)`: operations from the application, completions from the host,
//!   and timer expiry;
//! - outputs, `poll_*()`: after every input, drain [`Engine::poll_action`] and carry each
//!   action out in order, then [`Engine::poll_event`]; arm a timer for
//!   [`Engine::poll_timeout`] and call [`Engine::handle_timeout`] when it fires;
//! - queries: [`Engine::reached`] tells whether a write's [`Ticket`] has reached its level.
//!
//! A write is applied to memory at once (later reads see it) and acknowledged only when the
//! host reports that its WAL record reached the level the write asked for.

mod cold;
mod stats;
mod wal_state;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

pub use stats::Stats;
use wal_state::WalState;

use crate::cache::Cache;
use crate::config::{Config, ConfigError, SyncLevel};
use crate::io::{Action, Completion, Event, FailureClass, FlushBatch, HostOp, WarmLoc};
use crate::key::{Key, KeyError};
use crate::keydir::{KeyDir, KeyMeta};
use crate::policy;
use crate::time::Millis;
use crate::value::Value;
use crate::wal::{self, Op};
use crate::write_behind::{DirtyRead, DirtySet};

/// Why `push` is refused: pushing to a remote is a host's job that no host does yet.
const PUSH_UNAVAILABLE: &str = "pushing to a remote is not supported by this store yet";

/// Bytes a hot entry costs beyond its key and value: map slot, list links, counters.
const HOT_ENTRY_OVERHEAD_BYTES: u64 = 64;

/// Options of one write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOpts {
    pub level: SyncLevel,
    /// How long the value may stay in the hot tier (None: the cache's default TTL).
    pub hot_ttl_ms: Option<u64>,
}

impl From<SyncLevel> for WriteOpts {
    fn from(level: SyncLevel) -> Self {
        WriteOpts {
            level,
            hot_ttl_ms: None,
        }
    }
}

/// What a write waits for: its sequence number reaching its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub seq: u64,
    pub level: SyncLevel,
}

/// Why a write was refused or not acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    InvalidKey(#[from] KeyError),
    #[error("value of {len} bytes is larger than the limit of {max}")]
    ValueTooLarge { len: u64, max: u64 },
    #[error("transaction of {bytes} bytes is larger than the limit of {max}")]
    BatchTooLarge { bytes: u64, max: u64 },
    #[error("sync level {level} is not available: {reason}")]
    LevelUnavailable {
        level: SyncLevel,
        reason: &'static str,
    },
    #[error("{dirty_bytes} bytes wait for the warm tier (limit {max}); retry after a flush")]
    Backpressure { dirty_bytes: u64, max: u64 },
    #[error("store is poisoned by an earlier {op:?} failure ({class:?}); reopen it")]
    Poisoned { op: HostOp, class: FailureClass },
}

/// The result of a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Hit(Value),
    Absent,
    /// Read the record at `loc` from the warm tier, then call [`Engine::handle_fetched`].
    Warm(WarmLoc),
    /// Read the key's newest version from the cold tier.
    Cold,
}

/// Where a key lives, for `stats`-like views of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub hot: bool,
    pub dirty: bool,
    pub warm: bool,
    pub cold: bool,
    pub meta: KeyMeta,
}

#[derive(Clone, Debug, Default)]
struct Counters {
    hits_hot: u64,
    hits_warm: u64,
    hits_cold: u64,
    misses: u64,
    flushes: u64,
    compactions: u64,
    promotions: u64,
}

type InFlightBatch = (u64, Vec<(Key, u64)>, u64);

#[derive(Debug)]
struct WarmState {
    through_seq: u64,
    /// The flush in flight: id, the (key, seq) of each entry in order, through_seq.
    batch: Option<InFlightBatch>,
    next_batch_id: u64,
    compacting: Option<u32>,
    active_segment: Option<u32>,
    /// A flush was asked for (explicitly, or by backpressure) while one could not start; the
    /// next chance takes it, whatever the triggers say.
    flush_wanted: bool,
}

/// The state machine. See the module docs for the drain order.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    cache: Cache<Key, Value>,
    keydir: KeyDir,
    dirty: DirtySet,
    wal: WalState,
    warm: WarmState,
    cold: cold::ColdState,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    poisoned: Option<(HostOp, FailureClass)>,
    /// What was reached when the engine was poisoned: (os, fsync, commit) sequence numbers.
    acked_at_poison: Option<(u64, u64, u64)>,
    counters: Counters,
    next_sweep: Millis,
    started: bool,
}

impl Engine {
    /// An engine for an empty store. To open an existing one, feed it what recovery found
    /// (`restore_*`, `replay`) and then call [`Engine::start`].
    pub fn new(config: Config) -> Result<Engine, ConfigError> {
        config.validate()?;
        Ok(Engine {
            cache: Cache::new(config.cache.clone()),
            config,
            keydir: KeyDir::default(),
            dirty: DirtySet::default(),
            wal: WalState::default(),
            warm: WarmState {
                through_seq: 0,
                batch: None,
                next_batch_id: 1,
                compacting: None,
                active_segment: None,
                flush_wanted: false,
            },
            cold: cold::ColdState::default(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            poisoned: None,
            acked_at_poison: None,
            counters: Counters::default(),
            next_sweep: Millis::ZERO,
            started: false,
        })
    }

    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- recovery inputs ----------------------------------------------------------------

    /// A key whose newest durable warm record (sequence number `seq`) is a value at `loc`.
    pub fn restore_warm(
        &mut self,
        now: Millis,
        key: Key,
        seq: u64,
        loc: WarmLoc,
        value_bytes: u64,
    ) {
        assert!(!self.started, "restore after start");
        self.keydir
            .restore_warm(key.clone(), seq, loc, value_bytes, now);
        if seq <= self.cold.through_seq {
            self.keydir.committed(&key, seq);
        } else {
            self.restore_cold_pending(now, key, seq, Some(loc));
        }
    }

    /// Size of a warm segment found at open; `active` if new records will be appended to it.
    pub fn restore_warm_segment(&mut self, segment: u32, total_bytes: u64, active: bool) {
        self.keydir.set_segment_total(segment, total_bytes);
        if active {
            self.warm.active_segment = Some(segment);
        }
    }

    /// The warm tier holds the store as of `seq`: WAL records up to it need no replay.
    pub fn restore_warm_through(&mut self, seq: u64) {
        self.warm.through_seq = self.warm.through_seq.max(seq);
        self.wal.restore_seq(seq);
    }

    /// Applies a WAL record found at open (one newer than the warm tier's `through_seq`).
    pub fn replay(&mut self, now: Millis, record: &wal::Record) {
        assert!(!self.started, "replay after start");
        if record.seq <= self.warm.through_seq {
            return;
        }
        self.wal.restore_seq(record.seq);
        let half = crate::planted::active(crate::planted::Bug::HalfTransaction);
        let ops = if half {
            record.ops.get(..1).unwrap_or(&[])
        } else {
            &record.ops[..]
        };
        for op in ops {
            // Not into the hot tier: the replayed values are all in the dirty set, which reads
            // see first, and a WAL holds far more than the hot tier, so inserting each one
            // would mostly evict the one before (a sixth of the replay's time, measured).
            self.apply_op(now, op, record.seq, None, false);
        }
    }

    /// Starts the engine after recovery. `wal_segments` lists the WAL segments kept on disk
    /// (id, first sequence number, size), oldest first; a fresh segment `next_segment_id` is
    /// started for new records.
    pub fn start(&mut self, now: Millis, wal_segments: &[(u64, u64, u64)], next_segment_id: u64) {
        assert!(!self.started, "started twice");
        self.started = true;
        self.next_sweep = now.plus_ms(self.config.tiers.sweep_interval_ms);
        for &(id, first_seq, bytes) in wal_segments {
            self.wal.restore_segment(id, first_seq, bytes);
        }
        let rotate = self.wal.rotate(next_segment_id);
        self.actions.push_back(rotate);
        // Segments the warm tier already covers were kept only by a crash before deletion.
        if let Some(delete) = self.wal.release_through(self.warm.through_seq) {
            self.actions.push_back(delete);
        }
        // Replayed writes are dirty again; flushing them soon shortens the next recovery.
        self.maybe_flush(now, false);
    }

    // ---- operations ---------------------------------------------------------------------

    pub fn handle_put(
        &mut self,
        now: Millis,
        key: Key,
        value: Value,
        opts: impl Into<WriteOpts>,
    ) -> Result<Ticket, WriteError> {
        self.handle_batch(now, alloc::vec![Op::Put { key, value }], opts)
    }

    pub fn handle_delete(
        &mut self,
        now: Millis,
        key: Key,
        opts: impl Into<WriteOpts>,
    ) -> Result<Ticket, WriteError> {
        self.handle_batch(now, alloc::vec![Op::Delete { key }], opts)
    }

    /// Applies `ops` as one WAL record: after a crash all of them are there or none.
    pub fn handle_batch(
        &mut self,
        now: Millis,
        ops: Vec<Op>,
        opts: impl Into<WriteOpts>,
    ) -> Result<Ticket, WriteError> {
        let opts = opts.into();
        self.check_writable(opts.level)?;
        for op in &ops {
            let key = op.key();
            if key.len() > self.config.key_bytes_max {
                let max = self.config.key_bytes_max;
                return Err(KeyError::TooLong {
                    len: key.len(),
                    max,
                }
                .into());
            }
            if let Op::Put { value, .. } = op
                && value.len_bytes() > self.config.value_bytes_max
            {
                let max = self.config.value_bytes_max;
                return Err(WriteError::ValueTooLarge {
                    len: value.len_bytes(),
                    max,
                });
            }
        }
        let bytes = wal::encoded_record_len(&ops) as u64;
        if bytes > self.config.batch_bytes_max {
            return Err(WriteError::BatchTooLarge {
                bytes,
                max: self.config.batch_bytes_max,
            });
        }
        let dirty_bytes = self.dirty.bytes();
        if dirty_bytes > 0 && dirty_bytes + bytes > self.config.write_behind.dirty_bytes_max {
            self.maybe_flush(now, true);
            let max = self.config.write_behind.dirty_bytes_max;
            return Err(WriteError::Backpressure { dirty_bytes, max });
        }
        let (seq, append) = self.wal.append(&ops, self.config.wal_segment_bytes_max);
        self.actions.extend(append);
        for op in &ops {
            self.apply_op(now, op, seq, opts.hot_ttl_ms, true);
        }
        let ticket = Ticket {
            seq,
            level: opts.level,
        };
        self.request(now, ticket);
        if let Some(write) = self
            .wal
            .write_if_buffered_over(self.config.wal_buffer_bytes_max)
        {
            self.actions.push_back(write);
        }
        self.maybe_flush(now, false);
        Ok(ticket)
    }

    /// A ticket for everything written so far at `level`: `sync(level)`.
    pub fn handle_sync(&mut self, now: Millis, level: SyncLevel) -> Result<Ticket, WriteError> {
        self.check_writable(level)?;
        let ticket = Ticket {
            seq: self.wal.appended(),
            level,
        };
        self.request(now, ticket);
        self.maybe_flush(now, false);
        Ok(ticket)
    }

    /// Starts a write-behind flush now if anything is pending (close, an explicit flush).
    pub fn handle_flush(&mut self, now: Millis) {
        self.maybe_flush(now, true);
    }

    /// Reads `key`: dirty set, then hot tier, then the key directory's lower tiers.
    pub fn handle_get(&mut self, now: Millis, key: &str) -> Lookup {
        match self.dirty.read(key) {
            DirtyRead::Value(v) => {
                self.counters.hits_hot += 1;
                self.keydir.touch(key, now);
                return Lookup::Hit(v);
            }
            DirtyRead::Deleted => {
                self.counters.misses += 1;
                return Lookup::Absent;
            }
            DirtyRead::NotDirty => {}
        }
        if let Some(v) = self.cache.get(key, now) {
            let v = v.clone();
            self.counters.hits_hot += 1;
            self.keydir.touch(key, now);
            return Lookup::Hit(v);
        }
        match self.keydir.get(key) {
            Some(KeyMeta {
                present: true,
                warm: Some(loc),
                ..
            }) => {
                self.counters.hits_warm += 1;
                Lookup::Warm(*loc)
            }
            Some(KeyMeta {
                present: true,
                cold: true,
                ..
            }) => {
                self.counters.hits_cold += 1;
                Lookup::Cold
            }
            _ => {
                self.counters.misses += 1;
                Lookup::Absent
            }
        }
    }

    /// The host read `value` for `key` at `loc` (after [`Lookup::Warm`]): promote it.
    pub fn handle_fetched(&mut self, now: Millis, key: &str, loc: WarmLoc, value: Value) {
        let Some((key, meta)) = self.keydir.get_key_value(key) else {
            return;
        };
        // A write or compaction since the lookup makes this copy stale or moved: only the
        // record the directory still names, with no newer write pending, may become hot.
        if meta.warm != Some(loc) || !meta.present {
            return;
        }
        if !matches!(self.dirty.read(key), DirtyRead::NotDirty) {
            return;
        }
        let key = key.clone();
        self.promote(now, key, value);
    }

    /// A value read from a lower tier enters the hot tier, unless it is too big to be worth it.
    fn promote(&mut self, now: Millis, key: Key, value: Value) {
        self.keydir.touch(&key, now);
        if policy::promote_on_read(value.len_bytes(), self.cache.capacity_bytes()) {
            let weight = Self::weight(&key, &value);
            self.cache.insert(key, value, weight, now, None);
            self.counters.promotions += 1;
        }
    }

    pub fn handle_completion(&mut self, now: Millis, completion: Completion) {
        match completion {
            Completion::WalWritten { upto } => {
                let upto = self.wal.written(upto);
                self.reach(SyncLevel::Os, upto);
            }
            Completion::WalSynced { upto } => {
                let upto = self.wal.synced(upto);
                self.reach(SyncLevel::Fsync, upto);
                self.actions.extend(self.wal.next_sync());
            }
            Completion::WalRotated { segment_id } => {
                let upto = self.wal.rotated(segment_id);
                self.reach(SyncLevel::Fsync, upto);
            }
            Completion::WarmFlushed {
                id,
                locations,
                segment_bytes,
            } => {
                self.flushed(now, id, &locations, &segment_bytes);
            }
            Completion::WarmCompacted {
                segment,
                moves,
                segment_bytes,
            } => {
                self.compacted(now, segment, &moves, &segment_bytes);
            }
            Completion::ColdCommitted { id, commit } => self.cold_committed(now, id, commit),
            Completion::Failed { op, class } => {
                if self.poisoned.is_none() {
                    self.poisoned = Some((op, class));
                    self.acked_at_poison = Some(self.reached_marks());
                    self.actions.clear();
                    self.events.push_back(Event::Poisoned { op, class });
                }
            }
        }
        self.strict_check();
    }

    /// The timer from [`Engine::poll_timeout`] fired (calling it early is harmless).
    pub fn handle_timeout(&mut self, now: Millis) {
        if let Some(write) = self.wal.write_buffered() {
            self.actions.push_back(write);
        }
        self.maybe_flush(now, false);
        if now >= self.next_sweep {
            self.next_sweep = now.plus_ms(self.config.tiers.sweep_interval_ms);
            let tiers = &self.config.tiers;
            let keydir = &self.keydir;
            // Idle time and decayed frequency decide together (policy::demote_hot); values
            // with unflushed writes may go too: the dirty set holds them until flushed.
            self.cache
                .sweep_where(now, tiers.sweep_budget, |key, last_access| {
                    let hits = keydir.get(key).map_or(0, |m| m.hits_x16);
                    policy::demote_hot(last_access, hits, now, tiers)
                });
        }
        self.maybe_commit(now);
        self.maybe_demote_to_cold(now);
        self.maybe_compact();
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next action, in order. A poisoned engine hands out none: after a failed write or
    /// sync the host's files are in doubt, and anything further (a deletion of WAL segments
    /// that a failed rotation left in use, say) could destroy what recovery needs.
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.poisoned.is_some() {
            self.actions.clear();
            return None;
        }
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        if !self.started || self.poisoned.is_some() {
            return None;
        }
        let mut at = self.next_sweep;
        if !self.dirty.flushing()
            && self.warm.compacting.is_none()
            && let Some(d) = self.dirty.deadline(&self.config.write_behind)
        {
            at = at.min(d);
        }
        if let Some(d) = self.commit_deadline() {
            at = at.min(d);
        }
        if self.wal.has_buffered() {
            // Buffered records are handed to the OS promptly even with no writer asking.
            at = Millis::ZERO;
        }
        Some(at)
    }

    // ---- queries ------------------------------------------------------------------------

    /// Whether the write behind `ticket` reached its level. A write not yet there when the
    /// store was poisoned never will be.
    pub fn reached(&self, ticket: Ticket) -> Result<bool, WriteError> {
        // Once poisoned, only what was reached before the failure counts: a completion arriving
        // later (a sync that was in flight) may cover a file the failure left in doubt.
        let (written, synced, committed) =
            self.acked_at_poison.unwrap_or_else(|| self.reached_marks());
        let (written, synced) = self.planted_reached(written, synced);
        let done = match ticket.level {
            SyncLevel::Memory => true,
            SyncLevel::Os => written >= ticket.seq,
            SyncLevel::Fsync => synced >= ticket.seq,
            SyncLevel::Commit => committed >= ticket.seq,
            level @ SyncLevel::Push => {
                return Err(WriteError::LevelUnavailable {
                    level,
                    reason: PUSH_UNAVAILABLE,
                });
            }
        };
        match (done, self.poisoned) {
            (false, Some((op, class))) => Err(WriteError::Poisoned { op, class }),
            _ => Ok(done),
        }
    }

    /// The acknowledgement bugs of [`crate::planted`] (identity unless one is switched on).
    fn planted_reached(&self, written: u64, synced: u64) -> (u64, u64) {
        use crate::planted::{Bug, active};
        let written = if active(Bug::AckBeforeWrite) {
            self.wal.appended()
        } else {
            written
        };
        let synced = if active(Bug::AckBeforeSync) {
            self.wal.written_seq()
        } else {
            synced
        };
        (written, synced)
    }

    /// Sequence numbers reached at `os`, `fsync` and `commit`.
    fn reached_marks(&self) -> (u64, u64, u64) {
        (
            self.wal.written_seq(),
            self.wal.synced_seq(),
            self.cold.through_seq,
        )
    }

    /// Keys that exist and start with `prefix`, sorted.
    #[must_use]
    pub fn list(&self, prefix: &str) -> Vec<Key> {
        let mut keys: Vec<Key> = self.keydir.present_with_prefix(prefix).cloned().collect();
        keys.sort_unstable();
        keys
    }

    #[must_use]
    pub fn key_info(&self, key: &str) -> Option<KeyInfo> {
        let meta = *self.keydir.get(key)?;
        let dirty = !matches!(self.dirty.read(key), DirtyRead::NotDirty);
        Some(KeyInfo {
            hot: self.cache.contains(key) || dirty,
            dirty,
            warm: meta.warm.is_some(),
            cold: meta.cold,
            meta,
        })
    }

    /// Whether the warm record at `loc` is the newest durable record of `key` (compaction).
    #[must_use]
    pub fn warm_is_live(&self, key: &str, loc: WarmLoc) -> bool {
        self.keydir.warm_is_live(key, loc)
    }

    /// The warm tier's `through_seq` (compaction markers repeat it).
    #[must_use]
    pub fn warm_through_seq(&self) -> u64 {
        self.warm.through_seq
    }

    #[must_use]
    pub fn poisoned(&self) -> Option<(HostOp, FailureClass)> {
        self.poisoned
    }

    /// Number of completed write-behind flushes (cheap, unlike [`Engine::stats`]).
    #[must_use]
    pub fn flushes(&self) -> u64 {
        self.counters.flushes
    }

    /// The cold tier's tip holds the store as of this sequence number.
    #[must_use]
    pub fn cold_through_seq(&self) -> u64 {
        self.cold.through_seq
    }

    /// Every write so far is durable in the warm tier (no pending or in-flight batch).
    #[must_use]
    pub fn is_flushed(&self) -> bool {
        self.dirty.pending_is_empty() && !self.dirty.flushing()
    }

    /// Nothing waits for the host: no dirty write, no buffered WAL byte, nothing in flight.
    #[must_use]
    pub fn is_quiescent(&self) -> bool {
        self.actions.is_empty()
            && self.dirty.bytes() == 0
            && !self.dirty.flushing()
            && self.wal.is_idle()
            && self.warm.compacting.is_none()
            && !self.cold.committing()
    }

    // ---- internals ----------------------------------------------------------------------

    fn check_writable(&self, level: SyncLevel) -> Result<(), WriteError> {
        if let Some((op, class)) = self.poisoned {
            return Err(WriteError::Poisoned { op, class });
        }
        match level {
            SyncLevel::Push => Err(WriteError::LevelUnavailable {
                level,
                reason: PUSH_UNAVAILABLE,
            }),
            SyncLevel::Commit if self.config.cold.is_none() => Err(WriteError::LevelUnavailable {
                level,
                reason: "this store has no git cold tier",
            }),
            _ => Ok(()),
        }
    }

    fn weight(key: &Key, value: &Value) -> u64 {
        key.len_bytes() + value.len_bytes() + HOT_ENTRY_OVERHEAD_BYTES
    }

    fn apply_op(&mut self, now: Millis, op: &Op, seq: u64, ttl_ms: Option<u64>, hot: bool) {
        match op {
            Op::Put { key, value } => {
                self.keydir.write(key, seq, Some(value.len_bytes()), now);
                self.dirty
                    .record(key.clone(), Some(value.clone()), seq, now);
                if hot {
                    let weight = Self::weight(key, value);
                    self.cache
                        .insert(key.clone(), value.clone(), weight, now, ttl_ms);
                }
            }
            Op::Delete { key } => {
                self.keydir.write(key, seq, None, now);
                self.dirty.record(key.clone(), None, seq, now);
                self.cache.remove(key.as_str());
            }
        }
    }

    fn request(&mut self, now: Millis, ticket: Ticket) {
        match ticket.level {
            SyncLevel::Memory => {}
            SyncLevel::Os => {
                if let Some(write) = self.wal.want_written(ticket.seq) {
                    self.actions.push_back(write);
                }
            }
            SyncLevel::Fsync => self.actions.extend(self.wal.want_synced(ticket.seq)),
            // The commit itself makes the write durable (warm fdatasync, then git objects and
            // ref), so no WAL sync is needed on the way.
            SyncLevel::Commit | SyncLevel::Push => self.want_commit(now, ticket.seq),
        }
    }

    fn reach(&mut self, level: SyncLevel, upto: u64) {
        self.events.push_back(Event::Reached { level, upto });
    }

    fn maybe_flush(&mut self, now: Millis, forced: bool) {
        let forced = forced || self.warm.flush_wanted;
        self.warm.flush_wanted = forced;
        if self.poisoned.is_some()
            || !self.started
            || self.dirty.flushing()
            || self.warm.compacting.is_some()
            || self.dirty.pending_is_empty()
        {
            return;
        }
        if !forced && self.dirty.trigger(now, &self.config.write_behind).is_none() {
            return;
        }
        self.warm.flush_wanted = false;
        let entries = self.dirty.take_batch();
        let id = self.warm.next_batch_id;
        self.warm.next_batch_id += 1;
        let through_seq = self.wal.appended();
        let keys = entries.iter().map(|e| (e.key.clone(), e.seq)).collect();
        self.warm.batch = Some((id, keys, through_seq));
        if crate::planted::active(crate::planted::Bug::ReleaseWalBeforeCheckpoint)
            && let Some(delete) = self.wal.release_through(through_seq)
        {
            self.actions.push_back(delete);
        }
        self.actions.push_back(Action::FlushWarm(FlushBatch {
            id,
            entries,
            through_seq,
        }));
    }

    fn flushed(
        &mut self,
        now: Millis,
        id: u64,
        locations: &[Option<WarmLoc>],
        sizes: &[(u32, u64)],
    ) {
        let (batch_id, keys, through_seq) = self
            .warm
            .batch
            .take()
            .expect("a flush completed with none in flight");
        assert_eq!(batch_id, id, "flush completions out of order");
        assert_eq!(
            keys.len(),
            locations.len(),
            "one location per flushed entry"
        );
        for ((key, seq), loc) in keys.iter().zip(locations) {
            self.keydir.warm_flushed(key, *seq, *loc);
        }
        for &(segment, bytes) in sizes {
            self.keydir.set_segment_total(segment, bytes);
            self.warm.active_segment = Some(segment);
        }
        self.dirty.batch_done();
        self.warm.through_seq = through_seq;
        self.cold_after_flush(now, &keys, locations);
        self.counters.flushes += 1;
        self.events.push_back(Event::Flushed {
            id,
            keys: keys.len(),
            through_seq,
        });
        if let Some(delete) = self.wal.release_through(through_seq) {
            self.actions.push_back(delete);
        }
        self.maybe_flush(now, false);
        self.maybe_compact();
    }

    fn maybe_compact(&mut self) {
        if self.poisoned.is_some()
            || self.warm.compacting.is_some()
            || self.dirty.flushing()
            || self.cold.committing()
        {
            return;
        }
        let pick = policy::compaction_candidate(
            self.keydir.segments(),
            self.warm.active_segment,
            self.config.compact_live_pct_below,
            self.config.compact_dead_bytes_min,
        );
        if let Some(segment) = pick {
            self.warm.compacting = Some(segment);
            self.actions.push_back(Action::CompactWarm { segment });
        }
    }

    fn compacted(
        &mut self,
        now: Millis,
        segment: u32,
        moves: &[(Key, WarmLoc, WarmLoc)],
        sizes: &[(u32, u64)],
    ) {
        assert_eq!(
            self.warm.compacting.take(),
            Some(segment),
            "unexpected compaction result"
        );
        for (key, from, to) in moves {
            self.keydir.warm_moved(key, *from, *to);
            self.cold_after_move(key, *from, *to);
        }
        for &(seg, bytes) in sizes {
            self.keydir.set_segment_total(seg, bytes);
            self.warm.active_segment = Some(seg);
        }
        self.counters.compactions += 1;
        self.events.push_back(Event::Compacted {
            segment,
            moved: moves.len(),
        });
        let live = self
            .keydir
            .segments()
            .find(|(id, _)| *id == segment)
            .map(|(_, u)| u.live_bytes);
        if live.unwrap_or(0) == 0 {
            self.keydir.remove_segment(segment);
            self.actions
                .push_back(Action::DeleteWarmSegment { segment });
        }
        // Flushes wait while a compaction runs; one may be due now.
        self.maybe_flush(now, false);
    }

    fn strict_check(&self) {
        #[cfg(any(test, feature = "strict-assertions"))]
        {
            self.keydir.check_invariants();
            self.cache.check_invariants_amortized();
        }
    }
}

#[cfg(test)]
mod tests;
