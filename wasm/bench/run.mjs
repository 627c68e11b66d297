// Times the browser store against raw IndexedDB and idb-keyval in headless Chromium with a
// persistent profile on disk (an in-memory profile would fake durability), and prints the
// medians and ratios for BENCHMARKS.md.
//
//   wasm/build-npm.sh && (cd wasm/bench && npm ci && node run.mjs)
//
// Serves wasm/pkg, idb-keyval and bench.js from 127.0.0.1, opens the page in `chromium`, and
// waits for the page to post its results.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..", "pkg");
const files = {
  "/": ["text/html", () => '<!doctype html><script type="module" src="/bench.js"></script>'],
  "/bench.js": ["text/javascript", () => readFileSync(join(here, "bench.js"))],
  "/idb-keyval.js": [
    "text/javascript",
    () => readFileSync(join(here, "node_modules", "idb-keyval", "dist", "index.js")),
  ],
};
const types = { ".js": "text/javascript", ".wasm": "application/wasm" };

let settle;
const outcome = new Promise((resolve) => (settle = resolve));
const server = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/result") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      res.end();
      settle(JSON.parse(body));
    });
    return;
  }
  const url = req.url.split("?")[0];
  if (files[url]) {
    res.writeHead(200, { "content-type": files[url][0] });
    return res.end(files[url][1]());
  }
  if (url.startsWith("/pkg/")) {
    const path = normalize(join(pkg, url.slice(5)));
    const ext = path.slice(path.lastIndexOf("."));
    if (path.startsWith(pkg) && types[ext]) {
      try {
        res.writeHead(200, { "content-type": types[ext] });
        return res.end(readFileSync(path));
      } catch {
        // falls through to 404
      }
    }
  }
  res.writeHead(404);
  res.end();
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();

const profile = mkdtempSync(join(tmpdir(), "thermocline-bench-"));
const browser = spawn(
  process.env.CHROMIUM ?? "chromium",
  ["--headless", "--no-sandbox", "--disable-gpu", `--user-data-dir=${profile}`, `http://127.0.0.1:${port}/`],
  { stdio: "ignore" },
);
const timeout = setTimeout(() => settle({ ok: false, error: "no result within 180 s" }), 180_000);
const result = await outcome;
clearTimeout(timeout);
browser.kill();
server.close();
await new Promise((resolve) => browser.once("exit", resolve));
// Chromium may still be writing its profile for a moment after it exits.
rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });

if (!result.ok) {
  console.error(result.error);
  process.exit(1);
}
const r = result.results;
const ms = (x) => `${x.toFixed(2)} ms`;
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
console.log(result.userAgent);
console.log(`batch of 1000 puts, strict:  store ${ms(r.storeBatchFsync)}, raw IndexedDB ${ms(r.rawBatchPutStrict)} (${ratio(r.storeBatchFsync, r.rawBatchPutStrict)})`);
console.log(`batch of 1000 puts, relaxed: store ${ms(r.storeBatchOs)}, raw IndexedDB ${ms(r.rawBatchPutRelaxed)} (${ratio(r.storeBatchOs, r.rawBatchPutRelaxed)})`);
console.log(`batch of 1000 puts then its flush to the warm tier: store ${ms(r.storeBatchAndFlush)} (${ratio(r.storeBatchAndFlush, r.rawBatchPutStrict)} of raw strict)`);
console.log(`1000 gets: store from memory ${ms(r.storeGetHot)}, from IndexedDB ${ms(r.storeGetWarm)}; raw IndexedDB in one transaction ${ms(r.rawBatchGet)}`);
console.log(`32 concurrent single puts: store fsync ${ms(r.storeConcurrentFsync)}, os ${ms(r.storeConcurrentOs)}; idb-keyval set ${ms(r.keyvalConcurrentSet)} (${ratio(r.keyvalConcurrentSet, r.storeConcurrentOs)} faster at os, ${ratio(r.keyvalConcurrentSet, r.storeConcurrentFsync)} at fsync)`);
