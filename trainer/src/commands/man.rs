//! `glimpse man`: manual pages generated from the CLI's own definition (clap_mangen): one for
//! `glimpse` and one per subcommand (`glimpse-caption.1`, …).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use glimpse_files::shown;

use super::Exit;

/// `glimpse man`.
#[derive(Args)]
#[command(after_help = "Example:\n  glimpse man --out /usr/local/share/man/man1 && man glimpse-caption")]
pub struct ManArgs {
    /// Write every page (glimpse.1 and glimpse-SUBCOMMAND.1) into this folder; without it, print
    /// glimpse.1.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Writes the pages of `command` (the whole CLI).
pub fn run(args: ManArgs, command: clap::Command) -> Result<Exit> {
    match args.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", shown(&dir)))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("{}: cannot write", shown(&dir)))?;
        }
        None => clap_mangen::Man::new(command).render(&mut std::io::stdout())?,
    }
    Ok(Exit::Done)
}
