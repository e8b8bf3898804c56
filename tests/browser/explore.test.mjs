// Exploring attention in the page, on both paths (WebGPU on SwiftShader, and the CPU module):
// a typed caption scored word by word, alternatives that rewrite the caption from a word on,
// every beam, a hidden region and the caption without it, and the overall and focus views.
// The page's numbers are compared with native `glimpse score` / `glimpse caption` on the same
// bundle and image, and with PyTorch's references (tests/fixtures/torch/notebook/explore.json).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import zlib from "node:zlib";

import {
  FIXTURES,
  GLIMPSE,
  MODES,
  artifact,
  assertMatchesNative,
  bundleInfo,
  importFixtureBundle,
  launch,
  nativeCaptions,
  servePage,
  waitForModel,
  waitForResults,
} from "./harness.mjs";

const scratch = mkdtempSync(path.join(tmpdir(), "glimpse-explore-"));
const BUNDLE = importFixtureBundle(path.join(scratch, "notebook.safetensors"));
const IMAGE = path.join(FIXTURES, "torch/notebook/image.png");
const EXPLORE = JSON.parse(readFileSync(path.join(FIXTURES, "torch/notebook/explore.json"), "utf8"));
const PROB_TOLERANCE = 1e-4;
const ATTENTION_TOLERANCE = 1e-3;

function glimpseJson(args) {
  return execFileSync(GLIMPSE, args, { encoding: "utf8", maxBuffer: 64 << 20 })
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

function assertClose(label, got, want, tolerance) {
  assert.ok(Math.abs(got - want) <= tolerance, `${label}: ${got} vs ${want} (tolerance ${tolerance})`);
}

function assertSameMap(label, got, want) {
  assert.equal(got.length, want.length, `${label}: cells`);
  const gap = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
  assert.ok(gap <= ATTENTION_TOLERANCE, `${label}: attention differs by ${gap}`);
}

/** Waits until the result's requests (branch, score, hidden region) have all answered. */
async function settled(card) {
  await card.page().waitForFunction((element) => !element.dataset.busy, await card.elementHandle(), { timeout: 600_000 });
  const error = card.locator("[data-testid=explore-error]");
  assert.ok(await error.isHidden(), `the page reported: ${await error.textContent()}`);
}

for (const mode of MODES) {
  describe(`exploring attention with ${mode.name === "webgpu" ? "WebGPU" : "no WebGPU adapter"}`, () => {
    let server;
    let browser;
    let card;

    before(async () => {
      server = await servePage("/glimpse/", { "fixtures/notebook.safetensors": BUNDLE });
      browser = await launch(mode);
      const query = `${mode.query ? `${mode.query}&` : "?"}model=fixtures/notebook.safetensors`;
      await browser.page.goto(server.url + query);
      await waitForModel(browser);
      await browser.page.setInputFiles("input[type=file]", [IMAGE]);
      await waitForResults(browser.page, 1);
      card = browser.page.locator("[data-testid=result]").first();
      assert.equal(await card.getAttribute("data-state"), "done", await card.textContent());
    });

    after(async () => {
      await browser?.close();
      await server?.close();
    });

    test("every word's alternatives are native glimpse's", async () => {
      const [native] = glimpseJson(["caption", "--json", "--alternatives", "5", "--model", BUNDLE, IMAGE]);
      const result = await card.evaluate((element) => element.glimpseResult);
      assert.deepEqual(result.tokens, native.tokens);
      assert.equal(result.alternatives.length, native.alternatives.length);
      result.alternatives.forEach((position, i) => {
        assert.deepEqual(position.map((a) => a.id), native.alternatives[i].map((a) => a.id), `position ${i}`);
        position.forEach((a, j) => assertClose(`position ${i} #${j}`, a.prob, native.alternatives[i][j].prob, PROB_TOLERANCE));
      });
      result.entropy.forEach((h, i) => assert.ok(h > 0 && h <= Math.log(49) + 1e-4, `word ${i}: entropy ${h}`));
    });

    test("a typed caption gets glimpse score's probabilities, ranks and attention", async () => {
      const { page } = browser;
      const want = EXPLORE.scores[2]; // a word outside the vocabulary
      const text = `${want.text.toUpperCase()}!`;
      const [native] = glimpseJson(["score", "--json", "--alternatives", "5", "--model", BUNDLE, IMAGE, "--caption", text]);
      await card.locator("[data-testid=score-input]").fill(text);
      await card.locator("[data-testid=score-form] button[type=submit]").click();
      await settled(card);
      const chips = card.locator("[data-testid=scored-word]");
      assert.equal(await chips.count(), native.words.length);
      for (let i = 0; i < native.words.length; i++) {
        const prob = Number(await chips.nth(i).getAttribute("data-prob"));
        assertClose(`word ${i} (chip)`, prob, native.words[i].prob, PROB_TOLERANCE);
        assertClose(`word ${i} vs PyTorch`, Math.log(prob), want.words[i].log_prob, 1e-3);
        const fill = await chips.nth(i).evaluate((chip) => parseFloat(chip.style.getPropertyValue("--fill")));
        assertClose(`word ${i} fill`, fill, 100 * prob, 1e-3);
      }
      assert.equal(await chips.nth(1).textContent(), "zebra");
      const scored = await card.evaluate(({ glimpseScore: s }) => ({ ...s, words: s.words.map((w) => ({ ...w, attention: Array.from(w.attention) })) }));
      scored.words.forEach((word, i) => {
        assert.equal(word.rank, native.words[i].rank, `word ${i}: rank`);
        assertSameMap(`word ${i}`, Array.from(word.attention), native.words[i].attention);
      });
      assertClose("end", scored.end.prob, native.end.prob, PROB_TOLERANCE);
      // Selecting a word draws where the model would look for it.
      await chips.nth(2).click();
      assert.equal(await card.locator("canvas[data-testid=attention]").getAttribute("data-word"), "2");
      assert.match(await card.locator("[data-testid=word-info]").textContent(), /“dog”: p = 0\.\d{4}, rank \d+/);
      const summary = await card.locator("[data-testid=score-summary]").textContent();
      const own = await card.evaluate((element) => element.glimpseResult);
      assert.ok(summary.includes(`log p = ${native.log_prob.toFixed(2)}`), summary);
      assert.ok(summary.includes(`log p = ${own.logProb.toFixed(2)}`), summary);
      assert.match(summary, /"zebra" is not in the vocabulary: read as <UNK>/);
      await page.screenshot({ path: artifact(`explore-${mode.name}-scored.png`), fullPage: true });
    });

    test("picking an alternative keeps the words before it and rewrites the rest; Back returns", async () => {
      const { page } = browser;
      const before = await card.locator("[data-testid=caption]").textContent();
      const words = card.locator("[data-testid=word]");
      const first = (await words.nth(0).textContent()).trim();
      await words.nth(1).click();
      const choice = card.locator("[data-testid=alternative]:not([disabled])").first();
      const word = await choice.getAttribute("data-word");
      await choice.click();
      await settled(card);
      const [native] = glimpseJson(["caption", "--json", "--model", BUNDLE, IMAGE, "--prefix", `${first} ${word}`]);
      const after = await card.locator("[data-testid=caption]").textContent();
      assert.equal(after, native.caption);
      assert.notEqual(after, before);
      assert.deepEqual((await words.allTextContents()).slice(0, 2), [first, word]);
      await page.screenshot({ path: artifact(`explore-${mode.name}-alternative.png`), fullPage: true });
      await card.locator("[data-testid=back]").click();
      assert.equal(await card.locator("[data-testid=caption]").textContent(), before);
      assert.ok(await card.locator("[data-testid=back]").isHidden());
      // At "Max words" a branch leaves the model nothing to decode (picking one always failed):
      // the alternatives are shown and cannot be picked.
      const maxWords = await page.inputValue("#max-len");
      await page.fill("#max-len", "2");
      await words.nth(0).click();
      await words.nth(1).click();
      assert.ok((await card.locator("[data-testid=alternative]").count()) > 0);
      assert.equal(await card.locator("[data-testid=alternative]:not([disabled])").count(), 0);
      await page.fill("#max-len", maxWords);
    });

    test("with a beam of 3, every beam is listed with its score, and selecting one shows it", async () => {
      const { page } = browser;
      const want = EXPLORE.all_beams.find((b) => b.k === 3 && b.length_penalty === 0);
      await page.fill("#beam", "3");
      try {
        await page.click("#recaption");
        await waitForResults(page, 1);
        await page.waitForFunction(() => document.querySelectorAll("[data-testid=beam]").length > 1, null, { timeout: 600_000 });
        const beams = card.locator("[data-testid=beam]");
        assert.equal(await beams.count(), want.hypotheses.length);
        const result = await card.evaluate((element) => element.glimpseResult);
        result.beams.forEach((beam, i) => assertClose(`beam ${i} score`, beam.score, want.hypotheses[i].score, 1e-3));
        await beams.nth(1).click();
        assert.equal(await card.locator("[data-testid=caption]").textContent(), result.beams[1].caption);
        assert.equal(await beams.nth(1).getAttribute("aria-pressed"), "true");
        assertSameMap("beam 1 word 0", result.beams[1].attention[0], want.hypotheses[1].alphas[0]);
        await page.screenshot({ path: artifact(`explore-${mode.name}-beams.png`), fullPage: true });
      } finally {
        await page.fill("#beam", "1");
        await page.click("#recaption");
        await waitForResults(page, 1);
        await page.waitForFunction(() => document.querySelectorAll("[data-testid=beam]").length === 0 || document.querySelector("[data-testid=beams]").hidden);
      }
    });

    test("hiding where a word looked captions the photo again and marks the changed words; the keyboard places and clears a region", async () => {
      const { page } = browser;
      await card.locator("[data-testid=word]").nth(0).click();
      await card.locator("[data-testid=hide-top]").click();
      await settled(card);
      const occluded = card.locator("[data-testid=occluded-caption]");
      await page.waitForFunction((element) => element.dataset.changed !== undefined, await occluded.elementHandle());
      const result = await card.evaluate((element) => element.occluded.result);
      const own = await card.evaluate((element) => element.glimpseResult);
      const marked = (await occluded.locator("mark").count()) + (await occluded.locator("del").count());
      assert.equal(Number(await occluded.getAttribute("data-changed")), marked);
      assert.equal(marked > 0, result.tokens.join(" ") !== own.tokens.join(" "));
      const shown = await occluded.evaluate((element) => [...element.childNodes].filter((n) => n.nodeName !== "DEL").map((n) => n.textContent).join("").replace(/\s+/g, " "));
      assert.ok(shown.includes(`${result.tokens.join(" ")} (`), `${shown} lacks ${result.tokens.join(" ")}`);
      await page.screenshot({ path: artifact(`explore-${mode.name}-occluded.png`), fullPage: true });
      // The hidden region is shown over the photo where the model was shown it.
      const region = card.locator("[data-testid=hidden-region]");
      const [box, photo] = [await region.boundingBox(), await card.locator("canvas[data-testid=attention]").boundingBox()];
      assert.ok(box && box.width > 1 && box.height > 1, "the hidden region is not shown");
      assert.ok(box.x >= photo.x - 0.5 && box.y >= photo.y - 0.5, "the hidden region starts outside the photo");
      assert.ok(box.x + box.width <= photo.x + photo.width + 0.5 && box.y + box.height <= photo.y + photo.height + 0.5, `the hidden region ends outside the photo: ${JSON.stringify([box, photo])}`);
      await card.locator("[data-testid=clear-mask]").click();
      assert.equal(await occluded.textContent(), "");
      assert.equal(await region.isHidden(), true, "the hidden region is still shown after clearing it");
      // Keyboard: arrows place and move a region, Delete clears it.
      await card.locator("canvas[data-testid=attention]").focus();
      await page.keyboard.press("ArrowRight");
      await page.waitForFunction((element) => element.dataset.changed !== undefined, await occluded.elementHandle(), { timeout: 600_000 });
      await settled(card);
      await page.keyboard.press("Delete");
      assert.equal(await occluded.textContent(), "");
    });

    test("the overall and focus views feed the heatmap, the grid and the figure", async () => {
      const { page } = browser;
      const view = card.locator("[data-testid=view]");
      await view.selectOption("overall");
      assert.equal(await card.locator("canvas[data-testid=attention]").getAttribute("data-word"), "overall");
      await card.locator(".toggle-grid").click();
      const panels = card.locator("[data-testid=grid] [data-testid=panel]");
      assert.equal(await panels.count(), 1);
      assert.equal(await panels.nth(0).locator("figcaption").textContent(), "overall");
      const download = page.waitForEvent("download");
      await card.locator(".download").click();
      assert.equal(readFileSync(await (await download).path()).subarray(1, 4).toString(), "PNG");
      await page.screenshot({ path: artifact(`explore-${mode.name}-overall.png`), fullPage: true });

      await view.selectOption("focus");
      const words = card.locator("[data-testid=word]");
      assert.equal(await panels.count(), await words.count());
      assert.match(await panels.nth(0).locator("figcaption").textContent(), /\(\d+\.\d\d nats\)$/);
      const fill = await words.nth(0).evaluate((chip) => chip.style.getPropertyValue("--fill"));
      assert.match(fill, /%$/);
      await page.screenshot({ path: artifact(`explore-${mode.name}-focus.png`), fullPage: true });
      await view.selectOption("word");
      await card.locator(".toggle-grid").click();

      // The colour map follows the menu: matplotlib's viridis paints other colours than inferno.
      const canvas = card.locator("canvas[data-testid=attention]");
      const sum = () => canvas.evaluate((c) => c.getContext("2d").getImageData(0, 0, c.width, c.height).data.reduce((a, v, i) => a + v * ((i % 4) + 1), 0));
      const inferno = await sum();
      await card.locator("[data-testid=colormap]").selectOption("viridis");
      assert.notEqual(await sum(), inferno, "the heatmap did not change with the colour map");
      await card.locator("[data-testid=colormap]").selectOption("inferno");
      assert.equal(await sum(), inferno);
    });

    // (Last: the photo it drops becomes the first result, which `card` names.)
    test("a hidden region is filled on the photo the caption it is compared with was made from: native glimpse's words and attention for the photo filled there", async () => {
      const { page } = browser;
      // A photo with transparent blocks: the browser's own decode (premultiplied: black there)
      // gave other pixels than the module's (the stored colour), outside the region too.
      const [width, height] = [160, 120];
      const pixel = (x, y) => [(x * 37 + y * 11) % 256, (x * 5 + y * 23) % 256, (x * y) % 256, (x >> 4) % 3 === 0 && (y >> 4) % 2 === 0 ? 0 : 255];
      const photo = path.join(scratch, "transparent.png");
      writeFileSync(photo, png(width, height, 4, pixel));
      await page.setInputFiles("input[type=file]", [photo]);
      await waitForResults(page, 2);
      const dropped = page.locator("[data-testid=result]").first();
      await dropped.locator("[data-testid=word]").nth(0).click();
      await dropped.locator("[data-testid=hide-top]").click();
      const occluded = dropped.locator("[data-testid=occluded-caption]");
      await page.waitForFunction((element) => element.dataset.changed !== undefined, await occluded.elementHandle(), { timeout: 600_000 });
      await settled(dropped);
      const { result, region } = await dropped.evaluate(({ occluded: { result, region } }) => ({
        result: { caption: result.caption, tokens: result.tokens, grid: result.grid, attention: result.attention.map((a) => Array.from(a)) },
        region,
      }));

      // The reference: the region filled with the mean colour in this photo's own pixels (every
      // pixel it touches), alpha dropped.
      const mean = bundleInfo(BUNDLE).config.preprocess.mean.map((m) => Math.round(255 * Math.min(Math.max(m, 0), 1)));
      // (A value within rounding of a whole pixel is that pixel.)
      const whole = (v) => (Math.abs(v - Math.round(v)) <= 1e-9 * Math.max(Math.abs(Math.round(v)), 1) ? Math.round(v) : v);
      const [x0, y0] = [Math.floor(whole(region.x * width)), Math.floor(whole(region.y * height))];
      const [x1, y1] = [Math.ceil(whole((region.x + region.w) * width)), Math.ceil(whole((region.y + region.h) * height))];
      const hidden = (x, y) => (x >= x0 && x < x1 && y >= y0 && y < y1 ? mean : pixel(x, y).slice(0, 3));
      const reference = path.join(scratch, "hidden.png");
      writeFileSync(reference, png(width, height, 3, hidden));
      const want = nativeCaptions(BUNDLE, [reference]).get("hidden.png");
      assertMatchesNative("the photo without the hidden region", { caption: result.caption, result }, want);
    });
  });
}

/** A PNG of `channels` (3: RGB, 4: RGBA) 8-bit channels, `pixel(x, y)` giving each pixel's. */
function png(width, height, channels, pixel) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, channels === 4 ? 6 : 2, 0, 0, 0], 8);
  const rows = Buffer.alloc(height * (1 + width * channels)); // each row: filter 0, then pixels
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rows.set(pixel(x, y), y * (1 + width * channels) + 1 + x * channels);
  }
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", zlib.deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}
