//! The model a new run starts from: the encoder from torchvision weights (through the same
//! importer as `glimpse import torch`) or freshly initialised, and a fresh decoder.

use std::path::Path;

use anyhow::Result;
use burn::tensor::Device;
use glimpse_model::config::CONFIG_VERSION;
use glimpse_model::{
    AttentionConfig, CaptionModel, DecoderConfig, EncoderConfig, ModelConfig, PreprocessConfig, TensorMap,
    Vocabulary,
};

use super::config::TrainConfig;
use glimpse_import::{CheckpointLayout, FreshDecoder, ImportRequest, import};

/// (model config, weights) for a new run; `vocab_path` holds `vocab` as JSON.
pub fn initial_model(
    config: &TrainConfig,
    vocab: &Vocabulary,
    vocab_path: &Path,
    device: &Device,
) -> Result<(ModelConfig, TensorMap)> {
    let fresh = FreshDecoder {
        embed_dim: config.embed_dim,
        attention_dim: config.attention_dim,
        hidden_dim: config.decoder_dim,
        activation: config.attention_activation,
        gate: config.gate,
        dropout: config.dropout,
        seed: config.seed,
    };
    if let Some(weights) = &config.encoder_weights {
        let imported = import(
            &ImportRequest {
                encoder: Some(weights.clone()),
                vocab: Some(vocab_path.to_path_buf()),
                layout: Some(CheckpointLayout::Torchvision),
                input_size: Some(config.input_size),
                fresh_decoder: fresh,
                ..ImportRequest::default()
            },
            device,
        )?;
        if imported.bundle.config.encoder.arch != config.arch()? {
            anyhow::bail!(
                "{}: holds a {} but the config asks for `{}`",
                weights.display(),
                imported.bundle.config.encoder.arch.name(),
                config.encoder
            );
        }
        return Ok((imported.bundle.config, imported.bundle.weights));
    }
    let model_config = ModelConfig {
        version: CONFIG_VERSION,
        encoder: EncoderConfig {
            arch: config.arch()?,
            width_multiplier: 1.0,
            pooled_grid: None,
        },
        attention: AttentionConfig {
            dim: config.attention_dim,
            activation: config.attention_activation,
            gate: config.gate,
        },
        decoder: DecoderConfig {
            vocab_size: vocab.len(),
            embed_dim: config.embed_dim,
            hidden_dim: config.decoder_dim,
            dropout: config.dropout,
        },
        preprocess: PreprocessConfig {
            size: [config.input_size, config.input_size],
            ..PreprocessConfig::default()
        },
    };
    model_config.validate()?;
    device.seed(config.seed);
    let mut model = CaptionModel::new(&model_config, device);
    let weights = pollster::block_on(model.weights())?;
    Ok((model_config, weights))
}

/// The encoder stage a parameter belongs to and how many stages the encoder has, for
/// fine-tuning the last N: ResNet's stem is stage 0 and `layerK` stage K (5 in all);
/// MobileNetV2's `features.K` is stage K (19 in all).
pub fn encoder_stage(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("encoder.")?;
    if let Some(rest) = rest.strip_prefix("features.") {
        let index = rest.split('.').next()?.parse().ok()?;
        return Some((index, 19));
    }
    if let Some(rest) = rest.strip_prefix("layer") {
        let index = rest.split('.').next()?.parse().ok()?;
        return Some((index, 5));
    }
    Some((0, 5))
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
