//! `glimpse`: caption images, import PyTorch checkpoints, make synthetic data, train, export
//! weight bundles, evaluate and compare captioners, download datasets. Each command is one file
//! under `commands/`: its arguments and its `run`.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{Exit, caption, compare, data, eval, export, import, info, synth, train};

#[derive(Parser)]
#[command(
    name = "glimpse",
    version,
    about = "Image captions that show where the model looked"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Caption images with a weight bundle.
    Caption(caption::CaptionArgs),
    /// Make a weight bundle from another framework's files.
    #[command(subcommand)]
    Import(import::ImportSource),
    /// Show a bundle's model card, config and tensors.
    Info(info::InfoArgs),
    /// Write a synthetic captioning set (coloured shapes, five captions each) in Flickr8k's
    /// Kaggle layout, with every object's box in synth.json.
    Synth(synth::SynthArgs),
    /// Train a captioner on a dataset folder (Flickr8k Kaggle or original, Karpathy JSON, synth).
    Train(train::TrainArgs),
    /// Caption a dataset split and score it as coco-caption does (metrics.json, captions.json).
    Eval(eval::EvalArgs),
    /// Score several captioners' outputs ({"image": "caption"} JSON) on the same split, side by side.
    Compare(compare::CompareArgs),
    /// Write a training run's checkpoint as a weight bundle with its model card.
    Export(export::ExportArgs),
    /// Download public datasets and weights.
    #[command(subcommand)]
    Data(data::DataSource),
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Caption(args) => caption::run(args),
        Command::Import(source) => import::run(source),
        Command::Info(args) => info::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Export(args) => export::run(args),
        Command::Data(source) => data::run(source),
    };
    match outcome {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        // 130 = "terminated by Ctrl-C", as shells report it; the run is saved and resumable.
        Ok(Exit::Interrupted) => ExitCode::from(130),
        Err(err) => {
            // Names and words from files are escaped where they enter a message; this catches
            // any escape sequence that got through (the message's own line breaks are kept).
            eprintln!(
                "error: {}",
                glimpse_files::terminal_safe_message(&format!("{err:#}"))
            );
            ExitCode::FAILURE
        }
    }
}
