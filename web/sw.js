// Offline use: the page, its scripts, the WebAssembly and the default model are cached on the
// first visit; afterwards the page works with the network off. Requests go to the network first
// (so a new version shows up when online) and fall back to the cache; only this site's own GET
// requests are handled. Every URL is relative to this file, so any static host and sub-path work.

const CACHE = "glimpse-v1";
const SHELL = [
  "./",
  "./index.html",
  "./style.css",
  "./favicon.svg",
  "./app.js",
  "./captioner-client.js",
  "./heatmap.js",
  "./worker.js",
  "./pkg/glimpse_wasm.js",
  "./pkg/glimpse_wasm_bg.wasm",
  "./models/default.safetensors",
].map((path) => new URL(path, self.location).href);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.ok && response.status === 200) await cache.put(stripSearch(url, request), response.clone());
        return response;
      } catch (offline) {
        const cached = await cache.match(stripSearch(url, request));
        if (cached) return cached;
        throw offline;
      }
    })(),
  );
});

/** `index.html?model=…` and `index.html` are the same file. */
function stripSearch(url, request) {
  if (!url.search) return request;
  return new Request(url.origin + url.pathname);
}
