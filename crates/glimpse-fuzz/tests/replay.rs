//! Replays the committed fuzzing corpus on the stable toolchain: every input the fuzzers kept
//! for the coverage it reached (`min-*`), and every seed and every crash, leak or hang ever
//! found (`seed-*`, `leak-*`, `crash-*`, …), runs through its target without a panic.

use burn::tensor::Device;
use glimpse_data::{LoadOptions, Split};
use glimpse_fuzz::corpus::Inputs;
use glimpse_fuzz::{Target, bundle, corpus, dataset, image, import, notebook_pickle};
use glimpse_model::Captioner;
use glimpse_model::config::PreprocessConfig;

fn replay(target: Target) {
    let inputs = corpus::read(target).unwrap_or_else(|e| panic!("{}: {e}", corpus::path(target).display()));
    assert!(
        inputs.len() >= 3,
        "the {} corpus holds {} inputs",
        target.name(),
        inputs.len()
    );
    assert!(
        inputs.iter().any(|(name, _)| name.starts_with("seed-")),
        "the {} corpus lost its seeds",
        target.name()
    );
    for (name, data) in inputs {
        let outcome = std::panic::catch_unwind(|| target.run(&data));
        assert!(outcome.is_ok(), "{name}: the {} target panicked", target.name());
    }
}

#[test]
fn pth_corpus() {
    replay(Target::Pth);
}

#[test]
fn import_corpus() {
    replay(Target::Import);
}

#[test]
fn bundle_corpus() {
    replay(Target::Bundle);
}

#[test]
fn image_corpus() {
    replay(Target::Image);
}

#[test]
fn dataset_corpus() {
    replay(Target::Dataset);
}

#[test]
fn caption_corpus() {
    replay(Target::Caption);
}

/// The seeds reach each reader's deepest path, so a harness that refused everything could not
/// replay green: the notebook pickle imports, every seed bundle (F16 and int8) loads a model small enough to
/// caption in the target, every seed photo preprocesses, every seed dataset loads.
#[test]
fn the_seeds_are_accepted() {
    let device = Device::flex();
    let seeds = |target: Target| -> Inputs {
        let inputs = corpus::read(target).unwrap();
        inputs
            .into_iter()
            .filter(|(name, _)| name.starts_with("seed-"))
            .collect()
    };
    let imported = import::import_pickle(&notebook_pickle(), &device).unwrap();
    Captioner::from_bundle(imported.bundle, &device).unwrap();
    for (name, data) in seeds(Target::Bundle) {
        let file = bundle::bundle_file(&data).unwrap();
        let captioner = Captioner::from_bytes(&file, &device).unwrap_or_else(|e| panic!("{name}: {e}"));
        let [h, w] = captioner.config.preprocess.size;
        assert!(u64::from(h) * u64::from(w) <= bundle::MAX_RUN_PIXELS, "{name}");
    }
    for (name, data) in seeds(Target::Image) {
        let config = PreprocessConfig::default();
        let outcome = image::preprocess(&data, &config).unwrap();
        // The header bomb and the 20000×1 strip are refused by design; the rest decode.
        let refused = name.contains("huge_header") || name.contains("wide");
        assert_eq!(outcome.is_err(), refused, "{name}");
    }
    for (name, data) in seeds(Target::Dataset) {
        let dir = tempfile::tempdir().unwrap();
        let dataset = dataset::load(&data, &dir.path().join("data"), &LoadOptions::default()).unwrap();
        let dataset = dataset.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(
            dataset.problems.kept().is_empty(),
            "{name}: {:?}",
            dataset.problems.kept()
        );
        if name.contains("default-split") {
            // No split files: all five images, split by name.
            assert_eq!(dataset.splits.values().map(Vec::len).sum::<usize>(), 5, "{name}");
        } else {
            assert_eq!(dataset.split(Split::Train).len(), 3, "{name}");
        }
    }
}
