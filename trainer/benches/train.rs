//! Training throughput on the CPU (image–caption pairs per second), beside PyTorch training the
//! same model with the same shapes on the same machine: the notebook's decoder (embeddings 300,
//! attention 256, LSTM 512), a 2000-word vocabulary, batches of 32 captions of up to 16 tokens,
//! for MobileNetV2 and ResNet-50 encoders, frozen (cached features) or with the last stage
//! fine-tuned at 224×224.
//!
//! ```text
//! python tests/fixtures/make_torch_fixtures.py --bench-train target/bench/pytorch-train.json
//! cargo bench -p glimpse-captioner --bench train
//! ```
//! Prints README's Markdown table and writes `target/bench/train.json`.

mod common;

use burn::tensor::Device;
use common::{ENCODERS, cell, find_row, ratio_cell, train_config, train_pairs_per_s};
use serde_json::json;

const BATCH: usize = 32;
const STEPS: usize = 8;

fn main() {
    glimpse::memory::keep_freed_memory(); // as the glimpse binary does
    let device = Device::flex().autodiff();
    let pytorch = common::pytorch_rows("pytorch-train.json");
    println!("| encoder | mode | Glimpse pairs/s | PyTorch pairs/s | Glimpse / PyTorch |");
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    // `GLIMPSE_BENCH_FILTER=mobilenet_v2` (a substring of "encoder mode") runs a subset.
    let filter = std::env::var("GLIMPSE_BENCH_FILTER").unwrap_or_default();
    for (name, arch) in ENCODERS.into_iter().rev() {
        for mode in ["frozen", "fine-tune last stage"] {
            if !format!("{name} {mode}").contains(&filter) {
                continue;
            }
            let fine_tune = mode != "frozen";
            let ours = train_pairs_per_s(&train_config(arch), fine_tune, BATCH, (1, STEPS), &device);
            let wanted = [
                ("model", json!(name)),
                ("mode", json!(mode)),
                ("batch", json!(BATCH)),
            ];
            let theirs = find_row(&pytorch, &wanted, BATCH as u64).and_then(|r| r["pairs_per_s"].as_f64());
            let ratio = theirs.map(|t| ours / t);
            println!(
                "| {name} | {mode} | {ours:.1} | {} | {} |",
                cell(theirs, 1),
                ratio_cell(ratio)
            );
            rows.push(json!({"model": name, "mode": mode, "glimpse_pairs_per_s": ours,
                "pytorch_pairs_per_s": theirs, "ratio": ratio, "batch": BATCH, "steps": STEPS}));
        }
    }
    let out = common::out_dir();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("train.json"),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();
}
