//! The store's Rust API: open (lock, database, recovery), the key-value operations, close.
//!
//! The JavaScript class in [`crate::api`] is a thin layer over this; Rust code compiled to
//! WebAssembly (and the scenario tests shared with the native store) use it directly.

use std::cell::RefMut;
use std::rc::Rc;

use thermocline_core::Batch;
use thermocline_core::cold::rev::{LogEntry, Version};
use thermocline_core::config::AutoCommit;
use thermocline_core::engine::{KeyInfo, WriteOpts};
use thermocline_core::{Key, Lookup, Millis, Stats, SyncLevel, Value};

use crate::cold::{self, ImportReport};
use crate::driver::{Host, HostCounters, Opened, Rebuild, State};
use crate::error::Error;
use crate::idb::{self, IdbError};
use crate::options::Options;
use crate::recovery::{self, OpenReport};
use crate::warm;
use crate::web::{BucketOptions, HeldLock, Storage};

/// Longest store name accepted: it becomes part of a database name and a lock name.
const NAME_BYTES_MAX: usize = 256;
/// A read retries when a flush replaced the record between the lookup and the read; one
/// replacement needs one retry, so three rounds are plenty.
const READ_ROUNDS: usize = 3;

/// An open store. Cheap to clone: clones share the store.
#[derive(Clone, Debug)]
pub struct Store {
    host: Rc<Host>,
}

/// Counts and sizes: the engine's, and what only the browser knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserStats {
    pub engine: Stats,
    pub host: HostCounters,
    /// The browser promised not to evict this storage (`navigator.storage.persisted()`). When
    /// false, "durable" means durable until the browser clears storage under pressure.
    pub persisted: bool,
}

impl Store {
    /// Opens the store `name` (one IndexedDB database), creating it if needed. Takes the
    /// store's Web Lock first: a second opener in another tab gets [`Error::Locked`], or waits
    /// with `wait_for_lock`. Then recovers, as the native store does.
    pub async fn open(name: &str, options: Options) -> Result<Store, Error> {
        check_name(name)?;
        options.config.validate()?;
        let now = options.clock.read().map(Millis).ok_or_else(|| {
            Error::InvalidArgument("clock must return a non-negative number of milliseconds".into())
        })?;
        let storage = Storage::open(options.bucket.as_ref()).await?;
        let lock = lock(&storage, name, options.wait_for_lock).await?;
        let db = idb::open(&storage.factory()?, &db_name(name))
            .await
            .map_err(|e| storage_error("open the database", &e))?;
        let recovered = match recovery::recover(&db, &options.config, now).await {
            Ok(r) => r,
            Err(e) => {
                db.close();
                return Err(e);
            }
        };
        let opened = Opened {
            name: name.to_owned(),
            db,
            storage,
            lock,
            config: options.config,
            clock: options.clock,
            author: (options.author_name, options.author_email),
            now,
        };
        let host = Host::new(opened, recovered);
        host.drain();
        // The first transaction starts the new WAL segment. A store that cannot write it for
        // lack of space still opens, readable; its writes wait for space.
        match host.wait_until(Host::idle).await {
            Ok(()) | Err(Error::QuotaExceeded { .. }) => Ok(Store { host }),
            Err(e) => {
                host.shut().await;
                Err(e)
            }
        }
    }

    /// Deletes the store `name` and everything in it. Takes its lock first: a store open
    /// elsewhere is not deleted under it ([`Error::Locked`], unless `wait_for_lock`).
    pub async fn destroy(
        name: &str,
        bucket: Option<&BucketOptions>,
        wait_for_lock: bool,
    ) -> Result<(), Error> {
        check_name(name)?;
        let storage = Storage::open(bucket).await?;
        let lock = lock(&storage, name, wait_for_lock).await?;
        let deleted = idb::delete(&storage.factory()?, &db_name(name))
            .await
            .map_err(|e| storage_error("delete the database", &e));
        lock.release().await;
        deleted
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.host.name
    }

    /// What recovery found when this store was opened (or last rebuilt after a full quota).
    #[must_use]
    pub fn open_report(&self) -> OpenReport {
        self.host.st.borrow().report.clone()
    }

    /// The level of writes that do not name one.
    #[must_use]
    pub fn default_level(&self) -> SyncLevel {
        self.host.st.borrow().engine.config().default_sync
    }

    /// Writes `value` under `key` at the store's default level.
    pub async fn put(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        self.put_with(key, value, self.default_level()).await
    }

    /// Writes at a given level (or with a hot-tier TTL through [`WriteOpts`]).
    pub async fn put_with(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        opts: impl Into<WriteOpts>,
    ) -> Result<(), Error> {
        let key = Key::new(key)?;
        let value = Value::from(value.as_ref());
        let opts = opts.into();
        self.host
            .write(|engine, now| engine.handle_put(now, key.clone(), value.clone(), opts))
            .await
    }

    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        self.delete_with(key, self.default_level()).await
    }

    pub async fn delete_with(&self, key: &str, opts: impl Into<WriteOpts>) -> Result<(), Error> {
        let key = Key::new(key)?;
        let opts = opts.into();
        self.host
            .write(|engine, now| engine.handle_delete(now, key.clone(), opts))
            .await
    }

    /// Applies a [`Batch`] atomically at the default level.
    pub async fn commit(&self, batch: Batch) -> Result<(), Error> {
        self.commit_with(batch, self.default_level()).await
    }

    pub async fn commit_with(&self, batch: Batch, opts: impl Into<WriteOpts>) -> Result<(), Error> {
        let opts = opts.into();
        self.host
            .write(|engine, now| engine.handle_batch(now, batch.ops().to_vec(), opts))
            .await
    }

    /// Reads `key`: memory first, then the warm tier in IndexedDB (promoting what it finds).
    pub async fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        Key::validate(key)?;
        for _ in 0..READ_ROUNDS {
            self.host.ready_for_read().await?;
            let lookup = {
                let mut st = self.open_state()?;
                let now = self.host.now();
                st.engine.handle_get(now, key)
            };
            let loc = match lookup {
                Lookup::Hit(v) => return Ok(Some(v)),
                Lookup::Absent => return Ok(None),
                Lookup::Warm(loc) => loc,
                Lookup::Cold => return self.read_cold(key).await.map(Some),
            };
            // None: a flush deleted the record since the lookup; the next lookup knows.
            let Some(bytes) = self.host.read_warm(key).await? else {
                continue;
            };
            let (seq, value) = warm::decode(key, &bytes).map_err(|e| Error::Corrupt {
                what: format!("warm record of {key:?}"),
                detail: e.to_string(),
            })?;
            let Some(value) = value.filter(|_| seq == loc.offset) else {
                // A flush replaced it since the lookup.
                continue;
            };
            let value = Value::from(value);
            let now = self.host.now();
            self.open_state()?
                .engine
                .handle_fetched(now, key, loc, value.clone());
            return Ok(Some(value));
        }
        Err(Error::Corrupt {
            what: format!("warm record of {key:?}"),
            detail: format!("it does not match the key directory after {READ_ROUNDS} reads"),
        })
    }

    /// A key whose newest version is only in the cold tier: read it from the tip of `main` and
    /// promote it.
    async fn read_cold(&self, key: &str) -> Result<Value, Error> {
        let value = cold::read_tip(&self.host.db, key)
            .await?
            .ok_or_else(|| Error::Corrupt {
                what: "the git cold tier".into(),
                detail: format!(
                    "{key:?} is in the key directory's cold tier but not at the tip of main"
                ),
            })?;
        let value = Value::from(value);
        let now = self.host.now();
        self.open_state()?
            .engine
            .handle_fetched_cold(now, key, value.clone());
        Ok(value)
    }

    fn check_cold(&self) -> Result<(), Error> {
        if self.open_state()?.engine.config().cold.is_none() {
            return Err(Error::LevelUnavailable {
                level: SyncLevel::Commit,
            });
        }
        Ok(())
    }

    /// The commits that changed `key`, newest first. Writes coalesced by write-behind between
    /// two commits are one version: git holds what each commit saw.
    pub async fn history(&self, key: &str) -> Result<Vec<Version>, Error> {
        let key = Key::new(key)?;
        self.check_cold()?;
        cold::history(&self.host.db, &key).await
    }

    /// `key`'s value at revision `rev`: a commit id (full or abbreviated), `HEAD~N`, `main`.
    pub async fn get_at(&self, key: &str, rev: &str) -> Result<Option<Value>, Error> {
        let key = Key::new(key)?;
        self.check_cold()?;
        Ok(cold::get_at(&self.host.db, &key, rev)
            .await?
            .map(Value::from))
    }

    /// The newest `n` commits of the cold tier.
    pub async fn log(&self, n: usize) -> Result<Vec<LogEntry>, Error> {
        self.check_cold()?;
        cold::log(&self.host.db, n).await
    }

    /// The committed history as a git bundle (`git clone store.bundle` reads it). Writes not
    /// committed yet are not in it: `sync(SyncLevel::Commit)` first to include them.
    pub async fn export_git(&self) -> Result<Vec<u8>, Error> {
        self.check_cold()?;
        cold::export(&self.host.db).await
    }

    /// Loads a git bundle's history (from [`Store::export_git`], the native store's
    /// `export-git`, or `git bundle create`) into this store, which must be empty: no keys and
    /// no history. Afterwards the store holds the bundle's tip, read from git as keys are asked
    /// for, and its history.
    pub async fn import_git(&self, bytes: &[u8]) -> Result<ImportReport, Error> {
        self.check_cold()?;
        let imported = cold::parse_import(bytes)?;
        // Everything written so far is in the warm tier, so the rebuild below loses nothing.
        self.flush().await?;
        {
            let mut st = self.open_state()?;
            let keys = st.engine.list("").len();
            if keys > 0 {
                return Err(Error::Import {
                    detail: format!(
                        "this store is not empty ({keys} keys): import into a new store, or \
                         Thermocline.destroy this one first"
                    ),
                });
            }
            // Reads and writes wait for the rebuild from here on.
            st.recovering_for_import();
        }
        let stored = match cold::read_ref(&self.host.db).await {
            Ok(Some(_)) => Err(Error::Import {
                detail: "this store already has a history: import into a new store".into(),
            }),
            Ok(None) => cold::store_import(&self.host.db, &imported).await,
            Err(e) => Err(e),
        };
        let rebuilt = self.host.rebuild(Rebuild::AfterImport).await;
        stored?;
        rebuilt?;
        let mut report = imported.report;
        report.keys = self.open_state()?.engine.list("").len() as u64;
        Ok(report)
    }

    /// Keys starting with `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        self.host.ready_for_read().await?;
        let st = self.open_state()?;
        Ok(st
            .engine
            .list(prefix)
            .into_iter()
            .map(|k| k.as_str().to_owned())
            .collect())
    }

    /// Raises everything written so far to `level`.
    pub async fn sync(&self, level: SyncLevel) -> Result<(), Error> {
        self.host
            .write(|engine, now| engine.handle_sync(now, level))
            .await
    }

    /// Writes the write-behind buffer to the warm tier now and waits until it is durable there.
    pub async fn flush(&self) -> Result<(), Error> {
        self.host.ready_for_write().await?;
        {
            let mut st = self.open_state()?;
            let now = self.host.now();
            st.engine.handle_flush(now);
        }
        self.host.schedule_drain();
        self.host.wait_until(|st| st.engine.is_flushed()).await
    }

    /// Runs the engine's timers now (tier demotion, write-behind triggers) and waits for the
    /// work they start. The store's own timer does this; with a manual clock this makes a
    /// moved clock take effect at once.
    pub async fn run_timers(&self) -> Result<(), Error> {
        drop(self.open_state()?);
        self.host.run_timers();
        self.host.wait_until(Host::idle).await
    }

    pub async fn stats(&self) -> Result<BrowserStats, Error> {
        drop(self.open_state()?);
        let (engine, host) = self.host.stats();
        let persisted = self.host.storage.persisted().await;
        Ok(BrowserStats {
            engine,
            host,
            persisted,
        })
    }

    /// Where `key` lives and how it is used.
    #[must_use]
    pub fn key_info(&self, key: &str) -> Option<KeyInfo> {
        self.host.st.borrow().engine.key_info(key)
    }

    /// Stores `value` as readable JSON: pretty-printed with sorted object keys, byte for byte
    /// what the native store writes, so diffs stay small whichever host wrote.
    pub async fn put_json(&self, key: &str, value: &serde_json::Value) -> Result<(), Error> {
        self.put_json_with(key, value, self.default_level()).await
    }

    pub async fn put_json_with(
        &self,
        key: &str,
        value: &serde_json::Value,
        opts: impl Into<WriteOpts>,
    ) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Json {
            key: key.to_owned(),
            detail: e.to_string(),
        })?;
        self.put_with(key, bytes, opts).await
    }

    pub async fn get_json(&self, key: &str) -> Result<Option<serde_json::Value>, Error> {
        match self.get(key).await? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::Json {
                    key: key.to_owned(),
                    detail: e.to_string(),
                }),
        }
    }

    /// Flushes everything to the warm tier, waits for every transaction, and lets go of the
    /// database and the lock. Later calls fail with [`Error::Closed`]; closing twice is fine.
    pub async fn close(&self) -> Result<(), Error> {
        if self.host.is_closed() {
            return Ok(());
        }
        // Unless commits are manual, what was flushed reaches git before the store closes (as
        // natively), so the history shows a session's writes once it ended.
        let commit = self
            .host
            .st
            .borrow()
            .engine
            .config()
            .cold
            .as_ref()
            .is_some_and(|c| c.auto_commit != AutoCommit::Manual);
        let mut flushed = self.flush().await;
        if commit && flushed.is_ok() {
            flushed = self.sync(SyncLevel::Commit).await;
        }
        let settled = match flushed {
            Ok(()) => {
                {
                    // Hands buffered `memory`-level records to the WAL now rather than at the
                    // next timer tick.
                    let mut st = self.host.st.borrow_mut();
                    let now = self.host.now();
                    st.engine.handle_timeout(now);
                }
                self.host.schedule_drain();
                self.host
                    .wait_until(|st| Host::idle(st) && st.engine.is_quiescent())
                    .await
            }
            Err(e) => Err(e),
        };
        self.host.shut().await;
        match settled {
            Err(Error::Closed) => Ok(()),
            other => other,
        }
    }

    /// The host's state, unless the store is closed.
    fn open_state(&self) -> Result<RefMut<'_, State>, Error> {
        let st = self.host.st.borrow_mut();
        if st.is_closed() {
            return Err(Error::Closed);
        }
        Ok(st)
    }
}

async fn lock(storage: &Storage, name: &str, wait: bool) -> Result<HeldLock, Error> {
    let lock = lock_name(storage, name);
    HeldLock::acquire(&lock, wait)
        .await?
        .ok_or_else(|| Error::Locked {
            name: name.to_owned(),
            lock,
        })
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > NAME_BYTES_MAX || name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "store name {name:?} must be 1 to {NAME_BYTES_MAX} bytes without control characters"
        )));
    }
    Ok(())
}

/// The IndexedDB database of store `name`: prefixed, so an app's own databases cannot clash.
fn db_name(name: &str) -> String {
    format!("thermocline/{name}")
}

/// Web Locks are per origin, not per bucket: the name says both. Bucket names cannot hold `:`,
/// so the two forms never meet.
fn lock_name(storage: &Storage, name: &str) -> String {
    match storage.scope() {
        "" => format!("thermocline:{name}"),
        bucket => format!("thermocline@{bucket}:{name}"),
    }
}

/// An IndexedDB failure as the store reports it: a full quota is `QuotaExceeded`.
pub(crate) fn storage_error(op: &'static str, e: &IdbError) -> Error {
    if e.is_quota() {
        Error::QuotaExceeded {
            detail: e.to_string(),
        }
    } else {
        Error::Storage {
            op,
            detail: e.to_string(),
        }
    }
}
