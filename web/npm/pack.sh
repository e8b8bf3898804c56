#!/usr/bin/env bash
# Packs the npm package `glimpse-captioner` into OUT_DIR (default: the current folder) and prints
# the tarball's path on its last line. It needs a built web/pkg (bash web/build.sh).
#
# The package is web/ as a page sees it, less the page: the worker-backed client
# (captioner-client.js + .d.ts, the main module), worker.js and offline.js, both WebAssembly
# modules with wasm-bindgen's types (pkg/cpu, pkg/webgpu, pkg/version.js) and the default
# model, at the same relative paths, because every file finds the next by
# `new URL(…, import.meta.url)`. web/npm/package.json lists them (`files`); this script adds
# version, license and repository from Cargo.toml, so each is written once, and a README from
# README.md's section "Use it in your page".
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(realpath "${1:-.}")"
mkdir -p "$out"
for module in cpu webgpu; do
  if [ ! -f "$root/web/pkg/$module/glimpse_wasm.d.ts" ]; then
    echo "web/pkg/$module is not built (with types): run bash web/build.sh first" >&2
    exit 1
  fi
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# One value of Cargo.toml's [workspace.package].
workspace_field() {
  awk -v key="$1" '/^\[/ { section = $0 } section == "[workspace.package]" && $1 == key {
    sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit }' "$root/Cargo.toml"
}

node - "$root/web/npm/package.json" "$stage/package.json" "$(workspace_field version)" \
  "$(workspace_field license)" "$(workspace_field repository)" <<'JS'
const fs = require("fs");
const [template, target, version, license, repository] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(template, "utf8"));
delete manifest["//"];
if (!version || !license || !repository) throw new Error("Cargo.toml's [workspace.package] lacks version, license or repository");
Object.assign(manifest, { version, license, repository: { type: "git", url: `git+${repository}.git` } });
// npm adds LICENSE files by itself, but not these names.
manifest.files.push("LICENSE-MIT", "LICENSE-APACHE");
fs.writeFileSync(target, JSON.stringify(manifest, null, 2) + "\n");
JS

(cd "$root/web" && node -e 'for (const file of require("./npm/package.json").files) console.log(file)' |
  xargs cp --parents -t "$stage")
cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/"
{
  echo "# glimpse-captioner"
  echo
  node -e 'console.log(require(process.argv[1]).description + ".")' "$stage/package.json"
  # The README's section, up to the next heading (not a comment in a code block), without its
  # own heading.
  awk '/^#+ Use it in your page/ { on = 1; next } /^```/ { fenced = !fenced }
    on && !fenced && /^#/ { exit } on { print }' "$root/README.md"
  # The modules' API it refers to: the README's js block that starts with their import.
  echo "## The modules' API"
  echo
  awk 'held != "" && /^import init, \{ Captioner \}/ { on = 1; print held }
    { held = ($0 == "```js") ? $0 : "" } on { print } on && /^```$/ { exit }' "$root/README.md"
  echo
  echo "Source, documentation and the command-line tool: $(workspace_field repository)"
} > "$stage/README.md"
grep -q "npm install glimpse-captioner" "$stage/README.md" && grep -q "captioner.info()" "$stage/README.md" ||
  { echo "README.md lacks the section \"Use it in your page\" or the modules' API block" >&2; exit 1; }

tarball="$(cd "$stage" && npm pack --silent --pack-destination "$out")"
echo "$out/$tarball"
