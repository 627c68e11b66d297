//! Recovery planning: which WAL records to replay on top of the warm tier, and what to cut.
//!
//! The host lists the WAL segments oldest first and hands each one's bytes to
//! [`WalReplay::segment`]; the plan says which records to give to [`crate::Engine::replay`]
//! and whether to truncate a torn tail. Continuity is checked across segments: the first
//! record of every segment must follow the previous segment's last record, or be covered by
//! the warm tier's `through_seq`. A hole means acknowledged writes are missing, and that is an
//! error, never a silent skip.

use alloc::vec::Vec;

use crate::wal::{Record, SegmentDecoder, Tail, WalError};

/// What recovery did, for the host to report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// The warm tier held the store up to this sequence number.
    pub warm_through_seq: u64,
    pub wal_segments: u64,
    pub wal_bytes_scanned: u64,
    pub records_replayed: u64,
    pub bytes_replayed: u64,
    /// Records already in the warm tier, skipped.
    pub records_skipped: u64,
    /// Where a torn tail was cut: segment, offset, bytes dropped.
    pub torn_tail: Option<(u64, u64, u64)>,
    pub last_seq: u64,
}

/// Why the WAL cannot be replayed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(
        "wal segment {segment} starts at record {found} but records from {expected} on are \
         missing (neither in the log nor in the warm tier)"
    )]
    Gap {
        segment: u64,
        expected: u64,
        found: u64,
    },
    #[error("wal segment {segment} starts at record {found}, overlapping the previous segment")]
    Overlap { segment: u64, found: u64 },
}

/// One segment's part of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Records newer than the warm tier, in order.
    pub replay: Vec<Record>,
    /// Cut the file to this length (a torn tail).
    pub truncate_to: Option<u64>,
    pub first_seq: u64,
    pub bytes: u64,
}

/// A segment between [`WalReplay::begin_segment`] and [`WalReplay::end_segment`].
#[derive(Debug)]
pub struct SegmentReplay {
    first_seq: u64,
    /// The seq of the last record decoded so far.
    last_seq: Option<u64>,
}

/// Walks the WAL segments in order.
#[derive(Debug)]
pub struct WalReplay {
    warm_through: u64,
    last_seq: Option<u64>,
    report: RecoveryReport,
}

impl WalReplay {
    #[must_use]
    pub fn new(warm_through_seq: u64) -> WalReplay {
        WalReplay {
            warm_through: warm_through_seq,
            last_seq: None,
            report: RecoveryReport {
                warm_through_seq,
                ..RecoveryReport::default()
            },
        }
    }

    /// Plans segment `segment_id` from its bytes. `is_last`: the newest segment.
    pub fn segment(
        &mut self,
        segment_id: u64,
        bytes: &[u8],
        is_last: bool,
    ) -> Result<SegmentPlan, RecoveryError> {
        let decoder = SegmentDecoder::new(segment_id, bytes, None)?;
        let part = self.begin_segment(&decoder)?;
        self.end_segment(part, decoder, bytes, is_last)
    }

    /// Starts a segment read in pieces (see [`SegmentDecoder`]): checks from its header that it
    /// continues the log. Then [`WalReplay::records`] for each piece's records, and
    /// [`WalReplay::end_segment`] with all its bytes; together they plan what
    /// [`WalReplay::segment`] plans.
    pub fn begin_segment(
        &mut self,
        decoder: &SegmentDecoder,
    ) -> Result<SegmentReplay, RecoveryError> {
        let header = decoder.header();
        let (segment, first_seq) = (header.segment_id, header.first_seq);
        let covered = self.last_seq.unwrap_or(0).max(self.warm_through);
        if first_seq > covered + 1 {
            return Err(RecoveryError::Gap {
                segment,
                expected: covered + 1,
                found: first_seq,
            });
        }
        if let Some(last) = self.last_seq
            && first_seq <= last
        {
            return Err(RecoveryError::Overlap {
                segment,
                found: first_seq,
            });
        }
        self.report.wal_segments += 1;
        Ok(SegmentReplay {
            first_seq,
            last_seq: None,
        })
    }

    /// Of a piece's records, in order, the ones newer than the warm tier.
    pub fn records(&mut self, part: &mut SegmentReplay, records: Vec<Record>) -> Vec<Record> {
        if let Some(last) = records.last() {
            part.last_seq = Some(last.seq);
        }
        let mut replay = Vec::with_capacity(records.len());
        for record in records {
            if record.seq <= self.warm_through {
                self.report.records_skipped += 1;
            } else {
                self.report.records_replayed += 1;
                self.report.bytes_replayed += record.len_bytes;
                replay.push(record);
            }
        }
        replay
    }

    /// Decodes what is left of the segment, `bytes` being all of it, and judges its tail.
    pub fn end_segment(
        &mut self,
        mut part: SegmentReplay,
        decoder: SegmentDecoder,
        bytes: &[u8],
        is_last: bool,
    ) -> Result<SegmentPlan, RecoveryError> {
        let scan = decoder.finish(bytes, is_last)?;
        self.report.wal_bytes_scanned += bytes.len() as u64;
        let truncate_to = match scan.tail {
            Tail::Torn {
                offset,
                discarded_bytes,
            } => {
                self.report.torn_tail = Some((scan.header.segment_id, offset, discarded_bytes));
                Some(offset)
            }
            Tail::Clean | Tail::ZeroFill { .. } | Tail::Stale { .. } => None,
        };
        let replay = self.records(&mut part, scan.records);
        // An empty segment still moves the expected sequence on: its header names first_seq.
        let last_seq = part.last_seq.unwrap_or(part.first_seq.saturating_sub(1));
        self.last_seq = Some(last_seq);
        self.report.last_seq = self.report.last_seq.max(last_seq);
        Ok(SegmentPlan {
            replay,
            truncate_to,
            first_seq: part.first_seq,
            bytes: scan.valid_bytes,
        })
    }

    #[must_use]
    pub fn finish(mut self) -> RecoveryReport {
        self.report.last_seq = self.report.last_seq.max(self.warm_through);
        self.report
    }
}
