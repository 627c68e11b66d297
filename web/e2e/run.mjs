// End-to-end tests of the browser store through the demo page, in Debian's Chromium driven by
// playwright-core, with a persistent profile on disk (the default context keeps storage in
// memory and fakes durability). Run by ./scripts/test after wasm/build-npm.sh:
//
//   (cd web && npm ci) && node web/e2e/run.mjs
//
// What a user does: writes at each level through the page, reloads, reads history, exports the
// history and hands it to the real `git`; makes a store with the native CLI, exports it, and
// imports it into the browser; opens a second tab on the same store.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "../serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const work = mkdtempSync(join(tmpdir(), "thermocline-e2e-"));
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options });
}

/** The native CLI, built if this checkout has none yet. */
function nativeCli() {
  const target = process.env.CARGO_TARGET_DIR ?? join(repo, "target");
  const bin = join(target, "debug", "thermocline");
  if (!existsSync(bin)) run("cargo", ["build", "--locked", "-p", "thermocline"], { cwd: repo, stdio: "inherit" });
  return (...args) => run(bin, ["--dir", join(work, "native"), ...args]);
}

const steps = [];
async function step(name, fn) {
  const started = Date.now();
  await fn();
  steps.push(name);
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

/** Waits until the status line says `text` (or an error, which fails the step). */
async function statusSays(page, text) {
  const status = page.locator("#status");
  await page.waitForFunction(
    (want) => {
      const el = document.getElementById("status");
      return el.textContent.includes(want) || el.classList.contains("error");
    },
    text,
    { timeout: 20_000 },
  );
  const got = await status.textContent();
  check(got.includes(text), `status "${got}", expected "${text}"`);
}

async function write(page, key, value, level) {
  await page.fill("#key", key);
  await page.fill("#value", value);
  await page.selectOption("#level", level);
  await page.click("#put");
  await statusSays(page, `put ${key} (${level})`);
}

async function read(page, key) {
  await page.fill("#key", key);
  await page.click("#get");
  await statusSays(page, `get ${key}`);
  return page.locator("#output").textContent();
}

async function keys(page) {
  return page.locator("#keys button").allTextContents();
}

const server = await serve(0);
const origin = `http://127.0.0.1:${server.address().port}`;
const context = await chromium.launchPersistentContext(join(work, "profile"), {
  executablePath: chromiumPath,
  headless: true,
  acceptDownloads: true,
  args: ["--no-sandbox"],
});
let failed = false;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));

  await step("the demo page opens its store", async () => {
    await page.goto(`${origin}/`);
    await statusSays(page, "opened demo");
  });

  await step("writes at each level, commits, a delete", async () => {
    await write(page, "notes/today", "ship it", "fsync");
    await write(page, "notes/todo", "write tests", "commit"); // commit 1: both keys
    await write(page, "notes/today", "shipped", "commit"); // commit 2
    await write(page, "scratch", "kept in memory only until flushed", "memory");
    await page.fill("#key", "notes/todo");
    await page.selectOption("#level", "commit");
    await page.click("#delete");
    await statusSays(page, "deleted notes/todo"); // commit 3 (with scratch)
    check((await page.locator("#log li").count()) === 3, "three commits in the log");
  });

  await step("a reload finds everything, and history reads old versions", async () => {
    await page.reload();
    await statusSays(page, "opened demo");
    check((await keys(page)).join() === "notes/today,scratch", `keys ${await keys(page)}`);
    check((await read(page, "notes/todo")) === "(absent)", "deleted key after reload");
    check((await read(page, "notes/today")) === "shipped", "value after reload");
    const versions = page.locator("#history li");
    check((await versions.count()) === 2, "two versions of notes/today");
    await versions.nth(1).locator("button").click();
    await page.waitForFunction(() => document.getElementById("version").textContent !== "");
    const older = await page.locator("#version").textContent();
    check(older === "ship it", `the older version: ${older}`);
  });

  await step("a second tab is locked out", async () => {
    const other = await context.newPage();
    await other.goto(`${origin}/`);
    await other.waitForFunction(() => document.getElementById("status").classList.contains("error"));
    const text = await other.locator("#status").textContent();
    check(text.startsWith("LockedError"), `second tab: ${text}`);
    await other.close();
  });

  const bundle = join(work, "demo.bundle");
  await step("the exported history is a repository git reads", async () => {
    const download = page.waitForEvent("download");
    await page.click("#export");
    await (await download).saveAs(bundle);
    const clone = join(work, "clone");
    run("git", ["clone", "--quiet", bundle, clone]);
    run("git", ["-C", clone, "fsck", "--strict", "--no-progress"]);
    const subjects = run("git", ["-C", clone, "log", "--format=%s"]).trim().split("\n");
    check(subjects.length === 3, `git log: ${subjects}`);
    check(subjects[2].includes("notes/todo") && subjects[2].includes("notes/today"), `first commit: ${subjects[2]}`);
    check(run("git", ["-C", clone, "show", "HEAD:notes/today.v"]) === "shipped", "tip value");
    check(run("git", ["-C", clone, "show", "HEAD~2:notes/today.v"]) === "ship it", "first value");
    check(run("git", ["-C", clone, "show", "HEAD~1:notes/todo.v"]) === "write tests", "deleted key's past");
    const tip = run("git", ["-C", clone, "ls-tree", "-r", "--name-only", "HEAD"]).trim().split("\n");
    check(tip.join() === "notes/today.v,scratch.v", `tip tree: ${tip}`);
  });

  await step("a store made by the native CLI imports into the browser", async () => {
    const cli = nativeCli();
    cli("--sync", "commit", "put", "users/alice", '{"plan":"free"}');
    cli("--sync", "commit", "put", "users/alice", '{"plan":"pro"}');
    cli("--sync", "commit", "put", "users/bob", "hello from the native store");
    const nativeBundle = join(work, "native.bundle");
    cli("export-git", nativeBundle);
    await page.fill("#name", "imported");
    await page.click("#open");
    await statusSays(page, "opened imported");
    await page.setInputFiles("#import", nativeBundle);
    await statusSays(page, "imported 3 commits, 2 keys");
    check((await keys(page)).join() === "users/alice,users/bob", `keys ${await keys(page)}`);
    check((await read(page, "users/alice")) === '{"plan":"pro"}', "imported value");
    check((await page.locator("#history li").count()) === 2, "imported history");
    await page.reload();
    await page.fill("#name", "imported");
    await page.click("#open");
    await statusSays(page, "opened imported");
    check((await read(page, "users/bob")) === "hello from the native store", "after reload");
    // Writes go on on top of the imported history, and it exports again.
    await write(page, "users/carol", "new in the browser", "commit");
    check((await page.locator("#log li").count()) === 4, "a commit on top of the import");
  });

  await step("importing into a store with data is refused", async () => {
    await page.setInputFiles("#import", bundle);
    await page.waitForFunction(() => document.getElementById("status").classList.contains("error"));
    const text = await page.locator("#status").textContent();
    check(text.startsWith("ImportError") && text.includes("not empty"), `status: ${text}`);
  });
} catch (e) {
  failed = true;
  console.error(`FAIL after ${steps.length} steps: ${e.stack ?? e}`);
} finally {
  await context.close();
  server.close();
  rmSync(work, { recursive: true, force: true });
}
if (failed) process.exit(1);
console.log(`e2e: ${steps.length} steps passed`);
