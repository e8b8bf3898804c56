// Offline use: after one visit the page works with the network off. Requests go to the network
// first (so a new version shows up when online) and fall back to this build's cache; only this
// site's own GET requests are handled. Every URL is relative to this file, so any static host and
// sub-path work.
//
// One cache per build and site folder (see offline.js): pkg/version.js names the build, and a new
// build changes that file, so the browser installs a new service worker. The page, not this
// worker, fills the cache on a first visit (offline.js), with exactly the files it loaded and
// without downloading any of them twice, then marks it complete and says so; this worker then
// deletes this folder's other builds' caches. Until then, offline, it answers from the newest
// complete cache: deleting the old one as this worker started left an update's first visit, gone
// offline before its page had filled the new one, with no page at all (review 71). A complete
// cache is never written here again: an update's first visit is served by the old build's worker,
// which kept the new build's page and scripts in the old build's cache, the one offline then fell
// back on (review 73).
//
// Every answer also carries the cross-origin isolation headers (COOP and COEP), which most
// static hosts cannot be told to send: an isolated page may share memory between workers, so
// from the second visit on the CPU runs pkg/cpu-threads (the "COI service worker" technique).
// The page only ever loads its own files, so `require-corp` blocks nothing.

importScripts("./pkg/version.js");

/** This site folder: two deployments on one origin (two sub-paths of one host) keep their own
 * caches, which Cache Storage does not part by itself. */
const FOLDER = new URL("./", self.location).pathname;
/** This build's cache (offline.js's CACHE, its twin). */
const CACHE = `glimpse-${self.GLIMPSE_VERSION}@${FOLDER}`;
/** The entry that marks a cache complete (offline.js's COMPLETE). */
const COMPLETE = new URL("./offline-complete", self.location).href;
/** The file that names a build (web/version.sh writes it). */
const VERSION_FILE = new URL("./pkg/version.js", self.location).href;
/** The header the page's model downloads carry (offline.js's MODEL_HEADER). */
const MODEL_HEADER = "X-Glimpse-Model";

self.addEventListener("install", (event) => {
  event.waitUntil(self.skipWaiting());
});

// The other builds' caches go once this build's is complete: when this worker starts, if its
// page completed it first (while an older worker still answered), or when its page says so.
self.addEventListener("activate", (event) => {
  event.waitUntil(Promise.all([self.clients.claim(), deleteOthersOnceComplete()]));
});

// A page has completed a cache (offline.js). (A page of an older build, in a tab still open,
// completes its own, which stays until this build's page completes this one.)
self.addEventListener("message", (event) => {
  if (event.data?.complete === CACHE) event.waitUntil(deleteOthersOnceComplete());
});

async function deleteOthersOnceComplete() {
  if (!(await isComplete(await caches.open(CACHE)))) return;
  const builds = (await caches.keys()).filter((key) => key !== CACHE);
  const others = await Promise.all(builds.map(async (key) => ((await ofThisFolder(key)) ? key : null)));
  await Promise.all(others.filter(Boolean).map((key) => caches.delete(key)));
}

/** Whether the cache `key` is one of this folder's builds': named so, or named as before the
 * name held the folder (`glimpse-HASH`) and holding a file of this folder itself. */
async function ofThisFolder(key) {
  if (!key.startsWith("glimpse-")) return false;
  // (A version is a hex hash: the first `@` ends it. A folder may hold one.)
  if (key.includes("@")) return key.slice(key.indexOf("@") + 1) === FOLDER;
  const requests = await (await caches.open(key)).keys();
  return requests.some((request) => {
    const { pathname } = new URL(request.url);
    return pathname.startsWith(FOLDER) && !pathname.slice(FOLDER.length).includes("/");
  });
}

async function isComplete(cache) {
  return Boolean(await cache.match(COMPLETE));
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  // Models go straight to the network, whatever their URL: the page keeps the ones it loads
  // (offline.js) and answers from that copy offline. A fetch passed on by this worker outlives
  // the page's abort, so each silent server asked for a model kept a connection until the
  // browser had none left for this site; and a model's answer was kept here whole, any size.
  if (request.headers.has(MODEL_HEADER)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const wasm = url.pathname.endsWith(".wasm");
      let response;
      try {
        response = await fetch(request);
      } catch (offline) {
        // `index.html?model=…` is the page cached as `./?backend=cpu`; `worker.js?module=cpu`
        // the one script whatever its query (the worker reads its own URL).
        const complete = await completeCache();
        const cached = (await complete.match(request, { ignoreSearch: true })) ?? (await complete.match(samePage(url), { ignoreSearch: true }));
        if (cached) return wasm ? cached : isolated(cached);
        throw offline;
      }
      // The page's own policy refuses other sites, but this worker's fetches are not bound by
      // it: an answer redirected to another site is refused here. One redirected within the
      // site is passed on but not kept under the URL asked for.
      if (response.redirected && new URL(response.url).origin !== self.location.origin) return Response.error();
      if (wasm) return fromCache(cache, request, response);
      // The answer goes to the page as it arrives; keeping a copy may fail (storage full) or
      // finish later without holding it back.
      if (response.status === 200 && !response.redirected) event.waitUntil(keep(cache, request, response.clone()).catch(() => {}));
      return isolated(response);
    })(),
  );
});

/** Keeps `response` in `cache` unless the cache is complete: its files are one build's, and what
 * the network answers may be a newer build's. */
async function keep(cache, request, response) {
  if (!(await isComplete(cache))) await cache.put(request, response);
}

/** The cache offline answers come from: this build's once its page has completed it, else the
 * newest complete one of this folder (its marker is this folder's) whose files all come from
 * its own build; else this build's. */
async function completeCache() {
  const builds = (await caches.keys()).filter((key) => key.startsWith("glimpse-"));
  for (const name of [CACHE, ...builds.reverse()]) {
    const cache = await caches.open(name);
    if ((await isComplete(cache)) && (await holdsItsOwnBuild(cache, name))) return cache;
  }
  return caches.open(CACHE);
}

/** Whether the cache `name` holds its own build's `pkg/version.js`: a build's worker from before
 * complete caches were frozen (any before review 73) kept the next build's page and scripts in
 * its cache, and the next build's version.js among them (the page imports it at once). */
async function holdsItsOwnBuild(cache, name) {
  const version = (await cache.match(VERSION_FILE))?.text();
  const build = name.slice("glimpse-".length).split("@")[0];
  return (await version)?.includes(`"${build}"`) ?? false;
}

/** `response`, the network's answer for a WebAssembly module, as this build's cache holds it:
 * the entry there if it holds the same file (the network's body is then dropped), else the
 * entry made from `response` (unless the cache is complete: then `response` itself). An answer from Cache Storage itself, not rebuilt, is one beside
 * which the browser keeps the code V8 compiles for the module, and the next visit starts from
 * that code instead of compiling the module again; an answer from the network passed on by this
 * worker has no such place. (A module needs no isolation headers: only documents and workers
 * do.) */
async function fromCache(cache, request, response) {
  if (response.status !== 200) return response;
  const cached = await cache.match(request);
  if (cached && sameFile(cached, response)) {
    response.body?.cancel();
    return cached;
  }
  if (await isComplete(cache)) return response;
  try {
    await cache.put(request, response.clone());
  } catch {
    return response; // not cached (storage full): served as it came
  }
  const stored = await cache.match(request);
  if (!stored) return response;
  response.body?.cancel(); // the copy stored has been read; this one need not be kept
  return stored;
}

/** Whether two answers for one URL hold the same file: the same ETag, or without one the same
 * Last-Modified and Content-Length. */
function sameFile(a, b) {
  const header = (response, name) => response.headers.get(name);
  if (header(a, "ETag") || header(b, "ETag")) return header(a, "ETag") === header(b, "ETag");
  const same = (name) => header(a, name) === header(b, name);
  return header(a, "Last-Modified") !== null && same("Last-Modified") && same("Content-Length");
}

/** `response` with the cross-origin isolation headers added. */
function isolated(response) {
  // A redirect the browser follows itself (status 0) cannot be rebuilt, nor needs the headers.
  if (response.type === "opaqueredirect" || response.status === 0) return response;
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  const { status, statusText } = response;
  return new Response(response.body, { status, statusText, headers });
}

/** `…/index.html` and `…/` are the same page. */
function samePage(url) {
  const { pathname } = url;
  if (pathname.endsWith("/index.html")) return url.origin + pathname.slice(0, -"index.html".length);
  return url.origin + (pathname.endsWith("/") ? `${pathname}index.html` : pathname);
}
