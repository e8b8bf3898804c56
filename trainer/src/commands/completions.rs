//! `glimpse completions SHELL`: the shell completion script, generated from the CLI's own
//! definition (clap_complete), so it never falls behind a new flag.

use std::io::Write;

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

/// Prints the completion script for `command` (the whole CLI). It is made in memory first:
/// clap_complete panics when its writer fails (a full disk behind standard output).
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> Result<Exit> {
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    let mut out = glimpse_files::console::output();
    out.write_all(&script)?;
    out.flush()?;
    Ok(Exit::Done)
}
