//! The browser's global objects the host needs: the IndexedDB factory (of the page or of a
//! Storage Bucket), the Web Locks API, storage persistence, and timers.
//!
//! Everything is looked up on `globalThis`, never on `window`, so the store works in a
//! dedicated or shared worker as well as in a page. The bindings that web-sys keeps behind its
//! unstable-API flag (Web Locks, Storage Buckets) are declared here, each with only the members
//! used.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::IdbFactory;

use crate::error::Error;
use crate::idb::IdbError;

#[wasm_bindgen]
extern "C" {
    type LockManager;
    #[wasm_bindgen(method, js_name = request)]
    fn request(this: &LockManager, name: &str, options: &Object, callback: &JsValue) -> Promise;

    /// A promise seen through `catch(f)` with a plain function (js-sys takes only a Rust
    /// closure there).
    type Catchable;
    #[wasm_bindgen(method, js_name = catch)]
    fn catch_with(this: &Catchable, f: &Function) -> Promise;

    type StorageBucketManager;
    #[wasm_bindgen(method, js_name = open)]
    fn open(this: &StorageBucketManager, name: &str, options: &Object) -> Promise;

    type StorageBucket;
    #[wasm_bindgen(method, getter, js_name = indexedDB)]
    fn indexed_db(this: &StorageBucket) -> IdbFactory;
    #[wasm_bindgen(method)]
    fn persisted(this: &StorageBucket) -> Promise;

    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
}

/// Where a store's database lives: the origin's default storage, or a Storage Bucket.
#[derive(Clone, Debug)]
pub(crate) enum Storage {
    Default,
    Bucket(StorageBucketHandle),
}

/// An opened Storage Bucket.
#[derive(Clone, Debug)]
pub(crate) struct StorageBucketHandle {
    pub name: String,
    bucket: JsValue,
}

/// What to ask of a Storage Bucket when it is created (Chromium's Storage Buckets API).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketOptions {
    /// The bucket's name: lowercase letters, digits, `_` and `-`, at most 64 characters.
    pub name: String,
    /// Writes that would take the bucket past this many bytes fail with
    /// `QuotaExceededError`. Only applied when the bucket is created.
    pub quota_bytes: Option<u64>,
    /// Ask the browser not to evict the bucket under storage pressure.
    pub persisted: bool,
}

fn global() -> Object {
    js_sys::global()
}

fn get(target: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn navigator() -> Option<JsValue> {
    get(&global(), "navigator")
}

impl Storage {
    /// Opens `options`' bucket, or the default storage for `None`.
    pub(crate) async fn open(options: Option<&BucketOptions>) -> Result<Storage, Error> {
        let Some(options) = options else {
            return Ok(Storage::Default);
        };
        let manager = navigator()
            .and_then(|n| get(&n, "storageBuckets"))
            .ok_or_else(|| Error::Unsupported("the Storage Buckets API".into()))?;
        let manager: StorageBucketManager = manager.unchecked_into();
        let request = Object::new();
        if let Some(quota) = options.quota_bytes {
            set(&request, "quota", &(quota as f64).into())?;
        }
        if options.persisted {
            set(&request, "persisted", &true.into())?;
        }
        let bucket = JsFuture::from(manager.open(&options.name, &request))
            .await
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "cannot open storage bucket {:?}: {}",
                    options.name,
                    IdbError::from_js(&e)
                ))
            })?;
        Ok(Storage::Bucket(StorageBucketHandle {
            name: options.name.clone(),
            bucket,
        }))
    }

    /// The IndexedDB factory of this storage.
    pub(crate) fn factory(&self) -> Result<IdbFactory, Error> {
        match self {
            Storage::Default => get(&global(), "indexedDB")
                .map(JsCast::unchecked_into)
                .ok_or_else(|| Error::Unsupported("IndexedDB".into())),
            Storage::Bucket(b) => Ok(b.bucket.unchecked_ref::<StorageBucket>().indexed_db()),
        }
    }

    /// A name that tells stores in different buckets apart (locks are per origin).
    pub(crate) fn scope(&self) -> &str {
        match self {
            Storage::Default => "",
            Storage::Bucket(b) => &b.name,
        }
    }

    /// Whether the browser promised not to evict this storage. `false` where unknown.
    pub(crate) async fn persisted(&self) -> bool {
        let promise = match self {
            Storage::Default => navigator().and_then(|n| get(&n, "storage")).and_then(|s| {
                let f = get(&s, "persisted")?.dyn_into::<Function>().ok()?;
                f.call0(&s).ok()?.dyn_into::<Promise>().ok()
            }),
            Storage::Bucket(b) => Some(b.bucket.unchecked_ref::<StorageBucket>().persisted()),
        };
        match promise {
            Some(p) => JsFuture::from(p)
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            None => false,
        }
    }
}

/// Asks the browser to keep this origin's storage under pressure (`navigator.storage.persist()`).
pub(crate) async fn request_persistence() -> Result<bool, Error> {
    let storage = navigator()
        .and_then(|n| get(&n, "storage"))
        .ok_or_else(|| Error::Unsupported("the Storage API".into()))?;
    let persist = get(&storage, "persist")
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| Error::Unsupported("navigator.storage.persist".into()))?;
    let promise = persist
        .call0(&storage)
        .ok()
        .and_then(|p| p.dyn_into::<Promise>().ok())
        .ok_or_else(|| Error::Unsupported("navigator.storage.persist".into()))?;
    let granted = JsFuture::from(promise).await.map_err(|e| Error::Storage {
        op: "persist storage",
        detail: IdbError::from_js(&e).to_string(),
    })?;
    Ok(granted.as_bool().unwrap_or(false))
}

fn set(target: &Object, name: &str, value: &JsValue) -> Result<(), Error> {
    Reflect::set(target, &JsValue::from_str(name), value)
        .map(drop)
        .map_err(|e| Error::InvalidArgument(IdbError::from_js(&e).to_string()))
}

/// An exclusive Web Lock, held until [`HeldLock::release`] or until the page goes away (the
/// browser releases a dead page's locks, so a crashed tab never leaves a store locked).
#[derive(Debug)]
pub(crate) struct HeldLock {
    release: Option<Function>,
    /// Settles once the lock manager let go of the lock.
    released: Promise,
}

impl HeldLock {
    /// Takes the lock `name`; `wait`: queue for it instead of giving up when it is held.
    /// Returns `None` when it is held elsewhere and `wait` is false.
    pub(crate) async fn acquire(name: &str, wait: bool) -> Result<Option<HeldLock>, Error> {
        let locks = navigator().and_then(|n| get(&n, "locks")).ok_or_else(|| {
            Error::Unsupported("the Web Locks API (it needs a secure context: https)".into())
        })?;
        let locks: LockManager = locks.unchecked_into();
        let mut release = None;
        // The lock is held for as long as this promise is pending.
        let held = Promise::new(&mut |resolve, _| release = Some(resolve));
        let mut settle = None;
        let granted = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
        let (grant, refuse) = settle.ok_or_else(|| Error::Unsupported("Promise".into()))?;
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            let got = !lock.is_null() && !lock.is_undefined();
            let _ = grant.call1(&JsValue::NULL, &got.into());
            if got { held.into() } else { JsValue::UNDEFINED }
        });
        let options = Object::new();
        set(&options, "mode", &"exclusive".into())?;
        set(&options, "ifAvailable", &(!wait).into())?;
        let request = locks.request(name, &options, &callback);
        // A refused request (a bad name) never calls back: settle through the rejection.
        let released = request.unchecked_ref::<Catchable>().catch_with(&refuse);
        let got = JsFuture::from(granted).await.map_err(|e| Error::Storage {
            op: "take the store's Web Lock",
            detail: IdbError::from_js(&e).to_string(),
        })?;
        Ok((got.as_bool() == Some(true)).then_some(HeldLock { release, released }))
    }

    /// Lets go of the lock and waits until the lock manager has: a store closed and reopened
    /// in the same turn must not find its own lock still held.
    pub(crate) async fn release(mut self) {
        self.let_go();
        let _ = JsFuture::from(self.released.clone()).await;
    }

    fn let_go(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.let_go();
    }
}

/// A pending `setTimeout`, cleared when dropped.
#[derive(Debug)]
pub(crate) struct Timeout {
    handle: JsValue,
    /// The callback must outlive the timer: a dropped closure called by JS throws.
    _callback: Closure<dyn FnMut()>,
    /// When it fires, in wall-clock milliseconds (to tell whether a new deadline is earlier).
    pub fires_at: f64,
}

impl Timeout {
    pub(crate) fn new(delay_ms: f64, callback: Closure<dyn FnMut()>) -> Timeout {
        let handle = set_timeout(callback.as_ref().unchecked_ref(), delay_ms);
        Timeout {
            handle,
            _callback: callback,
            fires_at: js_sys::Date::now() + delay_ms,
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        clear_timeout(&self.handle);
    }
}
