// Types of captioner-client.js, written by hand. The options and results are the WebAssembly
// module's own types, which wasm-bindgen generates from crates/glimpse-wasm (pkg/cpu and
// pkg/webgpu declare the same ones): imported here, never repeated.

import type {
  Backend,
  CaptionOptions,
  CaptionResult,
  ImageInput,
  Info,
  ScoreOptions,
  ScoreResult,
} from "./pkg/cpu/glimpse_wasm.js";

export type {
  Alternative,
  Backend,
  CaptionHypothesis,
  CaptionOptions,
  CaptionResult,
  ImageInput,
  Info,
  LoadOptions,
  ModelCard,
  ModelConfig,
  RgbaImage,
  ScoreOptions,
  ScoredWord,
  ScoreResult,
  StageTimes,
} from "./pkg/cpu/glimpse_wasm.js";

/** The default model (models/default.safetensors beside this file): shapes, colours, counts
 * and positions of `glimpse synth` images; it has never seen a real photo. */
export declare const defaultModelUrl: URL;

/** A change of where captions run, after `load(bytes, "auto")` compared WebGPU with the CPU. */
export interface BackendChange {
  backend: Backend;
  /** What was measured and decided, in words. */
  note: string;
}

/** The model in Web Workers (the page never freezes), with promises for loading, captioning and
 * scoring. Each worker resolves its script, WebAssembly and model files from this module's
 * URL (`new URL(…, import.meta.url)`). */
export declare class CaptionerClient {
  /** Called with a device change to show (WebGPU failed, so the model moved to the CPU). */
  onNote: (text: string) => void;
  /** Called once `load(bytes, "auto")`'s background comparison has decided where captions run
   * (only where the browser offers a WebGPU adapter). */
  onBackend: (change: BackendChange) => void;
  /** Called when a worker stopped (out of memory, a panic) and its model could not be started
   * again from the bundle: no model is loaded until the next `load`. */
  onLost: (error: Error) => void;

  /** `offlineCache` (default false): the workers keep each `.wasm` they download in Cache Storage
   * (`glimpse-<build>`), for a page whose service worker serves it offline and deletes older
   * builds' caches, as Glimpse's own page does. `threads` (default false): on a cross-origin
   * isolated page with more than one core, the CPU runs `pkg/cpu-threads` (Glimpse's page
   * ships it; this package does not). `relaxedSimd` (default false): where the browser validates
   * relaxed SIMD, the single-threaded CPU runs `pkg/cpu-relaxed` (the same). */
  constructor(options?: { offlineCache?: boolean; threads?: boolean; relaxedSimd?: boolean });

  /** URLs of the files the live workers loaded, their scripts and `.wasm` included (for an
   * offline cache). */
  workerFiles(): Promise<string[]>;

  /** The current model's bundle, as a Blob (the browser keeps its bytes outside the page's
   * memory); null before the first load. */
  get bundle(): Blob | null;

  /** Loads a `.safetensors` bundle and resolves with its info. `"auto"` (default) captions on
   * the CPU at once and, where the browser offers a WebGPU adapter, moves captions to WebGPU
   * in the background if it is faster (`onBackend`); `"webgpu"` and `"cpu"` force a module.
   * A bundle that fails to load leaves the previous model in place; of two loads at once the
   * later one's model stays, and the earlier one rejects with `superseded: true`. `"webgpu"`
   * where the browser offers no adapter rejects with `noAdapter: true`; a model too large for
   * the threaded module's 2 GiB loads on one thread, saying so in `note`. */
  load(bytes: Blob | ArrayBuffer | Uint8Array, backend?: "auto" | "webgpu" | "cpu"): Promise<Info>;

  /** Starts the worker a later `load(bytes, backend)` uses, so that its WebAssembly downloads
   * and compiles while the model is still being fetched. Optional: `load` starts one itself. */
  start(backend?: "auto" | "webgpu" | "cpu"): void;

  /** Which load the current model came from; every caption and score carries the value of
   * the load that answered it (`model`), so an answer of an earlier model can be told apart. */
  get model(): number;

  /** The most bytes of a photo and of a bundle the model takes (the native tool's caps), asked
   * of a module once: a page can refuse a larger file, or stop a download, before reading it. */
  limits(): Promise<{ imageBytes: number; bundleBytes: number }>;

  /** Captions a photo; rejects when no model is loaded, or when the photo is over
   * `limits().imageBytes` (unread). A trap in a CPU worker (out of memory) fails that caption
   * and starts a fresh worker from the bundle for the next ones. */
  caption(image: ImageInput | Blob, options?: CaptionOptions): Promise<CaptionResult & { model: number }>;

  /** Scores a caption (text, or vocabulary words) for a photo: each word's probability, rank
   * and attention. `note` says when WebGPU failed and the CPU answered instead. */
  score(image: ImageInput | Blob, caption: string | string[], options?: ScoreOptions): Promise<ScoreResult & { note?: string; model: number }>;
}
