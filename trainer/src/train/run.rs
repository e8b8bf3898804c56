//! Starting or resuming a run: check the run folder, load the data, build or read back the
//! model and optimisers, fill the feature cache, and hand everything to the trainer.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::tensor::{Bytes, Device};
use glimpse_data::{Dataset, LoadOptions, Sample, Split, build_vocabulary};
use glimpse_files::{
    FolderLock, caps, hold_folder, note, open_append, read_regular, read_regular_to_string, say, shown,
    terminal_safe, write_replacing,
};
use glimpse_model::config::PreprocessConfig;
use glimpse_model::params::set_trainable;
use glimpse_model::preprocess::bytes_to_input;
use glimpse_model::{CaptionModel, ModelConfig, TensorMap, Vocabulary};
use indicatif::{ProgressBar, ProgressStyle};

use crate::signals::StopOnSignal;

use super::batch::Examples;
use super::best::{BestBeside, check_best};
use super::checkpoint::{Checkpoint, TrainState};
use super::config::TrainConfig;
use super::features::FeatureCache;
use super::footprint::{Footprint, StepBudget};
use super::init;
use super::optimizer_state::{self, Part};
use super::records::{self, Records};
use super::step::Optimizers;
use super::trainer::{Devices, Limits, Trainer};
use super::{
    BEST, BLEU_CHART, CONFIG, DATA_PROBLEMS, LAST, LOSS_CHART, METRICS, RUN_FILES, STEPS, TrainOutcome,
    TrainRequest, VOCAB,
};

/// Starts or resumes a run.
pub fn run(request: &TrainRequest) -> Result<TrainOutcome> {
    // Until the first step a signal ends the run at once (status 128 + its number): nothing to
    // save yet (hostile round 10: a 255 MB `captions.txt` kept `timeout`'s SIGTERM waiting 70 s).
    crate::signals::handle_signals().context("installing the Ctrl-C handler")?;
    let _held = hold_run_folder(request)?;
    let resumed = previous_checkpoint(request)?;
    let setup = Setup::new(request, resumed.as_ref())?;
    if let Some(checkpoint) = &resumed
        && checkpoint.state.finished
    {
        say!("{}: this run has already finished", shown(&request.run))?;
        return Ok(TrainOutcome::Finished(checkpoint.state.clone()));
    }
    let before = request.budget().held();
    let dataset = setup.load_dataset()?;
    let (vocab, resumed) = match resumed {
        Some(mut checkpoint) => {
            // Before any work on the data (its features take minutes to compute).
            same_data(&mut checkpoint.state, &dataset, &setup.data)?;
            let (vocab, start) = Start::resumed(checkpoint);
            (vocab, Some(start))
        }
        None => (setup.new_vocabulary(&dataset)?, None),
    };
    let (mut train, mut val) = setup.examples(&dataset, &vocab)?;
    // The dataset, its captions encoded and an epoch's order stay through the run (made before
    // the model, they fill what loading freed): a step has what is left.
    let budget = request.budget().less_since(before).less(train.order_bytes());
    let start = match resumed {
        Some(start) => start.checked(&setup.config, &budget, &request.run)?,
        None => setup.new_start(&vocab, &budget)?,
    };
    setup.print_model(&start, &vocab)?;
    let devices = setup.devices()?;
    let model = CaptionModel::from_weights(&start.model_config, &start.weights, &devices.autodiff);
    // (A checkpoint's missing tensor was reported without the file: hostile round 26.)
    let mut model = match &start.resumed {
        Some(_) => model.with_context(|| format!("{}", shown(&request.run.join(LAST))))?,
        None => model?,
    };
    let stages = setup.config.fine_tune_stages;
    set_trainable(&mut model, &|name| init::is_trainable(name, stages));
    if let Some(resumed) = &start.resumed {
        check_optimizer_states(resumed, &model)?;
    }
    let cache = match stages {
        0 => Some(setup.feature_cache(&start, &model, &dataset, [&mut train, &mut val], &devices.plain)?),
        _ => {
            setup.check_photos([&mut train, &mut val], &start.model_config.preprocess)?;
            None
        }
    };
    // After the unreadable images have left: validation scores `val_images` it can read.
    if let Some(limit) = setup.config.val_images {
        val.keep_first(limit.max(1));
    }
    let (optimizers, state) = setup.optimizers_and_state(start.resumed, &dataset, &train)?;
    let records = Records::open(&request.run, state.step)?;
    // From here Ctrl-C saves and pauses; until here it ended the run at once.
    let stop = Arc::new(AtomicBool::new(false));
    let _graceful = StopOnSignal::new(&stop).context("installing the Ctrl-C handler")?;
    let mut trainer = Trainer {
        config: setup.config,
        model_config: start.model_config,
        vocab,
        devices,
        cache,
        train,
        val,
        optimizers,
        saved_at: state.step,
        state,
        limits: Limits {
            stop,
            checkpoint_every: request.checkpoint_every,
            max_steps: request.max_steps,
        },
        records,
    };
    trainer.train(model)
}

/// Locks the run folder (created for a new run) until the run ends: two runs into one folder
/// replaced each other's checkpoints and `steps.csv`, and both reported success. Temporary files
/// a killed run left there (a checkpoint's is its full size) are removed once it is held. Taken before
/// the folder is checked for a run, so the second of two runs started together is refused.
/// Nothing is held for a `--resume` of a folder that is not there: there is nothing to resume.
/// On a file system without locks the run goes on, with a warning.
fn hold_run_folder(request: &TrainRequest) -> Result<Option<FolderLock>> {
    if request.resume && !request.run.is_dir() {
        return Ok(None);
    }
    // A file there was "File exists (os error 17)".
    glimpse_files::check_output_folder(&request.run, &RUN_FILES)?;
    fs::create_dir_all(&request.run).with_context(|| format!("{}", shown(&request.run)))?;
    let held = hold_folder(&request.run)?;
    if held.is_some() {
        // Held, so no other process writes here: any temporary file is a killed run's.
        glimpse_files::remove_staged_leftovers(&request.run, &RUN_FILES).with_context(|| {
            format!(
                "{}: removing temporary files left by a killed run",
                shown(&request.run)
            )
        })?;
    }
    Ok(held)
}

/// The checkpoint to resume from; `None` for a new run, whose folder must not hold one. Either
/// way the config the run will use is validated here, before anything is loaded or trained: a
/// checkpoint's is checked exactly as a fresh one's.
fn previous_checkpoint(request: &TrainRequest) -> Result<Option<Checkpoint>> {
    let path = request.run.join(LAST);
    if request.resume {
        // (A link loop read as no checkpoint: it is named as one, by reading it.)
        if fs::symlink_metadata(&path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            bail!(
                "{}: nothing to resume (no {LAST} in the run folder)",
                shown(&request.run)
            );
        }
        let last = resumable(&path, request)?;
        // (Not for a finished run, which trains nothing: review 69.)
        if last.state.finished
            || check_best(&request.run, &last.train_config, &last.state)? != BestBeside::Ahead
        {
            return Ok(Some(last));
        }
        let epoch = last.state.epoch;
        drop(last); // (one checkpoint in memory at a time)
        catch_up_from_best(&request.run, epoch)?;
        return resumable(&path, request).map(Some);
    }
    if path.exists() {
        bail!(
            "{}: already holds a run; continue it with `glimpse train --resume {}` or choose a new folder",
            request.run.display(),
            request.run.display()
        );
    }
    // (Validated first: an invalid setting was reported as "not this run's training config".)
    request.config.validate()?;
    check_nothing_to_replace(&request.run, &request.config)?;
    Ok(None)
}

/// The checkpoint at `path`, read and checked as one to resume from.
fn resumable(path: &Path, request: &TrainRequest) -> Result<Checkpoint> {
    let checkpoint = Checkpoint::read(path)?;
    // Memory is checked once the dataset is loaded (Start::checked).
    let budget = StepBudget {
        memory: None,
        ..request.budget()
    };
    checkpoint
        .train_config
        .check_trainable(&checkpoint.model_config, &budget)
        .with_context(|| format!("{}: the training config it holds", shown(path)))?;
    if checkpoint.vocab.unk.is_none() {
        // Training maps words outside the vocabulary to <UNK>; a run always has one.
        bail!(
            "{}: its vocabulary has no <UNK> token, so no run wrote it",
            shown(path)
        );
    }
    Ok(checkpoint)
}

/// Puts the run's best checkpoint, one epoch past its last (`epoch` ended), in last's place
/// with that epoch's records: the run was killed between writing the two, and a save writes the
/// same bytes to both, best first, so best holds what last would (resuming from last trained
/// that epoch again, and a killed final epoch never reached last nor `metrics.csv`: reviews 73
/// and 74).
fn catch_up_from_best(run: &Path, epoch: usize) -> Result<()> {
    let (best, last) = (run.join(BEST), run.join(LAST));
    note!(
        "note: {} holds the end of epoch {}, saved just before the run stopped: it takes the \
         place of {LAST}",
        shown(&best),
        epoch + 1
    );
    let bytes = read_regular(&best, caps::MODEL, "checkpoint")?;
    crate::files::write_atomically(&last, &bytes)?;
    let (_, caught_up) = Checkpoint::read_state(&last)?;
    records::write_metrics(run, &caught_up.history)
}

/// A new run replaces the files of [`RUN_FILES`] in its folder. It may replace those a run
/// killed before its first checkpoint left, but not an earlier run's results (its `last`
/// deleted to save space, its `best` replaced after the first epoch: review 66) nor files that
/// are no run's (a `config.json` of the user's in `--out .`). A `config.json` is replaced only
/// when it holds `config`, the one this run writes there: a training config written by hand
/// was replaced too (hostile round 21).
fn check_nothing_to_replace(run: &Path, config: &TrainConfig) -> Result<()> {
    let refuse = |name: &str, what: &str| {
        bail!(
            "{}: {what}, which a new run would replace; move it away or choose a new folder",
            shown(&run.join(name))
        )
    };
    // (A link is replaced, never followed: replacing it loses nothing of what it names.)
    let holds = |name: &str| fs::symlink_metadata(run.join(name)).is_ok_and(|m| !m.file_type().is_symlink());
    // Written only once an epoch has ended, with a checkpoint this folder no longer holds.
    for name in [BEST, METRICS, LOSS_CHART, BLEU_CHART] {
        if holds(name) {
            refuse(name, &format!("an earlier run's results (its {LAST} is gone)"))?;
        }
    }
    if holds(CONFIG) && TrainConfig::read(&run.join(CONFIG)).ok().as_ref() != Some(config) {
        refuse(CONFIG, "not this run's training config")?;
    }
    let vocab = |text: String| Vocabulary::from_json(&text).is_ok();
    if holds(VOCAB) && !read_regular_to_string(&run.join(VOCAB), caps::CONFIG, "vocabulary").is_ok_and(vocab)
    {
        refuse(VOCAB, "not a vocabulary")?;
    }
    let run_wrote = |name: &str, first: &str| records::starts_with_line(&run.join(name), first);
    if holds(STEPS) && !run_wrote(STEPS, records::STEPS_HEADER) {
        refuse(STEPS, "not a run's step log")?;
    }
    if holds(DATA_PROBLEMS) && !run_wrote(DATA_PROBLEMS, PROBLEMS_HEADER) {
        refuse(DATA_PROBLEMS, "not a run's list of data problems")?;
    }
    Ok(())
}

/// Where training continues from: a new run's initial model, or a checkpoint's.
struct Start {
    model_config: ModelConfig,
    weights: TensorMap,
    /// The checkpoint's progress and optimiser states when resuming.
    resumed: Option<Resumed>,
}

struct Resumed {
    state: TrainState,
    decoder_optimizer: Vec<u8>,
    encoder_optimizer: Option<Vec<u8>>,
}

impl Start {
    /// The checkpoint's vocabulary and run, its memory not yet checked ([`Start::checked`]).
    fn resumed(checkpoint: Checkpoint) -> (Vocabulary, Start) {
        let start = Start {
            model_config: checkpoint.model_config,
            weights: checkpoint.weights,
            resumed: Some(Resumed {
                state: checkpoint.state,
                decoder_optimizer: checkpoint.decoder_optimizer,
                encoder_optimizer: checkpoint.encoder_optimizer,
            }),
        };
        (checkpoint.vocab, start)
    }

    /// The resumed run, if a step of `config` fits in `budget`.
    fn checked(self, config: &TrainConfig, budget: &StepBudget, run: &Path) -> Result<Start> {
        Footprint::of(config, &self.model_config, budget.devices)
            .check(budget.memory)
            .with_context(|| format!("{}: the training config it holds", shown(&run.join(LAST))))?;
        Ok(self)
    }
}

/// What every setup step reads: the request, the run's config (the checkpoint's when
/// resuming) and its data folder.
struct Setup<'r> {
    request: &'r TrainRequest,
    config: TrainConfig,
    data: PathBuf,
}

impl<'r> Setup<'r> {
    fn new(request: &'r TrainRequest, resumed: Option<&Checkpoint>) -> Result<Setup<'r>> {
        let config = resumed.map_or_else(|| request.config.clone(), |c| c.train_config.clone());
        let data = match (&request.data, resumed) {
            (Some(data), _) => data.clone(),
            (None, Some(checkpoint)) => checkpoint.state.data.clone(),
            (None, None) => bail!("--data DIR is required for a new run"),
        };
        Ok(Setup {
            request,
            config,
            data,
        })
    }

    fn run(&self) -> &Path {
        &self.request.run
    }

    /// The dataset, its problems reported on stderr and in `data-problems.txt`.
    fn load_dataset(&self) -> Result<Dataset> {
        let dataset = Dataset::load(
            &self.data,
            &LoadOptions {
                max_caption_tokens: self.config.max_caption_tokens,
                max_bad_fraction: self.config.max_bad_fraction,
                ..LoadOptions::default()
            },
        )?;
        if dataset.split(Split::Train).is_empty() {
            bail!(
                "{}: the train split has no usable images (training needs one; `glimpse eval` scores \
                 the other splits without it)",
                shown(&self.data)
            );
        }
        say!(
            "data: {} ({:?}): {}",
            terminal_safe(&dataset.name),
            dataset.layout,
            dataset.summary()
        )?;
        report_problems(&dataset, self.run())?;
        Ok(dataset)
    }

    /// A new run's vocabulary, of the train split, written to the run folder.
    fn new_vocabulary(&self, dataset: &Dataset) -> Result<Vocabulary> {
        let vocab = build_vocabulary(dataset.split(Split::Train), self.config.min_word_count)?;
        let path = self.run().join(VOCAB);
        // Replaced (with the first checkpoint, as `config.json` is) only when it holds the
        // vocabulary this run builds: another model's vocabulary, or a word map of sgrvinod's
        // shape, was replaced (hostile round 26). (A link is replaced, never followed.)
        let file = fs::symlink_metadata(&path).is_ok_and(|m| !m.file_type().is_symlink());
        let found = || read_regular_to_string(&path, caps::CONFIG, "vocabulary").ok();
        if file
            && found()
                .and_then(|text| Vocabulary::from_json(&text).ok())
                .as_ref()
                != Some(&vocab)
        {
            bail!(
                "{}: not the vocabulary this run builds from its data, which a new run would \
                 replace; move it away or choose a new folder",
                shown(&path)
            );
        }
        Ok(vocab)
    }

    /// A new run: the initial model built on the first device.
    fn new_start(&self, vocab: &Vocabulary, budget: &StepBudget) -> Result<Start> {
        let device = self.request.first_device()?;
        let (model_config, weights) = init::initial_model(&self.config, vocab, device, budget)?;
        Ok(Start {
            model_config,
            weights,
            resumed: None,
        })
    }

    fn print_model(&self, start: &Start, vocab: &Vocabulary) -> Result<()> {
        let stages = self.config.fine_tune_stages;
        say!(
            "model: {} encoder ({}), vocabulary {} words, {} parameters",
            start.model_config.encoder.arch.name(),
            if stages == 0 {
                "frozen".to_string()
            } else {
                format!("last {stages} stages fine-tuned")
            },
            vocab.len(),
            start.weights.iter().map(|(_, t)| t.numel()).sum::<usize>()
        )?;
        let footprint = Footprint::of(&self.config, &start.model_config, self.request.devices.len());
        say!("memory: a step takes about {}", footprint.describe())?;
        if self.config.encoder_weights.is_none() && stages == 0 {
            note!(
                "warning: the encoder is frozen with random weights; its features carry little information"
            );
        }
        Ok(())
    }

    fn devices(&self) -> Result<Devices> {
        let plain = self.request.first_device()?.clone();
        let autodiff = plain.clone().autodiff();
        let replicas: Vec<Device> = self
            .request
            .devices
            .iter()
            .map(|d| d.clone().autodiff())
            .collect();
        if replicas.len() > 1 {
            let batch = self.config.batch_size;
            let idle = match batch < replicas.len() {
                true => format!(" (a batch of {batch} runs on {batch} of them)"),
                false => String::new(),
            };
            say!(
                "data-parallel over {} {} devices{idle}",
                replicas.len(),
                self.request.backend_name
            )?;
        }
        Ok(Devices {
            plain,
            autodiff,
            replicas,
        })
    }

    /// The frozen encoder's features of every train and val image, computed where missing;
    /// images it cannot read leave the examples.
    fn feature_cache(
        &self,
        start: &Start,
        model: &CaptionModel,
        dataset: &Dataset,
        examples: [&mut Examples; 2],
        device: &Device,
    ) -> Result<FeatureCache> {
        let encoder_weights = encoder_only(&start.weights);
        let mut cache = FeatureCache::open(&self.data, self.run(), &start.model_config, &encoder_weights)?;
        let plain = model.valid();
        let wanted: Vec<&Sample> = dataset
            .split(Split::Train)
            .iter()
            .chain(dataset.split(Split::Val))
            .collect();
        let report = cache.ensure(&wanted, &plain, &start.model_config, device)?;
        say!(
            "feature cache {}: {} cached, {} computed, {} unreadable",
            shown(cache.dir()),
            report.hits,
            report.computed,
            report.failed.len()
        )?;
        drop_unreadable(&report.failed, examples, &self.config, self.run())?;
        Ok(cache)
    }

    /// Fresh optimisers and progress for a new run; the checkpoint's for a resumed one, whose
    /// states [`check_optimizer_states`] has checked (burn's loader trusts them).
    fn optimizers_and_state(
        &self,
        resumed: Option<Resumed>,
        dataset: &Dataset,
        train: &Examples,
    ) -> Result<(Optimizers, TrainState)> {
        let mut optimizers = Optimizers::adam(self.config.grad_clip, self.config.fine_tune_stages > 0);
        let readable = readable_fingerprint(train);
        let Some(resumed) = resumed else {
            return Ok((optimizers, new_state(&self.data, dataset, readable)));
        };
        optimizers.decoder = optimizers
            .decoder
            .from_bytes(Bytes::from_bytes_vec(resumed.decoder_optimizer))
            .map_err(|e| anyhow!("{LAST}: optimizer state: {e:?}"))?;
        // A fine-tuning run needs its encoder's state too: without it (an edited checkpoint),
        // the encoder optimizer was dropped and the encoder silently stayed frozen.
        if let Some(optim) = optimizers.encoder.take() {
            let Some(bytes) = resumed.encoder_optimizer else {
                bail!("{LAST}: the run fine-tunes its encoder but holds no encoder optimizer state");
            };
            optimizers.encoder = Some(
                optim
                    .from_bytes(Bytes::from_bytes_vec(bytes))
                    .map_err(|e| anyhow!("{LAST}: encoder optimizer state: {e:?}"))?,
            );
        }
        let mut state = resumed.state;
        same_readable(&mut state, readable);
        say!(
            "resuming at epoch {}, batch {}, step {}",
            state.epoch + 1,
            state.batch_in_epoch,
            state.step
        )?;
        Ok((optimizers, state))
    }

    /// Decodes each photo a fine-tuning run reads at every step once, before the first: one that
    /// did not decode stopped the run at its batch, and every resume at the same one (review
    /// 66). Those that fail leave the examples, as the frozen encoder's do.
    fn check_photos(&self, examples: [&mut Examples; 2], preprocess: &PreprocessConfig) -> Result<()> {
        let samples: Vec<&Sample> = examples.iter().flat_map(|e| e.samples.iter().copied()).collect();
        let failed = unreadable_photos(&samples, preprocess);
        say!(
            "photos: {} read, {} unreadable",
            samples.len() - failed.len(),
            failed.len()
        )?;
        drop_unreadable(&failed, examples, &self.config, self.run())
    }

    /// The train and val examples (all of the val split: `run` keeps `val_images` of them).
    fn examples<'d>(&self, dataset: &'d Dataset, vocab: &Vocabulary) -> Result<(Examples<'d>, Examples<'d>)> {
        let train: Vec<&Sample> = dataset.split(Split::Train).iter().collect();
        let val: Vec<&Sample> = dataset.split(Split::Val).iter().collect();
        if val.is_empty() {
            bail!(
                "{}: the val split is empty; validation BLEU-4 needs it",
                self.data.display()
            );
        }
        Ok((Examples::new(train, vocab), Examples::new(val, vocab)))
    }
}

/// SHA-256 over the train and val splits' image names, sizes and references, in order: what a
/// resumed run must find again (hostile round 13: another data set put at the same path was
/// trained on mid-epoch without a word, and the model card credited the first). Sizes, not
/// contents: reading every image again would cost a resume minutes.
pub(crate) fn data_fingerprint(dataset: &Dataset) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for split in [Split::Train, Split::Val] {
        for sample in dataset.split(split) {
            // Lengths first, so that no two lists of texts hash alike; u64::MAX for a photo
            // that cannot be read.
            hash.update((sample.name.len() as u64).to_le_bytes());
            hash.update(sample.name.as_bytes());
            let size = fs::metadata(&sample.path).map_or(u64::MAX, |m| m.len());
            hash.update(size.to_le_bytes());
            hash.update((sample.raw.len() as u64).to_le_bytes());
            for reference in &sample.raw {
                hash.update((reference.len() as u64).to_le_bytes());
                hash.update(reference.as_bytes());
            }
        }
        hash.update(u64::MAX.to_le_bytes()); // the end of a split
    }
    format!("{:x}", hash.finalize())
}

/// SHA-256 over the names of the train images left once those that cannot be read are out,
/// in order: what an epoch's batch order is drawn over.
pub(super) fn readable_fingerprint(train: &Examples) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for sample in &train.samples {
        hash.update((sample.name.len() as u64).to_le_bytes());
        hash.update(sample.name.as_bytes());
    }
    format!("{:x}", hash.finalize())
}

/// Starts the epoch in progress again when the train images that can be read are not those of
/// its checkpoint (a photo that stopped decoding, or was repaired, at the same size): the rest
/// of its batch order, drawn over the others, would skip some images and repeat others
/// (hostile round 21).
fn same_readable(state: &mut TrainState, now: String) {
    let then = state.readable_train.replace(now.clone());
    if state.batch_in_epoch == 0 || then.is_none_or(|then| then == now) {
        return;
    }
    note!(
        "note: the train images that can be read are not those of batch {} of epoch {} (see {DATA_PROBLEMS})",
        state.batch_in_epoch,
        state.epoch + 1
    );
    restart_epoch(state);
}

/// Starts the epoch in progress again from its first batch, with the weights trained so far,
/// where the rest of its batch order cannot be known to be this data's.
fn restart_epoch(state: &mut TrainState) {
    if state.batch_in_epoch == 0 {
        return;
    }
    note!(
        "note: epoch {} starts again from its first batch, with the weights trained so far",
        state.epoch + 1
    );
    state.batch_in_epoch = 0;
    state.epoch_loss_sum = 0.0;
    state.epoch_samples = 0;
    state.epoch_seconds = 0.0;
}

/// Refuses to resume on other data than the run's; a checkpoint from before fingerprints were
/// kept takes the data's now.
fn same_data(state: &mut TrainState, dataset: &Dataset, data: &Path) -> Result<()> {
    let now = data_fingerprint(dataset);
    match &state.data_fingerprint {
        Some(then) if *then != now => bail!(
            "{}: its images or captions are not those this run was trained on ({}); resume on \
             the same data, or start a new run",
            shown(data),
            terminal_safe(&state.dataset)
        ),
        Some(_) => Ok(()),
        None => {
            note!(
                "note: {LAST} holds no fingerprint of its data; resuming on {} as given",
                shown(data)
            );
            // Within an epoch the batch order is this data's: other data went on at a batch of
            // another order (review 66). (Refused, it could not be resumed at all: review 68.)
            restart_epoch(state);
            state.data_fingerprint = Some(now);
            Ok(())
        }
    }
}

/// A new run's progress: nothing done yet.
fn new_state(data: &Path, dataset: &Dataset, readable_train: String) -> TrainState {
    TrainState {
        data: data.canonicalize().unwrap_or(data.to_path_buf()),
        dataset: dataset.name.clone(),
        data_fingerprint: Some(data_fingerprint(dataset)),
        readable_train: Some(readable_train),
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
    }
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

/// `data-problems.txt`'s first line: a file without it is not a run's (the user's own file of
/// that name in `--out` was replaced: hostile round 21).
const PROBLEMS_HEADER: &str =
    "# the problems `glimpse train` found in the data (each run writes this file anew)";

fn report_problems(dataset: &Dataset, run: &Path) -> Result<()> {
    let problems = &dataset.problems;
    let lines = std::iter::once(PROBLEMS_HEADER).chain(problems.kept().iter().map(String::as_str));
    let mut kept = lines.collect::<Vec<_>>().join("\n") + "\n";
    if problems.len() > problems.kept().len() {
        kept += &format!(
            "… and {} more problems, not kept\n",
            problems.len() - problems.kept().len()
        );
    }
    write_replacing(&run.join(DATA_PROBLEMS), kept.as_bytes())?;
    problems.note_summary(&format!(" (all in {})", shown(&run.join(DATA_PROBLEMS))));
    Ok(())
}

/// A resumed run's optimizer states are its model's, checked before any photo is decoded or
/// feature cached (another model's state was refused only after hours of encoding: review 66).
fn check_optimizer_states(resumed: &Resumed, model: &CaptionModel) -> Result<()> {
    let steps = resumed.state.step;
    let check =
        |bytes, part, what| optimizer_state::check(bytes, model, part, steps, &format!("{LAST}: {what}"));
    check(&resumed.decoder_optimizer, Part::Decoder, "optimizer state")?;
    if let Some(bytes) = &resumed.encoder_optimizer {
        check(bytes, Part::Encoder, "encoder optimizer state")?;
    }
    Ok(())
}

/// The photos of `samples` that cannot be read and preprocessed, with why (`(name, reason)`).
/// One at a time, as a step reads them: a photo may take up to the pixel budget's memory. With
/// a progress bar: a large set takes minutes, and looked hung (review 68).
fn unreadable_photos(samples: &[&Sample], preprocess: &PreprocessConfig) -> Vec<(String, String)> {
    let progress = ProgressBar::new(samples.len() as u64).with_style(
        ProgressStyle::with_template("checking photos {bar:30} {pos}/{len}, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    let unreadable = |sample: &&Sample| {
        let bytes = read_regular(&sample.path, caps::IMAGE, "image").map_err(|e| e.to_string());
        let input = bytes.and_then(|bytes| {
            bytes_to_input(&bytes, preprocess).map_err(|e| format!("{}: {e}", shown(&sample.path)))
        });
        progress.inc(1);
        input.err().map(|reason| (sample.name.clone(), reason))
    };
    let failed = samples.iter().filter_map(unreadable).collect();
    progress.finish_and_clear();
    failed
}

/// Leaves out of the train and val `examples` images the encoder could not read, within the
/// same threshold as the data, each split on its own (over all three, with the test split
/// counted, 40% of val could go; a split could be emptied, and the run "finish" having trained
/// or validated on nothing: review 66).
fn drop_unreadable(
    failed: &[(String, String)],
    examples: [&mut Examples; 2],
    config: &TrainConfig,
    run: &Path,
) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    let problems = run.join(DATA_PROBLEMS);
    let mut log = open_append(&problems).with_context(|| format!("{}", shown(&problems)))?;
    for (_, reason) in failed {
        let reason = terminal_safe(reason);
        note!("  unreadable image, skipped: {reason}");
        writeln!(log, "{reason}: unreadable image; skipped")
            .with_context(|| format!("{}", shown(&problems)))?;
    }
    let names: HashSet<&str> = failed.iter().map(|(name, _)| name.as_str()).collect();
    for (split, examples) in [Split::Train, Split::Val].into_iter().zip(examples) {
        let total = examples.samples.len();
        let first = examples.samples.iter().find(|s| names.contains(s.name.as_str()));
        let first = first.and_then(|s| failed.iter().find(|(name, _)| name == &s.name));
        examples.drop_samples(&names);
        let lost = total - examples.samples.len();
        // (One bad image in a small split is allowed, as the data's own check allows it, unless
        // none may be.)
        let allowed = lost <= 1 && config.max_bad_fraction > 0.0;
        if examples.samples.is_empty() || (!allowed && lost as f64 > config.max_bad_fraction * total as f64) {
            bail!(
                "{lost} of {total} {split} images are unreadable (more than {:.0}%, or all); first: {}",
                config.max_bad_fraction * 100.0,
                terminal_safe(first.map_or("", |(_, reason)| reason))
            );
        }
    }
    Ok(())
}
