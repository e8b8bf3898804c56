#!/usr/bin/env bash
# Runs every Glimpse test, first installing what they need on a fresh Debian machine:
# the Rust toolchain's pieces, the real weights and photos (tests/setup-assets.sh).
# Honours CARGO_TARGET_DIR (keep it outside the clone to reuse builds) and GLIMPSE_ASSETS.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup first" >&2; exit 1; }
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v dpkg-deb >/dev/null || need_apt+=(dpkg)
command -v unzip >/dev/null || need_apt+=(unzip)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
# `apt-get download darknet` (for its sample photos) needs package lists.
if [ ! -d /usr/share/darknet/data ] && [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
  apt-get update -qq
fi

bash tests/setup-assets.sh
cargo test --release --workspace
