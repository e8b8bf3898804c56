// The npm package as a developer gets it: `npm pack` (web/npm/pack.sh) into a temporary folder,
// installed into a fresh project, a TypeScript consumer (package-consumer/consumer.ts) type-checked
// with tsc --strict while misuses (package-consumer/wrong.ts) must fail, then the consumer run in
// Debian's headless Chromium from a page without a bundler (an import map) and from the same page
// bundled by esbuild. Both caption a real photo with the package's default model, through the
// worker-backed client and through the CPU module's own API, and must give native
// `glimpse caption`'s words and attention.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { ASSETS, DEFAULT_BUNDLE, GLIMPSE, MODES, ROOT, attentionGap, bundleInfo, launch, nativeCaptions } from "./harness.mjs";
import { serve } from "./server.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONSUMER = path.join(HERE, "package-consumer");
const BIN = path.join(HERE, "node_modules/.bin");
const PHOTO = path.join(ASSETS, "darknet/dog.jpg");
const ATTENTION_TOLERANCE = 1e-3;
// What a developer's tsconfig needs for the package's types: the DOM, and Symbol.dispose, which
// wasm-bindgen's classes implement.
const TS = ["--strict", "--pretty", "false", "--target", "es2022", "--lib", "es2022,dom,esnext.disposable"];
const BUNDLER = ["--module", "esnext", "--moduleResolution", "bundler"];
const NODENEXT = ["--module", "nodenext", "--moduleResolution", "nodenext"];

const scratch = mkdtempSync(path.join(tmpdir(), "glimpse-package-"));
const project = path.join(scratch, "project");
const installed = path.join(project, "node_modules/glimpse-captioner");

/** Runs a command; on failure, throws with everything it printed. */
function run(command, args, cwd) {
  const done = spawnSync(command, args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  if (done.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${done.status}):\n${done.stdout}${done.stderr}`);
  return done.stdout;
}

/** tsc's errors as "file:line TSnnnn". */
function tscErrors(args) {
  const done = spawnSync(path.join(BIN, "tsc"), [...TS, "--noEmit", ...args], { cwd: project, encoding: "utf8" });
  const errors = [...done.stdout.matchAll(/^(\S+?)\((\d+),\d+\): error (TS\d+)/gm)].map(([, file, line, code]) => `${file}:${line} ${code}`);
  return { status: done.status, errors, output: done.stdout + done.stderr };
}

describe("the npm package", () => {
  let tarball;
  let browser;
  let nativeGreedy;
  let nativeBeam;

  before(() => {
    tarball = run("bash", [path.join(ROOT, "web/npm/pack.sh"), scratch]).trim().split("\n").at(-1);
    mkdirSync(project);
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    // The package has no dependencies, so nothing but the tarball is needed: no network.
    run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball], project);
    for (const file of ["consumer.ts", "wrong.ts"]) copyFileSync(path.join(CONSUMER, file), path.join(project, file));
    nativeGreedy = nativeCaptions(DEFAULT_BUNDLE, [PHOTO], 1).get(path.basename(PHOTO));
    nativeBeam = nativeCaptions(DEFAULT_BUNDLE, [PHOTO], 3).get(path.basename(PHOTO));
  });

  after(async () => {
    await browser?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("npm pack ships the client, both modules with their types and the default model, and nothing of the page", () => {
    const files = run("tar", ["-tzf", tarball]).trim().split("\n").map((file) => file.replace(/^package\//, ""));
    assert.deepEqual(files.sort(), [
      "LICENSE-APACHE",
      "LICENSE-MIT",
      "README.md",
      "captioner-client.d.ts",
      "captioner-client.js",
      "models/default.safetensors",
      "offline.js",
      "package.json",
      ...["cpu", "webgpu"].flatMap((module) =>
        ["glimpse_wasm.d.ts", "glimpse_wasm.js", "glimpse_wasm_bg.wasm", "glimpse_wasm_bg.wasm.d.ts"].map((file) => `pkg/${module}/${file}`),
      ),
      "pkg/version.js",
      "worker.js",
    ].sort());
    const manifest = JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8"));
    // Cargo.toml's version, which the native binary reports too.
    assert.equal(`glimpse ${manifest.version}`, execFileSync(GLIMPSE, ["--version"], { encoding: "utf8" }).trim());
    assert.equal(manifest.license, "MIT OR Apache-2.0");
    assert.equal(manifest.type, "module");
    assert.deepEqual(readFileSync(path.join(installed, "models/default.safetensors")), readFileSync(DEFAULT_BUNDLE));
    const readme = readFileSync(path.join(installed, "README.md"), "utf8");
    assert.match(readme, /npm install glimpse-captioner/);
    assert.match(readme, /captioner\.info\(\)/);
  });

  test("tsc --strict accepts a typed consumer of the client and both modules (bundler and nodenext resolution)", () => {
    for (const resolution of [BUNDLER, NODENEXT]) {
      const { status, output } = tscErrors([...resolution, "consumer.ts"]);
      assert.equal(status, 0, `tsc ${resolution.join(" ")}:\n${output}`);
    }
  });

  test("tsc rejects each misuse with the error its line expects: the types are not `any`", () => {
    const source = readFileSync(path.join(project, "wrong.ts"), "utf8").split("\n");
    const expected = source.flatMap((line, i) => {
      const mark = /\/\/ expect (TS\d+)$/.exec(line);
      return mark ? [`wrong.ts:${i + 1} ${mark[1]}`] : [];
    });
    assert.ok(expected.length >= 5, "wrong.ts marks its misuses");
    const { status, errors, output } = tscErrors([...BUNDLER, "wrong.ts"]);
    assert.notEqual(status, 0);
    assert.deepEqual(errors, expected, output);
  });

  /** Runs the consumer on `server`'s page and checks it against native `glimpse caption`. */
  async function captionsAsNative(server, script, wasm) {
    browser ??= await launch(MODES.find((mode) => mode.name === "cpu"));
    const { page, consoleLines } = browser;
    await page.goto(server.url);
    let report;
    try {
      report = await page.evaluate(
        async ({ script, wasm }) => (await import(new URL(script, location.href).href)).run("photo.jpg", wasm && new URL(wasm, location.href).href),
        { script, wasm },
      );
    } catch (err) {
      throw new Error(`the consumer failed: ${err.message}\n${consoleLines.join("\n")}`, { cause: err });
    }
    assert.deepEqual(report.problems, []);
    // A client made without `offlineCache` leaves nothing in Cache Storage (no one would delete it).
    assert.deepEqual(await page.evaluate(() => caches.keys()), []);

    const info = bundleInfo(DEFAULT_BUNDLE);
    assert.equal(report.info.card.name, info.card.name);
    assert.equal(report.info.vocabularySize, info.vocabulary_size);
    assert.equal(report.info.backend, "cpu");
    const bytes = readFileSync(DEFAULT_BUNDLE);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString("utf8"));
    const vocabulary = new Set(JSON.parse(header.__metadata__["glimpse.vocab"]));

    for (const [label, got, want] of [
      ["client, greedy", report.client, nativeGreedy],
      ["module, beam 3", report.direct, nativeBeam],
    ]) {
      assert.ok(got.tokens.length > 0, `${label}: an empty caption`);
      for (const word of got.tokens) assert.ok(vocabulary.has(word) && !word.startsWith("<"), `${label}: "${word}" is not a vocabulary word`);
      assert.equal(got.caption, want.caption, `${label}: caption differs from native`);
      assert.deepEqual(got.tokens, want.tokens, label);
      assert.deepEqual(got.grid, report.info.grid, label);
      assert.deepEqual(got.grid, want.grid, label);
      assert.equal(got.attention.length, got.tokens.length, label);
      for (const map of got.attention) {
        assert.equal(map.length, got.grid[0] * got.grid[1], `${label}: a map of the wrong size`);
        assert.ok(Math.abs(map.reduce((a, b) => a + b, 0) - 1) < 1e-3, `${label}: a map that does not sum to 1`);
      }
      const gap = attentionGap(got.attention, want.attention);
      assert.ok(gap <= ATTENTION_TOLERANCE, `${label}: attention differs from native by ${gap}`);
      assert.equal(got.backend, "cpu");
    }
    // Scoring the model's own caption gives its words and, once it finished, its log-probability.
    assert.deepEqual(report.client.score.words, report.client.tokens);
    assert.deepEqual(report.client.score.typed, report.client.tokens);
    assert.equal(report.client.score.endTyped, null);
    if (report.client.finished) assert.ok(Math.abs(report.client.score.logProb - report.client.logProb) < 1e-3);
    assert.equal(report.direct.beams, 3);
    assert.ok(report.direct.alternatives >= report.direct.tokens.length);
    return server.requests;
  }

  test("a page without a bundler imports the package through an import map and captions as native glimpse", async () => {
    const plain = path.join(project, "plain");
    run(path.join(BIN, "tsc"), [...TS, ...BUNDLER, "--outDir", plain, "consumer.ts"], project);
    const from = (file) => `../node_modules/glimpse-captioner/${file}`;
    const imports = { "glimpse-captioner": from("captioner-client.js"), "glimpse-captioner/cpu": from("pkg/cpu/glimpse_wasm.js") };
    writeFileSync(
      path.join(plain, "index.html"),
      `<!doctype html><meta charset="utf-8"><title>glimpse-captioner without a bundler</title>\n` +
        `<script type="importmap">${JSON.stringify({ imports })}</script>\n`,
    );
    const server = await serve(project, "/", { "plain/photo.jpg": PHOTO });
    try {
      server.url += "plain/";
      const requests = await captionsAsNative(server, "./consumer.js");
      // The files came from the installed package.
      for (const file of ["worker.js", "pkg/cpu/glimpse_wasm_bg.wasm", "models/default.safetensors"]) {
        assert.ok(requests.some((url) => url.startsWith(`/node_modules/glimpse-captioner/${file}`)), `${file} not loaded from the package`);
      }
    } finally {
      await server.close();
    }
  });

  test("the same page bundled by esbuild, the package's files beside the bundle, captions as native glimpse", async () => {
    const dist = path.join(project, "dist");
    run(path.join(BIN, "esbuild"), ["consumer.ts", "--bundle", "--format=esm", `--outdir=${dist}`, "--log-level=warning"], project);
    // The bundle keeps `new URL(…, import.meta.url)`: the worker, the modules and the model it
    // points at are copied next to it, as README says.
    for (const file of ["worker.js", "offline.js", "pkg", "models"]) cpSync(path.join(installed, file), path.join(dist, file), { recursive: true });
    writeFileSync(path.join(dist, "index.html"), `<!doctype html><meta charset="utf-8"><title>glimpse-captioner bundled</title>\n`);
    // Served alone: nothing can come from node_modules.
    const server = await serve(dist, "/", { "photo.jpg": PHOTO });
    try {
      await captionsAsNative(server, "./consumer.js", "pkg/cpu/glimpse_wasm_bg.wasm");
    } finally {
      await server.close();
    }
  });
});
