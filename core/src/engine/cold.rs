//! The engine's part of the git cold tier: which flushed writes go into the next commit, when
//! it is made, `commit`-level acknowledgement, and demotion of warm values to cold.

use alloc::vec::Vec;

use hashbrown::HashMap;

use super::Engine;
use crate::config::{AutoCommit, ColdConfig, SyncLevel};
use crate::io::{Action, ColdBatch, ColdEntry, Event, WarmLoc};
use crate::key::Key;
use crate::policy;
use crate::time::Millis;

/// A commit the host is writing: id, (key, seq) of its entries, through_seq.
type InFlightCommit = (u64, Vec<(Key, u64)>, u64);

#[derive(Debug, Default)]
pub(super) struct ColdState {
    /// The tip commit holds the store as of this sequence number.
    pub(super) through_seq: u64,
    /// Writes durable in the warm tier and not yet committed: newest per key.
    pending: HashMap<Key, (u64, Option<WarmLoc>)>,
    pending_since: Option<Millis>,
    last_flush_at: Millis,
    in_flight: Option<InFlightCommit>,
    next_id: u64,
    /// The highest sequence number a `commit`-level write or sync waits for.
    wanted_seq: u64,
    pub(super) commits: u64,
    pub(super) last_commit_at: Option<Millis>,
    next_demote_scan: Millis,
    pub(super) demotions: u64,
}

impl ColdState {
    pub(super) fn pending_keys(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn committing(&self) -> bool {
        self.in_flight.is_some()
    }
}

impl Engine {
    fn cold_config(&self) -> Option<&ColdConfig> {
        self.config.cold.as_ref()
    }

    /// The cold tier's tip holds the store as of `seq` (read from the tip commit at open).
    /// Call before `restore_warm`.
    pub fn restore_cold_through(&mut self, seq: u64) {
        self.cold.through_seq = seq;
        self.wal.restore_seq(seq);
    }

    /// A key found in the cold tier's tip and in no warm record.
    pub fn restore_cold(&mut self, now: Millis, key: Key, value_bytes: u64) {
        self.keydir.restore_cold(key, value_bytes, now);
    }

    /// A warm record newer than the cold tip, found at open: it goes into the next commit.
    pub(super) fn restore_cold_pending(
        &mut self,
        now: Millis,
        key: Key,
        seq: u64,
        loc: Option<WarmLoc>,
    ) {
        if self.config.cold.is_some() && seq > self.cold.through_seq {
            self.cold.pending.insert(key, (seq, loc));
            // Found at open: due like a flush that just happened, so the debounced commit
            // comes after the debounce and the max age counts from now.
            self.cold.pending_since.get_or_insert(now);
            self.cold.last_flush_at = now;
        }
    }

    /// A warm tombstone found at open: the key is absent; if the deletion is newer than the
    /// cold tip, the next commit removes its path.
    pub fn restore_warm_tombstone(&mut self, now: Millis, key: Key, seq: u64) {
        self.restore_cold_pending(now, key, seq, None);
    }

    /// Whether compaction may drop a warm tombstone written at `seq`: only once the cold tier
    /// has the deletion too, or a value committed earlier would come back at the next open.
    #[must_use]
    pub fn tombstone_droppable(&self, seq: u64) -> bool {
        crate::planted::active(crate::planted::Bug::DropTombstoneEarly)
            || self.config.cold.is_none()
            || seq <= self.cold.through_seq
    }

    /// Records the entries of a completed warm flush for the next commit.
    pub(super) fn cold_after_flush(
        &mut self,
        now: Millis,
        entries: &[(Key, u64)],
        locs: &[Option<WarmLoc>],
    ) {
        if self.config.cold.is_none() {
            return;
        }
        for ((key, seq), loc) in entries.iter().zip(locs) {
            self.cold.pending.insert(key.clone(), (*seq, *loc));
        }
        if !entries.is_empty() {
            self.cold.pending_since.get_or_insert(now);
        }
        self.cold.last_flush_at = now;
        self.maybe_commit(now);
    }

    /// A compaction moved a warm record that a pending commit entry names.
    pub(super) fn cold_after_move(&mut self, key: &str, from: WarmLoc, to: WarmLoc) {
        if let Some((_, loc @ Some(_))) = self.cold.pending.get_mut(key)
            && *loc == Some(from)
        {
            *loc = Some(to);
        }
    }

    /// A `commit`-level write or sync waits for `seq`: flush and commit without waiting for the
    /// triggers.
    pub(super) fn want_commit(&mut self, now: Millis, seq: u64) {
        self.cold.wanted_seq = self.cold.wanted_seq.max(seq);
        self.maybe_flush(now, true);
        self.maybe_commit(now);
    }

    /// When the debounced commit is due, if one is waiting.
    pub(super) fn commit_deadline(&self) -> Option<Millis> {
        let cfg = self.cold_config()?;
        if cfg.auto_commit != AutoCommit::Debounced || self.cold.in_flight.is_some() {
            return None;
        }
        let since = self.cold.pending_since?;
        let debounce = self.cold.last_flush_at.plus_ms(cfg.commit_debounce_ms);
        Some(debounce.min(since.plus_ms(cfg.commit_max_age_ms)))
    }

    pub(super) fn maybe_commit(&mut self, now: Millis) {
        let Some(cfg) = self.cold_config() else {
            return;
        };
        if self.poisoned.is_some()
            || self.cold.in_flight.is_some()
            || self.warm.compacting.is_some()
        {
            return;
        }
        let wanted = self.cold.wanted_seq > self.cold.through_seq
            && self.warm.through_seq >= self.cold.wanted_seq;
        if self.cold.pending.is_empty() {
            // Nothing changed since the tip: the tip already holds the store as of the warm tier.
            if wanted && self.is_flushed() {
                self.cold.through_seq = self.warm.through_seq;
                self.events.push_back(Event::Reached {
                    level: SyncLevel::Commit,
                    upto: self.cold.through_seq,
                });
            }
            return;
        }
        let due = match cfg.auto_commit {
            AutoCommit::Immediate => true,
            AutoCommit::Debounced => self.commit_deadline().is_some_and(|at| now >= at),
            AutoCommit::Manual => false,
        };
        if !(due || wanted) {
            return;
        }
        let mut entries: Vec<ColdEntry> = self
            .cold
            .pending
            .drain()
            .map(|(key, (seq, warm))| ColdEntry { key, seq, warm })
            .collect();
        entries.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        self.cold.pending_since = None;
        self.cold.next_id += 1;
        let id = self.cold.next_id;
        let through_seq = if crate::planted::active(crate::planted::Bug::CommitClaimsUnflushed) {
            self.wal.appended()
        } else {
            self.warm.through_seq
        };
        let keys = entries.iter().map(|e| (e.key.clone(), e.seq)).collect();
        self.cold.in_flight = Some((id, keys, through_seq));
        self.actions.push_back(Action::CommitCold(ColdBatch {
            id,
            entries,
            through_seq,
        }));
    }

    pub(super) fn cold_committed(&mut self, now: Millis, id: u64, commit: [u8; 20]) {
        let (batch_id, keys, through_seq) = self
            .cold
            .in_flight
            .take()
            .expect("a commit completed with none in flight");
        assert_eq!(batch_id, id, "commit completions out of order");
        for (key, seq) in &keys {
            self.keydir.committed(key, *seq);
        }
        self.cold.through_seq = self.cold.through_seq.max(through_seq);
        self.cold.commits += 1;
        self.cold.last_commit_at = Some(now);
        self.events.push_back(Event::Committed {
            id,
            keys: keys.len(),
            through_seq,
            commit,
        });
        self.events.push_back(Event::Reached {
            level: SyncLevel::Commit,
            upto: self.cold.through_seq,
        });
        self.maybe_commit(now);
        self.maybe_flush(now, false);
        self.maybe_compact();
    }

    /// Walks the key directory (rarely: see `demote_scan_interval_ms`) and moves committed
    /// warm values that are idle, or beyond the warm capacity, to the cold tier only.
    pub(super) fn maybe_demote_to_cold(&mut self, now: Millis) {
        let Some(cfg) = self.config.cold.clone() else {
            return;
        };
        if now < self.cold.next_demote_scan {
            return;
        }
        self.cold.next_demote_scan = now.plus_ms(cfg.demote_scan_interval_ms);
        let tiers = self.config.tiers.clone();
        let cache = &self.cache;
        let mut moved = self.keydir.demote_to_cold(|key, meta| {
            !cache.contains(key.as_str()) && policy::demote_warm(meta.last_access, now, &tiers)
        });
        if let Some(capacity) = cfg.warm_capacity_bytes {
            let live: u64 = self.keydir.segments().map(|(_, u)| u.live_bytes).sum();
            let mut excess = policy::capacity_excess(live, capacity, 10);
            if excess > 0 {
                let mut candidates: Vec<(Millis, u64, Key)> = self
                    .keydir
                    .demotion_candidates()
                    .map(|(t, b, k)| (t, b, k.clone()))
                    .collect();
                candidates.sort_unstable_by_key(|(t, _, _)| *t);
                let mut chosen = hashbrown::HashSet::new();
                for (_, bytes, key) in candidates {
                    if excess == 0 {
                        break;
                    }
                    excess = excess.saturating_sub(bytes);
                    chosen.insert(key);
                }
                moved += self.keydir.demote_to_cold(|key, _| chosen.contains(key));
            }
        }
        self.cold.demotions += moved as u64;
        if moved > 0 {
            self.maybe_compact();
        }
    }

    /// The host read `value` for `key` from the cold tier (after `Lookup::Cold`): promote it.
    pub fn handle_fetched_cold(&mut self, now: Millis, key: &str, value: crate::value::Value) {
        let Some((key, meta)) = self.keydir.get_key_value(key) else {
            return;
        };
        if !meta.present || !meta.cold || meta.warm.is_some() {
            return;
        }
        let key = key.clone();
        self.promote(now, key, value);
    }
}
