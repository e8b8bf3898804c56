// Speed in headless Chromium, by stage, with native `glimpse caption` in the same run.
// For each path (the CPU-only module on a browser without WebGPU, single-threaded — its
// relaxed-SIMD build and, forced, its plain one — and, on a cross-origin isolated page,
// threaded; the WebGPU module forced on
// SwiftShader; `auto` on SwiftShader, which measures both and picks one; and a third visit, the
// service worker answering, threaded and with `?threads=0`): what a visit
// downloads before its first caption (every request of the page, its workers and its service
// worker, from the server's log), the cold times to model ready and to the first caption, the
// warm time per photo split into decode+resize, encoder and decoder (the decoder's time includes
// its readbacks; photos 2–8, which still overlap V8's optimising compiles), the same photos
// captioned once more (a second pass, V8's optimised code by then), the renderer's peak memory
// after the first 8 photos (VmHWM from /proc: it holds the workers' wasm
// memory), and the ratio to native single-threaded and with all cores.
// Prints Markdown tables (README's) and writes target/bench/browser.json.
//
//   node tests/browser/bench.mjs           (after web/build.sh and a native release build)

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import zlib from "node:zlib";

import { ASSETS, DEFAULT_BUNDLE, GLIMPSE, MODES, ROOT, WEB, chromiumMemory, launch, readResults, resetPeakMemory, servePage, waitForModel, waitForOfflineCache, waitForResults } from "./harness.mjs";

const PHOTOS = ["darknet/dog.jpg", "darknet/eagle.jpg", "darknet/giraffe.jpg", "darknet/horses.jpg", "darknet/person.jpg", "skimage/chelsea.png", "skimage/coffee.png", "skimage/astronaut.png"].map((p) => path.join(ASSETS, p));
const PATHS = [
  { label: "CPU module (relaxed SIMD), no WebGPU adapter", mode: MODES[1], query: "" },
  { label: "CPU module (plain SIMD, forced), no WebGPU adapter", mode: MODES[1], query: "?simd=plain" },
  { label: "threaded CPU module (isolated page, `?threads=1`), no WebGPU adapter", mode: MODES[1], query: "?threads=1", isolate: true },
  { label: "WebGPU module on SwiftShader (forced)", mode: MODES[0], query: "?backend=webgpu" },
  { label: "auto on SwiftShader", mode: MODES[0], query: "" },
  // Returning visits: the service worker answers, isolating the page (so the threaded module
  // runs with `?threads=1`, or by default with more than two cores), and V8 starts from the
  // code it compiled on the visit before.
  { label: "returning visit, `?threads=1`: threaded CPU module (isolated by the service worker), V8's code from the offline cache", mode: MODES[1], query: "?threads=1", returning: true },
  { label: "returning visit, `?threads=0`: CPU module (relaxed SIMD), V8's code from the offline cache", mode: MODES[1], query: "?threads=0", returning: true },
];

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const sum = (map) => [...map.values()].reduce((a, b) => a + b, 0);

/** Two visits before the one measured, in a tab of their own that is then closed (so that the
 * measured tab's memory is its own): the first fills the offline cache and installs the service
 * worker; on the second, V8 compiles the module's hot functions and Chromium keeps that code
 * beside the cached module (see web/sw.js). */
async function visitTwice(browser, url) {
  const page = await browser.context.newPage();
  const tab = { page, consoleLines: browser.consoleLines };
  for (let visit = 0; visit < 2; visit += 1) {
    await page.goto(url);
    await waitForModel(tab);
    await page.setInputFiles("input[type=file]", PHOTOS);
    await waitForResults(page, PHOTOS.length);
    if (visit === 0) await waitForOfflineCache(page);
  }
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // Chromium keeps the code after a pause
  await page.close();
}

async function browserPath({ label, mode, query, isolate = false, returning = false }) {
  // gzip-encoded, as web/serve.sh and most static hosts send files.
  const server = await servePage("/", {}, { isolate, compress: true });
  const browser = await launch(mode);
  const { page } = browser;
  try {
    if (returning) {
      await visitTwice(browser, server.url + query);
      resetPeakMemory(browser.profile);
    }
    // What this visit asks the server for (a returning visit's earlier ones left out).
    const earlier = { bytes: sum(server.bytes), fileBytes: sum(server.fileBytes), requests: server.requests.length };
    const sentBefore = new Map(server.bytes);
    const start = Date.now();
    await page.goto(server.url + query);
    await waitForModel(browser);
    const ready = Date.now() - start;
    await page.setInputFiles("input[type=file]", [PHOTOS[0]]);
    await waitForResults(page, 1);
    const firstCaption = Date.now() - start;
    const bytesBefore = sum(server.bytes) - earlier.bytes;
    const fileBytesBefore = sum(server.fileBytes) - earlier.fileBytes;
    const requestsBefore = server.requests.length - earlier.requests;
    const sentNow = [...server.bytes].filter(([name, sent]) => sent !== sentBefore.get(name));
    const wasmBefore = sentNow.filter(([name]) => name.endsWith(".wasm")).map(([name]) => name);
    if (query === "" && mode.name === "webgpu") {
      await page.waitForFunction(() => document.querySelector("[data-testid=model-status]").dataset.decided === "true", null, { timeout: 600_000 });
    }
    await page.setInputFiles("input[type=file]", PHOTOS.slice(1));
    await waitForResults(page, PHOTOS.length);
    const backend = [...(await readResults(page)).values()].find((r) => r.result)?.backend;
    const memory = chromiumMemory(browser.profile); // after the 8 photos, as before this pass existed
    // The same photos once more: by then V8 has optimised the hot functions.
    await page.setInputFiles("input[type=file]", PHOTOS);
    await waitForResults(page, 2 * PHOTOS.length);
    // In the order the photos were dropped: the page puts the newest result first.
    const timed = await page.$$eval("[data-testid=result]", (elements) =>
      elements.reverse().map((e) => e.glimpseResult && { name: e.querySelector(".file-name").textContent, ms: e.glimpseResult.ms, ...e.glimpseResult.stages }),
    );
    const dropped = [...PHOTOS, ...PHOTOS].map((photo) => path.basename(photo));
    if (timed.some((photo, i) => photo && photo.name !== dropped[i])) throw new Error(`results out of order: ${timed.map((photo) => photo?.name).join(", ")}`);
    const [warm, settled] = [timed.slice(1, PHOTOS.length), timed.slice(PHOTOS.length)].map((photos) => photos.filter(Boolean));
    const stage = (photos, key) => median(photos.map((p) => p[key]));
    return {
      path: label,
      backend,
      module: await page.locator("[data-testid=model-status]").getAttribute("data-module"),
      wasm_fetched_before_first_caption: wasmBefore,
      bytes_before_first_caption: bytesBefore,
      file_bytes_before_first_caption: fileBytesBefore,
      requests_before_first_caption: requestsBefore,
      bytes_all: sum(server.bytes),
      ready_ms: ready,
      first_caption_ms: firstCaption,
      warm_ms: stage(warm, "ms"),
      prepare_ms: stage(warm, "prepareMs"),
      encoder_ms: stage(warm, "encoderMs"),
      decoder_ms: stage(warm, "decoderMs"),
      settled_ms: stage(settled, "ms"),
      settled_encoder_ms: stage(settled, "encoderMs"),
      peak_renderer_bytes: memory.renderer.hwm,
      peak_gpu_process_bytes: memory.gpu.hwm,
      status: await page.locator("[data-testid=model-status]").textContent(),
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

/** Native `glimpse caption --json --timings` over the photos: median warm ms per stage. */
function native(threads) {
  const env = { ...process.env, RAYON_NUM_THREADS: String(threads) };
  const out = execFileSync(GLIMPSE, ["caption", "--json", "--model", DEFAULT_BUNDLE, ...PHOTOS], { encoding: "utf8", env, maxBuffer: 64 << 20 });
  const records = out.trim().split("\n").map((line) => JSON.parse(line)).slice(1);
  const stage = (key) => median(records.map((r) => r.stages[key]));
  return {
    path: `native glimpse, ${threads} thread${threads > 1 ? "s" : ""}`,
    warm_ms: median(records.map((r) => r.ms)),
    prepare_ms: stage("prepare_ms"),
    encoder_ms: stage("encoder_ms"),
    decoder_ms: stage("decoder_ms"),
  };
}

const rows = [];
for (const p of PATHS) rows.push(await browserPath(p));
const natives = [native(1), native(cpus().length)];

const mb = (b) => (b == null ? "–" : (b / 1e6).toFixed(1));
const ms = (t) => (t == null ? "–" : Math.round(t).toLocaleString("en"));
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
console.log("| path | runs on | MB before first caption, gzip (files; requests) | cold: model ready ms | cold: first caption ms | warm ms / photo | decode+resize | encoder | decoder | × native 1 thread | × native all cores | second pass ms / photo (encoder) | its × native 1 thread | peak renderer MB |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.path} | ${r.backend} | ${mb(r.bytes_before_first_caption)} (${mb(r.file_bytes_before_first_caption)}; ${r.requests_before_first_caption}) | ${ms(r.ready_ms)} | ${ms(r.first_caption_ms)} | ${ms(r.warm_ms)} | ${ms(r.prepare_ms)} | ${ms(r.encoder_ms)} | ${ms(r.decoder_ms)} | ${ratio(r.warm_ms, natives[0].warm_ms)} | ${ratio(r.warm_ms, natives[1].warm_ms)} | ${ms(r.settled_ms)} (${ms(r.settled_encoder_ms)}) | ${ratio(r.settled_ms, natives[0].warm_ms)} | ${mb(r.peak_renderer_bytes)} |`,
  );
}
for (const n of natives) console.log(`| ${n.path} | cpu | – | – | – | ${ms(n.warm_ms)} | ${ms(n.prepare_ms)} | ${ms(n.encoder_ms)} | ${ms(n.decoder_ms)} | – | – | – | – | – |`);

const modules = ["cpu", "cpu-relaxed", "cpu-threads", "webgpu"].map((name) => {
  const file = path.join(WEB, `pkg/${name}/glimpse_wasm_bg.wasm`);
  const bytes = readFileSync(file);
  return { module: name, raw: statSync(file).size, gzip: gzipSize(bytes), brotli: brotliSize(bytes) };
});
console.log("\n| module | raw MB | gzip MB | brotli MB |\n|---|---|---|---|");
for (const m of modules) console.log(`| pkg/${m.module} | ${mb(m.raw)} | ${mb(m.gzip)} | ${mb(m.brotli)} |`);

const out = path.join(ROOT, "target/bench");
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, "browser.json"), JSON.stringify({ browser: rows, native: natives, modules }, null, 1) + "\n");

function gzipSize(bytes) {
  return zlib.gzipSync(bytes, { level: 9 }).length;
}

function brotliSize(bytes) {
  return zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
}
