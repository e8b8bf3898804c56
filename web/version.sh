#!/usr/bin/env bash
# Writes web/pkg/version.js: this build's version, the first 16 hex digits of a SHA-256 over
# every file the page serves (names and contents). The offline cache is named from it (see
# web/offline.js), so any change to any of those files makes a new cache. web/build.sh runs it.
set -euo pipefail
cd "$(dirname "$0")"
version=$(find . -path ./pkg/version.js -prune -o -type f \( -name '*.html' -o -name '*.js' -o -name '*.css' \
  -o -name '*.svg' -o -name '*.wasm' -o -path ./models/default.safetensors \) -print | LC_ALL=C sort |
  xargs sha256sum | sha256sum | cut -c1-16)
printf 'self.GLIMPSE_VERSION = "%s";\n' "$version" > pkg/version.js
echo "web/pkg/version.js: $version"
