//! Carrying the engine's I/O out as IndexedDB transactions, and reporting their outcome.
//!
//! WAL transactions run one at a time (see [`crate::wal_log`]); a warm flush is one strict
//! transaction holding the batch and the new `through_seq`. Each completes in a spawned task
//! that reports to the engine, unless the engine was replaced meanwhile (its `generation`).

use std::rc::Rc;

use thermocline_core::io::{Completion, FailureClass, FlushBatch, HostOp, WarmLoc};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;

use super::{Host, State};
use crate::idb::{self, Durability, IdbError};
use crate::recovery;
use crate::wal_log::{Txn, WalOp};
use crate::warm;

impl Host {
    /// Runs one WAL transaction; its outcome reaches the engine from a spawned task.
    pub(super) fn start_wal_txn(self: &Rc<Self>, st: &mut State, txn: Txn) {
        st.counters.write_transactions += 1;
        let durability = if txn.strict {
            Durability::Strict
        } else {
            Durability::Relaxed
        };
        let generation = st.generation;
        let op = txn.op;
        let started = idb::write(&self.db, &[idb::WAL], durability).and_then(|tx| {
            let store = idb::store(&tx, idb::WAL)?;
            idb::issue(&tx, || {
                for o in &txn.ops {
                    match o {
                        WalOp::Put(c) => {
                            let bytes = js_sys::Uint8Array::from(&c.bytes[..]);
                            store.put_with_key(&bytes, &idb::chunk_key(c.segment, c.offset))?;
                        }
                        WalOp::DeleteSegment(s) => {
                            let range = idb::segment_range(*s)
                                .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
                            store.delete(&range)?;
                        }
                        WalOp::Durable(seq) => {
                            store.put_with_key(&(*seq as f64).into(), &idb::DURABLE_KEY.into())?;
                        }
                    }
                }
                Ok(())
            })?;
            Ok(idb::committed(&tx))
        });
        let host = Rc::clone(self);
        match started {
            Ok(done) => spawn_local(async move {
                match done.await {
                    Ok(()) => host.wal_committed(generation),
                    Err(e) => host.failed(generation, op, &e),
                }
            }),
            Err(e) => spawn_local(async move { host.failed(generation, op, &e) }),
        }
    }

    fn wal_committed(self: &Rc<Self>, generation: u64) {
        {
            let mut st = self.st.borrow_mut();
            if st.generation != generation {
                return;
            }
            st.started = true;
            let now = self.now();
            for done in st.wal.committed() {
                st.engine.handle_completion(now, done);
            }
        }
        self.drain();
    }

    /// Writes a write-behind batch and its `through_seq` in one strict transaction.
    pub(super) fn start_warm_flush(self: &Rc<Self>, st: &mut State, batch: FlushBatch) {
        st.counters.write_transactions += 1;
        st.warm_in_flight = true;
        let generation = st.generation;
        let mut locations = Vec::with_capacity(batch.entries.len());
        // With the git cold tier a deletion stays as a tombstone until a commit records it.
        let keep_tombstones = self.config.cold.is_some();
        let tombstones = &mut st.tombstones;
        let started =
            idb::write(&self.db, &[idb::WARM, idb::META], Durability::Strict).and_then(|tx| {
                let store = idb::store(&tx, idb::WARM)?;
                let meta = idb::store(&tx, idb::META)?;
                idb::issue(&tx, || {
                    for e in &batch.entries {
                        let key = JsValue::from_str(e.key.as_str());
                        match &e.value {
                            Some(v) => {
                                let loc = warm::location(&e.key, e.seq, v.len())
                                    .map_err(|e| js_sys::Error::new(&e.to_string()))?;
                                let record = warm::encode(e.key.as_str(), e.seq, v);
                                store.put_with_key(&js_sys::Uint8Array::from(&record[..]), &key)?;
                                tombstones.remove(&e.key);
                                locations.push(Some(loc));
                            }
                            None if keep_tombstones => {
                                let record = warm::encode_tombstone(e.key.as_str(), e.seq);
                                store.put_with_key(&js_sys::Uint8Array::from(&record[..]), &key)?;
                                tombstones.insert(e.key.clone(), e.seq);
                                locations.push(None);
                            }
                            None => {
                                store.delete(&key)?;
                                locations.push(None);
                            }
                        }
                    }
                    meta.put_with_key(
                        &(batch.through_seq as f64).into(),
                        &recovery::THROUGH_SEQ_KEY.into(),
                    )?;
                    Ok(())
                })?;
                Ok(idb::committed(&tx))
            });
        let host = Rc::clone(self);
        match started {
            Ok(done) => spawn_local(async move {
                match done.await {
                    Ok(()) => host.warm_flushed(generation, &batch, locations),
                    Err(e) => host.failed(generation, HostOp::WarmFlush, &e),
                }
            }),
            Err(e) => spawn_local(async move { host.failed(generation, HostOp::WarmFlush, &e) }),
        }
    }

    fn warm_flushed(
        self: &Rc<Self>,
        generation: u64,
        batch: &FlushBatch,
        locations: Vec<Option<WarmLoc>>,
    ) {
        {
            let mut st = self.st.borrow_mut();
            if st.generation != generation {
                return;
            }
            st.warm_in_flight = false;
            st.warm_flushes += 1;
            // The records replaced are the ones the key directory still names.
            let mut bytes = st.warm_bytes;
            for (e, loc) in batch.entries.iter().zip(&locations) {
                let old = st.engine.key_info(&e.key).and_then(|i| i.meta.warm);
                bytes = bytes.saturating_sub(old.map_or(0, |l| u64::from(l.len)));
                bytes += loc.map_or(0, |l| u64::from(l.len));
            }
            st.warm_bytes = bytes;
            let now = self.now();
            st.engine.handle_completion(
                now,
                Completion::WarmFlushed {
                    id: batch.id,
                    locations,
                    segment_bytes: vec![(warm::SEGMENT, bytes)],
                },
            );
        }
        self.drain();
    }

    /// A transaction of engine `generation` failed.
    pub(super) fn failed(self: &Rc<Self>, generation: u64, op: HostOp, e: &IdbError) {
        let recover = {
            let mut st = self.st.borrow_mut();
            if st.generation != generation {
                return;
            }
            let class = if e.is_quota() {
                st.counters.quota_errors += 1;
                FailureClass::NoSpace
            } else {
                FailureClass::Io
            };
            st.failure.get_or_insert_with(|| format!("{op:?}: {e}"));
            let now = self.now();
            st.engine
                .handle_completion(now, Completion::Failed { op, class });
            st.timer = None;
            // An engine whose very start failed for lack of space is not rebuilt again at once
            // (that could loop while the quota stays full); the next write tries.
            let recover = class == FailureClass::NoSpace && st.started && !st.closed;
            // Claimed now, before anyone waiting is woken: reads and writes from here on wait
            // for the rebuilt engine instead of seeing the refused writes in memory.
            st.recovering |= recover;
            recover
        };
        self.progress.notify();
        if recover {
            let host = Rc::clone(self);
            spawn_local(async move {
                let _ = host.rebuild(super::rebuild::Rebuild::AfterQuota).await;
            });
        }
    }
}
