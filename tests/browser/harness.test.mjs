// The harness's own waiting: the offline tests depend on it waiting for what Cache Storage holds.

import assert from "node:assert/strict";
import { test } from "node:test";

import { MODES, launch, waitForAsync } from "./harness.mjs";

test("waitForAsync waits for a condition that awaits (Playwright's waitForFunction takes its promise as true at once), and times out naming what it waited for", async () => {
  const browser = await launch(MODES[1]);
  const { page } = browser;
  try {
    await page.evaluate(() => {
      window.readyAt = performance.now() + 600;
    });
    const late = async () => (await new Promise((resolve) => setTimeout(resolve, 10))) ?? performance.now() >= window.readyAt;
    // What the harness used before: it returns before the condition holds.
    await page.waitForFunction(late, null, { timeout: 5_000 });
    assert.equal(await page.evaluate(() => performance.now() >= window.readyAt), false, "Playwright now awaits the promise: waitForAsync may go");
    await waitForAsync(page, late, null, { timeout: 5_000, interval: 50 });
    assert.equal(await page.evaluate(() => performance.now() >= window.readyAt), true);
    await assert.rejects(
      waitForAsync(page, async () => false, null, { timeout: 300, interval: 50, what: "nothing" }),
      /timed out after 300 ms waiting for nothing/,
    );
  } finally {
    await browser.close();
  }
});
