// A page script that uses the npm package as a developer would, in TypeScript: the worker-backed
// client (the main module) and the CPU module's own API, with typed options and results.
// tests/browser/package.test.mjs type-checks it (tsc --strict), runs it in Chromium without a
// bundler and bundled by esbuild, and compares what it reports with native `glimpse caption`.

import { CaptionerClient, defaultModelUrl } from "glimpse-captioner";
import type {
  Alternative,
  Backend,
  BackendChange,
  CaptionHypothesis,
  CaptionOptions,
  CaptionResult,
  Info,
  ModelCard,
  ModelConfig,
  ScoredWord,
  ScoreResult,
  StageTimes,
} from "glimpse-captioner";
import init, { Captioner } from "glimpse-captioner/cpu";
import type * as WebGpuModule from "glimpse-captioner/webgpu";

/** Every key of `T`: a key the declarations add or drop makes this file fail to compile, and
 * `expectKeys` below finds a key the real objects have and the declarations lack. */
type Keys<T> = Record<keyof T, true>;

const STAGE_KEYS = { prepareMs: true, encoderMs: true, decoderMs: true } satisfies Keys<StageTimes>;
const ALTERNATIVE_KEYS = { word: true, id: true, prob: true, logProb: true } satisfies Keys<Alternative>;
const HYPOTHESIS_KEYS = {
  caption: true,
  tokens: true,
  attention: true,
  entropy: true,
  logProb: true,
  score: true,
  finished: true,
  alternatives: true,
} satisfies Keys<CaptionHypothesis>;
const RESULT_KEYS = {
  ...HYPOTHESIS_KEYS,
  grid: true,
  beams: true,
  backend: true,
  ms: true,
  stages: true,
  note: true,
  warning: true,
} satisfies Keys<CaptionResult>;
/** The client's answers say which load's model gave them. */
const CLIENT_RESULT_KEYS = { ...RESULT_KEYS, model: true } satisfies Keys<Awaited<ReturnType<CaptionerClient["caption"]>>>;
const SCORED_WORD_KEYS = {
  word: true,
  typed: true,
  id: true,
  prob: true,
  logProb: true,
  rank: true,
  attention: true,
  entropy: true,
  alternatives: true,
} satisfies Keys<ScoredWord>;
const SCORE_KEYS = {
  words: true,
  end: true,
  logProb: true,
  grid: true,
  notes: true,
  backend: true,
  ms: true,
  stages: true,
} satisfies Keys<ScoreResult>;
const CLIENT_SCORE_KEYS = { ...SCORE_KEYS, note: true, model: true } satisfies Keys<Awaited<ReturnType<CaptionerClient["score"]>>>;
const INFO_KEYS = {
  card: true,
  config: true,
  vocabularySize: true,
  grid: true,
  backend: true,
  module: true,
  threads: true,
  note: true,
} satisfies Keys<Info>;
const CARD_KEYS = {
  name: true,
  description: true,
  trained_on: true,
  decoder_trained: true,
  encoder_weights: true,
  metrics: true,
  epochs: true,
  created: true,
  notes: true,
} satisfies Keys<ModelCard>;
const CONFIG_KEYS = { version: true, encoder: true, attention: true, decoder: true, preprocess: true } satisfies Keys<ModelConfig>;
const CONFIG_PART_KEYS = {
  encoder: { arch: true, width_multiplier: true, pooled_grid: true } satisfies Keys<ModelConfig["encoder"]>,
  attention: { dim: true, activation: true, gate: true } satisfies Keys<ModelConfig["attention"]>,
  decoder: { vocab_size: true, embed_dim: true, hidden_dim: true, dropout: true } satisfies Keys<ModelConfig["decoder"]>,
  preprocess: { size: true, mean: true, std: true, max_pixels: true } satisfies Keys<ModelConfig["preprocess"]>,
};

/** What the page reports to the test: plain data. */
export interface Report {
  info: Info;
  /** Through the worker-backed client, greedy. */
  client: Caption & { score: { words: string[]; typed: (string | null)[]; logProb: number; endTyped: string | null } };
  /** Through the CPU module's own API, beam 3 with every hypothesis and the alternatives. */
  direct: Caption & { beams: number; alternatives: number };
  /** Objects whose keys differ from their declarations. */
  problems: string[];
}

interface Caption {
  caption: string;
  tokens: string[];
  grid: [number, number];
  attention: number[][];
  logProb: number;
  finished: boolean;
  backend: Backend;
}

function expectKeys(problems: string[], label: string, value: object, keys: object, absent: string[] = []): void {
  const got = Object.keys(value).sort().join(", ");
  const want = Object.keys(keys).filter((key) => !absent.includes(key)).sort().join(", ");
  if (got !== want) problems.push(`${label}: keys are [${got}], declared [${want}]`);
}

function plain(result: CaptionResult): Caption {
  const { caption, tokens, grid, logProb, finished, backend } = result;
  const attention = result.attention.map((map: Float32Array) => Array.from(map));
  return { caption, tokens, grid, attention, logProb, finished, backend };
}

/** Captions the photo at `photoUrl` with the package's default model, both ways. `wasm`: the CPU
 * module's .wasm, where a bundle moved its glue away from it. */
export async function run(photoUrl: string, wasm?: string): Promise<Report> {
  const problems: string[] = [];
  const [model, photo] = await Promise.all(
    [defaultModelUrl, photoUrl].map(async (url) => (await fetch(url)).arrayBuffer()),
  );

  const client = new CaptionerClient();
  client.onBackend = (change: BackendChange) => problems.push(`no WebGPU adapter, yet: ${change.note}`);
  const info: Info = await client.load(model);
  expectKeys(problems, "info", info, INFO_KEYS);
  expectKeys(problems, "info.card", info.card, CARD_KEYS);
  expectKeys(problems, "info.config", info.config, CONFIG_KEYS);
  for (const part of ["encoder", "attention", "decoder", "preprocess"] as const) {
    expectKeys(problems, `info.config.${part}`, info.config[part], CONFIG_PART_KEYS[part]);
  }
  const greedy: CaptionResult = await client.caption(photo, { beam: 1, maxLen: 20 });
  expectKeys(problems, "client caption", greedy, CLIENT_RESULT_KEYS, ["alternatives", "beams"]);
  const { model: captionedBy } = await client.caption(photo, { beam: 1, maxLen: 2 });
  if (captionedBy !== client.model) problems.push(`a caption says model ${captionedBy}, the client ${client.model}`);
  const { imageBytes, bundleBytes } = await client.limits();
  // The caps themselves are crates/glimpse-files' (tests/browser/hostile.test.mjs checks them).
  if (!(Number.isInteger(imageBytes) && imageBytes > photo.byteLength && bundleBytes > imageBytes)) {
    problems.push(`limits of ${imageBytes} bytes a photo and ${bundleBytes} a bundle`);
  }
  // A Blob (as a File is) goes to the worker by reference and gives the same caption.
  const fromBlob: CaptionResult = await client.caption(new Blob([photo]), { beam: 1, maxLen: 20 });
  if (fromBlob.caption !== greedy.caption) problems.push(`a Blob gave "${fromBlob.caption}", bytes "${greedy.caption}"`);
  expectKeys(problems, "client caption.stages", greedy.stages, STAGE_KEYS);
  // The model's own words, scored by teacher forcing, with the top 3 words at every position.
  const scored = await client.score(photo, greedy.tokens, { alternatives: 3 });
  expectKeys(problems, "score", scored, CLIENT_SCORE_KEYS, ["note"]);
  for (const word of [...scored.words, scored.end]) expectKeys(problems, "score word", word, SCORED_WORD_KEYS);
  expectKeys(problems, "score alternative", scored.end.alternatives[0], ALTERNATIVE_KEYS);

  await (wasm ? init({ module_or_path: wasm }) : init());
  const captioner = await Captioner.load(new Uint8Array(model), { backend: "cpu" });
  const options: CaptionOptions = { beam: 3, allBeams: true, alternatives: 3 };
  const beam = await captioner.caption(photo, options);
  expectKeys(problems, "direct caption", beam, RESULT_KEYS);
  for (const hypothesis of beam.beams ?? []) expectKeys(problems, "direct beam", hypothesis, HYPOTHESIS_KEYS);
  const alternatives: Alternative[][] = beam.alternatives ?? [];
  for (const position of alternatives) for (const word of position) expectKeys(problems, "direct alternative", word, ALTERNATIVE_KEYS);
  expectKeys(problems, "direct info", captioner.info(), INFO_KEYS);
  captioner.free();

  return {
    info,
    client: {
      ...plain(greedy),
      score: {
        words: scored.words.map((word: ScoredWord) => word.word),
        typed: scored.words.map((word: ScoredWord) => word.typed),
        logProb: scored.logProb,
        endTyped: scored.end.typed,
      },
    },
    direct: { ...plain(beam), beams: beam.beams?.length ?? 0, alternatives: alternatives.length },
    problems,
  };
}

/** The WebGPU module, typed too (not run here: SwiftShader makes it slow). */
export async function loadOnWebGpu(webgpu: typeof WebGpuModule, bundle: Uint8Array): Promise<WebGpuModule.Captioner> {
  await webgpu.default();
  const captioner = await webgpu.Captioner.load(bundle, { backend: "webgpu" });
  const backend: Backend = captioner.backend;
  if (backend !== "webgpu") captioner.useCpu("asked for WebGPU");
  return captioner;
}
