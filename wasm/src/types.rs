//! The TypeScript declarations of the JavaScript API, written by hand so that every argument,
//! option and result has a precise type (wasm-bindgen would declare `any`). They are appended
//! to the generated `.d.ts`; `api.rs` skips wasm-bindgen's own declarations for the class.
//! When a method or option changes in `api.rs` or `convert.rs`, it changes here too (the npm
//! build type-checks an example against these declarations).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/**
 * How far a write must get before its promise resolves. Each level implies the ones before.
 * - `memory`: applied in memory. Survives nothing.
 * - `os`: its WAL record is in a committed IndexedDB transaction. Survives the tab crashing.
 * - `fsync`: committed with `durability: "strict"`. Survives power loss. The default.
 * - `commit`: in a git commit of the store's history (stored in IndexedDB, strict).
 * - `push`: refused in a browser (`LevelUnavailableError`): a page cannot push to a git remote.
 *   Export the history with `exportGit()` instead.
 */
export type SyncLevel = "memory" | "os" | "fsync" | "commit" | "push";

/** Which value leaves the hot tier when it is full. `s3fifo` (the default) resists scans. */
export type Eviction = "s3fifo" | "lru" | "lfu" | "ttl";

/** A value: bytes, or a string (stored as UTF-8). */
export type Value = Uint8Array | ArrayBuffer | string;

/** When writes move from memory to the warm tier (one IndexedDB transaction per flush). */
export interface WriteBehindOptions {
  /** Flush once no write arrived for this long. Default 5000. */
  debounceMs?: number;
  /** Flush once the oldest unflushed write is this old. Default 30000. */
  maxAgeMs?: number;
  /** Flush once this many bytes are unflushed. Default 1 MiB. */
  flushBytes?: number;
  /** Flush once this many writes are unflushed. Default 100. */
  flushOps?: number;
  /** Writers wait above this many unflushed bytes. Default 64 MiB. */
  dirtyBytesMax?: number;
}

/**
 * Keep the store in a Storage Bucket (Chromium's Storage Buckets API), for example to give it
 * its own quota. Elsewhere, opening fails with `UnsupportedError`.
 */
export interface StorageBucketOptions {
  /** Lowercase letters, digits, `_` and `-`; at most 64 characters. */
  name: string;
  /** Writes past this many bytes fail with `QuotaExceededError`. Set when the bucket is made. */
  quotaBytes?: number;
  /** Ask the browser not to evict the bucket under storage pressure. */
  persisted?: boolean;
}

/**
 * The git cold tier: the store's history as git commits, in IndexedDB. On by default;
 * `git: false` opens a store without history (no `commit` level, no `history`).
 */
export interface GitOptions {
  /**
   * When flushed writes become commits: `debounced` (default: after `commitDebounceMs` without
   * a flush, at most `commitMaxAgeMs` after the first), `immediate` (every flush), or `manual`
   * (only `sync("commit")` and writes at the `commit` level).
   */
  autoCommit?: "immediate" | "debounced" | "manual";
  /** Default 5000. */
  commitDebounceMs?: number;
  /** Default 30000. */
  commitMaxAgeMs?: number;
  /** Author and committer of the commits. Default `Thermocline <thermocline@localhost>`. */
  authorName?: string;
  authorEmail?: string;
}

/** Options of `Thermocline.open`. Every number is a non-negative integer. */
export interface ThermoclineOptions {
  /** Bytes of values kept in memory. Default 64 MiB. */
  hotCapacityBytes?: number;
  eviction?: Eviction;
  /** Default time a value may stay in the hot tier (per write: `WriteOptions.hotTtlMs`). */
  hotTtlMs?: number;
  /** A value not used for this long leaves memory (it stays stored). Default one hour. */
  hotIdleMs?: number;
  /** Idle time after which warm values will move to the cold tier (with git history). */
  warmIdleMs?: number;
  /** The level of writes that name none. Default `fsync`. */
  defaultSync?: SyncLevel;
  writeBehind?: WriteBehindOptions;
  /** Largest value accepted (`ValueTooLargeError` above). Default 16 MiB. */
  valueBytesMax?: number;
  /** Largest key accepted, at most 1024 (`InvalidKeyError` above). */
  keyBytesMax?: number;
  /** Largest batch accepted (`BatchTooLargeError` above). Default 64 MiB. */
  batchBytesMax?: number;
  /**
   * When another tab or worker has the store open: `false` (default) fails with `LockedError`,
   * `true` waits until it closes.
   */
  waitForLock?: boolean;
  /**
   * Where time comes from, in milliseconds (default `Date.now`). Tests pass a manual clock.
   * Called often, inside the store: it must not call the store itself.
   */
  clock?: () => number;
  storageBucket?: StorageBucketOptions;
  git?: GitOptions | false;
}

/** Options of `Thermocline.destroy`. */
export interface DestroyOptions {
  storageBucket?: StorageBucketOptions;
  waitForLock?: boolean;
}

/** Options of one write. */
export interface WriteOptions {
  /** Default: the store's `defaultSync`. */
  sync?: SyncLevel;
  /** How long the value may stay in the hot tier. */
  hotTtlMs?: number;
}

/** One operation of an atomic `batch`. */
export type BatchOp =
  | { op: "put"; key: string; value: Value }
  | { op: "putJson"; key: string; value: unknown }
  | { op: "delete"; key: string };

/** Counts and sizes of a store. */
export interface ThermoclineStats {
  keys: number;
  hotKeys: number;
  hotBytes: number;
  hotCapacityBytes: number;
  warmKeys: number;
  warmBytes: number;
  hitsHot: number;
  hitsWarm: number;
  misses: number;
  evictions: number;
  expirations: number;
  idleDemotions: number;
  promotions: number;
  walBytes: number;
  walSegments: number;
  lastSeq: number;
  syncedSeq: number;
  walSyncs: number;
  dirtyKeys: number;
  dirtyBytes: number;
  dirtyOldestAgeMs: number | null;
  flushes: number;
  coalescedWrites: number;
  /** A failure (other than a full quota) stopped writes until the store is reopened. */
  poisoned: boolean;
  /** Git commits made since open. */
  commits: number;
  /** Keys whose newest version is committed. */
  coldKeys: number;
  /** Keys only in git (read from there when asked for). */
  coldOnlyKeys: number;
  /** Keys written since the last commit. */
  coldPendingKeys: number;
  /** The tip of `main` holds the store as of this write (`lastSeq` numbering). */
  coldThroughSeq: number;
  hitsCold: number;
  /** Read-write IndexedDB transactions: concurrent writes share them. */
  writeTransactions: number;
  /** Read-only IndexedDB transactions for values not in memory: concurrent reads share them. */
  readTransactions: number;
  quotaErrors: number;
  quotaRecoveries: number;
  /**
   * The browser promised not to evict this storage (`navigator.storage.persisted()`). When
   * false, stored data can be cleared by the browser under storage pressure.
   */
  persisted: boolean;
}

/** One version of a key: the commit that changed it. */
export interface Version {
  /** Full commit id (40 hex digits). */
  commit: string;
  /** Commit time, seconds since the Unix epoch. */
  timeSecs: number;
  /** Value size in bytes, or `null` when this commit deleted the key. */
  size: number | null;
}

/** One commit of `log`. */
export interface LogEntry {
  commit: string;
  timeSecs: number;
  /** The commit's subject: which keys changed. */
  summary: string;
}

/** What `importGit` loaded. */
export interface ImportReport {
  commits: number;
  objects: number;
  /** Keys at the imported tip. */
  keys: number;
}

/** Where a key lives. */
export interface KeyInfo {
  /** In memory. */
  hot: boolean;
  /** Written since the last flush to the warm tier. */
  dirty: boolean;
  /** In the warm tier (IndexedDB). */
  warm: boolean;
  present: boolean;
  version: number;
  valueBytes: number;
  lastAccessMs: number;
}

/** The `name` of every error the store rejects with. */
export type ThermoclineErrorName =
  | "InvalidKeyError"
  | "ValueTooLargeError"
  | "BatchTooLargeError"
  | "LevelUnavailableError"
  | "LockedError"
  | "QuotaExceededError"
  | "CorruptError"
  | "PoisonedError"
  | "StorageError"
  | "InvalidArgumentError"
  | "JsonError"
  | "UnsupportedError"
  | "RevisionError"
  | "ImportError"
  | "ClosedError";

/** An error from the store: branch on `name`, which is stable; the message says why. */
export interface ThermoclineError extends Error {
  name: ThermoclineErrorName;
}

/**
 * An embedded tiered key-value store: hot in memory, warm in IndexedDB behind a write-ahead
 * log, cold in git history. One store is one IndexedDB database; one tab or worker at a time
 * has it open.
 */
export class Thermocline {
  private constructor();
  /** Opens (creating if needed) the store `name`, recovering what an earlier session wrote. */
  static open(name: string, options?: ThermoclineOptions): Promise<Thermocline>;
  /** Deletes the store `name` and all its data. Fails with `LockedError` while it is open. */
  static destroy(name: string, options?: DestroyOptions): Promise<void>;
  /** Asks the browser to keep this origin's storage (`navigator.storage.persist()`). */
  static requestPersistence(): Promise<boolean>;
  readonly name: string;
  /** Writes `value` under `key`; resolves once it reached the level asked for. */
  put(key: string, value: Value, options?: WriteOptions): Promise<void>;
  /** Stores a JSON document, pretty-printed with sorted keys (as the native store does). */
  putJson(key: string, value: unknown, options?: WriteOptions): Promise<void>;
  /** The value's bytes, or `undefined` when the key does not exist. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** The value as text; rejects with `InvalidArgumentError` if it is not UTF-8. */
  getString(key: string): Promise<string | undefined>;
  /** The value parsed as JSON; rejects with `JsonError` if it is not JSON. */
  getJson<T = unknown>(key: string): Promise<T | undefined>;
  delete(key: string, options?: WriteOptions): Promise<void>;
  /** Keys starting with `prefix` (default: all), sorted. */
  list(prefix?: string): Promise<string[]>;
  /** Applies every operation atomically: after a crash all of them are there or none. */
  batch(ops: BatchOp[], options?: WriteOptions): Promise<void>;
  /** Raises everything written so far to `level` (default: the store's `defaultSync`). */
  sync(level?: SyncLevel): Promise<void>;
  /** Writes unflushed values to the warm tier now. */
  flush(): Promise<void>;
  /** Runs the store's timers now: with a manual `clock`, makes a moved clock take effect. */
  runTimers(): Promise<void>;
  /**
   * The commits that changed `key`, newest first. Writes coalesced between two commits are one
   * version: git holds what each commit saw.
   */
  history(key: string): Promise<Version[]>;
  /**
   * `key`'s value at revision `rev`: a commit id (4 to 40 hex digits), `HEAD` or `main`,
   * optionally followed by `~N` or `^`. `undefined` if the key did not exist there;
   * `RevisionError` if the revision does not.
   */
  getAt(key: string, rev: string): Promise<Uint8Array | undefined>;
  /** The newest `n` commits (default 20), newest first. */
  log(n?: number): Promise<LogEntry[]>;
  /**
   * The committed history as a git bundle with `refs/heads/main`: save it as a file and
   * `git clone store.bundle`. Writes not committed yet are not in it (`sync("commit")` first).
   */
  exportGit(): Promise<Uint8Array>;
  /**
   * Loads a git bundle (from `exportGit`, the native `thermocline export-git`, or
   * `git bundle create f.bundle main`) into this store, which must be empty (`ImportError`
   * otherwise). Its tip becomes the store's content; its history is the store's history.
   */
  importGit(bundle: Uint8Array | ArrayBuffer): Promise<ImportReport>;
  stats(): Promise<ThermoclineStats>;
  /** Where `key` lives, or `undefined` if the store does not know it. */
  keyInfo(key: string): KeyInfo | undefined;
  /** Flushes, waits for every transaction, and releases the store for other tabs. */
  close(): Promise<void>;
  /** Frees the WebAssembly memory of this object (after `close`). */
  free(): void;
}
"#;
