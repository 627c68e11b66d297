// Uses every part of the package's API the way an app would, so that `tsc --strict` proves the
// declarations are complete and precise. Never run: only type-checked (wasm/build-npm.sh --check).
// The `@ts-expect-error` lines prove mistakes are caught, not just that correct code passes.
import {
  Thermocline,
  loadWasm,
  type BatchOp,
  type GitOptions,
  type ImportReport,
  type KeyInfo,
  type LogEntry,
  type SyncLevel,
  type Version,
  type ThermoclineError,
  type ThermoclineErrorName,
  type ThermoclineOptions,
  type ThermoclineStats,
} from "thermocline";

interface Note {
  title: string;
  tags: string[];
}

async function tour(): Promise<void> {
  await loadWasm();
  const clock = { now: 0 };
  const options: ThermoclineOptions = {
    hotCapacityBytes: 8 << 20,
    eviction: "s3fifo",
    hotTtlMs: 60_000,
    hotIdleMs: 600_000,
    warmIdleMs: 86_400_000,
    defaultSync: "os",
    writeBehind: { debounceMs: 1000, maxAgeMs: 5000, flushBytes: 1 << 20, flushOps: 100, dirtyBytesMax: 8 << 20 },
    valueBytesMax: 1 << 20,
    keyBytesMax: 512,
    batchBytesMax: 4 << 20,
    waitForLock: true,
    clock: () => clock.now,
    storageBucket: { name: "notes", quotaBytes: 50 << 20, persisted: true },
    git: { autoCommit: "debounced", commitDebounceMs: 5000, commitMaxAgeMs: 30000, authorName: "A", authorEmail: "a@example.com" },
  };
  const git: GitOptions = { autoCommit: "manual" };
  const withoutHistory: ThermoclineOptions = { git: false };
  const db: Thermocline = await Thermocline.open("notes", options);
  const name: string = db.name;

  await db.put("notes/today", "ship it");
  await db.put("blobs/1", new Uint8Array([1, 2, 3]), { sync: "fsync", hotTtlMs: 1000 });
  await db.put("blobs/2", new ArrayBuffer(8), { sync: "memory" });
  const bytes: Uint8Array | undefined = await db.get("blobs/1");
  const text: string | undefined = await db.getString("notes/today");

  await db.putJson("notes/plan", { title: "plan", tags: ["a"] } satisfies Note);
  const note: Note | undefined = await db.getJson<Note>("notes/plan");
  const anything: unknown = await db.getJson("notes/plan");

  const ops: BatchOp[] = [
    { op: "put", key: "a", value: "1" },
    { op: "putJson", key: "b", value: { n: 2 } },
    { op: "delete", key: "notes/today" },
  ];
  await db.batch(ops, { sync: "fsync" });
  const keys: string[] = await db.list("notes/");
  const all: string[] = await db.list();
  await db.delete("a");

  const level: SyncLevel = "fsync";
  await db.sync(level);
  await db.sync();
  await db.flush();
  clock.now += 5000;
  await db.runTimers();

  await db.put("notes/today", "shipped", { sync: "commit" });
  const versions: Version[] = await db.history("notes/today");
  const size: number | null = versions[0]?.size ?? null;
  const before: Uint8Array | undefined = await db.getAt("notes/today", "HEAD~1");
  const log: LogEntry[] = await db.log(10);
  const bundle: Uint8Array = await db.exportGit();
  const other = await Thermocline.open("copy");
  const imported: ImportReport = await other.importGit(bundle);
  const commits: number = imported.commits;

  const stats: ThermoclineStats = await db.stats();
  const persisted: boolean = stats.persisted;
  const age: number | null = stats.dirtyOldestAgeMs;
  const info: KeyInfo | undefined = db.keyInfo("b");
  const hot: boolean | undefined = info?.hot;

  try {
    await db.put("", "x");
  } catch (e) {
    const err = e as ThermoclineError;
    const errName: ThermoclineErrorName = err.name;
    if (errName === "QuotaExceededError" || errName === "LockedError") {
      console.log(err.message);
    }
  }

  await db.close();
  db.free();
  await Thermocline.destroy("notes", { storageBucket: { name: "notes" }, waitForLock: false });
  const granted: boolean = await Thermocline.requestPersistence();

  // @ts-expect-error: a number is not a value
  await db.put("k", 42);
  // @ts-expect-error: "eventually" is not a level
  await db.sync("eventually");
  // @ts-expect-error: options are checked, misspellings too
  await Thermocline.open("x", { hotCapacity: 1 });
  // @ts-expect-error: autoCommit is one of three modes
  await Thermocline.open("x", { git: { autoCommit: "sometimes" } });
  // @ts-expect-error: getAt needs a revision
  await db.getAt("notes/today");
  // @ts-expect-error: a delete takes no value
  const bad: BatchOp = { op: "delete", key: "k", value: "v" };
  // @ts-expect-error: the constructor is private; stores come from Thermocline.open
  new Thermocline();

  console.log(name, bytes, text, note, anything, keys, all, persisted, age, hot, granted, bad);
  console.log(git, withoutHistory, size, before, log, commits, stats.commits, stats.coldOnlyKeys);
}

void tour;
