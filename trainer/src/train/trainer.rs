//! The training loop: epochs of shuffled batches, one optimiser step each (on one device or
//! data-parallel), checkpoints along the way, validation and early stopping after each epoch,
//! and a clean pause on Ctrl-C or the step limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::tensor::Device;
use glimpse_data::Rng;
use glimpse_files::{say, shown};
use glimpse_model::{CaptionModel, ModelConfig, Vocabulary};
use indicatif::{ProgressBar, ProgressStyle};

use super::batch::{Examples, Pair};
use super::checkpoint::{Checkpoint, EpochRecord, MAX_STEP, TrainState};
use super::config::TrainConfig;
use super::dropout::{MaskStream, dropout_mask};
use super::features::FeatureCache;
use super::records::Records;
use super::step::{Batch, Optimizers, StepLoss, replica_share, train_step, train_step_parallel};
use super::{BEST, CONFIG, LAST, ORDER_STREAM, TrainOutcome, VOCAB};
use crate::files::{write_atomically, write_replacing};

/// The devices a run computes on.
pub(super) struct Devices {
    /// Validation and batches without gradients.
    pub plain: Device,
    /// The first device with autodiff: holds the model and the optimiser.
    pub autodiff: Device,
    /// Every device of a data-parallel run (autodiff), the first being `autodiff`.
    pub replicas: Vec<Device>,
}

/// When to stop or save besides the end of an epoch.
pub(super) struct Limits {
    /// Set by Ctrl-C / SIGTERM.
    pub stop: Arc<AtomicBool>,
    /// Save `last.safetensors` every this many steps (0: epochs only).
    pub checkpoint_every: u64,
    /// Pause after this many steps in all.
    pub max_steps: Option<u64>,
}

pub(super) struct Trainer<'a> {
    pub config: TrainConfig,
    pub model_config: ModelConfig,
    pub vocab: Vocabulary,
    pub devices: Devices,
    /// `Some` when the encoder is frozen.
    pub cache: Option<FeatureCache>,
    pub train: Examples<'a>,
    pub val: Examples<'a>,
    pub optimizers: Optimizers,
    pub state: TrainState,
    pub limits: Limits,
    pub records: Records,
    /// The step of the last checkpoint this run wrote or resumed from (0 for none).
    pub saved_at: u64,
}

impl Trainer<'_> {
    fn batches_per_epoch(&self) -> usize {
        self.train.pairs.len().div_ceil(self.config.batch_size)
    }

    /// The training pairs of `epoch` in their drawn order.
    fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.train.pairs.len()).collect();
        Rng::derive(self.config.seed, ORDER_STREAM + epoch as u64).shuffle(&mut order);
        order
    }

    /// Trains the remaining epochs, or until paused or stopped early.
    pub(super) fn train(&mut self, mut model: CaptionModel) -> Result<TrainOutcome> {
        let batches = self.batches_per_epoch();
        if self.state.batch_in_epoch > batches {
            // Past the end, the epoch was skipped and its loss made up.
            bail!(
                "the checkpoint's field `batch_in_epoch` is {}, past the {batches} batches of an epoch of this data",
                self.state.batch_in_epoch
            );
        }
        self.check_steps_to_come(batches)?;
        while self.state.epoch < self.config.epochs {
            let paused;
            (model, paused) = self.train_epoch(model)?;
            if let Some(why) = paused {
                return self.pause(&mut model, why);
            }
            if self.end_epoch(&mut model)? {
                say!(
                    "early stop: no better validation BLEU-4 for {} epochs (best {:.4} at epoch {})",
                    self.config.patience,
                    self.state.best_bleu4.unwrap_or(0.0),
                    self.state.best_epoch.unwrap_or(0)
                )?;
                break;
            }
        }
        self.state.finished = true;
        Ok(TrainOutcome::Finished(self.state.clone()))
    }

    /// The run's last step must still be one an epoch's record accepts (at most [`MAX_STEP`]):
    /// an edited `step` of 2^53 trained a whole epoch and then failed to record it. (Its test now
    /// meets the optimizer state's check first, whose step counts must equal the step and stay
    /// within `i32`; this stays for whatever else the caps allow.)
    fn check_steps_to_come(&self, batches: usize) -> Result<()> {
        let epochs_left = self.config.epochs.saturating_sub(self.state.epoch) as u64;
        let last_step = epochs_left
            .checked_mul(batches as u64)
            .and_then(|steps| steps.checked_sub(self.state.batch_in_epoch as u64))
            .and_then(|steps| steps.checked_add(self.state.step));
        match last_step {
            Some(last) if last <= MAX_STEP => Ok(()),
            _ => bail!(
                "the checkpoint's field `step` is {}, too close to {MAX_STEP} for the epochs still to come",
                self.state.step
            ),
        }
    }

    /// Trains the rest of the epoch in progress; returns why it paused, if it did.
    fn train_epoch(&mut self, mut model: CaptionModel) -> Result<(CaptionModel, Option<&'static str>)> {
        let epoch = self.state.epoch;
        let batches = self.batches_per_epoch();
        let learning_rates = self.config.learning_rates(epoch);
        let order = self.epoch_order(epoch);
        let progress = self.progress_bar(batches);
        let mut started = Instant::now();
        for batch_index in self.state.batch_in_epoch..batches {
            if let Some(why) = self.pause_reason() {
                progress.abandon();
                clock(&mut self.state, &mut started);
                return Ok((model, Some(why)));
            }
            let indices = &order[batch_index * self.config.batch_size
                ..((batch_index + 1) * self.config.batch_size).min(order.len())];
            let batches = match self.step_batches(indices) {
                Ok(batches) => batches,
                Err(error) => {
                    clock(&mut self.state, &mut started);
                    return Err(self.save_and_stop(&mut model, error));
                }
            };
            let loss;
            (model, loss) = self.step(model, batches, learning_rates)?;
            self.record_step(batch_index, indices.len(), loss)?;
            let seconds = self.state.epoch_seconds + started.elapsed().as_secs_f64();
            let rate = self.state.epoch_samples as f64 / seconds.max(1e-9);
            progress.set_message(format!(
                "loss {:.3} {rate:.0} samples/s",
                self.state.epoch_loss_sum / (batch_index + 1) as f64
            ));
            progress.inc(1);
            let every = self.limits.checkpoint_every;
            if every > 0 && self.state.step.is_multiple_of(every) {
                clock(&mut self.state, &mut started);
                self.save(&mut model, false)?;
            }
        }
        progress.finish_and_clear();
        clock(&mut self.state, &mut started);
        Ok((model, None))
    }

    fn progress_bar(&self, batches: usize) -> ProgressBar {
        let progress = ProgressBar::new(batches as u64).with_style(
            ProgressStyle::with_template("epoch {prefix} {bar:25} {pos}/{len} {msg} eta {eta}")
                .expect("a valid template"),
        );
        progress.set_prefix(format!("{}/{}", self.state.epoch + 1, self.config.epochs));
        progress.set_position(self.state.batch_in_epoch as u64);
        progress
    }

    /// Why training must pause before the next step: Ctrl-C, or the step limit.
    fn pause_reason(&self) -> Option<&'static str> {
        if self.limits.stop.load(Ordering::SeqCst) {
            Some("interrupted")
        } else if self.limits.max_steps.is_some_and(|max| self.state.step >= max) {
            Some("step limit reached")
        } else {
            None
        }
    }

    /// The next step's batch of the training pairs `indices`, with the dropout masks of its
    /// rows (`dropout.rs`): one per device, each a contiguous share of the rows.
    fn step_batches(&self, indices: &[usize]) -> Result<Vec<Batch>> {
        let pairs: Vec<&Pair> = indices.iter().map(|&i| &self.train.pairs[i]).collect();
        let share = replica_share(pairs.len(), self.devices.replicas.len());
        let shares = pairs.chunks(share).zip(&self.devices.replicas).enumerate();
        let batches = shares.map(|(k, (chunk, device))| self.masked_batch(chunk, k * share, device));
        batches
            .collect::<Result<_>>()
            .with_context(|| format!("step {}", self.state.step + 1))
    }

    /// One optimiser step on `batches` (one per device).
    fn step(
        &mut self,
        model: CaptionModel,
        mut batches: Vec<Batch>,
        learning_rates: (f64, f64),
    ) -> Result<(CaptionModel, StepLoss)> {
        let step = self.state.step;
        let alpha_c = self.config.alpha_c;
        if self.devices.replicas.len() == 1
            && let Some(batch) = batches.pop()
        {
            return train_step(model, &mut self.optimizers, batch, learning_rates, alpha_c)
                .with_context(|| format!("step {}", step + 1));
        }
        let devices = &self.devices.replicas[..batches.len()];
        train_step_parallel(
            model,
            &mut self.optimizers,
            batches,
            devices,
            learning_rates,
            alpha_c,
        )
        // The optimizer leaves parameters on the devices that updated them.
        .map(|(model, loss)| (model.fork(&self.devices.autodiff), loss))
        .with_context(|| format!("step {}", step + 1))
    }

    /// The training batch of `pairs` on `device`, which start at row `first_row` of this
    /// step's whole batch, with their dropout masks.
    fn masked_batch(&self, pairs: &[&Pair], first_row: usize, device: &Device) -> Result<Batch> {
        let mut batch = self.make_batch(pairs, &self.train.samples, device)?;
        let stream = MaskStream {
            seed: self.config.seed,
            step: self.state.step,
            first_row,
        };
        let [rows, length] = batch.captions.dims();
        let shape = [rows, length, self.model_config.decoder.decoder_dim];
        let p = self.model_config.decoder.dropout;
        batch.dropout = dropout_mask(stream, shape, p, device);
        Ok(batch)
    }

    /// Counts a step done and appends it to `steps.csv`.
    fn record_step(&mut self, batch_index: usize, batch_size: usize, loss: StepLoss) -> Result<()> {
        self.state.step += 1;
        self.state.batch_in_epoch = batch_index + 1;
        let epoch = self.state.epoch + 1;
        self.records
            .log_step(self.state.step, epoch, batch_index + 1, loss)?;
        self.state.epoch_loss_sum += loss[0];
        self.state.epoch_samples += batch_size;
        Ok(())
    }

    /// Validates, records the epoch and saves; returns whether to stop early.
    fn end_epoch(&mut self, model: &mut CaptionModel) -> Result<bool> {
        let epoch = self.state.epoch;
        let seconds = self.state.epoch_seconds;
        let (val_loss, bleu) = match self.validate(model) {
            Ok(scores) => scores,
            Err(error) => return Err(self.save_and_stop(model, error)),
        };
        let (decoder_lr, encoder_lr) = self.config.learning_rates(epoch);
        let record = EpochRecord {
            epoch: epoch + 1,
            step: self.state.step,
            train_loss: self.state.epoch_loss_sum / self.batches_per_epoch().max(1) as f64,
            val_loss,
            bleu,
            decoder_lr,
            encoder_lr,
            samples_per_s: self.state.epoch_samples as f64 / seconds.max(1e-9),
            seconds,
        };
        // A validation loss that overflowed stops the run as a training loss would.
        record
            .check()
            .with_context(|| format!("epoch {}'s results", epoch + 1))?;
        // Said once the epoch is saved: a line that cannot be written (a full disk) ends the
        // run, and must not lose the epoch.
        let summary = format!(
            "epoch {}/{}: train loss {:.4}, val loss {:.4}, val BLEU-4 {:.4} (BLEU-1 {:.4}), {:.0} samples/s",
            epoch + 1,
            self.config.epochs,
            record.train_loss,
            val_loss,
            bleu[3],
            bleu[0],
            record.samples_per_s
        );
        self.state.history.push(record);
        self.state.epoch += 1;
        self.state.batch_in_epoch = 0;
        self.state.epoch_loss_sum = 0.0;
        self.state.epoch_samples = 0;
        self.state.epoch_seconds = 0.0;
        let improved = self.state.best_bleu4.is_none_or(|best| bleu[3] > best);
        if improved {
            self.state.best_bleu4 = Some(bleu[3]);
            self.state.best_epoch = Some(epoch + 1);
            self.state.epochs_without_improvement = 0;
        } else {
            self.state.epochs_without_improvement += 1;
        }
        let stop_early = self.state.epochs_without_improvement >= self.config.patience;
        if stop_early || self.state.epoch >= self.config.epochs {
            self.state.finished = true;
        }
        self.save(model, improved)?;
        self.records.write_metrics(&self.state.history)?;
        say!("{summary}")?;
        Ok(stop_early)
    }

    fn pause(&mut self, model: &mut CaptionModel, why: &str) -> Result<TrainOutcome> {
        self.save(model, false)?;
        say!(
            "{why}: saved {} at step {}; continue with `glimpse train --resume {}`",
            shown(&self.records.run.join(LAST)),
            self.state.step,
            shown(&self.records.run)
        )?;
        Ok(TrainOutcome::Paused(self.state.clone()))
    }

    /// The error that ends the run where its data could not be read (a photo or cached
    /// features that changed after the run checked them), the steps since the last checkpoint
    /// saved first: they were lost, and the error said nothing of a resume (hostile round 21).
    fn save_and_stop(&mut self, model: &mut CaptionModel, error: anyhow::Error) -> anyhow::Error {
        if self.state.step == self.saved_at {
            return error;
        }
        if let Err(not_saved) = self.save(model, false) {
            return anyhow!(
                "{error:#}; the steps since the last checkpoint could not be saved: {not_saved:#}"
            );
        }
        let run = &self.records.run;
        anyhow!(
            "{error:#}; the run stopped there and saved its steps in {} (step {}): keep it, repair or \
             remove the file named first, then `glimpse train --resume {}` goes on (an image that cannot \
             be read is then left out)",
            shown(&run.join(LAST)),
            self.state.step,
            shown(run)
        )
    }

    /// Writes `best.safetensors` when `best`, then `last.safetensors`, flushing `steps.csv`
    /// first so the records never run behind the checkpoint.
    fn save(&mut self, model: &mut CaptionModel, best: bool) -> Result<()> {
        self.records.flush()?;
        let weights = pollster::block_on(model.weights())?;
        // A checkpoint of NaN weights would replace the last good one (and `best`) for good.
        weights.check_values().map_err(|e| {
            anyhow!(
                "step {}: the weights are no longer numbers ({e}), so no checkpoint was saved; lower the learning rates or the gradient clip (after a resume, its optimizer state may be damaged)",
                self.state.step
            )
        })?;
        let checkpoint = Checkpoint {
            model_config: self.model_config.clone(),
            vocab: self.vocab.clone(),
            train_config: self.config.clone(),
            state: self.state.clone(),
            weights,
            decoder_optimizer: self
                .optimizers
                .decoder
                .into_bytes()
                .map_err(|e| anyhow!("saving the optimizer state: {e:?}"))?
                .to_vec(),
            encoder_optimizer: match &self.optimizers.encoder {
                Some(optim) => Some(
                    optim
                        .into_bytes()
                        .map_err(|e| anyhow!("saving the encoder optimizer state: {e:?}"))?
                        .to_vec(),
                ),
                None => None,
            },
        };
        let bytes = checkpoint.to_bytes()?;
        // Written with a checkpoint, never before: a first run refused (its batch too large)
        // left one that its corrected rerun was refused for, as not its own (review 68; the
        // vocabulary too, which a run stopped while caching features left: review 74).
        let config = serde_json::to_string_pretty(&self.config)?;
        write_replacing(&self.records.run.join(CONFIG), config.as_bytes())?;
        write_replacing(&self.records.run.join(VOCAB), self.vocab.to_json().as_bytes())?;
        // `best` first: `last` records this epoch as the best, and a resumed run rewrites
        // `best` only for a better score, so a `last` written before a failed (or killed)
        // `best` write lost those weights for good while the run reported them.
        if best {
            write_atomically(&self.records.run.join(BEST), &bytes)?;
        }
        write_atomically(&self.records.run.join(LAST), &bytes)?;
        self.saved_at = self.state.step;
        Ok(())
    }
}

/// Adds the time since `started` to the state's clocks and restarts it.
fn clock(state: &mut TrainState, started: &mut Instant) {
    let seconds = started.elapsed().as_secs_f64();
    state.epoch_seconds += seconds;
    state.train_seconds += seconds;
    *started = Instant::now();
}
