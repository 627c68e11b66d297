//! Stores at the `os` level, shared by ingest, YCSB and recovery: a write returns once it has
//! been handed to the OS (it survives the process being killed, not a power cut), and nothing is
//! fsynced per operation.
//!
//! - Thermocline: `put_with(.., SyncLevel::Os)`: the WAL record is written with `pwrite` before
//!   the put returns; no fdatasync (docs/durability.md, `SyncLevel::Os`).
//! - redb: one write transaction per put with `Durability::None`, the only level without an
//!   fsync. It is weaker than the others: such a commit is visible to readers but not persisted
//!   (the file's header is not updated), so it does not survive even a process crash.
//! - fjall: `Keyspace::insert`, which writes the journal entry to the OS
//!   (`PersistMode::Buffer`: the default without `manual_journal_persist`); no `persist` call.
//! - SQLite: autocommit `INSERT OR REPLACE`, `journal_mode=WAL`, `synchronous=NORMAL`: each
//!   commit is written to the WAL file, which is synced only at checkpoints. `NORMAL` rather
//!   than `OFF` because it is the same promise as the others (a commit survives the process,
//!   not a power cut); `OFF` would also drop the checkpoints' syncs.

use std::path::Path;

use thermocline::{Batch, Options, Store, SyncLevel};

pub const OURS: &str = "thermocline (os level)";
pub const REDB: &str = "redb (Durability::None)";
pub const FJALL: &str = "fjall (no persist per write)";
pub const SQLITE: &str = "SQLite (WAL, synchronous=NORMAL)";

/// A key-value store driven from one thread.
pub trait Kv {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Copies the value of `key` into `out` (cleared first); false when absent.
    fn get(&mut self, key: &str, out: &mut Vec<u8>) -> Result<bool, String>;
    /// Many puts at once, to load data (untimed): one batch or transaction where the system
    /// has them.
    fn load(&mut self, items: &[(String, Vec<u8>)]) -> Result<(), String> {
        for (k, v) in items {
            self.put(k, v)?;
        }
        Ok(())
    }
    /// The work a run deferred, done once at its end so that the run pays for it: Thermocline
    /// flushes the write-behind buffer to the warm tier (durably), fjall persists its journal
    /// (`SyncAll`), SQLite checkpoints its WAL into the database file; redb does nothing (see
    /// its `finish`).
    fn finish(&mut self) -> Result<(), String>;
    /// Reads served from memory and from disk so far (Thermocline only).
    fn read_tiers(&self) -> Option<(u64, u64)> {
        None
    }
    /// WAL bytes replayed when the store was opened (Thermocline only).
    fn replayed_bytes(&self) -> Option<u64> {
        None
    }
}

/// The peers among `candidates` that are built in, after Thermocline; and a note for each one
/// that is not.
#[must_use]
pub fn systems(candidates: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut systems = vec![OURS.to_string()];
    let mut skipped = Vec::new();
    for (name, feature, on) in [
        (REDB, "redb", cfg!(feature = "redb")),
        (FJALL, "fjall", cfg!(feature = "fjall")),
        (SQLITE, "sqlite", cfg!(feature = "sqlite")),
    ] {
        if !candidates.contains(&name) {
            continue;
        }
        if on {
            systems.push(name.into());
        } else {
            skipped.push(format!("{name} (feature `{feature}`)"));
        }
    }
    (systems, skipped)
}

/// Opens (or creates) `system`'s store under `dir`. `ours` are Thermocline's options;
/// `cache_bytes`, when given, is the peers' cache budget (redb's cache, fjall's block cache,
/// SQLite's page cache).
pub fn open(
    system: &str,
    dir: &Path,
    ours: Options,
    cache_bytes: Option<u64>,
) -> Result<Box<dyn Kv>, String> {
    let e = |e: &dyn std::fmt::Display| format!("{system}: {e}");
    let _ = cache_bytes;
    std::fs::create_dir_all(dir).map_err(|x| e(&x))?;
    Ok(match system {
        OURS => Box::new(Ours(Store::open(dir, ours).map_err(|x| e(&x))?)),
        #[cfg(feature = "redb")]
        REDB => Box::new(Redb(open_redb(dir, cache_bytes).map_err(|x| e(&x))?)),
        #[cfg(feature = "fjall")]
        FJALL => {
            let (db, ks) = open_fjall(dir, cache_bytes).map_err(|x| e(&x))?;
            Box::new(Fjall { db, ks })
        }
        #[cfg(feature = "sqlite")]
        SQLITE => Box::new(Sqlite(
            open_sqlite(dir, "NORMAL", cache_bytes).map_err(|x| e(&x))?,
        )),
        other => return Err(format!("{other}: not built in")),
    })
}

/// redb at `dir/redb`, with its table created (and a cache size, if given).
#[cfg(feature = "redb")]
pub fn open_redb(dir: &Path, cache_bytes: Option<u64>) -> Result<redb::Database, String> {
    let mut builder = redb::Builder::new();
    if let Some(bytes) = cache_bytes {
        builder.set_cache_size(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    let db = builder
        .create(dir.join("redb"))
        .map_err(|e| e.to_string())?;
    let tx = db.begin_write().map_err(|e| e.to_string())?;
    tx.open_table(REDB_TABLE).map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(db)
}

/// fjall at `dir/fjall` and its keyspace `kv` (and a cache size, if given).
#[cfg(feature = "fjall")]
pub fn open_fjall(
    dir: &Path,
    cache_bytes: Option<u64>,
) -> Result<(fjall::Database, fjall::Keyspace), String> {
    let mut builder = fjall::Database::builder(dir.join("fjall"));
    if let Some(bytes) = cache_bytes {
        builder = builder.cache_size(bytes);
    }
    let db = builder.open().map_err(|e| e.to_string())?;
    let ks = db
        .keyspace("kv", fjall::KeyspaceCreateOptions::default)
        .map_err(|e| e.to_string())?;
    Ok((db, ks))
}

/// SQLite at `dir/sqlite.db` in WAL mode with `synchronous` (FULL, NORMAL, ...) and the table
/// `kv` (and a cache size, if given).
#[cfg(feature = "sqlite")]
pub fn open_sqlite(
    dir: &Path,
    synchronous: &str,
    cache_bytes: Option<u64>,
) -> Result<rusqlite::Connection, String> {
    let e = |x: rusqlite::Error| x.to_string();
    let conn = rusqlite::Connection::open(dir.join("sqlite.db")).map_err(e)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(e)?;
    if mode != "wal" {
        return Err(format!("journal_mode is {mode}, not wal"));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous={synchronous};
         CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    ))
    .map_err(e)?;
    if let Some(bytes) = cache_bytes {
        // A negative cache_size is in KiB.
        conn.execute_batch(&format!("PRAGMA cache_size=-{}", bytes / 1024))
            .map_err(e)?;
    }
    Ok(conn)
}

struct Ours(Store);

impl Kv for Ours {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0
            .put_with(key, value, SyncLevel::Os)
            .map_err(|e| e.to_string())
    }
    fn get(&mut self, key: &str, out: &mut Vec<u8>) -> Result<bool, String> {
        out.clear();
        match self.0.get(key).map_err(|e| e.to_string())? {
            Some(v) => {
                out.extend_from_slice(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn load(&mut self, items: &[(String, Vec<u8>)]) -> Result<(), String> {
        // Batches of ~1 MB: one WAL record each.
        let mut batch = Batch::new();
        let mut bytes = 0;
        for (k, v) in items {
            batch.put(k, v).map_err(|e| e.to_string())?;
            bytes += k.len() + v.len();
            if bytes >= 1 << 20 {
                let full = std::mem::take(&mut batch);
                self.0
                    .commit_with(full, SyncLevel::Os)
                    .map_err(|e| e.to_string())?;
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.0
                .commit_with(batch, SyncLevel::Os)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        self.0.flush().map_err(|e| e.to_string())
    }
    fn read_tiers(&self) -> Option<(u64, u64)> {
        let s = self.0.stats();
        Some((s.hits_hot, s.hits_warm + s.hits_cold))
    }
    fn replayed_bytes(&self) -> Option<u64> {
        Some(self.0.open_report().wal.bytes_replayed)
    }
}

#[cfg(feature = "redb")]
struct Redb(redb::Database);

#[cfg(feature = "redb")]
pub const REDB_TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("kv");

#[cfg(feature = "redb")]
impl Redb {
    fn write(
        &self,
        durability: redb::Durability,
        items: &mut dyn Iterator<Item = (&str, &[u8])>,
    ) -> Result<(), String> {
        let mut tx = self.0.begin_write().map_err(|e| e.to_string())?;
        tx.set_durability(durability).map_err(|e| e.to_string())?;
        {
            let mut t = tx.open_table(REDB_TABLE).map_err(|e| e.to_string())?;
            for (k, v) in items {
                t.insert(k, v).map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())
    }
}

#[cfg(feature = "redb")]
impl Kv for Redb {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.write(redb::Durability::None, &mut std::iter::once((key, value)))
    }
    fn get(&mut self, key: &str, out: &mut Vec<u8>) -> Result<bool, String> {
        out.clear();
        use redb::ReadableDatabase as _;
        let tx = self.0.begin_read().map_err(|e| e.to_string())?;
        let t = tx.open_table(REDB_TABLE).map_err(|e| e.to_string())?;
        match t.get(key).map_err(|e| e.to_string())? {
            Some(v) => {
                out.extend_from_slice(v.value());
                Ok(true)
            }
            None => Ok(false),
        }
    }
    /// Loads durably (one `Durability::Immediate` transaction per chunk): the data the runs
    /// start from is on disk, as the others' is after their `finish`.
    fn load(&mut self, items: &[(String, Vec<u8>)]) -> Result<(), String> {
        self.write(
            redb::Durability::Immediate,
            &mut items.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
        )
    }
    /// One empty durable commit: it makes every `Durability::None` commit before it durable,
    /// as the others' `finish` does. (redb 4.1 slowed down after such a commit, redb pull
    /// request 1206; Cargo.lock has 4.6, which has the fix.)
    fn finish(&mut self) -> Result<(), String> {
        self.write(redb::Durability::Immediate, &mut std::iter::empty())
    }
}

#[cfg(feature = "fjall")]
struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

#[cfg(feature = "fjall")]
impl Kv for Fjall {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.ks.insert(key, value).map_err(|e| e.to_string())
    }
    fn get(&mut self, key: &str, out: &mut Vec<u8>) -> Result<bool, String> {
        out.clear();
        match self.ks.get(key).map_err(|e| e.to_string())? {
            Some(v) => {
                out.extend_from_slice(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn finish(&mut self) -> Result<(), String> {
        self.db
            .persist(fjall::PersistMode::SyncAll)
            .map_err(|e| e.to_string())
    }
}

#[cfg(feature = "sqlite")]
struct Sqlite(rusqlite::Connection);

#[cfg(feature = "sqlite")]
impl Kv for Sqlite {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0
            .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(rusqlite::params![key, value]))
            .map(drop)
            .map_err(|e| e.to_string())
    }
    fn get(&mut self, key: &str, out: &mut Vec<u8>) -> Result<bool, String> {
        use rusqlite::OptionalExtension as _;
        out.clear();
        self.0
            .prepare_cached("SELECT v FROM kv WHERE k = ?1")
            .and_then(|mut st| {
                st.query_row(rusqlite::params![key], |r| {
                    out.extend_from_slice(r.get_ref(0)?.as_blob()?);
                    Ok(())
                })
                .optional()
            })
            .map(|found| found.is_some())
            .map_err(|e| e.to_string())
    }
    fn load(&mut self, items: &[(String, Vec<u8>)]) -> Result<(), String> {
        let tx = self.0.transaction().map_err(|e| e.to_string())?;
        {
            let mut st = tx
                .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
                .map_err(|e| e.to_string())?;
            for (k, v) in items {
                st.execute(rusqlite::params![k, v])
                    .map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())
    }
    fn finish(&mut self) -> Result<(), String> {
        self.0
            .execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
            .map_err(|e| e.to_string())
    }
}
