// Shared pieces of the browser tests: Debian's Chromium in both WebGPU modes, the page served
// from web/, the native `glimpse` binary as the reference, and helpers to read results.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { serve } from "./server.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const WEB = path.join(ROOT, "web");
export const ASSETS = process.env.GLIMPSE_ASSETS ?? path.join(ROOT, ".assets");
export const FIXTURES = path.join(ROOT, "tests/fixtures");
export const ARTIFACTS = path.join(ROOT, "tests/artifacts");
export const GLIMPSE = process.env.GLIMPSE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), "release/glimpse");
export const DEFAULT_BUNDLE = path.join(WEB, "models/default.safetensors");

/** Each scenario runs twice: on WebGPU (SwiftShader's adapter, the WebGPU module forced with
 * `?backend=webgpu`: left to `auto`, the page measures SwiftShader slower and stays on the CPU)
 * and without an adapter (`auto` → a CPU-only module: on a page that is not cross-origin
 * isolated, the relaxed-SIMD build, which Chromium validates). `module`: the one that runs. */
export const MODES = [
  { name: "webgpu", flags: ["--enable-unsafe-webgpu"], backend: "webgpu", module: "webgpu", query: "?backend=webgpu" },
  { name: "cpu", flags: [], backend: "cpu", module: "cpu-relaxed", query: "" },
];

const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
];

/** Chromium with a fresh profile, every request recorded. */
export async function launch(mode) {
  const profile = mkdtempSync(path.join(tmpdir(), "glimpse-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_FLAGS, ...mode.flags],
    viewport: { width: 1280, height: 1000 },
    acceptDownloads: true,
  });
  const requests = [];
  context.on("request", (request) => requests.push(request.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLines = [];
  page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => consoleLines.push(`pageerror: ${error.message}`));
  // Which URL failed, with why (the console's "Failed to load resource" names neither).
  context.on("requestfailed", (request) => consoleLines.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
  return {
    context,
    page,
    profile,
    requests,
    consoleLines,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function servePage(prefix = "/", extra = {}, options = {}) {
  return serve(WEB, prefix, extra, options);
}

/** Waits until the model status says ready (or fails with the page's error and what it printed). */
export async function waitForModel(browser, timeout = 600_000) {
  const status = browser.page.locator("[data-testid=model-status]");
  try {
    await browser.page.waitForFunction(
      () => document.querySelector("[data-testid=model-status]")?.dataset.state === "ready",
      null,
      { timeout },
    );
  } catch (err) {
    const error = await browser.page.locator("#model-error").textContent().catch(() => "");
    throw new Error(`model never became ready: "${await status.textContent()}" ${error}\n${browser.consoleLines.join("\n")}`, {
      cause: err,
    });
  }
  return status.textContent();
}

/** Waits until `count` results are captioned or failed. */
export async function waitForResults(page, count, timeout = 600_000) {
  await page.waitForFunction(
    (n) => document.querySelectorAll("[data-testid=result][data-state=done], [data-testid=result][data-state=error]").length >= n,
    count,
    { timeout },
  );
}

/** The page's offline cache name (`glimpse-<build version>@<site folder>`, see web/offline.js). */
export function cacheName(page) {
  return page.evaluate(() => document.documentElement.dataset.cache);
}

/** Waits until `condition(arg)`, run in the page, resolves truthy; checked every `interval` ms.
 * For conditions that await something (Cache Storage): Playwright's `waitForFunction` does not
 * await a promise, which is truthy, so it would not wait at all. A check that throws (the page
 * navigating meanwhile) counts as not yet; the last error is in the timeout's message. */
export async function waitForAsync(page, condition, arg, { timeout = 120_000, interval = 200, what = "the page's condition" } = {}) {
  const deadline = Date.now() + timeout;
  let lastError = null;
  for (;;) {
    try {
      if (await page.evaluate(condition, arg)) return;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastError ? ` (last check failed: ${lastError.message})` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Waits until the service worker controls the page and has cached `paths` (relative to the
 * page) besides the model: then nothing more is downloaded for offline use. */
export async function waitForOfflineCache(page, paths = []) {
  const wanted = ["models/default.safetensors", "./", "app.js", "worker.js", "pkg/version.js", ...paths];
  await waitForAsync(
    page,
    async (wanted) => {
      if (!navigator.serviceWorker.controller) return false;
      // The page has put everything it loaded into the cache (see keepOffline in app.js).
      if (document.documentElement.dataset.offline !== document.documentElement.dataset.cache) return false;
      const cache = await caches.open(document.documentElement.dataset.cache);
      const bare = (url) => url.split("?")[0];
      const keys = (await cache.keys()).map((r) => bare(r.url));
      return wanted.every((p) => keys.includes(bare(new URL(p, location.href).href)));
    },
    wanted,
    { what: `the offline cache to hold ${wanted.join(", ")}` },
  );
}

/** Waits until no photo is waiting for its caption. */
export async function waitForIdle(page, timeout = 600_000) {
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=result][data-state=pending]").length === 0, null, {
    timeout,
  });
}

/** Every result on the page, by file name, with its attention as plain arrays. */
export async function readResults(page) {
  const list = await page.$$eval("[data-testid=result]", (elements) =>
    elements.map((element) => ({
      name: element.querySelector(".file-name").textContent,
      state: element.dataset.state,
      backend: element.dataset.backend,
      caption: element.querySelector("[data-testid=caption]").textContent,
      error: element.querySelector("[data-testid=error]").hidden ? null : element.querySelector("[data-testid=error]").textContent,
      warning: element.querySelector("[data-testid=photo-warning]").hidden
        ? null
        : element.querySelector("[data-testid=photo-warning]").textContent,
      result: element.glimpseResult
        ? {
            tokens: element.glimpseResult.tokens,
            grid: element.glimpseResult.grid,
            attention: element.glimpseResult.attention.map((a) => Array.from(a)),
            ms: element.glimpseResult.ms,
          }
        : null,
    })),
  );
  return new Map(list.map((r) => [r.name, r]));
}

/** Native `glimpse caption --json` for the same bundle, images and beam: image path → record. */
export function nativeCaptions(bundle, images, beam = 1) {
  const out = execFileSync(GLIMPSE, ["caption", "--json", "--beam", String(beam), "--model", bundle, ...images], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const records = out.trim().split("\n").map((line) => JSON.parse(line));
  return new Map(records.map((r) => [path.basename(r.image), r]));
}

/** Imports a PyTorch fixture as a second bundle (to drop on the page). */
export function importFixtureBundle(outPath) {
  const notebook = path.join(FIXTURES, "torch/notebook");
  execFileSync(GLIMPSE, [
    "import", "torch",
    "--checkpoint", path.join(notebook, "attention_model_state.pth"),
    "--vocab", path.join(notebook, "vocab.json"),
    "--name", "notebook-fixture",
    "--trained-on", "random weights (a test fixture)",
    "--out", outPath,
  ], { stdio: "pipe" });
  return outPath;
}

/** A bundle with torchvision's real MobileNetV2 encoder and an untrained decoder. */
export function importUntrainedBundle(outPath) {
  execFileSync(GLIMPSE, [
    "import", "torch",
    "--encoder", path.join(ASSETS, "mobilenet_v2-b0353104.pth"),
    "--vocab", path.join(FIXTURES, "untrained-vocab.json"),
    "--embed-dim", "32", "--attention-dim", "32", "--decoder-dim", "64",
    "--name", "untrained-fixture",
    "--out", outPath,
  ], { stdio: "pipe" });
  return outPath;
}

/** Native `glimpse info` of a bundle: card, config, vocabulary size. */
export function bundleInfo(bundle) {
  return JSON.parse(execFileSync(GLIMPSE, ["info", bundle], { encoding: "utf8" }));
}

export function artifact(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** How far the page's attention may be from native glimpse's (f32 on different kernels). */
export const ATTENTION_TOLERANCE = 1e-3;

/** Asserts a page result (`readResults`) has native `glimpse caption`'s words and attention. */
export function assertMatchesNative(label, got, want) {
  assert.ok(got.result, `${label}: no result (${got.error ?? got.state})`);
  assert.equal(got.caption, want.caption, `${label}: caption differs from native`);
  assert.deepEqual(got.result.tokens, want.tokens, `${label}: tokens differ`);
  assert.deepEqual(got.result.grid, want.grid, `${label}: grid differs`);
  const gap = attentionGap(got.result.attention, want.attention);
  assert.ok(gap <= ATTENTION_TOLERANCE, `${label}: attention differs from native by ${gap}`);
}

/** Largest absolute difference between two attention lists. */
export function attentionGap(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i].length; j++) worst = Math.max(worst, Math.abs(a[i][j] - b[i][j]));
  }
  return worst;
}

/** The `glimpse synth` set the default model was trained on, as its card names it ("glimpse
 * synth (seed 7, 2000 images)"), written once beside the binary (a few seconds): its photos and
 * `synth.json` with every object's box. */
export function defaultModelSynthData() {
  const card = bundleInfo(DEFAULT_BUNDLE).card;
  const match = /glimpse synth \(seed (\d+), (\d+) images\)/.exec(card.trained_on);
  if (!match) throw new Error(`the default model's card does not name its synth set: ${card.trained_on}`);
  const [, seed, images] = match;
  const data = path.join(path.dirname(GLIMPSE), "test-data", `synth-${seed}-${images}`);
  if (!existsSync(path.join(data, "synth.json"))) {
    execFileSync(GLIMPSE, ["synth", data, "--images", images, "--seed", seed], { stdio: "pipe" });
  }
  return { data, sidecar: JSON.parse(readFileSync(path.join(data, "synth.json"), "utf8")) };
}

/** The renderer and GPU processes of `profile`'s Chromium: `{ pid, type }`, type "renderer" or
 * "gpu". */
function chromiumProcesses(profile) {
  const found = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let cmdline;
    try {
      // Chromium rewrites its process title: arguments may be separated by spaces, not NULs.
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split(/[\0 ]/);
    } catch {
      continue;
    }
    if (!cmdline.some((arg) => arg.includes(profile))) continue;
    const type = { renderer: "renderer", "gpu-process": "gpu" }[cmdline.find((arg) => arg.startsWith("--type="))?.slice(7)];
    if (type) found.push({ pid, type });
  }
  return found;
}

/** Starts the peaks that `chromiumMemory` reads (VmHWM) afresh from the present sizes (Linux's
 * `clear_refs` 5), so that a measured visit does not carry the peaks of those before it. */
export function resetPeakMemory(profile) {
  for (const { pid } of chromiumProcesses(profile)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      // a process that has ended has no peak left to reset
    }
  }
}

/** Memory of the Chromium processes of `profile` (each carries `--user-data-dir=<profile>`): the
 * largest renderer's and the GPU process's resident size now (VmRSS) and at its peak (VmHWM), in
 * bytes. The renderer holds the page and its workers, WebAssembly memory included. */
export function chromiumMemory(profile) {
  const memory = { renderer: { rss: 0, hwm: 0 }, gpu: { rss: 0, hwm: 0 } };
  for (const { pid, type } of chromiumProcesses(profile)) {
    let status;
    try {
      status = readFileSync(`/proc/${pid}/status`, "utf8");
    } catch {
      continue;
    }
    const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    memory[type].rss = Math.max(memory[type].rss, kb("VmRSS"));
    memory[type].hwm = Math.max(memory[type].hwm, kb("VmHWM"));
  }
  return memory;
}
