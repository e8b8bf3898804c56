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

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use glimpse_model::config::{EncoderArch, ModelConfig};
use glimpse_model::encoder::Encoder;
use glimpse_model::generate::{greedy, read_f32};
use glimpse_model::{CaptionModel, HostTensor, Vocabulary};
use serde_json::{Value, json};

const STEPS: usize = 20;
const REPEATS: usize = 10;

fn model(arch: EncoderArch, device: &Device) -> (CaptionModel, Vocabulary, ModelConfig) {
    let mut config = ModelConfig::notebook(5000);
    config.encoder.arch = arch;
    let mut words = vec!["<PAD>", "<SOS>", "<EOS>", "<UNK>"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    words.extend((4..5000).map(|i| format!("w{i}")));
    let vocab = Vocabulary::from_words(words).unwrap();
    device.seed(1);
    let mut model = CaptionModel::new(&config, device).unwrap();
    let mut weights = pollster::block_on(model.weights()).unwrap();
    // Never end early, so every run decodes exactly STEPS words.
    let bias = weights.get("decoder.fcn.bias").unwrap();
    let mut data = bias.data.clone();
    data[vocab.end as usize] = -1e4;
    weights.insert(
        "decoder.fcn.bias",
        HostTensor::new(bias.shape.clone(), data).unwrap(),
    );
    (
        CaptionModel::from_weights(&config, &weights, device).unwrap(),
        vocab,
        config,
    )
}

/// Median milliseconds of REPEATS runs after two warm-up runs.
fn timed(run: &dyn Fn()) -> f64 {
    run();
    run();
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let device = Device::flex();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let pytorch: Vec<Value> = std::env::var_os("PYTORCH_RESULTS")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(out.join("pytorch.json")))
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let mut rows = Vec::new();
    println!(
        "| model | Glimpse ms | PyTorch ms | Glimpse / PyTorch | encoder alone: Glimpse ms | PyTorch ms | encoder, BatchNorm folded (as `glimpse caption` runs it): Glimpse ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, arch) in [
        ("resnet50", EncoderArch::Resnet50),
        ("mobilenet_v2", EncoderArch::MobilenetV2),
    ] {
        let (model, vocab, config) = model(arch, &device);
        let input: Vec<f32> = (0..3 * 224 * 224)
            .map(|i| ((i % 251) as f32 / 125.0) - 1.0)
            .collect();
        let caption = || {
            let images = Tensor::<4>::from_data(TensorData::new(input.clone(), [1, 3, 224, 224]), &device);
            let encoded = model.encode(images);
            let captions =
                pollster::block_on(greedy(&model, &encoded, &vocab, config.grid(), STEPS, 1)).unwrap();
            assert_eq!(captions[0].token_ids.len(), STEPS);
        };
        let mut folded = model.encoder.clone();
        folded.fold_batch_norms();
        let encode = |encoder: &Encoder| {
            let images = Tensor::<4>::from_data(TensorData::new(input.clone(), [1, 3, 224, 224]), &device);
            let features = encoder.forward(images);
            pollster::block_on(read_f32(features)).unwrap();
        };
        let ours = timed(&caption);
        let ours_encoder = timed(&|| encode(&model.encoder));
        let folded_encoder = timed(&|| encode(&folded));
        let reference = pytorch.iter().find(|r| r["model"] == name);
        let theirs = reference.and_then(|r| r["median_ms"].as_f64());
        let theirs_encoder = reference.and_then(|r| r["encoder_ms"].as_f64());
        let ratio = theirs.map(|t| ours / t);
        let ms = |v: Option<f64>| v.map_or("–".into(), |t| format!("{t:.1}"));
        println!(
            "| {name} | {ours:.1} | {} | {} | {ours_encoder:.1} | {} | {folded_encoder:.1} |",
            ms(theirs),
            ratio.map_or("–".into(), |r| format!("{r:.2}×")),
            ms(theirs_encoder)
        );
        rows.push(json!({
            "model": name, "glimpse_ms": ours, "pytorch_ms": theirs, "ratio": ratio,
            "glimpse_encoder_ms": ours_encoder, "pytorch_encoder_ms": theirs_encoder,
            "glimpse_folded_encoder_ms": folded_encoder,
            "steps": STEPS, "repeats": REPEATS,
        }));
    }
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("caption.json"),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();
}
