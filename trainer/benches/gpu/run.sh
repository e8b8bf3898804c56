#!/usr/bin/env bash
# The GPU check, in one run on a machine with an NVIDIA GPU, PyTorch (CUDA) and torchvision, and
# neither Rust nor network: Glimpse's `wgpu` backend checked against its CPU backend and timed
# beside PyTorch (eager, f32) on the same GPU. Writes <out>/report.json and prints its table.
#
# Prepare here (with Rust), then carry `.gpu` and `.gl` to the GPU machine:
#   bash trainer/benches/gpu/prepare.sh     # builds .gpu/gpu.gz, fetches .gl/libvulkan1
# There, from the repository root:
#   bash trainer/benches/gpu/run.sh OUT_DIR
# Here, to try the script itself (lavapipe stands in for the GPU, PyTorch on the CPU):
#   GLIMPSE_GPU_CHECK_QUICK=1 TORCH_DEVICE=cpu bash trainer/benches/gpu/run.sh /tmp/gpu-check
set -uo pipefail
out="${1:?usage: run.sh OUT_DIR}"
bin="${GLIMPSE_GPU_CHECK_BIN:-}"
if [ -z "$bin" ] && [ -f .gpu/gpu.gz ]; then
  bin="$(mktemp -d)/gpu"
  gzip -dc .gpu/gpu.gz >"$bin" && chmod +x "$bin"
fi
torch_device="${TORCH_DEVICE:-cuda}"
python="${PYTHON:-python3}"
mkdir -p "$out"
rows="$out/glimpse.jsonl"
: >"$rows"
: >"$out/phases.jsonl"
[ -x "$bin" ] || { echo "no check binary (.gpu/gpu.gz): run prepare.sh first" >&2; exit 1; }

# The Vulkan loader and GL vendor-neutral dispatch (Debian's libvulkan1 and libglvnd packages,
# carried in .gl: NVIDIA's Vulkan driver lives in its GLX library, which needs them), and
# NVIDIA's driver manifest where the machine keeps it outside the loader's search path.
if [ -d .gl ]; then
  for deb in .gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ]; then export VK_DRIVER_FILES="$nvidia_icd"; fi

# GPU utilisation every 250 ms while the phases run (report.py averages it per phase).
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$out/gpu.txt"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
    -lms 250 >"$out/utilisation.csv" 2>/dev/null &
  sampler=$!
fi

# phase NAME SECONDS COMMAND...: runs the command under a time limit, logs it, records its span.
phase() {
  local name=$1 limit=$2 start end rc
  shift 2
  start=$(date +%s.%N)
  timeout --kill-after=5 "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  printf '{"phase": "%s", "start": %s, "end": %s, "rc": %d, "limit_s": %d}\n' \
    "$name" "$start" "$end" "$rc" "$limit" >>"$out/phases.jsonl"
  printf '%-16s rc %3d  %6.1f s\n' "$name" "$rc" "$(awk "BEGIN { print $end - $start }")"
  [ "$rc" -eq 0 ] || tail -n 5 "$out/$name.log"
}

fixtures=tests/fixtures/make_torch_fixtures.py
# The batch sizes of the Glimpse phases (benches/gpu/main.rs: Sizes), for PyTorch's side.
caption_batches=1,64 train_batches=32,128 kernel_sizes=(--batch 64 --matmul 4096)
if [ -n "${GLIMPSE_GPU_CHECK_QUICK:-}" ]; then
  caption_batches=1,2 train_batches=2,4 kernel_sizes=(--batch 2 --matmul 512)
fi
# Most important first, so that a slow machine cuts the least important phases short.
phase adapter 40 "$bin" adapter "$rows"
phase correctness 75 "$bin" correctness "$rows"
phase torch-caption 60 "$python" "$fixtures" --bench "$out/torch-caption.json" --device "$torch_device" --batches "$caption_batches"
phase torch-train 80 "$python" "$fixtures" --bench-train "$out/torch-train.json" --device "$torch_device" --batches "$train_batches"
phase caption 70 "$bin" caption "$rows"
phase parallel 40 "$bin" parallel "$rows"
phase train 120 "$bin" train "$rows"
phase kernels 40 "$bin" kernels "$rows"
phase torch-kernels 30 "$python" trainer/benches/gpu/kernels.py "$out/torch-kernels.json" --device "$torch_device" "${kernel_sizes[@]}"

[ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
"$python" trainer/benches/gpu/report.py "$out"
