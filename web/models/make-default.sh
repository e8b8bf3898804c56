#!/usr/bin/env bash
# Reproduces web/models/default.safetensors, the page's demo model (int8), and
# default-f16.safetensors, the same model with every tensor in F16 (int8_quality's reference),
# from scratch:
#   glimpse synth (2000 images of coloured shapes, seed 7)
#   glimpse train (default-train.json: torchvision's real MobileNetV2 ImageNet weights, frozen and
#                  rounded to int8 storage (`encoder_int8`); a small attention decoder trained on
#                  the synthetic captions)
#   glimpse eval  (held-out test split: BLEU-1..4, written beside the model)
#   glimpse export --f16, then that again with --int8 (README, "Smaller bundles")
# Usage: bash web/models/make-default.sh [WORK_DIR]   (default: a fresh temporary folder)
# Honours CARGO_TARGET_DIR and GLIMPSE_ASSETS (where tests/setup-assets.sh puts the weights).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
work="${1:-$(mktemp -d)}"
bash tests/setup-assets.sh
assets="${GLIMPSE_ASSETS:-$root/.assets}"
cargo build --release -p glimpse-captioner
glimpse="$target_dir/release/glimpse"

rm -rf "$work/synth" "$work/run" "$work/eval"
"$glimpse" synth "$work/synth" --images 2000 --seed 7
start=$(date +%s)
"$glimpse" train --data "$work/synth" --out "$work/run" --config web/models/default-train.json \
  --encoder-weights "$assets/mobilenet_v2-b0353104.pth"
echo "training took $(( $(date +%s) - start )) s (feature extraction included)"
# Both from the run's f32 weights: int8 from F16 copies would round twice.
card=(--name "glimpse-demo-shapes" \
  --description "Demo model: torchvision's MobileNetV2 (ImageNet weights, frozen, rounded to int8) with an attention decoder trained by glimpse train on glimpse synth images of coloured shapes. It names shapes, colours, counts and positions; it has never seen real photos, so their captions describe shapes that are not there.")
"$glimpse" export "$work/run" --f16 "${card[@]}" --out web/models/default-f16.safetensors
"$glimpse" export "$work/run" --int8 "${card[@]}" --out web/models/default.safetensors
rm -f web/models/README.md web/models/default.README.md # the cards export writes beside them: each bundle holds its own
"$glimpse" eval --model web/models/default.safetensors --data "$work/synth" --split test --out "$work/eval"
cp "$work/eval/metrics.json" web/models/default-test-metrics.json
cp "$work/run/metrics.csv" web/models/default-train-metrics.csv
echo "wrote web/models/default.safetensors and default-f16.safetensors; test metrics in web/models/default-test-metrics.json"
