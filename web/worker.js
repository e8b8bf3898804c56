// The Web Worker that owns the model, so the page never freezes while it loads or captions.
// `worker.js?module=cpu` runs pkg/cpu (the CPU only), `?module=cpu-relaxed` pkg/cpu-relaxed (the
// same with relaxed SIMD: needs a browser that validates it), `?module=cpu-threads` pkg/cpu-threads (the
// CPU over a pool of one thread per core: needs a cross-origin isolated page), `?module=webgpu`
// pkg/webgpu; `&cache=1` keeps the .wasm in the offline cache (see offline.js).
//
// Messages in:  { id, type: "load", bundle: Blob, backend }
//               { id, type: "caption", image: Blob | ArrayBuffer | ImageData, options }
//               { id, type: "score", image: Blob | ArrayBuffer | ImageData, caption, options }
//               { id, type: "files" }: the URLs this worker loaded (for the offline cache)
//               { id, type: "limits" }: { imageBytes, bundleBytes }, the most the module takes
// Messages out: { id, ok: true, value } | { id, ok: false, error, fatal, startup, tooLarge }
// `fatal` means the WebAssembly instance trapped (a panic, a lost GPU, out of memory), now or
// earlier: this worker is unusable and the page starts a fresh one. `startup`: the module itself did not start (not downloaded,
// no thread pool), whatever the request. `tooLarge`: the module refused a model its memory cannot
// hold (a module with more memory may load it).

/** The most pool threads: each instantiates the module and keeps a stack in its 2 GiB of
 * shared memory, and a 128-core workstation started 128. */
const MAX_THREADS = 16;
/** Seconds the thread pool may take to start. */
const POOL_SECONDS = 30;

/** `promise`, or a rejection with `message` after `seconds`. */
function withTimeout(promise, seconds, message) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), seconds * 1000)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// No static imports: offline.js awaits at its top level, and until a module worker's imports
// have run it has no `onmessage`, so the page's first message would be lost.
const params = new URL(import.meta.url).searchParams;
const module = ["cpu-relaxed", "cpu-threads", "webgpu"].includes(params.get("module")) ? params.get("module") : "cpu";
const ready = (async () => {
  // The .wasm, the largest file, is asked for at once, not after the scripts below.
  const wasmUrl = new URL(`./pkg/${module}/glimpse_wasm_bg.wasm`, import.meta.url);
  const wasmRequest = fetch(wasmUrl);
  wasmRequest.catch(() => {}); // a failure (offline) is handled where it is awaited
  // `cache=1` (the page): keep the .wasm in the offline cache; a page without a service worker
  // to clean old caches up (the npm package's users, by default) takes the answer as it is.
  // Both scripts at once: each waits a round trip or more.
  const [fetchOnce, glue] = await Promise.all([
    params.get("cache") === "1" ? import("./offline.js").then((offline) => offline.fetchOnce) : (_url, request) => request,
    import(`./pkg/${module}/glimpse_wasm.js`),
  ]);
  // The .wasm goes into the offline cache as it arrives: no second download for it.
  await glue.default({ module_or_path: fetchOnce(wasmUrl, wasmRequest) });
  // One pool thread per core, up to MAX_THREADS; this worker only waits while they run a kernel.
  // A pool thread that fails to start is never heard of (wasm-bindgen-rayon waits for each
  // without a timeout), and every request waited for ever: after POOL_SECONDS the module counts
  // as not started, and the page runs a single-threaded one.
  if (module === "cpu-threads") {
    const threads = Math.min(navigator.hardwareConcurrency, MAX_THREADS);
    await withTimeout(glue.initThreadPool(threads), POOL_SECONDS, `the thread pool of ${threads} did not start within ${POOL_SECONDS} s`);
  }
  return glue;
})();
let captioner = null;
let broken = null;

/** The module's exports; a failure to start is marked `startup`. */
async function started() {
  try {
    return await ready;
  } catch (err) {
    throw Object.assign(new Error(`the ${module} module did not start: ${err?.message ?? err}`), { startup: true });
  }
}

async function handle({ type, bundle, backend, image, caption, options }) {
  const glue = await started();
  if (broken) throw new Error(broken);
  switch (type) {
    case "load": {
      refuseOver(bundle.size, glue.maxBundleBytes(), "bundle");
      const bytes = await bundle.arrayBuffer();
      const next = await glue.Captioner.load(new Uint8Array(bytes), { backend });
      // The old model stays until the new one has loaded: a bad bundle keeps it.
      captioner?.free();
      captioner = next;
      return captioner.info();
    }
    case "caption":
    case "score": {
      if (!captioner) throw new Error("no model is loaded");
      // A file is refused before it is read: the module would refuse it after the copy (its
      // memory never shrinks: a 250 MB video dropped as a photo kept 250 MB for good).
      if (image instanceof Blob) {
        refuseOver(image.size, glue.maxImageBytes(), "photo");
        glue.checkPhotoStart(new Uint8Array(await image.slice(0, 16).arrayBuffer())); // (FORMAT_SIGNATURE_BYTES)
      }
      const input = image instanceof Blob ? await photoBytes.read(image) : image instanceof ArrayBuffer ? new Uint8Array(image) : image;
      try {
        return type === "caption" ? await captioner.caption(input, options) : await captioner.score(input, caption, options);
      } finally {
        if (image instanceof Blob) photoBytes.release(input);
      }
    }
    case "files":
      return performance.getEntriesByType("resource").map((entry) => entry.name);
    case "limits":
      return { imageBytes: glue.maxImageBytes(), bundleBytes: glue.maxBundleBytes() };
    default:
      throw new Error(`unknown request ${type}`);
  }
}

/** Reads photos (Blobs) into one buffer, used again for each photo while photos keep coming.
 * A buffer per photo was garbage that V8 collects late, its bytes counted as external memory:
 * a hundred photos peaked 6 MB higher (phone photos, several MB each, would much more). A
 * buffer that `arrayBuffer()` returns cannot be filled again; a byte stream's BYOB reader fills
 * the one given (moving it into a new ArrayBuffer object, not copying). */
const photoBytes = {
  spare: null, // the buffer between photos
  idle: 0, // the timer that drops it once photos stop coming

  /** `blob`'s bytes, a Uint8Array over the spare buffer if it is large enough. */
  async read(blob) {
    const stream = blob.stream();
    let reader;
    try {
      reader = stream.getReader({ mode: "byob" });
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      stream.cancel(); // (a browser whose Blob streams are not byte streams)
      return new Uint8Array(await blob.arrayBuffer());
    }
    clearTimeout(this.idle);
    let buffer = this.spare?.byteLength >= blob.size ? this.spare : new ArrayBuffer(Math.max(1, blob.size));
    this.spare = null;
    // (A File changed on disk since it was chosen: refused, whatever the buffer's size.)
    const changed = () => new Error("the photo changed while it was being read");
    let filled = 0;
    try {
      for (;;) {
        if (filled === buffer.byteLength) {
          // Full: the stream must end here.
          if (!(await reader.read(new Uint8Array(1))).done) throw changed();
          break;
        }
        const { value, done } = await reader.read(new Uint8Array(buffer, filled));
        buffer = value.buffer;
        if (done) break;
        filled += value.byteLength;
      }
    } catch (err) {
      reader.cancel().catch(() => {}); // (its data stayed queued until the reader was collected)
      throw err;
    }
    if (filled !== blob.size) throw changed();
    return new Uint8Array(buffer, 0, filled);
  },

  /** Takes `bytes`' buffer back for the next photo, for 5 s. */
  release(bytes) {
    this.spare = bytes.buffer;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => (this.spare = null), 5000);
  },
};

/** Refuses `size` bytes of `what` over `limit`, in the module's own words. */
function refuseOver(size, limit, what) {
  if (size > limit) throw new Error(`the ${what} is ${size} bytes, over the limit of ${limit / 2 ** 20} MiB`);
}

// One request at a time: the captioner is borrowed for the whole of each call.
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      const value = await handle(data);
      const transfer = value?.attention ? value.attention.map((a) => a.buffer) : [];
      self.postMessage({ id: data.id, ok: true, value }, transfer);
    } catch (err) {
      // Every request after a trap fails too: the page starts a fresh worker for them.
      const fatal = err instanceof WebAssembly.RuntimeError || broken !== null;
      if (err instanceof WebAssembly.RuntimeError) broken = `the model crashed earlier: ${err.message}`;
      self.postMessage({ id: data.id, ok: false, error: String(err?.message ?? err), fatal, startup: err?.startup === true, tooLarge: err?.tooLarge === true });
    }
  });
};
