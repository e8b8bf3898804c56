//! The GPU backend (built with `--features wgpu`) captions as the CPU one does, greedy (words
//! chosen on the GPU) and beam: same words, attention within 1e-3. Runs on any wgpu adapter,
//! lavapipe (Mesa's CPU Vulkan) included:
//! `cargo test --release -p glimpse-captioner --features wgpu --test wgpu_backend`.
#![cfg(feature = "wgpu")]

use std::path::Path;

use glimpse::backend::Backend;
use glimpse_import::{ImportRequest, import};
use glimpse_model::{Captioner, Decoding, GenerateOptions};

#[test]
fn wgpu_captions_like_flex() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/torch/notebook");
    let request = ImportRequest {
        checkpoint: Some(case.join("attention_model_state.pth")),
        vocab: Some(case.join("vocab.json")),
        ..ImportRequest::default()
    };
    let bundle = import(&request, &Backend::Flex.device().unwrap()).unwrap().bundle;
    let image = std::fs::read(case.join("image.png")).unwrap();
    // Greedy decoding picks words on the GPU and reads them back every few steps there.
    // A wgpu device is initialised once per process.
    let (flex, wgpu) = (Backend::Flex.device().unwrap(), Backend::Wgpu.device().unwrap());
    let caption = |backend: Backend, decoding| {
        let device = if backend == Backend::Wgpu { &wgpu } else { &flex };
        let mut captioner = Captioner::from_bundle(bundle.clone(), device).unwrap();
        captioner.set_steps_per_readback(backend.steps_per_readback());
        let options = GenerateOptions {
            decoding,
            ..GenerateOptions::default()
        };
        pollster::block_on(captioner.caption_bytes(&image, options)).unwrap()
    };
    let beam = Decoding::Beam {
        width: 3,
        length_penalty: 0.0,
    };
    for decoding in [Decoding::Greedy, beam] {
        let (cpu, gpu) = (caption(Backend::Flex, decoding), caption(Backend::Wgpu, decoding));
        assert_eq!(gpu.tokens, cpu.tokens, "{decoding:?}");
        assert_eq!(gpu.finished, cpu.finished, "{decoding:?}");
        for (a, b) in gpu.attention.iter().zip(&cpu.attention) {
            let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-3, "{decoding:?}: attention differs by {worst}");
        }
        assert!((gpu.log_prob - cpu.log_prob).abs() < 1e-2, "{decoding:?}");
    }
}
