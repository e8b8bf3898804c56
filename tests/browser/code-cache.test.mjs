// A returning visit starts from the machine code V8 compiled for the CPU module on an earlier
// visit: the service worker answers for the module from Cache Storage itself (web/sw.js), and
// Chromium keeps V8's code beside such an answer; an answer passed on from the network, or
// rebuilt by the worker, has no place for it, and every visit compiled the module again.
// Chromium's own trace says what V8 did.

import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";

import { ASSETS, MODES, launch, servePage, waitForModel, waitForOfflineCache, waitForResults } from "./harness.mjs";

const PHOTOS = ["dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "person.jpg"].map((p) => path.join(ASSETS, "darknet", p));

/** The names of the V8 WebAssembly trace events recorded while `work` runs. */
async function wasmEvents(context, page, work) {
  const cdp = await context.newCDPSession(page);
  const names = new Set();
  cdp.on("Tracing.dataCollected", ({ value }) => value.forEach((event) => names.add(event.name)));
  const complete = new Promise((resolve) => cdp.once("Tracing.tracingComplete", resolve));
  await cdp.send("Tracing.start", { categories: "v8.wasm", transferMode: "ReportEvents" });
  try {
    await work();
  } finally {
    await cdp.send("Tracing.end");
    await complete;
    await cdp.detach();
  }
  return names;
}

test("a returning visit starts from the code V8 compiled for the CPU module on the visit before", async () => {
  const mode = MODES[1];
  const server = await servePage("/");
  const browser = await launch(mode);
  const { page, context } = browser;
  let captioned = 0;
  const caption = async (photos) => {
    await page.setInputFiles("input[type=file]", photos);
    captioned += photos.length;
    await waitForResults(page, captioned);
  };
  try {
    // The first visit fills the offline cache; the service worker controls the next ones.
    await page.goto(`${server.url}?threads=0`);
    await waitForModel(browser);
    await waitForOfflineCache(page, [`pkg/${mode.module}/glimpse_wasm_bg.wasm`]);

    // The second: V8 compiles the hot functions and, once it has compiled enough, Chromium
    // keeps the code (the event `wasm.SerializeModule`); a few more photos until it has.
    await page.reload();
    await waitForModel(browser);
    captioned = 0;
    let kept = false;
    for (let round = 0; round < 4 && !kept; round += 1) {
      const events = await wasmEvents(context, page, async () => {
        await caption(PHOTOS);
        await new Promise((resolve) => setTimeout(resolve, 3_000));
      });
      kept = events.has("wasm.SerializeModule");
    }
    assert.ok(kept, "Chromium kept no compiled code for the module on the second visit");

    // The third: the module's code comes back from the cache instead of being compiled.
    const events = await wasmEvents(context, page, async () => {
      await page.reload();
      await waitForModel(browser);
      captioned = 0;
      await caption(PHOTOS.slice(0, 1));
    });
    assert.equal(await page.locator("[data-testid=model-status]").getAttribute("data-module"), mode.module);
    assert.ok(events.has("wasm.Deserialize"), `the module was compiled again: ${[...events].join(", ")}`);
  } finally {
    await browser.close();
    await server.close();
  }
});
