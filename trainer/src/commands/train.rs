//! `glimpse train`: train a captioner, or resume a run where it stopped.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use glimpse::backend::{Backend, MAX_DEVICES};
use glimpse::memory;
use glimpse::train::config::TrainConfig;
use glimpse::train::{self, TrainOutcome, TrainRequest};
use glimpse_files::say;

use super::Exit;

#[derive(Args)]
#[command(
    after_help = "Example:\n  glimpse train --data data/shapes --out runs/shapes --config config.json --encoder-weights mobilenet_v2-b0353104.pth"
)]
pub struct TrainArgs {
    /// The data folder (optional with --resume: the run remembers it).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The run folder (checkpoints, metrics, curves).
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Training config (JSON); every field optional.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in this folder exactly where it stopped.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// Overrides the config's epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Overrides the config's encoder weights (torchvision .pth).
    #[arg(long)]
    encoder_weights: Option<PathBuf>,
    /// Compute backend (each is a cargo feature; flex is built by default).
    #[arg(long, value_enum, default_value_t = Backend::first_built())]
    backend: Backend,
    /// Also checkpoint every N steps (0: after each epoch only).
    #[arg(long, default_value_t = 200)]
    checkpoint_every: u64,
    /// Stop after this many steps in all (resumable), e.g. for benchmarks.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Train data-parallel on this many devices of the backend (CUDA or wgpu GPUs 0..N), 1 to 64.
    #[arg(long, default_value_t = 1, value_parser = device_count())]
    devices: usize,
}

/// `--devices`: 1 to [`MAX_DEVICES`], checked before any device is made.
fn device_count() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=MAX_DEVICES)
}

pub fn run(args: TrainArgs) -> Result<Exit> {
    if args.resume.is_some() {
        // Silently training to the old epoch count would surprise; say so instead.
        let given = [
            ("--config", args.config.is_some()),
            ("--epochs", args.epochs.is_some()),
            ("--encoder-weights", args.encoder_weights.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
            anyhow::bail!(
                "{flag} applies to a new run: --resume continues a run with the config it was started with"
            );
        }
    }
    let mut config = match &args.config {
        Some(path) => TrainConfig::read(path)?,
        None => TrainConfig::default(),
    };
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(weights) = args.encoder_weights {
        config.encoder_weights = Some(weights);
    }
    let Some(run) = args.resume.clone().or(args.out) else {
        anyhow::bail!("pass --out RUN for a new run, or --resume RUN");
    };
    let inputs: Vec<(&str, &std::path::Path)> = [
        ("--config", args.config.as_deref()),
        ("--encoder-weights", config.encoder_weights.as_deref()),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path?)))
    .collect();
    train::refuse_run_files_over_inputs(&run, &inputs)?;
    let request = TrainRequest {
        data: args.data,
        run,
        config,
        resume: args.resume.is_some(),
        devices: args.backend.devices(args.devices)?,
        backend_name: args.backend.name(),
        memory: args.backend.steps_in_host_memory().then(memory::limit).flatten(),
        checkpoint_every: args.checkpoint_every,
        max_steps: args.max_steps,
    };
    match train::run(&request)? {
        TrainOutcome::Finished(state) => {
            let run = glimpse_files::shown(&request.run);
            // (A resumed run whose best.safetensors was gone announced it: review 66.)
            let export = match request.run.join(train::BEST).exists() {
                true => format!("export with `glimpse export {run}`"),
                false => format!(
                    "its weights are not on disk (no {}): `glimpse export {run} --which last` exports the last epoch's",
                    train::BEST
                ),
            };
            say!(
                "done: best validation BLEU-4 {:.4} at epoch {}, {} s of training; {export}",
                state.best_bleu4.unwrap_or(0.0),
                state.best_epoch.unwrap_or(0),
                glimpse_files::rounded_text(state.train_seconds, 0),
            )?;
            Ok(Exit::Done)
        }
        TrainOutcome::Paused(_) if request.max_steps.is_some() => Ok(Exit::Done),
        TrainOutcome::Paused(_) => Ok(Exit::Interrupted),
    }
}
