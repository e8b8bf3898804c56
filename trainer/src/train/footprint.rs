//! What a training step holds at its peak, estimated from the model's sizes before the decoder's
//! weights are made, and the check of that estimate against the memory the process may use.
//!
//! Each of the config's caps bounds one part (the decoder's weights, a batch's decoding, the
//! pixels of a fine-tuning batch), but the parts add up: a decoder near its cap (3.6 GB) with a
//! batch whose decoding is near its cap (6.5 GB) is within every cap and takes more than 8 GB.
//! The bytes a part takes for each of its weights or values were measured (see the constants).

use anyhow::{Result, bail};
use glimpse_model::ModelConfig;
use glimpse_model::encoder::stage_costs;

use super::config::TrainConfig;
use super::step::most_replicas;
use crate::memory::MemoryLimit;

/// Bytes a step and a checkpoint take per trained weight: the weight, its gradient, Adam's two
/// moments, autodiff's and the checkpoint's copies (67 million decoder weights took 3.6 GB).
pub const BYTES_PER_TRAINED_WEIGHT: u64 = 54;
/// Bytes per frozen encoder weight: the weight and the checkpoint's copy.
pub const BYTES_PER_FROZEN_WEIGHT: u64 = 8;
/// Bytes per value a batch's decoding computes, kept for the backward pass: 6 to 12,
/// measured (configs with 2²⁹ values took 6.4–6.5 GB).
pub const BYTES_PER_DECODING_VALUE: u64 = 12;
/// Bytes per value a fine-tuned stage's convolutions output: the convolution's, its
/// BatchNorm's and its activation's outputs, kept for the backward pass, and the gradient
/// flowing back. Measured 8–13 at 224×224 from the peaks of two batch sizes: ResNet-18
/// fine-tuned whole took 30 MB more an image (2.7 million values; batches of 8 and 32),
/// MobileNetV2 85 MB (6.7 million; 8 and 32), ResNet-50 94 MB (11.3 million; 4 and 16).
pub const BYTES_PER_FINE_TUNED_VALUE: u64 = 14;
/// Bytes per value of a batch's encoder features (`positions × encoder_dim` a caption): a
/// cached batch is read into one array and made a tensor, which the decoder's backward pass
/// keeps (measured 4–6 with frozen ResNet-50 and MobileNetV2 features at 1024×1024; batches
/// of 2,048 such captions aborted on a 10.7 GB allocation).
pub const BYTES_PER_FEATURE_VALUE: u64 = 8;
/// Bytes per value of the largest layer of the frozen stages a fine-tuning batch runs through
/// first: a layer's input and its convolution's, BatchNorm's and activation's outputs live at
/// once, 4 bytes each (MobileNetV2 fine-tuning its last stage at 1024×1024 held 5.1 GB there,
/// where 4 bytes a value of the largest frozen stage counted 2.1 and the run aborted).
pub const BYTES_PER_FROZEN_VALUE: u64 = 16;
/// Bytes per trained weight of every data-parallel replica but the first: its weights and
/// their gradients.
pub const BYTES_PER_REPLICA_WEIGHT: u64 = 8;
/// What a run holds besides its model and its dataset (measured as it loads): the program, the
/// allocator's reserve, validation and the records.
pub const BASE_BYTES: u64 = 400 << 20;

/// What a run's step may use: its data-parallel replicas and the memory it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepBudget {
    pub devices: usize,
    /// `None`: unchecked.
    pub memory: Option<MemoryLimit>,
}

impl StepBudget {
    /// What the limit counts of this process now (0 without a limit): [`Self::less_since`]
    /// takes what was added after it.
    pub fn held(&self) -> u64 {
        self.memory.map_or(0, |limit| limit.counts.now())
    }

    /// The budget once what the process took since [`Self::held`] gave `before` (its dataset,
    /// loaded for the whole run) is held.
    pub fn less_since(self, before: u64) -> StepBudget {
        self.less(self.held().saturating_sub(before))
    }

    /// The budget once `bytes` more are held through the run.
    pub fn less(self, bytes: u64) -> StepBudget {
        let memory = self.memory.map(|limit| MemoryLimit {
            bytes: limit.bytes.saturating_sub(bytes),
            ..limit
        });
        StepBudget { memory, ..self }
    }
}

/// A training step's parts, counted in weights and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// The decoder's weights and those of the fine-tuned encoder stages.
    pub trained_weights: u64,
    /// The frozen encoder stages' weights.
    pub frozen_weights: u64,
    /// Values a batch's decoding computes (`batch_size` × steps × values a step and caption).
    pub decoding_values: u64,
    /// Values of a batch's encoder features (`batch_size` × positions × `encoder_dim`).
    pub feature_values: u64,
    /// Values the fine-tuned stages output for the batch.
    pub fine_tuned_values: u64,
    /// Values of the frozen stages' largest layer for the batch, when they run inside the step.
    pub frozen_values: u64,
    /// The most data-parallel replicas a step runs (at most one a row of the batch): each holds
    /// its own gradients.
    pub devices: u64,
}

impl Footprint {
    /// The parts of a step of `config` on `model` over `devices` replicas.
    pub fn of(config: &TrainConfig, model: &ModelConfig, devices: usize) -> Footprint {
        // Training's inputs are square; a non-square one counts as a square of its longer side.
        let [height, width] = model.preprocess.size;
        let stages = stage_costs(&model.encoder, height.max(width));
        let first_trained = stages.len().saturating_sub(config.fine_tune_stages);
        let (frozen, trained) = stages.split_at(first_trained);
        let batch = config.batch_size as u64;
        let steps = config.max_caption_tokens as u64 + 1;
        let sum = |costs: &[_], f: fn(&glimpse_model::encoder::StageCost) -> u64| {
            costs.iter().map(f).fold(0, u64::saturating_add)
        };
        let fine_tuning = config.fine_tune_stages > 0;
        Footprint {
            trained_weights: model
                .decoder_weights()
                .saturating_add(sum(trained, |c| c.weights)),
            frozen_weights: sum(frozen, |c| c.weights),
            decoding_values: model.step_values().saturating_mul(steps).saturating_mul(batch),
            feature_values: (model.positions() as u64)
                .saturating_mul(model.encoder_dim() as u64)
                .saturating_mul(batch),
            fine_tuned_values: sum(trained, |c| c.values).saturating_mul(batch),
            frozen_values: match fine_tuning {
                true => frozen
                    .iter()
                    .map(|c| c.largest)
                    .max()
                    .unwrap_or(0)
                    .saturating_mul(batch),
                false => 0, // the frozen encoder runs outside the step, a few images at a time
            },
            devices: most_replicas(config.batch_size, devices) as u64,
        }
    }

    /// The parts in bytes, named for messages.
    fn parts(&self) -> [(&'static str, u64); 6] {
        // Every replica but the first holds its own gradients and a forked copy of the weights.
        let replicas = self
            .devices
            .saturating_sub(1)
            .saturating_mul(BYTES_PER_REPLICA_WEIGHT);
        [
            (
                "trained weights",
                self.trained_weights
                    .saturating_mul(BYTES_PER_TRAINED_WEIGHT.saturating_add(replicas)),
            ),
            (
                "frozen weights",
                self.frozen_weights.saturating_mul(BYTES_PER_FROZEN_WEIGHT),
            ),
            (
                "decoding",
                self.decoding_values.saturating_mul(BYTES_PER_DECODING_VALUE),
            ),
            (
                "features",
                self.feature_values.saturating_mul(BYTES_PER_FEATURE_VALUE),
            ),
            (
                "fine-tuned encoder",
                self.fine_tuned_values.saturating_mul(BYTES_PER_FINE_TUNED_VALUE),
            ),
            (
                "frozen encoder",
                self.frozen_values.saturating_mul(BYTES_PER_FROZEN_VALUE),
            ),
        ]
    }

    /// The estimated peak of a step, in bytes.
    pub fn bytes(&self) -> u64 {
        self.parts()
            .iter()
            .fold(BASE_BYTES, |sum, (_, bytes)| sum.saturating_add(*bytes))
    }

    /// Refuses a step estimated to take more than `limit` (no check where no limit is known).
    pub fn check(&self, limit: Option<MemoryLimit>) -> Result<()> {
        let Some(limit) = limit else { return Ok(()) };
        if self.bytes() <= limit.bytes {
            return Ok(());
        }
        bail!(
            "a training step would take about {}, over the {} that {} allows: lower `batch_size`, \
             `fine_tune_stages`, `input_size`, `attention_dim`, `decoder_dim` or the vocabulary \
             (`min_word_count`), or train where more memory is free",
            self.describe(),
            gigabytes(limit.bytes),
            limit.source
        )
    }

    /// The estimate and its parts, for messages: "2.10 GB (trained weights 1.13 GB, …)".
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .parts()
            .iter()
            .filter(|(_, bytes)| *bytes > 0)
            .map(|(what, bytes)| format!("{what} {}", gigabytes(*bytes)))
            .collect();
        format!(
            "{} ({}, and {} besides)",
            gigabytes(self.bytes()),
            parts.join(", "),
            gigabytes(BASE_BYTES)
        )
    }
}

/// `bytes` as gigabytes with two decimals.
fn gigabytes(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use glimpse_model::encoder::StageCost;

    use super::*;

    /// ResNet-50's stages at 224×224, as [`stage_costs`] counts them.
    fn resnet50_stages() -> Vec<StageCost> {
        stage_costs(&ModelConfig::notebook(5000).encoder, 224)
    }

    #[test]
    fn a_frozen_encoder_adds_its_weights_only() {
        let (config, model) = (TrainConfig::default(), ModelConfig::notebook(5000));
        let footprint = Footprint::of(&config, &model, 1);
        // torchvision's ResNet-50 without its classifier.
        assert_eq!(footprint.frozen_weights, 23_508_032);
        assert_eq!(footprint.trained_weights, model.decoder_weights());
        assert_eq!((footprint.fine_tuned_values, footprint.frozen_values), (0, 0));
        // A batch's cached features: 7×7 cells of 2,048 a caption.
        assert_eq!(footprint.feature_values, config.batch_size as u64 * 49 * 2048);
        let steps = config.max_caption_tokens as u64 + 1;
        let decoding = config.batch_size as u64 * steps * model.step_values();
        assert_eq!(footprint.decoding_values, decoding);
    }

    #[test]
    fn fine_tuning_counts_the_last_stages_and_the_largest_frozen_one() {
        let model = ModelConfig::notebook(5000);
        let stages = resnet50_stages();
        for tuned in 1..=5 {
            let config = TrainConfig {
                fine_tune_stages: tuned,
                ..TrainConfig::default()
            };
            let footprint = Footprint::of(&config, &model, 1);
            let (frozen, trained) = stages.split_at(5 - tuned);
            let batch = config.batch_size as u64;
            let trained_weights: u64 = trained.iter().map(|c| c.weights).sum();
            assert_eq!(
                footprint.trained_weights,
                model.decoder_weights() + trained_weights
            );
            let values: u64 = trained.iter().map(|c| c.values).sum();
            assert_eq!(footprint.fine_tuned_values, batch * values, "{tuned}");
            let largest = frozen.iter().map(|c| c.largest).max().unwrap_or(0);
            assert_eq!(footprint.frozen_values, batch * largest, "{tuned}");
        }
    }

    #[test]
    fn every_replica_adds_its_weights_and_gradients() {
        let (config, model) = (TrainConfig::default(), ModelConfig::notebook(5000));
        let [one, four] = [1, 4].map(|devices| Footprint::of(&config, &model, devices).bytes());
        assert_eq!(four - one, 3 * BYTES_PER_REPLICA_WEIGHT * model.decoder_weights());
        // A batch of 32 over 64 devices runs 32 replicas; 10 over 6 runs 5 (shares of 2), but a
        // last batch of 6 rows runs 6.
        let of = |batch_size, devices| {
            let config = TrainConfig {
                batch_size,
                ..TrainConfig::default()
            };
            Footprint::of(&config, &model, devices).devices
        };
        assert_eq!((of(32, 64), of(10, 6), of(10, 1), of(65, 64)), (32, 6, 1, 64));
    }

    #[test]
    fn a_step_past_the_limit_is_refused_naming_its_parts_and_the_limit() {
        let config = TrainConfig {
            fine_tune_stages: 5,
            ..TrainConfig::default()
        };
        let footprint = Footprint::of(&config, &ModelConfig::notebook(5000), 1);
        let bytes = footprint.bytes();
        let limit = |bytes| {
            Some(MemoryLimit {
                bytes,
                source: "a test's limit",
                counts: crate::memory::Counted::Resident,
            })
        };
        footprint.check(limit(bytes)).unwrap();
        footprint.check(None).unwrap();
        let error = footprint.check(limit(bytes - 1)).unwrap_err().to_string();
        for part in [
            "a training step would take about ",
            "trained weights ",
            "decoding ",
            "fine-tuned encoder ",
            "that a test's limit allows",
            "lower `batch_size`, `fine_tune_stages`",
        ] {
            assert!(error.contains(part), "`{part}` in {error}");
        }
    }

    /// A decoder at its cap and a batch whose decoding is at its cap each fit in 8 GB; together
    /// they do not, and the estimate says so.
    #[test]
    fn the_caps_together_are_over_what_each_allows() {
        use super::super::config::limits;
        let footprint = Footprint {
            trained_weights: limits::MAX_TRAINED_DECODER_WEIGHTS,
            frozen_weights: 0,
            decoding_values: limits::MAX_TRAINED_STEP_VALUES,
            feature_values: 0,
            fine_tuned_values: 0,
            frozen_values: 0,
            devices: 1,
        };
        assert!(footprint.bytes() > 8_000_000_000, "{}", footprint.describe());
    }
}
