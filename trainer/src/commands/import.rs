//! `glimpse import torch`: a PyTorch checkpoint (or torchvision encoder) as a weight bundle.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use glimpse::backend::Backend;
use glimpse::card::today;
use glimpse::model_card::{card_paths, write_bundle_with_card};
use glimpse_files::{note, shown};
use glimpse_import::{CheckpointLayout, FreshDecoder, ImportRequest, import};
use glimpse_model::ModelConfig;
use glimpse_model::config::AttentionActivation;

use super::{CardText, Exit, StorageArgs, choice};

/// The notebook's model: where the fresh decoder's defaults come from.
static NOTEBOOK: LazyLock<ModelConfig> = LazyLock::new(|| ModelConfig::notebook(0));

#[derive(Subcommand)]
pub enum ImportSource {
    /// PyTorch `.pth` files: a torchvision ImageNet state dict, the notebook's checkpoint or
    /// sgrvinod's (zip or legacy containers; nothing in them is executed).
    Torch(ImportTorchArgs),
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  glimpse import torch --checkpoint attention_model_state.pth --vocab vocab.json --out model.safetensors"
)]
pub struct ImportTorchArgs {
    /// A captioning checkpoint (notebook or sgrvinod), or a torchvision state dict.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// A torchvision ImageNet state dict for the encoder (with no --checkpoint: a fresh decoder
    /// is added for training).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Vocabulary JSON: an array (index = id) or an object word → id (sgrvinod's WORDMAP).
    #[arg(long)]
    vocab: Option<PathBuf>,
    /// Which code wrote the checkpoint (detected from its keys when left out).
    #[arg(long, value_parser = choice::<CheckpointLayout>())]
    layout: Option<CheckpointLayout>,
    /// Output bundle.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    storage: StorageArgs,
    /// Adaptive pooling grid, e.g. 14x14 (sgrvinod's default).
    #[arg(long, value_parser = parse_grid)]
    grid: Option<[usize; 2]>,
    /// Square input size in pixels (224; sgrvinod 256).
    #[arg(long)]
    input_size: Option<u32>,
    /// Model name for the card (default: the file name).
    #[arg(long, value_parser = CardText)]
    name: Option<String>,
    /// What the decoder was trained on, for the card.
    #[arg(long, value_parser = CardText)]
    trained_on: Option<String>,
    /// Fresh decoder: word embedding size.
    #[arg(long, default_value_t = NOTEBOOK.decoder.embed_dim)]
    embed_dim: usize,
    /// Fresh decoder: attention size.
    #[arg(long, default_value_t = NOTEBOOK.attention.dim)]
    attention_dim: usize,
    /// Fresh decoder: LSTM size.
    #[arg(long, default_value_t = NOTEBOOK.decoder.decoder_dim)]
    decoder_dim: usize,
    /// Fresh decoder: relu attention with a sigmoid context gate (sgrvinod) instead of tanh.
    #[arg(long)]
    gated_relu: bool,
    /// Fresh decoder: dropout before the vocabulary projection.
    #[arg(long, default_value_t = NOTEBOOK.decoder.dropout)]
    dropout: f64,
    /// Fresh decoder: random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn parse_grid(text: &str) -> Result<[usize; 2], String> {
    let (h, w) = text.split_once(['x', 'X']).unwrap_or((text, text));
    let parse = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{text}` is not a grid like 14x14"))
    };
    Ok([parse(h)?, parse(w)?])
}

pub fn run(source: ImportSource) -> Result<Exit> {
    let ImportSource::Torch(args) = source;
    refuse_overwriting_inputs(&args)?;
    let request = ImportRequest {
        checkpoint: args.checkpoint,
        encoder: args.encoder,
        vocab: args.vocab,
        layout: args.layout,
        grid: args.grid,
        input_size: args.input_size,
        fresh_decoder: FreshDecoder {
            embed_dim: args.embed_dim,
            attention_dim: args.attention_dim,
            decoder_dim: args.decoder_dim,
            activation: if args.gated_relu {
                AttentionActivation::Relu
            } else {
                AttentionActivation::Tanh
            },
            gate: args.gated_relu,
            dropout: args.dropout,
            seed: args.seed,
        },
        name: args.name,
        trained_on: args.trained_on,
        created: today()?,
    };
    let device = Backend::first_built().device()?;
    let imported = import(&request, &device)?;
    let bytes = imported.bundle.to_bytes(args.storage.storage())?;
    let card = write_bundle_with_card(&args.out, &bytes, &imported.bundle)?;
    for note in &imported.notes {
        note!("note: {}", glimpse_files::terminal_safe(note));
    }
    let config = &imported.bundle.config;
    note!(
        "wrote {} ({:.1} MB) and its model card {}: {:?} layout, {} encoder, {} words, {} tensors",
        glimpse_files::shown(&args.out),
        bytes.len() as f64 / 1e6,
        glimpse_files::shown(&card),
        imported.layout,
        config.encoder.arch.name(),
        imported.bundle.vocab.len(),
        imported.bundle.weights.len()
    );
    Ok(Exit::Done)
}

/// `--out`, and the model card written beside it, must not name a file the import reads: the
/// bundle (or its card: an input named `m.README.md` beside someone's README.md) would replace
/// the user's checkpoint or vocabulary, which is gone once the write succeeds.
fn refuse_overwriting_inputs(args: &ImportTorchArgs) -> Result<()> {
    let inputs: Vec<(&str, &Path)> = [
        ("--checkpoint", args.checkpoint.as_ref()),
        ("--encoder", args.encoder.as_ref()),
        ("--vocab", args.vocab.as_ref()),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path?.as_path())))
    .collect();
    if let Some((flag, _)) = glimpse_files::output_over_input(&args.out, &inputs) {
        bail!(
            "--out {} is the {flag} file: writing the bundle there would destroy what it is made from",
            shown(&args.out)
        );
    }
    let cards = card_paths(&args.out);
    for card in &cards {
        if let Some((flag, _)) = glimpse_files::output_over_input(card, &inputs) {
            bail!(
                "{} is the {flag} file: the bundle's model card would be written there, destroying \
                 what the bundle is made from; choose another --out",
                shown(card)
            );
        }
    }
    // Checked before `--out` is replaced: a FIFO at the card's name failed the import after.
    glimpse_files::check_replaceable(&args.out)?;
    Ok(glimpse_files::check_replaceable(&cards[1])?)
}
