//! Does the GPU compute what the CPU does? The PyTorch-equivalence fixture captioned on both
//! (greedy with words chosen on the GPU, and beam), and the first training steps of a fixed tiny
//! run on both. `tests/wgpu_backend.rs` asserts these on any wgpu adapter (lavapipe here); the
//! GPU check reports them from a real GPU.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use glimpse::train::step::{Optimizers, train_step};
use glimpse_data::Rng;
use glimpse_import::{ImportRequest, import};
use glimpse_model::config::{EncoderArch, ModelConfig};
use glimpse_model::{CaptionModel, Captioner, Decoding, GenerateOptions};

use crate::common::{freeze_for, random_captions, train_batch};

/// One decoding of the fixture image on the GPU against the CPU.
#[derive(Debug)]
pub struct CaptionCheck {
    pub decoding: Decoding,
    pub cpu_words: Vec<String>,
    pub gpu_words: Vec<String>,
    pub same_finished: bool,
    /// Largest |GPU − CPU| over every attention weight of every word.
    pub attention_max_diff: f32,
    pub log_prob_diff: f64,
}

/// The notebook fixture (`<fixture>/attention_model_state.pth`, `vocab.json`, `image.png`)
/// imported on the CPU, captioned greedily and with a beam of 3 on `cpu` and on `gpu`.
pub fn caption_fixture(
    fixture: &Path,
    cpu: &Device,
    gpu: &Device,
    gpu_steps_per_readback: usize,
) -> Result<Vec<CaptionCheck>> {
    let request = ImportRequest {
        checkpoint: Some(fixture.join("attention_model_state.pth")),
        vocab: Some(fixture.join("vocab.json")),
        ..ImportRequest::default()
    };
    let bundle = import(&request, cpu)?.bundle;
    let image =
        std::fs::read(fixture.join("image.png")).with_context(|| format!("reading {}", fixture.display()))?;
    let caption = |device: &Device, steps_per_readback, decoding| {
        let mut captioner = Captioner::from_bundle(bundle.clone(), device)?;
        captioner.set_steps_per_readback(steps_per_readback);
        let options = GenerateOptions {
            decoding,
            ..GenerateOptions::default()
        };
        pollster::block_on(captioner.caption_bytes(&image, options))
    };
    let beam = Decoding::Beam {
        width: 3,
        length_penalty: 0.0,
    };
    [Decoding::Greedy, beam]
        .into_iter()
        .map(|decoding| {
            let on_cpu = caption(cpu, 1, decoding)?;
            let on_gpu = caption(gpu, gpu_steps_per_readback, decoding)?;
            let attention_max_diff = on_gpu
                .attention
                .iter()
                .zip(&on_cpu.attention)
                .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
                .fold(0.0, f32::max);
            Ok(CaptionCheck {
                decoding,
                same_finished: on_gpu.finished == on_cpu.finished
                    && on_gpu.attention.len() == on_cpu.attention.len(),
                cpu_words: on_cpu.tokens,
                gpu_words: on_gpu.tokens,
                attention_max_diff,
                log_prob_diff: (on_gpu.log_prob - on_cpu.log_prob).abs(),
            })
        })
        .collect()
}

/// Total losses of the same training steps on the CPU and on the GPU.
#[derive(Debug)]
pub struct TrainCheck {
    pub cpu_losses: Vec<f64>,
    pub gpu_losses: Vec<f64>,
    /// Largest |GPU − CPU| / |CPU| over the steps.
    pub max_relative_diff: f64,
}

/// A fixed tiny run: MobileNetV2 at 64×64 with its last stage fine-tuned, the notebook's
/// decoder without dropout (so both devices compute the same function), 60 words, batches of 8
/// fixed captions; the same initial weights on both (autodiff) devices, `steps` Adam steps each.
pub fn training_steps(cpu: &Device, gpu: &Device, steps: usize) -> Result<TrainCheck> {
    let mut config = ModelConfig::notebook(60);
    config.encoder.arch = EncoderArch::MobilenetV2;
    config.preprocess.size = [64, 64];
    config.decoder.dropout = 0.0;
    cpu.seed(7);
    let weights = pollster::block_on(CaptionModel::new(&config, cpu)?.weights())?;
    let captions = random_captions(&mut Rng::new(7), 8, config.decoder.vocab_size);
    let losses = |device: &Device| -> Result<Vec<f64>> {
        let mut model = CaptionModel::from_weights(&config, &weights, device)?;
        freeze_for(&mut model, true);
        let mut optimizers = Optimizers::adam(5.0, true);
        let batch = train_batch(&config, true, &captions, device);
        let mut losses = Vec::with_capacity(steps);
        for _ in 0..steps {
            let (next, loss) = train_step(model, &mut optimizers, batch.clone(), (4e-4, 1e-4), 1.0)?;
            model = next;
            losses.push(loss[0]);
        }
        Ok(losses)
    };
    let (cpu_losses, gpu_losses) = (losses(cpu)?, losses(gpu)?);
    let max_relative_diff = cpu_losses
        .iter()
        .zip(&gpu_losses)
        .map(|(c, g)| (g - c).abs() / c.abs().max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max);
    Ok(TrainCheck {
        cpu_losses,
        gpu_losses,
        max_relative_diff,
    })
}
