//! A deterministic simulation of the core on a simulated disk.
//!
//! The engine runs unchanged; [`host::SimHost`] carries out its actions on in-memory "files"
//! that keep two images each, what was written (`live`) and what a power cut would leave
//! (`durable`), in the manner of redb's crash test and TigerBeetle's simulated storage. A
//! workload ([`workload`]) is generated from one seed; [`check`] replays it, cuts it at every
//! host operation, crashes (process crash, power cut, power cut with a torn or reordered
//! unsynced tail), recovers, and compares the store with a reference model ([`model`]): every
//! write acknowledged at a level that survives the crash is there, and the store equals the
//! model after some prefix of the writes (no holes, no half transaction, no resurrected delete).

pub mod check;
pub mod disk;
pub mod host;
pub mod model;
pub mod rng;
pub mod workload;
