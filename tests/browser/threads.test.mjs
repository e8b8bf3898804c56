// The CPU modules in Debian's headless Chromium without a WebGPU adapter. A cross-origin
// isolated page (COOP/COEP from the server, as web/serve.sh sends them, or from the service
// worker on hosts that cannot) runs the CPU over one thread per core (pkg/cpu-threads) with more
// than two cores, or on any number with `?threads=1` (these tests' machine has two); without
// threads the page runs the relaxed-SIMD build (pkg/cpu-relaxed), which Chromium validates, or
// with `?simd=plain` the plain one (pkg/cpu). Every one gives native `glimpse caption`'s captions
// and attention.

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";

import {
  ASSETS,
  DEFAULT_BUNDLE,
  MODES,
  assertMatchesNative,
  launch,
  nativeCaptions,
  readResults,
  servePage,
  waitForIdle,
  waitForModel,
  waitForOfflineCache,
  WEB,
  waitForResults,
} from "./harness.mjs";
import { serve } from "./server.mjs";

const PHOTOS = [path.join(ASSETS, "darknet/dog.jpg"), path.join(ASSETS, "darknet/eagle.jpg"), path.join(ASSETS, "skimage/chelsea.png")];
const NO_ADAPTER = MODES.find((mode) => mode.name === "cpu");
const THREADS_MODULE = ["pkg/cpu-threads/glimpse_wasm.js", "pkg/cpu-threads/glimpse_wasm_bg.wasm"];

/** The module the page's model runs on, whether the page is isolated, and the status line. */
async function running(page) {
  const status = page.locator("[data-testid=model-status]");
  return {
    module: await status.getAttribute("data-module"),
    isolated: await page.evaluate(() => globalThis.crossOriginIsolated),
    cores: await page.evaluate(() => navigator.hardwareConcurrency),
    text: await status.textContent(),
  };
}

/** Adds `photos` to a freshly loaded page; asserts each gets native glimpse's greedy caption
 * and attention. Resolves name → caption. */
async function captionsAsNative(page, label, photos) {
  await page.setInputFiles("input[type=file]", photos);
  await waitForResults(page, photos.length);
  const results = await readResults(page);
  for (const [name, want] of nativeCaptions(DEFAULT_BUNDLE, photos, 1)) assertMatchesNative(`${name} (${label})`, results.get(name), want);
  return new Map([...results].map(([name, got]) => [name, got.caption]));
}

/** Captions the page's photos again with a beam of 3; asserts native glimpse's for `photo`. */
async function beamAsNative(page, label, photo) {
  await page.fill("#beam", "3");
  await page.click("#recaption");
  await waitForIdle(page);
  const name = path.basename(photo);
  assertMatchesNative(`${name} (${label}, beam 3)`, (await readResults(page)).get(name), nativeCaptions(DEFAULT_BUNDLE, [photo], 3).get(name));
}

describe("threads", () => {
  test("served isolated, ?threads=1 runs pkg/cpu-threads on one thread per core with native glimpse's words; ?threads=0 runs pkg/cpu-relaxed and ?threads=0&simd=plain pkg/cpu, with the same words; by default threads run with more than two cores", async () => {
    const server = await servePage("/isolated/", {}, { isolate: true });
    const browser = await launch(NO_ADAPTER);
    const { page } = browser;
    try {
      await page.goto(`${server.url}?threads=1`);
      await waitForModel(browser);
      const threaded = await running(page);
      assert.ok(threaded.isolated, "the server's headers isolate the page");
      assert.equal(threaded.module, "cpu-threads");
      assert.ok(threaded.text.includes(`on CPU (${threaded.cores} threads)`), threaded.text);
      const wasm = server.requests.filter((url) => url.endsWith(".wasm"));
      assert.deepEqual(wasm, ["/isolated/pkg/cpu-threads/glimpse_wasm_bg.wasm"], "only the threaded module is fetched");
      const withThreads = await captionsAsNative(page, "threads", PHOTOS);
      await beamAsNative(page, "threads", PHOTOS[0]);

      for (const [query, module] of [
        ["?threads=0", "cpu-relaxed"],
        ["?threads=0&simd=plain", "cpu"],
      ]) {
        await page.goto(`${server.url}${query}`);
        await waitForModel(browser);
        const single = await running(page);
        assert.equal(single.module, module, query);
        assert.match(single.text, /on CPU\./);
        const withoutThreads = await captionsAsNative(page, `${module}, one thread`, PHOTOS);
        assert.deepEqual(withoutThreads, withThreads, `threads on and off give the same words (${module})`);
        await beamAsNative(page, module, PHOTOS[0]);
      }
      const fetched = server.requests.filter((url) => url.endsWith(".wasm"));
      assert.deepEqual(fetched, ["cpu-threads", "cpu-relaxed", "cpu"].map((module) => `/isolated/pkg/${module}/glimpse_wasm_bg.wasm`));

      // Without a query, the page's choice by the number of cores it is told (the worker's pool
      // still sizes itself by the real one).
      for (const cores of [2, 4]) {
        const tab = await browser.context.newPage();
        await tab.addInitScript((n) => Object.defineProperty(Navigator.prototype, "hardwareConcurrency", { get: () => n }), cores);
        await tab.goto(server.url);
        await waitForModel({ page: tab, consoleLines: browser.consoleLines });
        assert.equal((await running(tab)).module, cores > 2 ? "cpu-threads" : "cpu-relaxed", `${cores} cores`);
        await tab.close();
      }
    } finally {
      await browser.close();
      await server.close();
    }
  });

  test("served plainly, the first visit runs pkg/cpu-relaxed; the service worker isolates the next, which runs pkg/cpu-threads (?threads=1), online and offline", async () => {
    const server = await servePage("/plain/");
    const browser = await launch(NO_ADAPTER);
    const { page, context } = browser;
    try {
      await page.goto(`${server.url}?threads=1`);
      await waitForModel(browser);
      const first = await running(page);
      assert.equal(first.isolated, false);
      assert.equal(first.module, "cpu-relaxed");
      await waitForOfflineCache(page, ["pkg/cpu-relaxed/glimpse_wasm_bg.wasm"]);

      await page.reload();
      await waitForModel(browser);
      const second = await running(page);
      assert.ok(second.isolated, "the service worker's headers isolate the page");
      assert.equal(second.module, "cpu-threads");
      await captionsAsNative(page, "threads via the service worker", PHOTOS.slice(0, 1));
      await waitForOfflineCache(page, THREADS_MODULE);

      await context.setOffline(true);
      await page.reload();
      await waitForModel(browser);
      assert.equal((await running(page)).module, "cpu-threads", "offline, the cached threaded module runs");
      await captionsAsNative(page, "threads offline", PHOTOS.slice(1, 2));
    } finally {
      await context.setOffline(false);
      await browser.close();
      await server.close();
    }
  });

  test("where the relaxed-SIMD module does not start (here: not on the server), pkg/cpu runs instead, with native glimpse's words", async () => {
    const site = mkdtempSync(path.join(tmpdir(), "glimpse-site-"));
    cpSync(WEB, site, { recursive: true });
    rmSync(path.join(site, "pkg/cpu-relaxed"), { recursive: true });
    const server = await serve(site, "/no-relaxed/");
    const browser = await launch(NO_ADAPTER);
    const { page } = browser;
    try {
      await page.goto(`${server.url}?threads=0`);
      await waitForModel(browser);
      assert.equal((await running(page)).module, "cpu");
      await captionsAsNative(page, "pkg/cpu after pkg/cpu-relaxed failed", PHOTOS.slice(0, 1));
    } finally {
      await browser.close();
      await server.close();
      rmSync(site, { recursive: true, force: true });
    }
  });
});
