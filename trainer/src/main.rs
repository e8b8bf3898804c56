//! `glimpse`: caption images, import PyTorch checkpoints, make synthetic data, train, export
//! weight bundles, download datasets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use glimpse::backend::Backend;
use glimpse::caption::{CaptionRequest, run as run_caption};
use glimpse::compare::{CompareRequest, compare, parse_set};
use glimpse::data::Split;
use glimpse::download;
use glimpse::evaluate::{EvalRequest, evaluate};
use glimpse::export::{ExportRequest, Which, export};
use glimpse::plot::FigureStyle;
use glimpse::synth;
use glimpse::torch_import::{FreshDecoder, ImportRequest, Layout, import};
use glimpse::train::config::TrainConfig;
use glimpse::train::{self, TrainOutcome, TrainRequest};
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
    /// Write a synthetic captioning set (coloured shapes, five captions each) in Flickr8k's
    /// Kaggle layout, with every object's box in synth.json.
    Synth(SynthArgs),
    /// Train a captioner on a dataset folder (Flickr8k Kaggle or original, Karpathy JSON, synth).
    Train(TrainArgs),
    /// Caption a dataset split and score it as coco-caption does (metrics.json, captions.json).
    Eval(EvalArgs),
    /// Score several captioners' outputs ({"image": "caption"} JSON) on the same split, side by side.
    Compare(CompareArgs),
    /// Write a training run's checkpoint as a weight bundle with its model card.
    Export(ExportArgs),
    /// Download public datasets and weights.
    #[command(subcommand)]
    Data(DataSource),
}

#[derive(Args)]
struct SynthArgs {
    /// Output folder (created; must be empty).
    dir: PathBuf,
    /// Number of images (80% train, 10% val, 10% test).
    #[arg(long, default_value_t = 2000)]
    images: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct TrainArgs {
    /// The data folder (optional with --resume: the run remembers it).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The run folder (checkpoints, metrics, curves).
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Training config (JSON); every field optional.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in this folder exactly where it stopped.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// Overrides the config's epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Overrides the config's encoder weights (torchvision .pth).
    #[arg(long)]
    encoder_weights: Option<PathBuf>,
    /// Compute backend (each is a cargo feature; flex is built by default).
    #[arg(long, value_enum, default_value_t = Backend::first_built())]
    backend: Backend,
    /// Also checkpoint every N steps (0: after each epoch only).
    #[arg(long, default_value_t = 200)]
    checkpoint_every: u64,
    /// Stop after this many steps in all (resumable), e.g. for benchmarks.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Train data-parallel on this many devices of the backend (CUDA or wgpu GPUs 0..N).
    #[arg(long, default_value_t = 1)]
    devices: usize,
}

#[derive(Args)]
struct EvalArgs {
    /// The `.safetensors` weight bundle.
    #[arg(long)]
    model: PathBuf,
    /// The data folder (any layout `glimpse train` reads).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Beam width; 1 decodes greedily.
    #[arg(long, default_value_t = 1)]
    beam: usize,
    #[arg(long, default_value_t = 20)]
    max_len: usize,
    /// Score at most this many images.
    #[arg(long)]
    limit: Option<usize>,
    /// Write metrics.json and captions.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Images decoded together (greedy).
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// A sentence-transformers folder (all-MiniLM-L6-v2: config.json, tokenizer.json,
    /// model.safetensors) for the seed's embedding similarity.
    #[arg(long, env = "GLIMPSE_TEXT_ENCODER")]
    text_encoder: Option<PathBuf>,
    /// A Hugging Face CLIP folder (e.g. openai/clip-vit-base-patch32: config.json,
    /// model.safetensors, tokenizer.json, preprocessor_config.json) for CLIPScore, RefCLIPScore
    /// and the seed's similarity in CLIP's text space.
    #[arg(long, env = "GLIMPSE_CLIP")]
    clip: Option<PathBuf>,
}

#[derive(Args)]
struct CompareArgs {
    /// The data folder (any layout `glimpse train` reads).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Caption sets as NAME=CAPTIONS.json (e.g. glimpse=run/eval/captions.json vit-gpt2=vit.json).
    #[arg(required = true, value_parser = parse_set)]
    sets: Vec<(String, PathBuf)>,
    /// Write metrics.json and report.html here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A sentence-transformers folder for the embedding similarity.
    #[arg(long, env = "GLIMPSE_TEXT_ENCODER")]
    text_encoder: Option<PathBuf>,
    /// A Hugging Face CLIP folder for CLIPScore, RefCLIPScore and CLIP text similarity.
    #[arg(long, env = "GLIMPSE_CLIP")]
    clip: Option<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    /// The run folder.
    run: PathBuf,
    /// Output bundle.
    #[arg(long)]
    out: PathBuf,
    /// Which checkpoint.
    #[arg(long, value_enum, default_value_t = Which::Best)]
    which: Which,
    /// Store tensors as f16.
    #[arg(long)]
    f16: bool,
    /// Model name for the card.
    #[arg(long)]
    name: Option<String>,
    /// Description for the card (what the model is for, what it cannot do).
    #[arg(long)]
    description: Option<String>,
}

#[derive(Subcommand)]
enum DataSource {
    /// Flickr8k (images and captions) and torchvision's ResNet-50 and MobileNetV2 weights.
    Flickr8k(DownloadArgs),
}

#[derive(Args)]
struct DownloadArgs {
    /// Destination folder.
    dir: PathBuf,
    /// Base URL replacing every default address (a mirror); files keep their names.
    #[arg(long)]
    mirror: Option<String>,
    /// Skip the encoder weights.
    #[arg(long)]
    no_weights: bool,
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
        Ok(Exit::Done) => ExitCode::SUCCESS,
        // 130 = "terminated by Ctrl-C", as shells report it; the run is saved and resumable.
        Ok(Exit::Interrupted) => ExitCode::from(130),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

enum Exit {
    Done,
    Interrupted,
}

fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Synth(args) => {
            let sidecar = synth::generate(&args.dir, args.images, args.seed)?;
            println!(
                "wrote {} images with 5 captions each to {} (seed {})",
                sidecar.images.len(),
                args.dir.display(),
                args.seed
            );
            Ok(Exit::Done)
        }
        Command::Train(args) => {
            let mut config = match &args.config {
                Some(path) => TrainConfig::read(path)?,
                None => TrainConfig::default(),
            };
            if let Some(epochs) = args.epochs {
                config.epochs = epochs;
            }
            if let Some(weights) = args.encoder_weights {
                config.encoder_weights = Some(weights);
            }
            let request = TrainRequest {
                data: args.data,
                run: args
                    .resume
                    .clone()
                    .or(args.out)
                    .expect("clap requires --out or --resume"),
                config,
                resume: args.resume.is_some(),
                backend: args.backend,
                checkpoint_every: args.checkpoint_every,
                max_steps: args.max_steps,
                devices: args.devices,
            };
            match train::run(&request)? {
                TrainOutcome::Finished(state) => {
                    println!(
                        "done: best validation BLEU-4 {:.4} at epoch {}, {:.0} s of training; export with `glimpse export {}`",
                        state.best_bleu4.unwrap_or(0.0),
                        state.best_epoch.unwrap_or(0),
                        state.train_seconds,
                        request.run.display()
                    );
                    Ok(Exit::Done)
                }
                TrainOutcome::Paused(_) if request.max_steps.is_some() => Ok(Exit::Done),
                TrainOutcome::Paused(_) => Ok(Exit::Interrupted),
            }
        }
        Command::Eval(args) => {
            let evaluation = evaluate(&EvalRequest {
                model: args.model,
                data: args.data,
                split: args.split,
                options: GenerateOptions {
                    beam_width: args.beam,
                    max_len: args.max_len,
                    length_penalty: 0.0,
                },
                backend: args.backend,
                batch: args.batch,
                limit: args.limit,
                out: args.out,
                text_encoder: args.text_encoder,
                clip: args.clip,
            })?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "images": evaluation.images,
                    "unreadable": evaluation.unreadable.len(),
                    "metrics": evaluation.metrics,
                    "grounding": evaluation.grounding,
                    "similarity": evaluation.similarity,
                    "clip": evaluation.clip,
                }))?
            );
            Ok(Exit::Done)
        }
        Command::Compare(args) => {
            let models = compare(&CompareRequest {
                data: args.data,
                split: args.split,
                sets: args.sets,
                out: args.out,
                text_encoder: args.text_encoder,
                clip: args.clip,
            })?;
            let table: std::collections::BTreeMap<&str, _> =
                models.iter().map(|m| (m.name.as_str(), &m.metrics)).collect();
            println!("{}", serde_json::to_string_pretty(&table)?);
            Ok(Exit::Done)
        }
        Command::Export(args) => {
            let bundle = export(&ExportRequest {
                run: args.run,
                which: args.which,
                out: args.out.clone(),
                storage: if args.f16 {
                    StorageType::F16
                } else {
                    StorageType::F32
                },
                name: args.name,
                description: args.description,
            })?;
            println!(
                "wrote {}: {}, {} words, trained on {}, {}",
                args.out.display(),
                bundle.card.name,
                bundle.vocab.len(),
                bundle.card.trained_on,
                bundle
                    .card
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.4}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(Exit::Done)
        }
        Command::Data(DataSource::Flickr8k(args)) => {
            let files = download::flickr8k_files(args.mirror.as_deref(), !args.no_weights);
            download::fetch_all(&files, &args.dir)?;
            println!(
                "{}: ready (train with `glimpse train --data {}`)",
                args.dir.display(),
                args.dir.display()
            );
            Ok(Exit::Done)
        }
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
            run_caption(&request, &mut std::io::stdout().lock())?;
            Ok(Exit::Done)
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
            Ok(Exit::Done)
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
            Ok(Exit::Done)
        }
    }
}
