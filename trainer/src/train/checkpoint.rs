//! Training checkpoints: one safetensors file holding the model's weights (f32, PyTorch names,
//! so Python's `safetensors` reads them), the optimizer state (burn's burnpack bytes as a `U8`
//! tensor), and in its metadata the model config, vocabulary, training config and progress.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the folder): a crash or `kill -9`
//! at any moment leaves either the previous checkpoint or the new one, never half a file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use glimpse_files::{caps, open_regular, read_regular, shown, terminal_safe};
use glimpse_model::bundle::{CONFIG_KEY, MAX_HEADER_BYTES, StoredTensor, VOCAB_KEY, write_safetensors};
use glimpse_model::{HostTensor, ModelConfig, TensorMap, Vocabulary};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;

/// Metadata keys beside the bundle's [`CONFIG_KEY`] and [`VOCAB_KEY`].
const TRAIN_KEY: &str = "glimpse.train_config";
const STATE_KEY: &str = "glimpse.train_state";
const DECODER_OPTIM: &str = "optimizer.decoder";
const ENCODER_OPTIM: &str = "optimizer.encoder";

/// One epoch's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub step: u64,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Validation BLEU-1..4 (coco-caption's corpus BLEU).
    pub bleu: [f64; 4],
    pub decoder_lr: f64,
    pub encoder_lr: f64,
    /// Training samples (image–caption pairs) per second in this epoch.
    pub samples_per_s: f64,
    pub seconds: f64,
}

impl EpochRecord {
    /// What `metrics.csv` and the loss figure are drawn from: an edited record printed numbers of
    /// 309 digits and put NaN coordinates into `loss.svg`. Checked when a record is made too, so
    /// that no run writes a checkpoint its resume would refuse.
    pub(super) fn check(&self) -> Result<()> {
        if self.epoch as u64 > MAX_STEP || self.step > MAX_STEP {
            bail!("epoch {} or step {} is past any run", self.epoch, self.step);
        }
        if let Some(bleu) = self.bleu.iter().find(|b| !(0.0..=1.0).contains(*b)) {
            bail!("a BLEU score of {bleu:?} is not in [0, 1]");
        }
        for (field, loss) in [("train_loss", self.train_loss), ("val_loss", self.val_loss)] {
            if !is_loss(loss) {
                bail!("field `{field}` {loss:?} is not a loss (a number from 0 to the largest f32)");
            }
        }
        check_measures(&[
            ("decoder_lr", self.decoder_lr),
            ("encoder_lr", self.encoder_lr),
            ("samples_per_s", self.samples_per_s),
            ("seconds", self.seconds),
        ])
    }
}

/// Whether `value` can be a loss, as the loss figures draw it: computed in f32, never negative
/// (a larger one drew an infinite tick in `loss.svg`: hostile round 21; review 68).
pub(super) fn is_loss(value: f64) -> bool {
    (0.0..=f64::from(f32::MAX)).contains(&value)
}

/// Sums, rates and times: each finite and not negative.
fn check_measures(measures: &[(&str, f64)]) -> Result<()> {
    for &(field, value) in measures {
        if !(value.is_finite() && value >= 0.0) {
            bail!("field `{field}` must be a finite number of at least 0, got {value:?}");
        }
    }
    Ok(())
}

/// Where training stands. Together with the seed this is the whole random state: the batch
/// order of epoch `e` is drawn from (seed, e) and the dropout mask of row `r` of step `s`'s batch
/// from (seed, s, r), so a resumed run draws exactly what the uninterrupted run would have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub data: PathBuf,
    pub dataset: String,
    /// [`data_fingerprint`](super::run::data_fingerprint) of the data the run started on; a
    /// resume refuses other data. Absent in checkpoints written before it was kept.
    #[serde(default)]
    pub data_fingerprint: Option<String>,
    /// [`readable_fingerprint`](super::run::readable_fingerprint) of the train images that
    /// could be read when the run last started: an epoch's batch order is drawn over them, so a
    /// resume within the epoch over others starts it again. Absent in older checkpoints.
    #[serde(default)]
    pub readable_train: Option<String>,
    /// The epoch in progress (0-based).
    pub epoch: usize,
    /// Batches of `epoch` already trained.
    pub batch_in_epoch: usize,
    /// Optimizer steps taken in all.
    pub step: u64,
    /// Running sums over the batches of `epoch` done so far (they survive a resume).
    pub epoch_loss_sum: f64,
    pub epoch_samples: usize,
    pub epoch_seconds: f64,
    pub best_bleu4: Option<f64>,
    pub best_epoch: Option<usize>,
    pub epochs_without_improvement: usize,
    /// Set when training ended (all epochs, or early stopping).
    pub finished: bool,
    pub train_seconds: f64,
    pub history: Vec<EpochRecord>,
}

/// The longest dataset name a checkpoint may hold: the card it is exported with is named
/// "`arch` on `dataset`", within the card's limit (a fresh run's name, a data folder's in lossy
/// UTF-8, is at most 765 bytes).
const MAX_DATASET_BYTES: usize = glimpse_model::bundle::MAX_CARD_TEXT_BYTES - 64;

/// The most optimizer steps a run may have taken: far past any run, and low enough that the
/// steps still to come cannot overflow the count (an edited checkpoint's 2^64 − 1 wrapped to 0).
pub const MAX_STEP: u64 = 1 << 53;

impl TrainState {
    /// Checks a resumed run's progress against its training config, as [`TrainConfig::validate`]
    /// checks the config: an edited checkpoint once resumed "at epoch 0" past its last epoch,
    /// skipped an epoch and reported a made-up loss, or printed a best score of 309 digits.
    /// (`batch_in_epoch` is checked once the data says how many batches an epoch has.)
    pub fn check(&self, config: &TrainConfig) -> Result<()> {
        let counts = [
            ("epoch", self.epoch as u64, config.epochs as u64),
            ("step", self.step, MAX_STEP),
            (
                "epochs_without_improvement",
                self.epochs_without_improvement as u64,
                self.epoch as u64,
            ),
        ];
        for (field, value, max) in counts {
            if value > max {
                bail!("field `{field}` must be at most {max}, got {value}");
            }
        }
        // SHA-256s in hex: another was blamed on the data ("not those this run was trained on").
        let fingerprints = [
            ("data_fingerprint", &self.data_fingerprint),
            ("readable_train", &self.readable_train),
        ];
        for (field, fingerprint) in fingerprints {
            if let Some(fingerprint) = fingerprint
                && !(fingerprint.len() == 64
                    && fingerprint
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            {
                bail!("field `{field}` is not a SHA-256 in hex (64 of 0-9, a-f), so the file is damaged");
            }
        }
        // Kept on the exported card: a longer one trained for hours, then could not be exported.
        if self.dataset.len() > MAX_DATASET_BYTES {
            bail!(
                "field `dataset` is {} bytes long, over the limit of {MAX_DATASET_BYTES}",
                self.dataset.len()
            );
        }
        self.check_history()?;
        let samples = self.batch_in_epoch.checked_mul(config.batch_size);
        if samples.is_none_or(|most| self.epoch_samples > most) {
            bail!(
                "field `epoch_samples` {} is more than {} batches of {} hold",
                self.epoch_samples,
                self.batch_in_epoch,
                config.batch_size
            );
        }
        check_measures(&[
            ("epoch_loss_sum", self.epoch_loss_sum),
            ("epoch_seconds", self.epoch_seconds),
            ("train_seconds", self.train_seconds),
        ])?;
        self.check_best()
    }

    /// One record per epoch done, in order, and `step` where they leave off plus the batches of
    /// the epoch in progress: an edited `step` below them cut `steps.csv` back and restarted the
    /// dropout masks' stream.
    fn check_history(&self) -> Result<()> {
        if self.history.len() != self.epoch {
            bail!(
                "field `history` holds {} epochs' records, but field `epoch` says {} are done",
                self.history.len(),
                self.epoch
            );
        }
        let mut steps_done = 0;
        for (i, record) in self.history.iter().enumerate() {
            record.check().map_err(|e| anyhow!("field `history[{i}]`: {e}"))?;
            if record.epoch != i + 1 || record.step < steps_done {
                bail!(
                    "field `history[{i}]` (epoch {}, step {}) does not follow the epochs before it",
                    record.epoch,
                    record.step
                );
            }
            steps_done = record.step;
        }
        let expected = steps_done.checked_add(self.batch_in_epoch as u64);
        if expected != Some(self.step) {
            bail!(
                "field `step` is {}, but the epochs done end at step {steps_done} and field \
                 `batch_in_epoch` is {}",
                self.step,
                self.batch_in_epoch
            );
        }
        Ok(())
    }

    /// The best score so far: a BLEU-4 in [0, 1] of one of the epochs done, or none yet.
    fn check_best(&self) -> Result<()> {
        match (self.best_bleu4, self.best_epoch) {
            (None, None) => Ok(()),
            (Some(bleu4), Some(epoch))
                if (0.0..=1.0).contains(&bleu4) && (1..=self.epoch).contains(&epoch) =>
            {
                Ok(())
            }
            (bleu4, epoch) => bail!(
                "fields `best_bleu4` {bleu4:?} and `best_epoch` {epoch:?} must be a BLEU-4 in [0, 1] and \
                 one of the {} epochs done, or both null",
                self.epoch
            ),
        }
    }
}

/// Everything a checkpoint holds.
pub struct Checkpoint {
    pub model_config: ModelConfig,
    pub vocab: Vocabulary,
    pub train_config: TrainConfig,
    pub state: TrainState,
    pub weights: TensorMap,
    pub decoder_optimizer: Vec<u8>,
    pub encoder_optimizer: Option<Vec<u8>>,
}

impl Checkpoint {
    /// The weights as F32 and the optimizer states as U8 tensors, the model, vocabulary,
    /// training config and progress in the metadata (the model as a bundle holds it).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tensors: Vec<StoredTensor> = self
            .weights
            .iter()
            .map(|(name, tensor)| StoredTensor::f32(name, tensor))
            .collect();
        tensors.push(optimizer_tensor(DECODER_OPTIM, &self.decoder_optimizer));
        if let Some(bytes) = &self.encoder_optimizer {
            tensors.push(optimizer_tensor(ENCODER_OPTIM, bytes));
        }
        let extra = [
            (TRAIN_KEY, serde_json::to_string(&self.train_config)?),
            (STATE_KEY, serde_json::to_string(&self.state)?),
        ];
        Ok(write_safetensors(
            "the checkpoint",
            &tensors,
            &self.model_config,
            &self.vocab,
            extra,
        )?)
    }

    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let at = || path.display().to_string();
        // Read as a bundle's header is first: the crate holds every entry whole.
        glimpse_model::bundle::check_tensor_entries(bytes)
            .map_err(|e| anyhow!("{}: not a glimpse training checkpoint: {e}", at()))?;
        // (Cut short or padded: said so, where the crate's words were "incomplete metadata, file
        // not fully covered": hostile round 24.)
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| {
            let why = match glimpse_model::bundle::file_error(e, bytes) {
                glimpse_model::Error::Truncated(why) => format!("cut short: {why}"),
                glimpse_model::Error::NotSafetensors(why) => format!("not a checkpoint: {why}"),
                other => other.to_string(),
            };
            anyhow!("{}: {why}", at())
        })?;
        let entries = metadata.metadata().clone().unwrap_or_default();
        let field = |key: &str| {
            entries.get(key).ok_or_else(|| {
                anyhow!(
                    "{}: metadata `{key}` missing: not a glimpse training checkpoint",
                    at()
                )
            })
        };
        let model_config =
            ModelConfig::from_json(field(CONFIG_KEY)?).map_err(|e| anyhow!("{}: {CONFIG_KEY}: {e}", at()))?;
        let vocab =
            Vocabulary::from_json(field(VOCAB_KEY)?).map_err(|e| anyhow!("{}: {VOCAB_KEY}: {e}", at()))?;
        // A longer vocabulary panicked in the embedding on resume; a shorter one trained a run
        // that `export` then refused.
        model_config
            .check_vocabulary(&vocab)
            .map_err(|e| anyhow!("{}: {VOCAB_KEY}: {e}", at()))?;
        let train_config: TrainConfig =
            serde_json::from_str(field(TRAIN_KEY)?).map_err(|e| anyhow!("{}: {TRAIN_KEY}: {e}", at()))?;
        let state: TrainState =
            serde_json::from_str(field(STATE_KEY)?).map_err(|e| anyhow!("{}: {STATE_KEY}: {e}", at()))?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| anyhow!("{}: {e}", at()))?;
        check_sizes(&tensors, &model_config).map_err(|e| anyhow!("{}: {e}", at()))?;
        let mut weights = TensorMap::new();
        let (mut decoder_optimizer, mut encoder_optimizer) = (None, None);
        for (name, view) in tensors.iter() {
            // (Dtypes are `check_sizes`'s: U8 optimizer states, F32 weights.)
            match name {
                DECODER_OPTIM => decoder_optimizer = Some(view.data().to_vec()),
                ENCODER_OPTIM => encoder_optimizer = Some(view.data().to_vec()),
                _ => {
                    let data = view
                        .data()
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    let tensor = HostTensor::new(view.shape().to_vec(), data)
                        .map_err(|e| anyhow!("{}: `{name}`: {e}", at()))?;
                    weights.insert(name, tensor);
                }
            }
        }
        Ok(Checkpoint {
            model_config,
            vocab,
            train_config,
            state,
            weights,
            decoder_optimizer: decoder_optimizer
                .ok_or_else(|| anyhow!("{}: tensor `{DECODER_OPTIM}` missing", at()))?,
            encoder_optimizer,
        })
    }

    /// Reads a checkpoint file: a regular file of at most [`caps::MODEL`] bytes, its training
    /// config valid as a fresh start's and its progress consistent with that config (an edited
    /// run folder exported a card of epoch 4294967297 as epoch 1, and BLEU-4 scores of 9).
    /// Every weight a number: a NaN resumed was blamed on the feature cache it went into, or on
    /// the learning rates. Resuming checks more: that the run can go on
    /// ([`TrainConfig::check_trainable`]).
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let bytes = read_regular(path, caps::MODEL, "checkpoint")?;
        let checkpoint = Checkpoint::from_bytes(&bytes, path)?;
        checkpoint
            .weights
            .check_values()
            .with_context(|| format!("{}", shown(path)))?;
        // (`export` too: it described layer sizes its model did not have, review 66.)
        checkpoint
            .train_config
            .validate()
            .and_then(|()| same_model(&checkpoint.train_config, &checkpoint.model_config))
            .with_context(|| format!("{}: the training config it holds", shown(path)))?;
        checkpoint
            .state
            .check(&checkpoint.train_config)
            .with_context(|| format!("{}: the training progress it holds", shown(path)))?;
        Ok(checkpoint)
    }

    /// The training config and progress of the checkpoint at `path`, from its header alone: what
    /// a resume checks the run's `best.safetensors` by, without reading its weights.
    pub fn read_state(path: &Path) -> Result<(TrainConfig, TrainState)> {
        /// A header's metadata; its tensor entries are skipped unread.
        #[derive(Deserialize)]
        struct Header {
            #[serde(rename = "__metadata__")]
            metadata: BTreeMap<String, String>,
        }
        let at = || shown(path).to_string();
        let (mut file, size) = open_regular(path, "checkpoint")?;
        if size < 8 {
            bail!("{}: {size} bytes, too short for a checkpoint", at());
        }
        let mut prefix = [0; 8];
        file.read_exact(&mut prefix).with_context(at)?;
        let length = u64::from_le_bytes(prefix);
        if length > MAX_HEADER_BYTES as u64 {
            bail!(
                "{}: a header of {length} bytes, past the format's limit: not a checkpoint",
                at()
            );
        }
        // Worded as the whole file's reader words it (hostile round 26).
        let follow = size - 8;
        if length > follow {
            bail!(
                "{}: cut short: the header is declared as {length} bytes but only {follow} bytes follow",
                at()
            );
        }
        let mut header = vec![0; length as usize];
        file.read_exact(&mut header).with_context(at)?;
        let header: Header =
            serde_json::from_slice(&header).map_err(|e| anyhow!("{}: not a checkpoint: {e}", at()))?;
        let field = |key: &str| {
            header.metadata.get(key).ok_or_else(|| {
                anyhow!(
                    "{}: metadata `{key}` missing: not a glimpse training checkpoint",
                    at()
                )
            })
        };
        let config: TrainConfig =
            serde_json::from_str(field(TRAIN_KEY)?).map_err(|e| anyhow!("{}: {TRAIN_KEY}: {e}", at()))?;
        let state: TrainState =
            serde_json::from_str(field(STATE_KEY)?).map_err(|e| anyhow!("{}: {STATE_KEY}: {e}", at()))?;
        // As `read` checks it: a damaged progress was trusted, and export blamed the other file
        // for it (hostile round 24).
        state
            .check(&config)
            .with_context(|| format!("{}: the training progress it holds", at()))?;
        Ok((config, state))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        Ok(crate::files::write_atomically(path, &self.to_bytes()?)?)
    }
}

/// A run's model is the one its training config describes: a checkpoint whose two disagree was
/// edited, and resuming silently used the model's and saved both back (the dropout, then the
/// encoder, input size and layer sizes: hostile round 11).
fn same_model(config: &TrainConfig, model: &ModelConfig) -> Result<()> {
    let (attention, decoder) = (&model.attention, &model.decoder);
    let input = config.input_size;
    let fields = [
        (
            "dropout",
            "decoder.dropout",
            config.dropout == decoder.dropout,
            config.dropout.to_string(),
            decoder.dropout.to_string(),
        ),
        (
            "embed_dim",
            "decoder.embed_dim",
            config.embed_dim == decoder.embed_dim,
            config.embed_dim.to_string(),
            decoder.embed_dim.to_string(),
        ),
        (
            "decoder_dim",
            "decoder.decoder_dim",
            config.decoder_dim == decoder.decoder_dim,
            config.decoder_dim.to_string(),
            decoder.decoder_dim.to_string(),
        ),
        (
            "attention_dim",
            "attention.dim",
            config.attention_dim == attention.dim,
            config.attention_dim.to_string(),
            attention.dim.to_string(),
        ),
        (
            "attention_activation",
            "attention.activation",
            config.attention_activation == attention.activation,
            format!("{:?}", config.attention_activation),
            format!("{:?}", attention.activation),
        ),
        (
            "gate",
            "attention.gate",
            config.gate == attention.gate,
            config.gate.to_string(),
            attention.gate.to_string(),
        ),
        (
            "input_size",
            "preprocess.size",
            [input, input] == model.preprocess.size,
            input.to_string(),
            format!("{:?}", model.preprocess.size),
        ),
        (
            "encoder",
            "encoder.arch",
            config.arch().ok() == Some(model.encoder.arch),
            config.encoder.clone(),
            model.encoder.arch.name().to_string(),
        ),
    ];
    if let Some((field, path, _, ours, models)) = fields.into_iter().find(|(_, _, same, _, _)| !same) {
        bail!(
            "field `{}` is {} but the model's {path} is {}; they must agree",
            field,
            terminal_safe(&ours),
            terminal_safe(&models)
        );
    }
    Ok(())
}

/// Checks a checkpoint's tensors from its header, before any is copied: the weights as a
/// bundle's are (none the model lacks, none larger than the model's of its name), and each
/// optimizer state no larger than Adam's two moments of those weights, with room for its
/// names. A 4 GiB checkpoint of unknown tensors was converted whole, twice its size, before
/// the model refused it (review 66).
fn check_sizes(tensors: &SafeTensors<'_>, model: &ModelConfig) -> Result<()> {
    let is_optimizer = |name: &str| name == DECODER_OPTIM || name == ENCODER_OPTIM;
    // Dtypes first: beside an I8 tensor, an F32 one named as its int8 scale would pass the check
    // below unmeasured (review 67).
    for (name, view) in tensors.iter() {
        let wanted = if is_optimizer(name) { Dtype::U8 } else { Dtype::F32 };
        if view.dtype() != wanted {
            bail!(
                "tensor `{name}` has dtype {:?}; checkpoints hold {wanted:?} there",
                view.dtype()
            );
        }
    }
    let weights: BTreeMap<&str, TensorView<'_>> =
        tensors.iter().filter(|(name, _)| !is_optimizer(name)).collect();
    glimpse_model::bundle::check_names_and_shapes(model, &weights)?;
    for (name, view) in tensors.iter().filter(|(name, _)| is_optimizer(name)) {
        // Each trains one part: bounded by the whole model, a frozen run's decoder state could
        // be 48 times its size (hostile round 21).
        let part = if name == DECODER_OPTIM {
            "decoder."
        } else {
            "encoder."
        };
        let part: Vec<&TensorView> = weights
            .iter()
            .filter(|(weight, _)| weight.starts_with(part))
            .map(|(_, view)| view)
            .collect();
        let weight_bytes: u64 = part.iter().map(|view| view.data().len() as u64).sum();
        let most = weight_bytes
            .saturating_mul(2)
            .saturating_add(OPTIMIZER_BYTES_PER_WEIGHT.saturating_mul(part.len() as u64))
            .saturating_add(OPTIMIZER_BYTES_BASE);
        let bytes = view.data().len() as u64;
        if bytes > most {
            bail!(
                "tensor `{name}` holds {bytes} bytes, more than Adam's state of the {} weights of {weight_bytes} bytes it trains can ({most})",
                part.len()
            );
        }
    }
    Ok(())
}

/// Room in an optimizer state for each weight's names and record, and for the file's own: far
/// more than burnpack writes (a few hundred bytes per weight).
const OPTIMIZER_BYTES_PER_WEIGHT: u64 = 16 << 10;
const OPTIMIZER_BYTES_BASE: u64 = 1 << 20;

/// An optimizer's burnpack bytes as a `U8` tensor of shape `[len]`.
fn optimizer_tensor(name: &str, bytes: &[u8]) -> StoredTensor {
    StoredTensor {
        name: name.to_string(),
        dtype: Dtype::U8,
        shape: vec![bytes.len()],
        bytes: bytes.to_vec(),
    }
}
