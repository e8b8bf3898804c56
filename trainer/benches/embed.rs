//! Embedding-evaluation throughput on the CPU, as `glimpse eval` runs it:
//! - all-MiniLM-L6-v2 (candle) embedding 2,000 caption-length sentences (`--text-encoder`);
//! - CLIP ViT-B/32 text features of the same 2,000 and image features of 64 decoded photos
//!   (preprocessing included) (`--clip`), on the random ViT-B/32 folder that
//!   `embed_torch.py` writes (no CLIP weights can be had here; speed does not depend on them).
//!
//! ```text
//! bash tests/setup-assets.sh
//! python trainer/benches/embed_torch.py          # PyTorch side; writes /tmp/glimpse-clip-b32
//! cargo bench -p glimpse-captioner --bench embed           # GLIMPSE_BENCH_CLIP=DIR to use another folder
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use glimpse_eval::embed::clip::Clip;
use glimpse_eval::embed::minilm::TextEmbedder;
use glimpse_eval::similarity::TextEncoder;
use glimpse_model::preprocess::decode_image;

const PHOTOS: [&str; 8] = [
    "darknet/dog.jpg",
    "darknet/eagle.jpg",
    "darknet/giraffe.jpg",
    "darknet/horses.jpg",
    "darknet/kite.jpg",
    "darknet/person.jpg",
    "skimage/astronaut.png",
    "skimage/chelsea.png",
];

/// Runs `work` on the first 64 items to warm up, then times it on `count`; prints a table row.
fn timed(label: &str, count: usize, unit: &str, work: impl Fn(usize)) {
    work(64.min(count));
    let start = Instant::now();
    work(count);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "| {label} | Glimpse (candle) | {count} {unit} in {seconds:.2} s | {:.1} {unit}/s |",
        count as f64 / seconds
    );
}

fn main() {
    let assets = std::env::var_os("GLIMPSE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.assets"));
    let words = [
        "a", "dog", "runs", "on", "the", "green", "grass", "near", "two", "children", "in", "red", "shirts",
    ];
    let sentences: Vec<String> = (0..2000)
        .map(|i| {
            (0..8 + i % 7)
                .map(|k| words[(i * 7 + k * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();

    let embedder =
        TextEmbedder::load(&assets.join("all-MiniLM-L6-v2")).expect("run tests/setup-assets.sh first");
    timed("all-MiniLM-L6-v2 text", sentences.len(), "captions", |n| {
        assert_eq!(embedder.embed(&sentences[..n]).unwrap().len(), n);
    });

    let clip_dir = std::env::var_os("GLIMPSE_BENCH_CLIP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/glimpse-clip-b32"));
    let clip = match Clip::load(&clip_dir) {
        Ok(clip) => clip,
        Err(e) => {
            eprintln!("CLIP skipped ({e:#}): run trainer/benches/embed_torch.py first");
            return;
        }
    };
    timed("CLIP ViT-B/32 text", sentences.len(), "captions", |n| {
        assert_eq!(clip.text_features(&sentences[..n]).unwrap().len(), n);
    });
    let photos: Vec<_> = (0..64)
        .map(|i| {
            let bytes = std::fs::read(assets.join(PHOTOS[i % PHOTOS.len()]))
                .expect("run tests/setup-assets.sh first");
            decode_image(&bytes, u64::MAX).unwrap()
        })
        .collect();
    timed("CLIP ViT-B/32 image", photos.len(), "images", |n| {
        assert_eq!(clip.image_features(&photos[..n]).unwrap().len(), n);
    });
}
