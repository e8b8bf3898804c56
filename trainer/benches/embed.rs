//! Embedding-similarity throughput on the CPU: all-MiniLM-L6-v2 (candle) embedding 2,000
//! caption-length sentences in batches, as `glimpse eval --text-encoder` does.
//!
//! ```text
//! bash tests/setup-assets.sh && cargo bench -p glimpse --bench embed
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use glimpse::similarity::TextEmbedder;

fn main() {
    let dir = std::env::var_os("GLIMPSE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.assets"))
        .join("all-MiniLM-L6-v2");
    let embedder = TextEmbedder::load(&dir).expect("run tests/setup-assets.sh first");
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
    embedder.embed(&sentences[..64]).unwrap();
    let start = Instant::now();
    let vectors = embedder.embed(&sentences).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), sentences.len());
    println!(
        "all-MiniLM-L6-v2 on the CPU: {} captions in {seconds:.2} s = {:.0} captions/s",
        sentences.len(),
        sentences.len() as f64 / seconds
    );
}
