//! The key directory: where every key lives, how big it is, how new and how used.
//!
//! It holds every key the store knows, including keys deleted but not yet durably deleted in
//! the warm tier (`present == false`): until the tombstone is flushed, the older warm record
//! must stay live for compaction, or a crash could resurrect nothing where a value was.

use hashbrown::HashMap;

use alloc::collections::BTreeMap;

use crate::io::WarmLoc;
use crate::key::Key;
use crate::policy::{self, SegmentUsage};
use crate::time::Millis;

/// What the store knows about one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyMeta {
    /// Sequence number of the newest write (put or delete).
    pub version: u64,
    /// False once deleted; the entry goes when the deletion is durable in the warm tier.
    pub present: bool,
    /// Value length in bytes.
    pub value_bytes: u64,
    /// The newest record of this key that the warm tier durably holds.
    pub warm: Option<WarmLoc>,
    /// The cold tier (git) holds the newest version.
    pub cold: bool,
    pub last_access: Millis,
    /// Decayed hit count in 1/16ths (see [`policy::decay_hits`]).
    pub hits_x16: u32,
}

/// The directory, with per-segment live-byte accounting for compaction.
#[derive(Debug, Default)]
pub struct KeyDir {
    map: HashMap<Key, KeyMeta>,
    segments: BTreeMap<u32, SegmentUsage>,
    present_keys: u64,
    warm_keys: u64,
}

impl KeyDir {
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&KeyMeta> {
        self.map.get(key)
    }

    /// The stored key (sharing its allocation) and its metadata.
    #[must_use]
    pub fn get_key_value(&self, key: &str) -> Option<(&Key, &KeyMeta)> {
        self.map.get_key_value(key)
    }

    /// Number of keys that exist (deleted ones excluded).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.present_keys
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.present_keys == 0
    }

    /// Keys whose newest durable warm record is a value.
    #[must_use]
    pub fn warm_keys(&self) -> u64 {
        self.warm_keys
    }

    /// Records an access for the frequency and idle-time policies.
    pub fn touch(&mut self, key: &str, now: Millis) {
        if let Some(meta) = self.map.get_mut(key) {
            meta.hits_x16 = policy::record_hit(meta.hits_x16, meta.last_access, now);
            meta.last_access = now;
        }
    }

    /// Records a write (`value_bytes: None` for a delete) with sequence number `seq`.
    pub fn write(&mut self, key: &Key, seq: u64, value_bytes: Option<u64>, now: Millis) {
        let meta = self.map.entry(key.clone()).or_insert_with(|| KeyMeta {
            version: 0,
            present: false,
            value_bytes: 0,
            warm: None,
            cold: false,
            last_access: now,
            hits_x16: 0,
        });
        match (meta.present, value_bytes.is_some()) {
            (false, true) => self.present_keys += 1,
            (true, false) => self.present_keys -= 1,
            _ => {}
        }
        meta.version = seq;
        meta.cold = false;
        meta.present = value_bytes.is_some();
        meta.value_bytes = value_bytes.unwrap_or(0);
        meta.hits_x16 = policy::record_hit(meta.hits_x16, meta.last_access, now);
        meta.last_access = now;
        // A deleted key stays until its tombstone is flushed, even with no warm record yet: a
        // flush in flight may still make an older put durable, and that record must then count
        // as live until the tombstone supersedes it.
    }

    /// The warm tier now durably holds `loc` (or a tombstone when `None`) as the newest record
    /// of `key`, written by the write with sequence number `seq`.
    pub fn warm_flushed(&mut self, key: &Key, seq: u64, loc: Option<WarmLoc>) {
        let Some(meta) = self.map.get_mut(key.as_str()) else {
            // Deleted with nothing durable before this flush began; the record is dead.
            if let Some(loc) = loc {
                self.segment(loc.segment);
            }
            return;
        };
        let old = core::mem::replace(&mut meta.warm, loc);
        let forget = !meta.present && meta.version == seq;
        Self::account(&mut self.segments, &mut self.warm_keys, old, loc);
        if forget {
            self.map.remove(key.as_str());
        }
    }

    /// A compaction moved a record; applied only if it is still the key's newest.
    pub fn warm_moved(&mut self, key: &str, from: WarmLoc, to: WarmLoc) -> bool {
        match self.map.get_mut(key) {
            Some(meta) if meta.warm == Some(from) => {
                meta.warm = Some(to);
                Self::account(
                    &mut self.segments,
                    &mut self.warm_keys,
                    Some(from),
                    Some(to),
                );
                true
            }
            _ => false,
        }
    }

    /// Whether the record at `loc` is the newest durable warm record of `key`.
    #[must_use]
    pub fn warm_is_live(&self, key: &str, loc: WarmLoc) -> bool {
        self.map.get(key).is_some_and(|m| m.warm == Some(loc))
    }

    /// Loads a key found in the warm tier at open.
    pub fn restore_warm(
        &mut self,
        key: Key,
        seq: u64,
        loc: WarmLoc,
        value_bytes: u64,
        now: Millis,
    ) {
        let meta = KeyMeta {
            version: seq,
            present: true,
            value_bytes,
            warm: Some(loc),
            cold: false,
            last_access: now,
            hits_x16: 0,
        };
        if let Some(old) = self.map.insert(key, meta) {
            if old.present {
                self.present_keys -= 1;
            }
            Self::account(&mut self.segments, &mut self.warm_keys, old.warm, None);
        }
        self.present_keys += 1;
        Self::account(&mut self.segments, &mut self.warm_keys, None, Some(loc));
    }

    /// Loads a key found only in the cold tier's tip at open.
    pub fn restore_cold(&mut self, key: Key, value_bytes: u64, now: Millis) {
        let meta = KeyMeta {
            version: 0,
            present: true,
            value_bytes,
            warm: None,
            cold: true,
            last_access: now,
            hits_x16: 0,
        };
        if self.map.insert(key, meta).is_none_or(|old| !old.present) {
            self.present_keys += 1;
        }
    }

    /// A commit now holds the write with sequence number `seq` of `key`: if that is still the
    /// newest write, the cold tier has the newest version.
    pub fn committed(&mut self, key: &str, seq: u64) {
        if let Some(meta) = self.map.get_mut(key)
            && meta.version == seq
            && meta.present
        {
            meta.cold = true;
        }
    }

    /// Drops the warm copy of committed, present keys that `pick` chooses (its record becomes
    /// dead; compaction reclaims it). Returns how many moved.
    pub fn demote_to_cold(&mut self, mut pick: impl FnMut(&Key, &KeyMeta) -> bool) -> usize {
        let mut moved = 0;
        for (key, meta) in &mut self.map {
            if meta.present && meta.cold && meta.warm.is_some() && pick(key, meta) {
                let old = meta.warm.take();
                Self::account(&mut self.segments, &mut self.warm_keys, old, None);
                moved += 1;
            }
        }
        moved
    }

    /// Committed keys still in the warm tier: (last access, warm bytes, key).
    pub fn demotion_candidates(&self) -> impl Iterator<Item = (Millis, u64, &Key)> {
        self.map
            .iter()
            .filter(|(_, m)| m.present && m.cold)
            .filter_map(|(k, m)| m.warm.map(|loc| (m.last_access, u64::from(loc.len), k)))
    }

    /// Keys whose newest version is in the cold tier.
    #[must_use]
    pub fn cold_keys(&self) -> u64 {
        self.map.values().filter(|m| m.present && m.cold).count() as u64
    }

    /// Sets the size of a warm segment as the host reports it.
    pub fn set_segment_total(&mut self, segment: u32, total_bytes: u64) {
        self.segment(segment).total_bytes = total_bytes;
    }

    /// Forgets a deleted warm segment. Nothing live may be left in it.
    pub fn remove_segment(&mut self, segment: u32) {
        if let Some(u) = self.segments.remove(&segment) {
            assert_eq!(
                u.live_bytes, 0,
                "deleting warm segment {segment} with live records"
            );
        }
    }

    pub fn segments(&self) -> impl Iterator<Item = (u32, SegmentUsage)> + '_ {
        self.segments.iter().map(|(id, u)| (*id, *u))
    }

    /// Keys that exist and start with `prefix`, unsorted.
    pub fn present_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Key> {
        self.map
            .iter()
            .filter(move |(k, m)| m.present && k.starts_with(prefix))
            .map(|(k, _)| k)
    }

    fn segment(&mut self, segment: u32) -> &mut SegmentUsage {
        self.segments.entry(segment).or_default()
    }

    fn account(
        segments: &mut BTreeMap<u32, SegmentUsage>,
        warm_keys: &mut u64,
        old: Option<WarmLoc>,
        new: Option<WarmLoc>,
    ) {
        if let Some(old) = old {
            let u = segments.entry(old.segment).or_default();
            u.live_bytes = u.live_bytes.saturating_sub(u64::from(old.len));
            *warm_keys -= 1;
        }
        if let Some(new) = new {
            let u = segments.entry(new.segment).or_default();
            u.live_bytes += u64::from(new.len);
            *warm_keys += 1;
        }
    }

    /// Recounts everything from the map and compares (tests, strict assertions).
    pub fn check_invariants(&self) {
        let present = self.map.values().filter(|m| m.present).count() as u64;
        assert_eq!(present, self.present_keys, "present key count drifted");
        let warm = self.map.values().filter(|m| m.warm.is_some()).count() as u64;
        assert_eq!(warm, self.warm_keys, "warm key count drifted");
        let mut live: BTreeMap<u32, u64> = BTreeMap::new();
        for loc in self.map.values().filter_map(|m| m.warm) {
            *live.entry(loc.segment).or_default() += u64::from(loc.len);
        }
        for (id, u) in &self.segments {
            assert_eq!(
                live.get(id).copied().unwrap_or(0),
                u.live_bytes,
                "segment {id} live bytes"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::new(s).expect("valid key")
    }
    fn loc(segment: u32, offset: u64, len: u32) -> WarmLoc {
        WarmLoc {
            segment,
            offset,
            len,
        }
    }

    #[test]
    fn delete_keeps_the_entry_until_the_tombstone_is_durable() {
        let mut d = KeyDir::default();
        d.write(&k("a"), 1, Some(3), Millis(0));
        d.warm_flushed(&k("a"), 1, Some(loc(1, 0, 40)));
        assert_eq!(
            d.segments().next(),
            Some((
                1,
                SegmentUsage {
                    total_bytes: 0,
                    live_bytes: 40
                }
            ))
        );
        d.write(&k("a"), 2, None, Millis(1));
        assert_eq!(d.len(), 0);
        // The old record is still the newest durable state: compaction must keep it.
        assert!(d.warm_is_live("a", loc(1, 0, 40)));
        d.warm_flushed(&k("a"), 2, None);
        assert!(d.get("a").is_none());
        assert_eq!(d.segments().next().map(|(_, u)| u.live_bytes), Some(0));
        d.check_invariants();
    }

    #[test]
    fn a_write_during_a_flush_keeps_the_newer_version() {
        let mut d = KeyDir::default();
        d.write(&k("a"), 1, Some(3), Millis(0));
        d.write(&k("a"), 2, Some(4), Millis(0)); // arrives while seq 1 is being flushed
        d.warm_flushed(&k("a"), 1, Some(loc(1, 0, 40)));
        let m = d.get("a").copied().expect("present");
        assert_eq!(
            (m.version, m.value_bytes, m.warm),
            (2, 4, Some(loc(1, 0, 40)))
        );
        d.warm_flushed(&k("a"), 2, Some(loc(1, 40, 41)));
        assert!(!d.warm_is_live("a", loc(1, 0, 40)));
        assert!(d.warm_moved("a", loc(1, 40, 41), loc(2, 0, 41)));
        assert!(!d.warm_moved("a", loc(1, 40, 41), loc(2, 0, 41)));
        d.check_invariants();
        assert_eq!(d.warm_keys(), 1);
    }

    #[test]
    fn a_put_flushed_after_its_delete_stays_live_until_the_tombstone() {
        let mut d = KeyDir::default();
        d.write(&k("a"), 1, Some(3), Millis(0)); // in a flush that is in flight
        d.write(&k("a"), 2, None, Millis(0));
        assert_eq!(d.len(), 0);
        d.warm_flushed(&k("a"), 1, Some(loc(1, 0, 40)));
        assert!(d.warm_is_live("a", loc(1, 0, 40)));
        d.warm_flushed(&k("a"), 2, None);
        assert!(d.get("a").is_none());
        d.check_invariants();
    }
}
