// A static server for web/ on 127.0.0.1, under any sub-path, as a plain static host would serve
// it (Content-Length for download progress, the right MIME types, no special headers).

import { createReadStream, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";

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
 * them. Resolves with { url, close, requests, bytes } (`bytes`: path → bytes sent). */
export async function serve(root, prefix = "/", extra = {}, { isolate = false } = {}) {
  const isolation = isolate ? { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } : {};
  const requests = [];
  const bytes = new Map();
  const server = http.createServer(async (req, res) => {
    requests.push(req.url);
    const url = new URL(req.url, "http://127.0.0.1");
    if (!url.pathname.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    const relative = decodeURIComponent(url.pathname.slice(prefix.length));
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
      if (req.headers["if-modified-since"] === modified) {
        res.writeHead(304, { "Last-Modified": modified, "Cache-Control": "no-cache", ...isolation }).end();
        return;
      }
      res.writeHead(200, {
        "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "Content-Length": stat.size,
        "Cache-Control": "no-cache",
        "Last-Modified": modified,
        ...isolation,
      });
      const name = url.pathname.slice(prefix.length);
      bytes.set(name, (bytes.get(name) ?? 0) + stat.size);
      createReadStream(file).pipe(res);
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
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
