// Attention heatmaps: a word's attention grid (rows × cols weights summing to 1) upsampled
// smoothly over the photo, in a colour map, at an adjustable opacity; and the original report's
// `plot_attention` figure (a titled panel per word).

import { INFERNO, VIRIDIS } from "./colormaps.js";

/** Bilinear upsampling sampling cell centres (PyTorch's align_corners=False), as the native
 * figure does, so each cell's weight sits over its part of the photo; into `out` (at least
 * width × height long) when given. */
export function upsample(map, [rows, cols], width, height, out = new Float32Array(width * height)) {
  const axis = (i, outLen, inLen) => {
    const x = Math.max(0, ((i + 0.5) * inLen) / outLen - 0.5);
    const x0 = Math.min(Math.floor(x), inLen - 1);
    return [x0, Math.min(x0 + 1, inLen - 1), x - x0];
  };
  const columns = Array.from({ length: width }, (_, x) => axis(x, width, cols));
  for (let y = 0; y < height; y++) {
    const [r0, r1, fy] = axis(y, height, rows);
    for (let x = 0; x < width; x++) {
      const [c0, c1, fx] = columns[x];
      const top = map[r0 * cols + c0] * (1 - fx) + map[r0 * cols + c1] * fx;
      const bottom = map[r1 * cols + c0] * (1 - fx) + map[r1 * cols + c1] * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** The colour maps offered: matplotlib's inferno and viridis (their 256-entry tables) and
 * grayscale, which the original report's figure used. */
export const COLORMAPS = ["inferno", "viridis", "gray"];
const TABLES = { inferno: INFERNO, viridis: VIRIDIS };

/** The colour of t in [0, 1] in `colormap`, written to `out` at `offset` (no allocation): a
 * table's entry as matplotlib picks it, min(⌊256·t⌋, 255); grayscale continuous. */
export function colour(t, colormap, out, offset) {
  const clamped = Math.min(Math.max(t || 0, 0), 1);
  const table = TABLES[colormap];
  if (!table) {
    out[offset] = out[offset + 1] = out[offset + 2] = Math.round(255 * clamped);
    return;
  }
  const entry = 3 * Math.min(Math.floor(256 * clamped), 255);
  out[offset] = table[entry];
  out[offset + 1] = table[entry + 1];
  out[offset + 2] = table[entry + 2];
}

/** Draws a word's heatmap over whatever the canvas holds: `opacity` (0–1) scales the alpha,
 * and weights are stretched from the map's minimum to its maximum so the peak always shows. */
export function drawHeatmap(ctx, attention, grid, opacity, colormap = "inferno") {
  const { width, height } = ctx.canvas;
  const { canvas, layer, up } = scratchFor(width, height);
  upsample(attention, grid, width, height, up);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of attention) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < width * height; i++) {
    const t = (up[i] - lo) / span;
    colour(t, colormap, layer.data, i * 4);
    layer.data[i * 4 + 3] = Math.round(255 * opacity * (0.35 + 0.65 * t));
  }
  // putImageData replaces pixels; blend through the scratch canvas instead.
  canvas.getContext("2d").putImageData(layer, 0, 0, 0, 0, width, height);
  ctx.drawImage(canvas, 0, 0, width, height, 0, 0, width, height);
}

/** The buffers every heatmap is drawn through, kept between draws: a page of results draws
 * dozens, and fresh ones each time were garbage that the page's small JavaScript heap rarely
 * collected. Rows beyond `height` are unused. */
let scratch = null;
function scratchFor(width, height) {
  if (scratch?.layer.width !== width || scratch.layer.height < height) {
    const canvas = new OffscreenCanvas(width, height);
    const layer = canvas.getContext("2d").createImageData(width, height);
    scratch = { canvas, layer, up: new Float32Array(width * height) };
  }
  return scratch;
}

/** The tallest panel, in pixels, as the CLI's figures (a photo may be 64 times as tall as wide:
 * 60 panels 160 pixels wide took 390 MB). */
export const MAX_PANEL_HEIGHT = 512;

/** `[width, height]` of a photo of `photoWidth`×`photoHeight` in a panel `width` wide, or
 * narrower where it would be taller than MAX_PANEL_HEIGHT. */
export function panelSize(photoWidth, photoHeight, width) {
  const height = Math.max(1, Math.round((photoHeight * width) / photoWidth));
  if (height <= MAX_PANEL_HEIGHT) return [width, height];
  return [Math.max(1, Math.round((photoWidth * MAX_PANEL_HEIGHT) / photoHeight)), MAX_PANEL_HEIGHT];
}

/** [`panelSize`] of `photo` (an <img> or a canvas). */
function photoPanelSize(photo, width) {
  return panelSize(photo.naturalWidth ?? photo.width, photo.naturalHeight ?? photo.height, width);
}

/** A panel: the photo (an <img> or a canvas) scaled to `width` (or less, see panelSize) with
 * one word's heatmap over it. */
export function panel(photo, attention, grid, panelWidth, opacity, colormap) {
  const [width, height] = photoPanelSize(photo, panelWidth);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(photo, 0, 0, width, height);
  drawHeatmap(ctx, attention, grid, opacity, colormap);
  return canvas;
}

/** The whole figure on one canvas, for download: panels in a near-square grid, each titled with
 * its word (the original report's plot_attention). */
export function figure(photo, result, { panelWidth = 224, opacity = 0.7, colormap = "inferno" } = {}) {
  const n = Math.max(result.tokens.length, 1);
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const panelHeight = photoPanelSize(photo, panelWidth)[1];
  const gap = 8;
  const title = 28;
  const canvas = document.createElement("canvas");
  canvas.width = cols * (panelWidth + gap) + gap;
  canvas.height = rows * (panelHeight + title + gap) + gap;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#111";
  ctx.font = "18px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  result.tokens.forEach((word, i) => {
    const x = gap + (i % cols) * (panelWidth + gap);
    const y = gap + Math.floor(i / cols) * (panelHeight + title + gap);
    ctx.fillText(word, x + panelWidth / 2, y + 4);
    const drawn = panel(photo, result.attention[i], result.grid, panelWidth, opacity, colormap);
    ctx.drawImage(drawn, x + (panelWidth - drawn.width) / 2, y + title);
  });
  return canvas;
}
