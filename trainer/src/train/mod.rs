//! `glimpse train`: teacher-forced training of the captioner with the doubly stochastic
//! attention loss, Adam (separate encoder and decoder learning rates), value clipping of
//! gradients, a step learning-rate schedule, validation BLEU-4 with early stopping, and
//! checkpoints that a crash, `kill -9` or Ctrl-C cannot corrupt and `--resume` continues exactly.
//!
//! Run folder: `config.json` (the training config), `vocab.json`, `data-problems.txt`,
//! `last.safetensors` / `best.safetensors` (checkpoints), `steps.csv` (loss per step),
//! `metrics.csv` (per epoch), `loss.svg`, `bleu.svg`, and `.glimpse-lock`, which the run holds
//! locked while it runs so that a second run into the folder is refused.
//!
//! [`run`] (`run.rs`) opens or resumes the run and sets everything up; the trainer
//! (`trainer.rs`) walks the epochs, building batches (`batch.rs`), validating (`validate.rs`),
//! drawing dropout masks (`dropout.rs`) and keeping the run's records (`records.rs`).

mod batch;
mod best;
pub mod checkpoint;
pub mod config;
pub mod curves;
mod dropout;
pub mod features;
pub mod footprint;
pub mod init;
pub mod loss;
mod optimizer_state;
mod records;
mod run;
pub mod step;
mod trainer;
mod validate;

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::Device;

use checkpoint::TrainState;
use config::TrainConfig;
use footprint::StepBudget;

use crate::memory::MemoryLimit;

pub(crate) use best::{check_best, read_best_state};
pub use run::run;

pub const LAST: &str = "last.safetensors";
pub const BEST: &str = "best.safetensors";
const CONFIG: &str = "config.json";
const VOCAB: &str = "vocab.json";
const STEPS: &str = "steps.csv";
const METRICS: &str = "metrics.csv";
const LOSS_CHART: &str = "loss.svg";
const BLEU_CHART: &str = "bleu.svg";
const DATA_PROBLEMS: &str = "data-problems.txt";
/// Every file a run writes in its folder: each is checked before any work, so that a FIFO at
/// one of them does not end the run after its first epoch.
const RUN_FILES: [&str; 9] = [
    LAST,
    BEST,
    CONFIG,
    VOCAB,
    STEPS,
    METRICS,
    LOSS_CHART,
    BLEU_CHART,
    DATA_PROBLEMS,
];

/// Refuses a new run whose folder would replace one of `inputs` (`(flag, path)`): at one of
/// [`RUN_FILES`], or at one of its temporary names, which a run removes on starting as left by
/// a killed one (a `--config` named `.config.json.glimpse-tmp` in the run folder was deleted,
/// hostile round 11).
pub fn refuse_run_files_over_inputs(run: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    for name in RUN_FILES {
        let staged = inputs
            .iter()
            .copied()
            .find(|(_, input)| is_staged_in(input, run, name));
        if let Some((flag, input)) = glimpse_files::output_over_input(&run.join(name), inputs).or(staged) {
            anyhow::bail!(
                "{flag} {} is where the run writes its {name} (or that file's temporary copy); move it or choose another run folder",
                glimpse_files::shown(input)
            );
        }
    }
    Ok(())
}

/// Whether `input`, as named or where its links lead, lies in the folder `run` under one of
/// `name`'s temporary names (the verifier: a `--config` linking to one was deleted).
fn is_staged_in(input: &Path, run: &Path, name: &str) -> bool {
    let resolved = input.canonicalize().ok();
    [Some(input), resolved.as_deref()]
        .into_iter()
        .flatten()
        .any(|path| {
            let (Some(file_name), Some(folder)) = (path.file_name(), path.parent()) else {
                return false;
            };
            let folder = if folder.as_os_str().is_empty() {
                Path::new(".")
            } else {
                folder
            };
            glimpse_files::is_staged_name(file_name, name.as_ref()) && glimpse_files::same_file(folder, run)
        })
}

/// Random streams, one per purpose (see [`TrainState`]).
const ORDER_STREAM: u64 = 1 << 32;
const DROPOUT_STREAM: u64 = 2 << 32;

/// Everything `glimpse train` is told.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The data folder (recorded in the checkpoint; optional when resuming).
    pub data: Option<PathBuf>,
    pub run: PathBuf,
    /// A new run's config (ignored when resuming: the checkpoint has it).
    pub config: TrainConfig,
    pub resume: bool,
    /// The devices to train on: one, or several for data-parallel training (the first one
    /// also initialises the model and holds the optimiser).
    pub devices: Vec<Device>,
    /// The backend's name, for messages ("flex", "wgpu", …).
    pub backend_name: &'static str,
    /// The memory a training step may take, read before anything is loaded
    /// ([`crate::memory::limit`]); `None` leaves it unchecked (a GPU's own memory, which no
    /// backend reports).
    pub memory: Option<MemoryLimit>,
    /// Save `last.safetensors` every this many steps as well as after every epoch (0: epochs only).
    pub checkpoint_every: u64,
    /// Stop (saving a checkpoint) after this many steps in all; for benchmarks and tests.
    pub max_steps: Option<u64>,
}

impl TrainRequest {
    /// What a step of this run may use.
    fn budget(&self) -> StepBudget {
        StepBudget {
            devices: self.devices.len(),
            memory: self.memory,
        }
    }

    fn first_device(&self) -> Result<&Device> {
        self.devices
            .first()
            .ok_or_else(|| anyhow::anyhow!("no device to train on"))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainOutcome {
    /// All epochs done or stopped early; the state says which.
    Finished(TrainState),
    /// Ctrl-C / SIGTERM, or `max_steps`: saved, resumable.
    Paused(TrainState),
}
