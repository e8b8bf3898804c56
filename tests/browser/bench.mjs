// Speed in headless Chromium, for both paths (WebGPU on SwiftShader; the CPU build): time to the
// first caption from a cold start (page, wasm and model download, initialisation, first caption),
// the warm time per photo, and the bytes downloaded; native `glimpse caption` beside them.
// Writes a Markdown table (README's) to stdout and target/bench/browser.json.
//
//   node tests/browser/bench.mjs           (after web/build.sh and a native release build)

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { ASSETS, DEFAULT_BUNDLE, MODES, ROOT, launch, nativeCaptions, readResults, servePage, waitForModel, waitForResults } from "./harness.mjs";

const PHOTOS = ["darknet/dog.jpg", "darknet/eagle.jpg", "darknet/giraffe.jpg", "darknet/horses.jpg", "darknet/person.jpg", "skimage/chelsea.png", "skimage/coffee.png", "skimage/astronaut.png"].map((p) => path.join(ASSETS, p));

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rows = [];

for (const mode of MODES) {
  const server = await servePage("/");
  const browser = await launch(mode);
  const { page } = browser;
  const start = Date.now();
  await page.goto(server.url);
  await waitForModel(browser);
  const ready = Date.now() - start;
  await page.setInputFiles("input[type=file]", [PHOTOS[0]]);
  await waitForResults(page, 1);
  const firstCaption = Date.now() - start;
  await page.setInputFiles("input[type=file]", PHOTOS.slice(1));
  await waitForResults(page, PHOTOS.length);
  const results = [...(await readResults(page)).values()].filter((r) => r.result);
  const warm = median(results.filter((r) => r.name !== path.basename(PHOTOS[0])).map((r) => r.result.ms));
  const backend = results[0].backend;
  const wasm = server.bytes.get("pkg/glimpse_wasm_bg.wasm") ?? 0;
  const model = server.bytes.get("models/default.safetensors") ?? 0;
  const total = [...server.bytes.values()].reduce((a, b) => a + b, 0);
  rows.push({ path: `browser, ${backend === "webgpu" ? "WebGPU (SwiftShader)" : "CPU (wasm SIMD)"}`, ready_ms: ready, first_caption_ms: firstCaption, warm_ms: warm, wasm_bytes: wasm, model_bytes: model, total_bytes: total });
  await browser.close();
  await server.close();
}

const native = [...nativeCaptions(DEFAULT_BUNDLE, PHOTOS, 1).values()].map((r) => r.ms);
rows.push({ path: "native glimpse (flex, CPU)", ready_ms: null, first_caption_ms: null, warm_ms: median(native.slice(1)), wasm_bytes: null, model_bytes: null, total_bytes: null });

const mb = (b) => (b == null ? "–" : (b / 1e6).toFixed(1));
const ms = (t) => (t == null ? "–" : Math.round(t).toLocaleString("en"));
console.log("| path | cold: model ready ms | cold: first caption ms | warm ms / photo | wasm MB | model MB | all downloads MB |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.path} | ${ms(r.ready_ms)} | ${ms(r.first_caption_ms)} | ${ms(r.warm_ms)} | ${mb(r.wasm_bytes)} | ${mb(r.model_bytes)} | ${mb(r.total_bytes)} |`);
const out = path.join(ROOT, "target/bench");
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, "browser.json"), JSON.stringify(rows, null, 1) + "\n");
