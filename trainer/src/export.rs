//! `glimpse export`: a training run's checkpoint → the one-file weight bundle the page and
//! `glimpse caption` load, with a model card saying what it was trained on and how well it did.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_files::{caps, number_text, read_regular, rounded_text, shown};
use glimpse_model::{Bundle, CaptionModel, ModelCard};

use crate::backend::Backend;
use crate::card::today;
use crate::model_card::RANDOM_ENCODER;
use crate::train::checkpoint::{Checkpoint, EpochRecord};
use crate::train::config::TrainConfig;
use crate::train::{BEST, LAST};

/// Which checkpoint of the run to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Best,
    Last,
}

impl Which {
    pub const ALL: [Which; 2] = [Which::Best, Which::Last];

    /// The name `--which` takes.
    pub fn name(self) -> &'static str {
        match self {
            Which::Best => "best",
            Which::Last => "last",
        }
    }

    /// What it means, for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            Which::Best => "The epoch with the best validation BLEU-4",
            Which::Last => "The latest state",
        }
    }
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub run: PathBuf,
    pub which: Which,
    pub name: Option<String>,
    /// Replaces the generated description on the card.
    pub description: Option<String>,
}

/// The run's checkpoint as a bundle with its model card (the caller writes it).
pub fn export(request: &ExportRequest) -> Result<Bundle> {
    // A FIFO, a folder at best.safetensors' name, a link loop: each was "no best.safetensors".
    let run = fs::metadata(&request.run).with_context(|| format!("{}", shown(&request.run)))?;
    if run.is_file() {
        return stored_again(request);
    }
    if !run.is_dir() {
        bail!("{}: neither a run folder nor a bundle file", shown(&request.run));
    }
    let file = match request.which {
        Which::Best => BEST,
        Which::Last => LAST,
    };
    let path = request.run.join(file);
    match fs::metadata(&path) {
        Ok(found) if !found.is_file() => bail!("{}: not a regular file", shown(&path)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && fs::symlink_metadata(&path).is_ok() => {
            bail!("{}: a link to nothing", shown(&path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{}: no {file} (has this run finished an epoch? `--which last` exports the latest state)",
            shown(&request.run)
        ),
        Err(e) => bail!("{}: {e}", shown(&path)),
    }
    // Another run's best.safetensors dropped into the folder was exported as this run's, which
    // a resume refuses (hostile round 23).
    let last = request.run.join(LAST);
    match request.which {
        Which::Best if last.is_file() => {
            let (config, state) = Checkpoint::read_state(&last).with_context(|| {
                format!(
                    "{BEST} is checked against {LAST}, which cannot be read (nor exported with `--which last`)"
                )
            })?;
            crate::train::check_best(&request.run, &config, &state)?;
        }
        // Without a last to compare with, by its own progress (a `last` moved over it went out
        // under the best epoch's card: hostile round 25).
        Which::Best => drop(crate::train::read_best_state(&path)?),
        Which::Last => {}
    }
    let checkpoint = Checkpoint::read(&path)?;
    // Every tensor present and shaped as its model's (and a number: Checkpoint::read): a
    // checkpoint edited elsewhere was written as a bundle that no command could then load.
    let cannot = || format!("{}: cannot be exported", shown(&path));
    let device = Backend::first_built().device()?;
    CaptionModel::from_weights(&checkpoint.model_config, &checkpoint.weights, &device)
        .with_context(cannot)?;
    let mut bundle = to_bundle(checkpoint, &path, request.name.clone(), today()?);
    if let Some(description) = &request.description {
        bundle.card.description = description.clone();
    }
    Ok(bundle)
}

/// A bundle file read back to be written again (with another storage), its card's name and
/// description replaced when the request gives them.
fn stored_again(request: &ExportRequest) -> Result<Bundle> {
    let bytes = read_regular(&request.run, caps::MODEL, "model")?;
    let mut bundle = Bundle::from_bytes(&bytes)
        .with_context(|| format!("{}: cannot read the bundle", shown(&request.run)))?;
    if let Some(name) = &request.name {
        bundle.card.name = name.clone();
    }
    if let Some(description) = &request.description {
        bundle.card.description = description.clone();
    }
    Ok(bundle)
}

/// `created` is the card's date ([`today`]).
fn to_bundle(checkpoint: Checkpoint, path: &Path, name: Option<String>, created: String) -> Bundle {
    let state = &checkpoint.state;
    let train = &checkpoint.train_config;
    // The card reports the exported weights' own validation scores: none for weights saved
    // within an epoch (`--which last` of a paused run), which the last scores were not measured
    // on (its card gave them as the model's: review 66).
    let exported_epoch = state
        .history
        .iter()
        .rev()
        .find(|r| Some(r.epoch) == state.best_epoch && path.ends_with(BEST));
    let record = exported_epoch.or(state.history.last().filter(|r| r.step == state.step));
    let unvalidated = match record {
        Some(_) => String::new(),
        None => format!(
            " (saved after {} batches of epoch {}: not validated)",
            state.batch_in_epoch,
            state.epoch + 1
        ),
    };
    let arch = checkpoint.model_config.encoder.arch.name();
    Bundle {
        card: ModelCard {
            name: name.unwrap_or_else(|| format!("{arch} on {}", state.dataset)),
            description: format!(
                "Show, Attend and Tell captioner trained with glimpse train: {arch} encoder, embeddings {}, attention {}, LSTM {}.",
                train.embed_dim, train.attention_dim, train.decoder_dim
            ),
            trained_on: state.dataset.clone(),
            decoder_trained: true,
            encoder_weights: encoder_weights(train),
            metrics: record.map(validation_metrics).unwrap_or_default(),
            epochs: record.and_then(|r| u32::try_from(r.epoch).ok()),
            created,
            notes: format!(
                "{} steps{unvalidated}, {} s of training; batch {}, decoder lr {}, λ {}, seed {}",
                record.map_or(state.step, |r| r.step),
                rounded_text(state.train_seconds, 0),
                train.batch_size,
                number_text(train.decoder_lr),
                number_text(train.alpha_c),
                train.seed
            ),
        },
        config: checkpoint.model_config,
        vocab: checkpoint.vocab,
        weights: checkpoint.weights,
    }
}

/// An epoch's validation scores by the card's metric names.
fn validation_metrics(record: &EpochRecord) -> BTreeMap<String, f64> {
    let mut metrics = BTreeMap::new();
    for (k, v) in record.bleu.iter().enumerate() {
        metrics.insert(format!("val_Bleu_{}", k + 1), *v);
    }
    metrics.insert("val_loss".to_string(), record.val_loss);
    metrics
}

/// Where the encoder's weights came from and whether training changed them.
fn encoder_weights(train: &TrainConfig) -> String {
    match &train.encoder_weights {
        Some(file) => format!(
            "{} ({})",
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            if train.encoder_int8 {
                "frozen, rounded to int8 storage".to_string()
            } else if train.fine_tune_stages == 0 {
                "frozen".to_string()
            } else {
                format!("last {} stages fine-tuned", train.fine_tune_stages)
            }
        ),
        // Frozen random weights were carded "trained from scratch" (hostile round 24).
        None => match train.fine_tune_stages {
            0 => format!("{RANDOM_ENCODER}, frozen (never trained)"),
            stages => format!("{RANDOM_ENCODER}, its last {stages} stages trained"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoder_started_from_random_weights_is_carded_so() {
        let mut config = TrainConfig {
            encoder_weights: None,
            ..TrainConfig::default()
        };
        assert_eq!(encoder_weights(&config), "random weights, frozen (never trained)");
        config.fine_tune_stages = 2;
        assert_eq!(
            encoder_weights(&config),
            "random weights, its last 2 stages trained"
        );
    }
}
