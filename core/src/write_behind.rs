//! Write-behind: the dirty set and the rules for when it is flushed.
//!
//! Writes land here (and in the WAL) and reach the warm tier in batches. Repeated writes to a
//! key between two flushes are coalesced: only the newest state is flushed, so a key written
//! a thousand times a second costs one warm record per flush. The set has two halves: `pending`
//! collects writes, and `in_flight` holds the batch the host is writing, still readable until
//! the host reports it durable.

use alloc::vec::Vec;

use hashbrown::HashMap;

use crate::config::WriteBehindConfig;
use crate::io::FlushEntry;
use crate::key::Key;
use crate::time::Millis;
use crate::value::Value;

/// Why a flush starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushTrigger {
    /// No write for `debounce_ms`.
    Debounce,
    /// The oldest pending write is `max_age_ms` old.
    MaxAge,
    /// `flush_bytes` are pending.
    Bytes,
    /// `flush_ops` writes since the last flush.
    Ops,
    /// Asked for explicitly (a `sync`, close, or backpressure).
    Forced,
}

#[derive(Clone, Debug)]
struct Dirty {
    value: Option<Value>,
    seq: u64,
}

/// Pending and in-flight writes with the counters the triggers read.
#[derive(Debug, Default)]
pub struct DirtySet {
    pending: HashMap<Key, Dirty>,
    in_flight: HashMap<Key, Dirty>,
    pending_bytes: u64,
    in_flight_bytes: u64,
    ops_since_flush: u64,
    oldest_pending: Option<Millis>,
    last_write: Millis,
    coalesced: u64,
}

/// What a read finds in the dirty set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirtyRead {
    Value(Value),
    Deleted,
    NotDirty,
}

fn entry_bytes(key: &Key, value: Option<&Value>) -> u64 {
    key.len_bytes() + value.map_or(0, Value::len_bytes)
}

impl DirtySet {
    /// Records a write. Returns true when it replaced a pending write to the same key.
    pub fn record(&mut self, key: Key, value: Option<Value>, seq: u64, now: Millis) -> bool {
        let key_bytes = key.len_bytes();
        self.pending_bytes += entry_bytes(&key, value.as_ref());
        self.ops_since_flush += 1;
        self.last_write = now;
        self.oldest_pending.get_or_insert(now);
        let replaced = self.pending.insert(key, Dirty { value, seq });
        if let Some(old) = &replaced {
            self.coalesced += 1;
            self.pending_bytes -= key_bytes + old.value.as_ref().map_or(0, Value::len_bytes);
        }
        replaced.is_some()
    }

    /// The newest unflushed state of `key`.
    #[must_use]
    pub fn read(&self, key: &str) -> DirtyRead {
        let found = self.pending.get(key).or_else(|| self.in_flight.get(key));
        match found {
            Some(Dirty { value: Some(v), .. }) => DirtyRead::Value(v.clone()),
            Some(Dirty { value: None, .. }) => DirtyRead::Deleted,
            None => DirtyRead::NotDirty,
        }
    }

    /// Which trigger, if any, says a flush should start now. Pure in its inputs.
    #[must_use]
    pub fn trigger(&self, now: Millis, cfg: &WriteBehindConfig) -> Option<FlushTrigger> {
        let oldest = self.oldest_pending?;
        if self.ops_since_flush >= cfg.flush_ops {
            Some(FlushTrigger::Ops)
        } else if self.pending_bytes >= cfg.flush_bytes {
            Some(FlushTrigger::Bytes)
        } else if now.since(oldest) >= cfg.max_age_ms {
            Some(FlushTrigger::MaxAge)
        } else if now.since(self.last_write) >= cfg.debounce_ms {
            Some(FlushTrigger::Debounce)
        } else {
            None
        }
    }

    /// When the time-based triggers fire next, if anything is pending.
    #[must_use]
    pub fn deadline(&self, cfg: &WriteBehindConfig) -> Option<Millis> {
        let oldest = self.oldest_pending?;
        Some(
            oldest
                .plus_ms(cfg.max_age_ms)
                .min(self.last_write.plus_ms(cfg.debounce_ms)),
        )
    }

    /// Whether a batch is being written.
    #[must_use]
    pub fn flushing(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Moves every pending write into a new in-flight batch. Must not be called while one is
    /// in flight: batches complete in order, one at a time, which is what makes "the warm tier
    /// equals the store as of `through_seq`" true after each.
    pub fn take_batch(&mut self) -> Vec<FlushEntry> {
        assert!(self.in_flight.is_empty(), "a flush is already in flight");
        self.in_flight = core::mem::take(&mut self.pending);
        self.in_flight_bytes = core::mem::take(&mut self.pending_bytes);
        self.ops_since_flush = 0;
        self.oldest_pending = None;
        let mut entries: Vec<FlushEntry> = self
            .in_flight
            .iter()
            .map(|(key, d)| FlushEntry {
                key: key.clone(),
                value: d.value.clone(),
                seq: d.seq,
            })
            .collect();
        // Log order makes the warm segment's layout deterministic (and replays in order).
        entries.sort_unstable_by_key(|e| e.seq);
        entries
    }

    /// The in-flight batch is durable.
    pub fn batch_done(&mut self) {
        self.in_flight.clear();
        self.in_flight_bytes = 0;
    }

    /// Number of keys with unflushed writes.
    #[must_use]
    pub fn keys(&self) -> usize {
        self.pending.len()
            + self
                .in_flight
                .iter()
                .filter(|(k, _)| !self.pending.contains_key(*k))
                .count()
    }

    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.pending_bytes + self.in_flight_bytes
    }

    #[must_use]
    pub fn pending_is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    #[must_use]
    pub fn oldest_pending(&self) -> Option<Millis> {
        self.oldest_pending
    }

    /// Writes that replaced a pending write to the same key (and so cost no warm record).
    #[must_use]
    pub fn coalesced(&self) -> u64 {
        self.coalesced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::new(s).expect("valid key")
    }
    fn cfg() -> WriteBehindConfig {
        WriteBehindConfig {
            flush_ops: 3,
            flush_bytes: 100,
            ..WriteBehindConfig::default()
        }
    }

    #[test]
    fn repeated_writes_coalesce_into_the_newest() {
        let mut d = DirtySet::default();
        assert!(!d.record(k("a"), Some(Value::from("1")), 1, Millis(0)));
        assert!(d.record(k("a"), Some(Value::from("22")), 2, Millis(1)));
        assert_eq!(d.bytes(), 3);
        assert_eq!(d.read("a"), DirtyRead::Value(Value::from("22")));
        assert!(d.record(k("a"), None, 3, Millis(2)));
        assert_eq!(d.bytes(), 1);
        assert_eq!(d.read("a"), DirtyRead::Deleted);
        let batch = d.take_batch();
        assert_eq!(
            batch,
            [FlushEntry {
                key: k("a"),
                value: None,
                seq: 3
            }]
        );
        assert_eq!(d.coalesced(), 2);
        // Still readable while in flight, and a newer pending write wins.
        assert_eq!(d.read("a"), DirtyRead::Deleted);
        d.record(k("a"), Some(Value::from("x")), 4, Millis(3));
        assert_eq!(d.read("a"), DirtyRead::Value(Value::from("x")));
        assert_eq!(d.keys(), 1);
        d.batch_done();
        assert_eq!(d.read("a"), DirtyRead::Value(Value::from("x")));
        assert_eq!(d.read("b"), DirtyRead::NotDirty);
    }

    #[test]
    fn each_trigger_fires_on_its_own() {
        let c = cfg();
        let mut d = DirtySet::default();
        assert_eq!(d.trigger(Millis(1_000_000), &c), None);
        assert_eq!(d.deadline(&c), None);
        d.record(k("a"), Some(Value::from("v")), 1, Millis(1000));
        assert_eq!(d.trigger(Millis(1000), &c), None);
        assert_eq!(d.deadline(&c), Some(Millis(1000 + c.debounce_ms)));
        assert_eq!(
            d.trigger(Millis(1000 + c.debounce_ms), &c),
            Some(FlushTrigger::Debounce)
        );
        // Writes every second keep debounce from firing; max age fires anyway.
        let c_age = WriteBehindConfig {
            flush_ops: 1_000,
            ..c.clone()
        };
        let mut t = 1000;
        while t < 1000 + c.max_age_ms {
            t += 1000;
            d.record(k("b"), Some(Value::from("v")), 2, Millis(t));
            let want = (t >= 1000 + c.max_age_ms).then_some(FlushTrigger::MaxAge);
            assert_eq!(d.trigger(Millis(t), &c_age), want, "at {t}");
        }
        let mut d = DirtySet::default();
        for i in 0..3 {
            assert_eq!(d.trigger(Millis(0), &c), None);
            d.record(k("a"), Some(Value::from("v")), i, Millis(0));
        }
        assert_eq!(d.trigger(Millis(0), &c), Some(FlushTrigger::Ops));
        let mut d = DirtySet::default();
        d.record(k("a"), Some(Value::from(&[0u8; 99][..])), 1, Millis(0));
        assert_eq!(d.trigger(Millis(0), &c), Some(FlushTrigger::Bytes));
        d.take_batch();
        assert_eq!(d.trigger(Millis(u64::MAX), &c), None);
        assert_eq!(d.bytes(), 100);
        d.batch_done();
        assert_eq!(d.bytes(), 0);
    }
}
