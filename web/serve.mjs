// Serves the demo page and the npm package built into wasm/pkg from 127.0.0.1.
//
//   wasm/build-npm.sh && node web/serve.mjs [port]     then open the printed address
//
// IndexedDB and Web Locks need a secure context: http://127.0.0.1 is one.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const roots = { "/pkg/": join(here, "..", "wasm", "pkg"), "/": here };
const types = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
};

/** Starts the server on `port` (0: any free port); resolves to it once listening. */
export async function serve(port = 0) {
  const server = createServer((req, res) => {
    let url = decodeURIComponent(req.url.split("?")[0]);
    if (url === "/") url = "/index.html";
    const [prefix, root] = Object.entries(roots).find(([p]) => url.startsWith(p));
    const path = normalize(join(root, url.slice(prefix.length)));
    const ext = path.slice(path.lastIndexOf("."));
    // Only files under the root, of the kinds above (no node_modules, no e2e scripts).
    if (path.startsWith(root + sep) && types[ext] && !path.includes(`${sep}e2e${sep}`)) {
      try {
        const body = readFileSync(path);
        res.writeHead(200, { "content-type": types[ext] });
        return res.end(body);
      } catch {
        // falls through to 404
      }
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`Thermocline demo: http://127.0.0.1:${server.address().port}/`);
}
