//! A freshly initialised decoder: its sizes, the model config it makes with an encoder, and
//! its seeded weights. Imports of bare torchvision encoders and new training runs both start
//! here, so the same seed gives the same decoder either way.

use anyhow::Result;
use burn::tensor::Device;
use glimpse_model::config::{
    AttentionActivation, AttentionConfig, CONFIG_VERSION, DecoderConfig, EncoderConfig, ModelConfig,
    PreprocessConfig,
};
use glimpse_model::{CaptionModel, TensorMap};

/// The shape of a decoder: freshly initialised (torchvision layout, training), or inferred
/// from a checkpoint's tensors.
#[derive(Debug, Clone)]
pub struct FreshDecoder {
    pub embed_dim: usize,
    pub attention_dim: usize,
    pub decoder_dim: usize,
    pub activation: AttentionActivation,
    pub gate: bool,
    pub dropout: f64,
    pub seed: u64,
}

impl Default for FreshDecoder {
    /// The notebook's sizes ([`ModelConfig::notebook`]), seed 0.
    fn default() -> Self {
        FreshDecoder::like(&ModelConfig::notebook(0), 0)
    }
}

impl FreshDecoder {
    /// The decoder of `config` (a preset such as [`ModelConfig::notebook`]), initialised from
    /// `seed`.
    pub fn like(config: &ModelConfig, seed: u64) -> FreshDecoder {
        FreshDecoder {
            embed_dim: config.decoder.embed_dim,
            attention_dim: config.attention.dim,
            decoder_dim: config.decoder.decoder_dim,
            activation: config.attention.activation,
            gate: config.attention.gate,
            dropout: config.decoder.dropout,
            seed,
        }
    }

    /// The whole model's config: `encoder` and `preprocess` with this decoder over
    /// `vocab_size` words. Not validated: [`FreshDecoder::initial_weights`] and the importer do.
    pub fn model_config(
        &self,
        encoder: EncoderConfig,
        preprocess: PreprocessConfig,
        vocab_size: usize,
    ) -> ModelConfig {
        ModelConfig {
            version: CONFIG_VERSION,
            encoder,
            attention: AttentionConfig {
                dim: self.attention_dim,
                activation: self.activation,
                gate: self.gate,
            },
            decoder: DecoderConfig {
                vocab_size,
                embed_dim: self.embed_dim,
                decoder_dim: self.decoder_dim,
                dropout: self.dropout,
            },
            preprocess,
        }
    }

    /// Every weight of a whole model built from `config` after seeding `device` with
    /// `self.seed`: the encoder is random too (a run without pretrained encoder weights keeps
    /// it). The decoder's values depend on the encoder's size, which is drawn first.
    pub fn initial_weights(&self, config: &ModelConfig, device: &Device) -> Result<TensorMap> {
        device.seed(self.seed);
        let mut model = CaptionModel::new(config, device)?;
        Ok(pollster::block_on(model.weights())?)
    }

    /// The `decoder.*` weights of [`FreshDecoder::initial_weights`], to go beside a
    /// pretrained encoder.
    pub fn decoder_weights(&self, config: &ModelConfig, device: &Device) -> Result<TensorMap> {
        let mut weights = self.initial_weights(config, device)?;
        weights.remove_where(|name| name.starts_with("encoder."));
        Ok(weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoder_of_a_preset_gives_the_preset_back() {
        for preset in [ModelConfig::notebook(9), ModelConfig::sgrvinod(9)] {
            let decoder = FreshDecoder::like(&preset, 0);
            let config = decoder.model_config(preset.encoder.clone(), preset.preprocess.clone(), 9);
            assert_eq!(config, preset);
        }
        let default = FreshDecoder::default();
        assert_eq!(
            (
                default.embed_dim,
                default.attention_dim,
                default.decoder_dim,
                default.dropout
            ),
            (300, 256, 512, 0.3)
        );
    }
}
