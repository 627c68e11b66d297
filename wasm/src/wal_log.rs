//! The host's side of the WAL: how the engine's WAL actions become IndexedDB transactions.
//!
//! The engine's byte format is kept whole: its segments are stored as chunks in the `wal`
//! object store, keyed `[segment, offset]`, so recovery concatenates a segment's chunks and
//! hands them to the same scanner as the native host.
//!
//! A transaction, not a byte, is what costs in a browser, so this is built around one rule:
//! **at most one WAL transaction is in flight, and it carries everything pending.** Records
//! appended while one commits wait in memory and all go into the next, together with every
//! completion asked for meanwhile (group commit); a request already covered by the transaction
//! in flight rides on it. Serial transactions also mean that a failed one (a full quota) can
//! never leave a later one committed after a hole.
//!
//! Durability: `WriteWal` (the `os` level) needs a committed transaction; `SyncWal` and
//! `RotateWal` (the `fsync` level) need a `strict` one. The IndexedDB specification promises
//! only that a strict commit flushes *its own* changes, so a strict transaction re-puts the
//! chunks committed relaxed since the previous strict one: the guarantee then rests on no
//! browser internals. Those chunks are few (at most [`UNSYNCED_BYTES_MAX`]; past that a
//! transaction is made strict anyway).

use std::mem;
use std::rc::Rc;

use thermocline_core::io::{Completion, HostOp};

/// Bytes committed relaxed that may wait for a strict transaction. Bounds both the memory kept
/// for re-putting them and the extra bytes a strict transaction writes; 1 MiB is a few
/// milliseconds of IndexedDB bandwidth.
pub(crate) const UNSYNCED_BYTES_MAX: u64 = 1 << 20;

/// A piece of a WAL segment at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub segment: u64,
    pub offset: u64,
    pub bytes: Rc<[u8]>,
}

/// One request of a WAL transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WalOp {
    Put(Chunk),
    /// Delete every chunk of a segment.
    DeleteSegment(u64),
    /// Every record up to this sequence number is strictly durable (written by each strict
    /// transaction, so open knows which records may still need it).
    Durable(u64),
}

/// A transaction to run: its requests in order, and how durable its commit must be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Txn {
    pub ops: Vec<WalOp>,
    pub strict: bool,
    /// Which operation failed, for the engine, if the transaction does.
    pub op: HostOp,
}

#[derive(Debug, Default)]
struct Plan {
    ops: Vec<WalOp>,
    strict: bool,
    completions: Vec<Completion>,
    /// The highest sequence number whose record is in `ops`.
    covers: u64,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.completions.is_empty()
    }

    fn host_op(&self) -> HostOp {
        let mut op = HostOp::WalDelete;
        for c in &self.completions {
            op = match c {
                Completion::WalRotated { .. } => return HostOp::WalRotate,
                Completion::WalSynced { .. } => HostOp::WalSync,
                _ if op == HostOp::WalSync => HostOp::WalSync,
                _ => HostOp::WalWrite,
            };
        }
        op
    }
}

#[derive(Debug)]
struct InFlight {
    covers: u64,
    strict: bool,
    completions: Vec<Completion>,
}

/// The WAL as the browser host sees it.
#[derive(Debug)]
pub(crate) struct WalLog {
    /// The segment records are appended to (`None` until the engine's first rotation).
    segment: Option<u64>,
    /// Bytes of `segment` already placed in chunks.
    offset: u64,
    /// Records appended and not yet placed in a chunk, and the newest one's sequence number.
    pending: Vec<u8>,
    pending_seq: u64,
    next: Plan,
    in_flight: Option<InFlight>,
    /// Records up to these sequence numbers are in a transaction issued (committed), at all or
    /// strictly.
    issued: u64,
    issued_strict: u64,
    committed: u64,
    committed_strict: u64,
    /// Chunks committed relaxed since the last strict transaction.
    unsynced: Vec<Chunk>,
    unsynced_bytes: u64,
}

impl WalLog {
    /// A log whose records up to `recovered_seq` are already stored (found at open).
    pub(crate) fn new(recovered_seq: u64) -> WalLog {
        WalLog {
            segment: None,
            offset: 0,
            pending: Vec::new(),
            pending_seq: 0,
            next: Plan::default(),
            in_flight: None,
            issued: recovered_seq,
            issued_strict: recovered_seq,
            committed: recovered_seq,
            committed_strict: recovered_seq,
            unsynced: Vec::new(),
            unsynced_bytes: 0,
        }
    }

    /// Replaces segment `segment`'s chunks by `bytes` in the next transaction, strictly. Open
    /// uses it for the newest segment: to cut a torn tail, and when it holds records committed
    /// relaxed, which must be durable before newer ones can be (or a power cut could keep the
    /// newer and lose the older, leaving a hole).
    pub(crate) fn rewrite_segment(&mut self, segment: u64, bytes: Vec<u8>) {
        self.next.ops.push(WalOp::DeleteSegment(segment));
        self.next.ops.push(WalOp::Put(Chunk {
            segment,
            offset: 0,
            bytes: bytes.into(),
        }));
        self.next.strict = true;
    }

    /// The engine's `AppendWal`.
    pub(crate) fn append(&mut self, seq: u64, bytes: &[u8]) {
        assert!(self.segment.is_some(), "append before the first rotation");
        self.pending.extend_from_slice(bytes);
        self.pending_seq = seq;
    }

    /// The engine's `WriteWal { upto }` (`strict: false`) or `SyncWal { upto }` (`strict:
    /// true`), answered by `done`. Returns `done` when it is already true.
    pub(crate) fn want(&mut self, upto: u64, strict: bool, done: Completion) -> Option<Completion> {
        let (committed, issued) = if strict {
            (self.committed_strict, self.issued_strict)
        } else {
            (self.committed, self.issued)
        };
        if committed >= upto {
            return Some(done);
        }
        match &mut self.in_flight {
            Some(flight) if issued >= upto => flight.completions.push(done),
            _ => {
                self.next.completions.push(done);
                self.next.strict |= strict;
            }
        }
        None
    }

    /// The engine's `RotateWal`: the current segment is closed with what is pending, and the
    /// new one starts with `header`, both in the next (strict) transaction.
    pub(crate) fn rotate(&mut self, segment: u64, header: Vec<u8>) {
        self.seal();
        let offset = header.len() as u64;
        self.next.ops.push(WalOp::Put(Chunk {
            segment,
            offset: 0,
            bytes: header.into(),
        }));
        self.segment = Some(segment);
        self.offset = offset;
        self.next.strict = true;
        self.next.completions.push(Completion::WalRotated {
            segment_id: segment,
        });
    }

    /// The engine's `DeleteWalSegments`.
    pub(crate) fn delete(&mut self, segments: &[u64]) {
        self.next
            .ops
            .extend(segments.iter().map(|&s| WalOp::DeleteSegment(s)));
        // Their records are in the warm tier, durably: nothing left to re-put.
        self.unsynced.retain(|c| !segments.contains(&c.segment));
        self.unsynced_bytes = self.unsynced.iter().map(|c| c.bytes.len() as u64).sum();
    }

    /// The next transaction to run, if none is in flight and there is work.
    pub(crate) fn start(&mut self) -> Option<Txn> {
        if self.in_flight.is_some() {
            return None;
        }
        self.seal();
        if self.next.is_empty() {
            return None;
        }
        let mut plan = mem::take(&mut self.next);
        let op = plan.host_op();
        let new_bytes: u64 = new_chunk_bytes(&plan.ops);
        if self.unsynced_bytes + new_bytes > UNSYNCED_BYTES_MAX {
            plan.strict = true;
        }
        self.issued = self.issued.max(plan.covers);
        let ops = if plan.strict {
            self.unsynced_bytes = 0;
            self.issued_strict = self.issued;
            let mut ops: Vec<WalOp> = self.unsynced.drain(..).map(WalOp::Put).collect();
            ops.append(&mut plan.ops);
            ops.push(WalOp::Durable(self.issued));
            ops
        } else {
            for o in &plan.ops {
                if let WalOp::Put(c) = o {
                    self.unsynced.push(c.clone());
                }
            }
            self.unsynced_bytes += new_bytes;
            plan.ops
        };
        self.in_flight = Some(InFlight {
            covers: self.issued,
            strict: plan.strict,
            completions: plan.completions,
        });
        Some(Txn {
            ops,
            strict: plan.strict,
            op,
        })
    }

    /// The transaction in flight committed: the completions to report, in order.
    pub(crate) fn committed(&mut self) -> Vec<Completion> {
        let Some(flight) = self.in_flight.take() else {
            return Vec::new();
        };
        self.committed = self.committed.max(flight.covers);
        if flight.strict {
            self.committed_strict = self.committed_strict.max(flight.covers);
        }
        flight.completions
    }

    /// Whether nothing is pending or in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.pending.is_empty() && self.next.is_empty()
    }

    /// Moves the pending records into a chunk of the current segment.
    fn seal(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let Some(segment) = self.segment else {
            return;
        };
        let bytes: Rc<[u8]> = mem::take(&mut self.pending).into();
        let offset = self.offset;
        self.offset += bytes.len() as u64;
        self.next.ops.push(WalOp::Put(Chunk {
            segment,
            offset,
            bytes,
        }));
        self.next.covers = self.next.covers.max(self.pending_seq);
    }
}

fn new_chunk_bytes(ops: &[WalOp]) -> u64 {
    ops.iter()
        .map(|o| match o {
            WalOp::Put(c) => c.bytes.len() as u64,
            WalOp::DeleteSegment(_) | WalOp::Durable(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(upto: u64) -> Completion {
        Completion::WalWritten { upto }
    }
    fn synced(upto: u64) -> Completion {
        Completion::WalSynced { upto }
    }
    fn puts(txn: &Txn) -> Vec<(u64, u64, usize)> {
        txn.ops
            .iter()
            .filter_map(|o| match o {
                WalOp::Put(c) => Some((c.segment, c.offset, c.bytes.len())),
                WalOp::DeleteSegment(_) | WalOp::Durable(_) => None,
            })
            .collect()
    }

    fn started() -> WalLog {
        let mut log = WalLog::new(0);
        log.rotate(1, vec![0; 40]);
        let txn = log.start().unwrap();
        assert!(txn.strict);
        assert_eq!(txn.op, HostOp::WalRotate);
        assert_eq!(log.committed(), [Completion::WalRotated { segment_id: 1 }]);
        log
    }

    #[test]
    fn concurrent_writers_share_one_transaction() {
        let mut log = started();
        // The first fsync writer asks for a write and a sync; 31 more append meanwhile.
        log.append(1, &[1; 10]);
        assert_eq!(log.want(1, false, written(1)), None);
        assert_eq!(log.want(1, true, synced(1)), None);
        for seq in 2..=32 {
            log.append(seq, &[seq as u8; 10]);
        }
        let txn = log.start().unwrap();
        assert!(txn.strict);
        assert_eq!(puts(&txn), [(1, 40, 320)], "all 32 records in one chunk");
        assert_eq!(txn.ops.last(), Some(&WalOp::Durable(32)));
        assert!(log.start().is_none(), "one transaction in flight at a time");
        assert_eq!(log.committed(), [written(1), synced(1)]);
        // The engine's next sync for the other 31 needs no transaction.
        assert_eq!(log.want(32, true, synced(32)), Some(synced(32)));
        assert_eq!(log.want(32, false, written(32)), Some(written(32)));
        assert!(log.start().is_none(), "nothing left to write");
    }

    #[test]
    fn requests_covered_by_the_transaction_in_flight_ride_on_it() {
        let mut log = started();
        log.append(1, &[1; 10]);
        log.append(2, &[2; 10]);
        assert_eq!(log.want(1, false, written(1)), None);
        let txn = log.start().unwrap();
        assert!(!txn.strict);
        assert_eq!(log.want(2, false, written(2)), None);
        log.append(3, &[3; 10]);
        assert_eq!(log.want(3, false, written(3)), None);
        assert_eq!(log.committed(), [written(1), written(2)]);
        let txn = log.start().unwrap();
        assert_eq!(puts(&txn), [(1, 60, 10)]);
        assert_eq!(log.committed(), [written(3)]);
    }

    #[test]
    fn a_strict_transaction_re_puts_what_was_committed_relaxed() {
        let mut log = started();
        log.append(1, &[1; 10]);
        log.want(1, false, written(1));
        log.start().unwrap();
        log.committed();
        log.append(2, &[2; 10]);
        log.want(2, true, synced(2));
        let txn = log.start().unwrap();
        assert!(txn.strict);
        assert_eq!(txn.op, HostOp::WalSync);
        assert_eq!(puts(&txn), [(1, 40, 10), (1, 50, 10)]);
        log.committed();
        // Nothing is left to re-put.
        log.append(3, &[3; 10]);
        log.want(3, true, synced(3));
        assert_eq!(puts(&log.start().unwrap()), [(1, 60, 10)]);
    }

    #[test]
    fn a_large_relaxed_backlog_is_made_strict() {
        let mut log = started();
        let big = vec![0u8; (UNSYNCED_BYTES_MAX / 2 + 1) as usize];
        log.append(1, &big);
        log.want(1, false, written(1));
        assert!(!log.start().unwrap().strict);
        log.committed();
        log.append(2, &big);
        log.want(2, false, written(2));
        let txn = log.start().unwrap();
        assert!(txn.strict, "two halves of the backlog bound");
        assert_eq!(puts(&txn).len(), 2);
        log.committed();
        assert_eq!(log.want(2, true, synced(2)), Some(synced(2)));
    }

    #[test]
    fn rotation_closes_the_segment_and_deletion_forgets_its_chunks() {
        let mut log = started();
        log.append(1, &[1; 10]);
        log.want(1, false, written(1));
        log.start().unwrap();
        log.committed();
        log.append(2, &[2; 10]);
        log.rotate(2, vec![0; 40]);
        log.append(3, &[3; 10]);
        log.delete(&[1]);
        let txn = log.start().unwrap();
        assert!(txn.strict);
        assert_eq!(txn.op, HostOp::WalRotate);
        // Segment 1's relaxed chunk is not re-put: it is being deleted.
        assert_eq!(puts(&txn), [(1, 50, 10), (2, 0, 40), (2, 40, 10)]);
        assert!(txn.ops.contains(&WalOp::DeleteSegment(1)));
        assert_eq!(log.committed(), [Completion::WalRotated { segment_id: 2 }]);
        assert!(log.is_idle());
    }

    #[test]
    fn open_rewrites_the_newest_segment_with_the_first_rotation() {
        let mut log = WalLog::new(7);
        log.rewrite_segment(3, vec![9; 100]);
        log.rotate(4, vec![0; 40]);
        let txn = log.start().unwrap();
        assert!(txn.strict);
        assert_eq!(txn.ops[0], WalOp::DeleteSegment(3));
        assert_eq!(puts(&txn), [(3, 0, 100), (4, 0, 40)]);
        // Records found at open count as stored.
        assert_eq!(log.want(7, true, synced(7)), Some(synced(7)));
    }
}
