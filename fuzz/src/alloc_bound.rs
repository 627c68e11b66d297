//! A counting allocator: a target fails when decoding allocates far more than its input, the
//! bound the decoders promise (lengths read from disk are checked before they are trusted).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Bytes a decoder may allocate beyond its input's size times this factor.
const SLACK_BYTES: usize = 1 << 20;
const FACTOR: usize = 8;

/// Runs `f` and panics when its peak allocation passes `FACTOR * input + SLACK_BYTES`.
pub fn check(input_len: usize, f: impl FnOnce()) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(peak <= FACTOR * input_len + SLACK_BYTES, "allocated {peak} bytes for {input_len} bytes of input");
}
