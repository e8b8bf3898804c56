#!/usr/bin/env bash
# Builds everything the page needs into web/:
#   web/pkg/     the WebAssembly (release profile `wasm-release`: LTO, opt-level s, stripped),
#                shrunk by wasm-opt BEFORE wasm-bindgen (after it, wasm-opt breaks the externref
#                table), then wrapped by wasm-bindgen of the exact version Cargo.lock pins;
# The default model, web/models/default.safetensors, is committed (web/models/make-default.sh
# reproduces it).
# Installs the wasm32 target, wasm-bindgen-cli and binaryen (wasm-opt) when they are missing.
# Honours CARGO_TARGET_DIR and GLIMPSE_ASSETS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  echo "installing wasm-bindgen-cli $bindgen_version (matches the wasm-bindgen crate)…"
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

if ! command -v wasm-opt >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen
fi

cargo build -p glimpse-wasm --target wasm32-unknown-unknown --profile wasm-release
built="$target_dir/wasm32-unknown-unknown/wasm-release/glimpse_wasm.wasm"
optimised="$target_dir/wasm-opt/glimpse_wasm.wasm"
mkdir -p "$(dirname "$optimised")"
wasm-opt -Oz "$built" -o "$optimised"
rm -rf web/pkg
wasm-bindgen --target web --no-typescript --out-dir web/pkg --out-name glimpse_wasm "$optimised"

wasm="web/pkg/glimpse_wasm_bg.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
br=$(python3 - "$wasm" <<'EOF' 2>/dev/null || echo "n/a"
import sys
try:
    import brotli
except ImportError:
    sys.exit(1)
print(len(brotli.compress(open(sys.argv[1], "rb").read(), quality=11)))
EOF
)
[ "$br" = "n/a" ] && command -v brotli >/dev/null && br=$(brotli -c -q 11 "$wasm" | wc -c)
echo "wasm: $raw bytes raw, $gz gzip -9, $br brotli -q 11 (before wasm-opt: $(stat -c %s "$built"))"

if [ ! -f web/models/default.safetensors ]; then
  echo "web/models/default.safetensors is missing: restore it (git checkout web/models) or rebuild it with bash web/models/make-default.sh" >&2
  exit 1
fi
