// One photo's result: the caption with a chip per word and the heatmap of the selected word, and
// the ways to question the model about it: each word's alternatives (picking one rewrites the
// caption from that word on; Back walks the branches back), every beam, a caption of your own
// scored word by word, a hidden region and the caption without it, and the "overall" and "focus"
// views. Whatever is shown feeds the heatmap, the grid of panels and the PNG figure alike.

import { drawHeatmap, figure, panel } from "./heatmap.js";
import { Occlusion } from "./occlusion.js";

const $ = (selector, root) => root.querySelector(selector);

/** Top words asked for at every position of every caption. */
export const ALTERNATIVES = 5;
/** Tokens that cannot be picked as a word (the caption's own start, end and padding). */
const SPECIAL = /^<(pad|sos|eos|start|end)>$/i;

/** The sum of the maps, divided by their number: where the model looked over the whole caption. */
function overall(maps) {
  const sum = new Float32Array(maps[0]?.length ?? 0);
  for (const map of maps) for (let i = 0; i < map.length; i++) sum[i] += map[i] / maps.length;
  return sum;
}

function button(text, className, testid) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.dataset.testid = testid;
  element.textContent = text;
  return element;
}

/** A row of buttons (words, beams, alternatives) answers through listeners on the row, not on
 * each button: a hundred results would otherwise hold thousands of listeners, and rows are
 * rebuilt on every selection. `act(i, button)` gets the index of the button clicked (with
 * `hover`: also pointed at or focused); arrow keys move the focus along the row. */
function wireRow(row, act, { hover = false } = {}) {
  const indexOf = (event) => {
    const chip = event.target.closest?.("button");
    return chip?.parentElement === row ? [...row.children].indexOf(chip) : -1;
  };
  const onChip = (event) => {
    const i = indexOf(event);
    if (i >= 0 && !row.children[i].disabled) act(i, row.children[i]);
  };
  row.addEventListener("click", onChip);
  if (hover) {
    row.addEventListener("mouseover", onChip);
    row.addEventListener("focusin", onChip);
  }
  row.addEventListener("keydown", (event) => {
    const i = indexOf(event);
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (i < 0 || !step) return;
    event.preventDefault();
    const n = row.children.length;
    // The next button that can take the focus (disabled ones cannot).
    for (let k = 1; k < n; k++) {
      const next = row.children[(i + k * step + n * n) % n];
      if (!next.disabled) return next.focus();
    }
  });
}

/** The heatmap's canvas has this many times fewer pixels a side than the photo's box, and CSS
 * scales it up smoothly: a map interpolated from a grid of a few cells a side looks the same,
 * and each result's canvas holds a quarter of the memory (and of the drawing) it would at full
 * size. */
const HEATMAP_DOWNSCALE = 2;

/** Results more than this far off screen give their heatmap canvas's and photo's memory back,
 * and views holding nothing more than their result their nodes (a hundred photos would otherwise keep a hundred of each); they
 * are built and drawn again as they come near (ResultView.nearScreen). */
const farFromScreen = new IntersectionObserver(
  (entries) => {
    for (const { target, isIntersecting } of entries) target.glimpseView?.nearScreen(isIntersecting);
  },
  { rootMargin: "3000px 0px" },
);

/** The height of the last view emptied: a view captioned far off screen, never built, stands in
 * at it (px; the first guess is a view with a 4:3 photo). */
let typicalViewHeight = 480;

/** A photo's box changed size (the window, the layout): its heatmap is drawn again to fit. One
 * observer for every result. */
const pictureResized = new ResizeObserver((entries) => {
  for (const { target } of entries) target.closest(".result")?.glimpseView?.draw();
});

export class ResultView {
  #history = []; // caption results, the current one last (branches push, Back pops)
  #beam = 0; // which of the current result's beams is shown
  #scored = null; // the score of the caption typed in the box
  #showScored = false; // whether the typed caption (not the model's) is shown
  #selected = 0;
  #blank; // the view as the template makes it: empty views are built from it
  #built = false; // the view holds its nodes (see nearScreen)
  #meta = ""; // the line under the controls (see meta)
  #aspectRatio = ""; // the photo's shape, for its box while it is not painted
  #busy = 0;
  #playing = false; // Play steps through the words
  #farOffScreen = false; // known to be far off screen (see nearScreen)
  #pictureShown = false; // the photo has a display copy to paint (see showPhoto)
  #painted = false; // the picture canvas holds the photo
  #painting = Promise.resolve(); // the last showPhoto, settled once it has painted (or not)
  #generation = 0; // bumps on every fresh caption: answers to questions about an older one are dropped
  #model = null; // the load of the model that made the caption shown (client.model)

  /** `photo`: { file, element, copy }, the element's view empty; `client`: the CaptionerClient;
   * `settings()`: the page's `{ beam, maxLen }`; `mean()`: the model's normalisation mean (fills
   * hidden regions); `blankView`: a view as the template makes it. */
  constructor(photo, { client, settings, mean, blankView }) {
    this.photo = photo;
    this.client = client;
    this.settings = settings;
    this.element = photo.element;
    this.#blank = blankView;
    this.occlusion = new Occlusion(this, mean);
    this.#wire();
  }

  /** The options every caption of this photo is asked with. */
  captionOptions(extra = {}) {
    const { beam, maxLen } = this.settings();
    return { beam, maxLen, alternatives: ALTERNATIVES, allBeams: beam > 1, ...extra };
  }

  /** Shows a fresh caption of the photo: branches, score and hidden region start over. */
  async show(result) {
    this.#generation += 1;
    this.#model = result.model;
    this.#history = [result];
    this.#beam = 0;
    this.#scored = null;
    this.#showScored = false;
    this.#selected = 0;
    this.#writeCaption();
    // An empty view holds nothing to start over. It is built now unless it is known to be far
    // off screen (the first caption may come before that is known); far, it stands in at the
    // height views have had, so that the page's length stays about right.
    if (!this.#built) {
      if (!this.#farOffScreen) return this.#build();
      // (One emptied before holds its stand-ins, which follow the window's width.)
      const view = $(".view", this.element);
      if (!view.firstElementChild) view.style.height ||= `${typicalViewHeight}px`;
      return;
    }
    this.occlusion.reset();
    $("[data-testid=scored-words]", this.element).replaceChildren();
    $("[data-testid=score-summary]", this.element).textContent = "";
    // An error about the caption before (a branch, a score) is not about this one.
    $("[data-testid=explore-error]", this.element).hidden = true;
    this.#render();
  }

  /** Whether the photo can be shown (a region of it hidden): the browser decoded it for display. */
  get displayable() {
    return this.#pictureShown;
  }

  /** The photo's canvas, for panels and figures, while it holds the photo (null until then,
   * while it is emptied far off screen, or when the browser cannot display the photo). */
  get image() {
    return this.#painted ? $(".picture", this.element) : null;
  }

  /** A setting of the view's controls ("view", "colormap", "opacity"): an empty view's are the
   * template's (it is emptied only so). */
  #setting(name, root = this.#built ? this.element : this.#blank) {
    return $(`[data-setting=${name}]`, root).value;
  }

  /** The heatmap's opacity, from 0 to 1. */
  get opacity() {
    return Number(this.#setting("opacity"));
  }

  /** The colour map chosen for this photo's heatmaps, panels and figure. */
  get colormap() {
    return this.#setting("colormap");
  }

  /** The map shown: the selected word's, or the overall one in that view; with its grid. */
  get selectedMap() {
    const { attention, grid } = this.panels;
    const overallView = this.#setting("view") === "overall";
    return { map: overallView ? attention[0] : attention[this.#selected], grid };
  }

  /** The model's own caption of the whole photo (before any branch), best beam. */
  get baseCaption() {
    return this.#history[0];
  }

  /** The caption result now shown (the current branch). */
  get current() {
    return this.#history.at(-1);
  }

  /** The caption shown: the chosen beam of the current branch. */
  get caption() {
    return this.current.beams?.[this.#beam] ?? this.current;
  }

  /** What the heatmap, grid and figure show: `{ tokens, attention, grid, titles }`. */
  get sequence() {
    const grid = this.current.grid;
    if (this.#showScored && this.#scored) {
      const words = this.#scored.words;
      return { tokens: words.map((w) => w.word), attention: words.map((w) => w.attention), grid, probs: words.map((w) => w.prob) };
    }
    const { tokens, attention, entropy } = this.caption;
    return { tokens, attention, grid, entropy };
  }

  /** The maps as the chosen view draws them, with a title each. */
  get panels() {
    const { tokens, attention, grid, entropy } = this.sequence;
    const view = this.#setting("view");
    if (view === "overall") return attention.length ? { tokens: ["overall"], attention: [overall(attention)], grid } : { tokens: [], attention: [], grid };
    if (view === "focus" && entropy) {
      return { tokens: tokens.map((t, i) => `${t} (${entropy[i].toFixed(2)} nats)`), attention, grid };
    }
    return { tokens, attention, grid };
  }

  /** Runs a request for this photo, marking the result busy meanwhile and showing its error. */
  async request(work) {
    const error = $("[data-testid=explore-error]", this.element);
    error.hidden = true;
    this.element.dataset.busy = String(++this.#busy);
    try {
      // Another model's answer, set beside this caption, would say what changed between the
      // models, not what the question changed.
      if (this.client.model !== this.#model) {
        throw new Error("This caption came from a model that is no longer loaded: “Caption all again” captions it with the current one.");
      }
      return await work();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      return null;
    } finally {
      if (--this.#busy === 0) delete this.element.dataset.busy;
      else this.element.dataset.busy = String(this.#busy);
    }
  }

  // ------------------------------------------------------------ drawing

  /** The caption line, over the view (kept while the view is empty). */
  #writeCaption() {
    $("[data-testid=caption]", this.element).textContent = this.caption.caption || "(no words)";
  }

  /** The view: words, beams, Back and the heatmap of the caption shown. */
  #render() {
    if (!this.#built) return;
    const { element } = this;
    const caption = this.caption;
    $(".picture", element).setAttribute("aria-label", caption.caption || "photo (no caption)");
    this.#selected = Math.min(this.#selected, Math.max(0, this.sequence.tokens.length - 1));
    this.#renderWords();
    this.#renderBeams();
    $("[data-testid=back]", element).hidden = this.#history.length < 2;
    this.draw();
  }

  /** The heatmap of the selected word (or the overall map), with the hidden region on top. */
  draw() {
    const { element } = this;
    if (!this.current || this.#farOffScreen) return;
    const picture = $(".picture", element);
    const canvas = $("canvas[data-testid=attention]", element);
    const box = picture.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round((box.width || picture.width || 224) / HEATMAP_DOWNSCALE));
    canvas.height = Math.max(1, Math.round((box.height || picture.height || 224) / HEATMAP_DOWNSCALE));
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const { attention, grid } = this.panels;
    const overallView = attention.length === 1 && this.#setting("view") === "overall";
    const map = overallView ? attention[0] : attention[this.#selected];
    if (map) drawHeatmap(ctx, map, grid, this.opacity, this.colormap);
    canvas.dataset.word = overallView ? "overall" : String(this.#selected);
    this.occlusion.showMask();
    for (const row of element.querySelectorAll("[data-testid=words], [data-testid=scored-words]")) {
      const active = (row.dataset.testid === "scored-words") === this.#showScored;
      for (const [i, chip] of [...row.children].entries()) chip.setAttribute("aria-pressed", String(active && i === this.#selected));
    }
    this.#renderWordInfo();
    if (!$("[data-testid=grid]", element).hidden) this.#renderGrid();
  }

  /** Paints the photo's display copy (`photo.copy`, a Blob) on the picture canvas, once the view
   * is built and near the screen (an empty view paints it as it is built). A canvas, not an
   * <img>: the browser keeps no decoded copy of its own, so a result far off screen can give
   * its pixels back by emptying the canvas. */
  showPhoto() {
    this.#pictureShown = true;
    this.#painting = this.#paint();
    return this.#painting;
  }

  /** showPhoto's work: decodes the copy and paints it where the view can show it. */
  async #paint() {
    if (!this.#built) return;
    let bitmap;
    try {
      bitmap = await createImageBitmap(this.photo.copy);
    } catch {
      return;
    }
    try {
      // The box keeps the photo's shape while the canvas is emptied far off screen.
      this.#aspectRatio = `${bitmap.width} / ${bitmap.height}`;
      // It may have been emptied, or gone far off screen, while decoding: then it is painted
      // when it comes near.
      if (this.#built && !this.#farOffScreen) {
        const picture = $(".picture", this.element);
        picture.style.aspectRatio = this.#aspectRatio;
        picture.width = bitmap.width;
        picture.height = bitmap.height;
        picture.getContext("2d").drawImage(bitmap, 0, 0);
        this.#painted = true;
        this.draw();
      }
    } finally {
      bitmap.close(); // (a throw above kept its pixels until the next collection)
    }
  }

  /** Called as the result comes within (or goes beyond) 3000 px of the screen: far away, its
   * heatmap canvas and its photo give their pixels back, and a view holding nothing but its
   * result (see #holdsMore) gives its nodes back too (a hundred views kept ~13 MB of them);
   * near again, the view is built from the template if it is shown, and painted again. */
  nearScreen(near) {
    this.#farOffScreen = !near;
    if (near) {
      if (!this.#built) return $(".view", this.element).hidden ? undefined : this.#build();
      if (this.#pictureShown && !this.#painted) this.showPhoto();
      return this.draw();
    }
    if (!this.#built) return;
    if (!this.#holdsMore()) return this.#unbuild();
    this.#painted = false;
    for (const canvas of this.element.querySelectorAll(".picture, canvas[data-testid=attention]")) {
      canvas.width = canvas.height = 0;
    }
  }

  /** Whether the view holds more than its result and the template give it again: a request
   * under way, a score, a hidden region, a typed caption, a changed setting, the grid, Play,
   * an error, or the focus. (Branches and beams are the result's: built again, they show.) */
  #holdsMore() {
    const { element } = this;
    const settings = [...element.querySelectorAll("[data-setting]")];
    const changed = settings.some((control) => control.value !== this.#setting(control.dataset.setting, this.#blank));
    return (
      this.#busy > 0 ||
      this.#scored !== null ||
      this.occlusion.mask !== null ||
      $("[data-testid=occluded-caption]", element).childNodes.length > 0 ||
      $("[data-testid=score-input]", element).value !== "" ||
      changed ||
      !$("[data-testid=grid]", element).hidden ||
      this.#playing ||
      !$("[data-testid=explore-error]", element).hidden ||
      element.contains(document.activeElement)
    );
  }

  /** Empties the view (see nearScreen); `#build` fills it again. The empty view keeps its place
   * (see #standIns), so that the page keeps its length. A new element, not the old one emptied:
   * the old one's last layout (its grid's caches) held every node it had laid out. */
  #unbuild() {
    const view = $(".view", this.element);
    pictureResized.unobserve($(".picture", view));
    const empty = view.cloneNode(false);
    // (A hidden view, an error's, has no height: shown again, it is built or stands in.)
    const { height } = view.getBoundingClientRect();
    if (height > 0) {
      typicalViewHeight = height;
      empty.append(...this.#standIns(view));
    }
    // Its canvases give their pixels back now: detached, they held them until the page's next
    // collection (about a megabyte a photo; a hundred photos peaked 20 MB higher).
    for (const canvas of view.querySelectorAll("canvas")) canvas.width = canvas.height = 0;
    view.replaceWith(empty);
    this.#built = false;
    this.#painted = false;
  }

  /** What an emptied view holds in place of `view`, laid out by the view's own grid: a box of
   * the photo's shape in the photo's column and one of the side's height. A height in pixels
   * for the whole view went stale when the window changed width (a phone turned, one column). */
  #standIns(view) {
    const photo = document.createElement("div");
    photo.className = "photo";
    if (this.#aspectRatio) photo.style.aspectRatio = this.#aspectRatio;
    else photo.style.height = `${$(".photo", view).getBoundingClientRect().height}px`;
    const side = document.createElement("div");
    side.style.height = `${$(".side", view).getBoundingClientRect().height}px`;
    return [photo, side];
  }

  /** Fills the view from the template, wires it, and shows the result in it; resolves once the
   * photo is painted. */
  async #build() {
    const view = $(".view", this.element);
    view.style.height = "";
    view.replaceChildren(...this.#blank.cloneNode(true).childNodes);
    this.#built = true;
    this.#wireView();
    $(".meta", this.element).textContent = this.#meta;
    if (this.#aspectRatio) $(".picture", this.element).style.aspectRatio = this.#aspectRatio;
    if (this.current) this.#render();
    if (this.#pictureShown) await this.showPhoto();
  }

  /** The width, in device pixels, at which the photo is shown, measured while the view may be
   * hidden (not yet captioned) or empty (far off screen): a view shown, and built, in its place
   * for the measurement (a layout, not painted), then the view put back. */
  shownWidth() {
    const view = $(".view", this.element);
    const probe = this.#built ? view : this.#blank.cloneNode(true);
    const hidden = view.hidden;
    if (probe !== view) view.replaceWith(probe);
    probe.hidden = false;
    const width = $(".photo", probe).clientWidth;
    probe.hidden = hidden;
    if (probe !== view) probe.replaceWith(view);
    return width * devicePixelRatio;
  }

  /** The line under the photo's controls: where and how fast it was captioned. */
  set meta(text) {
    this.#meta = text;
    if (this.#built) $(".meta", this.element).textContent = text;
  }

  select(i, scored = false) {
    this.#selected = i;
    this.#showScored = scored;
    this.draw();
  }

  /** One chip per word of the caption shown; the fill of a chip in the focus view is how
   * concentrated its attention is. */
  #renderWords() {
    const row = $("[data-testid=words]", this.element);
    const caption = this.caption;
    const cells = caption.attention[0]?.length ?? 1;
    const focusView = this.#setting("view") === "focus";
    row.replaceChildren(
      ...caption.tokens.map((token, i) => {
        const chip = button(token, "word", "word");
        chip.setAttribute("aria-pressed", "false");
        const alternatives = caption.alternatives?.[i] ?? [];
        chip.title = alternatives.map((a) => `${a.word} ${(100 * a.prob).toFixed(1)}%`).join(", ");
        if (focusView && cells > 1) chip.style.setProperty("--fill", `${100 * (1 - caption.entropy[i] / Math.log(cells))}%`);
        chip.classList.toggle("filled", focusView);
        return chip;
      }),
    );
  }

  /** With a beam wider than one, every hypothesis with its score; selecting one shows it. */
  #renderBeams() {
    const list = $("[data-testid=beams]", this.element);
    const beams = this.current.beams ?? [];
    list.hidden = beams.length < 2;
    list.replaceChildren(
      ...beams.map((beam, i) => {
        const item = button(`${beam.score.toFixed(2)} · ${beam.caption || "(no words)"}`, "beam", "beam");
        item.setAttribute("aria-pressed", String(i === this.#beam));
        return item;
      }),
    );
  }

  /** The selected word: its probability where known, its attention entropy, and the words the
   * model considered in its place (picking one rewrites the caption from there). */
  #renderWordInfo() {
    const info = $("[data-testid=word-info]", this.element);
    const list = $("[data-testid=alternatives]", this.element);
    const i = this.#selected;
    if (this.#showScored && this.#scored) {
      const word = this.#scored.words[i];
      list.replaceChildren();
      info.textContent = word
        ? `“${word.typed}”${word.typed !== word.word ? ` (read as ${word.word})` : ""}: p = ${word.prob.toFixed(4)}, rank ${word.rank}, attention entropy ${word.entropy.toFixed(2)} nats`
        : "";
      return;
    }
    const caption = this.caption;
    const token = caption.tokens[i];
    const alternatives = caption.alternatives?.[i] ?? [];
    if (token === undefined) {
      info.textContent = "";
      list.replaceChildren();
      return;
    }
    const own = alternatives.find((a) => a.word === token);
    info.textContent = `“${token}”: ${own ? `p = ${own.prob.toFixed(4)}, ` : ""}attention entropy ${caption.entropy[i].toFixed(2)} nats`;
    const choices = alternatives.filter((a) => !SPECIAL.test(a.word));
    // A word at "Max words" leaves the model nothing to decode after it: its alternatives are
    // shown but cannot be picked (picking one always failed).
    const room = i + 1 < this.captionOptions().maxLen;
    list.replaceChildren(
      ...choices.map((alternative) => {
        const choice = button(`${alternative.word} ${(100 * alternative.prob).toFixed(1)}%`, "alternative", "alternative");
        choice.dataset.word = alternative.word;
        choice.disabled = alternative.word === token || !room;
        if (!room) choice.title = "The caption is at its Max words here: raise Max words to rewrite it from this word";
        return choice;
      }),
    );
    list.setAttribute("aria-label", `Words the model considered instead of “${token}”: pick one to rewrite the caption from there`);
  }

  #renderGrid() {
    const gridView = $("[data-testid=grid]", this.element);
    if (!this.image) return;
    const { tokens, attention, grid } = this.panels;
    const opacity = this.opacity;
    gridView.replaceChildren(
      ...tokens.map((token, i) => {
        const fig = document.createElement("figure");
        fig.dataset.testid = "panel";
        const title = document.createElement("figcaption");
        title.textContent = token;
        fig.append(title, panel(this.image, attention[i], grid, 160, opacity, this.colormap));
        return fig;
      }),
    );
  }

  // ------------------------------------------------------------ questions

  /** Keeps the words before position `i`, puts `word` there and lets the model go on. */
  async #branch(i, word) {
    const prefix = [...this.caption.tokens.slice(0, i), word];
    const asked = this.#generation;
    const result = await this.request(async () => this.client.caption(this.photo.file, this.captionOptions({ prefix })));
    if (!result || asked !== this.#generation) return;
    this.#history.push(result);
    this.#beam = 0;
    this.#showScored = false;
    this.#selected = i;
    this.#writeCaption();
    this.#render();
    $("[data-testid=words]", this.element).children[i]?.focus();
  }

  #back() {
    if (this.#history.length < 2) return;
    this.#history.pop();
    this.#beam = 0;
    this.#writeCaption();
    this.#render();
    // Back hides itself at the first caption: the keyboard goes to the selected word.
    if (this.#history.length < 2) $("[data-testid=words]", this.element).children[this.#selected]?.focus();
  }

  /** Scores the typed caption and shows its words, each filled by its probability, beside the
   * model's own caption and its log-probability. */
  async #score(text) {
    const asked = this.#generation;
    const scored = await this.request(async () => this.client.score(this.photo.file, text, { alternatives: ALTERNATIVES }));
    if (!scored || asked !== this.#generation) return;
    this.#scored = scored;
    this.element.glimpseScore = scored;
    const row = $("[data-testid=scored-words]", this.element);
    row.replaceChildren(
      ...scored.words.map((word, i) => {
        const chip = button(word.typed, "word filled", "scored-word");
        chip.style.setProperty("--fill", `${100 * word.prob}%`);
        chip.title = `p = ${word.prob.toFixed(4)}, rank ${word.rank}`;
        chip.dataset.prob = String(word.prob);
        return chip;
      }),
    );
    const own = this.caption;
    const prefers = scored.logProb > own.logProb ? "yours" : "its own";
    const notes = scored.notes.length ? ` ${scored.notes.join("; ")}.` : "";
    // The summary quotes what it scored: a later text that is refused leaves it in place, and
    // it read as that text's score.
    const quoted = text.length > 80 ? `${text.slice(0, 79)}…` : text;
    $("[data-testid=score-summary]", this.element).textContent =
      `Your caption (“${quoted}”): log p = ${scored.logProb.toFixed(2)}; the model's own (“${own.caption}”): ` +
      `log p = ${own.logProb.toFixed(2)}. The model prefers ${prefers}.${notes}`;
    this.select(0, scored.words.length > 0);
  }

  #wire() {
    const { element } = this;
    farFromScreen.observe(element);
    element.glimpseView = this;
  }

  /** The listeners of the view's controls (again each time it is built). */
  #wireView() {
    const { element } = this;
    $("[data-testid=back]", element).addEventListener("click", () => this.#back());
    $("[data-testid=view]", element).addEventListener("change", () => this.#render());
    $("[data-testid=colormap]", element).addEventListener("change", () => this.draw());
    $(".opacity", element).addEventListener("input", () => this.draw());
    $("[data-testid=score-form]", element).addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("[data-testid=score-input]", element).value.trim();
      if (text) this.#score(text);
    });
    this.#wireRows();
    pictureResized.observe($(".picture", element));
    this.occlusion.wire();
    this.#wirePlay();
    this.#wireFigures();
  }

  #wireRows() {
    const { element } = this;
    wireRow($("[data-testid=words]", element), (i) => this.select(i), { hover: true });
    wireRow($("[data-testid=scored-words]", element), (i) => this.select(i, true), { hover: true });
    const beams = $("[data-testid=beams]", element);
    wireRow(beams, (i) => {
      this.#beam = i;
      this.#showScored = false;
      this.#writeCaption();
      this.#render();
      beams.children[i]?.focus(); // the list was rebuilt: keep the keyboard where it was
    });
    // The alternatives shown are those of the selected word (the list is rebuilt as it changes).
    wireRow($("[data-testid=alternatives]", element), (_, choice) => this.#branch(this.#selected, choice.dataset.word));
  }

  #wirePlay() {
    const play = $(".play", this.element);
    let timer = null;
    const stop = () => {
      clearInterval(timer);
      timer = null;
      this.#playing = false;
      play.textContent = "▶ Play";
    };
    play.addEventListener("click", () => {
      if (timer) return stop();
      play.textContent = "■ Stop";
      this.#playing = true;
      let i = 0;
      this.select(i, this.#showScored);
      timer = setInterval(() => {
        i += 1;
        if (i >= this.sequence.tokens.length) return stop();
        this.select(i, this.#showScored);
      }, 800);
    });
  }

  #wireFigures() {
    const { element } = this;
    const gridView = $("[data-testid=grid]", element);
    const toggle = $(".toggle-grid", element);
    toggle.addEventListener("click", () => {
      gridView.hidden = !gridView.hidden;
      toggle.setAttribute("aria-expanded", String(!gridView.hidden));
      if (!gridView.hidden) this.#renderGrid();
    });
    $(".download", element).addEventListener("click", async () => {
      // A view just built paints its photo a moment later (one emptied and built again
      // meanwhile paints anew): the figure is made once it has.
      let painting;
      do {
        painting = this.#painting;
        await painting;
      } while (!this.image && painting !== this.#painting);
      if (!this.image) return;
      const opacity = this.opacity;
      figure(this.image, this.panels, { opacity, colormap: this.colormap }).toBlob((blob) => {
        if (!blob) {
          // The figure is larger than the browser can encode (a very tall photo, many words).
          // (The view may have been emptied meanwhile: then there is nowhere to say it.)
          const error = $("[data-testid=explore-error]", element);
          if (!error) return;
          error.textContent = "This figure is too large for the browser to save; the grid above shows the same panels.";
          error.hidden = false;
          return;
        }
        const a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = `${this.photo.file.name.replace(/\.[^.]+$/, "")}.attention.png`;
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      }, "image/png");
    });
  }
}
