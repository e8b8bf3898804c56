// Where the CPU module's time goes, function by function. bench.mjs gives the stages (decode and
// resize, encoder, decoder); this names the functions inside them. It builds glimpse-model's
// `caption_loop` example for wasm32-wasip1 with the CPU module's profile and SIMD flag, runs it
// under this Node's V8 (Chromium's engine) with --cpu-prof, and prints the functions with the
// most self time, each with its caller, and the time inside the encoder, the JPEG decoder and
// the decoder's steps. One-time set-up: `rustup target add wasm32-wasip1`.
//
// usage: node tests/browser/profile-wasm.mjs [PHOTO] [RUNS]   (default: darknet/dog.jpg, 30)
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TARGET = "wasm32-wasip1";

if (process.argv[2] === "--child") {
  // Run the example's wasm, its model's and photo's folders opened, under --cpu-prof.
  const [wasm, model, photo, runs] = process.argv.slice(3);
  const { WASI } = await import("node:wasi"); // here only: it warns that it is experimental
  const wasi = new WASI({
    version: "preview1",
    args: ["caption_loop", `/model/${path.basename(model)}`, `/photo/${path.basename(photo)}`, runs],
    preopens: { "/model": path.dirname(model), "/photo": path.dirname(photo) },
  });
  // The example calls `profiler.done` when its loop ends: exiting there writes the profile.
  // Node 20 crashed (SIGSEGV) on the WASI exit path, and an in-process inspector session
  // crashed when stopped after wasm had run; --cpu-prof with this exit does neither.
  const profiler = { done: () => process.exit(0) };
  const { instance } = await WebAssembly.instantiate(readFileSync(wasm), { ...wasi.getImportObject(), profiler });
  wasi.start(instance);
  throw new Error("caption_loop ended without calling profiler.done");
} else {
  const assets = process.env.GLIMPSE_ASSETS ?? "/var/tmp/glimpse/assets";
  const photo = path.resolve(process.argv[2] ?? path.join(assets, "darknet/dog.jpg"));
  const runs = process.argv[3] ?? "30";
  const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target");
  execFileSync("cargo", ["build", "--profile", "wasm-cpu", "--target", TARGET, "-p", "glimpse-model", "--example", "caption_loop", "--features", "burn/simd"], {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, RUSTFLAGS: "-C target-feature=+simd128" },
  });
  const wasm = path.join(targetDir, TARGET, "wasm-cpu/examples/caption_loop.wasm");
  const model = path.join(ROOT, "web/models/default.safetensors");
  const dir = mkdtempSync(path.join(tmpdir(), "glimpse-profile-"));
  const flags = ["--no-warnings", "--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", "200"];
  const child = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), "--child", wasm, model, photo, runs], { stdio: "inherit" });
  const profiles = readdirSync(dir).filter((name) => name.endsWith(".cpuprofile"));
  if (child.status !== 0 || profiles.length !== 1) throw new Error(`the profiled run failed (status ${child.status ?? child.signal}); see above`);
  report(JSON.parse(readFileSync(path.join(dir, profiles[0]), "utf8")));
  console.log(`profile: ${path.join(dir, profiles[0])} (opens in Chromium's DevTools, Performance panel)`);
}

/** Prints self time by function (with the commonest caller) and inclusive time of the stages. */
function report(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + profile.timeDeltas[i]));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const name = (id) => demangle(nodes.get(id).callFrame.functionName) || "(anonymous)";
  const byFunction = new Map();
  const stages = { "encoder (Encoder::feature_map)": "Encoder::feature_map", "JPEG decoding (zune_jpeg)": "zune_jpeg::", "decoder steps (greedy)": "generate::greedy" };
  const stageUs = Object.fromEntries(Object.keys(stages).map((key) => [key, 0]));
  for (const [id, us] of selfUs) {
    const entry = byFunction.get(name(id)) ?? { us: 0, callers: new Map() };
    const caller = parent.has(id) ? name(parent.get(id)) : "";
    entry.us += us;
    entry.callers.set(caller, (entry.callers.get(caller) ?? 0) + us);
    byFunction.set(name(id), entry);
    const frames = [];
    for (let at = id; at !== undefined; at = parent.get(at)) frames.push(name(at));
    for (const [stage, needle] of Object.entries(stages)) if (frames.some((frame) => frame.includes(needle))) stageUs[stage] += us;
  }
  const share = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  console.log(`\nself time, ${(total / 1e3).toFixed(0)} ms sampled:`);
  for (const [fn, { us, callers }] of [...byFunction].sort((a, b) => b[1].us - a[1].us).slice(0, 25)) {
    const caller = [...callers].sort((a, b) => b[1] - a[1])[0][0];
    console.log(`${share(us)}  ${fn.slice(0, 90)}${caller ? `  ← ${caller.slice(0, 60)}` : ""}`);
  }
  // Code inlined into its caller counts as the caller's: the resize shows as caption_loop::main.
  console.log("\ninside (self time of everything they call):");
  for (const [stage, us] of Object.entries(stageUs)) console.log(`${share(us)}  ${stage}`);
}

/** Rust's legacy symbol mangling (`_ZN` length-prefixed segments, a hash last) made readable. */
function demangle(symbol) {
  if (!symbol.startsWith("_ZN")) return symbol;
  const parts = [];
  for (let at = 3; symbol[at] !== "E" && at < symbol.length; ) {
    const digits = /^\d+/.exec(symbol.slice(at))[0];
    at += digits.length;
    parts.push(symbol.slice(at, at + Number(digits)));
    at += Number(digits);
  }
  if (/^h[0-9a-f]{16}$/.test(parts.at(-1))) parts.pop();
  const escapes = { LT: "<", GT: ">", u20: " ", u7b: "{", u7d: "}", C: ",", RF: "&", BP: "*", u27: "'", u5b: "[", u5d: "]", u3b: ";" };
  return parts
    .join("::")
    .replace(/\$([A-Za-z0-9]+)\$/g, (all, code) => escapes[code] ?? all)
    .replace(/\.\./g, "::");
}
