// The demo page: every button is one call of the store's JavaScript API.
import { Thermocline } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const decoder = new TextDecoder();
let db;

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// Runs an action, reporting failures by their stable error name.
function action(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      status(`${e.name}: ${e.message}`, true);
    }
  };
}

function needStore() {
  if (!db) throw Object.assign(new Error("open a store first"), { name: "NoStore" });
  return db;
}

function key() {
  return $("key").value;
}

function show(text) {
  $("output").textContent = text;
}

function text(bytes) {
  return bytes === undefined ? "(absent)" : decoder.decode(bytes);
}

async function open() {
  if (db) await db.close();
  db = undefined;
  const name = $("name").value;
  db = await Thermocline.open(name, { git: { autoCommit: "debounced", commitDebounceMs: 2000 } });
  $("opened").textContent = `open: ${name}`;
  await refresh();
  status(`opened ${name}`);
}

async function refresh() {
  const store = needStore();
  const list = $("keys");
  list.replaceChildren();
  for (const k of await store.list()) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.textContent = k;
    b.dataset.key = k;
    b.addEventListener("click", action(async () => {
      $("key").value = k;
      await get();
    }));
    li.append(b);
    list.append(li);
  }
  const log = $("log");
  log.replaceChildren();
  for (const c of await store.log(10)) {
    const li = document.createElement("li");
    li.textContent = `${c.commit.slice(0, 10)} ${c.summary}`;
    li.dataset.commit = c.commit;
    log.append(li);
  }
  const s = await store.stats();
  const shown = {
    keys: s.keys,
    "in memory": s.hotKeys,
    "in IndexedDB": s.warmKeys,
    "git commits (this session)": s.commits,
    "written since last commit": s.coldPendingKeys,
    "IndexedDB write transactions": s.writeTransactions,
    "storage persistent": s.persisted ? "yes" : "no (the browser may evict it)",
  };
  $("stats").replaceChildren(
    ...Object.entries(shown).flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = String(v);
      dd.dataset.stat = k;
      return [dt, dd];
    }),
  );
}

async function history(k) {
  const store = needStore();
  $("history-key").textContent = k;
  const list = $("history");
  list.replaceChildren();
  $("version").textContent = "";
  for (const v of await store.history(k)) {
    const li = document.createElement("li");
    const when = new Date(v.timeSecs * 1000).toISOString().replace("T", " ").slice(0, 19);
    const b = document.createElement("button");
    b.textContent = "view";
    b.addEventListener("click", action(async () => {
      $("version").textContent = text(await store.getAt(k, v.commit));
    }));
    li.append(`${v.commit.slice(0, 10)} ${when} ${v.size === null ? "deleted" : `${v.size} B`} `, b);
    li.dataset.commit = v.commit;
    list.append(li);
  }
}

async function put() {
  const k = key();
  const level = $("level").value;
  await needStore().put(k, $("value").value, { sync: level });
  await refresh();
  await history(k);
  status(`put ${k} (${level})`);
}

async function get() {
  const k = key();
  show(text(await needStore().get(k)));
  await history(k);
  status(`get ${k}`);
}

async function remove() {
  const k = key();
  await needStore().delete(k, { sync: $("level").value });
  show("(absent)");
  await refresh();
  await history(k);
  status(`deleted ${k}`);
}

async function commitNow() {
  await needStore().sync("commit");
  await refresh();
  if (key()) await history(key());
  status("committed");
}

async function exportGit() {
  const bundle = await needStore().exportGit();
  const url = URL.createObjectURL(new Blob([bundle], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `${needStore().name}.bundle`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  status(`exported ${bundle.length} bytes: git clone ${a.download}`);
}

async function importGit(event) {
  const file = event.target.files[0];
  if (!file) return;
  const report = await needStore().importGit(new Uint8Array(await file.arrayBuffer()));
  event.target.value = "";
  await refresh();
  status(`imported ${report.commits} commits, ${report.keys} keys`);
}

$("open").addEventListener("click", action(open));
$("put").addEventListener("click", action(put));
$("get").addEventListener("click", action(get));
$("delete").addEventListener("click", action(remove));
$("commit").addEventListener("click", action(commitNow));
$("refresh").addEventListener("click", action(refresh));
$("export").addEventListener("click", action(exportGit));
$("import").addEventListener("change", action(importGit));
addEventListener("pagehide", () => db?.close());
action(open)();
