#![no_main]

#[path = "../src/alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    alloc_bound::check(data.len(), || thermocline::fuzzing::run("wal_replay", data));
});
