// A hundred photos dropped at once, in real headless Chromium (the CPU module): they queue with
// a visible count and a cancel button, the page answers while they are captioned, every one gets
// its caption, the renderer's memory after 100 is within 10% of its memory after 10, and its
// peak is at most 300 MiB.

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { ASSETS, MODES, chromiumMemory, launch, servePage, waitForIdle, waitForModel, waitForResults } from "./harness.mjs";

const SOURCES = ["darknet/dog.jpg", "darknet/eagle.jpg", "darknet/giraffe.jpg", "darknet/horses.jpg", "darknet/person.jpg", "skimage/chelsea.png", "skimage/coffee.png", "skimage/astronaut.png"];

describe("a hundred photos at once", () => {
  let server, browser, folder, photos;

  before(async () => {
    // Real photos under 120 distinct names (the page lists each file it was given).
    folder = mkdtempSync(path.join(tmpdir(), "glimpse-queue-"));
    photos = Array.from({ length: 120 }, (_, i) => {
      const source = path.join(ASSETS, SOURCES[i % SOURCES.length]);
      const copy = path.join(folder, `photo-${String(i).padStart(3, "0")}${path.extname(source)}`);
      copyFileSync(source, copy);
      return copy;
    });
    server = await servePage("/");
    // --expose-gc: the test collects the page's and the workers' garbage before it measures.
    browser = await launch({ ...MODES[1], flags: [...MODES[1].flags, "--js-flags=--expose-gc"] });
    await browser.page.goto(server.url);
    await waitForModel(browser);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  /** The renderer's resident memory once the page is idle: garbage collected in the page and its
   * workers each second, until it has not fallen for 5 s (at least 15 s, at most 60 s).
   * Chromium gives freed memory back some seconds after the last caption (about 25 MB here,
   * 6–8 s after it), so a sample taken sooner measures when, not what, the page keeps. */
  async function settledMemory() {
    const MB = 2 ** 20;
    let least = Infinity;
    let steadySince = 0;
    for (let second = 0; second < 60 && (second < 15 || second - steadySince < 5); second++) {
      for (const worker of browser.page.workers()) await worker.evaluate(() => gc());
      await browser.page.evaluate(() => gc());
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const rss = chromiumMemory(browser.profile).renderer.rss;
      if (rss < least - 0.5 * MB) steadySince = second;
      least = Math.min(least, rss);
    }
    return least;
  }

  const doneCount = () => browser.page.locator("[data-testid=result][data-state=done]").count();

  test("90 queued photos show a count and all get captions; memory after 100 is within 10% of after 10, and peaks at most at 300 MiB", async () => {
    const { page } = browser;
    await page.setInputFiles("input[type=file]", photos.slice(0, 10));
    await waitForResults(page, 10);
    const afterTen = await settledMemory();

    await page.setInputFiles("input[type=file]", photos.slice(10, 100));
    const queue = page.locator("[data-testid=queue]");
    await queue.waitFor({ state: "visible" });
    const count = await page.locator("[data-testid=queue-count]").textContent();
    const [, current, total, waiting] = /^Captioning photo (\d+) of (\d+) · (\d+) waiting$/.exec(count) ?? [];
    assert.equal(Number(total), 90, count);
    assert.ok(Number(current) >= 1 && Number(waiting) === 90 - Number(current), count);
    assert.equal(await page.locator("[data-testid=cancel]").isEnabled(), true);

    // The page answers while the queue runs: the beam width can be changed and read back.
    await page.fill("#beam", "2");
    assert.equal(await page.inputValue("#beam"), "2");
    await page.fill("#beam", "1");
    assert.ok((await doneCount()) < 100, "the queue finished before the page was tried");

    await waitForResults(page, 100);
    await waitForIdle(page);
    await queue.waitFor({ state: "hidden" });
    assert.equal(await doneCount(), 100, "every photo has its caption");
    const afterHundred = await settledMemory();
    const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
    const peak = chromiumMemory(browser.profile).renderer.hwm;
    console.log(`renderer memory: ${mb(afterTen)} MB after 10 photos, ${mb(afterHundred)} MB after 100, peak ${mb(peak)} MB`);
    assert.ok(afterHundred <= afterTen * 1.1, `${mb(afterHundred)} MB after 100 photos, ${mb(afterTen)} MB after 10`);
    // The goal, in the unit this test prints (MiB): 288–292 here in session 60, 303–334
    // before each photo's buffer was used again and emptied views gave their canvases back.
    assert.ok(peak <= 300 * 2 ** 20, `the renderer peaked at ${mb(peak)} MB (MiB) while 100 photos were captioned`);
  });

  test("results far off screen hold an empty view: built as they come near, with their words, heatmap and photo, emptied (keeping their height) as they go far, unless they hold more", async () => {
    const { page } = browser;
    const views = () =>
      page.$$eval("[data-testid=result]", (results) =>
        results.map((result) => {
          const view = result.querySelector(".view");
          return { built: view.querySelector(".picture") !== null, height: view.getBoundingClientRect().height };
        }),
      );
    const before = await views();
    const built = before.filter((view) => view.built).length;
    assert.ok(built >= 1 && built <= 15, `${built} of 100 results hold their views`);
    // Never built, a far view stands in at a view's height: the page keeps about its length.
    assert.deepEqual(before.filter((view) => view.height < 100), [], "every result has a view of some height");

    // The top result holds a typed caption and a changed opacity: kept while it is far away.
    const top = page.locator("[data-testid=result]").first();
    await top.locator("[data-testid=score-input]").fill("a typed caption");
    await top.locator(".opacity").fill("0.3");
    await page.evaluate(() => document.activeElement.blur());
    const far = page.locator("[data-testid=result]").nth(60);
    const shown = async () => {
      await far.scrollIntoViewIfNeeded();
      // Painted: the photo's display copy is on the canvas (its centre is not transparent).
      await page.waitForFunction((element) => {
        const picture = element.querySelector(".picture");
        if (!picture || picture.width === 300) return false; // (a canvas's width before it is painted)
        return picture.getContext("2d").getImageData(picture.width >> 1, picture.height >> 1, 1, 1).data[3] > 0;
      }, await far.elementHandle());
      return far.evaluate((element) => ({
        words: [...element.querySelectorAll("[data-testid=word]")].map((chip) => chip.textContent),
        tokens: element.glimpseResult.tokens,
        picture: [element.querySelector(".picture").width, element.querySelector(".picture").height],
        heatmap: element.querySelector("canvas[data-testid=attention]").dataset.word,
        height: element.querySelector(".view").getBoundingClientRect().height,
      }));
    };
    const first = await shown();
    assert.deepEqual(first.words, first.tokens);
    assert.equal(first.heatmap, "0", "the first word's heatmap is drawn");
    assert.equal((await views())[0].built, true, "the top result kept its view");
    assert.equal(await top.locator("[data-testid=score-input]").inputValue(), "a typed caption");
    assert.equal(await top.locator(".opacity").inputValue(), "0.3");

    // Scrolled away, the 61st result empties its view and keeps its height.
    await top.scrollIntoViewIfNeeded();
    const isEmptied = (element) => element.querySelector(".picture") === null;
    const viewHeight = (element) => element.querySelector(".view").getBoundingClientRect().height;
    await page.waitForFunction(isEmptied, await far.elementHandle());
    const emptied = await far.evaluate(viewHeight);
    assert.ok(Math.abs(emptied - first.height) < 1, `built ${first.height} px, emptied ${emptied} px`);
    // Captioned again while emptied ("Caption all again"), it keeps its stand-ins, not a height
    // in pixels.
    const again = await far.evaluate(async (element) => {
      await element.glimpseView.show(element.glimpseResult);
      const view = element.querySelector(".view");
      return { height: view.style.height, standIns: view.childElementCount };
    });
    assert.deepEqual(again, { height: "", standIns: 2 });
    // In a narrower window (a phone turned: one column) the emptied view follows the layout:
    // within a tenth of the height the view has there once built (a height in pixels kept the
    // two columns' height).
    await page.setViewportSize({ width: 600, height: 1000 });
    const narrow = await far.evaluate(viewHeight);
    await far.scrollIntoViewIfNeeded();
    await page.waitForFunction((element) => element.querySelector(".picture") !== null, await far.elementHandle());
    const narrowBuilt = await far.evaluate(viewHeight);
    assert.ok(Math.abs(narrow - narrowBuilt) <= 0.1 * narrowBuilt, `emptied ${narrow} px, built ${narrowBuilt} px in one column`);
    await page.setViewportSize({ width: 1280, height: 1000 });
    await top.scrollIntoViewIfNeeded();
    await page.waitForFunction(isEmptied, await far.elementHandle());
    // "Download" clicked as the view is built, before its photo is decoded and painted (a click
    // in that moment saved nothing), saves the figure once it is painted; "All words" opened
    // then gets its panels.
    const download = page.waitForEvent("download", { timeout: 60_000 });
    const paintedAtClick = await far.evaluate(
      (element) =>
        new Promise((resolve) => {
          new MutationObserver((_, observer) => {
            const button = element.querySelector(".download");
            if (!button) return;
            observer.disconnect();
            button.click();
            element.querySelector(".toggle-grid").click();
            resolve(element.glimpseView.image !== null);
          }).observe(element, { childList: true, subtree: true });
          element.scrollIntoView();
        }),
    );
    assert.equal(paintedAtClick, false, "clicked before the photo was painted");
    assert.equal(readFileSync(await (await download).path()).subarray(1, 4).toString(), "PNG");
    await far.locator("[data-testid=panel]").nth(first.tokens.length - 1).waitFor();
    assert.equal(await far.locator("[data-testid=panel]").count(), first.tokens.length);
    await far.locator(".toggle-grid").click();
    assert.deepEqual(await shown(), first, "built again, it shows the same");
    await top.scrollIntoViewIfNeeded();
  });

  test("cancel stops the waiting photos; the one being captioned finishes; “Caption all again” captions them", async () => {
    const { page } = browser;
    const before = await doneCount();
    await page.setInputFiles("input[type=file]", photos.slice(100, 120));
    await page.waitForFunction((n) => document.querySelectorAll("[data-testid=result][data-state=done]").length >= n, before + 2);
    await page.click("[data-testid=cancel]");
    await waitForIdle(page);
    await page.locator("[data-testid=queue]").waitFor({ state: "hidden" });
    const cancelled = page.locator("[data-testid=result][data-state=cancelled]");
    const stopped = await cancelled.count();
    const finished = (await doneCount()) - before;
    assert.ok(finished >= 2 && stopped >= 1, `${finished} finished, ${stopped} cancelled`);
    assert.equal(finished + stopped, 20, "every new photo is either captioned or cancelled");
    assert.match(await cancelled.first().locator("[data-testid=caption]").textContent(), /^Cancelled/);
    // Nothing cancelled starts later.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await doneCount(), before + finished);

    await page.click("#recaption");
    await page.locator("[data-testid=queue]").waitFor({ state: "visible" });
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=result][data-state=cancelled]").length === 0);
    await waitForIdle(page);
    assert.equal(await doneCount(), 120);
  });
});
