//! Tier policy as pure functions.
//!
//! Mechanism (moving bytes) lives in the engine and the hosts; the decisions live here, as
//! functions of plain numbers and `now`, so each rule is a table in a test. Nothing in this
//! module mutates anything or reads a clock.

use crate::config::TierConfig;
use crate::time::Millis;

/// Access frequency is kept as a decayed hit count in 1/16ths, halved for every hour since
/// the last access: a key read 10 times an hour ago weighs like one read 5 times just now.
pub const HIT_HALF_LIFE_MS: u64 = 60 * 60 * 1000;
const HIT_ONE: u32 = 16;

/// Decays a hit count by the time elapsed since it was last updated.
///
/// Whole half-lives are a shift; the remaining fraction uses the chord 2^-x ≈ 1 - x/2 on
/// [0, 1), within 9 % of the exact curve, with no floating point (the core runs without libm).
#[must_use]
pub fn decay_hits(hits_x16: u32, elapsed_ms: u64) -> u32 {
    let halvings = elapsed_ms / HIT_HALF_LIFE_MS;
    if halvings >= 32 {
        return 0;
    }
    let shifted = u64::from(hits_x16 >> halvings);
    let rem = elapsed_ms % HIT_HALF_LIFE_MS;
    let decayed = shifted - shifted * rem / (2 * HIT_HALF_LIFE_MS);
    u32::try_from(decayed).unwrap_or(u32::MAX)
}

/// The hit count after one more access at `now`.
#[must_use]
pub fn record_hit(hits_x16: u32, last_access: Millis, now: Millis) -> u32 {
    decay_hits(hits_x16, now.since(last_access)).saturating_add(HIT_ONE)
}

/// Decayed hits as of `now`, in whole hits: the "hits per hour" the thresholds speak of.
#[must_use]
pub fn decayed_hits(hits_x16: u32, last_access: Millis, now: Millis) -> u32 {
    decay_hits(hits_x16, now.since(last_access)) / HIT_ONE
}

/// Whether a value read from a lower tier should be put in the hot tier. A value bigger than
/// an eighth of the hot tier would push out many small hot values for one read: it is served
/// but not cached.
#[must_use]
pub fn promote_on_read(value_bytes: u64, hot_capacity_bytes: u64) -> bool {
    value_bytes <= hot_capacity_bytes / 8
}

/// Whether a hot value should leave memory: idle for `hot_idle_ms`, or idle for a quarter of
/// that while its decayed hit count is below `hot_min_hits_per_hour`.
#[must_use]
pub fn demote_hot(last_access: Millis, hits_x16: u32, now: Millis, cfg: &TierConfig) -> bool {
    let idle_ms = now.since(last_access);
    if idle_ms >= cfg.hot_idle_ms {
        return true;
    }
    idle_ms >= cfg.hot_idle_ms / 4
        && decayed_hits(hits_x16, last_access, now) < cfg.hot_min_hits_per_hour
}

/// Whether a warm key should move to the cold tier.
#[must_use]
pub fn demote_warm(last_access: Millis, now: Millis, cfg: &TierConfig) -> bool {
    now.since(last_access) >= cfg.warm_idle_ms
}

/// How many bytes to free when `used` exceeds `capacity`: down to `100 - reserve_pct` percent,
/// so the reserve absorbs the next burst without an eviction per insert. Zero when under.
#[must_use]
pub fn capacity_excess(used_bytes: u64, capacity_bytes: u64, reserve_pct: u8) -> u64 {
    if used_bytes <= capacity_bytes {
        return 0;
    }
    let keep_pct = 100 - u64::from(reserve_pct.min(100));
    let target = capacity_bytes / 100 * keep_pct + capacity_bytes % 100 * keep_pct / 100;
    used_bytes - target
}

/// Usage of one warm segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentUsage {
    pub total_bytes: u64,
    pub live_bytes: u64,
}

/// Picks the sealed warm segment most worth compacting: the one with the most dead bytes among
/// those below `live_pct_below` percent live and with at least `dead_bytes_min` dead bytes.
/// `active` (the segment being appended to) is never picked.
pub fn compaction_candidate(
    segments: impl IntoIterator<Item = (u32, SegmentUsage)>,
    active: Option<u32>,
    live_pct_below: u8,
    dead_bytes_min: u64,
) -> Option<u32> {
    segments
        .into_iter()
        .filter(|(id, _)| Some(*id) != active)
        .filter(|(_, u)| {
            let dead = u.total_bytes.saturating_sub(u.live_bytes);
            dead >= dead_bytes_min
                && u.live_bytes.saturating_mul(100)
                    < u.total_bytes.saturating_mul(u64::from(live_pct_below))
        })
        .max_by_key(|(id, u)| {
            (
                u.total_bytes.saturating_sub(u.live_bytes),
                core::cmp::Reverse(*id),
            )
        })
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = HIT_HALF_LIFE_MS;

    #[test]
    fn hits_halve_every_half_life() {
        assert_eq!(decay_hits(1600, 0), 1600);
        assert_eq!(decay_hits(1600, H), 800);
        assert_eq!(decay_hits(1600, 2 * H), 400);
        assert_eq!(decay_hits(1600, H / 2), 1200); // chord: 1 - 0.25 (exact 0.707)
        assert_eq!(decay_hits(u32::MAX, 40 * H), 0);
        let mut h = 0;
        for i in 0..10 {
            h = record_hit(h, Millis(i * 1000), Millis(i * 1000));
        }
        assert_eq!(decayed_hits(h, Millis(9000), Millis(9000)), 10); // 9 s barely decay
        assert_eq!(decayed_hits(h, Millis(9000), Millis(9000 + H)), 5);
    }

    #[test]
    fn hot_demotion_table() {
        let cfg = TierConfig::default();
        let q = cfg.hot_idle_ms / 4;
        let busy = 10 * 16;
        // (idle ms, hits_x16, demote?)
        let table = [
            (0, 0, false),
            (q - 1, 0, false),
            (q, 0, true),
            (q, busy, false),
            (cfg.hot_idle_ms - 1, busy, false),
            (cfg.hot_idle_ms, busy, true),
        ];
        for (idle, hits, want) in table {
            let now = Millis(10 * H);
            assert_eq!(
                demote_hot(Millis(now.0 - idle), hits, now, &cfg),
                want,
                "idle {idle}"
            );
        }
        assert!(!demote_warm(Millis(0), Millis(cfg.warm_idle_ms - 1), &cfg));
        assert!(demote_warm(Millis(0), Millis(cfg.warm_idle_ms), &cfg));
    }

    #[test]
    fn capacity_keeps_a_reserve() {
        assert_eq!(capacity_excess(90, 100, 10), 0);
        assert_eq!(capacity_excess(100, 100, 10), 0);
        assert_eq!(capacity_excess(101, 100, 10), 11);
        assert_eq!(capacity_excess(101, 100, 0), 1);
        assert_eq!(capacity_excess(2_000, 1_000, 10), 1_100);
        assert_eq!(
            capacity_excess(1_000_000_007, 1_000_000_000, 10),
            100_000_007
        );
        assert!(
            capacity_excess(u64::MAX, u64::MAX - 1, 10) > 0,
            "no overflow near the top"
        );
    }

    #[test]
    fn promotion_refuses_values_that_would_flush_the_cache() {
        assert!(promote_on_read(100, 800));
        assert!(!promote_on_read(101, 800));
    }

    #[test]
    fn compaction_picks_the_most_dead_sealed_segment() {
        let u = |total, live| SegmentUsage {
            total_bytes: total,
            live_bytes: live,
        };
        let segs = [
            (1, u(100, 10)),
            (2, u(1000, 100)),
            (3, u(1000, 900)),
            (4, u(5000, 0)),
        ];
        assert_eq!(compaction_candidate(segs, Some(4), 50, 50), Some(2));
        assert_eq!(compaction_candidate(segs, None, 50, 50), Some(4));
        assert_eq!(compaction_candidate(segs, Some(4), 50, 1000), None);
        assert_eq!(compaction_candidate(segs, Some(4), 5, 50), None);
    }
}
