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
