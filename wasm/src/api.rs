//! The JavaScript API: the `Thermocline` class.
//!
//! Every operation returns a promise, and a bad argument rejects it (never throws), so callers
//! handle every failure in one place. Arguments are checked in [`crate::convert`]; errors are
//! `Error`s with stable names (see [`crate::error`]). The TypeScript declarations are written by
//! hand in [`crate::types`] (wasm-bindgen would type every argument `any`), so each method here
//! skips wasm-bindgen's own.

use std::future::Future;
use std::pin::Pin;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::error::Error;
use crate::store::Store;
use crate::web;

/// Commits `log()` lists when not told how many.
const LOG_DEFAULT: usize = 20;

/// An open store.
#[wasm_bindgen(skip_typescript)]
#[derive(Clone, Debug)]
pub struct Thermocline {
    store: Store,
}

fn promise(f: impl Future<Output = Result<JsValue, Error>> + 'static) -> Promise {
    settle(Box::pin(f))
}

/// One copy of the promise glue for every method: the futures come boxed, so wasm-bindgen's
/// executor plumbing is compiled once instead of once per method (a quarter of the `.wasm`).
fn settle(f: Pin<Box<dyn Future<Output = Result<JsValue, Error>>>>) -> Promise {
    future_to_promise(async move { f.await.map_err(JsValue::from) })
}

#[wasm_bindgen]
impl Thermocline {
    #[wasm_bindgen(skip_typescript)]
    pub fn open(name: JsValue, options: JsValue) -> Promise {
        promise(async move {
            let store = Thermocline::connect(&name, &options).await?;
            Ok(store.into())
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn destroy(name: JsValue, options: JsValue) -> Promise {
        promise(async move {
            let name = store_name(&name)?;
            let (bucket, wait) = convert::destroy_options(&options)?;
            Store::destroy(&name, bucket.as_ref(), wait).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = requestPersistence)]
    pub fn request_persistence() -> Promise {
        promise(async move { Ok(web::request_persistence().await?.into()) })
    }

    #[wasm_bindgen(skip_typescript, getter)]
    pub fn name(&self) -> String {
        self.store.name().to_owned()
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn put(&self, key: JsValue, value: JsValue, options: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            let value = convert::value(&value)?;
            let opts = convert::write_opts(&options, store.default_level())?;
            store.put_with(&key, value, opts).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = putJson)]
    pub fn put_json(&self, key: JsValue, value: JsValue, options: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            let doc = convert::json_document(&key, &value)?;
            let opts = convert::write_opts(&options, store.default_level())?;
            store.put_json_with(&key, &doc, opts).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn get(&self, key: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            Ok(match store.get(&key).await? {
                Some(v) => js_sys::Uint8Array::from(&v[..]).into(),
                None => JsValue::UNDEFINED,
            })
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = getString)]
    pub fn get_string(&self, key: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            match store.get(&key).await? {
                Some(v) => convert::text(&key, &v),
                None => Ok(JsValue::UNDEFINED),
            }
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = getJson)]
    pub fn get_json(&self, key: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            match store.get(&key).await? {
                Some(v) => convert::parse_json(&key, &v),
                None => Ok(JsValue::UNDEFINED),
            }
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn delete(&self, key: JsValue, options: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            let opts = convert::write_opts(&options, store.default_level())?;
            store.delete_with(&key, opts).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn list(&self, prefix: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let prefix = convert::prefix(&prefix)?;
            let keys: Array = store
                .list(&prefix)
                .await?
                .iter()
                .map(|k| JsValue::from_str(k))
                .collect();
            Ok(keys.into())
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn batch(&self, ops: JsValue, options: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let batch = convert::batch(&ops)?;
            let opts = convert::write_opts(&options, store.default_level())?;
            store.commit_with(batch, opts).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn sync(&self, level: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let level = convert::level(&level, store.default_level())?;
            store.sync(level).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn flush(&self) -> Promise {
        let store = self.store.clone();
        promise(async move {
            store.flush().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = runTimers)]
    pub fn run_timers(&self) -> Promise {
        let store = self.store.clone();
        promise(async move {
            store.run_timers().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn history(&self, key: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            Ok(convert::versions(&store.history(&key).await?))
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = getAt)]
    pub fn get_at(&self, key: JsValue, rev: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let key = convert::key(&key)?;
            let rev = convert::rev(&rev)?;
            Ok(match store.get_at(&key, &rev).await? {
                Some(v) => js_sys::Uint8Array::from(&v[..]).into(),
                None => JsValue::UNDEFINED,
            })
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn log(&self, n: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let n = convert::count(&n, LOG_DEFAULT)?;
            Ok(convert::log_entries(&store.log(n).await?))
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = exportGit)]
    pub fn export_git(&self) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let bundle = store.export_git().await?;
            Ok(js_sys::Uint8Array::from(&bundle[..]).into())
        })
    }

    #[wasm_bindgen(skip_typescript, js_name = importGit)]
    pub fn import_git(&self, bytes: JsValue) -> Promise {
        let store = self.store.clone();
        promise(async move {
            let bytes = convert::bytes(&bytes, "importGit")?;
            Ok(convert::import_report(&store.import_git(&bytes).await?))
        })
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn stats(&self) -> Promise {
        let store = self.store.clone();
        promise(async move { Ok(convert::stats(&store.stats().await?)) })
    }

    #[wasm_bindgen(skip_typescript, js_name = keyInfo)]
    pub fn key_info(&self, key: JsValue) -> JsValue {
        key.as_string()
            .and_then(|k| self.store.key_info(&k))
            .map_or(JsValue::UNDEFINED, |i| convert::key_info(&i))
    }

    #[wasm_bindgen(skip_typescript)]
    pub fn close(&self) -> Promise {
        let store = self.store.clone();
        promise(async move {
            store.close().await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl Thermocline {
    /// What `Thermocline.open` does, for Rust callers (tests) that want the object itself.
    pub async fn connect(name: &JsValue, options: &JsValue) -> Result<Thermocline, Error> {
        let name = store_name(name)?;
        let options = convert::options(options)?;
        Ok(Thermocline {
            store: Store::open(&name, options).await?,
        })
    }

    /// The Rust store behind this object.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }
}

fn store_name(v: &JsValue) -> Result<String, Error> {
    v.as_string()
        .ok_or_else(|| Error::InvalidArgument("a store name must be a string".into()))
}
