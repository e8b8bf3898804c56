#!/usr/bin/env bash
# Runs every Glimpse test, first installing what they need on a fresh Debian machine: the real
# weights and photos (tests/setup-assets.sh), the wasm target, wasm-bindgen-cli and binaryen
# (web/build.sh), Debian's Chromium and the npm packages of the browser tests.
# Honours CARGO_TARGET_DIR (keep it outside the clone to reuse builds) and GLIMPSE_ASSETS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup first" >&2; exit 1; }
need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v wasm-opt >/dev/null || need_apt+=(binaryen)
command -v strace >/dev/null || need_apt+=(strace)
if [ ${#need_apt[@]} -gt 0 ] || { [ ! -d /usr/share/darknet/data ] && [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; }; then
  apt-get update -qq
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

bash tests/setup-assets.sh

# Rust: unit, integration and PyTorch-equivalence tests (this also builds the glimpse binary).
cargo test --release --workspace
# The GPU build (burn's wgpu backend), its test and the GPU check (trainer/benches/gpu), type-checked
# so that they never rot: no GPU here (the test runs on lavapipe when asked, README 'On a GPU').
cargo check --release -p glimpse-captioner --features wgpu --all-targets

# The browser: build the page, then drive it in Chromium against the native binary.
bash web/build.sh
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
GLIMPSE_BIN="$CARGO_TARGET_DIR/release/glimpse" npm --prefix tests/browser test
