//! `glimpse import torch`: PyTorch checkpoints → one-file bundles.
//!
//! Reads zip-format and legacy `.pth` files with `glimpse-pth`, which parses the pickle
//! without executing anything in it. Three layouts are understood:
//!
//! - **torchvision**: an ImageNet state dict (ResNet-18…152 or MobileNetV2); `fc`/`classifier`
//!   are dropped and a freshly initialised decoder is added, ready for training;
//! - **notebook**: the widely used Kaggle notebook's `EncoderDecoder` state dict, at the top level
//!   or under `state_dict`, keys `encoder.resnet.{0,1,4,5,6,7}.*` and
//!   `decoder.{embedding,attention.{U,W,A},init_h,init_c,lstm_cell,f_beta,fcn}.*` (its `f_beta` is
//!   never used and is dropped);
//! - **sgrvinod**: the tutorial's checkpoint (whole `encoder`/`decoder` modules, or their state
//!   dicts), `decoder.{attention.{encoder_att,decoder_att,full_att},decode_step,f_beta,fc,…}`,
//!   relu attention with the sigmoid gate and 14×14 pooling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::Device;
use glimpse_model::bundle::{Bundle, ModelCard};
use glimpse_model::config::{
    AttentionActivation, AttentionConfig, CONFIG_VERSION, DecoderConfig, EncoderArch, EncoderConfig,
    ModelConfig, PreprocessConfig,
};
use glimpse_model::{CaptionModel, HostTensor, TensorMap, Vocabulary};

use glimpse_pth as pth;

/// Which code wrote the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointLayout {
    Notebook,
    Sgrvinod,
    Torchvision,
}

impl CheckpointLayout {
    pub const ALL: [CheckpointLayout; 3] = [
        CheckpointLayout::Notebook,
        CheckpointLayout::Sgrvinod,
        CheckpointLayout::Torchvision,
    ];

    /// The name `--layout` takes.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointLayout::Notebook => "notebook",
            CheckpointLayout::Sgrvinod => "sgrvinod",
            CheckpointLayout::Torchvision => "torchvision",
        }
    }
}

/// The shape of a freshly initialised decoder (torchvision layout only).
#[derive(Debug, Clone)]
pub struct FreshDecoder {
    pub embed_dim: usize,
    pub attention_dim: usize,
    pub hidden_dim: usize,
    pub activation: AttentionActivation,
    pub gate: bool,
    pub dropout: f64,
    pub seed: u64,
}

impl Default for FreshDecoder {
    /// The notebook's sizes.
    fn default() -> Self {
        FreshDecoder {
            embed_dim: 300,
            attention_dim: 256,
            hidden_dim: 512,
            activation: AttentionActivation::Tanh,
            gate: false,
            dropout: 0.3,
            seed: 0,
        }
    }
}

/// Everything `glimpse import torch` is told.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub checkpoint: Option<PathBuf>,
    pub encoder: Option<PathBuf>,
    pub vocab: Option<PathBuf>,
    pub layout: Option<CheckpointLayout>,
    /// Adaptive pooling grid (defaults: none, sgrvinod 14×14).
    pub grid: Option<[usize; 2]>,
    /// Square input size (defaults: 224, sgrvinod 256).
    pub input_size: Option<u32>,
    pub fresh_decoder: FreshDecoder,
    pub name: Option<String>,
    pub trained_on: Option<String>,
    /// The card's creation date (`YYYY-MM-DD`); the caller decides what "now" is.
    pub created: String,
}

/// The bundle and what the import left out, for the user to read.
#[derive(Debug)]
pub struct Imported {
    pub bundle: Bundle,
    pub layout: CheckpointLayout,
    pub notes: Vec<String>,
}

/// A checkpoint's float tensors (as f32) and its top-level numbers.
#[derive(Debug)]
pub struct TorchWeights {
    pub path: PathBuf,
    pub tensors: TensorMap,
    /// Tensors left out: integer ones (step counters, `num_batches_tracked`) and kinds that
    /// cannot be represented (sparse, quantized).
    pub skipped: Vec<String>,
    /// Top-level integers and floats (`embed_size`, `epoch`, `bleu-4`, …).
    pub scalars: BTreeMap<String, f64>,
}

/// Reads every float tensor of a `.pth` / `.pt` file (zip or legacy container).
pub fn read_checkpoint(path: &Path) -> Result<TorchWeights> {
    let file = pth::PthFile::open(path)?;
    let (found, mut skipped) = file.tensors();
    let mut tensors = TensorMap::new();
    for pth::FoundTensor { name, tensor } in found {
        if !tensor.storage.dtype.is_float() {
            skipped.push(name);
            continue;
        }
        let data = file
            .read_f32(&tensor)
            .with_context(|| format!("{}: tensor `{name}`", path.display()))?;
        let tensor = HostTensor::new(tensor.shape.clone(), data)
            .map_err(|e| anyhow!("{}: tensor `{name}`: {e}", path.display()))?;
        if tensors.insert(name.clone(), tensor).is_some() {
            bail!("{}: two tensors are named `{name}`", path.display());
        }
    }
    Ok(TorchWeights {
        path: path.to_path_buf(),
        tensors,
        skipped,
        scalars: file.scalars(),
    })
}

/// Runs an import: reads the files, maps names, infers the config, checks everything loads.
pub fn import(request: &ImportRequest, device: &Device) -> Result<Imported> {
    let mut notes = Vec::new();
    let checkpoint = request.checkpoint.as_deref().map(read_checkpoint).transpose()?;
    let encoder_file = request.encoder.as_deref().map(read_checkpoint).transpose()?;
    let layout = match (request.layout, &checkpoint, &encoder_file) {
        (Some(layout), _, _) => layout,
        (None, Some(checkpoint), _) => detect_layout(&checkpoint.tensors).ok_or_else(|| {
            anyhow!(
                "{}: cannot tell the layout from its keys (first: {}); pass --layout notebook|sgrvinod|torchvision",
                checkpoint.path.display(),
                checkpoint.tensors.names().take(5).collect::<Vec<_>>().join(", ")
            )
        })?,
        (None, None, Some(_)) => CheckpointLayout::Torchvision,
        (None, None, None) => bail!("nothing to import: pass --checkpoint FILE and/or --encoder FILE"),
    };

    // Canonical names: `encoder.<torchvision name>`, `decoder.<notebook name>`.
    let mut weights = TensorMap::new();
    let mut source_scalars = BTreeMap::new();
    match layout {
        CheckpointLayout::Torchvision => {
            let source = encoder_file
                .as_ref()
                .or(checkpoint.as_ref())
                .expect("one file is given");
            if encoder_file.is_some() && checkpoint.is_some() {
                bail!(
                    "the torchvision layout takes one file: pass it as --encoder (or --checkpoint), not both"
                );
            }
            weights.extend(torchvision_encoder(source, &mut notes)?);
        }
        CheckpointLayout::Notebook | CheckpointLayout::Sgrvinod => {
            let checkpoint = checkpoint
                .as_ref()
                .ok_or_else(|| anyhow!("the {layout:?} layout needs --checkpoint FILE"))?;
            source_scalars = checkpoint.scalars.clone();
            let (encoder, decoder) = captioner_weights(checkpoint, layout, &mut notes)?;
            match (&encoder_file, encoder.is_empty()) {
                (Some(file), _) => {
                    if !encoder.is_empty() {
                        notes.push(format!(
                            "encoder weights taken from {} instead of the checkpoint's",
                            file.path.display()
                        ));
                    }
                    weights.extend(torchvision_encoder(file, &mut notes)?);
                }
                (None, false) => weights.extend(encoder),
                (None, true) => bail!(
                    "{}: the checkpoint holds no encoder weights; pass the torchvision ImageNet file as --encoder FILE",
                    checkpoint.path.display()
                ),
            }
            weights.extend(decoder);
        }
    }

    let (arch, width_multiplier) = infer_encoder(&weights, device)?;
    let (grid, input_size) = match layout {
        CheckpointLayout::Sgrvinod => (
            Some(request.grid.unwrap_or([14, 14])),
            request.input_size.unwrap_or(256),
        ),
        _ => (request.grid, request.input_size.unwrap_or(224)),
    };
    let encoder = EncoderConfig {
        arch,
        width_multiplier,
        pooled_grid: grid,
    };
    let preprocess = PreprocessConfig {
        size: [input_size, input_size],
        ..PreprocessConfig::default()
    };

    let vocab_path = request.vocab.as_deref().ok_or_else(|| {
        anyhow!(
            "a vocabulary is needed: pass --vocab FILE (a JSON array, index = id, or a JSON object word → id)"
        )
    })?;
    let vocab_json = std::fs::read_to_string(vocab_path)
        .with_context(|| format!("{}: cannot read the vocabulary", vocab_path.display()))?;
    let vocab = Vocabulary::from_json(&vocab_json).map_err(|e| anyhow!("{}: {e}", vocab_path.display()))?;

    let config = match layout {
        CheckpointLayout::Torchvision => {
            let d = &request.fresh_decoder;
            let config = ModelConfig {
                version: CONFIG_VERSION,
                encoder,
                attention: AttentionConfig {
                    dim: d.attention_dim,
                    activation: d.activation,
                    gate: d.gate,
                },
                decoder: DecoderConfig {
                    vocab_size: vocab.len(),
                    embed_dim: d.embed_dim,
                    hidden_dim: d.hidden_dim,
                    dropout: d.dropout,
                },
                preprocess,
            };
            config.validate()?;
            // A fresh decoder: initialise a whole model, keep its decoder.
            device.seed(d.seed);
            let mut fresh = CaptionModel::new(&config, device);
            let mut fresh_weights = pollster::block_on(fresh.weights())?;
            fresh_weights.remove_where(|name| name.starts_with("encoder."));
            weights.extend(fresh_weights);
            notes.push(format!(
                "decoder freshly initialised (seed {}): train it before trusting a caption",
                d.seed
            ));
            config
        }
        CheckpointLayout::Notebook | CheckpointLayout::Sgrvinod => {
            let config = decoder_config(&weights, layout, encoder, preprocess, &source_scalars)?;
            config.validate()?;
            config
        }
    };
    if vocab.len() != config.decoder.vocab_size {
        bail!(
            "{}: {} words, but the decoder's embedding has {} rows",
            vocab_path.display(),
            vocab.len(),
            config.decoder.vocab_size
        );
    }
    weights.check_finite()?;
    // Prove the bundle loads: every tensor present, named and shaped as the config says.
    CaptionModel::from_weights(&config, &weights, device)
        .context("the imported weights do not fit the inferred model")?;

    let card = ModelCard {
        name: request.name.clone().unwrap_or_else(|| {
            let file = request
                .checkpoint
                .as_ref()
                .or(request.encoder.as_ref())
                .expect("one file is given");
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        description: format!(
            "{} encoder with a {} attention LSTM decoder, imported from PyTorch ({:?} layout).",
            arch.name(),
            if config.attention.gate {
                "gated relu"
            } else {
                "tanh"
            },
            layout
        ),
        trained_on: request.trained_on.clone().unwrap_or_default(),
        decoder_trained: layout != CheckpointLayout::Torchvision,
        encoder_weights: request
            .encoder
            .as_ref()
            .or(request.checkpoint.as_ref())
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        metrics: source_scalars
            .get("bleu-4")
            .map(|&b| BTreeMap::from([("Bleu_4".to_string(), b)]))
            .unwrap_or_default(),
        epochs: source_scalars
            .get("num_epochs")
            .or(source_scalars.get("epoch"))
            .map(|&e| e as u32),
        created: request.created.clone(),
        notes: notes.join("; "),
    };
    Ok(Imported {
        bundle: Bundle {
            config,
            vocab,
            card,
            weights,
        },
        layout,
        notes,
    })
}

/// Recognises a layout from characteristic keys anywhere in the checkpoint.
pub fn detect_layout(tensors: &TensorMap) -> Option<CheckpointLayout> {
    let has = |suffix: &str| tensors.names().any(|n| n.ends_with(suffix));
    if has("decoder.attention.U.weight") || has("decoder.fcn.weight") {
        Some(CheckpointLayout::Notebook)
    } else if has("decoder.attention.encoder_att.weight") || has("decoder.decode_step.weight_ih") {
        Some(CheckpointLayout::Sgrvinod)
    } else if has("layer1.0.conv1.weight") || has("features.0.0.weight") {
        Some(CheckpointLayout::Torchvision)
    } else {
        None
    }
}

/// Drops DataParallel's `module.` segments.
fn without_module_segments(name: &str) -> String {
    name.split('.')
        .filter(|part| *part != "module")
        .collect::<Vec<_>>()
        .join(".")
}

/// The prefix (`""`, `"state_dict."`, `"model."`, …) under which `marker` sits.
fn root_of(tensors: &TensorMap, marker: &str) -> Option<String> {
    tensors.names().find_map(|name| {
        let name = without_module_segments(name);
        name.strip_suffix(marker).map(str::to_string)
    })
}

/// torchvision's ResNet `children()[:-2]` indices → attribute names.
const RESNET_CHILDREN: [(&str, &str); 6] = [
    ("0", "conv1"),
    ("1", "bn1"),
    ("4", "layer1"),
    ("5", "layer2"),
    ("6", "layer3"),
    ("7", "layer4"),
];

/// Splits a notebook or sgrvinod checkpoint into canonical encoder and decoder tensors.
fn captioner_weights(
    checkpoint: &TorchWeights,
    layout: CheckpointLayout,
    notes: &mut Vec<String>,
) -> Result<(TensorMap, TensorMap)> {
    let root = root_of(&checkpoint.tensors, "decoder.embedding.weight").ok_or_else(|| {
        anyhow!(
            "{}: no `decoder.embedding.weight`: not a {layout:?} checkpoint",
            checkpoint.path.display()
        )
    })?;
    let decoder_names: &[(&str, &str)] = match layout {
        CheckpointLayout::Sgrvinod => &[
            ("attention.encoder_att.", "attention.U."),
            ("attention.decoder_att.", "attention.W."),
            ("attention.full_att.", "attention.A."),
            ("decode_step.", "lstm_cell."),
            ("fc.", "fcn."),
        ],
        _ => &[],
    };
    let (mut encoder, mut decoder) = (TensorMap::new(), TensorMap::new());
    let mut ignored = Vec::new();
    for (stored, tensor) in checkpoint.tensors.iter() {
        let name = without_module_segments(stored);
        let Some(name) = name.strip_prefix(&root) else {
            ignored.push(stored.to_string());
            continue;
        };
        if let Some(rest) = name.strip_prefix("encoder.resnet.") {
            let (child, tail) = rest.split_once('.').unwrap_or((rest, ""));
            match RESNET_CHILDREN.iter().find(|(index, _)| *index == child) {
                Some((_, attribute)) => {
                    encoder.insert(format!("encoder.{attribute}.{tail}"), tensor.clone());
                }
                None => ignored.push(stored.to_string()),
            }
        } else if let Some(rest) = name.strip_prefix("decoder.") {
            if layout == CheckpointLayout::Notebook && rest.starts_with("f_beta.") {
                continue; // defined but never called by the notebook
            }
            let renamed = decoder_names
                .iter()
                .find_map(|(from, to)| rest.strip_prefix(from).map(|tail| format!("{to}{tail}")))
                .unwrap_or_else(|| rest.to_string());
            decoder.insert(format!("decoder.{renamed}"), tensor.clone());
        } else {
            ignored.push(stored.to_string());
        }
    }
    if layout == CheckpointLayout::Notebook
        && checkpoint.tensors.names().any(|n| n.contains("decoder.f_beta."))
    {
        notes.push("dropped the notebook's unused `decoder.f_beta`".into());
    }
    note_ignored(notes, &checkpoint.path, &ignored, checkpoint.skipped.len());
    Ok((encoder, decoder))
}

/// A torchvision ImageNet state dict → `encoder.*` tensors (its classifier dropped).
fn torchvision_encoder(file: &TorchWeights, notes: &mut Vec<String>) -> Result<TensorMap> {
    let root = root_of(&file.tensors, "conv1.weight")
        .filter(|root| !root.ends_with("layer1.0.") && !root.contains("downsample"))
        .or_else(|| root_of(&file.tensors, "features.0.0.weight"))
        .ok_or_else(|| {
            anyhow!(
                "{}: neither `conv1.weight` (ResNet) nor `features.0.0.weight` (MobileNetV2): not a torchvision ImageNet state dict",
                file.path.display()
            )
        })?;
    let mut encoder = TensorMap::new();
    let mut ignored = Vec::new();
    let mut classifier = 0;
    for (stored, tensor) in file.tensors.iter() {
        let name = without_module_segments(stored);
        match name.strip_prefix(&root) {
            Some(rest) if rest.starts_with("fc.") || rest.starts_with("classifier.") => classifier += 1,
            Some(rest) => {
                encoder.insert(format!("encoder.{rest}"), tensor.clone());
            }
            None => ignored.push(stored.to_string()),
        }
    }
    if classifier > 0 {
        notes.push(format!(
            "dropped {classifier} ImageNet classifier tensor(s) from {}",
            file.path.display()
        ));
    }
    note_ignored(notes, &file.path, &ignored, file.skipped.len());
    Ok(encoder)
}

fn note_ignored(notes: &mut Vec<String>, path: &Path, ignored: &[String], skipped: usize) {
    if !ignored.is_empty() {
        let shown: Vec<_> = ignored.iter().take(4).map(String::as_str).collect();
        notes.push(format!(
            "ignored {} tensor(s) of {} outside the model ({}{})",
            ignored.len(),
            path.display(),
            shown.join(", "),
            if ignored.len() > shown.len() { ", …" } else { "" }
        ));
    }
    if skipped > 0 {
        notes.push(format!(
            "skipped {skipped} integer tensor(s) of {} (step counters such as num_batches_tracked)",
            path.display()
        ));
    }
}

/// The encoder architecture and width multiplier that the `encoder.*` tensors describe.
pub fn infer_encoder(weights: &TensorMap, device: &Device) -> Result<(EncoderArch, f64)> {
    let shape = |name: &str| weights.get(name).map(|t| t.shape.clone());
    if let Some(stem) = shape("encoder.features.0.0.weight") {
        // Try torchvision's usual multipliers (and the stem's own ratio); keep the first whose
        // every shape matches.
        let ratio = stem[0] as f64 / 32.0;
        for multiplier in [1.0, ratio, 0.5, 0.75, 0.25, 0.35, 1.3, 1.4] {
            let mut config = ModelConfig::notebook(4);
            config.encoder = EncoderConfig {
                arch: EncoderArch::MobilenetV2,
                width_multiplier: multiplier,
                pooled_grid: None,
            };
            if config.validate().is_ok() && encoder_shapes_match(&config, weights, device) {
                return Ok((EncoderArch::MobilenetV2, multiplier));
            }
        }
        bail!("the MobileNetV2 encoder's shapes match no torchvision width multiplier");
    }
    let stem = shape("encoder.conv1.weight").ok_or_else(|| {
        anyhow!("no encoder weights found (neither `conv1.weight` nor `features.0.0.weight`)")
    })?;
    let mut blocks = [0usize; 4];
    for (stage, count) in blocks.iter_mut().enumerate() {
        let prefix = format!("encoder.layer{}.", stage + 1);
        *count = weights
            .names()
            .filter_map(|n| n.strip_prefix(&prefix)?.split('.').next()?.parse::<usize>().ok())
            .max()
            .map_or(0, |last| last + 1);
    }
    let bottleneck = weights.contains("encoder.layer1.0.conv3.weight");
    let arch = EncoderArch::ALL
        .into_iter()
        .find(|arch| arch.resnet_layers() == Some(blocks) && arch.is_bottleneck() == bottleneck)
        .ok_or_else(|| {
            anyhow!(
                "a ResNet with {} blocks {blocks:?} is not a torchvision depth (18, 34, 50, 101, 152)",
                if bottleneck { "bottleneck" } else { "basic" }
            )
        })?;
    Ok((arch, stem[0] as f64 / 64.0))
}

fn encoder_shapes_match(config: &ModelConfig, weights: &TensorMap, device: &Device) -> bool {
    let mut encoder = glimpse_model::encoder::Encoder::new(config, device);
    glimpse_model::params::expected_shapes(&mut encoder)
        .iter()
        .all(|e| {
            weights
                .get(&format!("encoder.{}", e.name))
                .is_some_and(|t| t.shape == e.shape)
        })
}

/// The decoder's sizes from its tensors, cross-checked with the sizes a notebook checkpoint
/// stores beside its state dict.
fn decoder_config(
    weights: &TensorMap,
    layout: CheckpointLayout,
    encoder: EncoderConfig,
    preprocess: PreprocessConfig,
    scalars: &BTreeMap<String, f64>,
) -> Result<ModelConfig> {
    let shape = |name: &str| {
        weights
            .get(name)
            .map(|t| t.shape.clone())
            .ok_or_else(|| anyhow!("the checkpoint has no `{name}`"))
    };
    let embedding = shape("decoder.embedding.weight")?;
    let attention = shape("decoder.attention.U.weight")?;
    let init_h = shape("decoder.init_h.weight")?;
    let sgrvinod = layout == CheckpointLayout::Sgrvinod;
    let config = ModelConfig {
        version: CONFIG_VERSION,
        encoder,
        attention: AttentionConfig {
            dim: attention[0],
            activation: if sgrvinod {
                AttentionActivation::Relu
            } else {
                AttentionActivation::Tanh
            },
            gate: sgrvinod,
        },
        decoder: DecoderConfig {
            vocab_size: embedding[0],
            embed_dim: embedding[1],
            hidden_dim: init_h[0],
            dropout: if sgrvinod { 0.5 } else { 0.3 },
        },
        preprocess,
    };
    if attention[1] != config.encoder_dim() {
        bail!(
            "the decoder's attention expects {}-channel features but the {} encoder gives {}",
            attention[1],
            config.encoder.arch.name(),
            config.encoder_dim()
        );
    }
    for (key, value) in [
        ("embed_size", config.decoder.embed_dim),
        ("attention_dim", config.attention.dim),
        ("encoder_dim", config.encoder_dim()),
        ("decoder_dim", config.decoder.hidden_dim),
        ("vocab_size", config.decoder.vocab_size),
    ] {
        if let Some(&stored) = scalars.get(key) {
            if stored != value as f64 {
                bail!("the checkpoint says {key} = {stored} but its tensors give {value}");
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[String]) -> TensorMap {
        names
            .iter()
            .map(|n| (n.clone(), HostTensor::new(vec![1], vec![0.0]).unwrap()))
            .collect()
    }

    fn resnet_keys(blocks: [usize; 4], bottleneck: bool, base: usize) -> TensorMap {
        let mut keys = vec![];
        for (stage, &count) in blocks.iter().enumerate() {
            for i in 0..count {
                keys.push(format!("encoder.layer{}.{i}.conv1.weight", stage + 1));
                if bottleneck {
                    keys.push(format!("encoder.layer{}.{i}.conv3.weight", stage + 1));
                }
            }
        }
        let mut map = names(&keys);
        map.insert(
            "encoder.conv1.weight",
            HostTensor::new(vec![base, 3, 7, 7], vec![0.0; base * 147]).unwrap(),
        );
        map
    }

    #[test]
    fn resnet_depth_and_width_come_from_the_keys() {
        let device = Device::flex();
        let infer = |blocks, bottleneck, base| infer_encoder(&resnet_keys(blocks, bottleneck, base), &device);
        assert_eq!(
            infer([2, 2, 2, 2], false, 64).unwrap(),
            (EncoderArch::Resnet18, 1.0)
        );
        assert_eq!(
            infer([3, 4, 6, 3], false, 64).unwrap(),
            (EncoderArch::Resnet34, 1.0)
        );
        assert_eq!(
            infer([3, 4, 6, 3], true, 8).unwrap(),
            (EncoderArch::Resnet50, 0.125)
        );
        assert_eq!(
            infer([3, 4, 23, 3], true, 64).unwrap(),
            (EncoderArch::Resnet101, 1.0)
        );
        assert_eq!(
            infer([3, 8, 36, 3], true, 64).unwrap(),
            (EncoderArch::Resnet152, 1.0)
        );
        let err = infer([3, 4, 5, 3], true, 64).unwrap_err().to_string();
        assert!(
            err.contains("bottleneck blocks [3, 4, 5, 3] is not a torchvision depth"),
            "{err}"
        );
        let err = infer_encoder(&names(&["decoder.fcn.weight".into()]), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no encoder weights found"), "{err}");
    }

    #[test]
    fn layouts_are_recognised_by_their_keys() {
        let detect =
            |keys: &[&str]| detect_layout(&names(&keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()));
        assert_eq!(
            detect(&["state_dict.decoder.attention.U.weight"]),
            Some(CheckpointLayout::Notebook)
        );
        assert_eq!(
            detect(&["decoder.decode_step.weight_ih"]),
            Some(CheckpointLayout::Sgrvinod)
        );
        assert_eq!(
            detect(&["conv1.weight", "layer1.0.conv1.weight", "fc.weight"]),
            Some(CheckpointLayout::Torchvision)
        );
        assert_eq!(
            detect(&["features.0.0.weight", "classifier.1.weight"]),
            Some(CheckpointLayout::Torchvision)
        );
        assert_eq!(detect(&["bert.embeddings.word_embeddings.weight"]), None);
    }

    #[test]
    fn module_segments_are_dropped() {
        assert_eq!(
            without_module_segments("module.decoder.fc.weight"),
            "decoder.fc.weight"
        );
        assert_eq!(
            without_module_segments("decoder.module.fc.weight"),
            "decoder.fc.weight"
        );
    }
}
