//! JavaScript values to Rust and back: options objects, keys and values, batch operations,
//! stats.
//!
//! Arguments come from JavaScript, where TypeScript's checks may not have run: every field is
//! type-checked here, numbers must be non-negative safe integers, and an unknown option name is
//! an error (a typo must not silently fall back to a default).

use std::str::FromStr;

use js_sys::{Array, ArrayBuffer, Function, Object, Reflect, Uint8Array};
use thermocline_core::SyncLevel;
use thermocline_core::cache::EvictionPolicy;
use thermocline_core::cold::rev::{LogEntry, Version};
use thermocline_core::config::AutoCommit;
use thermocline_core::engine::{KeyInfo, WriteOpts};
use wasm_bindgen::{JsCast, JsValue};

use crate::cold::ImportReport;
use crate::error::Error;
use crate::idb::IdbError;
use crate::options::{Clock, Options};
use crate::store::BrowserStats;
use crate::web::BucketOptions;
use thermocline_core::Batch;

/// Largest integer a JavaScript number holds exactly.
const SAFE_INTEGER_MAX: f64 = 9_007_199_254_740_991.0;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// An options object's fields, checked against the names it may have.
struct Fields {
    obj: Object,
    what: &'static str,
}

impl Fields {
    /// `None` for `undefined` or `null` (all defaults).
    fn new(v: &JsValue, what: &'static str, allowed: &[&str]) -> Result<Option<Fields>, Error> {
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        if !v.is_object() || v.is_function() || Array::is_array(v) {
            return Err(invalid(format!("{what} must be an object")));
        }
        let obj: Object = v.clone().unchecked_into();
        for name in Object::keys(&obj).iter() {
            let name = name.as_string().unwrap_or_default();
            if !allowed.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "{what} has no option {name:?} (known: {})",
                    allowed.join(", ")
                )));
            }
        }
        Ok(Some(Fields { obj, what }))
    }

    fn get(&self, name: &str) -> Option<JsValue> {
        Reflect::get(&self.obj, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined())
    }

    fn u64(&self, name: &str) -> Result<Option<u64>, Error> {
        self.get(name)
            .map(|v| {
                safe_integer(&v).ok_or_else(|| {
                    invalid(format!(
                        "{}.{name} must be a non-negative integer, got {v:?}",
                        self.what
                    ))
                })
            })
            .transpose()
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        self.get(name)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| invalid(format!("{}.{name} must be a boolean", self.what)))
            })
            .transpose()
    }

    fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.get(name)
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| invalid(format!("{}.{name} must be a string", self.what)))
            })
            .transpose()
    }
}

/// A non-negative integer that a JavaScript number holds exactly.
pub(crate) fn safe_integer(v: &JsValue) -> Option<u64> {
    let n = v.as_f64()?;
    ((0.0..=SAFE_INTEGER_MAX).contains(&n) && n.fract() == 0.0).then_some(n as u64)
}

/// A key argument.
pub(crate) fn key(v: &JsValue) -> Result<String, Error> {
    v.as_string()
        .ok_or_else(|| invalid(format!("a key must be a string, got {}", type_name(v))))
}

/// A prefix argument: a string, or `undefined` for every key.
pub(crate) fn prefix(v: &JsValue) -> Result<String, Error> {
    if v.is_undefined() {
        return Ok(String::new());
    }
    v.as_string()
        .ok_or_else(|| invalid(format!("a prefix must be a string, got {}", type_name(v))))
}

/// A value argument: bytes (`Uint8Array`, `ArrayBuffer`) or a string, stored as UTF-8.
pub(crate) fn value(v: &JsValue) -> Result<Vec<u8>, Error> {
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(b).to_vec());
    }
    Err(invalid(format!(
        "a value must be a Uint8Array, an ArrayBuffer or a string, got {} (use putJson for \
         other values)",
        type_name(v)
    )))
}

/// A sync level name; `undefined` means the store's default.
pub(crate) fn level(v: &JsValue, default: SyncLevel) -> Result<SyncLevel, Error> {
    if v.is_undefined() {
        return Ok(default);
    }
    let name = v.as_string().ok_or_else(|| {
        invalid(format!(
            "a sync level must be a string, got {}",
            type_name(v)
        ))
    })?;
    let level = SyncLevel::from_str(&name).map_err(|e| invalid(format!("{e}, got {name:?}")))?;
    if level == SyncLevel::Push {
        return Err(Error::LevelUnavailable { level });
    }
    Ok(level)
}

/// A write's options: `{ sync?, hotTtlMs? }`.
pub(crate) fn write_opts(v: &JsValue, default: SyncLevel) -> Result<WriteOpts, Error> {
    let Some(f) = Fields::new(v, "write options", &["sync", "hotTtlMs"])? else {
        return Ok(WriteOpts::from(default));
    };
    Ok(WriteOpts {
        level: level(&f.get("sync").unwrap_or(JsValue::UNDEFINED), default)?,
        hot_ttl_ms: f.u64("hotTtlMs")?,
    })
}

const OPTION_NAMES: [&str; 14] = [
    "hotCapacityBytes",
    "eviction",
    "hotTtlMs",
    "hotIdleMs",
    "defaultSync",
    "writeBehind",
    "valueBytesMax",
    "keyBytesMax",
    "waitForLock",
    "clock",
    "storageBucket",
    "batchBytesMax",
    "warmIdleMs",
    "git",
];

/// The options of `Thermocline.open`.
pub(crate) fn options(v: &JsValue) -> Result<Options, Error> {
    let mut o = Options::default();
    let Some(f) = Fields::new(v, "options", &OPTION_NAMES)? else {
        return Ok(o);
    };
    let c = &mut o.config;
    if let Some(n) = f.u64("hotCapacityBytes")? {
        c.cache.capacity_bytes = n;
    }
    if let Some(name) = f.string("eviction")? {
        c.cache.policy = eviction(&name)?;
    }
    c.cache.default_ttl_ms = f.u64("hotTtlMs")?.or(c.cache.default_ttl_ms);
    if let Some(n) = f.u64("hotIdleMs")? {
        c.tiers.hot_idle_ms = n;
    }
    if let Some(n) = f.u64("warmIdleMs")? {
        c.tiers.warm_idle_ms = n;
    }
    if let Some(l) = f.get("defaultSync") {
        c.default_sync = level(&l, c.default_sync)?;
    }
    if let Some(n) = f.u64("valueBytesMax")? {
        c.value_bytes_max = n;
    }
    if let Some(n) = f.u64("batchBytesMax")? {
        c.batch_bytes_max = n;
    }
    if let Some(n) = f.u64("keyBytesMax")? {
        c.key_bytes_max = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(wb) = f.get("writeBehind") {
        write_behind(&wb, &mut o.config.write_behind)?;
    }
    o.wait_for_lock = f.bool("waitForLock")?.unwrap_or(false);
    if let Some(clock) = f.get("clock") {
        let clock: Function = clock
            .dyn_into()
            .map_err(|_| invalid("options.clock must be a function returning milliseconds"))?;
        o.clock = Clock::Js(clock);
    }
    o.bucket = bucket(&f.get("storageBucket").unwrap_or(JsValue::UNDEFINED))?;
    if let Some(g) = f.get("git") {
        git(&g, &mut o)?;
    }
    Ok(o)
}

/// `git: false`, or `{ autoCommit?, commitDebounceMs?, commitMaxAgeMs?, authorName?,
/// authorEmail? }`.
fn git(v: &JsValue, o: &mut Options) -> Result<(), Error> {
    if v.as_bool() == Some(false) {
        o.config.cold = None;
        return Ok(());
    }
    let names = [
        "autoCommit",
        "commitDebounceMs",
        "commitMaxAgeMs",
        "authorName",
        "authorEmail",
    ];
    let Some(f) = Fields::new(v, "options.git", &names)? else {
        return Ok(());
    };
    let cold = o.config.cold.get_or_insert_with(Default::default);
    if let Some(mode) = f.string("autoCommit")? {
        cold.auto_commit = match mode.as_str() {
            "immediate" => AutoCommit::Immediate,
            "debounced" => AutoCommit::Debounced,
            "manual" => AutoCommit::Manual,
            other => {
                return Err(invalid(format!(
                    "options.git.autoCommit must be immediate, debounced or manual, got {other:?}"
                )));
            }
        };
    }
    if let Some(n) = f.u64("commitDebounceMs")? {
        cold.commit_debounce_ms = n;
    }
    if let Some(n) = f.u64("commitMaxAgeMs")? {
        cold.commit_max_age_ms = n;
    }
    if let Some(name) = f.string("authorName")? {
        o.author_name = name;
    }
    if let Some(email) = f.string("authorEmail")? {
        o.author_email = email;
    }
    Ok(())
}

fn write_behind(
    v: &JsValue,
    wb: &mut thermocline_core::config::WriteBehindConfig,
) -> Result<(), Error> {
    let names = [
        "debounceMs",
        "maxAgeMs",
        "flushBytes",
        "flushOps",
        "dirtyBytesMax",
    ];
    let Some(f) = Fields::new(v, "options.writeBehind", &names)? else {
        return Ok(());
    };
    let fields: [(&str, &mut u64); 5] = [
        ("debounceMs", &mut wb.debounce_ms),
        ("maxAgeMs", &mut wb.max_age_ms),
        ("flushBytes", &mut wb.flush_bytes),
        ("flushOps", &mut wb.flush_ops),
        ("dirtyBytesMax", &mut wb.dirty_bytes_max),
    ];
    for (name, slot) in fields {
        if let Some(n) = f.u64(name)? {
            *slot = n;
        }
    }
    Ok(())
}

fn eviction(name: &str) -> Result<EvictionPolicy, Error> {
    match name {
        "s3fifo" => Ok(EvictionPolicy::S3Fifo),
        "lru" => Ok(EvictionPolicy::Lru),
        "lfu" => Ok(EvictionPolicy::Lfu),
        "ttl" => Ok(EvictionPolicy::Ttl),
        other => Err(invalid(format!(
            "options.eviction must be s3fifo, lru, lfu or ttl, got {other:?}"
        ))),
    }
}

/// `storageBucket: { name, quotaBytes?, persisted? }`, shared by `open` and `destroy`.
pub(crate) fn bucket(v: &JsValue) -> Result<Option<BucketOptions>, Error> {
    let Some(f) = Fields::new(
        v,
        "options.storageBucket",
        &["name", "quotaBytes", "persisted"],
    )?
    else {
        return Ok(None);
    };
    let name = f
        .string("name")?
        .ok_or_else(|| invalid("options.storageBucket.name is required"))?;
    Ok(Some(BucketOptions {
        name,
        quota_bytes: f.u64("quotaBytes")?,
        persisted: f.bool("persisted")?.unwrap_or(false),
    }))
}

/// The options of `Thermocline.destroy`: `{ storageBucket?, waitForLock? }`.
pub(crate) fn destroy_options(v: &JsValue) -> Result<(Option<BucketOptions>, bool), Error> {
    let Some(f) = Fields::new(v, "options", &["storageBucket", "waitForLock"])? else {
        return Ok((None, false));
    };
    let bucket = bucket(&f.get("storageBucket").unwrap_or(JsValue::UNDEFINED))?;
    Ok((bucket, f.bool("waitForLock")?.unwrap_or(false)))
}

/// The operations of `batch(ops)`: `{ op: "put", key, value }`, `{ op: "putJson", key,
/// value }`, `{ op: "delete", key }`.
pub(crate) fn batch(v: &JsValue) -> Result<Batch, Error> {
    let ops: &Array = v
        .dyn_ref()
        .ok_or_else(|| invalid("batch takes an array of operations"))?;
    let mut batch = Batch::new();
    for (i, op) in ops.iter().enumerate() {
        let what = |msg: &str| invalid(format!("batch operation {i}: {msg}"));
        let f = Fields::new(&op, "a batch operation", &["op", "key", "value"])?
            .ok_or_else(|| what("must be an object"))?;
        let kind = f.string("op")?.ok_or_else(|| what("op is required"))?;
        let k = key(&f.get("key").unwrap_or(JsValue::UNDEFINED))?;
        match (kind.as_str(), f.get("value")) {
            ("put", Some(v)) => batch.put(&k, value(&v)?)?,
            ("putJson", Some(v)) => batch.put(&k, json_bytes(&k, &v)?)?,
            ("delete", None) => batch.delete(&k)?,
            ("put" | "putJson", None) => return Err(what("value is required")),
            ("delete", Some(_)) => return Err(what("a delete takes no value")),
            (other, _) => {
                return Err(what(&format!(
                    "op must be put, putJson or delete, got {other:?}"
                )));
            }
        };
    }
    Ok(batch)
}

/// A JavaScript value as the JSON the native store writes: `JSON.stringify`, then pretty-printed
/// with sorted keys by `serde_json`.
pub(crate) fn json_document(key: &str, v: &JsValue) -> Result<serde_json::Value, Error> {
    let json_error = |detail: String| Error::Json {
        key: key.to_owned(),
        detail,
    };
    let text =
        js_sys::JSON::stringify(v).map_err(|e| json_error(IdbError::from_js(&e).to_string()))?;
    let text = JsValue::from(text)
        .as_string()
        .ok_or_else(|| json_error(format!("{} cannot be stored as JSON", type_name(v))))?;
    serde_json::from_str(&text).map_err(|e| json_error(e.to_string()))
}

pub(crate) fn json_bytes(key: &str, v: &JsValue) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(&json_document(key, v)?).map_err(|e| Error::Json {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

/// A stored value parsed as JSON (with the browser's own parser).
pub(crate) fn parse_json(key: &str, bytes: &[u8]) -> Result<JsValue, Error> {
    let json_error = |detail: String| Error::Json {
        key: key.to_owned(),
        detail,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| json_error(e.to_string()))?;
    js_sys::JSON::parse(text).map_err(|e| json_error(IdbError::from_js(&e).message))
}

/// A value as a string; bytes that are not UTF-8 are an error, not replaced.
pub(crate) fn text(key: &str, bytes: &[u8]) -> Result<JsValue, Error> {
    std::str::from_utf8(bytes)
        .map(JsValue::from_str)
        .map_err(|e| Error::InvalidArgument(format!("value of {key} is not UTF-8 text: {e}")))
}

/// An object from `(name, value)` pairs.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&obj, &JsValue::from_str(name), value);
    }
    obj.into()
}

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub(crate) fn stats(s: &BrowserStats) -> JsValue {
    let e = &s.engine;
    object(&[
        ("keys", num(e.keys)),
        ("hotKeys", num(e.hot_keys)),
        ("hotBytes", num(e.hot_bytes)),
        ("hotCapacityBytes", num(e.hot_capacity_bytes)),
        ("warmKeys", num(e.warm_keys)),
        ("warmBytes", num(e.warm_live_bytes)),
        ("hitsHot", num(e.hits_hot)),
        ("hitsWarm", num(e.hits_warm)),
        ("misses", num(e.misses)),
        ("evictions", num(e.evictions)),
        ("expirations", num(e.expirations)),
        ("idleDemotions", num(e.idle_demotions)),
        ("promotions", num(e.promotions)),
        ("walBytes", num(e.wal_bytes)),
        ("walSegments", num(e.wal_segments)),
        ("lastSeq", num(e.last_seq)),
        ("syncedSeq", num(e.synced_seq)),
        ("walSyncs", num(e.wal_syncs)),
        ("dirtyKeys", num(e.dirty_keys)),
        ("dirtyBytes", num(e.dirty_bytes)),
        (
            "dirtyOldestAgeMs",
            e.dirty_oldest_age_ms.map_or(JsValue::NULL, num),
        ),
        ("flushes", num(e.flushes)),
        ("coalescedWrites", num(e.coalesced_writes)),
        ("poisoned", e.poisoned.into()),
        ("commits", num(e.commits)),
        ("coldKeys", num(e.cold_keys)),
        ("coldOnlyKeys", num(e.cold_only_keys)),
        ("coldPendingKeys", num(e.cold_pending_keys)),
        ("coldThroughSeq", num(e.cold_through_seq)),
        ("hitsCold", num(e.hits_cold)),
        ("writeTransactions", num(s.host.write_transactions)),
        ("readTransactions", num(s.host.read_transactions)),
        ("quotaErrors", num(s.host.quota_errors)),
        ("quotaRecoveries", num(s.host.quota_recoveries)),
        ("persisted", s.persisted.into()),
    ])
}

pub(crate) fn key_info(i: &KeyInfo) -> JsValue {
    object(&[
        ("hot", i.hot.into()),
        ("dirty", i.dirty.into()),
        ("warm", i.warm.into()),
        ("present", i.meta.present.into()),
        ("version", num(i.meta.version)),
        ("valueBytes", num(i.meta.value_bytes)),
        ("lastAccessMs", num(i.meta.last_access.0)),
    ])
}

/// `history` entries: `{ commit, timeSecs, size }`, `size` null for a deletion.
pub(crate) fn versions(versions: &[Version]) -> JsValue {
    versions
        .iter()
        .map(|v| {
            object(&[
                ("commit", JsValue::from_str(&v.commit)),
                ("timeSecs", JsValue::from_f64(v.time_secs as f64)),
                ("size", v.size.map_or(JsValue::NULL, num)),
            ])
        })
        .collect::<Array>()
        .into()
}

/// `log` entries: `{ commit, timeSecs, summary }`.
pub(crate) fn log_entries(entries: &[LogEntry]) -> JsValue {
    entries
        .iter()
        .map(|e| {
            object(&[
                ("commit", JsValue::from_str(&e.commit)),
                ("timeSecs", JsValue::from_f64(e.time_secs as f64)),
                ("summary", JsValue::from_str(&e.summary)),
            ])
        })
        .collect::<Array>()
        .into()
}

pub(crate) fn import_report(r: &ImportReport) -> JsValue {
    object(&[
        ("commits", num(r.commits)),
        ("objects", num(r.objects)),
        ("keys", num(r.keys)),
    ])
}

/// Bytes given to `importGit`: a `Uint8Array` or an `ArrayBuffer`.
pub(crate) fn bytes(v: &JsValue, what: &str) -> Result<Vec<u8>, Error> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(b).to_vec());
    }
    Err(invalid(format!(
        "{what} takes a Uint8Array or an ArrayBuffer, got {}",
        type_name(v)
    )))
}

/// A revision argument.
pub(crate) fn rev(v: &JsValue) -> Result<String, Error> {
    v.as_string()
        .ok_or_else(|| invalid(format!("a revision must be a string, got {}", type_name(v))))
}

/// A count argument; `undefined` gives `default`.
pub(crate) fn count(v: &JsValue, default: usize) -> Result<usize, Error> {
    if v.is_undefined() {
        return Ok(default);
    }
    safe_integer(v)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .ok_or_else(|| invalid(format!("a count must be a non-negative integer, got {v:?}")))
}

fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        return "null".into();
    }
    if Array::is_array(v) {
        return "an array".into();
    }
    v.js_typeof()
        .as_string()
        .unwrap_or_else(|| "a value".into())
}
