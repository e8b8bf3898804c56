//! `glimpse export`: a training run's checkpoint as a weight bundle, or a bundle stored again
//! (as int8 or f16, to shrink it), or either as a PyTorch state dict in the notebook's layout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use glimpse::backend::Backend;
use glimpse::export::{ExportRequest, Which, export};
use glimpse::model_card::{card_paths, write_bundle_with_card};
use glimpse::train::{BEST, LAST};
use glimpse_files::{say, shown, terminal_safe};
use glimpse_import::{
    CheckpointLayout, FreshDecoder, ImportRequest, import, import_flags, lost_in_round_trip,
    notebook_state_dict,
};
use glimpse_model::{Bundle, ModelConfig, StorageType};

use super::{CardText, Choice, Exit, StorageArgs, choice};

/// What `glimpse export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    Pth,
}

impl Choice for Format {
    const ALL: &'static [Format] = &[Format::Safetensors, Format::Pth];
    fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Pth => "pth",
        }
    }
    fn help(self) -> Option<&'static str> {
        Some(match self {
            Format::Safetensors => {
                "Glimpse's bundle (weights, config, vocabulary, card), with a model card beside it"
            }
            Format::Pth => {
                "A PyTorch state dict in the notebook's layout (float32; torch.load(weights_only=True) reads it), \
                 with the vocabulary beside it as STEM.vocab.json"
            }
        })
    }
}

#[derive(Args)]
#[command(
    after_help = "Examples:\n  glimpse export runs/shapes --which best --f16 --out model.safetensors\n  \
                       glimpse export model.safetensors --format pth --out model.pth"
)]
pub struct ExportArgs {
    /// The run folder, or a bundle (`.safetensors`) to write again with another storage.
    run: PathBuf,
    /// Output bundle.
    #[arg(long)]
    out: PathBuf,
    /// Which checkpoint of a run.
    #[arg(long, value_parser = choice::<Which>(), default_value_t = Which::Best)]
    which: Which,
    /// What to write.
    #[arg(long, value_parser = choice::<Format>(), default_value = "safetensors")]
    format: Format,
    #[command(flatten)]
    storage: StorageArgs,
    /// Model name for the card.
    #[arg(long, value_parser = CardText)]
    name: Option<String>,
    /// Description for the card (what the model is for, what it cannot do).
    #[arg(long, value_parser = CardText)]
    description: Option<String>,
}

pub fn run(args: ExportArgs) -> Result<Exit> {
    refuse_overwriting_inputs(&args)?;
    let bundle = export(&ExportRequest {
        run: args.run,
        which: args.which,
        name: args.name,
        description: args.description,
    })?;
    if args.format == Format::Pth {
        return write_pth(&args.out, &bundle, args.storage);
    }
    let bytes = bundle.to_bytes(args.storage.storage())?;
    let card = write_bundle_with_card(&args.out, &bytes, &bundle)?;
    let metrics: Vec<String> = bundle
        .card
        .metrics
        .iter()
        .map(|(k, v)| format!("{} {v:.4}", terminal_safe(k)))
        .collect();
    // The card's strings come from the checkpoint or bundle exported: a stranger's file.
    let name = match bundle.card.name.as_str() {
        "" => "(unnamed)".into(),
        name => terminal_safe(name),
    };
    let mut about = vec![name.into_owned(), format!("{} words", bundle.vocab.len())];
    if !bundle.card.trained_on.is_empty() {
        about.push(format!("trained on {}", terminal_safe(&bundle.card.trained_on)));
    }
    about.extend(metrics);
    say!(
        "wrote {} ({:.1} MB) and its model card {}: {}",
        shown(&args.out),
        bytes.len() as f64 / 1e6,
        shown(&card),
        about.join(", ")
    )?;
    Ok(Exit::Done)
}

/// What the export writes (`--out`, a state dict's vocabulary beside it, or a bundle's card) must
/// not be what it reads: `--out RUN/last.safetensors` replaced the run's resumable checkpoint,
/// `--format pth` over the input bundle replaced it with a pickle, its card gone, and a bundle
/// named `m.README.md` was replaced by its own card. Nor may it be a device, FIFO or folder: the
/// state dict's rename replaced a FIFO, and a `--out` that was a copy of `/dev/null`, with a
/// regular file (hostile round 10), and its vocabulary's folder was found only after `--out`
/// had been replaced.
fn refuse_overwriting_inputs(args: &ExportArgs) -> Result<()> {
    let (last, best) = (args.run.join(LAST), args.run.join(BEST));
    let inputs = [
        ("the run's checkpoint", last.as_path()),
        ("the run's checkpoint", best.as_path()),
        ("the bundle exported", args.run.as_path()),
    ];
    let [readme, own_card] = card_paths(&args.out);
    let written = match args.format {
        Format::Safetensors => vec![args.out.clone(), own_card],
        Format::Pth => vec![args.out.clone(), pth_vocabulary(&args.out)],
    };
    // A README.md is written only where it is this bundle's own card (a FIFO there is passed
    // by): it may not be an input, and need not be replaceable.
    let readme = (args.format == Format::Safetensors).then_some(readme);
    for output in written.iter().chain(&readme) {
        if let Some((what, input)) = glimpse_files::output_over_input(output, &inputs) {
            bail!(
                "{} is {what} {}: writing there would destroy what the export reads; choose another --out",
                shown(output),
                shown(input)
            );
        }
    }
    for output in &written {
        glimpse_files::check_replaceable(output)?;
    }
    Ok(())
}

/// A `STEM.vocab.json` already there is replaced only if it holds the words this export writes
/// there, or is the vocabulary of the state dict at `out`, which the export replaces too (the
/// pair an earlier export wrote: a retrained model's export was refused, review 73): a user's
/// own file of that name (another tool's word map, notes, another vocabulary) was replaced
/// without a word (hostile rounds 24 and 25).
fn refuse_replacing_another_vocabulary(path: &Path, out: &Path, json: &str) -> Result<()> {
    if !path.is_file() {
        return Ok(()); // nothing there (or what `check_replaceable` judged)
    }
    let bytes = glimpse_files::read_regular(path, glimpse_files::caps::CONFIG, "vocabulary")
        .with_context(|| format!("{}: read to check it before the export replaces it", shown(path)))?;
    let words = |text: &[u8]| serde_json::from_slice::<Vec<String>>(text).ok();
    let found = words(&bytes);
    let ours = found.is_some() && found == words(json.as_bytes());
    let pair = found.is_some_and(|found| notebook_vocab_size(out) == Some(found.len()));
    if !ours && !pair {
        bail!(
            "{}: not this model's vocabulary, which the export would write there; move it away \
             or choose another --out",
            shown(path)
        );
    }
    Ok(())
}

/// The `vocab_size` of the notebook checkpoint at `out`, where one is (as `--format pth` writes
/// it). It reads the whole file, once, and only where a `STEM.vocab.json` of other words is
/// there.
fn notebook_vocab_size(out: &Path) -> Option<usize> {
    let size = *glimpse_import::read_checkpoint(out)
        .ok()?
        .scalars
        .get("vocab_size")?;
    // A whole number of words (the file's own number: checked, not cast blindly).
    (size >= 0.0 && size.fract() == 0.0 && size <= u32::MAX as f64).then_some(size as usize)
}

/// Where `--format pth` writes the vocabulary: `STEM.vocab.json` beside the state dict.
fn pth_vocabulary(out: &Path) -> PathBuf {
    out.with_extension("vocab.json")
}

/// The bundle as the notebook's state dict, and its vocabulary beside it, once reading them
/// back has given the same model: they are written under temporary names, imported as the
/// printed command would, and only then renamed into place.
fn write_pth(out: &Path, bundle: &Bundle, storage: StorageArgs) -> Result<Exit> {
    if storage.storage() != StorageType::F32 {
        bail!(
            "--format pth writes float32 tensors, as the notebook holds them: drop --f16/--int8/--int8-decoder"
        );
    }
    let vocab = pth_vocabulary(out);
    let vocab_json = bundle.vocab.to_json();
    refuse_replacing_another_vocabulary(&vocab, out, &vocab_json)?;
    let bytes = notebook_state_dict(bundle)?;
    // Dropped unplaced (a failed check), the temporary files are removed.
    let state_dict = glimpse_files::stage(out, &bytes, true)?;
    let vocabulary = glimpse_files::stage(&vocab, vocab_json.as_bytes(), true)?;
    check_round_trip(bundle, state_dict.path(), vocabulary.path())?;
    state_dict.place(out).with_context(|| format!("{}", shown(out)))?;
    vocabulary
        .place(&vocab)
        .with_context(|| format!("{}", shown(&vocab)))?;
    say!(
        "wrote {} ({:.1} MB, {} tensors, the notebook's names) and its vocabulary {}; back into Glimpse: {}",
        shown(out),
        bytes.len() as f64 / 1e6,
        bundle.weights.names().count(),
        shown(&vocab),
        import_command(&bundle.config, out, &vocab)
    )?;
    Ok(Exit::Done)
}

/// The `glimpse import torch` command that reads the state dict back into this config.
fn import_command(config: &ModelConfig, pth: &Path, vocab: &Path) -> String {
    let (input_size, grid) = import_flags(config);
    let mut command = format!(
        "glimpse import torch --checkpoint {} --vocab {} --out model.safetensors",
        shown(pth),
        shown(vocab)
    );
    let notebook_size = ModelConfig::notebook(0).preprocess.size[0];
    if let Some(size) = input_size.filter(|&size| size != notebook_size) {
        command += &format!(" --input-size {size}");
    }
    if let Some([height, width]) = grid {
        command += &format!(" --grid {height}x{width}");
    }
    command
}

/// Imports the staged state dict as [`import_command`] would and refuses what came back
/// different: a notebook checkpoint cannot hold a normalisation, a gate or relu attention.
fn check_round_trip(bundle: &Bundle, pth: &Path, vocab: &Path) -> Result<()> {
    let (input_size, grid) = import_flags(&bundle.config);
    let request = ImportRequest {
        checkpoint: Some(pth.to_path_buf()),
        encoder: None,
        vocab: Some(vocab.to_path_buf()),
        layout: Some(CheckpointLayout::Notebook),
        grid,
        input_size,
        fresh_decoder: FreshDecoder::default(),
        name: None,
        trained_on: None,
        created: bundle.card.created.clone(),
    };
    let back = import(&request, &Backend::first_built().device()?)?.bundle;
    let mut lost = lost_in_round_trip(&bundle.config, &back.config);
    let names = |b: &Bundle| b.weights.names().map(str::to_string).collect::<Vec<_>>();
    let missing: Vec<String> = names(bundle)
        .into_iter()
        .filter(|n| !names(&back).contains(n))
        .collect();
    if !missing.is_empty() {
        lost.push(format!("the tensors {}", missing.join(", ")));
    }
    if !lost.is_empty() {
        bail!(
            "the notebook's checkpoint cannot hold this model: read back, it would have {}; export it as safetensors instead",
            terminal_safe(&lost.join("; "))
        );
    }
    Ok(())
}
