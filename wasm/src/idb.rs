//! A thin layer over IndexedDB: open a store's database, start transactions with a durability
//! hint, and await their outcome.
//!
//! Two habits keep this small and safe. Event handlers are set to a promise's own `resolve` and
//! `reject` functions, so no Rust closure has to outlive an event that may never fire. And every
//! request of a transaction is issued synchronously before the first `await`: nothing relies on
//! a transaction staying active across microtasks, which browsers have handled differently.

use std::fmt;
use std::future::Future;

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DomException, IdbDatabase, IdbFactory, IdbObjectStore, IdbTransaction};

/// WAL chunks, keyed `[segment, offset]`.
pub(crate) const WAL: &str = "wal";
/// Warm records, keyed by the store's key.
pub(crate) const WARM: &str = "warm";
/// Small named values: the format version, the warm tier's `through_seq`, the git ref.
pub(crate) const META: &str = "meta";
/// Git objects of the cold tier, keyed by their hex id: `kind u8 | raw object data`.
pub(crate) const GIT: &str = "git";
/// The size of each blob in `git`, keyed by its id: what open needs for keys found only in git,
/// without reading their values (IndexedDB cannot tell a value's length without reading it).
pub(crate) const GIT_SIZES: &str = "git_sizes";
pub(crate) const ALL_STORES: [&str; 5] = [WAL, WARM, META, GIT, GIT_SIZES];

/// The `meta` key of the format version of everything stored, written when the database is
/// created; open refuses a database written by a newer format.
pub(crate) const FORMAT_KEY: &str = "format";
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The database schema version. Object stores missing from a database are created when it is
/// opened with a newer version (version 2 added `git` and `git_sizes`); the byte formats inside
/// them carry their own versions.
const SCHEMA_VERSION: u32 = 2;

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase` seen through the one method whose options argument web-sys offers only
    /// behind its unstable-API flag: `transaction(stores, mode, { durability })`.
    type DatabaseWithOptions;
    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction_with_options(
        this: &DatabaseWithOptions,
        stores: &Array,
        mode: &str,
        options: &Object,
    ) -> Result<IdbTransaction, JsValue>;
}

/// How hard a read-write transaction's commit must work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Committed once the browser handed the changes to the OS (the `os` level).
    Relaxed,
    /// Committed once the changes are on stable storage (the `fsync` level; Chrome's default
    /// is relaxed, so it must be asked for).
    Strict,
}

/// An IndexedDB failure: the `DOMException`'s name and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdbError {
    pub name: String,
    pub message: String,
}

impl IdbError {
    pub(crate) fn from_js(value: &JsValue) -> IdbError {
        if let Some(e) = value.dyn_ref::<DomException>() {
            return IdbError {
                name: e.name(),
                message: e.message(),
            };
        }
        if let Some(e) = value.dyn_ref::<js_sys::Error>() {
            return IdbError {
                name: e.name().into(),
                message: e.message().into(),
            };
        }
        IdbError {
            name: "Error".into(),
            message: value.as_string().unwrap_or_else(|| format!("{value:?}")),
        }
    }

    fn aborted() -> IdbError {
        IdbError {
            name: "AbortError".into(),
            message: "the transaction was aborted".into(),
        }
    }

    /// The browser refused the write for lack of space (quota or disk).
    #[must_use]
    pub(crate) fn is_quota(&self) -> bool {
        self.name == "QuotaExceededError"
    }
}

impl fmt::Display for IdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}: {}", self.name, self.message)
        }
    }
}

fn err(value: JsValue) -> IdbError {
    IdbError::from_js(&value)
}

/// Opens (creating or upgrading if needed) the database `name` with its object stores.
pub(crate) async fn open(factory: &IdbFactory, name: &str) -> Result<IdbDatabase, IdbError> {
    let request = factory.open_with_u32(name, SCHEMA_VERSION).map_err(err)?;
    let upgrading = request.clone();
    // The only closure here: the schema must be created inside the `upgradeneeded` event.
    let upgrade = Closure::<dyn FnMut()>::new(move || {
        let Ok(db) = upgrading.result().and_then(|r| r.dyn_into::<IdbDatabase>()) else {
            return;
        };
        let created = ALL_STORES.iter().try_for_each(|&name| {
            if db.object_store_names().contains(name) {
                return Ok(());
            }
            let store = db.create_object_store(name)?;
            if name == META {
                store.put_with_key(&FORMAT_VERSION.into(), &FORMAT_KEY.into())?;
            }
            Ok::<(), JsValue>(())
        });
        if created.is_err() {
            // Leaves no half-made schema behind: the open fails with the abort's reason.
            if let Some(tx) = upgrading.transaction() {
                let _ = tx.abort();
            }
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let outcome = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let result = JsFuture::from(outcome).await;
    request.set_onupgradeneeded(None);
    drop(upgrade);
    match result {
        Ok(_) => request
            .result()
            .map_err(err)?
            .dyn_into::<IdbDatabase>()
            .map_err(err),
        Err(e) => Err(request
            .error()
            .ok()
            .flatten()
            .map_or_else(|| err(e), |d| err(d.into()))),
    }
}

/// Deletes the database `name`.
pub(crate) async fn delete(factory: &IdbFactory, name: &str) -> Result<(), IdbError> {
    let request = factory.delete_database(name).map_err(err)?;
    let outcome = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    match JsFuture::from(outcome).await {
        Ok(_) => Ok(()),
        Err(e) => Err(request
            .error()
            .ok()
            .flatten()
            .map_or_else(|| err(e), |d| err(d.into()))),
    }
}

/// A read-only transaction over `stores`.
pub(crate) fn read(db: &IdbDatabase, stores: &[&str]) -> Result<IdbTransaction, IdbError> {
    let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
    db.transaction_with_str_sequence(&names).map_err(err)
}

/// A read-write transaction over `stores`.
pub(crate) fn write(
    db: &IdbDatabase,
    stores: &[&str],
    durability: Durability,
) -> Result<IdbTransaction, IdbError> {
    let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
    let options = Object::new();
    let hint = match durability {
        Durability::Relaxed => "relaxed",
        Durability::Strict => "strict",
    };
    Reflect::set(&options, &"durability".into(), &hint.into()).map_err(err)?;
    db.unchecked_ref::<DatabaseWithOptions>()
        .transaction_with_options(&names, "readwrite", &options)
        .map_err(err)
}

pub(crate) fn store(tx: &IdbTransaction, name: &str) -> Result<IdbObjectStore, IdbError> {
    tx.object_store(name).map_err(err)
}

/// Resolves when `tx` commits, or fails with the reason it aborted. The handlers are set now,
/// before the caller yields, so an outcome cannot be missed.
pub(crate) fn committed(tx: &IdbTransaction) -> impl Future<Output = Result<(), IdbError>> + use<> {
    let outcome = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
    });
    let tx = tx.clone();
    async move {
        match JsFuture::from(outcome).await {
            Ok(_) => Ok(()),
            Err(_) => Err(tx.error().map_or_else(IdbError::aborted, |d| err(d.into()))),
        }
    }
}

/// Issues `f`'s requests in a new transaction and aborts it if issuing fails part-way, so a
/// half-issued write never commits.
pub(crate) fn issue<T>(
    tx: &IdbTransaction,
    f: impl FnOnce() -> Result<T, JsValue>,
) -> Result<T, IdbError> {
    f().map_err(|e| {
        let _ = tx.abort();
        err(e)
    })
}

/// The `wal` key of the durability watermark: every record up to it is strictly durable. A
/// number, so it sorts before every `[segment, offset]` chunk key (IndexedDB orders numbers
/// before arrays) and no chunk range includes it.
pub(crate) const DURABLE_KEY: f64 = -1.0;

/// A WAL chunk's key: `[segment, offset]`. Both stay far below 2^53, so numbers are exact.
pub(crate) fn chunk_key(segment: u64, offset: u64) -> JsValue {
    Array::of2(&(segment as f64).into(), &(offset as f64).into()).into()
}

/// Every chunk key of `segment`.
pub(crate) fn segment_range(segment: u64) -> Result<web_sys::IdbKeyRange, IdbError> {
    let lower = chunk_key(segment, 0);
    let upper: JsValue = Array::of2(&(segment as f64).into(), &f64::INFINITY.into()).into();
    web_sys::IdbKeyRange::bound(&lower, &upper).map_err(err)
}

/// Every chunk key, and nothing else of the `wal` store.
pub(crate) fn all_chunks() -> Result<web_sys::IdbKeyRange, IdbError> {
    let lower = chunk_key(0, 0);
    let upper: JsValue = Array::of2(&f64::INFINITY.into(), &f64::INFINITY.into()).into();
    web_sys::IdbKeyRange::bound(&lower, &upper).map_err(err)
}
