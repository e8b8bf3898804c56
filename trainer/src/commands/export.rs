//! `glimpse export`: a training run's checkpoint as a weight bundle.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use glimpse::export::{ExportRequest, Which, export};
use glimpse::files::write_atomically;

use super::{Exit, choice, storage};

#[derive(Args)]
pub struct ExportArgs {
    /// The run folder.
    run: PathBuf,
    /// Output bundle.
    #[arg(long)]
    out: PathBuf,
    /// Which checkpoint.
    #[arg(long, value_parser = choice::<Which>(), default_value_t = Which::Best)]
    which: Which,
    /// Store tensors as f16.
    #[arg(long)]
    f16: bool,
    /// Model name for the card.
    #[arg(long)]
    name: Option<String>,
    /// Description for the card (what the model is for, what it cannot do).
    #[arg(long)]
    description: Option<String>,
}

pub fn run(args: ExportArgs) -> Result<Exit> {
    let bundle = export(&ExportRequest {
        run: args.run,
        which: args.which,
        name: args.name,
        description: args.description,
    })?;
    write_atomically(&args.out, &bundle.to_bytes(storage(args.f16))?)?;
    let metrics: Vec<String> = bundle
        .card
        .metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect();
    println!(
        "wrote {}: {}, {} words, trained on {}, {}",
        args.out.display(),
        bundle.card.name,
        bundle.vocab.len(),
        bundle.card.trained_on,
        metrics.join(", ")
    );
    Ok(Exit::Done)
}
