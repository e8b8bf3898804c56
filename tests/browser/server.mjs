// A static server for web/ on 127.0.0.1, under any sub-path, as a plain static host would serve
// it (Content-Length for download progress, the right MIME types, no special headers; gzip when
// asked to, as most hosts and web/serve.sh send it).

import { createReadStream, promises as fs } from "node:fs";
import http from "node:http";
import { Transform } from "node:stream";
import path from "node:path";
import { promisify } from "node:util";
import zlib from "node:zlib";

const gzip = promisify(zlib.gzip);

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".jpg": "image/jpeg",
  ".safetensors": "application/octet-stream",
};

/** Serves `root` at http://127.0.0.1:PORT`prefix` with Last-Modified revalidation, plus `extra` files (URL path under the prefix →
 * file); `isolate`: with the cross-origin isolation headers (COOP/COEP), as web/serve.sh sends
 * them; `compress`: every file gzip-encoded for a browser that accepts it, as web/serve.sh sends
 * them; `validators`: false sends no Last-Modified (a host that sends no validator at all);
 * `before(path)`: awaited before each answer (a test holds one back with it); `pace(path)`:
 * bytes per second for an uncompressed answer, 0 for as fast as the socket takes them. Resolves with
 * { url, close, requests, bytes, fileBytes, read } (`bytes`: path → bytes sent; `fileBytes`: path →
 * bytes of the files those answers held; `read`: path → bytes of an uncompressed answer read from
 * its file so far, which the socket's back-pressure keeps within a few MB of what was sent). */
export async function serve(
  root,
  prefix = "/",
  extra = {},
  { isolate = false, compress = false, validators = true, before = async () => {}, pace = () => 0 } = {},
) {
  const isolation = isolate ? { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } : {};
  const requests = [];
  const bytes = new Map();
  const fileBytes = new Map();
  const read = new Map(); // path → bytes read for an answer that is not compressed, as sent
  const gzipped = new Map(); // file → { modified, body }
  // Compressed before the first request, as hosts that compress keep their compressed copies.
  if (compress) for (const file of await filesUnder(root)) gzipped.set(file, await gzipFile(file));
  const server = http.createServer(async (req, res) => {
    requests.push(req.url);
    const url = new URL(req.url, "http://127.0.0.1");
    if (!url.pathname.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    let relative;
    try {
      relative = decodeURIComponent(url.pathname.slice(prefix.length));
    } catch {
      res.writeHead(400).end(); // a malformed `%` escape: it stopped the server
      return;
    }
    await before(relative, res);
    if (res.writableEnded) return; // answered by `before`
    let file = extra[relative] ?? path.join(root, relative);
    if (!extra[relative] && !file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    try {
      let stat = await fs.stat(file);
      if (stat.isDirectory()) {
        file = path.join(file, "index.html");
        stat = await fs.stat(file);
      }
      // Revalidation as static hosts do it, so a file fetched twice (page, then service worker)
      // is sent once.
      const modified = stat.mtime.toUTCString();
      if (validators && req.headers["if-modified-since"] === modified) {
        res.writeHead(304, { "Last-Modified": modified, "Cache-Control": "no-cache", ...isolation }).end();
        return;
      }
      const headers = {
        "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "Cache-Control": "no-cache",
        ...(validators && { "Last-Modified": modified }),
        ...isolation,
      };
      const name = url.pathname.slice(prefix.length);
      const count = (map, n) => map.set(name, (map.get(name) ?? 0) + n);
      count(fileBytes, stat.size);
      if (compress && /\bgzip\b/.test(req.headers["accept-encoding"] ?? "")) {
        let cached = gzipped.get(file);
        if (cached?.modified !== modified) {
          cached = await gzipFile(file);
          gzipped.set(file, cached);
        }
        res.writeHead(200, { ...headers, "Content-Encoding": "gzip", Vary: "Accept-Encoding", "Content-Length": cached.body.length });
        count(bytes, cached.body.length);
        res.end(cached.body);
        return;
      }
      res.writeHead(200, { ...headers, "Content-Length": stat.size });
      count(bytes, stat.size);
      const source = createReadStream(file).on("data", (chunk) => count(read, chunk.length));
      const rate = pace(relative);
      (rate ? source.pipe(paced(rate)) : source).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    requests,
    bytes,
    fileBytes,
    read,
    // Open connections end too: a test may hold an answer back for ever (`before`).
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

/** A stream that passes bytes on at `bytesPerSecond`, as a server across a network sends them
 * (on loopback a browser takes hundreds of MB before a page can answer), in pieces of a tenth
 * of a second's bytes at most (a slow one trickles, not pauses). */
function paced(bytesPerSecond) {
  const piece = Math.max(1, Math.floor(bytesPerSecond / 10));
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  return new Transform({
    async transform(chunk, _encoding, done) {
      for (let at = 0; at < chunk.length; at += piece) {
        const part = chunk.subarray(at, at + piece);
        await wait((1000 * part.length) / bytesPerSecond);
        this.push(part);
      }
      done();
    },
  });
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir) {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

/** `file` gzip-encoded, with its modification time as the server's Last-Modified says it. */
async function gzipFile(file) {
  const stat = await fs.stat(file);
  return { modified: stat.mtime.toUTCString(), body: await gzip(await fs.readFile(file)) };
}
