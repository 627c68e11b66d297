//! Time as the core sees it: milliseconds handed in by the host.
//!
//! The core never reads a clock. Every input that depends on time carries `now`, so a
//! simulation can run a day of idle time in a microsecond and replay it bit for bit.

use core::fmt;

/// A point in time or a duration, in milliseconds. The epoch is the host's business
/// (native hosts use the Unix epoch); the core only ever subtracts two `Millis`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    pub const ZERO: Millis = Millis(0);
    pub const MAX: Millis = Millis(u64::MAX);

    /// Time elapsed since `earlier`, zero when a host clock stepped backwards.
    #[must_use]
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    #[must_use]
    pub fn plus_ms(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
