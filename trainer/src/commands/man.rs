//! `glimpse man`: manual pages generated from the CLI's own definition (clap_mangen): one for
//! `glimpse` and one per subcommand (`glimpse-caption.1`, …).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use glimpse_files::{shown, write_replacing};

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
            let mut command = command.disable_help_subcommand(true);
            command.build();
            write_pages(command, &dir)?;
        }
        None => {
            let mut out = glimpse_files::console::output();
            clap_mangen::Man::new(command).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(Exit::Done)
}

/// The pages of `command` and its visible subcommands, each rendered in memory and written
/// beside a link or over a file, never through them (clap_mangen's own `generate_to` followed
/// a link planted at a page's name and hung on a FIFO there).
fn write_pages(command: clap::Command, dir: &Path) -> Result<()> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(sub.clone(), dir)?;
    }
    let page = clap_mangen::Man::new(command);
    let mut roff = Vec::new();
    page.render(&mut roff)?;
    write_replacing(&dir.join(page.get_filename()), &roff)?;
    Ok(())
}
