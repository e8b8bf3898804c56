//! What a training run is told: one JSON file (`--config`), every field optional, defaults as
//! the notebook and sgrvinod's tutorial train.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_files::{caps, number_text, read_regular_to_string, shown, terminal_safe};
use glimpse_model::config::{AttentionActivation, EncoderArch, ModelConfig};
use glimpse_model::generate::MAX_LENGTH;
use glimpse_model::{Decoding, GenerateOptions};
use serde::{Deserialize, Serialize};

use super::footprint::{BYTES_PER_DECODING_VALUE, BYTES_PER_TRAINED_WEIGHT, Footprint, StepBudget};

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
    /// Train for int8 storage: the frozen encoder's weights are rounded to what
    /// `glimpse export --int8` stores before the first step, so the decoder learns on the features
    /// the int8 bundle computes and the encoder's int8 storage loses nothing. Needs a frozen
    /// encoder (`fine_tune_stages` 0): fine-tuning would move the weights off the int8 grid.
    pub encoder_int8: bool,
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
            encoder_int8: false,
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

/// The largest values a training config may hold: far above any useful run, low enough that no
/// product of them overflows or asks for an impossible allocation before training starts.
pub mod limits {
    #[allow(unused_imports)] // for the docs' links
    use super::{BYTES_PER_DECODING_VALUE, BYTES_PER_TRAINED_WEIGHT};

    /// Most weights of a decoder that is trained (2²⁶, 67 million; captioning takes up to 2²⁸).
    /// A step and a checkpoint take about [`BYTES_PER_TRAINED_WEIGHT`] bytes a weight (the weights, their gradients,
    /// Adam's two moments, the autodiff graph's and the checkpoint's copies): 67 million took
    /// 3.6 GB, 131 million 7.2 GB, and 238 million, within the captioning caps, failed to allocate while saving.
    /// A decoder of 512 wide layers and 10,000 words has 21 million.
    pub const MAX_TRAINED_DECODER_WEIGHTS: u64 = 1 << 26;
    /// Most values a batch's decoding may compute (2²⁹): `batch_size` × the steps of the
    /// longest caption allowed (`max_caption_tokens` and one) × the model's values a step and
    /// caption (its attention over every cell, its words' scores). Autodiff keeps them for the
    /// backward pass: 6 to [`BYTES_PER_DECODING_VALUE`] bytes each, measured (configs just under the cap took 6.4–6.5 GB,
    /// under the 8 GB the hostile campaign allows). Within every other cap, a batch of 4096 with
    /// attention of 8192 took 7.4 GB at its first step and failed to allocate; the default config
    /// with 5,000 words takes 22 million, and with 10,000 words at a batch of 512, 427 million.
    pub const MAX_TRAINED_STEP_VALUES: u64 = 1 << 29;
    /// Most input pixels a fine-tuning step runs through the encoder, over all devices (2²⁴,
    /// 334 images of 224×224): autodiff keeps the encoder's activations too, and 64 images of
    /// 1024×1024 (2²⁶ pixels), within every other cap, failed to allocate at the first step.
    pub const MAX_FINE_TUNED_PIXELS: u64 = 1 << 24;
    /// Smallest learning rate an epoch may train with: Adam moves a weight by about its rate
    /// a step, and f32 weights of 0.1 are 7.5e-9 apart, so below this nothing changes.
    pub const MIN_LEARNING_RATE: f64 = 1e-8;
    /// Images per batch.
    pub const MAX_BATCH_SIZE: usize = 4096;
    pub const MAX_EPOCHS: usize = 100_000;
    /// Input side in pixels (the notebook uses 224, sgrvinod 256).
    pub const MIN_INPUT_SIZE: u32 = 32;
    pub const MAX_INPUT_SIZE: u32 = 1024;
    /// Embedding, attention and LSTM sizes: the model's own cap (this one was 16,384, and a
    /// config between the two passed here only to be refused when the model was built).
    pub const MAX_LAYER_DIM: usize = glimpse_model::config::limits::MAX_LAYER_DIM;
}

impl TrainConfig {
    /// Reads and validates a config file: a regular file of at most [`caps::CONFIG`] bytes.
    pub fn read(path: &Path) -> Result<TrainConfig> {
        let text = read_regular_to_string(path, caps::CONFIG, "training config")?;
        let config: TrainConfig = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", shown(path), e.line(), e.column()))?;
        config.validate().with_context(|| format!("{}", shown(path)))?;
        Ok(config)
    }

    pub fn arch(&self) -> Result<EncoderArch> {
        EncoderArch::from_name(&self.encoder).ok_or_else(|| {
            anyhow::anyhow!(
                "field `encoder`: unknown encoder `{}` (resnet18, resnet34, resnet50, resnet101, resnet152, mobilenet_v2)",
                terminal_safe(&self.encoder)
            )
        })
    }

    /// Range-checks every field. A fresh run and a resumed one (whose config comes from the
    /// checkpoint) both call it before the first step, so no value can divide by zero, overflow
    /// or fail an epoch later.
    pub fn validate(&self) -> Result<()> {
        let arch = self.arch()?;
        self.validate_sizes(arch)?;
        self.validate_rates()?;
        self.validate_decoding()?;
        if !(0.0..=1.0).contains(&self.max_bad_fraction) {
            bail!(
                "field `max_bad_fraction` must be in [0, 1], got {}",
                self.max_bad_fraction
            );
        }
        Ok(())
    }

    /// Whether `model` is small enough to train with this config within `budget`: its decoder
    /// within [`limits::MAX_TRAINED_DECODER_WEIGHTS`], a batch's decoding within
    /// [`limits::MAX_TRAINED_STEP_VALUES`], and a step's estimated peak ([`Footprint`]) within
    /// the budget's memory. Checked for a fresh run before the decoder's weights are made and
    /// for a resumed one before its first step.
    pub fn check_trainable(&self, model: &ModelConfig, budget: &StepBudget) -> Result<()> {
        self.check_encoder_batch()?;
        if self.val_beam > 1 {
            // Validation decodes one image's beam at a time; its greedy batches are split to
            // what the model takes at once.
            model.check_decoding_rows(self.val_beam, "field `val_beam`")?;
        }
        let steps = self.max_caption_tokens as u64 + 1;
        let values = model
            .step_values()
            .saturating_mul(steps)
            .saturating_mul(self.batch_size as u64);
        if values > limits::MAX_TRAINED_STEP_VALUES {
            bail!(
                "a batch would decode {values} values (`batch_size` {} × {steps} steps × {} a caption \
                 and step: the attention over {} cells of `attention_dim` {}, and {} words); Glimpse \
                 trains at most {} (up to {} bytes each): lower `batch_size`, `attention_dim`, \
                 `max_caption_tokens`, `input_size` or the vocabulary (`min_word_count`)",
                self.batch_size,
                model.step_values(),
                model.positions(),
                model.attention.dim,
                model.decoder.vocab_size,
                limits::MAX_TRAINED_STEP_VALUES,
                BYTES_PER_DECODING_VALUE
            );
        }
        let weights = model.decoder_weights();
        if weights > limits::MAX_TRAINED_DECODER_WEIGHTS {
            bail!(
                "the decoder would have {weights} weights; Glimpse trains decoders of at most {} \
                 (training takes about {} bytes a weight): lower `decoder_dim`, `embed_dim`, \
                 `attention_dim` or the vocabulary (`min_word_count`)",
                limits::MAX_TRAINED_DECODER_WEIGHTS,
                BYTES_PER_TRAINED_WEIGHT
            );
        }
        Footprint::of(self, model, budget.devices).check(budget.memory)
    }

    /// A fine-tuning batch's pixels within [`limits::MAX_FINE_TUNED_PIXELS`] (a frozen encoder
    /// runs once per image, a few at a time, outside the step).
    fn check_encoder_batch(&self) -> Result<()> {
        let side = u64::from(self.input_size);
        let pixels = side * side * self.batch_size as u64;
        if self.fine_tune_stages > 0 && pixels > limits::MAX_FINE_TUNED_PIXELS {
            bail!(
                "a fine-tuning batch of {} images of {side}×{side} is {pixels} pixels for the encoder, over \
                 the {} it may take: lower `batch_size` or `input_size`",
                self.batch_size,
                limits::MAX_FINE_TUNED_PIXELS
            );
        }
        Ok(())
    }

    /// Counts and sizes: each within `1..=` its limit.
    fn validate_sizes(&self, arch: EncoderArch) -> Result<()> {
        let ranges = [
            ("embed_dim", self.embed_dim, limits::MAX_LAYER_DIM),
            ("attention_dim", self.attention_dim, limits::MAX_LAYER_DIM),
            ("decoder_dim", self.decoder_dim, limits::MAX_LAYER_DIM),
            ("batch_size", self.batch_size, limits::MAX_BATCH_SIZE),
            ("epochs", self.epochs, limits::MAX_EPOCHS),
            ("lr_decay_every", self.lr_decay_every, limits::MAX_EPOCHS),
            // 0 stopped every run after its first epoch.
            ("patience", self.patience, limits::MAX_EPOCHS),
            ("max_caption_tokens", self.max_caption_tokens, MAX_LENGTH),
        ];
        for (field, value, max) in ranges {
            if !(1..=max).contains(&value) {
                bail!("field `{field}` must be within 1..={max}, got {value}");
            }
        }
        let (min, max) = (limits::MIN_INPUT_SIZE, limits::MAX_INPUT_SIZE);
        if !(min..=max).contains(&self.input_size) {
            bail!(
                "field `input_size` must be within {min}..={max} pixels, got {}",
                self.input_size
            );
        }
        let stages = arch.stages();
        if self.fine_tune_stages > stages {
            bail!(
                "field `fine_tune_stages`: {} has only {stages} stages, got {}",
                arch.name(),
                self.fine_tune_stages
            );
        }
        if self.encoder_int8 && self.fine_tune_stages > 0 {
            bail!(
                "field `encoder_int8` needs a frozen encoder (`fine_tune_stages` 0, got {}): \
                 fine-tuning would move its weights off the int8 grid",
                self.fine_tune_stages
            );
        }
        Ok(())
    }

    /// Learning rates, decay, clipping, the attention regulariser and dropout.
    fn validate_rates(&self) -> Result<()> {
        use limits::MIN_LEARNING_RATE;
        for (field, value) in [("decoder_lr", self.decoder_lr), ("encoder_lr", self.encoder_lr)] {
            if !(value.is_finite() && value >= MIN_LEARNING_RATE) {
                bail!(
                    "field `{field}` must be a finite number of at least {MIN_LEARNING_RATE:e} \
                     (below it no f32 weight of the model changes), got {}",
                    number_text(value)
                );
            }
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            bail!(
                "field `lr_decay` must be in (0, 1], got {}",
                number_text(self.lr_decay)
            );
        }
        self.validate_last_rates()?;
        for (field, value) in [("grad_clip", self.grad_clip), ("alpha_c", self.alpha_c)] {
            if !(value.is_finite() && value >= 0.0) {
                bail!("field `{field}` must be a finite number, not negative, got {value}");
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("field `dropout` must be in [0, 1), got {}", self.dropout);
        }
        Ok(())
    }

    /// The rates of the last epoch, after decay, at least [`limits::MIN_LEARNING_RATE`] for the parts
    /// that train: a rate of 1e-320, or a decay to 0, trained nothing and stopped on patience
    /// without saying why (an audit). `lr_decay_every` is checked before.
    fn validate_last_rates(&self) -> Result<()> {
        use limits::MIN_LEARNING_RATE;
        let last_epoch = self.epochs.saturating_sub(1);
        let (decoder, encoder) = self.learning_rates(last_epoch);
        let mut rates = vec![("decoder_lr", self.decoder_lr, decoder)];
        if self.fine_tune_stages > 0 {
            rates.push(("encoder_lr", self.encoder_lr, encoder));
        }
        for (field, first, last) in rates {
            if last.is_nan() || last < MIN_LEARNING_RATE {
                bail!(
                    "field `{field}` {} decays to {} by epoch {} (`lr_decay` {} every {} epochs), \
                     below {MIN_LEARNING_RATE:e}, where no f32 weight of the model changes any more",
                    number_text(first),
                    number_text(last),
                    self.epochs,
                    number_text(self.lr_decay),
                    self.lr_decay_every
                );
            }
        }
        Ok(())
    }

    /// Validation decodes as `glimpse caption` does, within the model crate's limits.
    fn validate_decoding(&self) -> Result<()> {
        let decoding = Decoding::from_beam(self.val_beam, 0.0).context("field `val_beam`")?;
        GenerateOptions {
            decoding,
            max_len: self.val_max_len,
        }
        .validate()
        .context("field `val_max_len`")?;
        if self.val_images == Some(0) {
            bail!("field `val_images` must be at least 1 (or null for all)");
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
        // The largest dropout below 1 is read as written (the fast float parser made it 1).
        std::fs::write(&path, r#"{"dropout": 0.9999999999999999}"#).unwrap();
        let config = TrainConfig::read(&path).unwrap();
        assert_eq!(config.dropout, 1.0 - f64::EPSILON / 2.0);
    }

    /// Every field a file can set is range-checked, with the field named: these values used to
    /// divide by zero (`batch_size`, `lr_decay_every`), fail after a whole epoch (`val_beam`) or
    /// pass unchecked.
    #[test]
    fn every_field_is_range_checked() {
        let cases: [(&str, serde_json::Value, &str); 17] = [
            (
                "decoder_lr",
                1e-320.into(),
                "field `decoder_lr` must be a finite number of at least 1e-8 (below it no f32 weight of the model changes), got 1e-320",
            ),
            // From 0.0004, 1e-300 every 4 epochs: a rate of 0 from the fifth epoch.
            (
                "lr_decay",
                1e-300.into(),
                "field `decoder_lr` 0.0004 decays to 0 by epoch 20 (`lr_decay` 1e-300 every 4 epochs), below 1e-8, where no f32 weight of the model changes any more",
            ),
            (
                "batch_size",
                0.into(),
                "field `batch_size` must be within 1..=4096, got 0",
            ),
            (
                "batch_size",
                5000.into(),
                "field `batch_size` must be within 1..=4096, got 5000",
            ),
            (
                "lr_decay_every",
                0.into(),
                "field `lr_decay_every` must be within 1..=100000, got 0",
            ),
            (
                "epochs",
                0.into(),
                "field `epochs` must be within 1..=100000, got 0",
            ),
            (
                "val_beam",
                100_000.into(),
                "field `val_beam`: invalid argument: beam width 100000 must be within 1..=64",
            ),
            (
                "val_max_len",
                1000.into(),
                "field `val_max_len`: invalid argument: max length 1000 must be within 1..=200",
            ),
            (
                "val_images",
                0.into(),
                "field `val_images` must be at least 1 (or null for all)",
            ),
            (
                "input_size",
                4096.into(),
                "field `input_size` must be within 32..=1024 pixels, got 4096",
            ),
            (
                "embed_dim",
                1_000_000.into(),
                "field `embed_dim` must be within 1..=8192, got 1000000",
            ),
            (
                "decoder_dim",
                8193.into(),
                "field `decoder_dim` must be within 1..=8192, got 8193",
            ),
            (
                "max_caption_tokens",
                0.into(),
                "field `max_caption_tokens` must be within 1..=200, got 0",
            ),
            (
                "fine_tune_stages",
                6.into(),
                "field `fine_tune_stages`: resnet50 has only 5 stages, got 6",
            ),
            ("dropout", 1.0.into(), "field `dropout` must be in [0, 1), got 1"),
            (
                "grad_clip",
                (-1.0).into(),
                "field `grad_clip` must be a finite number, not negative, got -1",
            ),
            (
                "max_bad_fraction",
                2.0.into(),
                "field `max_bad_fraction` must be in [0, 1], got 2",
            ),
        ];
        for (field, value, expected) in cases {
            let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
            json[field] = value;
            let config: TrainConfig = serde_json::from_value(json).unwrap();
            let err = format!("{:#}", config.validate().unwrap_err());
            assert_eq!(err, expected, "{field}");
        }
        let mobilenet = TrainConfig {
            encoder: "mobilenet_v2".into(),
            fine_tune_stages: 19,
            ..TrainConfig::default()
        };
        mobilenet.validate().unwrap();
        let fine_tuned_int8 = TrainConfig {
            encoder_int8: true,
            ..mobilenet.clone()
        };
        assert_eq!(
            format!("{:#}", fine_tuned_int8.validate().unwrap_err()),
            "field `encoder_int8` needs a frozen encoder (`fine_tune_stages` 0, got 19): \
             fine-tuning would move its weights off the int8 grid"
        );
        TrainConfig {
            fine_tune_stages: 0,
            ..fine_tuned_int8
        }
        .validate()
        .unwrap();
        TrainConfig::default().validate().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_config_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        glimpse_files::testing::mkfifo(&path);
        let err = format!("{:#}", TrainConfig::read(&path).unwrap_err());
        assert!(
            err.ends_with("config.json: the training config is a named pipe (FIFO), not a regular file; refusing to read it"),
            "{err}"
        );
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
