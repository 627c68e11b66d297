// Runs in the browser page that run.mjs opens: times the store against raw IndexedDB and
// idb-keyval, and posts the medians back.
import { Thermocline } from "/pkg/index.js";
import { set as keyvalSet, createStore } from "/idb-keyval.js";

const N = 1000; // values per batch
const VALUE_BYTES = 100;
const CONCURRENT = 32;
const ROUNDS = 15;

const value = (i) => new Uint8Array(VALUE_BYTES).fill(i % 251);
const keys = Array.from({ length: N }, (_, i) => `k/${String(i).padStart(5, "0")}`);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(round) {
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    await round(r);
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error);
  });
}

async function rawDb(name) {
  await request(indexedDB.deleteDatabase(name));
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => open.result.createObjectStore("kv");
  return request(open);
}

async function rawBatchPut(db, durability, r) {
  const tx = db.transaction(["kv"], "readwrite", { durability });
  const store = tx.objectStore("kv");
  for (let i = 0; i < N; i++) store.put(value(i + r), keys[i]);
  await done(tx);
}

async function rawBatchGet(db) {
  const tx = db.transaction(["kv"], "readonly");
  const store = tx.objectStore("kv");
  const reads = keys.map((k) => request(store.get(k)));
  await done(tx);
  return Promise.all(reads);
}

async function main() {
  const results = {};

  // Batched puts: N values in one atomic write, at each durability.
  const raw = await rawDb("bench-raw");
  results.rawBatchPutStrict = await time((r) => rawBatchPut(raw, "strict", r));
  results.rawBatchPutRelaxed = await time((r) => rawBatchPut(raw, "relaxed", r));
  results.rawBatchGet = await time(() => rawBatchGet(raw));
  raw.close();

  await Thermocline.destroy("bench-store");
  const quiet = { writeBehind: { flushOps: 1e9, flushBytes: 1e12, debounceMs: 3_600_000, maxAgeMs: 3_600_000 } };
  let db = await Thermocline.open("bench-store", quiet);
  const batch = (r) => keys.map((key, i) => ({ op: "put", key, value: value(i + r) }));
  results.storeBatchFsync = await time((r) => db.batch(batch(r), { sync: "fsync" }));
  results.storeBatchOs = await time((r) => db.batch(batch(r), { sync: "os" }));
  results.storeGetHot = await time(() => Promise.all(keys.map((k) => db.get(k))));
  // The whole way to the warm tier: the batch, then its write-behind flush (which the store
  // would otherwise do later, off the writer's path).
  results.storeBatchAndFlush = await time(async (r) => {
    await db.batch(batch(r), { sync: "fsync" });
    await db.flush();
  });
  await db.close();
  // Reopened with a hot tier too small to promote into: every read goes to IndexedDB.
  db = await Thermocline.open("bench-store", { ...quiet, hotCapacityBytes: 512 });
  results.storeGetWarm = await time(() => Promise.all(keys.map((k) => db.get(k))));

  // 32 writers at once, each with its own single put.
  const kv = createStore("bench-keyval", "kv");
  results.keyvalConcurrentSet = await time((r) =>
    Promise.all(Array.from({ length: CONCURRENT }, (_, i) => keyvalSet(`c/${i}`, value(i + r), kv))),
  );
  results.storeConcurrentFsync = await time((r) =>
    Promise.all(Array.from({ length: CONCURRENT }, (_, i) => db.put(`c/${i}`, value(i + r)))),
  );
  results.storeConcurrentOs = await time((r) =>
    Promise.all(Array.from({ length: CONCURRENT }, (_, i) => db.put(`c/${i}`, value(i + r), { sync: "os" }))),
  );
  results.writeTransactions = (await db.stats()).writeTransactions;
  await db.close();
  await Thermocline.destroy("bench-store");
  return results;
}

main().then(
  (results) => fetch("/result", { method: "POST", body: JSON.stringify({ ok: true, results, userAgent: navigator.userAgent }) }),
  (e) => fetch("/result", { method: "POST", body: JSON.stringify({ ok: false, error: `${e.name}: ${e.message}\n${e.stack}` }) }),
);
