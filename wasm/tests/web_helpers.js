// Helpers for wasm/tests/web.rs: what a test needs from the page that the store must not do
// itself (drive the JavaScript API as an app would, look at another browsing context, tamper
// with stored bytes, fill a storage bucket).

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function rejects(promise, name, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof Error, `${what}: rejects with an Error`);
    check(e.name === name, `${what}: error name ${e.name}, expected ${name} (${e.message})`);
    return e;
  }
  throw new Error(`check failed: ${what} was accepted`);
}

// Drives an open store through every method of the JavaScript API, then deletes what it wrote.
export async function exerciseApi(db) {
  const Thermocline = db.constructor;
  check(typeof db.name === "string" && db.name.length > 0, "name");

  // Values: strings, bytes, ArrayBuffers.
  await db.put("s", "text é");
  await db.put("b", new Uint8Array([1, 2, 3]), { sync: "os" });
  await db.put("ab", new Uint8Array([9, 8]).buffer, { sync: "memory", hotTtlMs: 60000 });
  check((await db.getString("s")) === "text é", "getString");
  const b = await db.get("b");
  check(b instanceof Uint8Array && b.join() === "1,2,3", "get bytes");
  check((await db.get("ab")).join() === "9,8", "ArrayBuffer value");
  check((await db.get("missing")) === undefined, "absent is undefined");
  check((await db.getString("missing")) === undefined, "absent string is undefined");

  // JSON documents, stored as the native store writes them.
  await db.putJson("j", { z: 1, a: [true, null], n: { y: "é", x: 2.5 } });
  check(
    (await db.getString("j")) ===
      '{\n  "a": [\n    true,\n    null\n  ],\n  "n": {\n    "x": 2.5,\n    "y": "é"\n  },\n  "z": 1\n}',
    "putJson pretty-prints with sorted keys",
  );
  const doc = await db.getJson("j");
  check(doc.n.y === "é" && doc.a[0] === true, "getJson");
  await rejects(db.getJson("b"), "JsonError", "getJson of bytes");
  await rejects(db.putJson("u", undefined), "JsonError", "putJson(undefined)");
  const cyclic = {};
  cyclic.self = cyclic;
  await rejects(db.putJson("c", cyclic), "JsonError", "putJson of a cycle");

  // Listing, an atomic batch, deletes.
  await db.batch([
    { op: "put", key: "t/1", value: "one" },
    { op: "putJson", key: "t/2", value: [2] },
    { op: "delete", key: "s" },
  ]);
  check((await db.list("t/")).join() === "t/1,t/2", "list with prefix");
  check((await db.list()).join() === "ab,b,j,t/1,t/2", "list everything");
  await rejects(
    db.batch([{ op: "put", key: "t/3", value: "x" }, { op: "put", key: "", value: "y" }]),
    "InvalidKeyError",
    "a batch with a bad key",
  );
  check((await db.get("t/3")) === undefined, "a refused batch leaves nothing");
  await rejects(db.batch([{ op: "rename", key: "x" }]), "InvalidArgumentError", "unknown op");

  // Levels.
  await db.sync();
  await db.sync("os");
  await db.sync("commit");
  const push = await rejects(db.put("p", "x", { sync: "push" }), "LevelUnavailableError", "push");
  check(push.message.includes("push"), `push's reason: ${push.message}`);
  await rejects(db.sync("eventually"), "InvalidArgumentError", "an unknown level");

  // Bad input rejects (never throws) with a named error.
  await rejects(db.put("a//b", "x"), "InvalidKeyError", "empty segment");
  await rejects(db.put(42, "x"), "InvalidArgumentError", "a number key");
  await rejects(db.put("k", 42), "InvalidArgumentError", "a number value");
  await rejects(db.put("k", "x", { level: "os" }), "InvalidArgumentError", "a misspelt option");
  await rejects(Thermocline.open(db.name), "LockedError", "a second open");
  await rejects(
    Thermocline.open("other", { hotCapacity: 1 }),
    "InvalidArgumentError",
    "an unknown open option",
  );
  await rejects(Thermocline.open("other", { defaultSync: "push" }), "LevelUnavailableError", "push default");
  await rejects(Thermocline.destroy(db.name), "LockedError", "destroying an open store");

  // Stats, key info, flush, timers.
  await db.flush();
  await db.runTimers();
  const stats = await db.stats();
  check(stats.keys === 5 && stats.warmKeys === 5 && stats.dirtyKeys === 0, `stats ${JSON.stringify(stats)}`);
  check(typeof stats.persisted === "boolean" && stats.writeTransactions > 0, "stats fields");
  const info = db.keyInfo("b");
  check(info.warm && !info.dirty && info.valueBytes === 3, `keyInfo ${JSON.stringify(info)}`);
  check(db.keyInfo("missing") === undefined, "keyInfo of an unknown key");

  // History: the commit made by sync("commit") above, and the next one.
  await db.put("t/1", "uno", { sync: "commit" });
  const versions = await db.history("t/1");
  check(versions.length === 2 && versions[0].size === 3 && /^[0-9a-f]{40}$/.test(versions[0].commit),
    `history ${JSON.stringify(versions)}`);
  check(typeof versions[0].timeSecs === "number", "history times");
  check(new TextDecoder().decode(await db.getAt("t/1", "HEAD~1")) === "one", "getAt HEAD~1");
  check(new TextDecoder().decode(await db.getAt("t/1", versions[0].commit.slice(0, 7))) === "uno",
    "getAt abbreviated id");
  check((await db.getAt("s", "HEAD")) === undefined, "getAt of a deleted key");
  await rejects(db.getAt("t/1", "HEAD~9"), "RevisionError", "getAt past the root");
  await rejects(db.getAt("t/1", "v1.0"), "RevisionError", "getAt of an unknown revision");
  const log = await db.log();
  check(log.length === 2 && log[0].commit === versions[0].commit && log[0].summary.includes("t/1"),
    `log ${JSON.stringify(log)}`);
  check((await db.log(1)).length === 1, "log(n)");
  const bundle = await db.exportGit();
  check(bundle instanceof Uint8Array &&
    new TextDecoder().decode(bundle.subarray(0, 16)) === "# v2 git bundle\n", "exportGit");
  await rejects(db.importGit(bundle), "ImportError", "importing into a store with keys");
  await rejects(db.importGit("not bytes"), "InvalidArgumentError", "importGit of a string");
  const after = await db.stats();
  check(after.commits === 2 && after.coldPendingKeys === 0, `commit stats ${JSON.stringify(after)}`);

  for (const key of await db.list()) await db.delete(key, { sync: "fsync" });
  check((await db.list()).length === 0, "everything deleted");
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Asks from an iframe (another browsing context of the origin) whether the lock is taken.
export async function lockHeldElsewhere(name) {
  const frame = document.createElement("iframe");
  document.body.appendChild(frame);
  try {
    const locks = frame.contentWindow.navigator.locks;
    return await locks.request(name, { ifAvailable: true }, (lock) => lock === null);
  } finally {
    frame.remove();
  }
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

export async function tamper(dbName, storeName, key, value) {
  const db = await request(indexedDB.open(dbName));
  try {
    const tx = db.transaction([storeName], "readwrite");
    tx.objectStore(storeName).put(value, key);
    await done(tx);
  } finally {
    db.close();
  }
}

export async function peek(dbName, storeName, key) {
  const db = await request(indexedDB.open(dbName));
  try {
    const tx = db.transaction([storeName], "readonly");
    const value = request(tx.objectStore(storeName).get(key));
    await done(tx);
    return await value;
  } finally {
    db.close();
  }
}

// Writes `bytes` into database `dbName` of the bucket in 16 KiB records; stops at the quota.
export async function fillBucket(bucketName, dbName, bytes) {
  const bucket = await navigator.storageBuckets.open(bucketName);
  const open = bucket.indexedDB.open(dbName, 1);
  open.onupgradeneeded = () => open.result.createObjectStore("fill");
  const db = await request(open);
  let written = 0;
  try {
    while (written < bytes) {
      const tx = db.transaction(["fill"], "readwrite", { durability: "strict" });
      tx.objectStore("fill").put(new Uint8Array(16384).fill(7), written);
      try {
        await done(tx);
      } catch (e) {
        if (e && e.name === "QuotaExceededError") break;
        throw e;
      }
      written += 16384;
    }
  } finally {
    db.close();
  }
  return written;
}

export async function deleteFromBucket(bucketName, dbName) {
  const bucket = await navigator.storageBuckets.open(bucketName);
  await request(bucket.indexedDB.deleteDatabase(dbName));
}

export async function storagePersisted() {
  return await navigator.storage.persisted();
}
