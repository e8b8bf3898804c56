//! What int8 storage costs the default model, in words: the page's model (web/models/
//! default.safetensors, F16) against itself stored as int8 — all weights, the decoder's only,
//! the encoder's only — on the synth test split of the data it was trained on
//! (web/models/make-default.sh: 2000 images, seed 7). Prints a Markdown table (README's).
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
    let served = root.join("web/models/default.safetensors");
    let bundle = Bundle::from_bytes(&std::fs::read(&served).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth");
    glimpse_data::synth::generate(&data, 2000, 7).unwrap();
    let reference = evaluate_on(served, &data);

    let int8_file = bundle.to_bytes(StorageType::Int8).unwrap();
    println!(
        "| weights stored as int8 | bundle MB | same words as F16 | BLEU-4 (F16: {:.4}) |",
        reference.metrics["Bleu_4"]
    );
    println!("|---|---|---|---|");
    let variants: [(&str, Box<dyn Fn(&str) -> bool>); 3] = [
        ("all (`--int8`)", Box::new(|_| true)),
        ("the decoder's only", Box::new(|n| n.starts_with("decoder."))),
        ("the encoder's only", Box::new(|n| n.starts_with("encoder."))),
    ];
    for (label, pick) in variants {
        let variant = int8_where(&bundle, pick);
        let path = dir.path().join("variant.safetensors");
        std::fs::write(&path, variant.to_bytes(StorageType::F32).unwrap()).unwrap();
        let result = evaluate_on(path, &data);
        let same = reference
            .results
            .iter()
            .zip(&result.results)
            .filter(|(a, b)| a.caption.tokens == b.caption.tokens)
            .count();
        let size = if label.starts_with("all") {
            format!("{:.1}", int8_file.len() as f64 / 1e6)
        } else {
            "–".into()
        };
        println!(
            "| {label} | {size} | {same} of {} ({:.1}%) | {:.4} |",
            result.results.len(),
            100.0 * same as f64 / result.results.len() as f64,
            result.metrics["Bleu_4"]
        );
    }
}
