//! Warm reads, grouped: every read of the warm tier started in one turn of the event loop
//! shares one read-only IndexedDB transaction, as concurrent writes share one read-write
//! transaction. A transaction per read would cost a round trip through the browser each.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;

use super::Host;
use crate::error::Error;
use crate::idb::{self, IdbError};

/// A warm record's raw bytes, or `None` if the warm tier has no record of the key.
pub(crate) type ReadResult = Result<Option<Vec<u8>>, Error>;

/// Reads waiting for the next read transaction.
#[derive(Debug, Default)]
pub(super) struct Reads {
    queued: Vec<(String, Rc<Slot>)>,
    scheduled: bool,
}

/// Where a grouped read leaves its result for the operation waiting on it.
#[derive(Debug, Default)]
struct Slot(RefCell<Option<ReadResult>>);

impl Host {
    /// Reads the raw record of `key` from the warm tier, together with the other reads of this
    /// turn of the event loop.
    pub(crate) async fn read_warm(self: &Rc<Self>, key: &str) -> ReadResult {
        let slot = Rc::new(Slot::default());
        let schedule = {
            let mut st = self.st.borrow_mut();
            st.reads.queued.push((key.to_owned(), Rc::clone(&slot)));
            !std::mem::replace(&mut st.reads.scheduled, true)
        };
        if schedule {
            let host = Rc::clone(self);
            spawn_local(async move { host.run_reads().await });
        }
        loop {
            if let Some(result) = slot.0.borrow_mut().take() {
                return result;
            }
            self.progress.wait().await;
        }
    }

    /// One transaction for every queued read.
    async fn run_reads(self: Rc<Self>) {
        let (queued, closed) = {
            let mut st = self.st.borrow_mut();
            st.reads.scheduled = false;
            st.counters.read_transactions += u64::from(!st.closed);
            (std::mem::take(&mut st.reads.queued), st.closed)
        };
        let results = if closed {
            queued.iter().map(|_| Err(Error::Closed)).collect()
        } else {
            let keys: Vec<&str> = queued.iter().map(|(k, _)| k.as_str()).collect();
            read_many(&self.db, &keys).await
        };
        for ((_, slot), result) in queued.iter().zip(results) {
            *slot.0.borrow_mut() = Some(result);
        }
        self.progress.notify();
    }
}

/// Reads `keys` in one read-only transaction; a result per key, in order.
pub(super) async fn read_many(db: &web_sys::IdbDatabase, keys: &[&str]) -> Vec<ReadResult> {
    let issued = idb::read(db, &[idb::WARM]).and_then(|tx| {
        let store = idb::store(&tx, idb::WARM)?;
        let requests = idb::issue(&tx, || {
            keys.iter()
                .map(|k| store.get(&JsValue::from_str(k)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok((tx, requests))
    });
    let outcome = match issued {
        Ok((tx, requests)) => idb::committed(&tx).await.map(|()| requests),
        Err(e) => Err(e),
    };
    let requests = match outcome {
        Ok(requests) => requests,
        Err(e) => return keys.iter().map(|_| Err(storage_error(&e))).collect(),
    };
    keys.iter()
        .zip(requests)
        .map(|(key, request)| {
            let value = request
                .result()
                .map_err(|e| storage_error(&IdbError::from_js(&e)))?;
            if value.is_undefined() {
                return Ok(None);
            }
            let bytes: Uint8Array = value.dyn_into().map_err(|_| Error::Corrupt {
                what: format!("warm record of {key:?}"),
                detail: "not a byte array".into(),
            })?;
            Ok(Some(bytes.to_vec()))
        })
        .collect()
}

fn storage_error(e: &IdbError) -> Error {
    Error::Storage {
        op: "read the warm tier",
        detail: e.to_string(),
    }
}
