// Glimpse's page in Debian's headless Chromium, every scenario twice: with WebGPU (SwiftShader's
// adapter, `--enable-unsafe-webgpu`) and without it (no adapter → the CPU build). The page is
// served under a sub-path, as a static host would. Captions and attention are compared with the
// native `glimpse caption` for the same bundle, images and beam.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  ASSETS,
  DEFAULT_BUNDLE,
  WEB,
  FIXTURES,
  MODES,
  artifact,
  assertMatchesNative,
  bundleInfo,
  cacheName,
  importFixtureBundle,
  importUntrainedBundle,
  launch,
  nativeCaptions,
  readResults,
  servePage,
  waitForModel,
  waitForAsync,
  waitForOfflineCache,
  waitForIdle,
  waitForResults,
} from "./harness.mjs";
import { serve } from "./server.mjs";

const REAL = [path.join(ASSETS, "darknet/dog.jpg"), path.join(ASSETS, "darknet/eagle.jpg"), path.join(ASSETS, "skimage/chelsea.png")];
const SYNTHETIC = [path.join(FIXTURES, "images/lossy.webp"), path.join(FIXTURES, "images/animated.gif"), path.join(FIXTURES, "images/exif_rotated.jpg")];
const PHOTOS = [...REAL, ...SYNTHETIC];

const scratch = mkdtempSync(path.join(tmpdir(), "glimpse-browser-"));
const bad = {
  text: path.join(scratch, "notes.txt"),
  corrupt: path.join(scratch, "truncated.png"),
  huge: path.join(FIXTURES, "images/huge_header.png"),
};
writeFileSync(bad.text, "shopping list: milk, eggs, bread\n");
const chelsea = readFileSync(path.join(ASSETS, "skimage/chelsea.png"));
writeFileSync(bad.corrupt, chelsea.subarray(0, chelsea.length / 3));

const nativeGreedy = nativeCaptions(DEFAULT_BUNDLE, PHOTOS, 1);
const nativeBeam = nativeCaptions(DEFAULT_BUNDLE, [REAL[0]], 3);

/** Hands the page a file the way a user's drag and drop ("drop") or paste ("paste") does. */
async function sendFile(page, file, how = "drop") {
  const bytes = readFileSync(file).toString("base64");
  await page.evaluate(
    ({ name, bytes, how }) => {
      const data = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], name));
      const event =
        how === "paste"
          ? new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true })
          : new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true });
      document.dispatchEvent(event);
    },
    { name: path.basename(file), bytes, how },
  );
}

/**
 * Writes `bundle` with its model config changed by `edit` to `outPath`: the header is parsed,
 * edited and written back padded to 8 bytes, the tensors untouched.
 */
function craftBundle(bundle, outPath, edit) {
  const bytes = readFileSync(bundle);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  const config = JSON.parse(header.__metadata__["glimpse.config"]);
  edit(config);
  header.__metadata__["glimpse.config"] = JSON.stringify(config);
  let text = JSON.stringify(header);
  text += " ".repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  writeFileSync(outPath, Buffer.concat([length, Buffer.from(text), bytes.subarray(8 + n)]));
  return outPath;
}

// Bundles whose configs once crashed or poisoned the model (issue 14): a pooled grid whose
// product wraps to 0 (an out-of-bounds write in adaptive pooling) and a std that makes NaN.
const hostileBundles = [
  {
    file: craftBundle(DEFAULT_BUNDLE, path.join(scratch, "hostile-std.safetensors"), (config) => {
      config.preprocess.std = [1e-45, 1e-45, 1e-45];
    }),
    message: /Could not load hostile-std\.safetensors: bundle metadata `glimpse\.config`: model config: preprocess\.std\[0\] 1e-45 must be finite and at least 0\.001/,
  },
  {
    file: craftBundle(DEFAULT_BUNDLE, path.join(scratch, "hostile-grid.safetensors"), (config) => {
      config.encoder.pooled_grid = [4294967296, 4294967296];
    }),
    // wasm32's usize cannot even hold the number; either way the config is refused.
    message: /Could not load hostile-grid\.safetensors: bundle metadata `glimpse\.config`: model config: .*4294967296/,
  },
];

for (const mode of MODES) {
  describe(`the page with ${mode.name === "webgpu" ? "WebGPU" : "no WebGPU adapter"}`, () => {
    let server;
    let browser;

    before(async () => {
      server = await servePage("/some/sub/path/glimpse/");
      browser = await launch(mode);
      await browser.page.goto(server.url + mode.query);
      await waitForModel(browser);
    });

    after(async () => {
      await browser?.close();
      await server?.close();
    });

    test("the model loads on the expected backend, with its card", async () => {
      const { page } = browser;
      const status = page.locator("[data-testid=model-status]");
      assert.equal(await status.getAttribute("data-backend"), mode.backend);
      assert.equal(await status.getAttribute("data-module"), mode.module);
      assert.match(await status.textContent(), /Ready: default\.safetensors on (WebGPU|CPU)/);
      const card = await page.locator("[data-testid=model-card]").textContent();
      const info = bundleInfo(DEFAULT_BUNDLE);
      assert.match(card, /mobilenet_v2/);
      assert.ok(card.includes(info.card.name) && card.includes(info.card.trained_on), card);
      assert.ok(card.includes(`${info.vocabulary_size} words`), card);
      // Downloaded with progress, every byte of it.
      assert.equal(Number(await status.getAttribute("data-downloaded")), statSync(DEFAULT_BUNDLE).size);
      // The untrained-decoder warning shows exactly when the card says the decoder is untrained.
      assert.equal(await page.locator("#model-warning").isVisible(), info.card.decoder_trained === false);
    });

    test("real and synthetic photos get native glimpse's captions and attention", async () => {
      const { page } = browser;
      await page.setInputFiles("input[type=file]", PHOTOS);
      await waitForResults(page, PHOTOS.length);
      const results = await readResults(page);
      for (const photo of PHOTOS) {
        const name = path.basename(photo);
        const got = results.get(name);
        assert.equal(got.state, "done", `${name}: ${got.error}`);
        assert.equal(got.backend, mode.backend, `${name}: ran on ${got.backend}`);
        assertMatchesNative(name, got, nativeGreedy.get(name));
      }

      // Beam search, re-captioning without reloading the model.
      await page.fill("#beam", "3");
      try {
        await page.click("#recaption");
        await waitForIdle(page);
        const beamed = await readResults(page);
        const name = path.basename(REAL[0]);
        assertMatchesNative(`${name} (beam 3)`, beamed.get(name), nativeBeam.get(name));
      } finally {
        await page.fill("#beam", "1");
      }
    });

    test("the heatmap draws, follows the selected word, and the grid has a panel per word", async () => {
      const { page } = browser;
      const card = page.locator("[data-testid=result][data-state=done]").first();
      const canvas = card.locator("canvas[data-testid=attention]");
      const words = card.locator("[data-testid=word]");
      assert.ok((await words.count()) >= 2, "need two words to switch between");
      const pixels = () =>
        canvas.evaluate((c) => {
          const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let sum = 0;
          let alpha = 0;
          for (let i = 0; i < data.length; i += 4) {
            sum += data[i] + 2 * data[i + 1] + 3 * data[i + 2];
            alpha += data[i + 3] > 0 ? 1 : 0;
          }
          return { sum, alpha, size: c.width * c.height };
        });
      await words.nth(0).click();
      const first = await pixels();
      assert.ok(first.alpha > first.size / 2, "the heatmap canvas is blank");
      // On screen, the heatmap lies exactly over the photo, and the result holds the whole photo.
      const [heatmap, photo, result] = await Promise.all([canvas.boundingBox(), card.locator(".picture").boundingBox(), card.boundingBox()]);
      assert.ok(photo.width > 100 && photo.height > 100, `the photo is not shown: ${JSON.stringify(photo)}`);
      for (const side of ["x", "y", "width", "height"]) {
        assert.ok(Math.abs(heatmap[side] - photo[side]) <= 1, `the heatmap's ${side} is ${heatmap[side]}, the photo's ${photo[side]}`);
      }
      assert.ok(photo.y + photo.height <= result.y + result.height, "the photo runs out of its result");
      await words.nth(1).hover();
      const second = await pixels();
      assert.notEqual(second.sum, first.sum, "the heatmap did not change with the word");
      assert.equal(await words.nth(1).getAttribute("aria-pressed"), "true");

      // Keyboard: arrows move between words.
      await words.nth(1).focus();
      await page.keyboard.press("ArrowLeft");
      assert.equal(await words.nth(0).getAttribute("aria-pressed"), "true");

      await card.locator(".toggle-grid").click();
      const panels = card.locator("[data-testid=grid] [data-testid=panel]");
      assert.equal(await panels.count(), await words.count());
      assert.equal(await panels.nth(0).locator("figcaption").textContent(), await words.nth(0).textContent());

      const download = page.waitForEvent("download");
      await card.locator(".download").click();
      const file = await (await download).path();
      assert.ok(readFileSync(file).subarray(1, 4).toString() === "PNG", "the figure is not a PNG");

      // The caption is the photo's alternative text.
      assert.equal(await card.locator("canvas.picture[role=img]").getAttribute("aria-label"), await card.locator("[data-testid=caption]").textContent());
      await page.screenshot({ path: artifact(`page-${mode.name}-heatmap.png`), fullPage: true });
    });

    test("a non-image, a corrupt file and an over-budget image each get an error; the next photo still gets its caption", async () => {
      const { page } = browser;
      const before = (await readResults(page)).size;
      const good = path.join(ASSETS, "darknet/horses.jpg");
      await page.setInputFiles("input[type=file]", [bad.text, bad.corrupt, bad.huge, good]);
      await waitForResults(page, before + 4);
      const results = await readResults(page);
      assert.match(results.get("notes.txt").error, /not a recognised image format/);
      assert.match(results.get("truncated.png").error, /corrupt Png/);
      assert.match(results.get("huge_header.png").error, /over the budget of 50000000 pixels/);
      for (const name of ["notes.txt", "truncated.png", "huge_header.png"]) {
        assert.equal(results.get(name).state, "error");
        assert.ok(await page.locator(`[data-testid=result][data-state=error] [data-testid=error]`).first().isVisible());
      }
      const native = nativeCaptions(DEFAULT_BUNDLE, [good], 1).get("horses.jpg");
      assertMatchesNative("horses.jpg after the errors", results.get("horses.jpg"), native);
    });

    test("photos can be pasted and dropped as well as chosen", async () => {
      const { page } = browser;
      const before = (await readResults(page)).size;
      const pasted = path.join(FIXTURES, "images/gray16.png");
      const dropped = path.join(ASSETS, "skimage/coffee.png");
      await sendFile(page, pasted, "paste");
      await sendFile(page, dropped, "drop");
      await waitForResults(page, before + 2);
      const results = await readResults(page);
      const native = nativeCaptions(DEFAULT_BUNDLE, [pasted, dropped], 1);
      assertMatchesNative("pasted gray16.png", results.get("gray16.png"), native.get("gray16.png"));
      assertMatchesNative("dropped coffee.png", results.get("coffee.png"), native.get("coffee.png"));
    });

    test("a dropped bundle replaces the model; a broken one is refused and the old model stays", async () => {
      const { page } = browser;
      const other = importFixtureBundle(path.join(scratch, `notebook-${mode.name}.safetensors`));
      const broken = path.join(scratch, "broken.safetensors");
      writeFileSync(broken, readFileSync(other).subarray(0, 5000));

      await sendFile(page, broken);
      const error = page.locator("#model-error");
      await error.waitFor({ state: "visible" });
      assert.match(await error.textContent(), /Could not load broken\.safetensors: bundle is truncated/);
      assert.match(await page.locator("[data-testid=model-status]").textContent(), /default\.safetensors/);

      // A bundle whose decoder was never trained loads with a plain warning.
      const untrained = importUntrainedBundle(path.join(scratch, `untrained-${mode.name}.safetensors`));
      await sendFile(page, untrained);
      await page.waitForFunction(() => /untrained-/.test(document.querySelector("[data-testid=model-status]").textContent), null, {
        timeout: 300_000,
      });
      await waitForModel(browser);
      assert.ok(await page.locator("#model-warning").isVisible(), "an untrained decoder is flagged");

      await sendFile(page, other);
      await page.waitForFunction(() => /notebook-/.test(document.querySelector("[data-testid=model-status]").textContent), null, {
        timeout: 300_000,
      });
      await waitForModel(browser);
      assert.ok(await page.locator("#model-warning").isHidden(), "a trained decoder gets no warning");
      assert.match(await page.locator("[data-testid=model-card]").textContent(), /notebook-fixture.*resnet50/s);
      const before = (await readResults(page)).size;
      const photo = path.join(FIXTURES, "torch/notebook/image.png");
      await page.setInputFiles("input[type=file]", [photo]);
      await waitForResults(page, before + 1);
      const got = (await readResults(page)).get("image.png");
      assertMatchesNative("image.png with the dropped bundle", got, nativeCaptions(other, [photo], 1).get("image.png"));
    });

    test("crafted bundles are refused and the model stays; an extreme-aspect image gets an error, a truncated one a warning, and the next photo its caption", async () => {
      const { page } = browser;
      // The model in use is the bundle dropped in the previous test.
      const current = path.join(scratch, `notebook-${mode.name}.safetensors`);
      for (const { file, message } of hostileBundles) {
        await sendFile(page, file);
        await page.waitForFunction((name) => document.querySelector("#model-error")?.textContent.includes(name), path.basename(file), {
          timeout: 300_000,
        });
        assert.ok(await page.locator("#model-error").isVisible());
        assert.match(await page.locator("#model-error").textContent(), message);
        assert.match(await page.locator("[data-testid=model-status]").textContent(), /notebook-/);
      }

      const before = (await readResults(page)).size;
      const wide = path.join(FIXTURES, "hostile/wide_20000x1.png");
      const good = path.join(ASSETS, "darknet/person.jpg");
      // A JPEG cut in half still decodes: captioned, with the same warning as the CLI gives.
      const cut = path.join(scratch, "cut.jpg");
      const whole = readFileSync(good);
      writeFileSync(cut, whole.subarray(0, whole.length >> 1));
      await page.setInputFiles("input[type=file]", [wide, good, cut]);
      await waitForResults(page, before + 3);
      const results = await readResults(page);
      assert.equal(results.get("wide_20000x1.png").state, "error");
      assert.match(results.get("wide_20000x1.png").error, /image is 20000×1: its longer side is more than 64 times its shorter one/);
      const native = nativeCaptions(current, [good, cut], 1);
      assertMatchesNative("person.jpg after the hostile files", results.get("person.jpg"), native.get("person.jpg"));
      assertMatchesNative("a truncated JPEG", results.get("cut.jpg"), native.get("cut.jpg"));
      assert.match(native.get("cut.jpg").warning, /truncated/);
      // The page warns exactly when the CLI does, with its words (this small fixture model also
      // starts some captions with <SOS>, which both report).
      for (const name of ["person.jpg", "cut.jpg"]) {
        const want = native.get(name).warning;
        assert.equal(results.get(name).warning, want ? `Warning: ${want}.` : null, name);
      }
    });

    test("?model= loads a bundle by URL from the same site, and refuses other sites", async () => {
      const bundle = importFixtureBundle(path.join(scratch, `by-url-${mode.name}.safetensors`));
      const other = await servePage("/hosted/", { "bundles/notebook.safetensors": bundle });
      const page = await browser.context.newPage();
      try {
        await page.goto(`${other.url}?model=bundles/notebook.safetensors&backend=${mode.backend}`);
        await page.waitForFunction(() => document.querySelector("[data-testid=model-status]")?.dataset.state === "ready", null, {
          timeout: 300_000,
        });
        assert.match(await page.locator("[data-testid=model-status]").textContent(), /notebook\.safetensors/);
        assert.match(await page.locator("[data-testid=model-card]").textContent(), /notebook-fixture/);
        assert.ok(await page.locator("#model-warning").isHidden(), "a trained decoder gets no warning");

        await page.goto(`${other.url}?model=${encodeURIComponent("https://example.com/model.safetensors")}&backend=${mode.backend}`);
        await page.waitForFunction(
          () =>
            /Ready: default\.safetensors/.test(document.querySelector("[data-testid=model-status]").textContent) &&
            /Loaded the default model instead/.test(document.querySelector("#model-error").textContent),
          null,
          { timeout: 300_000 },
        );
        const error = page.locator("#model-error");
        assert.ok(await error.isVisible());
        assert.match(await error.textContent(), /example\.com.* is on another site.*Loaded the default model instead/s);
      } finally {
        await page.close();
        await other.close();
      }
    });

    test(
      "when WebGPU fails mid-session (a real device loss), the caption still arrives, from the CPU",
      { skip: mode.name === "webgpu" ? false : "without WebGPU there is no GPU to lose" },
      async () => {
        const { page } = browser;
        // The next time the model's worker encodes GPU work, destroy its real GPUDevice first.
        const [worker] = page.workers();
        await worker.evaluate(() => {
          const encode = GPUDevice.prototype.createCommandEncoder;
          GPUDevice.prototype.createCommandEncoder = function (descriptor) {
            GPUDevice.prototype.createCommandEncoder = encode;
            this.destroy();
            return encode.call(this, descriptor);
          };
        });
        const before = (await readResults(page)).size;
        const photo = path.join(ASSETS, "darknet/giraffe.jpg");
        await page.setInputFiles("input[type=file]", [photo]);
        await waitForResults(page, before + 1);
        const got = (await readResults(page)).get("giraffe.jpg");
        assert.equal(got.state, "done", got.error);
        assert.equal(got.backend, "cpu");
        // The model in use is the bundle dropped in "a dropped bundle replaces the model" (the
        // crafted ones dropped after it were refused).
        const bundle = path.join(scratch, `notebook-${mode.name}.safetensors`);
        assertMatchesNative("giraffe.jpg after the GPU was lost", got, nativeCaptions(bundle, [photo], 1).get("giraffe.jpg"));
        const status = page.locator("[data-testid=model-status]");
        assert.equal(await status.getAttribute("data-backend"), "cpu");
        assert.match(await status.textContent(), /WebGPU failed while captioning .*moved to the CPU/);
      },
    );

    test("nothing leaves 127.0.0.1, and after one visit the page captions offline", async () => {
      const { page, context, requests } = browser;
      const local = (url) => ["http:", "https:"].includes(url.protocol) && url.hostname === "127.0.0.1";
      const foreign = requests.filter((address) => {
        const url = new URL(address);
        if (url.protocol === "blob:") return !local(new URL(url.pathname));
        return url.protocol !== "data:" && !local(url);
      });
      assert.deepEqual(foreign, [], "requests left 127.0.0.1");

      const modules = [`pkg/${mode.module}/glimpse_wasm.js`, `pkg/${mode.module}/glimpse_wasm_bg.wasm`];
      await waitForOfflineCache(page, modules);
      // The page, its workers and its service worker downloaded every file once.
      for (const [name, sent] of server.bytes) {
        assert.equal(sent, statSync(path.join(WEB, name || "index.html")).size, `${name || "the page"}: ${sent} bytes sent`);
      }
      if (mode.name === "cpu") {
        const webgpu = server.requests.filter((url) => url.includes("/pkg/webgpu/"));
        assert.deepEqual(webgpu, [], "without an adapter only the CPU module is fetched");
      }
      await context.setOffline(true);
      try {
        await page.reload();
        await waitForModel(browser);
        if (mode.name === "cpu") {
          // The service worker isolates the page from now on: on two cores the page keeps the
          // single-threaded module; with more, pkg/cpu-threads was never downloaded, and the
          // page falls back to the single-threaded module, which it has.
          assert.ok(await page.evaluate(() => globalThis.crossOriginIsolated), "the service worker isolates the page");
          assert.equal(await page.locator("[data-testid=model-status]").getAttribute("data-module"), mode.module);
        }
        const photo = path.join(ASSETS, "darknet/kite.jpg");
        await page.setInputFiles("input[type=file]", [photo]);
        await waitForResults(page, 1);
        const got = (await readResults(page)).get("kite.jpg");
        assertMatchesNative("kite.jpg offline", got, nativeCaptions(DEFAULT_BUNDLE, [photo], 1).get("kite.jpg"));
      } finally {
        await context.setOffline(false);
      }
    });
  });
}

describe("auto, and updates", () => {
  test("auto on SwiftShader: the CPU captions at once, WebGPU is measured slower in the background, and captions stay on the CPU", async () => {
    const server = await servePage("/");
    const browser = await launch(MODES[0]);
    const { page } = browser;
    try {
      await page.goto(server.url);
      await waitForModel(browser);
      const status = page.locator("[data-testid=model-status]");
      assert.equal(await status.getAttribute("data-backend"), "cpu");
      await page.waitForFunction(() => document.querySelector("[data-testid=model-status]").dataset.decided === "true", null, {
        timeout: 600_000,
      });
      assert.match(
        await status.textContent(),
        /on CPU\. WebGPU is slower here \(a test caption took \d+ ms on WebGPU against \d+ ms on the CPU\), so captions stay on the CPU/,
      );
      assert.equal(await status.getAttribute("data-backend"), "cpu");
      assert.ok(server.requests.some((url) => url.includes("/pkg/webgpu/glimpse_wasm_bg.wasm")), "the WebGPU module was tried");
      const photo = path.join(ASSETS, "darknet/dog.jpg");
      await page.setInputFiles("input[type=file]", [photo]);
      await waitForResults(page, 1);
      const got = (await readResults(page)).get("dog.jpg");
      assert.equal(got.backend, "cpu");
      assertMatchesNative("dog.jpg (auto)", got, nativeCaptions(DEFAULT_BUNDLE, [photo], 1).get("dog.jpg"));
    } finally {
      await browser.close();
      await server.close();
    }
  });

  test("a first visit without WebGPU, served gzip-encoded as web/serve.sh sends it, fetches the module while the model downloads, downloads each file once and at most 6 MB before its first caption, and fills the offline cache only once that caption is done", async () => {
    // The model's answer waits until the worker asks for its .wasm (at most a minute): the page
    // starts the module before the model has arrived, not after.
    let wasmAsked;
    const asked = new Promise((resolve) => (wasmAsked = resolve));
    let modelWaited = null;
    // It also waits for the photo, so that the photo is already queued when the model is ready.
    let photoDropped;
    const dropped = new Promise((resolve) => (photoDropped = resolve));
    const holdModel = async (name) => {
      if (name.endsWith(".wasm")) wasmAsked(true);
      if (name === "models/default.safetensors") {
        modelWaited = await Promise.race([asked, delay(60_000, false, { ref: false })]);
        await Promise.race([dropped, delay(60_000, false, { ref: false })]);
      }
    };
    const server = await servePage("/", {}, { compress: true, before: holdModel });
    const browser = await launch(MODES[1]);
    const { page } = browser;
    const photo = path.join(ASSETS, "darknet/eagle.jpg");
    try {
      // Every step of filling the offline cache, and whether a photo was waiting for its caption.
      await page.addInitScript(() => {
        window.offlineSteps = [];
        const pending = () => document.querySelectorAll("[data-testid=result][data-state=pending]").length;
        for (const [prototype, name] of [
          [ServiceWorkerContainer.prototype, "register"],
          [Cache.prototype, "add"],
        ]) {
          const original = prototype[name];
          prototype[name] = function (...args) {
            window.offlineSteps.push({ step: `${name} ${args[0]}`, pending: pending() });
            return original.apply(this, args);
          };
        }
      });
      await page.goto(server.url);
      await page.setInputFiles("input[type=file]", [photo]);
      photoDropped();
      await waitForModel(browser);
      assert.equal(modelWaited, true, "the .wasm was only requested once the model had arrived");
      // The page counts the model's decoded bytes, not the encoded ones.
      const status = page.locator("[data-testid=model-status]");
      assert.equal(Number(await status.getAttribute("data-downloaded")), statSync(DEFAULT_BUNDLE).size);
      await waitForResults(page, 1);
      assertMatchesNative("eagle.jpg (gzip)", (await readResults(page)).get("eagle.jpg"), nativeCaptions(DEFAULT_BUNDLE, [photo], 1).get("eagle.jpg"));
      const sent = [...server.bytes.values()].reduce((a, b) => a + b, 0);
      const log = [...server.bytes].map(([name, n]) => `${name || "the page"} ${n}`).join(", ");
      assert.ok(sent <= 6e6, `${sent} bytes before the first caption: ${log}`);
      for (const [name, size] of server.fileBytes) {
        assert.equal(size, statSync(path.join(WEB, name || "index.html")).size, `${name || "the page"} sent more than once`);
      }
      assert.deepEqual(server.requests.filter((url) => url.endsWith(".wasm")), [`/pkg/${MODES[1].module}/glimpse_wasm_bg.wasm`]);
      // On two cores, filling the cache while the first photo was captioned slowed it by a sixth.
      await waitForOfflineCache(page);
      const steps = await page.evaluate(() => window.offlineSteps);
      assert.ok(steps.some(({ step }) => step.startsWith("register")) && steps.some(({ step }) => step.startsWith("add")), JSON.stringify(steps));
      assert.deepEqual(steps.filter(({ pending }) => pending > 0), [], "offline caching ran while a photo waited for its caption");
    } finally {
      await browser.close();
      await server.close();
    }
  });

  test("a new build replaces the old one whole: a new cache, the old one deleted, the new module runs, online and offline", async () => {
    const site = mkdtempSync(path.join(tmpdir(), "glimpse-site-"));
    cpSync(WEB, site, { recursive: true });
    const server = await serve(site, "/app/");
    const browser = await launch(MODES[1]);
    const { page, context } = browser;
    const photo = path.join(ASSETS, "darknet/horses.jpg");
    const native = nativeCaptions(DEFAULT_BUNDLE, [photo], 1).get("horses.jpg");
    const captionOnce = async (label) => {
      await page.setInputFiles("input[type=file]", [photo]);
      await waitForResults(page, 1);
      assertMatchesNative(label, (await readResults(page)).get("horses.jpg"), native);
    };
    const secondBuild = () => page.workers().find((w) => w.url().includes("module=cpu")).evaluate(() => globalThis.GLIMPSE_SECOND_BUILD === true);
    try {
      await page.goto(`${server.url}?threads=1`);
      await waitForModel(browser);
      const firstModule = MODES[1].module;
      await waitForOfflineCache(page, [`pkg/${firstModule}/glimpse_wasm.js`, `pkg/${firstModule}/glimpse_wasm_bg.wasm`]);
      const first = await cacheName(page);

      // The second build: its glue differs from the first's (every CPU module's: from this
      // reload on, the service worker isolates the page, so with `?threads=1` it runs
      // pkg/cpu-threads).
      deploySecondBuild(site);
      await page.reload();
      await waitForModel(browser);
      const second = await cacheName(page);
      assert.notEqual(second, first);
      assert.ok(await secondBuild(), "the new glue runs");
      await waitForAsync(
        page,
        async (name) => {
          const keys = await caches.keys();
          return keys.length === 1 && keys[0] === name;
        },
        second,
        { what: `${second} to be the only cache` },
      );
      const module = await page.locator("[data-testid=model-status]").getAttribute("data-module");
      assert.equal(module, "cpu-threads");
      await waitForOfflineCache(page, [`pkg/${module}/glimpse_wasm.js`, `pkg/${module}/glimpse_wasm_bg.wasm`]);
      await captionOnce("horses.jpg after the update");

      await context.setOffline(true);
      await page.reload();
      await waitForModel(browser);
      assert.equal(await cacheName(page), second);
      assert.ok(await secondBuild(), "offline, the new glue runs");
      await captionOnce("horses.jpg offline after the update");

    } finally {
      await context.setOffline(false);
      await browser.close();
      await server.close();
      rmSync(site, { recursive: true, force: true });
    }
  });

  test("an update's first visit, gone offline before the new build's cache is complete, gets the old build whole", async () => {
    const site = mkdtempSync(path.join(tmpdir(), "glimpse-site-"));
    cpSync(WEB, site, { recursive: true });
    const server = await serve(site, "/app/");
    const browser = await launch(MODES[1]);
    const { page, context } = browser;
    try {
      await page.goto(`${server.url}?threads=0`);
      await waitForModel(browser);
      const module = MODES[1].module; // not threaded (`threads=0`), so the same on every visit
      await waitForOfflineCache(page, [`pkg/${module}/glimpse_wasm.js`, `pkg/${module}/glimpse_wasm_bg.wasm`]);
      const first = await cacheName(page);
      deploySecondBuild(site);
      // The second build's page never gets its model, so its cache is never complete.
      await context.route(/\.safetensors/, (route) => route.abort());
      await page.reload();
      await page.waitForFunction((first) => (document.documentElement.dataset.cache ?? first) !== first, first);
      const second = await cacheName(page);
      assert.equal(await page.locator("#second-build").count(), 1);
      // Its service worker has taken over: it keeps what it fetches in the second build's cache.
      await waitForAsync(
        page,
        async (name) => {
          await fetch("./?probe");
          return Boolean(await (await caches.open(name)).match("./?probe"));
        },
        second,
        { what: "the second build's service worker to answer" },
      );
      await context.setOffline(true);
      await page.reload();
      await waitForModel(browser);
      // The first build's worker answered that first visit; it kept the second build's page and
      // scripts in the first build's complete cache, and offline the page was a mix of both.
      assert.equal(await cacheName(page), first);
      assert.equal(await page.locator("#second-build").count(), 0, "the second build's page, offline");
      await page.setInputFiles("input[type=file]", [path.join(ASSETS, "darknet/horses.jpg")]);
      await waitForResults(page, 1);
      const native = nativeCaptions(DEFAULT_BUNDLE, [path.join(ASSETS, "darknet/horses.jpg")], 1).get("horses.jpg");
      assertMatchesNative("horses.jpg offline, the first build", (await readResults(page)).get("horses.jpg"), native);
    } finally {
      await context.setOffline(false);
      await browser.close();
      await server.close();
      rmSync(site, { recursive: true, force: true });
    }
  });

  test("two deployments on one origin keep their own offline caches", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "glimpse-sites-"));
    for (const folder of ["glimpse", "glimpse-dev"]) cpSync(WEB, path.join(root, folder), { recursive: true });
    deploySecondBuild(path.join(root, "glimpse-dev"));
    const server = await serve(root, "/");
    const browser = await launch(MODES[1]);
    const { page } = browser;
    try {
      const names = [];
      for (const folder of ["glimpse", "glimpse-dev"]) {
        await page.goto(`${server.url}${folder}/?threads=0`);
        await waitForModel(browser);
        await waitForOfflineCache(page, [`pkg/${MODES[1].module}/glimpse_wasm.js`]);
        names.push(await cacheName(page));
      }
      assert.deepEqual(names.map((name) => name.split("@")[1]), ["/glimpse/", "/glimpse-dev/"]);
      // The second's completion deleted the first's cache (every `glimpse-*` but its own).
      assert.deepEqual((await page.evaluate(() => caches.keys())).sort(), names.sort());
    } finally {
      await browser.close();
      await server.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** Makes the site folder `site` a new build: its page, CPU modules' glue and modules differ from
 * the first's (each module gains an empty custom section named `glim`, which changes no code),
 * and pkg/version.js names it. */
function deploySecondBuild(site) {
  const index = path.join(site, "index.html");
  writeFileSync(index, readFileSync(index, "utf8").replace("</main>", '<p id="second-build" hidden></p></main>'));
  for (const module of ["cpu", "cpu-relaxed", "cpu-threads"]) {
    appendFileSync(path.join(site, `pkg/${module}/glimpse_wasm.js`), "\nglobalThis.GLIMPSE_SECOND_BUILD = true;\n");
    appendFileSync(path.join(site, `pkg/${module}/glimpse_wasm_bg.wasm`), Buffer.from([0, 5, 4, ..."glim"].map((b) => (typeof b === "string" ? b.charCodeAt(0) : b))));
  }
  execFileSync("bash", [path.join(site, "version.sh")], { stdio: "pipe" });
}
