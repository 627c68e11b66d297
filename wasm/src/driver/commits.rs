//! Cold commits: the engine's `CommitCold` carried out on IndexedDB.
//!
//! A commit reads the batch's values from the warm tier and the trees along their paths (a
//! read transaction per tree level), lets the core build the objects, and writes them with the
//! ref in one strict transaction (see [`crate::cold`]). A value the warm tier replaced since
//! the batch was made is committed as it is now: the commit may be ahead of its
//! `through_seq`, never behind, and the newer write is in the next commit anyway.

use std::rc::Rc;

use thermocline_core::Key;
use thermocline_core::cold::commit::{build_commit, dirs_along};
use thermocline_core::cold::objects::{Oid, Signature};
use thermocline_core::io::{ColdBatch, Completion, HostOp};
use wasm_bindgen_futures::spawn_local;

use super::{Host, State};
use crate::cold::{self, Reader};
use crate::error::Error;
use crate::idb::{self, Durability, IdbError};
use crate::warm;

impl Host {
    pub(super) fn start_cold_commit(self: &Rc<Self>, st: &mut State, batch: ColdBatch) {
        st.counters.write_transactions += 1;
        st.commit_in_flight = true;
        let generation = st.generation;
        let host = Rc::clone(self);
        spawn_local(async move {
            match host.cold_commit(generation, &batch).await {
                Ok(Some(commit)) => host.cold_committed(generation, batch.id, commit),
                Ok(None) => {}
                Err(e) => host.failed(generation, HostOp::ColdCommit, &e),
            }
        });
    }

    /// Builds and writes the commit; `None` when the engine was replaced meanwhile.
    async fn cold_commit(
        self: &Rc<Self>,
        generation: u64,
        batch: &ColdBatch,
    ) -> Result<Option<Oid>, IdbError> {
        let as_idb = |e: Error| IdbError {
            name: e.name().into(),
            message: e.to_string(),
        };
        let reading: Vec<&str> = batch
            .entries
            .iter()
            .filter(|e| e.warm.is_some())
            .map(|e| e.key.as_str())
            .collect();
        let records = super::reads::read_many(&self.db, &reading).await;
        // In the order of `reading`: the entries with a warm record.
        let mut values = Vec::with_capacity(reading.len());
        for (key, record) in reading.iter().zip(records) {
            let value = match record.map_err(as_idb)? {
                Some(bytes) => warm::decode(key, &bytes)
                    .map_err(|e| IdbError {
                        name: "CorruptError".into(),
                        message: format!("warm record of {key:?}: {e}"),
                    })?
                    .1
                    .map(<[u8]>::to_vec),
                None => None,
            };
            values.push(value);
        }
        let mut values = values.into_iter();
        let changes: Vec<(Key, Option<Vec<u8>>)> = batch
            .entries
            .iter()
            .map(|e| {
                let value = if e.warm.is_some() {
                    values.next().flatten()
                } else {
                    None
                };
                (e.key.clone(), value)
            })
            .collect();

        let mut reader = Reader::new(&self.db);
        let tip = reader.tip().await.map_err(as_idb)?;
        if let Some(tip) = &tip {
            let dirs = dirs_along(changes.iter().map(|(k, _)| k));
            reader
                .fetch_dirs(tip.info.tree, &dirs)
                .await
                .map_err(as_idb)?;
        }
        let signature = Signature {
            name: self.author.0.clone(),
            email: self.author.1.clone(),
            time_secs: i64::try_from(self.now().0 / 1000).unwrap_or(i64::MAX),
        };
        let built = build_commit(
            &changes,
            tip.as_ref().map(|t| (t.commit, t.info.tree)),
            &signature,
            batch.through_seq,
            &mut |oid| reader.cached_tree(oid),
        )
        .map_err(as_idb)?;

        // The tombstones this commit makes unnecessary, taken as of the transactions created so
        // far: IndexedDB runs read-write transactions over the same stores in creation order,
        // so a flush created later (which may write the key again) runs after this one.
        let done = {
            let mut st = self.st.borrow_mut();
            if st.generation != generation || st.closed {
                return Ok(None);
            }
            let through = batch.through_seq;
            let dropped: Vec<Key> = st
                .tombstones
                .iter()
                .filter(|(_, seq)| **seq <= through)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &dropped {
                st.tombstones.remove(k);
            }
            let tx = idb::write(
                &self.db,
                &[idb::GIT, idb::GIT_SIZES, idb::META, idb::WARM],
                Durability::Strict,
            )?;
            cold::issue_commit(&tx, &built.objects, &built.commit, &dropped)?;
            idb::committed(&tx)
        };
        done.await?;
        Ok(Some(built.commit))
    }

    fn cold_committed(self: &Rc<Self>, generation: u64, id: u64, commit: Oid) {
        {
            let mut st = self.st.borrow_mut();
            if st.generation != generation {
                return;
            }
            st.commit_in_flight = false;
            let now = self.now();
            st.engine
                .handle_completion(now, Completion::ColdCommitted { id, commit });
        }
        self.drain();
    }
}
