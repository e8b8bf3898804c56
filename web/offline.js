// The offline cache, shared by the page, its workers and the service worker (sw.js): one cache
// per build and site folder, named from pkg/version.js, which web/build.sh writes from a hash of
// every file the page serves, and from the folder this page is served from. Files answered from one build's cache therefore never mix with another's (a new
// glimpse_wasm.js never meets an old .wasm offline; online, a deploy during a visit can still
// pair them, as URLs carry no version). Once the page has filled this build's cache it marks it
// complete, and the service worker of that build then deletes the others' caches; until then it
// answers offline from the newest complete one.
//
// Nothing is downloaded twice on a first visit: the WebAssembly is put into the cache by whoever
// downloads it (`fetchOnce`), and once the model is ready the page adds the model it loaded and
// the rest of what it loaded (`keepForOffline`), which the browser's HTTP cache still holds.
// Models are kept only once they have loaded, and at most one besides the default: a visitor who
// tries many bundles by URL (or a page that sends one there) would otherwise fill the disk.

await import("./pkg/version.js");

/** This build's cache name (sw.js has its twin): with the site folder in it, two deployments on
 * one origin keep their own caches. */
export const CACHE = `glimpse-${self.GLIMPSE_VERSION}@${new URL("./", import.meta.url).pathname}`;

/** Whether this realm makes the cache: the page does, as it starts; its workers only write to
 * it once made (each imports this file afresh, so a worker started in an old tab after a newer
 * build had deleted the cache made it again: review 74). */
const MAKES_CACHE = typeof document !== "undefined";

/** Whether this realm has found or made its build's cache. */
let cacheSeen = false;

/** This build's cache; `null` once it is gone from under this page: a newer build's page
 * completed its own and deleted it, and what the server sends now is that build's files, which
 * must not be kept under this build's name (an old tab made its cache again so, review 73). */
async function ownCache() {
  if ((cacheSeen || !MAKES_CACHE) && !(await caches.has(CACHE))) return null;
  cacheSeen = true;
  return caches.open(CACHE);
}

// Made before the page starts its workers, which then keep their module in it.
if (MAKES_CACHE && "caches" in self) ownCache().catch(() => {});

/** The entry that marks a cache complete: it holds every file the page needs offline (sw.js
 * has its twin). */
const COMPLETE = new URL("./offline-complete", import.meta.url).href;

/** Marks a cached answer as a model (whatever its URL), and says which file it holds; on a
 * request, marks the page's model download, which the service worker leaves to the network
 * (sw.js has its twin). */
export const MODEL_HEADER = "X-Glimpse-Model";

/** `fetch(url)` that also keeps a successful answer in this build's offline cache (unless
 * `keep` is false), and answers from that cache when the network fails even if no service worker
 * does (a reload that bypassed it, a worker it does not control). `request`: that fetch, if
 * already started; `signal`: its abort signal, if any: an aborted fetch is not answered from the
 * cache. */
export async function fetchOnce(url, request = fetch(url), signal = undefined, { keep = true } = {}) {
  let response;
  try {
    response = await request;
  } catch (offline) {
    if (signal?.aborted) throw offline;
    const cached = "caches" in self ? await caches.match(url, { cacheName: CACHE }) : undefined;
    if (cached) return cached;
    throw offline;
  }
  if (keep && response.status === 200 && "caches" in self) {
    const copy = response.clone();
    // An entry this build's cache already holds stays: the service worker answered from it, and
    // a new one would lose the compiled code the browser keeps beside it (sw.js).
    ownCache()
      .then(async (cache) => cache && ((await cache.match(url)) ?? cache.put(url, copy)))
      .catch((err) => console.warn(`not cached for offline use: ${url} (${err.message})`));
  }
  return response;
}

/** Adds what the page loaded to this build's cache: the page itself, its scripts, styles and
 * `extra`, the files only its workers loaded (the browser's HTTP cache answers "not modified",
 * so nothing is downloaded again), but none of the URLs in `skip` (the models asked for, which
 * only `model` stands for); and `model` ({ url, blob, version }: the model in use, from the
 * bytes the page holds), keeping besides it only `defaultModel` and, while the default is in
 * use, the last other model kept. Before each file it awaits `idle()`, so that work the user
 * waits for goes first. Then, with a model kept, marks the cache complete and tells the service
 * worker so. Resolves to whether it did (not without a model loaded by URL, nor once a newer
 * build has deleted this build's cache). */
export async function keepForOffline({ extra = [], skip = new Set(), idle = async () => {}, model = null, defaultModel } = {}) {
  const loaded = [location.href, ...performance.getEntriesByType("resource").map((entry) => entry.name), ...extra];
  const ours = loaded.filter((url) => {
    const parsed = new URL(url);
    return parsed.origin === location.origin && parsed.protocol.startsWith("http") && !skip.has(parsed.href);
  });
  const cache = await ownCache();
  if (!cache) return false;
  for (const url of new Set(ours)) {
    await idle();
    if (!(await cache.match(url))) await cache.add(url);
  }
  // Complete only with a model in it: the service worker would then delete the other builds'
  // caches, and an update's page whose model failed, or that ran only a dropped bundle, left
  // nothing to caption with offline (review 72).
  if (!model) return false;
  await idle();
  await keepModel(cache, model, new URL(defaultModel).href);
  await cache.put(COMPLETE, new Response(""));
  // The service worker deletes the other builds' caches, if this is its build's: an old tab's
  // page, completing a cache it had made again, deleted the newer build's (review 72). (Asked
  // of the registration: `ready` never settles where registering failed.)
  (await navigator.serviceWorker?.getRegistration())?.active?.postMessage({ complete: CACHE });
  return true;
}

/** Puts `model` into `cache` unless it holds that file (the same size and version), after deleting the other models but
 * the default and, while the default is in use, the one kept last (Cache Storage lists in order
 * of putting): deleting first leaves room under a full quota. */
async function keepModel(cache, { url, blob, version }, defaultHref) {
  const href = new URL(url).href;
  const kept = `${blob.size} ${version}`; // the same size and version: the same file
  const others = [];
  for (const request of await cache.keys()) {
    if (request.url === href || request.url === defaultHref) continue;
    if ((await cache.match(request))?.headers.has(MODEL_HEADER)) others.push(request);
  }
  const spared = href === defaultHref ? others.slice(-1) : [];
  await Promise.all(others.filter((request) => !spared.includes(request)).map((request) => cache.delete(request)));
  // Without a version (a host that sends neither ETag nor Last-Modified) the size alone cannot
  // tell a retrained bundle from the one kept, so the one just loaded is kept in its place (this
  // held before only because a header's trailing space is trimmed: "SIZE " never matched).
  if (version && (await cache.match(href))?.headers.get(MODEL_HEADER) === kept) return;
  const headers = { "Content-Type": "application/octet-stream", "Content-Length": String(blob.size), [MODEL_HEADER]: kept };
  await cache.put(href, new Response(blob, { headers }));
}
