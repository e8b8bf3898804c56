//! The run's records beside its checkpoints: `steps.csv` (one row per step, appended as
//! training goes), `metrics.csv` (one row per epoch) and the `loss.svg` / `bleu.svg` curves.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::checkpoint::{EpochRecord, is_loss};
use super::curves;
use super::step::StepLoss;
use super::{BLEU_CHART, LOSS_CHART, METRICS, STEPS};
use glimpse_files::{
    caps, note, number_text, open_append, open_regular, read_regular_to_string, rounded_text, shown,
};

use crate::files::{write_atomically, write_replacing};

/// Steps averaged by the per-step loss curve.
const SMOOTHING_WINDOW: usize = 25;

/// The run folder and its open `steps.csv`.
pub(super) struct Records {
    pub run: PathBuf,
    steps_csv: fs::File,
}

impl Records {
    /// Opens `steps.csv`, cut back to `step` rows when resuming (rows after the checkpoint were
    /// trained again).
    pub fn open(run: &Path, step: u64) -> Result<Records> {
        let path = run.join(STEPS);
        let mut kept = format!("{STEPS_HEADER}\n");
        if step > 0
            && let Some(text) = read_steps(&path)?
        {
            for line in text.lines().skip(1) {
                if whole_row_step(line).is_some_and(|row_step| row_step <= step) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
        }
        // Replaced, not written through: a link planted at the name sent the rows elsewhere.
        write_replacing(&path, kept.as_bytes())?;
        Ok(Records {
            run: run.to_path_buf(),
            steps_csv: open_append(&path).with_context(|| format!("{}", shown(&path)))?,
        })
    }

    /// Appends one step's row (`epoch` and `batch` 1-based), in one write: written a number at
    /// a time, a full disk left a fragment such as `19` that a resume kept as a row.
    pub fn log_step(&mut self, step: u64, epoch: usize, batch: usize, loss: StepLoss) -> Result<()> {
        let [loss, cross_entropy, attention] = loss;
        let row = format!("{step},{epoch},{batch},{loss},{cross_entropy},{attention}\n");
        self.steps_csv
            .write_all(row.as_bytes())
            .with_context(|| format!("{}: cannot write", shown(&self.run.join(STEPS))))
    }

    pub fn flush(&mut self) -> Result<()> {
        self.steps_csv
            .flush()
            .with_context(|| format!("{}: cannot write", shown(&self.run.join(STEPS))))
    }

    /// Rewrites `metrics.csv`, `loss.svg` and `bleu.svg` from the epochs so far.
    pub fn write_metrics(&self, history: &[EpochRecord]) -> Result<()> {
        write_metrics(&self.run, history)
    }
}

/// Rewrites the run folder `run`'s `metrics.csv`, `loss.svg` and `bleu.svg` from the epochs in
/// `history`.
pub(super) fn write_metrics(run: &Path, history: &[EpochRecord]) -> Result<()> {
    write_atomically(&run.join(METRICS), metrics_csv(history).as_bytes())?;
    // The chart is a view of the log: a log grown past its cap loses its per-step curve, not
    // the run (it failed after an epoch).
    let steps = read_steps(&run.join(STEPS)).unwrap_or_else(|e| {
        note!("{LOSS_CHART}: the per-step curve is left out: {e:#}");
        None
    });
    let steps = steps.unwrap_or_default();
    write_replacing(&run.join(LOSS_CHART), loss_chart(&steps, history).as_bytes())?;
    write_replacing(&run.join(BLEU_CHART), bleu_chart(history).as_bytes())?;
    Ok(())
}

/// Whether the regular file at `path` starts with the line `first` (one a run writes there).
pub(super) fn starts_with_line(path: &Path, first: &str) -> bool {
    let Ok((file, _)) = open_regular(path, "run file") else {
        return false;
    };
    let mut start = Vec::new();
    let read = file.take(first.len() as u64 + 1).read_to_end(&mut start);
    read.is_ok() && start.strip_suffix(b"\n").unwrap_or(&start) == first.as_bytes()
}

/// `steps.csv`'s first line.
pub(super) const STEPS_HEADER: &str = "step,epoch,batch,loss,cross_entropy,attention";

/// The step of a whole `steps.csv` row: six fields, three counts and three losses. A row cut
/// short by a failed write is not one, nor one whose loss no step makes (its figure drew
/// NaN coordinates: review 68).
fn whole_row_step(line: &str) -> Option<u64> {
    let fields: Vec<&str> = line.split(',').collect();
    let [step, epoch, batch, losses @ ..] = fields.as_slice() else {
        return None;
    };
    let counts = epoch.parse::<usize>().is_ok() && batch.parse::<usize>().is_ok();
    let numbers = losses.len() == 3 && losses.iter().all(|x| x.parse::<f64>().is_ok_and(is_loss));
    (counts && numbers).then(|| step.parse().ok()).flatten()
}

fn metrics_csv(history: &[EpochRecord]) -> String {
    let mut csv = String::from(
        "epoch,step,train_loss,val_loss,bleu1,bleu2,bleu3,bleu4,decoder_lr,encoder_lr,samples_per_s,seconds\n",
    );
    for r in history {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.epoch,
            r.step,
            number_text(r.train_loss),
            number_text(r.val_loss),
            number_text(r.bleu[0]),
            number_text(r.bleu[1]),
            number_text(r.bleu[2]),
            number_text(r.bleu[3]),
            number_text(r.decoder_lr),
            number_text(r.encoder_lr),
            rounded_text(r.samples_per_s, 2),
            rounded_text(r.seconds, 2)
        ));
    }
    csv
}

/// `steps.csv`'s text (`None` when there is none), read as any file in a folder someone else
/// may have filled: a regular file, with a size cap.
fn read_steps(path: &Path) -> Result<Option<String>> {
    // A link there is not the run's own log: it is replaced, and what it names is not read.
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Ok(None);
    }
    match read_regular_to_string(path, caps::DATASET_TEXT, "step log") {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => anyhow::bail!("{e}; move it away to go on with a fresh log"),
    }
}

/// Training loss per step (smoothed, from `steps.csv`'s text) and per epoch, and validation
/// loss, against the step.
fn loss_chart(steps_csv: &str, history: &[EpochRecord]) -> String {
    let step_losses: Vec<(f64, f64)> = steps_csv
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            let step = fields.next()?.parse().ok()?;
            let loss = fields.nth(2)?.parse().ok()?;
            Some((step, loss))
        })
        .collect();
    let smoothed = moving_average(&step_losses, SMOOTHING_WINDOW);
    let val: Vec<(f64, f64)> = history.iter().map(|r| (r.step as f64, r.val_loss)).collect();
    let train_epoch: Vec<(f64, f64)> = history.iter().map(|r| (r.step as f64, r.train_loss)).collect();
    curves::line_chart(
        "Loss",
        ["step", "loss (nats per word)"],
        &[
            curves::Series {
                name: "train (per step, smoothed)",
                color: "#9ecae1",
                points: thinned(smoothed, MAX_CHART_POINTS),
            },
            curves::Series {
                name: "train (epoch mean)",
                color: "#1f77b4",
                points: train_epoch,
            },
            curves::Series {
                name: "validation",
                color: "#d62728",
                points: val,
            },
        ],
    )
}

/// Validation BLEU-4 and BLEU-1 against the epoch.
fn bleu_chart(history: &[EpochRecord]) -> String {
    let bleu: Vec<(f64, f64)> = history.iter().map(|r| (r.epoch as f64, r.bleu[3])).collect();
    let bleu1: Vec<(f64, f64)> = history.iter().map(|r| (r.epoch as f64, r.bleu[0])).collect();
    curves::line_chart(
        "Validation BLEU",
        ["epoch", "BLEU (0–1)"],
        &[
            curves::Series {
                name: "BLEU-4",
                color: "#2ca02c",
                points: bleu,
            },
            curves::Series {
                name: "BLEU-1",
                color: "#ff7f0e",
                points: bleu1,
            },
        ],
    )
}

/// The mean of each point's `y` and the `window - 1` before it.
/// The most points a chart's per-step curve draws, more than a screen shows: a `steps.csv` at
/// its 256 MiB cap made a 294 MB `loss.svg`, and 3.2 GB to write it (hostile round 11).
const MAX_CHART_POINTS: usize = 2_000;

/// At most about `max` of `points`: every `ceil(len / max)`-th, and the last.
fn thinned(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let every = points.len().div_ceil(max);
    let last = points.last().copied();
    let mut kept: Vec<(f64, f64)> = points.into_iter().step_by(every).collect();
    if kept.last() != last.as_ref() {
        kept.extend(last);
    }
    kept
}

fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let from = i.saturating_sub(window - 1);
            let slice = &points[from..=i];
            (x, slice.iter().map(|p| p.1).sum::<f64>() / slice.len() as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An edited checkpoint's `1.7976e308` seconds and losses were written as 309 digits.
    #[test]
    fn huge_measures_are_written_short_and_exact() {
        let record = EpochRecord {
            epoch: 1,
            step: 9,
            train_loss: 1.7e308,
            val_loss: 2.5,
            // (A subnormal BLEU was written with its 324 digits.)
            bleu: [0.5, 0.25, 0.125, 5e-324],
            decoder_lr: 4e-4,
            encoder_lr: 1e-20,
            samples_per_s: 12.5,
            seconds: 1.7976e308,
        };
        let csv = metrics_csv(&[record]);
        let row = csv.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "1,9,1.7e308,2.5,0.5,0.25,0.125,5e-324,0.0004,1e-20,12.50,1.80e308"
        );
    }

    /// A million logged steps draw a chart of at most 2,000 points, ending at the last step.
    #[test]
    fn only_whole_rows_are_kept() {
        assert_eq!(whole_row_step("192,2,32,3.06,3.01,0.05"), Some(192));
        for cut in [
            "19",
            "192,2,32,3.06,3.01",
            "192,2,32,3.06,3.01,",
            "x,2,32,1,1,1",
            "192,2,32,1,1,1,1",
            // Losses no step makes: their figure drew NaN coordinates (review 68).
            "192,2,32,-1.7e308,0,0",
            "192,2,32,1.7e308,0,0",
            "192,2,32,NaN,0,0",
            "192,2,32,1,inf,0",
        ] {
            assert_eq!(whole_row_step(cut), None, "{cut}");
        }
    }

    #[test]
    fn long_step_logs_draw_a_bounded_curve() {
        let mut csv = String::from("step,epoch,batch,loss,cross_entropy,attention\n");
        for step in 1..=1_000_000 {
            csv.push_str(&format!("{step},1,{step},{},0,0\n", 5.0 - step as f64 * 1e-6));
        }
        let svg = loss_chart(&csv, &[]);
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
        let kept = thinned((0..10_001).map(|i| (i as f64, 0.0)).collect(), MAX_CHART_POINTS);
        assert!(kept.len() <= MAX_CHART_POINTS + 1, "{}", kept.len());
        assert_eq!(kept.last(), Some(&(10_000.0, 0.0)));
    }
}
