//! What int8 storage costs the default model, in words. The default model is trained for int8
//! storage (`encoder_int8`): its frozen encoder computes with torchvision's MobileNetV2 weights
//! rounded to what int8 storage keeps. The reference is that trained model: the encoder's exact
//! values (torchvision's f32 file from `$GLIMPSE_ASSETS`, rounded as training rounded it) and the
//! decoder's F16 copies (web/models/default-f16.safetensors; the f32 originals are not committed).
//! Against it, on the synth test split of the data it was trained on (web/models/make-default.sh:
//! 2000 images, seed 7): the page's model (web/models/default.safetensors, every weight int8),
//! the decoder-int8 storage, and the F16 file itself. Prints a Markdown table (README's).
//!
//!   GLIMPSE_ASSETS=.assets cargo run --release -p glimpse-captioner --example int8_quality

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use glimpse_data::Split;
use glimpse_eval::evaluate::{EvalRequest, Evaluation, evaluate};
use glimpse_model::bundle::{Bundle, StorageType};
use glimpse_model::{GenerateOptions, quantize};

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

/// The F16 bundle with the encoder the model was trained with: torchvision's f32 weights as int8
/// storage reads them back (the tensors int8 storage keeps as F16 in f32, as training had them).
fn trained_model(f16: &Bundle) -> Bundle {
    let assets = std::env::var_os("GLIMPSE_ASSETS").expect("GLIMPSE_ASSETS: run tests/setup-assets.sh");
    let path = Path::new(&assets).join("mobilenet_v2-b0353104.pth");
    let file = glimpse_import::read_checkpoint(&path).expect("torchvision's MobileNetV2 file");
    let encoder = glimpse_import::torchvision_encoder(file, &mut Vec::new()).unwrap();
    let mut trained = f16.clone();
    for (name, tensor) in encoder.iter().filter(|(n, _)| f16.weights.get(n).is_some()) {
        let exact = quantize::int8_values(name, tensor).unwrap_or_else(|| tensor.clone());
        trained.weights.insert(name, exact);
    }
    trained
}

fn main() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models");
    let f16_file = models.join("default-f16.safetensors");
    let f16 = Bundle::from_bytes(&std::fs::read(&f16_file).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synth");
    glimpse_data::synth::generate(&data, 2000, 7).unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let trained = trained_model(&f16);
    let reference = evaluate_on(
        write("trained.safetensors", trained.to_bytes(StorageType::F32).unwrap()),
        &data,
    );
    println!(
        "| weights stored as | bundle MB | same words as the trained model | BLEU-4 (trained: {:.4}) |",
        reference.metrics["Bleu_4"]
    );
    println!("|---|---|---|---|");
    let int8_decoder = trained.to_bytes(StorageType::Int8Decoder).unwrap();
    let variants = [
        (
            "int8, all (`--int8`, the page's model)",
            models.join("default.safetensors"),
        ),
        (
            "int8, the decoder's (`--int8-decoder`)",
            write("int8-decoder.safetensors", int8_decoder),
        ),
        ("F16 (`--f16`)", f16_file),
    ];
    for (label, path) in variants {
        let size = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        let result = evaluate_on(path, &data);
        let same = reference
            .results
            .iter()
            .zip(&result.results)
            .filter(|(a, b)| a.caption.tokens == b.caption.tokens)
            .count();
        println!(
            "| {label} | {size:.2} | {same} of {} ({:.1}%) | {:.4} |",
            result.results.len(),
            100.0 * same as f64 / result.results.len() as f64,
            result.metrics["Bleu_4"]
        );
    }
}
