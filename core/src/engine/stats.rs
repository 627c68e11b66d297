//! A snapshot of the engine's counters, for `stats` on every host.

use crate::time::Millis;

use super::Engine;

/// Counts and sizes per tier, cache behaviour, WAL and write-behind state.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Keys that exist.
    pub keys: u64,
    /// Values in the hot tier (the cache). Unflushed writes are counted in `dirty_*`.
    pub hot_keys: u64,
    pub hot_bytes: u64,
    pub hot_capacity_bytes: u64,
    /// Keys whose newest durable warm record is a value.
    pub warm_keys: u64,
    pub warm_live_bytes: u64,
    pub warm_file_bytes: u64,
    pub warm_segments: u64,
    /// Reads served from memory, from the warm tier, from the cold tier; reads of absent keys.
    pub hits_hot: u64,
    pub hits_warm: u64,
    pub hits_cold: u64,
    pub misses: u64,
    /// Values dropped from the hot tier by capacity, by TTL, by idle time.
    pub evictions: u64,
    pub expirations: u64,
    pub idle_demotions: u64,
    pub promotions: u64,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    pub last_seq: u64,
    pub synced_seq: u64,
    /// fdatasync calls on the WAL: far fewer than fsync-level writes under concurrency.
    pub wal_syncs: u64,
    /// Write-behind backlog: keys and bytes not yet in the warm tier, age of the oldest.
    pub dirty_keys: u64,
    pub dirty_bytes: u64,
    pub dirty_oldest_age_ms: Option<u64>,
    pub flushes: u64,
    /// Writes that replaced an unflushed write to the same key (no warm record of their own).
    pub coalesced_writes: u64,
    pub compactions: u64,
    /// Keys whose newest version is in the cold tier (git), and of those, how many are only
    /// there (demoted from warm).
    pub cold_keys: u64,
    pub cold_only_keys: u64,
    /// Commits written by this process, the cold tier's tip sequence number, keys waiting for
    /// the next commit, and the age of the last commit.
    pub commits: u64,
    pub cold_through_seq: u64,
    pub cold_pending_keys: u64,
    pub last_commit_age_ms: Option<u64>,
    /// Warm values moved down to the cold tier only.
    pub cold_demotions: u64,
    pub poisoned: bool,
}

impl Engine {
    #[must_use]
    pub fn stats(&self, now: Millis) -> Stats {
        let cache = self.cache.stats();
        let (warm_live, warm_file, warm_segments) =
            self.keydir.segments().fold((0, 0, 0), |(l, f, n), (_, u)| {
                (l + u.live_bytes, f + u.total_bytes, n + 1)
            });
        Stats {
            keys: self.keydir.len(),
            hot_keys: cache.entries,
            hot_bytes: cache.bytes,
            hot_capacity_bytes: self.cache.capacity_bytes(),
            warm_keys: self.keydir.warm_keys(),
            warm_live_bytes: warm_live,
            warm_file_bytes: warm_file,
            warm_segments,
            hits_hot: self.counters.hits_hot,
            hits_warm: self.counters.hits_warm,
            hits_cold: self.counters.hits_cold,
            misses: self.counters.misses,
            evictions: cache.evictions,
            expirations: cache.expirations,
            idle_demotions: cache.idle_removals,
            promotions: self.counters.promotions,
            wal_bytes: self.wal.bytes(),
            wal_segments: self.wal.segment_count() as u64,
            last_seq: self.wal.appended(),
            synced_seq: self.wal.synced_seq(),
            wal_syncs: self.wal.syncs(),
            dirty_keys: self.dirty.keys() as u64,
            dirty_bytes: self.dirty.bytes(),
            dirty_oldest_age_ms: self.dirty.oldest_pending().map(|t| now.since(t)),
            flushes: self.counters.flushes,
            coalesced_writes: self.dirty.coalesced(),
            compactions: self.counters.compactions,
            cold_keys: self.keydir.cold_keys(),
            cold_only_keys: self.keydir.cold_keys()
                - self.keydir.demotion_candidates().count() as u64,
            commits: self.cold.commits,
            cold_through_seq: self.cold.through_seq,
            cold_pending_keys: self.cold.pending_keys() as u64,
            last_commit_age_ms: self.cold.last_commit_at.map(|t| now.since(t)),
            cold_demotions: self.cold.demotions,
            poisoned: self.poisoned.is_some(),
        }
    }
}
