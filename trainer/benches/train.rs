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

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use glimpse::train::init::is_trainable;
use glimpse::train::step::{Batch, BatchInput, Optimizers, train_step};
use glimpse_data::Rng;
use glimpse_model::CaptionModel;
use glimpse_model::config::{EncoderArch, ModelConfig};
use glimpse_model::params::set_trainable;
use serde_json::{Value, json};

const BATCH: usize = 32;
const CAPTION_LEN: usize = 16;
const VOCAB: usize = 2000;
const STEPS: usize = 8;

fn main() {
    let device = Device::flex().autodiff();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let pytorch: Vec<Value> = std::env::var_os("PYTORCH_RESULTS")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(out.join("pytorch-train.json")))
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let mut rng = Rng::new(0);
    println!("| encoder | mode | Glimpse pairs/s | PyTorch pairs/s | Glimpse / PyTorch |");
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    // `GLIMPSE_BENCH_FILTER=mobilenet_v2` (a substring of "encoder mode") runs a subset.
    let filter = std::env::var("GLIMPSE_BENCH_FILTER").unwrap_or_default();
    for (name, arch) in [
        ("mobilenet_v2", EncoderArch::MobilenetV2),
        ("resnet50", EncoderArch::Resnet50),
    ] {
        for mode in ["frozen", "fine-tune last stage"] {
            if !format!("{name} {mode}").contains(&filter) {
                continue;
            }
            let fine_tune = mode != "frozen";
            let mut config = ModelConfig::notebook(VOCAB);
            config.encoder.arch = arch;
            device.seed(1);
            let mut model = CaptionModel::new(&config, &device).unwrap();
            let stages = usize::from(fine_tune);
            set_trainable(&mut model, &|n| is_trainable(n, stages));
            let mut optimizers = Optimizers::adam(5.0, fine_tune);
            let captions: Vec<Vec<u32>> = (0..BATCH)
                .map(|row| {
                    let len = if row == 0 {
                        CAPTION_LEN
                    } else {
                        CAPTION_LEN / 2 + rng.below(CAPTION_LEN / 2 + 1)
                    };
                    (0..len).map(|_| 4 + rng.below(VOCAB - 4) as u32).collect()
                })
                .collect();
            let refs: Vec<&[u32]> = captions.iter().map(Vec::as_slice).collect();
            let (positions, dim) = (config.positions(), config.encoder_dim());
            let make_batch = || {
                let input = if fine_tune {
                    let values: Vec<f32> = (0..BATCH * 3 * 224 * 224)
                        .map(|i| ((i % 251) as f32 / 125.0) - 1.0)
                        .collect();
                    BatchInput::Images(Tensor::from_data(
                        TensorData::new(values, [BATCH, 3, 224, 224]),
                        &device,
                    ))
                } else {
                    let values: Vec<f32> = (0..BATCH * positions * dim)
                        .map(|i| (i % 97) as f32 / 97.0)
                        .collect();
                    BatchInput::Features(Tensor::from_data(
                        TensorData::new(values, [BATCH, positions, dim]),
                        &device,
                    ))
                };
                Batch::new(input, &refs, 0, &device)
            };
            // One warm-up step, then STEPS timed ones.
            (model, _) = train_step(model, &mut optimizers, make_batch(), (4e-4, 1e-4), 1.0).unwrap();
            let start = Instant::now();
            for _ in 0..STEPS {
                (model, _) = train_step(model, &mut optimizers, make_batch(), (4e-4, 1e-4), 1.0).unwrap();
            }
            let ours = (BATCH * STEPS) as f64 / start.elapsed().as_secs_f64();
            let theirs = pytorch
                .iter()
                .find(|r| r["model"] == name && r["mode"] == mode)
                .and_then(|r| r["pairs_per_s"].as_f64());
            let ratio = theirs.map(|t| ours / t);
            println!(
                "| {name} | {mode} | {ours:.1} | {} | {} |",
                theirs.map_or("–".into(), |t| format!("{t:.1}")),
                ratio.map_or("–".into(), |r| format!("{r:.2}×"))
            );
            rows.push(json!({"model": name, "mode": mode, "glimpse_pairs_per_s": ours,
                "pytorch_pairs_per_s": theirs, "ratio": ratio, "batch": BATCH, "steps": STEPS}));
        }
    }
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("train.json"),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();
}
