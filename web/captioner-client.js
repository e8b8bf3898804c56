// The page's handle on the model: promises for load and caption, run in Web Workers so the page
// never freezes.
//
// Four WebAssembly modules: pkg/cpu (small, every visitor loads it first and captions at once),
// pkg/cpu-relaxed (the same with relaxed SIMD's fused multiply-adds, used instead where
// `relaxedSimd` is on and the browser validates relaxed SIMD; Safari does not),
// pkg/cpu-threads (the same over one thread per core, used instead where `threads` is on and the
// page is cross-origin isolated, as shared memory requires; pkg/cpu when either does not start)
// and pkg/webgpu (CubeCL and WebGPU, large). With `auto`, the WebGPU module is fetched only when
// the browser offers an adapter, in the background, and used only when it captions a test
// image faster than the CPU does (on a software adapter such as SwiftShader it never does).
// When the WebGPU worker traps (a lost GPU, a shader or limits error), captions move to the CPU
// worker and the caption is retried, so it still arrives.
// The npm package (web/npm) ships this file as its main module, typed by captioner-client.d.ts.

/** The default model, beside this file here and in the npm package. Only a URL: nothing is
 * downloaded until a page fetches it. */
export const defaultModelUrl = new URL("./models/default.safetensors", import.meta.url);

/** Words decoded by the backend comparison: enough to compile every decoder shader. */
const PROBE_STEPS = 3;

/** Why a model runs single-threaded on a page that has threads. */
const THREADS_TOO_SMALL = "The threaded CPU module's memory (at most 2 GiB) cannot hold this model, so it runs on one thread";

/** Refuses a backend that is not one of the three (any other, "WebGPU" or "gpu" too, ran on
 * the CPU without a word). */
function checkBackend(backend) {
  if (!["auto", "webgpu", "cpu"].includes(backend)) {
    const shown = typeof backend === "string" ? JSON.stringify(backend.slice(0, 64)) : typeof backend;
    throw new TypeError(`backend must be "auto", "webgpu" or "cpu", got ${shown}`);
  }
}

/** `info` with `note` after any note it has. */
function withNote(info, note) {
  return { ...info, note: info.note ? `${info.note}. ${note}` : note };
}

/** The worker script running `module`; `cache`: it keeps the .wasm in the offline cache. */
function workerUrl(module, cache) {
  return new URL(`./worker.js?module=${module}${cache ? "&cache=1" : ""}`, import.meta.url);
}

/** One worker running one of the modules. */
class ModelWorker {
  broken = false; // it trapped, and is being replaced
  #stopped = false;
  #retiring = false; // stops once its accepted requests are answered
  #worker;
  #next = 1;
  #pending = new Map();

  constructor(module, cache) {
    this.module = module;
    this.url = workerUrl(module, cache);
    this.#worker = new Worker(this.url, { type: "module" });
    this.#worker.onmessage = ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if (data.ok) pending.resolve(data.value);
      else pending.reject(Object.assign(new Error(data.error), { fatal: data.fatal, startup: data.startup, tooLarge: data.tooLarge }));
      if (this.#retiring && this.#pending.size === 0) this.terminate();
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      // A script that did not load fires a bare Event, not an ErrorEvent: its module never
      // started, which was reported as a trap, "needs more than the 4 GiB …" (review 71).
      const error =
        event instanceof ErrorEvent
          ? Object.assign(new Error(`the model worker failed: ${event.message}`), { fatal: true })
          : Object.assign(new Error(`could not load ${this.url.pathname}`), { startup: true });
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
      if (this.#retiring) this.terminate();
    };
  }

  request(message, transfer = []) {
    if (this.#stopped) return Promise.reject(Object.assign(new Error("the model worker was stopped"), { fatal: this.broken }));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      // Posted first: a message that cannot be sent (a DataCloneError) left its entry pending,
      // and a retiring worker, its model with it, was never stopped.
      this.#worker.postMessage({ ...message, id }, transfer);
      this.#pending.set(id, { resolve, reject });
    });
  }

  /** `{ imageBytes, bundleBytes }`: the most its module takes of a photo and of a bundle. */
  limits() {
    return this.request({ type: "limits" });
  }

  /** `bundle`: a Blob, sent as a reference: its bytes are read inside the worker. */
  load(bundle, backend) {
    return this.request({ type: "load", bundle, backend });
  }

  caption(image, options) {
    return this.#withImage({ type: "caption", options }, image);
  }

  score(image, caption, options) {
    return this.#withImage({ type: "score", caption, options }, image);
  }

  /** Sends `message` with `image`: a Blob (a File) by reference, read inside the worker; bytes
   * copied and transferred (a Uint8Array's own bytes only: cloned, a view of a larger buffer
   * took all of it along; `new Uint8Array` copies, where a Node Buffer's `slice` is a view of its
   * pool); pixels cloned. */
  #withImage(message, image) {
    const copy = image instanceof ArrayBuffer ? image.slice(0) : image instanceof Uint8Array ? new Uint8Array(image).buffer : image;
    return this.request({ ...message, image: copy }, copy instanceof ArrayBuffer ? [copy] : []);
  }

  /** Takes no more requests and stops once those it has accepted are answered: another model
   * took its place, and captions asked of this one before then are this one's to give (they were
   * rejected as "stopped", which a page could not tell from a crash). */
  retire() {
    this.#stopped = true;
    if (this.#pending.size === 0) this.terminate();
    else this.#retiring = true;
  }

  /** Stops the worker; its waiting requests reject, `fatal` where a trap stopped it. */
  terminate({ fatal = false } = {}) {
    this.#stopped = true;
    this.#worker.terminate();
    const error = Object.assign(new Error("the model worker was stopped"), { fatal });
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}

/** A module of one function, `f32x4.relaxed_madd` of three zero vectors: it validates only
 * where the browser runs relaxed SIMD. */
const RELAXED_SIMD_PROBE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
  ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b], // types: () -> v128
  ...[0x03, 0x02, 0x01, 0x00], // functions: one, of type 0
  ...[0x0a, 0x1c, 0x01, 0x1a, 0x00], // code: one body of 26 bytes, no locals
  ...[0x43, 0, 0, 0, 0, 0xfd, 0x13], // f32x4.splat(f32.const 0)
  ...[0x43, 0, 0, 0, 0, 0xfd, 0x13],
  ...[0x43, 0, 0, 0, 0, 0xfd, 0x13],
  ...[0xfd, 0x85, 0x02, 0x0b], // f32x4.relaxed_madd, end
]);

/** Whether this browser runs relaxed SIMD, asked once. */
let relaxedSimd;
function validatesRelaxedSimd() {
  relaxedSimd ??= globalThis.WebAssembly?.validate(RELAXED_SIMD_PROBE) === true;
  return relaxedSimd;
}

/** Whether this browser offers a WebGPU adapter (a real GPU or a software one). */
async function hasWebGpuAdapter() {
  try {
    return Boolean(await navigator.gpu?.requestAdapter());
  } catch {
    return false;
  }
}

/** A grey photo for timing: every shader compiled, nothing depends on its content. */
function probeImage() {
  const [width, height] = [224, 224];
  const data = new Uint8ClampedArray(width * height * 4).fill(128);
  return { width, height, data };
}

export class CaptionerClient {
  #active = null; // the ModelWorker that captions
  #spare = null; // the CPU worker kept while WebGPU captions, for a fall back without reloading
  #probing = null; // the WebGPU worker being measured
  #started = null; // a worker started by `start`, its module loading, not yet given a model
  #bundle = null; // the current model's bundle, a Blob (its bytes outside the page), to reload after a crash
  #generation = 0; // bumps on every load, so a stale comparison never switches the new model
  #loads = 0; // bumps when a load starts
  #shown = 0; // the start number of the load whose model is in place: an earlier one that ends later is dropped
  #model = 0; // bumps when a load brings another bundle (not the same one on another backend)
  #limits = null; // a promise of the modules' size limits, asked once
  #adapter = null; // the answer to whether WebGPU has an adapter, asked once
  /** (text): a device change the page should show. */
  onNote = () => {};
  /** ({ backend, note }): the comparison in `auto` moved captions or decided to stay. */
  onBackend = () => {};
  /** (error): a worker stopped (out of memory, a panic) and its model could not be started
   * again: no model is loaded until the next `load`. */
  onLost = () => {};
  #offlineCache;
  #threads;
  #relaxedSimd;

  /** `offlineCache`: the workers keep each .wasm they download in this build's Cache Storage
   * cache (`glimpse-<build>`), for a page whose service worker serves it offline and which
   * deletes older builds' caches (this page does, offline.js). Off by default: nothing else
   * would ever delete them.
   * `threads`: on a cross-origin isolated page with more than one core, the CPU runs
   * pkg/cpu-threads. `relaxedSimd`: where the browser validates relaxed SIMD, the
   * single-threaded CPU runs pkg/cpu-relaxed. Both off by default (the npm package ships pkg/cpu
   * only). */
  constructor({ offlineCache = false, threads = false, relaxedSimd = false } = {}) {
    this.#offlineCache = offlineCache;
    this.#threads = threads;
    this.#relaxedSimd = relaxedSimd;
  }

  #worker(module) {
    return new ModelWorker(module, this.#offlineCache);
  }

  /** Whether this browser offers a WebGPU adapter, asked once: where it offers none, the answer
   * can take longer than the model takes to load, so it is asked while the model loads. */
  #hasWebGpu() {
    this.#adapter ??= hasWebGpuAdapter();
    return this.#adapter;
  }

  /** The CPU module for this page: threads need shared memory, which needs isolation. */
  #cpuModule() {
    const shared = globalThis.crossOriginIsolated === true;
    if (this.#threads && shared && navigator.hardwareConcurrency > 1) return "cpu-threads";
    return this.#singleThreadModule();
  }

  /** The single-threaded CPU module: the relaxed-SIMD build where it is on and validates. */
  #singleThreadModule() {
    return this.#relaxedSimd && validatesRelaxedSimd() ? "cpu-relaxed" : "cpu";
  }

  /** What runs when `module` does not start (not downloaded while offline, no thread pool): the
   * threaded module gives way to the single-threaded one, the relaxed-SIMD one to pkg/cpu. */
  #fallbackFor(module) {
    if (module === "cpu-threads") return this.#singleThreadModule();
    return module === "cpu-relaxed" ? "cpu" : null;
  }

  /** The module `load(…, backend)` runs first. */
  #moduleFor(backend) {
    return backend === "webgpu" ? "webgpu" : this.#cpuModule();
  }

  /** Starts the worker that `load(…, backend)` will use, so that its WebAssembly downloads and
   * compiles while the page is still fetching the model, instead of after. */
  start(backend = "auto") {
    checkBackend(backend);
    const module = this.#moduleFor(backend);
    if (backend === "auto") this.#hasWebGpu();
    if (this.#started?.module === module) return;
    this.#started?.terminate();
    this.#started = this.#worker(module);
  }

  /** `{ imageBytes, bundleBytes }`: the most bytes of a photo and of a bundle the model takes
   * (the native tool's caps), asked once of a running module (every module reports the same),
   * or of a CPU one; a page stops a download that goes past them. */
  limits() {
    this.#limits ??= this.#askLimits().catch((err) => {
      this.#limits = null; // asked again next time
      throw err;
    });
    return this.#limits;
  }

  async #askLimits() {
    const running = [this.#active, this.#started].find((worker) => worker && !worker.broken);
    try {
      if (running) return await running.limits();
    } catch (err) {
      if (!err.startup) throw err;
    }
    return this.#limitsOf(this.#cpuModule());
  }

  /** The limits a fresh worker on `module` reports, or its fallback's where it does not start. */
  async #limitsOf(module) {
    const worker = this.#worker(module);
    try {
      return await worker.limits();
    } catch (err) {
      const fallback = err.startup && this.#fallbackFor(module);
      if (fallback) return this.#limitsOf(fallback);
      throw err;
    } finally {
      worker.terminate();
    }
  }

  /** The worker `start` began on `module`, or a new one. */
  #takeWorker(module) {
    const started = this.#started;
    this.#started = null;
    if (started?.module === module) return started;
    started?.terminate();
    return this.#worker(module);
  }

  /** A worker on `module` with the bundle loaded, or on its fallback where `module` does not
   * start or, being the threaded module, cannot hold the model: its shared memory is capped at
   * 2 GiB, the single-threaded modules may grow to wasm32's 4 GiB, and a model inside every cap
   * can need more than 2 (hostile round 8: 490 MB of int8 weights). The module refuses such a
   * model from its header (`tooLarge`); one that still runs out of memory traps (`fatal`).
   * Resolves `[worker, info]`. */
  async #loaded(module, bytes, backend) {
    const worker = this.#takeWorker(module);
    try {
      return [worker, await worker.load(bytes, backend)];
    } catch (err) {
      worker.terminate();
      const outOfMemory = (err.fatal || err.tooLarge) && module === "cpu-threads";
      const fallback = (err.startup || outOfMemory) && this.#fallbackFor(module);
      if (fallback) {
        console.warn(`${err.message}; pkg/${fallback} runs instead`);
        const [next, info] = await this.#loaded(fallback, bytes, backend);
        return [next, outOfMemory ? withNote(info, THREADS_TOO_SMALL) : info];
      }
      if (err.fatal && module !== "webgpu") {
        // Every file the module can tell is hostile is refused before it allocates; what is
        // left to stop a load is memory (or a bug).
        err.message += `: the module stopped while loading this model, most likely because it needs more than the 4 GiB of memory WebAssembly has`;
      }
      throw err;
    }
  }

  /** The URLs the live workers loaded, their scripts and .wasm included (for the offline cache). */
  async workerFiles() {
    const workers = [this.#active, this.#spare].filter((worker) => worker && !worker.broken);
    const files = await Promise.all(workers.map(async (worker) => [worker.url.href, ...(await worker.request({ type: "files" }))]));
    return [...new Set(files.flat())];
  }

  /** Which bundle the current model came from (the same bundle loaded on another backend keeps
   * its number): every caption and score is stamped with it (`model`), so a page can tell an
   * answer of another model from the current one's. */
  get model() {
    return this.#model;
  }

  /** The current model's bundle, as a Blob. */
  get bundle() {
    return this.#bundle;
  }

  /** Retires the model's workers (see `retire`) and stops a comparison under way. */
  #stopAll() {
    for (const worker of [this.#active, this.#spare]) worker?.retire();
    this.#probing?.terminate();
    this.#active = this.#spare = this.#probing = null;
  }

  /** Loads a bundle (Blob, ArrayBuffer or Uint8Array) on `backend` ("auto", "cpu" or "webgpu");
   * resolves with the model info. A bundle that fails to load leaves the previous model in
   * place; of two loads at once the one asked for later stays once it has loaded (an earlier
   * one that ends after it rejects, with `superseded`; "webgpu" where the browser offers no
   * adapter rejects with `noAdapter`). With "auto" the CPU answers at once and WebGPU is measured in the background (see
   * `onBackend`). Bytes are kept as a Blob, which the browser holds outside the page's memory. */
  async load(bytes, backend = "auto") {
    checkBackend(backend);
    if (!(bytes instanceof Blob)) bytes = new Blob([bytes]);
    const ticket = ++this.#loads;
    const adapter = backend === "cpu" ? null : this.#hasWebGpu();
    if (backend === "webgpu" && !(await adapter)) {
      // Said plainly (wgpu's own error is a debug dump of its device request); `noAdapter` lets
      // a page move to "auto" instead.
      throw Object.assign(new Error("This browser offers no WebGPU adapter"), { noAdapter: true });
    }
    let [worker, info] = await this.#loaded(this.#moduleFor(backend), bytes, backend === "webgpu" ? "webgpu" : "cpu");
    if (ticket < this.#shown) {
      // A load asked for later has already put its model in place: that one stays.
      worker.terminate();
      throw Object.assign(new Error("another model was asked for while this one loaded"), { superseded: true });
    }
    this.#shown = ticket;
    this.#stopAll();
    this.#active = worker;
    if (bytes !== this.#bundle) this.#model += 1;
    this.#bundle = bytes;
    const generation = ++this.#generation;
    if (backend === "auto") {
      if (await adapter) {
        info = withNote(info, "Checking in the background whether WebGPU captions faster");
        this.#compare(bytes, generation).catch((err) => this.#settle(generation, null, `WebGPU could not be used (${err.message}), so captions stay on the CPU`));
      } else {
        info = withNote(info, "This browser offers no WebGPU adapter, so the model runs on the CPU");
      }
    }
    return info;
  }

  /** Times the same short caption on both workers (after a warm-up that compiles WebGPU's
   * shaders) and moves captions to WebGPU only if it is faster. */
  async #compare(bytes, generation) {
    const gpu = this.#worker("webgpu");
    this.#probing = gpu;
    const options = { beam: 1, maxLen: PROBE_STEPS };
    await gpu.load(bytes, "webgpu");
    await gpu.caption(probeImage(), options); // warm-up: shader compilation, autotuning
    const gpuMs = (await gpu.caption(probeImage(), options)).ms;
    if (generation !== this.#generation) return gpu.terminate();
    const cpuMs = (await this.#active.caption(probeImage(), options)).ms;
    if (generation !== this.#generation) return gpu.terminate();
    const times = `a test caption took ${Math.round(gpuMs)} ms on WebGPU against ${Math.round(cpuMs)} ms on the CPU`;
    this.#probing = null;
    if (gpuMs < cpuMs) {
      // A CPU worker that trapped meanwhile is being replaced (#restart): no spare to fall back on.
      this.#spare = this.#active.broken ? null : this.#active;
      this.#active = gpu;
      this.#settle(generation, "webgpu", `WebGPU is faster (${times}), so captions run on WebGPU`);
    } else {
      gpu.terminate();
      this.#settle(generation, "cpu", `WebGPU is slower here (${times}), so captions stay on the CPU`);
    }
  }

  #settle(generation, backend, note) {
    if (generation !== this.#generation) return;
    this.#probing?.terminate();
    this.#probing = null;
    this.onBackend({ backend: backend ?? this.#active.module, note });
  }

  /** Captions an encoded image (a Blob such as a File, or bytes) or ImageData with `{ beam, maxLen }`, and to
   * explore `{ prefix, alternatives, allBeams }` (see glimpse-wasm). */
  caption(image, options) {
    return this.#run((worker) => worker.caption(image, options));
  }

  /** Scores `caption` (text or an array of words) for the image: each word's probability,
   * rank and attention; `{ alternatives }` adds the top words at every position. */
  score(image, caption, options = {}) {
    return this.#run((worker) => worker.score(image, caption, options));
  }

  /** Runs `work` on the active worker and stamps the answer with the model it came from. When
   * the WebGPU worker traps, moves to the CPU and runs it again there, so the answer still
   * arrives (with a note). When a CPU worker traps (out of memory, a bug), this request fails
   * (it could trap again) and a fresh worker is started from the bundle; requests that found
   * the worker already broken run again on the fresh one. */
  async #run(work) {
    await this.#recovering;
    if (!this.#active) throw new Error("no model is loaded");
    const worker = this.#active;
    const model = this.#model;
    try {
      return { ...(await work(worker)), model };
    } catch (err) {
      if (!err.fatal || !this.#bundle) throw err;
      const note = worker.module === "webgpu" ? `WebGPU failed (${err.message}), so the model moved to the CPU` : null;
      if (!worker.broken) {
        // The first request to find this worker trapped replaces it.
        worker.broken = true;
        if (!note) {
          this.#recovering = this.#restart(worker, worker.module);
          throw new Error(`${err.message} (the model stopped on this request and was started again)`);
        }
        this.onNote(note);
        this.#recovering = this.#toCpu(worker);
      }
      await this.#recovering;
      if (!this.#active) throw err;
      return { ...(await work(this.#active)), ...(note && { note }), model };
    }
  }

  #recovering = null;

  /** Replaces a trapped worker by a fresh one on `module` with the same bundle; never rejects
   * (where the bundle no longer loads, no model is loaded and requests say so). */
  async #restart(broken, module) {
    broken.terminate({ fatal: true }); // its waiting requests run again on the fresh worker
    try {
      const [fresh] = await this.#loaded(module, this.#bundle, "cpu");
      if (this.#active === broken) this.#active = fresh;
      else fresh.terminate();
    } catch (err) {
      if (this.#active !== broken) return;
      this.#active = null;
      this.onLost(err);
    }
  }

  /** Replaces the broken WebGPU worker by the spare CPU one, or a fresh one; never rejects
   * (see #restart). */
  async #toCpu(broken) {
    broken.terminate({ fatal: true });
    const cpu = this.#spare?.broken ? null : this.#spare;
    this.#spare = null;
    if (cpu) this.#active = cpu;
    else await this.#restart(broken, this.#cpuModule());
  }
}
