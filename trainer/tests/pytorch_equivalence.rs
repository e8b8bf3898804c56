//! Imported PyTorch models caption exactly as PyTorch does.
//!
//! `tests/fixtures/make_torch_fixtures.py` builds the notebook's and sgrvinod's models from their
//! own code with random weights, runs them in PyTorch and saves checkpoint, vocabulary, test image
//! and results. Here the checkpoint goes through `glimpse import torch` and the bundle through
//! Glimpse's model: the words must be identical, every attention weight within 1e-4 and the
//! log-probability within 1e-3. Set `GLIMPSE_EXTRA_FIXTURES` to more case folders (e.g. the
//! script's `--full DIR` ResNet-50 case) to check them too.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use glimpse_import::{ImportRequest, import};
use glimpse_model::decoder::EncodedImages;
use glimpse_model::generate::{beam_search, greedy, read_f32};
use glimpse_model::preprocess::bytes_to_input;
use glimpse_model::{Bundle, Captioner, Decoding, GenerateOptions, StorageType};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/torch")
}

fn cases() -> Vec<PathBuf> {
    let mut cases = vec![fixtures().join("notebook"), fixtures().join("sgrvinod")];
    if let Ok(extra) = std::env::var("GLIMPSE_EXTRA_FIXTURES") {
        cases.extend(std::env::split_paths(&extra));
    }
    cases
}

fn expected(case: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap()
}

fn import_case(case: &Path, expected: &Value) -> Bundle {
    let request = ImportRequest {
        checkpoint: Some(case.join(expected["checkpoint"].as_str().unwrap())),
        vocab: Some(case.join(expected["vocab"].as_str().unwrap())),
        ..ImportRequest::default()
    };
    import(&request, &Device::flex()).unwrap().bundle
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// Compares one decoded caption with PyTorch's: the id sequence PyTorch records includes the end
/// token (and its attention) when the caption finished.
fn assert_same_caption(label: &str, got: &glimpse_model::Caption, want: &Value, end: u32) {
    let want_ids = ids(&want["ids"]);
    let finished = want_ids.last() == Some(&end);
    let words = if finished {
        &want_ids[..want_ids.len() - 1]
    } else {
        &want_ids[..]
    };
    assert_eq!(got.token_ids, words, "{label}: words differ");
    assert_eq!(got.finished, finished, "{label}: finished differs");
    assert_eq!(
        got.attention.len(),
        words.len(),
        "{label}: one attention map per word"
    );
    for (step, (alpha, want_alpha)) in got
        .attention
        .iter()
        .zip(want["alphas"].as_array().unwrap())
        .enumerate()
    {
        let want_alpha = floats(want_alpha);
        assert_eq!(alpha.len(), want_alpha.len(), "{label}: step {step} positions");
        let worst = alpha
            .iter()
            .zip(&want_alpha)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{label}: step {step} attention differs by {worst}");
        let sum: f32 = alpha.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "{label}: step {step} attention sums to {sum}"
        );
    }
    let want_log_prob = want["log_prob"].as_f64().unwrap();
    assert!(
        (got.log_prob - want_log_prob).abs() < 1e-3,
        "{label}: log-probability {} vs PyTorch {want_log_prob}",
        got.log_prob
    );
}

#[test]
fn imported_models_caption_as_pytorch_does() {
    let device = Device::flex();
    for case in cases() {
        let expected = expected(&case);
        let label = case.display().to_string();
        let bundle = import_case(&case, &expected);
        assert_eq!(
            bundle.config.grid().to_vec(),
            ids(&expected["grid"])
                .iter()
                .map(|&v| v as usize)
                .collect::<Vec<_>>()
        );
        let captioner = Captioner::from_bundle(bundle, &device).unwrap();
        let image = std::fs::read(case.join(expected["image"].as_str().unwrap())).unwrap();
        let input = bytes_to_input(&image, &captioner.config.preprocess).unwrap();
        let [h, w] = captioner.config.preprocess.size;
        let images = burn::tensor::Tensor::<4>::from_data(
            burn::tensor::TensorData::new(input, [1, 3, h as usize, w as usize]),
            &device,
        );
        let encoded: EncodedImages = captioner.model.encode(images);

        // The encoder's features (first 8 channels of every cell) first, to localise a failure.
        // Float32 rounding differs between burn's and PyTorch's convolution kernels and
        // accumulates through ResNet-50's 53 convolution + BatchNorm layers (to ~2e-4 relative on
        // these fixtures); a wrong layer would be off by far more than 1e-3.
        let features = pollster::block_on(read_f32(encoded.features.clone())).unwrap();
        let dim = encoded.features.dims()[2];
        let mut worst = 0.0f32;
        for (cell, want) in expected["features_head"].as_array().unwrap().iter().enumerate() {
            for (c, want) in floats(want).into_iter().enumerate() {
                let got = features[cell * dim + c];
                worst = worst.max((got - want).abs() / want.abs().max(1.0));
            }
        }
        assert!(
            worst < 1e-3,
            "{label}: features differ from PyTorch's by {worst} (relative)"
        );
        eprintln!("{label}: features within {worst:.1e} of PyTorch's");

        let end = captioner.vocab.end;
        let grid = captioner.config.grid();
        let max_len = expected["max_len"].as_u64().unwrap() as usize;
        let greedy_caption = pollster::block_on(greedy(
            &captioner.model,
            &encoded,
            &captioner.vocab,
            grid,
            max_len,
        ))
        .unwrap()
        .remove(0);
        assert_same_caption(
            &format!("{label} greedy"),
            &greedy_caption,
            &expected["greedy"],
            end,
        );

        // A beam of one is greedy decoding.
        let one = GenerateOptions {
            decoding: Decoding::Beam {
                width: 1,
                length_penalty: 0.0,
            },
            max_len,
        };
        let beam_one = pollster::block_on(beam_search(
            &captioner.model,
            &encoded,
            &captioner.vocab,
            grid,
            one,
        ))
        .unwrap();
        assert_eq!(
            beam_one.token_ids, greedy_caption.token_ids,
            "{label}: beam 1 ≠ greedy"
        );

        for want in expected["beams"].as_array().unwrap() {
            let options = GenerateOptions {
                decoding: Decoding::Beam {
                    width: want["k"].as_u64().unwrap() as usize,
                    length_penalty: want["length_penalty"].as_f64().unwrap(),
                },
                max_len,
            };
            let got = pollster::block_on(beam_search(
                &captioner.model,
                &encoded,
                &captioner.vocab,
                grid,
                options,
            ))
            .unwrap();
            assert_same_caption(&format!("{label} beam {options:?}"), &got, want, end);
        }
    }
}

/// The same checkpoint gives the same captions after a round trip through an f32 bundle file,
/// and through `Captioner::caption_bytes` (the path the CLI and the browser take).
#[test]
fn bundle_files_preserve_the_model() {
    let device = Device::flex();
    let case = fixtures().join("notebook");
    let expected = expected(&case);
    let bundle = import_case(&case, &expected);
    let bytes = bundle.to_bytes(StorageType::F32).unwrap();
    let reloaded = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(reloaded, bundle);
    let captioner = Captioner::from_bytes(&bytes, &device).unwrap();
    let image = std::fs::read(case.join("image.png")).unwrap();
    let caption = pollster::block_on(captioner.caption_bytes(&image, GenerateOptions::default())).unwrap();
    assert_same_caption(
        "caption_bytes",
        &caption,
        &expected["greedy"],
        captioner.vocab.end,
    );
}

/// f16 storage halves the file; captions stay the same words.
#[test]
fn f16_bundles_keep_the_words() {
    let device = Device::flex();
    let case = fixtures().join("notebook");
    let expected = expected(&case);
    let bundle = import_case(&case, &expected);
    let f32_bytes = bundle.to_bytes(StorageType::F32).unwrap();
    let f16_bytes = bundle.to_bytes(StorageType::F16).unwrap();
    assert!(
        f16_bytes.len() * 2 < f32_bytes.len() + 200_000,
        "{} vs {}",
        f16_bytes.len(),
        f32_bytes.len()
    );
    let captioner = Captioner::from_bytes(&f16_bytes, &device).unwrap();
    let image = std::fs::read(case.join("image.png")).unwrap();
    let caption = pollster::block_on(captioner.caption_bytes(&image, GenerateOptions::default())).unwrap();
    let want = ids(&expected["greedy"]["ids"]);
    assert_eq!(caption.token_ids, want[..want.len() - 1]);
}
