//! `glimpse train`: teacher-forced training of the captioner with the doubly stochastic
//! attention loss, Adam (separate encoder and decoder learning rates), value clipping of
//! gradients, a step learning-rate schedule, validation BLEU-4 with early stopping, and
//! checkpoints that a crash, `kill -9` or Ctrl-C cannot corrupt and `--resume` continues exactly.
//!
//! Run folder: `config.json` (the training config), `vocab.json`, `data-problems.txt`,
//! `last.safetensors` / `best.safetensors` (checkpoints), `steps.csv` (loss per step),
//! `metrics.csv` (per epoch), `loss.svg`, `bleu.svg`.

pub mod checkpoint;
pub mod config;
pub mod curves;
pub mod features;
pub mod init;
pub mod loss;
pub mod step;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use glimpse_metrics::Bleu;
use glimpse_model::params::set_trainable;
use glimpse_model::preprocess::bytes_to_input;
use glimpse_model::{CaptionModel, GenerateOptions, ModelConfig, TensorMap, Vocabulary};
use indicatif::{ProgressBar, ProgressStyle};

use checkpoint::{Checkpoint, EpochRecord, TrainState, write_atomically};
use config::TrainConfig;
use features::FeatureCache;
use glimpse_data::vocab_builder::encode;
use glimpse_data::{Dataset, LoadOptions, Rng, Sample, Split, build_vocabulary};
use loss::caption_loss;
use step::{Batch, BatchInput, Optimizers, encode_input, read_scalars, train_step, train_step_parallel};

pub const LAST: &str = "last.safetensors";
pub const BEST: &str = "best.safetensors";

/// Random streams, one per purpose (see [`TrainState`]).
const ORDER_STREAM: u64 = 1 << 32;
const DROPOUT_STREAM: u64 = 2 << 32;

/// Everything `glimpse train` is told.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The data folder (recorded in the checkpoint; optional when resuming).
    pub data: Option<PathBuf>,
    pub run: PathBuf,
    /// A new run's config (ignored when resuming: the checkpoint has it).
    pub config: TrainConfig,
    pub resume: bool,
    /// The devices to train on: one, or several for data-parallel training (the first one
    /// also initialises the model and holds the optimiser).
    pub devices: Vec<Device>,
    /// The backend's name, for messages ("flex", "wgpu", …).
    pub backend_name: &'static str,
    /// Save `last.safetensors` every this many steps as well as after every epoch (0: epochs only).
    pub checkpoint_every: u64,
    /// Stop (saving a checkpoint) after this many steps in all; for benchmarks and tests.
    pub max_steps: Option<u64>,
}

impl TrainRequest {
    fn first_device(&self) -> Result<&Device> {
        self.devices
            .first()
            .ok_or_else(|| anyhow::anyhow!("no device to train on"))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainOutcome {
    /// All epochs done or stopped early; the state says which.
    Finished(TrainState),
    /// Ctrl-C / SIGTERM, or `max_steps`: saved, resumable.
    Paused(TrainState),
}

/// One training example: an image (index into the split) and one of its captions as ids.
#[derive(Debug, Clone)]
struct Pair {
    sample: usize,
    caption: Vec<u32>,
}

struct Trainer<'a> {
    config: TrainConfig,
    model_config: ModelConfig,
    vocab: Vocabulary,
    run: PathBuf,
    device: Device,
    autodiff: Device,
    /// Every device of a data-parallel run (autodiff), the first being `autodiff`.
    replicas: Vec<Device>,
    /// `Some` when the encoder is frozen.
    cache: Option<FeatureCache>,
    train: Vec<&'a Sample>,
    val: Vec<&'a Sample>,
    pairs: Vec<Pair>,
    val_pairs: Vec<Pair>,
    optimizers: Optimizers,
    state: TrainState,
    stop: Arc<AtomicBool>,
    checkpoint_every: u64,
    max_steps: Option<u64>,
    steps_csv: fs::File,
}

/// Starts or resumes a run.
pub fn run(request: &TrainRequest) -> Result<TrainOutcome> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("installing the Ctrl-C handler")?;
    }
    let resumed = if request.resume {
        let path = request.run.join(LAST);
        if !path.is_file() {
            bail!(
                "{}: nothing to resume (no {LAST} in the run folder)",
                request.run.display()
            );
        }
        Some(Checkpoint::read(&path)?)
    } else {
        if request.run.join(LAST).exists() {
            bail!(
                "{}: already holds a run; continue it with `glimpse train --resume {}` or choose a new folder",
                request.run.display(),
                request.run.display()
            );
        }
        request.config.validate()?;
        None
    };
    let config = resumed
        .as_ref()
        .map_or_else(|| request.config.clone(), |c| c.train_config.clone());
    let data = match (&request.data, &resumed) {
        (Some(data), _) => data.clone(),
        (None, Some(checkpoint)) => checkpoint.state.data.clone(),
        (None, None) => bail!("--data DIR is required for a new run"),
    };
    if let Some(checkpoint) = &resumed
        && checkpoint.state.finished
    {
        println!("{}: this run has already finished", request.run.display());
        return Ok(TrainOutcome::Finished(checkpoint.state.clone()));
    }
    fs::create_dir_all(&request.run).with_context(|| format!("{}", request.run.display()))?;

    let mut dataset = Dataset::load(
        &data,
        &LoadOptions {
            max_caption_tokens: config.max_caption_tokens,
            max_bad_fraction: config.max_bad_fraction,
        },
    )?;
    println!(
        "data: {} ({:?}): {}",
        dataset.name,
        dataset.layout,
        dataset.summary()
    );
    report_problems(&dataset, &request.run)?;

    let vocab_path = request.run.join("vocab.json");
    let (vocab, model_config, weights) = match &resumed {
        Some(checkpoint) => (
            checkpoint.vocab.clone(),
            checkpoint.model_config.clone(),
            checkpoint.weights.clone(),
        ),
        None => {
            let vocab = build_vocabulary(dataset.split(Split::Train), config.min_word_count);
            fs::write(&vocab_path, vocab.to_json())?;
            fs::write(
                request.run.join("config.json"),
                serde_json::to_string_pretty(&config)?,
            )?;
            let device = request.first_device()?;
            let (model_config, weights) = init::initial_model(&config, &vocab, &vocab_path, device)?;
            (vocab, model_config, weights)
        }
    };
    println!(
        "model: {} encoder ({}), vocabulary {} words, {} parameters",
        model_config.encoder.arch.name(),
        if config.fine_tune_stages == 0 {
            "frozen".to_string()
        } else {
            format!("last {} stages fine-tuned", config.fine_tune_stages)
        },
        vocab.len(),
        weights.iter().map(|(_, t)| t.numel()).sum::<usize>()
    );
    if config.encoder_weights.is_none() && config.fine_tune_stages == 0 {
        eprintln!(
            "warning: the encoder is frozen with random weights; its features carry little information"
        );
    }

    let devices = &request.devices;
    let device = request.first_device()?.clone();
    let autodiff = device.clone().autodiff();
    let replicas: Vec<Device> = devices.iter().map(|d| d.clone().autodiff()).collect();
    if replicas.len() > 1 {
        println!(
            "data-parallel over {} {} devices",
            replicas.len(),
            request.backend_name
        );
    }
    let mut model = CaptionModel::from_weights(&model_config, &weights, &autodiff)?;
    let stages = config.fine_tune_stages;
    set_trainable(&mut model, &|name| init::is_trainable(name, stages));

    let cache = if config.fine_tune_stages == 0 {
        let encoder_weights = encoder_only(&weights);
        let cache = FeatureCache::open(&data, &model_config, &encoder_weights)?;
        let plain = model.valid();
        let wanted: Vec<&Sample> = dataset
            .split(Split::Train)
            .iter()
            .chain(dataset.split(Split::Val))
            .collect();
        let report = cache.ensure(&wanted, &plain, &model_config, &device)?;
        println!(
            "feature cache {}: {} cached, {} computed, {} unreadable",
            cache.dir().display(),
            report.hits,
            report.computed,
            report.failed.len()
        );
        drop_unreadable(&mut dataset, &report.failed, &config, &request.run)?;
        Some(cache)
    } else {
        None
    };

    let mut optimizers = Optimizers::adam(config.grad_clip, config.fine_tune_stages > 0);
    let state = match &resumed {
        Some(checkpoint) => {
            optimizers.decoder = optimizers
                .decoder
                .from_bytes(Bytes::from_bytes_vec(checkpoint.decoder_optimizer.clone()))
                .map_err(|e| anyhow!("{LAST}: optimizer state: {e:?}"))?;
            if let (Some(optim), Some(bytes)) = (optimizers.encoder.take(), &checkpoint.encoder_optimizer) {
                optimizers.encoder = Some(
                    optim
                        .from_bytes(Bytes::from_bytes_vec(bytes.clone()))
                        .map_err(|e| anyhow!("{LAST}: encoder optimizer state: {e:?}"))?,
                );
            }
            let state = checkpoint.state.clone();
            println!(
                "resuming at epoch {}, batch {}, step {}",
                state.epoch + 1,
                state.batch_in_epoch,
                state.step
            );
            state
        }
        None => TrainState {
            data: data.canonicalize().unwrap_or(data.clone()),
            dataset: dataset.name.clone(),
            epoch: 0,
            batch_in_epoch: 0,
            step: 0,
            epoch_loss_sum: 0.0,
            epoch_samples: 0,
            epoch_seconds: 0.0,
            best_bleu4: None,
            best_epoch: None,
            epochs_without_improvement: 0,
            finished: false,
            train_seconds: 0.0,
            history: Vec::new(),
        },
    };
    let steps_csv = open_steps_csv(&request.run, state.step)?;

    let train: Vec<&Sample> = dataset.split(Split::Train).iter().collect();
    let mut val: Vec<&Sample> = dataset.split(Split::Val).iter().collect();
    if val.is_empty() {
        bail!(
            "{}: the val split is empty; validation BLEU-4 needs it",
            data.display()
        );
    }
    if let Some(limit) = config.val_images {
        val.truncate(limit.max(1));
    }
    let pairs = make_pairs(&train, &vocab);
    let val_pairs = make_pairs(&val, &vocab);
    let mut trainer = Trainer {
        config,
        model_config,
        vocab,
        run: request.run.clone(),
        device,
        autodiff,
        replicas,
        cache,
        train,
        val,
        pairs,
        val_pairs,
        optimizers,
        state,
        stop,
        checkpoint_every: request.checkpoint_every,
        max_steps: request.max_steps,
        steps_csv,
    };
    trainer.train(model)
}

fn encoder_only(weights: &TensorMap) -> TensorMap {
    let mut encoder = TensorMap::new();
    for (name, tensor) in weights.iter() {
        if name.starts_with("encoder.") {
            encoder.insert(name, tensor.clone());
        }
    }
    encoder
}

fn report_problems(dataset: &Dataset, run: &Path) -> Result<()> {
    let problems = &dataset.problems;
    fs::write(run.join("data-problems.txt"), problems.all().join("\n") + "\n")?;
    if !problems.is_empty() {
        eprintln!(
            "data: {} problems, {} unreadable rows (all in {}):",
            problems.len(),
            problems.bad_rows(),
            run.join("data-problems.txt").display()
        );
        for message in problems.first(5) {
            eprintln!("  {message}");
        }
    }
    Ok(())
}

/// Leaves out images the encoder could not read, within the same threshold as the data.
fn drop_unreadable(
    dataset: &mut Dataset,
    failed: &[(String, String)],
    config: &TrainConfig,
    run: &Path,
) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    let total: usize = dataset.splits.values().map(Vec::len).sum();
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(run.join("data-problems.txt"))?;
    for (_, reason) in failed {
        eprintln!("  unreadable image, skipped: {reason}");
        writeln!(log, "{reason}: unreadable image; skipped")?;
    }
    if failed.len() as f64 > config.max_bad_fraction * total as f64 {
        bail!(
            "{} of {total} images are unreadable (more than {:.0}%); first: {}",
            failed.len(),
            config.max_bad_fraction * 100.0,
            failed[0].1
        );
    }
    for samples in dataset.splits.values_mut() {
        samples.retain(|s| !failed.iter().any(|(name, _)| name == &s.name));
    }
    Ok(())
}

fn make_pairs(samples: &[&Sample], vocab: &Vocabulary) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for (index, sample) in samples.iter().enumerate() {
        for tokens in &sample.tokens {
            pairs.push(Pair {
                sample: index,
                caption: encode(vocab, tokens),
            });
        }
    }
    pairs
}

/// `steps.csv`, cut back to `step` rows when resuming (rows after the checkpoint were trained
/// again).
fn open_steps_csv(run: &Path, step: u64) -> Result<fs::File> {
    let path = run.join("steps.csv");
    let mut kept = String::from("step,epoch,batch,loss,cross_entropy,attention\n");
    if step > 0
        && let Ok(text) = fs::read_to_string(&path)
    {
        for line in text.lines().skip(1) {
            let row_step: u64 = line
                .split(',')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(u64::MAX);
            if row_step <= step {
                kept.push_str(line);
                kept.push('\n');
            }
        }
    }
    fs::write(&path, kept)?;
    Ok(fs::OpenOptions::new().append(true).open(&path)?)
}

impl Trainer<'_> {
    fn batches_per_epoch(&self) -> usize {
        self.pairs.len().div_ceil(self.config.batch_size)
    }

    /// The training pairs of `epoch` in their drawn order.
    fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.pairs.len()).collect();
        Rng::derive(self.config.seed, ORDER_STREAM + epoch as u64).shuffle(&mut order);
        order
    }

    fn train(&mut self, mut model: CaptionModel) -> Result<TrainOutcome> {
        let batches = self.batches_per_epoch();
        while self.state.epoch < self.config.epochs {
            let epoch = self.state.epoch;
            let (decoder_lr, encoder_lr) = self.config.learning_rates(epoch);
            let order = self.epoch_order(epoch);
            let progress = ProgressBar::new(batches as u64).with_style(
                ProgressStyle::with_template("epoch {prefix} {bar:25} {pos}/{len} {msg} eta {eta}")
                    .expect("a valid template"),
            );
            progress.set_prefix(format!("{}/{}", epoch + 1, self.config.epochs));
            progress.set_position(self.state.batch_in_epoch as u64);
            let mut started = Instant::now();
            for batch_index in self.state.batch_in_epoch..batches {
                if self.stop.load(Ordering::SeqCst) {
                    progress.abandon();
                    clock(&mut self.state, &mut started);
                    return self.pause(&mut model, "interrupted");
                }
                if self.max_steps.is_some_and(|max| self.state.step >= max) {
                    progress.abandon();
                    clock(&mut self.state, &mut started);
                    return self.pause(&mut model, "step limit reached");
                }
                let indices = &order[batch_index * self.config.batch_size
                    ..((batch_index + 1) * self.config.batch_size).min(order.len())];
                let pairs: Vec<&Pair> = indices.iter().map(|&i| &self.pairs[i]).collect();
                let batch_size = pairs.len();
                let learning_rates = (decoder_lr, encoder_lr);
                let [loss, cross_entropy, attention];
                (model, [loss, cross_entropy, attention]) = if self.replicas.len() == 1 {
                    let batch = self.make_batch(&pairs, &self.train, &self.autodiff)?;
                    let seed = Rng::derive(self.config.seed, DROPOUT_STREAM + self.state.step).next_u64();
                    self.autodiff.seed(seed);
                    train_step(
                        model,
                        &mut self.optimizers,
                        batch,
                        learning_rates,
                        self.config.alpha_c,
                    )
                } else {
                    // Contiguous shares of the batch, one per device.
                    let share = pairs.len().div_ceil(self.replicas.len());
                    let mut batches = Vec::new();
                    for (k, (chunk, device)) in pairs.chunks(share).zip(&self.replicas).enumerate() {
                        batches.push(self.make_batch(chunk, &self.train, device)?);
                        let stream = DROPOUT_STREAM + self.state.step + ((k as u64) << 40);
                        device.seed(Rng::derive(self.config.seed, stream).next_u64());
                    }
                    let devices = &self.replicas[..batches.len()];
                    let alpha_c = self.config.alpha_c;
                    train_step_parallel(
                        model,
                        &mut self.optimizers,
                        batches,
                        devices,
                        learning_rates,
                        alpha_c,
                    )
                    // The optimizer leaves parameters on the devices that updated them.
                    .map(|(model, loss)| (model.fork(&self.autodiff), loss))
                }
                .with_context(|| format!("step {}", self.state.step + 1))?;
                self.state.step += 1;
                self.state.batch_in_epoch = batch_index + 1;
                writeln!(
                    self.steps_csv,
                    "{},{},{},{loss},{cross_entropy},{attention}",
                    self.state.step,
                    epoch + 1,
                    batch_index + 1
                )?;
                self.state.epoch_loss_sum += loss;
                self.state.epoch_samples += batch_size;
                let batches_done = (batch_index + 1) as f64;
                let seconds = self.state.epoch_seconds + started.elapsed().as_secs_f64();
                let rate = self.state.epoch_samples as f64 / seconds.max(1e-9);
                progress.set_message(format!(
                    "loss {:.3} {rate:.0} samples/s",
                    self.state.epoch_loss_sum / batches_done
                ));
                progress.inc(1);
                if self.checkpoint_every > 0 && self.state.step % self.checkpoint_every == 0 {
                    clock(&mut self.state, &mut started);
                    self.save(&mut model, false)?;
                }
            }
            progress.finish_and_clear();
            clock(&mut self.state, &mut started);
            let seconds = self.state.epoch_seconds;
            let (val_loss, bleu) = self.validate(&model)?;
            let record = EpochRecord {
                epoch: epoch + 1,
                step: self.state.step,
                train_loss: self.state.epoch_loss_sum / batches.max(1) as f64,
                val_loss,
                bleu,
                decoder_lr,
                encoder_lr,
                samples_per_s: self.state.epoch_samples as f64 / seconds.max(1e-9),
                seconds,
            };
            println!(
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
            self.save(&mut model, improved)?;
            self.write_metrics()?;
            if stop_early {
                println!(
                    "early stop: no better validation BLEU-4 for {} epochs (best {:.4} at epoch {})",
                    self.config.patience,
                    self.state.best_bleu4.unwrap_or(0.0),
                    self.state.best_epoch.unwrap_or(0)
                );
                break;
            }
        }
        self.state.finished = true;
        Ok(TrainOutcome::Finished(self.state.clone()))
    }

    fn pause(&mut self, model: &mut CaptionModel, why: &str) -> Result<TrainOutcome> {
        self.save(model, false)?;
        println!(
            "{why}: saved {} at step {}; continue with `glimpse train --resume {}`",
            self.run.join(LAST).display(),
            self.state.step,
            self.run.display()
        );
        Ok(TrainOutcome::Paused(self.state.clone()))
    }

    fn make_batch(&self, pairs: &[&Pair], samples: &[&Sample], device: &Device) -> Result<Batch> {
        let batch = pairs.len();
        let input = match &self.cache {
            Some(cache) => {
                let (positions, dim) = (self.model_config.positions(), self.model_config.encoder_dim());
                let mut values = Vec::with_capacity(batch * positions * dim);
                for pair in pairs {
                    values.extend(cache.read(samples[pair.sample])?);
                }
                BatchInput::Features(Tensor::from_data(
                    TensorData::new(values, [batch, positions, dim]),
                    device,
                ))
            }
            None => {
                let [height, width] = self.model_config.preprocess.size.map(|s| s as usize);
                let mut values = Vec::with_capacity(batch * 3 * height * width);
                for pair in pairs {
                    let sample = samples[pair.sample];
                    let bytes =
                        fs::read(&sample.path).with_context(|| format!("{}", sample.path.display()))?;
                    let input = bytes_to_input(&bytes, &self.model_config.preprocess)
                        .map_err(|e| anyhow!("{}: {e}", sample.path.display()))?;
                    values.extend(input);
                }
                BatchInput::Images(Tensor::from_data(
                    TensorData::new(values, [batch, 3, height, width]),
                    device,
                ))
            }
        };
        let captions: Vec<&[u32]> = pairs.iter().map(|p| p.caption.as_slice()).collect();
        Ok(Batch::new(input, &captions, self.vocab.pad.unwrap_or(0), device))
    }

    /// Validation loss (no dropout) and corpus BLEU-1..4 of the decoded captions.
    fn validate(&self, model: &CaptionModel) -> Result<(f64, [f64; 4])> {
        let eval = model.valid();
        let (mut loss_sum, mut count) = (0.0, 0usize);
        for chunk in self.val_pairs.chunks(self.config.batch_size) {
            let pairs: Vec<&Pair> = chunk.iter().collect();
            let batch = self.make_batch(&pairs, &self.val, &self.device)?;
            let encoded = encode_input(&eval, batch.input);
            let (logits, alphas) = eval.decoder.forward(&encoded, batch.captions);
            let loss = caption_loss(
                logits,
                alphas,
                batch.targets,
                batch.mask,
                batch.tokens,
                self.config.alpha_c,
            );
            loss_sum += read_scalars(loss.total())?[0] * pairs.len() as f64;
            count += pairs.len();
        }
        let mut bleu = Bleu::new();
        let grid = self.model_config.grid();
        let options = GenerateOptions {
            beam_width: self.config.val_beam,
            max_len: self.config.val_max_len,
            ..GenerateOptions::default()
        };
        let images: Vec<Pair> = (0..self.val.len())
            .map(|sample| Pair {
                sample,
                caption: vec![],
            })
            .collect();
        for chunk in images.chunks(self.config.batch_size) {
            let pairs: Vec<&Pair> = chunk.iter().collect();
            let batch = self.make_batch_images(&pairs)?;
            let encoded = encode_input(&eval, batch);
            let captions = if options.beam_width == 1 {
                pollster::block_on(glimpse_model::generate::greedy(
                    &eval,
                    &encoded,
                    &self.vocab,
                    grid,
                    options.max_len,
                ))?
            } else {
                let mut out = Vec::new();
                for row in 0..pairs.len() {
                    let one = encoded.select(Tensor::from_data(
                        TensorData::new(vec![row as i64], [1]),
                        &self.device,
                    ));
                    out.push(pollster::block_on(glimpse_model::generate::beam_search(
                        &eval,
                        &one,
                        &self.vocab,
                        grid,
                        options.clone(),
                    ))?);
                }
                out
            };
            for (pair, caption) in pairs.iter().zip(captions) {
                bleu.add(&caption.tokens, &self.val[pair.sample].tokens);
            }
        }
        Ok((loss_sum / count.max(1) as f64, bleu.scores().corpus))
    }

    /// Encoder inputs for whole images (no captions), on the plain device.
    fn make_batch_images(&self, pairs: &[&Pair]) -> Result<BatchInput> {
        let with_caption: Vec<Pair> = pairs
            .iter()
            .map(|p| Pair {
                sample: p.sample,
                caption: vec![self.vocab.start, self.vocab.end],
            })
            .collect();
        let refs: Vec<&Pair> = with_caption.iter().collect();
        Ok(self.make_batch(&refs, &self.val, &self.device)?.input)
    }

    fn save(&mut self, model: &mut CaptionModel, best: bool) -> Result<()> {
        self.steps_csv.flush()?;
        let weights = pollster::block_on(model.weights())?;
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
        write_atomically(&self.run.join(LAST), &bytes)?;
        if best {
            write_atomically(&self.run.join(BEST), &bytes)?;
        }
        Ok(())
    }

    fn write_metrics(&self) -> Result<()> {
        let mut csv = String::from(
            "epoch,step,train_loss,val_loss,bleu1,bleu2,bleu3,bleu4,decoder_lr,encoder_lr,samples_per_s,seconds\n",
        );
        for r in &self.state.history {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{:.2},{:.2}\n",
                r.epoch,
                r.step,
                r.train_loss,
                r.val_loss,
                r.bleu[0],
                r.bleu[1],
                r.bleu[2],
                r.bleu[3],
                r.decoder_lr,
                r.encoder_lr,
                r.samples_per_s,
                r.seconds
            ));
        }
        write_atomically(&self.run.join("metrics.csv"), csv.as_bytes())?;
        let steps = fs::read_to_string(self.run.join("steps.csv"))?;
        let step_losses: Vec<(f64, f64)> = steps
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut fields = line.split(',');
                let step = fields.next()?.parse().ok()?;
                let loss = fields.nth(2)?.parse().ok()?;
                Some((step, loss))
            })
            .collect();
        let smoothed = moving_average(&step_losses, 25);
        let val: Vec<(f64, f64)> = self
            .state
            .history
            .iter()
            .map(|r| (r.step as f64, r.val_loss))
            .collect();
        let train_epoch: Vec<(f64, f64)> = self
            .state
            .history
            .iter()
            .map(|r| (r.step as f64, r.train_loss))
            .collect();
        let loss_svg = curves::line_chart(
            "Loss",
            "step",
            &[
                curves::Series {
                    name: "train (per step, smoothed)",
                    color: "#9ecae1",
                    points: smoothed,
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
        );
        fs::write(self.run.join("loss.svg"), loss_svg)?;
        let bleu: Vec<(f64, f64)> = self
            .state
            .history
            .iter()
            .map(|r| (r.epoch as f64, r.bleu[3]))
            .collect();
        let bleu1: Vec<(f64, f64)> = self
            .state
            .history
            .iter()
            .map(|r| (r.epoch as f64, r.bleu[0]))
            .collect();
        let bleu_svg = curves::line_chart(
            "Validation BLEU",
            "epoch",
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
        );
        fs::write(self.run.join("bleu.svg"), bleu_svg)?;
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
