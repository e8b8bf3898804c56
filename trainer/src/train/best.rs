//! A run's `best.safetensors` beside its `last.safetensors`: whether the best is this run's, and
//! whether it is the run's furthest point (a run killed between writing the two).

use std::fs;
use std::path::Path;

use anyhow::{Result, bail};
use glimpse_files::{note, shown};

use super::checkpoint::{Checkpoint, TrainState};
use super::config::TrainConfig;
use super::{BEST, LAST};

/// How a run's best checkpoint stands to its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BestBeside {
    /// No `best.safetensors`.
    Missing,
    /// The end of the best epoch `last` records, as every save leaves it.
    Behind,
    /// One epoch ahead of `last`: the run was killed after writing best and before writing last
    /// (a save writes the same bytes to both, best first), so best holds what last would.
    Ahead,
}

/// Checks the run's `best.safetensors` against its last checkpoint (`config`, `state`):
/// another run's there was exported as this one's, and a missing one announced as the run's
/// best (review 66); one several epochs ahead of `last` (a `last` restored from an older copy)
/// was taken for a killed run's, and the resume replaced it with a worse epoch (hostile round
/// 26); another run's beside a `last` with no best yet was exported as this run's.
pub(crate) fn check_best(run: &Path, config: &TrainConfig, last: &TrainState) -> Result<BestBeside> {
    let path = run.join(BEST);
    if fs::symlink_metadata(&path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        if let Some(epoch) = last.best_epoch {
            note!(
                "note: {} is missing: the weights of the best epoch so far ({epoch}) are not on \
                 disk; a later epoch is saved there only if it scores higher",
                shown(&path)
            );
        }
        return Ok(BestBeside::Missing);
    }
    let (best_config, best) = read_best_state(&path)?;
    let refuse = |why: String| -> Result<BestBeside> { bail!("{}: {why}; move it away", shown(&path)) };
    // (A fingerprint only in last is a run from before fingerprints, its first resume's: review
    // 74.)
    let other_data = best.data_fingerprint.is_some() && best.data_fingerprint != last.data_fingerprint;
    if best_config != *config || other_data {
        return refuse(format!(
            "another run's best: its training config or data are not those {LAST} holds"
        ));
    }
    let shared = best.epoch.min(last.epoch);
    if best.history.get(..shared) != last.history.get(..shared) {
        return refuse(format!(
            "its records of epochs 1 to {shared} are not those {LAST} holds, so the two are not \
             of one run (one of them is another run's, or {LAST} was edited)"
        ));
    }
    match last.best_epoch {
        Some(epoch) if best.epoch == epoch => Ok(BestBeside::Behind),
        _ if best.epoch == last.epoch + 1 && best.step > last.step => Ok(BestBeside::Ahead),
        Some(epoch) if best.epoch < epoch => refuse(format!(
            "an earlier best of this run (epoch {}), where {LAST} records epoch {epoch} as its best",
            best.epoch
        )),
        _ => refuse(format!(
            "holds the end of epoch {}, past {LAST} (in epoch {}) by more than a run killed \
             between writing the two leaves (a {LAST} restored from an older copy?)",
            best.epoch,
            last.epoch + 1
        )),
    }
}

/// The training config and progress `best.safetensors` at `path` holds, which must be the end
/// of its own best epoch, as a run saves it: a later checkpoint of the same run (a copy of
/// `last`, the two swapped) passed the records check, and its weights were exported under the
/// best epoch's card (hostile round 24).
pub(crate) fn read_best_state(path: &Path) -> Result<(TrainConfig, TrainState)> {
    let (config, best) = Checkpoint::read_state(path)?;
    if best.best_epoch != Some(best.epoch) || best.batch_in_epoch != 0 {
        let when = match best.batch_in_epoch {
            0 => format!("the end of epoch {}", best.epoch),
            batch => format!("batch {batch} of epoch {}", best.epoch + 1),
        };
        let its_best = best
            .best_epoch
            .map_or("none yet".into(), |epoch| format!("epoch {epoch}"));
        bail!(
            "{}: holds the run as it was at {when}, its best {its_best}: not a best epoch's end, \
             as a run saves its best (a later checkpoint copied or moved there? if it is this \
             run's last, put it back as {LAST}); move it away",
            shown(path)
        );
    }
    Ok((config, best))
}
