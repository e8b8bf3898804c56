//! What a training run is told: one JSON file (`--config`), every field optional, defaults as
//! the notebook and sgrvinod's tutorial train.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_model::config::{AttentionActivation, EncoderArch, ModelConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// `resnet50` (default), `resnet18` … `resnet152`, `mobilenet_v2`.
    pub encoder: String,
    /// torchvision ImageNet weights (`.pth`) for the encoder; `null` starts from random weights
    /// (train them with `fine_tune_stages`; frozen random features are only a baseline).
    pub encoder_weights: Option<PathBuf>,
    /// 0 keeps the encoder frozen (features are computed once and cached on disk); N > 0
    /// fine-tunes its last N stages (ResNet: layer4, layer3, …; MobileNetV2: features.18, 17, …).
    pub fine_tune_stages: usize,
    /// Square input size in pixels.
    pub input_size: u32,
    pub embed_dim: usize,
    pub attention_dim: usize,
    pub decoder_dim: usize,
    pub dropout: f64,
    pub attention_activation: AttentionActivation,
    /// sgrvinod's sigmoid gate on the context.
    pub gate: bool,
    /// Words seen fewer times in the train split become `<UNK>`.
    pub min_word_count: usize,
    /// Captions with more tokens are skipped (counted in the data report).
    pub max_caption_tokens: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub decoder_lr: f64,
    pub encoder_lr: f64,
    /// The learning rates are multiplied by this every `lr_decay_every` epochs.
    pub lr_decay: f64,
    pub lr_decay_every: usize,
    /// Gradients are clipped to ±this value (sgrvinod's `clip_gradient`); 0 disables.
    pub grad_clip: f64,
    /// λ of the doubly stochastic attention regularisation `λ·mean((1 − Σ_t α_t)²)`.
    pub alpha_c: f64,
    /// Stop after this many epochs without a better validation BLEU-4.
    pub patience: usize,
    /// Validation decodes with this beam width (1 = greedy).
    pub val_beam: usize,
    /// Longest validation caption, in words.
    pub val_max_len: usize,
    /// Score at most this many validation images per epoch (all when `null`).
    pub val_images: Option<usize>,
    /// Fail when more than this fraction of the data is unusable.
    pub max_bad_fraction: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    /// The model of [`ModelConfig::notebook`]; the training settings of the notebook and
    /// sgrvinod's tutorial.
    fn default() -> Self {
        let notebook = ModelConfig::notebook(0);
        TrainConfig {
            encoder: notebook.encoder.arch.name().to_string(),
            encoder_weights: None,
            fine_tune_stages: 0,
            input_size: notebook.preprocess.size[0],
            embed_dim: notebook.decoder.embed_dim,
            attention_dim: notebook.attention.dim,
            decoder_dim: notebook.decoder.decoder_dim,
            dropout: notebook.decoder.dropout,
            attention_activation: notebook.attention.activation,
            gate: notebook.attention.gate,
            min_word_count: 5,
            max_caption_tokens: 30,
            batch_size: 32,
            epochs: 20,
            decoder_lr: 4e-4,
            encoder_lr: 1e-4,
            lr_decay: 0.8,
            lr_decay_every: 4,
            grad_clip: 5.0,
            alpha_c: 1.0,
            patience: 5,
            val_beam: 1,
            val_max_len: 20,
            val_images: None,
            max_bad_fraction: 0.05,
            seed: 0,
        }
    }
}

impl TrainConfig {
    pub fn read(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let config: TrainConfig = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?;
        config.validate().with_context(|| format!("{}", path.display()))?;
        Ok(config)
    }

    pub fn arch(&self) -> Result<EncoderArch> {
        EncoderArch::from_name(&self.encoder).ok_or_else(|| {
            anyhow::anyhow!(
                "field `encoder`: unknown encoder `{}` (resnet18, resnet34, resnet50, resnet101, resnet152, mobilenet_v2)",
                self.encoder
            )
        })
    }

    pub fn validate(&self) -> Result<()> {
        self.arch()?;
        let positive = [
            ("input_size", self.input_size as usize),
            ("embed_dim", self.embed_dim),
            ("attention_dim", self.attention_dim),
            ("decoder_dim", self.decoder_dim),
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
            ("lr_decay_every", self.lr_decay_every),
            ("val_beam", self.val_beam),
            ("val_max_len", self.val_max_len),
            ("max_caption_tokens", self.max_caption_tokens),
        ];
        for (field, value) in positive {
            if value == 0 {
                bail!("field `{field}` must be at least 1");
            }
        }
        if self.input_size < 32 {
            bail!(
                "field `input_size`: {} is below 32 pixels, too small for the encoders",
                self.input_size
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("field `dropout` must be in [0, 1), got {}", self.dropout);
        }
        for (field, value) in [("decoder_lr", self.decoder_lr), ("encoder_lr", self.encoder_lr)] {
            if !(value.is_finite() && value > 0.0) {
                bail!("field `{field}` must be a positive number, got {value}");
            }
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            bail!("field `lr_decay` must be in (0, 1], got {}", self.lr_decay);
        }
        if !(self.grad_clip >= 0.0 && self.alpha_c >= 0.0) {
            bail!("fields `grad_clip` and `alpha_c` must not be negative");
        }
        if !(0.0..=1.0).contains(&self.max_bad_fraction) {
            bail!("field `max_bad_fraction` must be in [0, 1]");
        }
        Ok(())
    }

    /// The learning rates in `epoch` (0-based): (decoder, encoder).
    pub fn learning_rates(&self, epoch: usize) -> (f64, f64) {
        let factor = self.lr_decay.powi((epoch / self.lr_decay_every) as i32);
        (self.decoder_lr * factor, self.encoder_lr * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"{"epochs": 2, "learning_rate": 1}"#).unwrap();
        let err = format!("{:#}", TrainConfig::read(&path).unwrap_err());
        assert!(err.contains("learning_rate"), "{err}");
        std::fs::write(&path, r#"{"dropout": 1.5}"#).unwrap();
        let err = format!("{:#}", TrainConfig::read(&path).unwrap_err());
        assert!(err.contains("dropout"), "{err}");
        std::fs::write(&path, r#"{"encoder": "vgg16"}"#).unwrap();
        let err = format!("{:#}", TrainConfig::read(&path).unwrap_err());
        assert!(err.contains("vgg16"), "{err}");
    }

    #[test]
    fn learning_rate_decays_stepwise() {
        let config = TrainConfig {
            lr_decay: 0.5,
            lr_decay_every: 2,
            ..TrainConfig::default()
        };
        assert_eq!(config.learning_rates(0).0, 4e-4);
        assert_eq!(config.learning_rates(1).0, 4e-4);
        assert_eq!(config.learning_rates(2).0, 2e-4);
        assert_eq!(config.learning_rates(5).1, 0.25e-4);
    }
}
