// Unit tests of the page's pure functions (no browser needed).

import assert from "node:assert/strict";
import { test } from "node:test";

import { wordDiff } from "../../web/occlusion.js";

const render = (before, after) =>
  wordDiff(before.split(" "), after.split(" "))
    .map(({ word, change }) => ({ added: `+${word}`, removed: `-${word}` })[change] ?? word)
    .join(" ");

test("the occluded caption's word diff keeps the common words and marks the rest", () => {
  assert.equal(render("a large purple triangle", "a purple triangle on a checkered background"), "a -large purple triangle +on +a +checkered +background");
  assert.equal(render("a red circle", "a red circle"), "a red circle");
  assert.equal(render("x y", "p q r"), "+p +q +r -x -y");
  assert.equal(render("a b", "b a"), "+b a -b");
});

test("the page's colour maps are matplotlib's tables, picked as matplotlib picks them", async () => {
  const { readFileSync } = await import("node:fs");
  const { INFERNO, VIRIDIS } = await import("../../web/colormaps.js");
  const { COLORMAPS, colour } = await import("../../web/heatmap.js");
  const fixture = JSON.parse(readFileSync(new URL("../fixtures/colormaps.json", import.meta.url), "utf8"));
  assert.deepEqual([...INFERNO], fixture.inferno.flat());
  assert.deepEqual([...VIRIDIS], fixture.viridis.flat());
  const at = (t, map) => {
    const out = new Uint8ClampedArray(4);
    colour(t, map, out, 1);
    return [...out.subarray(1)];
  };
  for (const map of COLORMAPS.filter((name) => name !== "gray")) {
    assert.deepEqual(at(0, map), fixture[map][0]);
    assert.deepEqual(at(1, map), fixture[map][255]);
    assert.deepEqual(at(0.5, map), fixture[map][128]);
    assert.deepEqual(at(127.9 / 256, map), fixture[map][127]);
  }
  assert.deepEqual(at(0.5, "gray"), [128, 128, 128]);
  assert.deepEqual(at(Number.NaN, "viridis"), fixture.viridis[0]);
});

test("heatmaps are upsampled as PyTorch's bilinear interpolate (align_corners=False), into the buffer given", async () => {
  const { upsample } = await import("../../web/heatmap.js");
  // interpolate([[0, 1], [2, 3]], size=(4, 4), mode="bilinear") samples each axis at 0, 0.25,
  // 0.75 and 1 of the way between the two cells (the outer samples clamp to the edge cells).
  const steps = [0, 0.25, 0.75, 1];
  const expected = steps.flatMap((y) => steps.map((x) => x + 2 * y));
  assert.deepEqual([...upsample([0, 1, 2, 3], [2, 2], 4, 4)], expected);
  // A longer buffer is reused as it is: only its first width × height values are written.
  const reused = new Float32Array(20).fill(-1);
  assert.equal(upsample([0, 1, 2, 3], [2, 2], 4, 4, reused), reused);
  assert.deepEqual([...reused], [...expected, -1, -1, -1, -1]);
});

test("a panel keeps the photo's shape within 512 pixels of height", async () => {
  const { panelSize, MAX_PANEL_HEIGHT } = await import("../../web/heatmap.js");
  assert.deepEqual(panelSize(640, 480, 160), [160, 120]);
  assert.deepEqual(panelSize(100, 320, 160), [160, 512]);
  // 1:64, the tallest photo the model takes: 160×10240 before, 6.5 MB a panel.
  assert.deepEqual(panelSize(16, 1024, 160), [8, MAX_PANEL_HEIGHT]);
  assert.deepEqual(panelSize(1, 64_000, 160), [1, MAX_PANEL_HEIGHT]);
  assert.deepEqual(panelSize(20_000, 1, 160), [160, 1]);
});

test("index.html preloads exactly the modules app.js imports, however deep", async () => {
  const { readFileSync } = await import("node:fs");
  const web = new URL("../../web/", import.meta.url);
  // Static imports and dynamic ones of a literal path, followed from app.js.
  const imports = (file) => [...readFileSync(new URL(file, web), "utf8").matchAll(/(?:from|import\()\s*"\.\/([^"]+)"/g)].map((m) => new URL(m[1], new URL(file, web)).href.slice(web.href.length));
  const graph = new Set();
  const queue = ["app.js"];
  while (queue.length) {
    for (const next of imports(queue.pop()).filter((file) => !graph.has(file) && file !== "app.js")) {
      graph.add(next);
      if (!next.startsWith("pkg/")) queue.push(next); // pkg/ is built: version.js imports nothing
    }
  }
  const html = readFileSync(new URL("index.html", web), "utf8");
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="\.\/([^"]+)"/g)].map((m) => m[1]);
  assert.ok(graph.size >= 7, `only ${[...graph]} found: the import pattern no longer matches`);
  assert.deepEqual([...preloaded].sort(), [...graph].sort());
});

