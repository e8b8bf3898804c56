//! The model a new run starts from: the encoder from torchvision weights (read by the same
//! code as `glimpse import torch`) or freshly initialised, and a fresh decoder.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use glimpse_import::{FreshDecoder, infer_encoder, read_checkpoint, torchvision_encoder};
use glimpse_model::encoder::encoder_stage;
use glimpse_model::{
    CaptionModel, EncoderConfig, ModelConfig, PreprocessConfig, TensorMap, Vocabulary, quantize,
};

use super::config::TrainConfig;
use super::footprint::StepBudget;

/// (model config, weights) for a new run over `vocab` within `budget`. The weights are those
/// `glimpse import torch --encoder FILE --seed S` gives for the same file and seed.
pub fn initial_model(
    config: &TrainConfig,
    vocab: &Vocabulary,
    device: &Device,
    budget: &StepBudget,
) -> Result<(ModelConfig, TensorMap)> {
    let decoder = fresh_decoder(config);
    let preprocess = PreprocessConfig {
        size: [config.input_size, config.input_size],
        ..PreprocessConfig::default()
    };
    let Some(path) = &config.encoder_weights else {
        let encoder = EncoderConfig {
            arch: config.arch()?,
            width_multiplier: 1.0,
            pooled_grid: None,
        };
        let model_config = decoder.model_config(encoder, preprocess, vocab.len());
        config.check_trainable(&model_config, budget)?;
        let weights = decoder.initial_weights(&model_config, device)?;
        return Ok((model_config, int8_encoder(config, weights)));
    };
    let (encoder, mut weights) = pretrained_encoder(path, config, device)?;
    let model_config = decoder.model_config(encoder, preprocess, vocab.len());
    config.check_trainable(&model_config, budget)?;
    weights.extend(decoder.decoder_weights(&model_config, device)?);
    let weights = int8_encoder(config, weights);
    weights.check_values()?;
    // Every tensor present, named and shaped as the config says.
    CaptionModel::from_weights(&model_config, &weights, device)
        .context("the imported weights do not fit the inferred model")?;
    Ok((model_config, weights))
}

/// The decoder the training config describes, seeded with the run's seed.
fn fresh_decoder(config: &TrainConfig) -> FreshDecoder {
    FreshDecoder {
        embed_dim: config.embed_dim,
        attention_dim: config.attention_dim,
        decoder_dim: config.decoder_dim,
        activation: config.attention_activation,
        gate: config.gate,
        dropout: config.dropout,
        seed: config.seed,
    }
}

/// The torchvision encoder in `path` (`encoder.*` tensors) and its config, which must be the
/// architecture the training config asks for.
fn pretrained_encoder(
    path: &Path,
    config: &TrainConfig,
    device: &Device,
) -> Result<(EncoderConfig, TensorMap)> {
    let file = read_checkpoint(path)?;
    // What the file holds beside the encoder (its classifier, counters) is not the run's concern.
    let weights = torchvision_encoder(file, &mut Vec::new())?;
    let (arch, width_multiplier) = infer_encoder(&weights, device)?;
    if arch != config.arch()? {
        bail!(
            "{}: holds a {} but the config asks for `{}`",
            path.display(),
            arch.name(),
            config.encoder
        );
    }
    let encoder = EncoderConfig {
        arch,
        width_multiplier,
        pooled_grid: None,
    };
    Ok((encoder, weights))
}

/// `weights` with the encoder's as int8 storage reads them back when the config trains for int8
/// storage (`encoder_int8`); the tensors int8 storage keeps as F16 stay as they are.
fn int8_encoder(config: &TrainConfig, weights: TensorMap) -> TensorMap {
    if !config.encoder_int8 {
        return weights;
    }
    weights
        .into_iter()
        .map(|(name, tensor)| match name.starts_with("encoder.") {
            true => {
                let rounded = quantize::int8_values(&name, &tensor).unwrap_or(tensor);
                (name, rounded)
            }
            false => (name, tensor),
        })
        .collect()
}

/// Whether `name` is trained when the last `stages` encoder stages are fine-tuned.
pub fn is_trainable(name: &str, stages: usize) -> bool {
    match encoder_stage(name) {
        None => true, // the decoder
        Some((stage, total)) => stages > 0 && stage + stages >= total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_count_from_the_end() {
        assert!(is_trainable("decoder.fcn.weight", 0));
        assert!(!is_trainable("encoder.layer4.0.conv1.weight", 0));
        assert!(is_trainable("encoder.layer4.0.conv1.weight", 1));
        assert!(!is_trainable("encoder.layer3.0.conv1.weight", 1));
        assert!(is_trainable("encoder.layer3.0.conv1.weight", 2));
        assert!(!is_trainable("encoder.conv1.weight", 4));
        assert!(is_trainable("encoder.conv1.weight", 5));
        assert!(is_trainable("encoder.features.18.0.weight", 1));
        assert!(!is_trainable("encoder.features.17.conv.0.0.weight", 1));
    }
}
