"""The PyTorch side of `cargo bench -p glimpse-captioner --bench embed`: the same work in Python on the
same machine (2 threads, like the 2-core CI machine), for the side-by-side table in README.

    pip install torch transformers sentence-transformers pillow
    python trainer/benches/embed_torch.py [CLIP_DIR]     # default: /tmp/glimpse-clip-b32

- all-MiniLM-L6-v2 (sentence-transformers) embedding 2,000 caption-length sentences.
- CLIP ViT-B/32 text features of 2,000 captions and image features of 64 photos (decoded,
  preprocessed by CLIP's image processor, embedded). No CLIP weights can be had here, so this
  writes a randomly initialised ViT-B/32 in Hugging Face's folder layout to CLIP_DIR (speed
  does not depend on the weights' values) with the fixture's CLIP-format tokenizer; the Rust
  bench reads the same folder (GLIMPSE_BENCH_CLIP).
"""
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from sentence_transformers import SentenceTransformer
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["a", "dog", "runs", "on", "the", "green", "grass", "near", "two", "children", "in", "red", "shirts"]
# The Rust bench's sentences, word for word.
SENTENCES = [" ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(8 + i % 7)) for i in range(2000)]
PHOTOS = ["darknet/dog.jpg", "darknet/eagle.jpg", "darknet/giraffe.jpg", "darknet/horses.jpg",
          "darknet/kite.jpg", "darknet/person.jpg", "skimage/astronaut.png", "skimage/chelsea.png"]


def timed(label, count, unit, work):
    work(slice(0, 64))
    start = time.perf_counter()
    work(slice(0, count))
    seconds = time.perf_counter() - start
    print(f"| {label} | PyTorch {torch.__version__} | {count} {unit} in {seconds:.2f} s | {count / seconds:.1f} {unit}/s |")


def main():
    torch.set_num_threads(2)
    clip_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/glimpse-clip-b32")
    assets = Path(os.environ.get("GLIMPSE_ASSETS", ROOT / ".assets"))  # tests/setup-assets.sh

    minilm = SentenceTransformer(str(assets / "all-MiniLM-L6-v2"), device="cpu")
    timed("all-MiniLM-L6-v2 text", 2000, "captions",
          lambda s: minilm.encode(SENTENCES[s], batch_size=64, normalize_embeddings=True))

    if not (clip_dir / "model.safetensors").exists():
        clip_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        CLIPModel(CLIPConfig()).save_pretrained(str(clip_dir), safe_serialization=True)  # ViT-B/32
        CLIPImageProcessorPil().save_pretrained(str(clip_dir))  # 224, OpenAI's mean and std
        shutil.copy(ROOT / "tests/fixtures/clip/tiny/tokenizer.json", clip_dir / "tokenizer.json")
    model = CLIPModel.from_pretrained(str(clip_dir)).eval()
    tokenizer = CLIPTokenizer.from_pretrained(str(clip_dir))
    processor = CLIPImageProcessorPil.from_pretrained(str(clip_dir))

    def text(s, batch=32):
        texts = SENTENCES[s]
        with torch.no_grad():
            for i in range(0, len(texts), batch):
                ids = tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=77, return_tensors="pt")
                model.get_text_features(**ids)

    photos = [Image.open(assets / PHOTOS[i % len(PHOTOS)]).convert("RGB") for i in range(64)]

    def images(s, batch=32):
        chosen = photos[s]
        with torch.no_grad():
            for i in range(0, len(chosen), batch):
                pixels = processor(images=chosen[i:i + batch], return_tensors="pt")["pixel_values"]
                model.get_image_features(pixel_values=pixels)

    timed("CLIP ViT-B/32 text", 2000, "captions", text)
    timed("CLIP ViT-B/32 image", 64, "images", images)


if __name__ == "__main__":
    main()
