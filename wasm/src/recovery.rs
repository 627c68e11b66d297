//! Opening a store: read the warm tier and the WAL out of IndexedDB and rebuild the engine.
//!
//! The same steps as the native open, on IndexedDB: the warm tier is loaded (headers only, the
//! values stay in IndexedDB), its `through_seq` read, and the WAL chunks newer than it are
//! concatenated per segment and replayed by the core's untrusting scanner. Nothing is written
//! here: cutting a torn tail and making the newest segment durable go into the first WAL
//! transaction, with the engine's first rotation (see [`WalLog::rewrite_segment`]). So a
//! recovery never fails for lack of space, and rebuilding after a full quota reads only.
//!
//! Every byte and key read is untrusted: types, lengths, key validity and chunk continuity are
//! checked, and damage is a `CorruptError` naming where it is, never a panic.

use std::collections::HashMap;

use js_sys::{Array, Uint8Array};
use thermocline_core::recovery::{RecoveryReport, WalReplay};
use thermocline_core::{Config, Engine, Key, Millis};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbKeyRange, IdbRequest};

use crate::cold::{self, Reader};
use crate::convert::safe_integer;
use crate::error::Error;
use crate::idb::{self, FORMAT_KEY, FORMAT_VERSION, IdbError};
use crate::wal_log::WalLog;
use crate::warm;

/// The `meta` key of the warm tier's `through_seq`, written with every flush.
pub(crate) const THROUGH_SEQ_KEY: &str = "warm_through_seq";
/// Warm records read per transaction at open: bounds the memory a page of values takes.
const WARM_PAGE: u32 = 1024;

/// What opening found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// WAL replay on top of the warm tier.
    pub wal: RecoveryReport,
    /// Keys found in the warm tier.
    pub warm_keys: u64,
    /// The tip of the git cold tier holds the store as of this sequence number.
    pub cold_through_seq: u64,
    /// Keys found only in the cold tier (read from git when asked for).
    pub cold_keys: u64,
    /// Files at the tip that are not keys of this store (committed by hand elsewhere).
    pub cold_foreign_paths: u64,
}

/// An engine rebuilt from IndexedDB, ready to be driven.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub engine: Engine,
    pub wal: WalLog,
    pub warm_bytes: u64,
    pub tombstones: HashMap<Key, u64>,
    pub report: OpenReport,
}

/// Rebuilds the engine from the database.
pub(crate) async fn recover(
    db: &IdbDatabase,
    config: &Config,
    now: Millis,
) -> Result<Recovered, Error> {
    let mut engine = Engine::new(config.clone())?;
    let read = |e: IdbError| Error::Storage {
        op: "read the store",
        detail: e.to_string(),
    };

    // The WAL and the warm tier's marker, in one transaction so they agree.
    let tx = idb::read(db, &idb::ALL_STORES).map_err(read)?;
    let meta = idb::store(&tx, idb::META).map_err(read)?;
    let wal = idb::store(&tx, idb::WAL).map_err(read)?;
    let chunk_range = idb::all_chunks().map_err(read)?;
    let requests = idb::issue(&tx, || {
        Ok([
            meta.get(&FORMAT_KEY.into())?,
            meta.get(&THROUGH_SEQ_KEY.into())?,
            meta.get(&cold::REF_KEY.into())?,
            wal.get(&idb::DURABLE_KEY.into())?,
            wal.get_all_keys_with_key(&chunk_range)?,
            wal.get_all_with_key(&chunk_range)?,
        ])
    })
    .map_err(read)?;
    idb::committed(&tx).await.map_err(read)?;
    let [format, through, tip_ref, durable, chunk_keys, chunks] = requests.map(|r| result(&r));
    check_format(&format?)?;
    let through_seq = seq_or_zero(&through?, "the warm tier's marker")?;
    let durable_seq = seq_or_zero(&durable?, "the WAL's durability watermark")?;

    // The cold tier first: its mark sets where sequence numbers go on (see the native open).
    let mut reader = Reader::new(db);
    let tip = match (&config.cold, cold::parse_ref(&tip_ref?)?) {
        (Some(_), Some(_)) => reader.tip().await?,
        _ => None,
    };
    let cold_through_seq = tip.as_ref().map_or(0, |t| t.through_seq);
    engine.restore_cold_through(cold_through_seq);

    let warm = load_warm(db, &mut engine, now).await?;
    engine.restore_warm_segment(warm::SEGMENT, warm.bytes, true);
    engine.restore_warm_through(through_seq);

    let mut cold_keys = 0;
    let mut cold_foreign_paths = 0;
    if let Some(tip) = &tip {
        // Keys at the tip that no warm record (or tombstone) overrides live only in git.
        let (keys, foreign) = reader.keys_at(tip.info.tree).await?;
        cold_foreign_paths = foreign;
        let cold_only: Vec<(Key, thermocline_core::cold::objects::Oid)> = keys
            .into_iter()
            .filter(|(k, _)| engine.key_info(k).is_none() && !warm.tombstones.contains_key(k))
            .collect();
        let blobs: Vec<thermocline_core::cold::objects::Oid> =
            cold_only.iter().map(|(_, o)| *o).collect();
        // Sizes recorded when the blobs were stored; a blob is read only if none was.
        let sizes = cold::blob_sizes(db, &blobs).await?;
        for ((key, blob), size) in cold_only.into_iter().zip(sizes) {
            let size = match size {
                Some(size) => size,
                None => reader.object(&blob).await?.1.len() as u64,
            };
            engine.restore_cold(now, key, size);
            cold_keys += 1;
        }
    }

    let segments = wal_segments(&chunk_keys?, &chunks?)?;
    // Records up to the newer of the warm and cold marks need no replay (after an import the
    // cold mark may be the newer one).
    let mut replay = WalReplay::new(through_seq.max(cold_through_seq));
    let mut kept = Vec::with_capacity(segments.len());
    let mut newest = None;
    let last = segments.len().saturating_sub(1);
    for (i, (id, bytes)) in segments.into_iter().enumerate() {
        let plan = replay.segment(id, &bytes, i == last)?;
        for record in &plan.replay {
            engine.replay(now, record);
        }
        let valid = plan.truncate_to.unwrap_or(bytes.len() as u64);
        kept.push((id, plan.first_seq, valid));
        if i == last {
            newest = Some((id, bytes, plan.truncate_to));
        }
    }
    let report = replay.finish();
    let mut log = WalLog::new(report.last_seq);
    if let Some((id, mut bytes, cut)) = newest {
        // Records past both the watermark and the warm tier were committed relaxed: the
        // newest segment is made durable before anything newer can be.
        let relaxed = report.last_seq > durable_seq.max(through_seq);
        if let Some(len) = cut {
            bytes.truncate(usize::try_from(len).unwrap_or(bytes.len()));
        }
        if cut.is_some() || relaxed {
            log.rewrite_segment(id, bytes);
        }
    }
    let next_id = kept.last().map_or(1, |(id, _, _)| id + 1);
    engine.start(now, &kept, next_id);
    Ok(Recovered {
        engine,
        wal: log,
        warm_bytes: warm.bytes,
        tombstones: warm.tombstones,
        report: OpenReport {
            wal: report,
            warm_keys: warm.keys,
            cold_through_seq,
            cold_keys,
            cold_foreign_paths,
        },
    })
}

/// What the warm tier held at open.
struct WarmFound {
    keys: u64,
    bytes: u64,
    tombstones: HashMap<Key, u64>,
}

/// Loads every warm record's key, sequence number and size, a page at a time. Values are not
/// read: each is checked against its checksum when it is read.
async fn load_warm(db: &IdbDatabase, engine: &mut Engine, now: Millis) -> Result<WarmFound, Error> {
    let read = |e: IdbError| Error::Storage {
        op: "read the warm tier",
        detail: e.to_string(),
    };
    let (mut keys_found, mut bytes) = (0u64, 0u64);
    let mut tombstones = HashMap::new();
    let mut after: Option<JsValue> = None;
    loop {
        let tx = idb::read(db, &[idb::WARM]).map_err(read)?;
        let store = idb::store(&tx, idb::WARM).map_err(read)?;
        let [keys, values] = idb::issue(&tx, || {
            let range: JsValue = match &after {
                Some(k) => IdbKeyRange::lower_bound_with_open(k, true)?.into(),
                None => JsValue::NULL,
            };
            Ok([
                store.get_all_keys_with_key_and_limit(&range, WARM_PAGE)?,
                store.get_all_with_key_and_limit(&range, WARM_PAGE)?,
            ])
        })
        .map_err(read)?;
        idb::committed(&tx).await.map_err(read)?;
        let keys: Array = result(&keys)?
            .dyn_into()
            .map_err(|_| corrupt("the warm tier", "keys are not a list"))?;
        let values: Array = result(&values)?
            .dyn_into()
            .map_err(|_| corrupt("the warm tier", "values are not a list"))?;
        if keys.length() != values.length() {
            return Err(corrupt("the warm tier", "a page has more keys than values"));
        }
        for (k, v) in keys.iter().zip(values.iter()) {
            let name = k.as_string().ok_or_else(|| {
                corrupt(
                    "the warm tier",
                    format!("a record is filed under a non-string key {k:?}"),
                )
            })?;
            let what = || format!("warm record of {name:?}");
            let key = Key::new(&name).map_err(|e| corrupt(what(), e.to_string()))?;
            let record: Uint8Array = v
                .dyn_into()
                .map_err(|_| corrupt(what(), "not a byte array"))?;
            let len = record.length() as usize;
            let header = record
                .subarray(0, warm::HEADER_BYTES.min(len) as u32)
                .to_vec();
            let (seq, tombstone) =
                warm::header(&header).map_err(|e| corrupt(what(), e.to_string()))?;
            if tombstone {
                engine.restore_warm_tombstone(now, key.clone(), seq);
                tombstones.insert(key, seq);
                continue;
            }
            let value_len = len - header.len();
            let loc =
                warm::location(&key, seq, value_len).map_err(|e| corrupt(what(), e.to_string()))?;
            bytes += u64::from(loc.len);
            keys_found += 1;
            engine.restore_warm(now, key, seq, loc, value_len as u64);
        }
        if keys.length() < WARM_PAGE {
            return Ok(WarmFound {
                keys: keys_found,
                bytes,
                tombstones,
            });
        }
        after = Some(keys.get(keys.length() - 1));
    }
}

/// Groups WAL chunks by segment, oldest first, checking that each segment's chunks follow one
/// another without a gap.
fn wal_segments(keys: &JsValue, chunks: &JsValue) -> Result<Vec<(u64, Vec<u8>)>, Error> {
    let keys: &Array = keys
        .dyn_ref()
        .ok_or_else(|| corrupt("the WAL", "keys are not a list"))?;
    let chunks: &Array = chunks
        .dyn_ref()
        .ok_or_else(|| corrupt("the WAL", "chunks are not a list"))?;
    if keys.length() != chunks.length() {
        return Err(corrupt("the WAL", "more chunk keys than chunks"));
    }
    let mut segments: Vec<(u64, Vec<u8>)> = Vec::new();
    for (key, chunk) in keys.iter().zip(chunks.iter()) {
        let (segment, offset) = chunk_key(&key)
            .ok_or_else(|| corrupt("the WAL", format!("a chunk is filed under {key:?}")))?;
        let chunk: Uint8Array = chunk.dyn_into().map_err(|_| {
            corrupt(
                format!("WAL segment {segment} at offset {offset}"),
                "not a byte array",
            )
        })?;
        if segments.last().is_none_or(|(id, _)| *id != segment) {
            segments.push((segment, Vec::new()));
        }
        if let Some((_, bytes)) = segments.last_mut() {
            if bytes.len() as u64 != offset {
                return Err(corrupt(
                    format!("WAL segment {segment}"),
                    format!(
                        "a chunk starts at offset {offset} where {} was expected",
                        bytes.len()
                    ),
                ));
            }
            bytes.extend_from_slice(&chunk.to_vec());
        }
    }
    Ok(segments)
}

/// A `[segment, offset]` key of two safe, non-negative integers.
fn chunk_key(key: &JsValue) -> Option<(u64, u64)> {
    let key: &Array = key.dyn_ref()?;
    if key.length() != 2 {
        return None;
    }
    Some((safe_integer(&key.get(0))?, safe_integer(&key.get(1))?))
}

/// A stored sequence number; absent means none yet.
fn seq_or_zero(v: &JsValue, what: &str) -> Result<u64, Error> {
    if v.is_undefined() {
        return Ok(0);
    }
    safe_integer(v).ok_or_else(|| corrupt(what, format!("{v:?} is not a sequence number")))
}

fn check_format(v: &JsValue) -> Result<(), Error> {
    if v.is_undefined() || v.as_f64() == Some(f64::from(FORMAT_VERSION)) {
        return Ok(());
    }
    Err(Error::Corrupt {
        what: "the store's format version".into(),
        detail: format!("found {v:?}; this build reads version {FORMAT_VERSION}"),
    })
}

fn result(request: &IdbRequest) -> Result<JsValue, Error> {
    request.result().map_err(|e| Error::Storage {
        op: "read the store",
        detail: IdbError::from_js(&e).to_string(),
    })
}

fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        what: what.into(),
        detail: detail.into(),
    }
}
