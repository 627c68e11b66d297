//! The engine's view of the WAL: sequence numbers appended, written and synced, segments on
//! disk, and the one sync in flight that group commit is built on.
//!
//! Group commit: at most one `SyncWal` is outstanding. Writers that need `fsync` while it runs
//! only raise `sync_wanted`; when it completes, one new `SyncWal` covers all of them. However
//! many writers wait, the disk sees one fdatasync per round trip.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::io::Action;
use crate::wal::{self, Op, SEGMENT_HEADER_BYTES, SegmentHeader};

#[derive(Clone, Copy, Debug)]
struct Segment {
    id: u64,
    first_seq: u64,
    bytes: u64,
}

#[derive(Debug, Default)]
pub(super) struct WalState {
    appended: u64,
    written: u64,
    synced: u64,
    write_requested: u64,
    sync_in_flight: Option<u64>,
    sync_wanted: u64,
    buffered_bytes: u64,
    epoch: u32,
    /// Oldest first; the last one is the segment being appended to.
    segments: VecDeque<Segment>,
    /// Rotations the host has not confirmed: new segment id, last seq of the one before.
    rotations: VecDeque<(u64, u64)>,
    syncs: u64,
}

impl WalState {
    /// Everything up to `seq` is on disk already (found at open).
    pub(super) fn restore_seq(&mut self, seq: u64) {
        self.appended = self.appended.max(seq);
        self.written = self.appended;
        self.synced = self.appended;
        self.write_requested = self.appended;
    }

    pub(super) fn restore_segment(&mut self, id: u64, first_seq: u64, bytes: u64) {
        self.segments.push_back(Segment {
            id,
            first_seq,
            bytes,
        });
    }

    /// Starts segment `id` for the records after the ones appended so far.
    pub(super) fn rotate(&mut self, id: u64) -> Action {
        if let Some(last) = self.segments.back() {
            assert!(id > last.id, "segment ids only grow");
        }
        let first_seq = self.appended + 1;
        // The epoch only needs to differ from any older use of the same file; the id's low
        // bits never repeat within 2^32 segments.
        self.epoch = id as u32;
        let header = SegmentHeader {
            segment_id: id,
            epoch: self.epoch,
            first_seq,
        };
        self.segments.push_back(Segment {
            id,
            first_seq,
            bytes: SEGMENT_HEADER_BYTES as u64,
        });
        self.rotations.push_back((id, self.appended));
        // The host writes out the buffer as part of closing the old segment.
        self.buffered_bytes = 0;
        self.write_requested = self.appended;
        Action::RotateWal {
            segment_id: id,
            header: header.encode().to_vec(),
        }
    }

    /// Encodes `ops` as the next record, rotating first when the segment is full.
    pub(super) fn append(&mut self, ops: &[Op], segment_bytes_max: u64) -> (u64, Vec<Action>) {
        let len = wal::encoded_record_len(ops) as u64;
        let mut actions = Vec::with_capacity(2);
        let current = self.segments.back().copied();
        if let Some(seg) = current
            && seg.bytes > SEGMENT_HEADER_BYTES as u64
            && seg.bytes + len > segment_bytes_max
        {
            actions.push(self.rotate(seg.id + 1));
        }
        let seq = self.appended + 1;
        let mut bytes = Vec::with_capacity(len as usize);
        wal::encode_record(&mut bytes, self.epoch, seq, self.synced, ops);
        self.appended = seq;
        self.buffered_bytes += len;
        if let Some(seg) = self.segments.back_mut() {
            seg.bytes += len;
        }
        actions.push(Action::AppendWal { seq, bytes });
        (seq, actions)
    }

    pub(super) fn want_written(&mut self, seq: u64) -> Option<Action> {
        if self.written >= seq || self.write_requested >= seq {
            return None;
        }
        self.write_requested = self.appended;
        self.buffered_bytes = 0;
        Some(Action::WriteWal {
            upto: self.appended,
        })
    }

    pub(super) fn write_if_buffered_over(&mut self, max: u64) -> Option<Action> {
        (self.buffered_bytes >= max)
            .then(|| self.want_written(self.appended))
            .flatten()
    }

    pub(super) fn write_buffered(&mut self) -> Option<Action> {
        self.has_buffered()
            .then(|| self.want_written(self.appended))
            .flatten()
    }

    pub(super) fn has_buffered(&self) -> bool {
        self.buffered_bytes > 0
    }

    pub(super) fn want_synced(&mut self, seq: u64) -> Vec<Action> {
        if self.synced >= seq {
            return Vec::new();
        }
        self.sync_wanted = self.sync_wanted.max(seq);
        if self.sync_in_flight.is_some() {
            return Vec::new();
        }
        self.start_sync()
    }

    fn start_sync(&mut self) -> Vec<Action> {
        let upto = self.appended;
        let mut actions: Vec<Action> = self.want_written(upto).into_iter().collect();
        actions.push(Action::SyncWal { upto });
        self.sync_in_flight = Some(upto);
        actions
    }

    pub(super) fn written(&mut self, upto: u64) -> u64 {
        self.written = self.written.max(upto);
        self.written
    }

    pub(super) fn synced(&mut self, upto: u64) -> u64 {
        self.sync_in_flight = None;
        self.syncs += 1;
        self.written = self.written.max(upto);
        self.synced = self.synced.max(upto);
        self.synced
    }

    /// After a sync completes: the next one, if writers arrived while it ran.
    pub(super) fn next_sync(&mut self) -> Vec<Action> {
        if self.sync_in_flight.is_none() && self.sync_wanted > self.synced {
            self.start_sync()
        } else {
            Vec::new()
        }
    }

    pub(super) fn rotated(&mut self, id: u64) -> u64 {
        let (expected, last_seq) = self
            .rotations
            .pop_front()
            .expect("rotation completed twice");
        assert_eq!(expected, id, "rotations complete in order");
        self.written = self.written.max(last_seq);
        self.synced = self.synced.max(last_seq);
        self.synced
    }

    /// Segments whose every record is at most `through_seq` can go: the warm tier holds them.
    pub(super) fn release_through(&mut self, through_seq: u64) -> Option<Action> {
        let mut segment_ids = Vec::new();
        while let (Some(_), Some(next)) = (self.segments.front(), self.segments.get(1)) {
            if next.first_seq > through_seq + 1 {
                break;
            }
            if let Some(seg) = self.segments.pop_front() {
                segment_ids.push(seg.id);
            }
        }
        (!segment_ids.is_empty()).then_some(Action::DeleteWalSegments { segment_ids })
    }

    pub(super) fn appended(&self) -> u64 {
        self.appended
    }

    pub(super) fn written_seq(&self) -> u64 {
        self.written
    }

    pub(super) fn synced_seq(&self) -> u64 {
        self.synced
    }

    pub(super) fn is_idle(&self) -> bool {
        self.buffered_bytes == 0
            && self.sync_in_flight.is_none()
            && self.rotations.is_empty()
            && self.written >= self.appended
    }

    pub(super) fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    pub(super) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub(super) fn syncs(&self) -> u64 {
        self.syncs
    }
}
