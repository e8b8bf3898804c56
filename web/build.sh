#!/usr/bin/env bash
# Builds everything the page needs into web/:
#   web/pkg/cpu/     the CPU-only WebAssembly (profile `wasm-cpu`: LTO, opt-level 3), which every
#                    visitor loads first;
#   web/pkg/cpu-relaxed/  the same with relaxed SIMD in its convolution kernels (fused
#                    multiply-adds), which the page loads instead where the browser validates
#                    relaxed SIMD;
#   web/pkg/cpu-threads/  the same over a pool of one Web Worker per core (wasm-bindgen-rayon;
#                    std rebuilt with atomics on the pinned nightly), which the page runs instead
#                    when it is cross-origin isolated;
#   web/pkg/webgpu/  the module with WebGPU too (profile `wasm-release`: opt-level z), fetched
#                    only where the browser has a WebGPU adapter;
#                    each passed through wasm-opt BEFORE wasm-bindgen (after it, wasm-opt breaks
#                    the externref table), then wrapped by wasm-bindgen of the exact version
#                    Cargo.lock pins, with TypeScript types (glimpse_wasm.d.ts, for the npm
#                    package: web/npm/pack.sh);
#   web/pkg/version.js  the build's version, a hash of every file the page serves, which names
#                    the service worker's cache (so a new glimpse_wasm.js never meets an old .wasm);
# The default model, web/models/default.safetensors, is committed (web/models/make-default.sh
# reproduces it).
# Installs the wasm32 target, the pinned nightly with rust-src, wasm-bindgen-cli and binaryen
# (wasm-opt) when they are missing.
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

# The nightly that builds the threaded module's std with atomics: pinned, because build-std
# follows the compiler's own library sources.
nightly_date=2026-05-19
nightly=nightly-$nightly_date
if rustc +nightly --version 2>/dev/null | grep -q "$nightly_date"; then
  nightly=nightly # the preinstalled one is that date
elif ! rustc "+$nightly" --version >/dev/null 2>&1; then
  rustup toolchain install "$nightly" --profile minimal
fi
if ! rustup component list --toolchain "$nightly" --installed | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain "$nightly"
fi

# One module: cargo profile, cargo arguments, wasm-opt options (split at spaces; none: no
# wasm-opt), output folder under web/pkg; $toolchain (`+nightly…`) and $RUSTFLAGS as the caller
# sets them.
build_module() {
  local profile=$1 arguments=$2 options=$3 name=$4
  cargo ${toolchain:-} build -p glimpse-wasm --target wasm32-unknown-unknown --profile "$profile" $arguments
  local built="$target_dir/wasm32-unknown-unknown/$profile/glimpse_wasm.wasm"
  local optimised="$target_dir/wasm-opt/$name/glimpse_wasm.wasm"
  mkdir -p "$(dirname "$optimised")"
  if [ -n "$options" ]; then
    wasm-opt $options "$built" -o "$optimised"
  else
    cp "$built" "$optimised"
  fi
  # No name section: wasm-opt drops it, and in the module it cannot read it is 0.25 MB.
  wasm-bindgen --target web --remove-name-section --out-dir "web/pkg/$name" --out-name glimpse_wasm "$optimised"
  local wasm="web/pkg/$name/glimpse_wasm_bg.wasm"
  echo "$name wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9 -c "$wasm" | wc -c) gzip -9, $(brotli_size "$wasm") brotli -q 11 (before wasm-opt: $(stat -c %s "$built"))"
}

brotli_size() {
  node -e 'const z = require("zlib"); const q = z.constants.BROTLI_PARAM_QUALITY;
    console.log(z.brotliCompressSync(require("fs").readFileSync(process.argv[1]), { params: { [q]: 11 } }).length)' "$1" 2>/dev/null ||
    echo "n/a"
}

rm -rf web/pkg
# The CPU modules are optimised for speed (see Cargo.toml) and for a fast first caption:
# `-ocimfs 0` stops wasm-opt from inlining a function into its only caller whatever its size.
# That inlining merged small hot dispatchers with their large cold arms (TensorData::try_cast
# with every pair of dtypes, 227 KB), and V8's optimising tier compiles a hot function whole:
# try_cast alone took it 1.6-2.1 s, while the first photo ran unoptimised. Without it, all the
# optimising compiles of a first caption take 0.9 s.
cpu_options="-O3 -ocimfs 0"
# The CPU-only module every visitor loads first.
build_module wasm-cpu "" "$cpu_options" cpu
# The same with relaxed SIMD, for browsers that validate it. Without wasm-opt: Debian's binaryen
# (108) predates relaxed SIMD's final opcodes and cannot read the module. `relaxed-simd` is a
# cargo feature, not a target feature for the whole build: macerator 0.5.2 (burn's SIMD library)
# does not compile with it.
build_module wasm-cpu "--features relaxed-simd" "" cpu-relaxed
# The threaded one: the CPU module with shared memory and atomics (+simd128 repeated: RUSTFLAGS
# replaces .cargo/config.toml's flags).
RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals" toolchain="+$nightly" \
  build_module wasm-threads "--features threads -Z build-std=panic_abort,std" "$cpu_options" cpu-threads
# The WebGPU module, fetched only where an adapter exists: CubeCL makes it large, so for size.
build_module wasm-release "--features webgpu" -Oz webgpu

if [ ! -f web/models/default.safetensors ]; then
  echo "web/models/default.safetensors is missing: restore it (git checkout web/models) or rebuild it with bash web/models/make-default.sh" >&2
  exit 1
fi
bash web/version.sh
