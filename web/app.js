// Glimpse's page: caption local photos with the model in a Web Worker and show, for each word,
// where the model looked. Nothing leaves the device: photos are read with FileReader-style APIs
// and handed to the worker; the only fetches are this site's own files.

import { CaptionerClient, defaultModelUrl as DEFAULT_MODEL } from "./captioner-client.js";
import { CACHE, MODEL_HEADER, fetchOnce, keepForOffline } from "./offline.js";
import { ResultView } from "./result-view.js";

const $ = (selector, root = document) => root.querySelector(selector);
const params = new URLSearchParams(location.search);

const els = {
  status: $("[data-testid=model-status]"),
  progress: $("#model-progress"),
  card: $("[data-testid=model-card]"),
  warning: $("#model-warning"),
  modelError: $("#model-error"),
  backend: $("#backend"),
  beam: $("#beam"),
  maxLen: $("#max-len"),
  recaption: $("#recaption"),
  files: $("#files"),
  drop: $("#drop"),
  results: $("#results"),
  template: $("#result-template"),
  queue: $("#queue"),
  queueCount: $("[data-testid=queue-count]"),
  cancel: $("[data-testid=cancel]"),
};

// Threads run by default only with more cores than this: on two, the page's own work (drawing
// each result, V8's compiles) takes the second core while photos stream in, and the threaded
// module measured no faster than the single-threaded one (README, "Threads").
const THREADS_ABOVE_CORES = 2;
// `?threads=1`: the threaded CPU module wherever it can run (an isolated page, two cores or
// more); `?threads=0`: a single-threaded one even where threads could run; `?simd=plain`: the
// plain-SIMD build even where the browser validates relaxed SIMD.
const client = new CaptionerClient({
  offlineCache: true,
  threads: params.get("threads") === "1" || (params.get("threads") !== "0" && navigator.hardwareConcurrency > THREADS_ABOVE_CORES),
  relaxedSimd: params.get("simd") !== "plain",
});
client.onNote = (note) => setStatus("ready", `Ready: ${model?.label ?? "model"} on ${where("cpu")}. ${note}.`, "cpu");
// `auto`: the background comparison of WebGPU with the CPU decided.
client.onBackend = ({ backend, note }) => {
  if (!model) return;
  setStatus("ready", `Ready: ${model.label} on ${where(backend)}. ${note}.`, backend);
  els.status.dataset.decided = "true";
  keepOffline().catch(() => {});
};
client.onLost = (err) => {
  // Kept to try again on another backend (the client still holds the bundle).
  if (model) lastTried = { bytes: client.bundle, label: model.label };
  model = null;
  setStatus("error", `No model loaded: it stopped and could not be started again (${err.message}).`);
};
document.documentElement.dataset.cache = CACHE;
let model = null; // { info, label }
let modelLoading = Promise.resolve();
const photos = []; // { file, element, copy, result, view }

// ---------------------------------------------------------------- model

function setStatus(state, text, backend) {
  els.status.dataset.state = state;
  if (backend) els.status.dataset.backend = backend;
  els.status.textContent = text;
}

/** "WebGPU", "CPU" or "CPU (2 threads)". */
function where(backend, info = model?.info) {
  if (backend === "webgpu") return "WebGPU";
  return info?.threads > 1 ? `CPU (${info.threads} threads)` : "CPU";
}

/** Seconds a model download may go without a byte, or without MIN_WINDOW_BYTES, before it
 * gives up. */
const STALL_SECONDS = 30;

/** Bytes a model download must bring in every STALL_SECONDS (the rate `glimpse data` asks, 64 KiB
 * a minute, over half its window): a server sending a byte every 25 s kept the page, and every
 * photo, waiting for ever. */
const MIN_WINDOW_BYTES = 32 << 10;

function formatMB(bytes) {
  return (bytes / 1e6).toFixed(1);
}

/** Bytes of a model download taken before the module has said how many a model may have
 * (`client.limits()`): a download that stays under it never waits for the module to start. */
const UNCHECKED_BYTES = 64 << 20;

/** A download's stop switch: `signal` (another model was asked for), a stall (less than
 * MIN_WINDOW_BYTES in STALL_SECONDS: `waiting(bytes)` counts what arrived, and starts the clock
 * again once the window has its bytes; `pause()` stops it while the page, not the server, is
 * waited for) and the download's own refusals abort it. */
function downloadControl(url, signal) {
  const controller = new AbortController();
  const stop = (reason) => controller.abort(reason);
  signal.addEventListener("abort", () => stop(signal.reason), { once: true });
  const aborted = new Promise((_, reject) => controller.signal.addEventListener("abort", () => reject(controller.signal.reason)));
  aborted.catch(() => {});
  let timer = null;
  let windowBytes = 0;
  const stalled = () =>
    windowBytes === 0
      ? `${url.pathname} sent nothing for ${STALL_SECONDS} s`
      : `${url.pathname} sent only ${windowBytes} bytes in ${STALL_SECONDS} s, less than ${MIN_WINDOW_BYTES >> 10} KiB`;
  const start = () => {
    clearTimeout(timer);
    windowBytes = 0;
    timer = setTimeout(() => stop(new Error(stalled())), STALL_SECONDS * 1000);
  };
  return {
    signal: controller.signal,
    stop,
    aborted,
    waiting(bytes = 0) {
      windowBytes += bytes;
      if (timer === null || windowBytes >= MIN_WINDOW_BYTES) start();
    },
    pause() {
      clearTimeout(timer);
      timer = null;
    },
  };
}

/** The most bytes a model may have, as the module says once it has started: `known()`, and
 * `check(bytes)`, which waits for the module (not counted as the server's stall) only past
 * UNCHECKED_BYTES and throws past the limit. */
function modelLimit(url, control) {
  let limit = null;
  const limits = client.limits().then(({ bundleBytes }) => (limit = bundleBytes));
  limits.catch(() => {}); // awaited only by a large download
  return {
    known: () => limit !== null,
    async check(bytes) {
      if (bytes <= UNCHECKED_BYTES) return;
      if (limit === null) {
        // (Once known, never paused again: each pause starts the server's clock afresh.)
        control.pause();
        await Promise.race([limits, control.aborted]);
        control.waiting();
      }
      if (bytes > limit) throw new Error(`${url.pathname} is ${bytes} bytes or more, over the limit of ${limit / 2 ** 20} MiB for a model`);
    },
  };
}

/** The length an answer promises; 0 when unknown (an encoded answer's length counts its
 * compressed bytes, not those the body yields). */
function promisedLength(response) {
  return response.headers.has("Content-Encoding") ? 0 : Number(response.headers.get("Content-Length")) || 0;
}

/** The answer for the model at `url`, its body unread and its promised length within the limit.
 * A large one promised before the module has said how large a model may be is dropped at once
 * (its copy for offline use too) and asked for again once it has: the browser would go on
 * downloading it meanwhile. */
async function openModel(url, control, limit) {
  const ask = async () => {
    const attempt = new AbortController();
    const signal = AbortSignal.any([control.signal, attempt.signal]);
    // Not kept as it arrives: only a model that loads is (keepOffline).
    // Marked as a model, which the service worker leaves to the network whatever its URL.
    const response = await fetchOnce(url, fetch(url, { signal, headers: { [MODEL_HEADER]: "1" } }), signal, { keep: false });
    if (!response.ok) throw new Error(`${url.pathname} answered ${response.status} ${response.statusText}`);
    // A 204 or 205 is "ok" and has no body at all.
    if (!response.body) throw new Error(`${url.pathname} answered ${response.status} with no model`);
    return [response, attempt];
  };
  let [response, attempt] = await ask();
  if (promisedLength(response) > UNCHECKED_BYTES && !limit.known()) {
    attempt.abort(new Error("asked again once the limit is known"));
    await limit.check(promisedLength(response));
    [response] = await ask();
  }
  await limit.check(promisedLength(response));
  return response;
}

/** Fetches a same-origin URL, reporting bytes / total as they arrive; resolves with a Blob and
 * the answer's version (its ETag, else Last-Modified; "" without either).
 * Stops the download, with an error that says why, when the server promises or sends more than
 * a model may have, when nothing arrives for STALL_SECONDS, or when `signal` aborts (another
 * model was asked for). */
async function fetchWithProgress(url, signal) {
  const control = downloadControl(url, signal);
  const limit = modelLimit(url, control);
  try {
    control.waiting();
    const response = await openModel(url, control, limit);
    const total = promisedLength(response);
    const reader = response.body.getReader();
    const chunks = [];
    let received = 0;
    els.progress.hidden = false;
    els.progress.max = total || 1;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      control.waiting(value.length);
      received += value.length;
      await limit.check(received);
      chunks.push(value);
      els.progress.value = total ? received : 0;
      setStatus("loading", `Downloading model… ${formatMB(received)}${total ? ` / ${formatMB(total)}` : ""} MB`);
    }
    control.signal.throwIfAborted();
    els.status.dataset.downloaded = String(received);
    // A Blob: the browser keeps its bytes outside the page, and the worker reads them.
    const version = response.headers.get("ETag") ?? response.headers.get("Last-Modified") ?? "";
    return { blob: new Blob(chunks), version };
  } catch (err) {
    const reason = control.signal.aborted ? control.signal.reason : err;
    control.stop(reason);
    throw reason;
  } finally {
    control.pause();
    els.progress.hidden = true;
  }
}

function showCard(info) {
  const card = info.card ?? {};
  const config = info.config;
  const metrics = Object.entries(card.metrics ?? {}).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(", ");
  const rows = [
    ["Model", card.name || "(unnamed)"],
    ["About", card.description || "no description"],
    ["Encoder", `${config.encoder.arch}${config.encoder.width_multiplier !== 1 ? ` ×${config.encoder.width_multiplier}` : ""}, ${info.grid[0]}×${info.grid[1]} attention grid`],
    ["Vocabulary", `${info.vocabularySize.toLocaleString("en")} words`],
    ["Trained on", card.trained_on || "not stated"],
    ["Metrics", metrics || "none reported"],
    ["Encoder weights", card.encoder_weights || "not stated"],
  ];
  els.card.replaceChildren(
    ...rows.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }),
  );
  els.warning.hidden = card.decoder_trained !== false;
}

/** Loads a bundle (a Blob) on the chosen backend; on failure the previous model stays. A load
 * that a later one superseded ends quietly: the later one says how it went. */
async function loadModel(bytes, label) {
  const previous = model;
  setStatus("loading", `Loading ${label}…`);
  els.modelError.hidden = true;
  try {
    const info = await client.load(bytes, els.backend.value).catch((err) => {
      if (!err.noAdapter) throw err;
      // WebGPU was asked for (`?backend=webgpu`, a shared link) where there is none: the page
      // runs as "auto" does, and its note says why, rather than leaving no model.
      els.backend.value = "auto";
      return client.load(bytes, "auto");
    });
    model = { info, label };
    lastTried = null;
    showCard(info);
    delete els.status.dataset.decided;
    els.status.dataset.module = info.module;
    setStatus("ready", `Ready: ${label} on ${where(info.backend, info)}.${info.note ? ` ${info.note}.` : ""}`, info.backend);
    els.recaption.disabled = photos.length === 0;
  } catch (err) {
    if (err.superseded) return;
    // Kept (a Blob: its bytes outside the page) only while no model is in place.
    lastTried = model ? null : { bytes, label };
    els.modelError.textContent = `Could not load ${label}: ${err.message}`;
    els.modelError.hidden = false;
    if (previous) {
      setStatus("ready", `Ready: ${previous.label} (kept: the new model did not load).`);
    } else {
      setStatus("error", `No model loaded.`);
    }
    throw err;
  }
}

let lastTried = null; // { bytes, label }: the bundle that last failed to load where no model was in place
let downloading = null; // the AbortController of the model download under way
let fromUrl = null; // { url, blob, version }: the last model loaded by URL, kept for offline use once it has loaded
const askedModels = new Set(); // every model URL asked for: the offline cache keeps only those that loaded
let asked = 0; // models asked for: a failed ?model= falls back to the default only if no other was

/** Stops the model download under way, if any: another model was asked for. */
function supersedeDownload() {
  downloading?.abort(Object.assign(new Error("another model was asked for"), { superseded: true }));
  downloading = null;
}

async function loadModelFromUrl(url) {
  if (url.origin !== location.origin) {
    throw new Error(
      `${url.href} is on another site. This page only fetches its own files, so that nothing you ` +
        "caption can ever leave this device: download the bundle and drop it on the page instead.",
    );
  }
  supersedeDownload();
  askedModels.add(url.href);
  const download = (downloading = new AbortController());
  const { blob, version } = await fetchWithProgress(url, download.signal);
  if (downloading === download) downloading = null;
  await loadModel(blob, fileName(url));
  fromUrl = { url, blob, version };
}

/** The last part of `url`'s path as it was written (a malformed escape is shown as it is). */
function fileName(url) {
  const name = url.pathname.split("/").pop();
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

function startModel() {
  // The worker's module downloads and compiles while the model downloads.
  client.start(els.backend.value);
  const requested = params.get("model");
  const first = ++asked;
  modelLoading = (async () => {
    // `?model=http://[` is no URL at all: an error like any other.
    await loadModelFromUrl(requested ? new URL(requested, location.href) : DEFAULT_MODEL);
  })().catch(async (err) => {
    if (err.superseded) return;
    els.modelError.textContent = err.message;
    els.modelError.hidden = false;
    if (requested && asked === first) await fallBackToDefault(err.message);
    else if (!model) setStatus("error", "No model loaded.");
  });
}

/** After `message` (a model that did not load) and with no other model asked for since, loads
 * the default model and says how that went. */
async function fallBackToDefault(message) {
  const before = asked;
  await loadModelFromUrl(DEFAULT_MODEL).catch(() => {});
  if (asked !== before) return; // another model was asked for meanwhile: its load says how it went
  const outcome = model ? "Loaded the default model instead." : "The default model did not load either.";
  els.modelError.textContent = `${message.replace(/\.?$/, ".")} ${outcome}`;
  els.modelError.hidden = false;
}

/** Resolves once the model last asked for has loaded or failed, even if another was asked for
 * while waiting. */
async function modelSettled() {
  for (let current; current !== modelLoading; ) {
    current = modelLoading;
    await current.catch(() => {});
  }
}

// ---------------------------------------------------------------- photos

function isBundle(file) {
  return file.name.toLowerCase().endsWith(".safetensors");
}

async function addFiles(files) {
  for (const file of files) {
    if (isBundle(file)) {
      // The file goes to the worker as it is (a Blob): its bytes are read there, not here.
      const mine = ++asked;
      supersedeDownload();
      // A bundle that does not load where no model is in place (it stopped the default's
      // download) leaves the default model, not none.
      modelLoading = loadModel(file, file.name).catch(async () => {
        if (!model && asked === mine) await fallBackToDefault(els.modelError.textContent);
      });
      await modelLoading;
    } else {
      addPhoto(file);
    }
  }
}

/** The result template without the whitespace between its tags (a third of its nodes; its
 * containers lay their children out as flex rows), its view apart: a result is made with an
 * empty view, built as it comes near the screen (ResultView.nearScreen), so that a hundred
 * photos dropped at once do not build a hundred views. */
const [resultTemplate, blankView] = (() => {
  const fragment = els.template.content.cloneNode(true);
  const blanks = document.createTreeWalker(fragment, NodeFilter.SHOW_TEXT);
  const found = [];
  while (blanks.nextNode()) if (!blanks.currentNode.data.trim()) found.push(blanks.currentNode);
  for (const blank of found) blank.remove();
  const view = $(".view", fragment);
  const full = view.cloneNode(true);
  view.replaceChildren();
  return [fragment.firstElementChild, full];
})();

function addPhoto(file) {
  const element = resultTemplate.cloneNode(true);
  // The photo's bytes are read from `file` when needed, not kept: a hundred photos stay on disk.
  const photo = { file, element, copy: null, result: null }; // copy: the Blob shown (displayCopy)
  photos.push(photo);
  $(".file-name", element).textContent = file.name;
  // (Mid-grey where no model is left to say: a region shown after one was lost threw.)
  const mean = () => model?.info.config.preprocess.mean ?? [0.5, 0.5, 0.5];
  photo.view = new ResultView(photo, { client, settings: options, mean, blankView });
  els.results.prepend(element);
  els.recaption.disabled = false;
  caption(photo);
}

function options() {
  return { beam: Number(els.beam.value), maxLen: Number(els.maxLen.value) };
}

// Captions run one after another (the worker takes one at a time anyway); the queue shows how
// many are waiting, and the waiting ones can be cancelled. Each photo is drawn while the next one
// is captioned, so the worker never waits for the page; the one after that waits for the
// drawing, so at most one photo's drawing is behind.
let captionQueue = Promise.resolve();
let drawing = Promise.resolve(); // the last captioned photo being drawn
const waiting = new Set(); // photos queued and not started
const queued = { total: 0, done: 0 }; // this run of the queue, since it was last empty

function updateQueue() {
  const running = queued.done < queued.total;
  els.queue.hidden = !running;
  els.queue.dataset.waiting = String(waiting.size);
  els.queueCount.textContent = running
    ? `Captioning photo ${queued.done + 1} of ${queued.total}` + (waiting.size ? ` · ${waiting.size} waiting` : "")
    : "";
  els.cancel.disabled = waiting.size === 0;
  if (!running) queued.total = queued.done = 0;
}

function caption(photo) {
  const { element } = photo;
  element.dataset.state = "pending";
  $("[data-testid=caption]", element).textContent = "Waiting…";
  $("[data-testid=error]", element).hidden = true;
  $("[data-testid=photo-warning]", element).hidden = true;
  if (!waiting.has(photo)) {
    waiting.add(photo);
    queued.total += 1;
  }
  updateQueue();
  captionQueue = captionQueue.then(async () => {
    if (!waiting.delete(photo)) return; // cancelled while waiting
    $("[data-testid=caption]", element).textContent = "Captioning…";
    updateQueue();
    try {
      const draw = await captionNow(photo);
      const previous = drawing;
      drawing = previous.then(draw).catch((err) => showError(photo, err.message));
      await previous;
    } finally {
      queued.done += 1;
      updateQueue();
    }
  });
  return captionQueue;
}

/** Captions `photo`; resolves, once the caption has come, with the function that draws it. */
async function captionNow(photo) {
  await modelSettled();
  if (!model) return () => showError(photo, "No model is loaded.");
  try {
    const result = await client.caption(photo.file, photo.view.captionOptions());
    // The copy shown is made once the model has taken the photo, so a photo it refuses (over
    // the pixel budget) is never decoded here; it is made while the worker captions the next.
    const copy = photo.copy ? Promise.resolve(photo.copy) : displayCopy(photo.file, photo.view.shownWidth());
    return () => render(photo, result, copy);
  } catch (err) {
    return () => showError(photo, err.message);
  }
}

/** Cancels every photo still waiting; the one being captioned finishes. */
function cancelWaiting() {
  for (const photo of waiting) {
    photo.element.dataset.state = "cancelled";
    $("[data-testid=caption]", photo.element).textContent = "Cancelled: “Caption all again” captions it.";
    queued.total -= 1;
  }
  waiting.clear();
  updateQueue();
}

function showError(photo, message) {
  const { element } = photo;
  element.dataset.state = "error";
  delete element.dataset.backend;
  photo.result = null;
  element.glimpseResult = null;
  $("[data-testid=caption]", element).textContent = "";
  $(".view", element).hidden = true;
  const error = $("[data-testid=error]", element);
  error.textContent = `${photo.file.name}: ${message}`;
  error.hidden = false;
}

/** Photos wider than this many pixels are shown as a copy this wide (at least; see displayCopy). */
const MIN_DISPLAY_WIDTH = 480;

/** `file` scaled to `width` pixels wide (never less than MIN_DISPLAY_WIDTH, never enlarged), as
 * a Blob: decoding a 12-megapixel photo for display would keep 48 MB per photo. Null when the
 * browser cannot decode it (the model's own decoder may still caption it). */
async function displayCopy(file, width) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return null;
  }
  try {
    return await scaledCopy(file, bitmap, width);
  } catch {
    return null;
  } finally {
    bitmap.close();
  }
}

/** `bitmap` (decoded from `file`) scaled as displayCopy says, as a Blob. */
async function scaledCopy(file, bitmap, width) {
  const scale = Math.min(1, Math.max(MIN_DISPLAY_WIDTH, Math.ceil(width)) / bitmap.width);
  if (scale === 1) return file;
  const [w, h] = [Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale))];
  const canvas = new OffscreenCanvas(w, h);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, w, h);
  try {
    return await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
  } finally {
    // Its pixels go now, not at the page's next collection (a hundred photos' canvases waited).
    canvas.width = canvas.height = 0;
  }
}

/** Shows `result` for `photo`; `copy`: a promise of its display copy (see displayCopy). */
async function render(photo, result, copy) {
  const { element } = photo;
  photo.result = result;
  element.glimpseResult = result;
  element.dataset.backend = result.backend;
  const where = result.backend === "webgpu" ? "WebGPU" : "CPU";
  // The model changed device during this caption (a GPU fault): the note says so.
  photo.view.meta = `${where} · ${Math.round(result.ms)} ms · log p = ${result.logProb.toFixed(2)}${result.note ? ` · ${result.note}` : ""}`;
  if (result.note) {
    // ...and so does the line where the model is shown.
    setStatus("ready", `Ready: ${model.label} on CPU. ${result.note}.`, result.backend);
  }
  // A damaged photo that still decoded, or <PAD>/<SOS> in the caption: say so beside it.
  const warning = $("[data-testid=photo-warning]", element);
  warning.textContent = result.warning ? `Warning: ${result.warning}.` : "";
  warning.hidden = !result.warning;
  $(".view", element).hidden = false;
  // The page shows (and draws panels and figures from) a copy of the photo at the size it is
  // shown; the full photo is decoded only when needed (hiding a region) and let go again.
  photo.copy ??= await copy;
  if (photo.copy) await photo.view.showPhoto();
  await photo.view.show(result);
  // Done only once the caption, its words and its heatmap are on the page.
  element.dataset.state = "done";
}

// ---------------------------------------------------------------- wiring

els.files.addEventListener("change", () => {
  addFiles([...els.files.files]);
  els.files.value = "";
});

for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (event) => {
    event.preventDefault();
    els.drop.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  document.addEventListener(type, () => els.drop.classList.remove("dragging"));
}
document.addEventListener("drop", (event) => {
  event.preventDefault();
  addFiles([...(event.dataTransfer?.files ?? [])]);
});
document.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData?.files ?? [])];
  if (files.length) addFiles(files);
});

els.cancel.addEventListener("click", cancelWaiting);

els.recaption.addEventListener("click", () => {
  for (const photo of photos) caption(photo);
});

els.backend.value = ["auto", "webgpu", "cpu"].includes(params.get("backend")) ? params.get("backend") : "auto";
// Another backend reloads the model in place, once a load under way has ended (a download
// under way loads on the backend chosen by then). Where no model is in place (the last bundle
// did not load on the backend chosen before), it tries that bundle again on this one.
els.backend.addEventListener("change", () => {
  const loading = modelLoading;
  const mine = asked;
  const reload = () => {
    // A model asked for since (a bundle dropped during the load) loads on the backend chosen by
    // then: reloading the one in place after it put that one back over it (review 71).
    if (asked !== mine) return;
    return model ? loadModel(client.bundle, model.label) : lastTried && loadModel(lastTried.bytes, lastTried.label);
  };
  modelLoading = loading.then(reload).catch(() => {});
});

/** Resolves once no photo is being captioned, waits or is being drawn. Offline caching waits
 * for that between files: on two cores, filling the cache while the first photo was captioned
 * slowed it by a sixth. */
async function captionsIdle() {
  let drawn;
  while (queued.done < queued.total || drawn !== drawing) {
    drawn = drawing;
    await Promise.all([captionQueue.catch(() => {}), drawn]);
  }
}

/** Puts what the page and its workers loaded into this build's cache, then says so on the page
 * (`data-offline` on <html> names the cache): until then, going offline could miss a file. */
async function keepOffline() {
  const files = { extra: await client.workerFiles(), skip: askedModels, idle: captionsIdle };
  if (await keepForOffline({ ...files, model: fromUrl, defaultModel: DEFAULT_MODEL })) document.documentElement.dataset.offline = CACHE;
}

/** Offline use, once the model is ready: the service worker, and into the cache what the page
 * and its workers loaded (see offline.js). */
async function enableOffline() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await captionsIdle();
    // "none": the update check also fetches pkg/version.js afresh, which names the build.
    await navigator.serviceWorker.register(new URL("./sw.js", import.meta.url), { updateViaCache: "none" });
    await navigator.serviceWorker.ready;
    await keepOffline();
  } catch (err) {
    console.warn(`offline use unavailable: ${err.message}`);
  }
}

startModel();
modelLoading.finally(enableOffline);
