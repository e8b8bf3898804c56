//! What int8 storage costs the default model, in words: the demo model as trained and stored in
//! F16 (web/models/default-f16.safetensors) against itself stored as int8 — all weights, the
//! decoder's only (the page's web/models/default.safetensors), the encoder's only — on the synth
//! test split of the data it was trained on (web/models/make-default.sh: 2000 images, seed 7).
//! For scale, the last row is what F16 storage itself costs: the encoder's original f32 weights
//! (torchvision's file, from `$GLIMPSE_ASSETS`, skipped when absent) in place of their F16
//! copies. Prints a Markdown table (README's).
//!
//!   cargo run --release -p glimpse-captioner --example int8_quality

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use glimpse_data::Split;
use glimpse_eval::evaluate::{EvalRequest, Evaluation, evaluate};
use glimpse_model::bundle::{Bundle, StorageType, StoredTensor};
use glimpse_model::{GenerateOptions, quantize};
use safetensors::tensor::TensorView;

fn evaluate_on(model: PathBuf, data: &Path) -> Evaluation {
    let request = EvalRequest {
        model,
        data: data.to_path_buf(),
        split: Split::Test,
        options: GenerateOptions::default(),
        device: Device::flex(),
        steps_per_readback: 1,
        batch: 8,
        limit: None,
        out: None,
        text_encoder: None,
        clip: None,
    };
    evaluate(&request).expect("evaluation")
}

/// `bundle` with the weights `pick` chooses passed through int8 storage.
fn int8_where(bundle: &Bundle, pick: impl Fn(&str) -> bool) -> Bundle {
    let mut out = bundle.clone();
    for (name, tensor) in bundle.weights.iter() {
        if !pick(name) {
            continue;
        }
        if let Some([values, scale]) = quantize::quantize(name, tensor) {
            out.weights.insert(
                name,
                quantize::dequantize(name, &view(&values), Some(&view(&scale))).unwrap(),
            );
        }
    }
    out
}

fn view(stored: &StoredTensor) -> TensorView<'_> {
    TensorView::new(stored.dtype, stored.shape.clone(), &stored.bytes).unwrap()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stored = root.join("web/models/default-f16.safetensors");
    let bundle = Bundle::from_bytes(&std::fs::read(&stored).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth");
    glimpse_data::synth::generate(&data, 2000, 7).unwrap();
    let reference = evaluate_on(stored, &data);
    let stored_as = |storage| bundle.to_bytes(storage).unwrap();
    let f32_of = |variant: &Bundle| variant.to_bytes(StorageType::F32).unwrap();
    println!(
        "| weights stored as int8 | bundle MB | same words as F16 | BLEU-4 (F16: {:.4}) |",
        reference.metrics["Bleu_4"]
    );
    println!("|---|---|---|---|");
    // (label, whether the bytes are the storage's own file, the bytes)
    let mut variants: Vec<(&str, bool, Vec<u8>)> = vec![
        ("all (`--int8`)", true, stored_as(StorageType::Int8)),
        (
            "the decoder's only (`--int8-decoder`, the page's model)",
            true,
            stored_as(StorageType::Int8Decoder),
        ),
        (
            "the encoder's only",
            false,
            f32_of(&int8_where(&bundle, |n| n.starts_with("encoder."))),
        ),
    ];
    if let Some(encoder) = original_encoder() {
        let mut variant = bundle.clone();
        for (name, tensor) in encoder.iter().filter(|(n, _)| bundle.weights.get(n).is_some()) {
            variant.weights.insert(name, tensor.clone());
        }
        variants.push((
            "none, but the encoder's f32 originals for their F16 copies",
            false,
            f32_of(&variant),
        ));
    }
    for (label, own_file, bytes) in variants {
        let size = if own_file {
            format!("{:.1}", bytes.len() as f64 / 1e6)
        } else {
            "–".into()
        };
        let path = dir.path().join("variant.safetensors");
        std::fs::write(&path, bytes).unwrap();
        let result = evaluate_on(path, &data);
        let same = reference
            .results
            .iter()
            .zip(&result.results)
            .filter(|(a, b)| a.caption.tokens == b.caption.tokens)
            .count();
        println!(
            "| {label} | {size} | {same} of {} ({:.1}%) | {:.4} |",
            result.results.len(),
            100.0 * same as f64 / result.results.len() as f64,
            result.metrics["Bleu_4"]
        );
    }
}

/// torchvision's f32 MobileNetV2 weights as `encoder.*` tensors, when tests/setup-assets.sh has
/// fetched them.
fn original_encoder() -> Option<glimpse_model::TensorMap> {
    let assets = std::env::var_os("GLIMPSE_ASSETS")?;
    let path = Path::new(&assets).join("mobilenet_v2-b0353104.pth");
    let file = glimpse_import::read_checkpoint(&path).ok()?;
    glimpse_import::torchvision_encoder(&file, &mut Vec::new()).ok()
}
