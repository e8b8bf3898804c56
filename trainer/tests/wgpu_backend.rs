//! The GPU backend (built with `--features wgpu`) computes what the CPU one does: the
//! PyTorch-equivalence fixture captioned greedily (words chosen on the GPU) and with a beam gives
//! the same words with attention within 1e-3, and 20 training steps of a fixed tiny run give
//! losses within 1e-3 (relative). Runs on any wgpu adapter, lavapipe (Mesa's CPU Vulkan) included:
//! `cargo test --release -p glimpse-captioner --features wgpu --test wgpu_backend`.
//! The checks are the GPU check's (`benches/gpu`), which reports them from a real GPU.
#![cfg(all(feature = "wgpu", feature = "flex"))]

#[path = "../benches/common/mod.rs"]
mod common;
#[path = "../benches/gpu/correctness.rs"]
mod correctness;

use std::path::Path;
use std::sync::OnceLock;

use burn::tensor::Device;
use glimpse::backend::Backend;

/// A wgpu device is initialised once per process.
fn devices() -> &'static (Device, Device) {
    static DEVICES: OnceLock<(Device, Device)> = OnceLock::new();
    DEVICES.get_or_init(|| (Backend::Flex.device().unwrap(), Backend::Wgpu.device().unwrap()))
}

#[test]
fn wgpu_captions_like_flex() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/torch/notebook");
    let (cpu, gpu) = devices();
    let checks =
        correctness::caption_fixture(&fixture, cpu, gpu, Backend::Wgpu.steps_per_readback()).unwrap();
    assert_eq!(checks.len(), 2);
    for check in checks {
        assert!(!check.cpu_words.is_empty());
        assert_eq!(check.gpu_words, check.cpu_words, "{:?}", check.decoding);
        assert!(check.same_finished, "{check:?}");
        assert!(check.attention_max_diff < 1e-3, "{check:?}");
        assert!(check.log_prob_diff < 1e-2, "{check:?}");
    }
}

#[test]
fn wgpu_trains_like_flex() {
    let (cpu, gpu) = devices();
    let check = correctness::training_steps(&cpu.clone().autodiff(), &gpu.clone().autodiff(), 20).unwrap();
    assert_eq!(check.gpu_losses.len(), 20);
    // The run learns: the last loss is well below the first.
    assert!(check.cpu_losses[19] < 0.9 * check.cpu_losses[0], "{check:?}");
    assert!(check.max_relative_diff < 1e-3, "{check:?}");
}
