#!/usr/bin/env bash
# Prepares the GPU check on a machine with Rust (x86-64 Linux): builds the check with burn's
# `wgpu` backend into .gpu/gpu.gz (stripped, then gzipped: 65 MB becomes 17) and downloads
# Debian's Vulkan loader and libglvnd (which NVIDIA's Vulkan driver needs) into .gl/: the two
# folders run.sh needs on a GPU machine that has neither Rust nor network.
# Honours CARGO_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
mkdir -p .gpu .gl
bin=$(cargo bench --no-run -p glimpse-captioner --features wgpu --bench gpu --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu" and m.get("executable"):
        print(m["executable"])')
[ -n "$bin" ] || { echo "the gpu bench did not build" >&2; exit 1; }
rm -f .gpu/gpu
strip -o .gpu/gpu.stripped "$bin"
gzip -9 -c .gpu/gpu.stripped >.gpu/gpu.gz
rm .gpu/gpu.stripped
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  (cd .gl && apt-get download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0)
fi
du -sh .gpu/gpu.gz .gl
