// Hiding a region of the photo and captioning it again: how a person tests whether the model
// really uses what its heatmap shows. The region is dragged over the photo with the pointer,
// moved with the arrow keys (Shift+arrows resize it), or set to where the selected word looked;
// it is filled with the model's normalisation mean (the ImageNet mean: zero once normalised) by
// the module, on the photo as it decodes it for the caption it is compared with, and the new
// caption appears beside the old with the changed words marked. (Filled here on the browser's
// own decode, colour-managed, premultiplied and rescaled, words changed for pixels outside the
// region: review 71.)

const $ = (selector, root) => root.querySelector(selector);

/** A drag smaller than this (fraction of a side) is a click, not a region. */
const MIN_SIDE = 0.02;
/** A word "looked" at the cells holding at least this share of its largest weight. */
const LOOKED = 0.5;
/** Keyboard steps, as a fraction of the photo. */
const STEP = 0.05;

const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

/** The words of `after` in order, with those of `before` it lost: `{ word, change }`, where
 * change is "added", "removed" or null (kept), by a longest common subsequence. */
export function wordDiff(before, after) {
  // common[i][j]: the longest common subsequence of before[i..] and after[j..].
  const common = Array.from({ length: before.length + 1 }, () => new Array(after.length + 1).fill(0));
  for (let i = before.length - 1; i >= 0; i--) {
    for (let j = after.length - 1; j >= 0; j--) {
      common[i][j] = before[i] === after[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const diff = [];
  let [i, j] = [0, 0];
  while (i < before.length || j < after.length) {
    if (i < before.length && j < after.length && before[i] === after[j]) {
      diff.push({ word: after[j], change: null });
      [i, j] = [i + 1, j + 1];
    } else if (j < after.length && (i === before.length || common[i][j + 1] >= common[i + 1][j])) {
      diff.push({ word: after[j++], change: "added" });
    } else {
      diff.push({ word: before[i++], change: "removed" });
    }
  }
  return diff;
}

export class Occlusion {
  /** `{ x, y, w, h }` as fractions of the photo, or null. */
  mask = null;
  #timer = null;

  /** `mean()`: the model's normalisation mean per channel (a bundle's may lie outside [0, 1]). */
  constructor(view, mean) {
    this.view = view;
    this.element = view.element;
    this.mean = mean;
  }

  /** The colour the region is shown in: the mean, which normalisation turns into zero input; for
   * a mean outside [0, 1] the colour nearest to it (as the module fills it: `mean_colour`). */
  get #fill() {
    return this.mean().map((m) => Math.round(255 * clamp(m, 0, 1)));
  }

  reset() {
    clearTimeout(this.#timer);
    this.mask = null;
    $("[data-testid=clear-mask]", this.element).disabled = true;
    this.#showCaption(null);
  }

  /** Shows the hidden region (filled as the model will see it) over the heatmap: an element
   * laid over the photo, not pixels of the heatmap's canvas, which is drawn at a lower
   * resolution and scaled up (see ResultView.draw), so that its edges stay sharp. */
  showMask() {
    const region = $(".hidden-region", this.element);
    region.hidden = !this.mask;
    if (!this.mask) return;
    const percent = (fraction) => `${(100 * fraction).toFixed(3)}%`;
    Object.assign(region.style, {
      left: percent(this.mask.x),
      top: percent(this.mask.y),
      width: percent(this.mask.w),
      height: percent(this.mask.h),
      backgroundColor: `rgb(${this.#fill.join(" ")} / 0.9)`,
    });
  }

  /** The region where the selected word looked most: the cells around its peak holding at least
   * half the peak's weight (connected to it), or the peak cell alone when those would hide more
   * than a quarter of the photo (attention spread nearly evenly). */
  hideWhereLooked() {
    const { map, grid } = this.view.selectedMap;
    if (!map || !this.view.displayable) return;
    const [rows, cols] = grid;
    const peak = map.indexOf(Math.max(...map));
    const strong = (cell) => map[cell] >= LOOKED * map[peak];
    const seen = new Set([peak]);
    for (const cell of seen) {
      const [r, c] = [Math.floor(cell / cols), cell % cols];
      const around = [r > 0 && cell - cols, r < rows - 1 && cell + cols, c > 0 && cell - 1, c < cols - 1 && cell + 1];
      for (const next of around) if (next !== false && !seen.has(next) && strong(next)) seen.add(next);
    }
    let cells = [...seen];
    if (cells.length > (rows * cols) / 4) cells = [peak];
    const rs = cells.map((cell) => Math.floor(cell / cols));
    const cs = cells.map((cell) => cell % cols);
    const [r0, r1, c0, c1] = [Math.min(...rs), Math.max(...rs), Math.min(...cs), Math.max(...cs)];
    this.#set({ x: c0 / cols, y: r0 / rows, w: (c1 - c0 + 1) / cols, h: (r1 - r0 + 1) / rows });
  }

  #set(mask) {
    this.mask = mask;
    this.view.draw();
    $("[data-testid=clear-mask]", this.element).disabled = !mask;
    clearTimeout(this.#timer);
    if (mask) this.#recaption();
    else this.#showCaption(null);
  }

  async #recaption() {
    const mask = this.mask;
    const options = this.view.captionOptions({ alternatives: 0, allBeams: false, hide: mask });
    const result = await this.view.request(async () => this.view.client.caption(this.view.photo.file, options));
    if (result && this.mask === mask) this.#showCaption(result, mask);
  }

  /** "Without the hidden region: …": the new caption, its words that are not in the model's own
   * caption of the whole photo marked, and the words it lost struck through (a word diff). The
   * region is captioned without any branch's prefix, so it is compared with the unbranched
   * caption. */
  #showCaption(result, region = null) {
    const out = $("[data-testid=occluded-caption]", this.element);
    this.element.occluded = result && { result, region };
    if (!result) {
      out.replaceChildren();
      delete out.dataset.changed;
      return;
    }
    const diff = wordDiff(this.view.baseCaption.tokens, result.tokens);
    const parts = diff.flatMap(({ word, change }) => {
      if (!change) return [`${word} `];
      const element = document.createElement(change === "added" ? "mark" : "del");
      element.textContent = word;
      return [element, " "];
    });
    const changed = diff.filter(({ change }) => change).length;
    out.dataset.changed = String(changed);
    const verdict = changed ? `${changed} word${changed > 1 ? "s" : ""} changed` : "the same caption";
    out.replaceChildren("Without the hidden region: ", ...parts, `(${verdict})`);
  }

  /** The listeners of the heatmap and the buttons (ResultView wires them each time it builds
   * its view). */
  wire() {
    const canvas = $("canvas[data-testid=attention]", this.element);
    const point = (event) => {
      const box = canvas.getBoundingClientRect();
      return [clamp((event.clientX - box.left) / box.width, 0, 1), clamp((event.clientY - box.top) / box.height, 0, 1)];
    };
    let start = null;
    canvas.addEventListener("pointerdown", (event) => {
      if (!this.view.displayable) return;
      start = point(event);
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!start) return;
      const [x, y] = point(event);
      this.mask = { x: Math.min(x, start[0]), y: Math.min(y, start[1]), w: Math.abs(x - start[0]), h: Math.abs(y - start[1]) };
      this.view.draw();
    });
    canvas.addEventListener("pointerup", () => {
      if (!start) return;
      start = null;
      const m = this.mask;
      this.#set(m && m.w >= MIN_SIDE && m.h >= MIN_SIDE ? m : null);
    });
    canvas.addEventListener("keydown", (event) => this.#key(event));
    $("[data-testid=hide-top]", this.element).addEventListener("click", () => this.hideWhereLooked());
    $("[data-testid=clear-mask]", this.element).addEventListener("click", () => this.#set(null));
  }

  /** Arrows move the region (Shift: resize), Delete or Escape clears it; the caption follows
   * once the keys rest. */
  #key(event) {
    if (["Delete", "Backspace", "Escape"].includes(event.key)) {
      event.preventDefault();
      return this.#set(null);
    }
    const [dx, dy] = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowDown: [0, 1], ArrowUp: [0, -1] }[event.key] ?? [];
    if (dx === undefined || !this.view.displayable) return;
    event.preventDefault();
    const m = this.mask ?? { x: 0.375, y: 0.375, w: 0.25, h: 0.25 };
    const next = event.shiftKey
      ? { ...m, w: clamp(m.w + dx * STEP, STEP, 1 - m.x), h: clamp(m.h + dy * STEP, STEP, 1 - m.y) }
      : { ...m, x: clamp(m.x + dx * STEP, 0, 1 - m.w), y: clamp(m.y + dy * STEP, 0, 1 - m.h) };
    this.mask = next;
    this.view.draw();
    $("[data-testid=clear-mask]", this.element).disabled = false;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#set(this.mask), 400);
  }
}
