export {
  Thermocline,
  type SyncLevel,
  type Eviction,
  type Value,
  type WriteBehindOptions,
  type StorageBucketOptions,
  type GitOptions,
  type ThermoclineOptions,
  type DestroyOptions,
  type WriteOptions,
  type BatchOp,
  type ThermoclineStats,
  type KeyInfo,
  type Version,
  type LogEntry,
  type ImportReport,
  type ThermoclineErrorName,
  type ThermoclineError,
} from "./thermocline.js";

/**
 * Loads the WebAssembly module. The static methods of `Thermocline` do it on first use; call it
 * first only to load the `.wasm` from another URL (or pass the bytes or a compiled module).
 */
export function loadWasm(
  moduleOrPath?: RequestInfo | URL | Response | BufferSource | WebAssembly.Module,
): Promise<unknown>;
