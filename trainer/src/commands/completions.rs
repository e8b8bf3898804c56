//! `glimpse completions SHELL`: the shell completion script, generated from the CLI's own
//! definition (clap_complete), so it never falls behind a new flag.

use anyhow::Result;
use clap::Args;
use clap_complete::Shell;

use super::Exit;

/// `glimpse completions`.
#[derive(Args)]
#[command(
    after_help = "Example:\n  glimpse completions bash > ~/.local/share/bash-completion/completions/glimpse"
)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: Shell,
}

/// Prints the completion script for `command` (the whole CLI).
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> Result<Exit> {
    let name = command.get_name().to_string();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(Exit::Done)
}
