//! One caption on the CPU: encoder + 20 greedy decoder steps at 224×224, for the notebook's
//! ResNet-50 model and the MobileNetV2 one (decoders of the notebook's size: embeddings 300,
//! attention 256, LSTM 512, 5000 words), beside PyTorch doing the same on the same machine; and
//! the encoder alone, as trained and with its BatchNorms folded (as `glimpse caption` runs it).
//!
//! ```text
//! python tests/fixtures/make_torch_fixtures.py --bench target/bench/pytorch.json
//! cargo bench -p glimpse-captioner --bench caption
//! ```
//! Prints a Markdown table (README's) with PyTorch's times from `target/bench/pytorch.json` (or
//! `$PYTORCH_RESULTS`) and writes `target/bench/caption.json`.

mod common;

use burn::tensor::Device;
use common::{ENCODERS, caption_batch, caption_model, cell, find_row, images, median_ms, ratio_cell};
use glimpse_model::encoder::Encoder;
use glimpse_model::generate::read_f32;
use serde_json::json;

const REPEATS: usize = 10;

fn main() {
    glimpse::memory::keep_freed_memory(); // as the glimpse binary does
    // `cargo bench` passes `--bench`; nothing to parse.
    let device = Device::flex();
    let pytorch = common::pytorch_rows("pytorch.json");
    let mut rows = Vec::new();
    println!(
        "| model | Glimpse ms | PyTorch ms | Glimpse / PyTorch | encoder alone: Glimpse ms | PyTorch ms | encoder, BatchNorm folded (as `glimpse caption` runs it): Glimpse ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, arch) in ENCODERS {
        let model = caption_model(arch, &device);
        let mut folded = model.0.encoder.clone();
        folded.fold_batch_norms();
        let encode = |encoder: &Encoder| {
            let features = encoder.forward(images(1, 224, &device));
            pollster::block_on(read_f32(features)).unwrap();
        };
        let ours = median_ms(2, REPEATS, &mut || {
            caption_batch(&model, images(1, 224, &device), 1)
        });
        let ours_encoder = median_ms(2, REPEATS, &mut || encode(&model.0.encoder));
        let folded_encoder = median_ms(2, REPEATS, &mut || encode(&folded));
        let reference = find_row(&pytorch, &[("model", json!(name)), ("batch", json!(1))], 1);
        let theirs = reference.and_then(|r| r["median_ms"].as_f64());
        let theirs_encoder = reference.and_then(|r| r["encoder_ms"].as_f64());
        let ratio = theirs.map(|t| ours / t);
        println!(
            "| {name} | {ours:.1} | {} | {} | {ours_encoder:.1} | {} | {folded_encoder:.1} |",
            cell(theirs, 1),
            ratio_cell(ratio),
            cell(theirs_encoder, 1)
        );
        rows.push(json!({
            "model": name, "glimpse_ms": ours, "pytorch_ms": theirs, "ratio": ratio,
            "glimpse_encoder_ms": ours_encoder, "pytorch_encoder_ms": theirs_encoder,
            "glimpse_folded_encoder_ms": folded_encoder,
            "steps": common::CAPTION_STEPS, "repeats": REPEATS,
        }));
    }
    let out = common::out_dir();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("caption.json"),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();
}
