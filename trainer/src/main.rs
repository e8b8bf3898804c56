//! `glimpse`: caption images, import PyTorch checkpoints, make synthetic data, train, export
//! weight bundles, evaluate and compare captioners, download datasets. Each command is one file
//! under `commands/`: its arguments and its `run`.

mod commands;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use glimpse_files::note;

use commands::{
    Exit, caption, compare, completions, data, eval, export, import, info, man, score, synth, train,
};

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
    /// Score a caption you give for an image: each word's probability and rank, and where the
    /// model would look for it.
    Score(score::ScoreArgs),
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
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Write the manual pages.
    Man(man::ManArgs),
}

fn main() -> ExitCode {
    commands::unset_empty_flag_variables();
    restore_sigpipe();
    glimpse::memory::keep_freed_memory();
    ignore_file_size_signal();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(usage) => return print_usage(&usage),
    };
    if let Err(err) = commands::check_thread_variable() {
        note!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    // Interrupted, a command removes its temporary files before it ends.
    if let Err(err) = glimpse::signals::handle_signals() {
        note!("error: installing the Ctrl-C handler: {err}");
        return ExitCode::FAILURE;
    }
    let outcome = match cli.command {
        Command::Caption(args) => caption::run(args),
        Command::Score(args) => score::run(args),
        Command::Import(source) => import::run(source),
        Command::Info(args) => info::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Export(args) => export::run(args),
        Command::Data(source) => data::run(source),
        Command::Completions(args) => completions::run(args, Cli::command()),
        Command::Man(args) => man::run(args, Cli::command()),
    };
    // A command that failed because a signal is ending the process (its temporary file removed
    // under it) ends as the signal says, not with its own error.
    glimpse::signals::wait_if_ending();
    match outcome {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        // 130 = "terminated by Ctrl-C", as shells report it; the run is saved and resumable.
        Ok(Exit::Interrupted) => ExitCode::from(130),
        Err(err) => {
            // Names and words from files are escaped where they enter a message; this catches
            // any escape sequence that got through (the message's own line breaks are kept).
            note!(
                "error: {}",
                glimpse_files::terminal_safe_message(&format!("{err:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

/// Prints clap's help, version or usage error, with its exit status; 1 when help or a version
/// asked for could not be written (clap's own exit ignores the failure and reported success).
fn print_usage(usage: &clap::Error) -> ExitCode {
    match usage.print() {
        Err(e) if !usage.use_stderr() => {
            note!("error: {}", glimpse_files::OutputError(e));
            ExitCode::FAILURE
        }
        _ => ExitCode::from(u8::try_from(usage.exit_code()).unwrap_or(2)),
    }
}

/// A write past the file size limit (`ulimit -f`) then fails with EFBIG, which the writers
/// report and clean up after, instead of SIGXFSZ killing the process with no word and its
/// temporary file left behind.
fn ignore_file_size_signal() {
    // SAFETY: called first thing in main, before any thread starts; SIG_IGN is a valid handler.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Lets a closed pipe end the program quietly, as it ends other command-line tools: Rust ignores
/// SIGPIPE, so `glimpse caption … | head -1` printed "Broken pipe" errors (or panicked in
/// `println!`) once `head` had what it wanted.
fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid handler.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand (nested ones too) with its missing help texts and whether it has an
    /// example.
    fn audit(command: &clap::Command, path: &str, problems: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.get_help().is_none() && !["help", "version"].contains(&id) {
                problems.push(format!("{path}: --{id} has no help"));
            }
        }
        let subcommands: Vec<_> = command.get_subcommands().collect();
        if subcommands.is_empty() {
            let after = command
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if !after.contains("Example") {
                problems.push(format!("{path}: no example after its help"));
            }
        }
        for sub in subcommands {
            audit(sub, &format!("{path} {}", sub.get_name()), problems);
        }
    }

    #[test]
    fn every_flag_has_help_and_every_command_an_example() {
        let mut problems = Vec::new();
        audit(&Cli::command(), "glimpse", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
