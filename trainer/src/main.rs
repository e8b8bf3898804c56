//! `glimpse`: caption images, import PyTorch checkpoints, inspect weight bundles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use glimpse::backend::Backend;
use glimpse::caption::{CaptionRequest, run as run_caption};
use glimpse::plot::FigureStyle;
use glimpse::torch_import::{FreshDecoder, ImportRequest, Layout, import};
use glimpse_model::config::AttentionActivation;
use glimpse_model::{Bundle, GenerateOptions, StorageType};

#[derive(Parser)]
#[command(
    name = "glimpse",
    version,
    about = "Image captions that show where the model looked"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Caption images with a weight bundle.
    Caption(CaptionArgs),
    /// Make a weight bundle from another framework's files.
    #[command(subcommand)]
    Import(ImportSource),
    /// Show a bundle's model card, config and tensors.
    Info {
        /// The `.safetensors` bundle.
        bundle: PathBuf,
    },
}

#[derive(Args)]
struct CaptionArgs {
    /// The `.safetensors` weight bundle.
    #[arg(long)]
    model: PathBuf,
    /// Image files (JPEG, PNG, WebP, GIF, BMP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Beam width; 1 decodes greedily.
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Most words per caption, the end token included.
    #[arg(long, default_value_t = 20)]
    max_len: usize,
    /// Beam search ranks by log_prob / length^PENALTY (0 = plain sum).
    #[arg(long, default_value_t = 0.0)]
    length_penalty: f64,
    /// One JSON object per line: image, caption, tokens, attention, grid, log_prob, backend, ms.
    #[arg(long)]
    json: bool,
    /// Write each image's attention figure (a panel per word) to DIR as PNG.
    #[arg(long, value_name = "DIR")]
    attention_png: Option<PathBuf>,
    /// Opacity of the attention maps in the figure.
    #[arg(long, default_value_t = 0.7)]
    alpha: f32,
    /// Compute backend (each is a cargo feature; flex is built by default).
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Images decoded together in one batch (greedy decoding).
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

#[derive(Subcommand)]
enum ImportSource {
    /// PyTorch `.pth` files: a torchvision ImageNet state dict, the notebook's checkpoint or
    /// sgrvinod's (zip or legacy containers; nothing in them is executed).
    Torch(ImportTorchArgs),
}

#[derive(Args)]
struct ImportTorchArgs {
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
    #[arg(long, value_enum)]
    layout: Option<Layout>,
    /// Output bundle.
    #[arg(long)]
    out: PathBuf,
    /// Store tensors as f16 (half the size; computation stays f32).
    #[arg(long)]
    f16: bool,
    /// Adaptive pooling grid, e.g. 14x14 (sgrvinod's default).
    #[arg(long, value_parser = parse_grid)]
    grid: Option<[usize; 2]>,
    /// Square input size in pixels (224; sgrvinod 256).
    #[arg(long)]
    input_size: Option<u32>,
    /// Model name for the card (default: the file name).
    #[arg(long)]
    name: Option<String>,
    /// What the decoder was trained on, for the card.
    #[arg(long)]
    trained_on: Option<String>,
    /// Fresh decoder: word embedding size.
    #[arg(long, default_value_t = 300)]
    embed_dim: usize,
    /// Fresh decoder: attention size.
    #[arg(long, default_value_t = 256)]
    attention_dim: usize,
    /// Fresh decoder: LSTM size.
    #[arg(long, default_value_t = 512)]
    decoder_dim: usize,
    /// Fresh decoder: relu attention with a sigmoid context gate (sgrvinod) instead of tanh.
    #[arg(long)]
    gated_relu: bool,
    /// Fresh decoder: dropout before the vocabulary projection.
    #[arg(long, default_value_t = 0.3)]
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Caption(args) => {
            let request = CaptionRequest {
                model: args.model,
                images: args.images,
                options: GenerateOptions {
                    beam_width: args.beam,
                    max_len: args.max_len,
                    length_penalty: args.length_penalty,
                },
                json: args.json,
                attention_png: args.attention_png,
                style: FigureStyle {
                    alpha: args.alpha,
                    ..FigureStyle::default()
                },
                backend: args.backend,
                batch: args.batch,
            };
            run_caption(&request, &mut std::io::stdout().lock())
        }
        Command::Import(ImportSource::Torch(args)) => {
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
                    hidden_dim: args.decoder_dim,
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
            };
            let device = Backend::first_built().device()?;
            let imported = import(&request, &device)?;
            let storage = if args.f16 {
                StorageType::F16
            } else {
                StorageType::F32
            };
            let bytes = imported.bundle.to_bytes(storage)?;
            std::fs::write(&args.out, &bytes)
                .with_context(|| format!("{}: cannot write", args.out.display()))?;
            for note in &imported.notes {
                eprintln!("note: {note}");
            }
            let config = &imported.bundle.config;
            eprintln!(
                "wrote {} ({:.1} MB): {:?} layout, {} encoder, {} words, {} tensors",
                args.out.display(),
                bytes.len() as f64 / 1e6,
                imported.layout,
                config.encoder.arch.name(),
                imported.bundle.vocab.len(),
                imported.bundle.weights.len()
            );
            Ok(())
        }
        Command::Info { bundle } => {
            let bytes =
                std::fs::read(&bundle).with_context(|| format!("{}: cannot read", bundle.display()))?;
            let bundle = Bundle::from_bytes(&bytes)
                .with_context(|| format!("{}: not a valid bundle", bundle.display()))?;
            let params: usize = bundle.weights.iter().map(|(_, t)| t.numel()).sum();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "card": bundle.card,
                    "config": bundle.config,
                    "vocabulary_size": bundle.vocab.len(),
                    "tensors": bundle.weights.len(),
                    "parameters": params,
                    "grid": bundle.config.grid(),
                }))?
            );
            Ok(())
        }
    }
}
