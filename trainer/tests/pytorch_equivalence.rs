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
use glimpse_model::{Bundle, Captioner, Decoding, GPU_STEPS_PER_READBACK, GenerateOptions, StorageType};
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
        // Read back every step (the CPU's cadence) and every few (a GPU's): the same caption.
        let greedy_every = |steps_per_readback| {
            let model = &captioner.model;
            pollster::block_on(greedy(
                model,
                &encoded,
                &captioner.vocab,
                grid,
                max_len,
                steps_per_readback,
            ))
            .unwrap()
            .remove(0)
        };
        let greedy_caption = greedy_every(1);
        assert_same_caption(
            &format!("{label} greedy"),
            &greedy_caption,
            &expected["greedy"],
            end,
        );
        for steps in [GPU_STEPS_PER_READBACK, max_len + 3] {
            assert_eq!(
                greedy_every(steps),
                greedy_caption,
                "{label}: greedy reading back every {steps} steps"
            );
        }

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

/// The cases with PyTorch's explore references (`explore.json`): the two committed ones at least.
fn explore_cases() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = cases()
        .into_iter()
        .filter(|case| case.join("explore.json").exists())
        .collect();
    assert!(
        found.len() >= 2,
        "explore.json missing from the committed fixtures: {found:?}"
    );
    found
}

/// A fixture case's captioner with its test image encoded, and `explore.json`: PyTorch's
/// references for scoring, prefixes, alternatives and every beam hypothesis.
fn explore_case(case: &Path) -> (Captioner, EncodedImages, Value) {
    let expected = expected(case);
    let captioner = Captioner::from_bundle(import_case(case, &expected), &Device::flex()).unwrap();
    let image = std::fs::read(case.join(expected["image"].as_str().unwrap())).unwrap();
    let input = bytes_to_input(&image, &captioner.config.preprocess).unwrap();
    let encoded = captioner.encode_inputs(&[input]).unwrap();
    let explore = std::fs::read_to_string(case.join("explore.json")).unwrap();
    (captioner, encoded, serde_json::from_str(&explore).unwrap())
}

fn close(label: &str, got: f64, want: &Value, tolerance: f64) {
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() < tolerance,
        "{label}: {got} vs PyTorch {want} (tolerance {tolerance})"
    );
}

fn assert_same_map(label: &str, got: &[f32], want: &Value) {
    let want = floats(want);
    assert_eq!(got.len(), want.len(), "{label}: positions");
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-4, "{label}: attention differs by {worst}");
}

/// The top words at one position: the same ids in the same order, log-probabilities within
/// 1e-3 and probabilities within 1e-4.
fn assert_same_alternatives(label: &str, got: &[glimpse_model::Alternative], want: &Value) {
    let got_ids: Vec<u32> = got.iter().map(|a| a.id).collect();
    assert_eq!(got_ids, ids(&want["ids"]), "{label}: alternatives differ");
    for (alternative, want_lp) in got.iter().zip(want["log_probs"].as_array().unwrap()) {
        close(label, alternative.log_prob as f64, want_lp, 1e-3);
        let want_prob = want_lp.as_f64().unwrap().exp();
        close(label, alternative.prob as f64, &want_prob.into(), 1e-4);
    }
}

/// A caption with its alternatives at every position (one per word, one more for the end).
fn assert_same_explored(label: &str, got: &glimpse_model::Caption, want: &Value, end: u32) {
    assert_same_caption(label, got, want, end);
    let want_alternatives = want["alternatives"].as_array().unwrap();
    assert_eq!(
        got.alternatives.len(),
        want_alternatives.len(),
        "{label}: positions"
    );
    for (t, (alternatives, want)) in got.alternatives.iter().zip(want_alternatives).enumerate() {
        assert_same_alternatives(&format!("{label} position {t}"), alternatives, want);
    }
}

fn assert_same_scored_word(label: &str, got: &glimpse_model::ScoredWord, want: &Value) {
    assert_eq!(got.id as u64, want["id"].as_u64().unwrap(), "{label}: word");
    close(label, got.log_prob as f64, &want["log_prob"], 1e-3);
    let want_prob = want["log_prob"].as_f64().unwrap().exp();
    close(label, got.prob as f64, &want_prob.into(), 1e-4);
    assert_eq!(got.rank as u64, want["rank"].as_u64().unwrap(), "{label}: rank");
    assert_same_map(label, &got.attention, &want["alpha"]);
    assert_same_alternatives(label, &got.alternatives, &want["top"]);
}

/// `glimpse score`'s computation: each typed word's probability, rank, attention and
/// alternatives as PyTorch's teacher-forced pass gives them; an unknown word reads as `<UNK>`.
#[test]
fn scores_match_pytorch_teacher_forcing() {
    for case in &explore_cases() {
        let (captioner, encoded, explore) = explore_case(case);
        let k = explore["alternatives"].as_u64().unwrap() as usize;
        for want in explore["scores"].as_array().unwrap() {
            let text = want["text"].as_str().unwrap();
            let label = format!("{} score {text:?}", case.display());
            let words = glimpse_model::generate::caption_words(text).unwrap();
            let scored = pollster::block_on(captioner.score_encoded(&encoded, &words, k)).unwrap();
            let got_ids: Vec<u32> = scored.words.iter().map(|w| w.id).collect();
            assert_eq!(got_ids, ids(&want["ids"]), "{label}: ids");
            assert_eq!(
                scored.notes.len(),
                text.contains("zebra") as usize,
                "{label}: {:?}",
                scored.notes
            );
            let want_words = want["words"].as_array().unwrap();
            for (t, (got, want)) in scored.words.iter().zip(want_words).enumerate() {
                assert_same_scored_word(&format!("{label} word {t}"), got, want);
            }
            assert_same_scored_word(&format!("{label} end"), &scored.end, &want["end"]);
            close(&label, scored.log_prob, &want["log_prob"], 1e-3);
        }
    }
}

/// Continuing a prefix (greedy and by beam), alternatives at every position, and every
/// hypothesis of each beam, best first, as PyTorch's reference search gives them.
#[test]
fn prefixes_alternatives_and_all_beams_match_pytorch() {
    for case in &explore_cases() {
        let (captioner, encoded, explore) = explore_case(case);
        let max_len = expected(case)["max_len"].as_u64().unwrap() as usize;
        let end = captioner.vocab.end;
        let search = |decoding, prefix: Vec<u32>| {
            let options = GenerateOptions { decoding, max_len };
            let explore_options = glimpse_model::ExploreOptions {
                prefix,
                alternatives: explore["alternatives"].as_u64().unwrap() as usize,
                all_beams: true,
            };
            pollster::block_on(captioner.explore_encoded(&encoded, options, &explore_options)).unwrap()
        };
        let beam = |want: &Value| Decoding::Beam {
            width: want["k"].as_u64().unwrap() as usize,
            length_penalty: want["length_penalty"].as_f64().unwrap(),
        };
        let assert_all = |label: &str, got: &[glimpse_model::Caption], want: &Value| {
            let penalty = want["length_penalty"].as_f64().unwrap();
            let want = want["hypotheses"].as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{label}: hypotheses");
            for (i, (got, want)) in got.iter().zip(want).enumerate() {
                let label = format!("{label} hypothesis {i}");
                assert_same_explored(&label, got, want, end);
                close(&label, got.beam_score(penalty), &want["score"], 1e-3);
            }
        };

        let prefix = &explore["prefix"];
        let words: Vec<String> = prefix["words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        let (prefix_ids, notes) = captioner.lookup_words(&words).unwrap();
        assert_eq!((prefix_ids.clone(), notes), (ids(&prefix["ids"]), Vec::new()));
        let label = format!("{} from {words:?}", case.display());
        let greedy = search(Decoding::Greedy, prefix_ids.clone());
        assert_eq!(greedy.len(), 1, "{label}: greedy keeps one hypothesis");
        assert_eq!(greedy[0].token_ids[..2], prefix_ids[..], "{label}: prefix kept");
        assert_same_explored(&format!("{label} greedy"), &greedy[0], &prefix["greedy"], end);
        let from_prefix = search(beam(&prefix["beam"]), prefix_ids);
        assert_all(&format!("{label} beam"), &from_prefix, &prefix["beam"]);

        for want in explore["all_beams"].as_array().unwrap() {
            let label = format!("{} all beams {:?}", case.display(), beam(want));
            assert_all(&label, &search(beam(want), Vec::new()), want);
        }
    }
}

/// Greedy decoding picks words on the device and reads them back every few steps on a GPU:
/// every cadence gives the same captions, also for a batch whose captions end at different
/// steps (the steps computed past an end word are discarded) or run to the length limit. The
/// page's trained default model on a fresh `glimpse synth` set.
#[test]
fn greedy_captions_do_not_depend_on_the_readback_cadence() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = std::fs::read(root.join("web/models/default.safetensors")).unwrap();
    let mut captioner = Captioner::from_bytes(&model, &Device::flex()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = glimpse_data::synth::generate(dir.path(), 6, 3).unwrap();
    let inputs: Vec<Vec<f32>> = (sidecar.images.iter())
        .map(|image| std::fs::read(dir.path().join("Images").join(&image.file)).unwrap())
        .map(|bytes| captioner.prepare_bytes(&bytes).unwrap())
        .collect();
    let encoded = captioner.encode_inputs(&inputs).unwrap();
    for max_len in [6, 20] {
        let options = GenerateOptions {
            max_len,
            ..GenerateOptions::default()
        };
        let mut caption = |steps| {
            captioner.set_steps_per_readback(steps);
            pollster::block_on(captioner.decode_encoded(&encoded, options)).unwrap()
        };
        let every_step = caption(1);
        let ends: Vec<(usize, bool)> = every_step
            .iter()
            .map(|c| (c.token_ids.len(), c.finished))
            .collect();
        eprintln!("max_len {max_len}: {ends:?}");
        let lengths: std::collections::BTreeSet<usize> = ends.iter().map(|&(length, _)| length).collect();
        assert!(lengths.len() > 1, "the captions end at the same step: {ends:?}");
        assert!(ends.iter().any(|&(_, finished)| finished), "{ends:?}");
        for steps in [0, 2, 3, GPU_STEPS_PER_READBACK, 5, 19, 50] {
            // Ids, words, attention maps and log-probabilities: all equal.
            assert_eq!(caption(steps), every_step, "reading back every {steps} steps");
        }
    }
}
