//! Replays the committed fuzzing corpus on the stable toolchain: every input the fuzzers kept
//! for the coverage it reached (`min-*`), and every seed and every crash, leak or hang ever
//! found (`seed-*`, `leak-*`, `crash-*`, …), runs through its target without a panic.

use glimpse_fuzz::{Target, corpus};

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
