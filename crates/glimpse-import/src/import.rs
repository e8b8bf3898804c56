//! One import: read the files, choose the layout, bring the names to canonical ones, infer the
//! config (or add a fresh decoder), check that everything loads, and describe it on a card.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::Device;
use glimpse_files::shown;
use glimpse_model::bundle::{Bundle, ModelCard};
use glimpse_model::config::{EncoderConfig, ModelConfig, PreprocessConfig};
use glimpse_model::{CaptionModel, TensorMap, Vocabulary};

use crate::fresh::FreshDecoder;
use crate::infer::{decoder_config, infer_encoder};
use crate::layout::{CaptionerWeights, CheckpointLayout, captioner_weights, detect_layout};
use crate::torch_weights::{TorchWeights, read_checkpoint};
use crate::torchvision::torchvision_encoder;

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

/// Runs an import: reads the files, maps names, infers the config, checks everything loads.
pub fn import(request: &ImportRequest, device: &Device) -> Result<Imported> {
    let checkpoint = request.checkpoint.as_deref().map(read_checkpoint).transpose()?;
    let encoder_file = request.encoder.as_deref().map(read_checkpoint).transpose()?;
    let integer_weights: Vec<String> = [&checkpoint, &encoder_file]
        .into_iter()
        .flatten()
        .flat_map(|file| file.integer_weights.iter().cloned())
        .collect();
    // An error about a missing weight says why, where an integer tensor has its name.
    import_files(request, checkpoint, encoder_file, device).map_err(|e| match integer_weights.len() {
        0 => e,
        count => anyhow!(
            "{e:#} (integer tensors left out: {}{}; Glimpse imports float weights only)",
            integer_weights[..count.min(4)].join(", "),
            if count > 4 {
                format!(" and {} more", count - 4)
            } else {
                String::new()
            }
        ),
    })
}

/// [`import`] of the files read.
fn import_files(
    request: &ImportRequest,
    checkpoint: Option<TorchWeights>,
    encoder_file: Option<TorchWeights>,
    device: &Device,
) -> Result<Imported> {
    let mut notes = Vec::new();
    let layout = choose_layout(request.layout, checkpoint.as_ref(), encoder_file.as_ref())?;
    let Canonical { mut weights, scalars } = canonical_weights(layout, checkpoint, encoder_file, &mut notes)?;
    let (encoder, preprocess) = encoder_config(request, layout, &weights, device)?;
    let (vocab, vocab_path) = read_vocabulary(request)?;
    let config = match layout {
        CheckpointLayout::Torchvision => {
            let decoder = &request.fresh_decoder;
            let config = decoder.model_config(encoder, preprocess, vocab.len());
            weights.extend(decoder.decoder_weights(&config, device)?);
            notes.push(format!(
                "decoder freshly initialised (seed {}): train it before trusting a caption",
                decoder.seed
            ));
            config
        }
        CheckpointLayout::Notebook | CheckpointLayout::Sgrvinod => {
            let config = decoder_config(&weights, layout, encoder, preprocess, &scalars)?;
            config.validate()?;
            config
        }
    };
    check_loads(&config, &vocab, vocab_path, &weights, device)?;
    let card = model_card(request, layout, &config, &scalars, &notes);
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

/// The layout asked for, or the one the checkpoint's keys show; a lone encoder file is a
/// torchvision one.
fn choose_layout(
    asked: Option<CheckpointLayout>,
    checkpoint: Option<&TorchWeights>,
    encoder_file: Option<&TorchWeights>,
) -> Result<CheckpointLayout> {
    Ok(match (asked, checkpoint, encoder_file) {
        // Keys of another layout can still all be found: the notebook's under `--layout
        // sgrvinod` imported another model (relu attention and the notebook's never-trained
        // gate), without a word (hostile round 22).
        (Some(layout), Some(checkpoint), _) => match detect_layout(checkpoint.tensors.names()) {
            Some(keys) if keys != layout => bail!(
                "{}: its keys are the {} layout's, not the {} layout's that --layout asks for; \
                 leave --layout out to import it as {}",
                checkpoint.path.display(),
                keys.name(),
                layout.name(),
                keys.name()
            ),
            _ => layout,
        },
        (Some(layout), _, _) => layout,
        (None, Some(checkpoint), _) => detect_layout(checkpoint.tensors.names()).ok_or_else(|| {
            let first: Vec<&str> = checkpoint.tensors.names().take(5).collect();
            match first.is_empty() {
                true => anyhow!(
                    "{}: holds no float tensor ({} other tensor(s))",
                    checkpoint.path.display(),
                    checkpoint.skipped.len()
                ),
                false => anyhow!(
                    "{}: cannot tell the layout from its keys (first: {}); pass --layout notebook|sgrvinod|torchvision",
                    checkpoint.path.display(),
                    first.join(", ")
                ),
            }
        })?,
        (None, None, Some(_)) => CheckpointLayout::Torchvision,
        (None, None, None) => bail!("nothing to import: pass --checkpoint FILE and/or --encoder FILE"),
    })
}

/// The tensors under canonical names (`encoder.<torchvision name>`, `decoder.<notebook name>`)
/// and the numbers a captioning checkpoint stores beside them.
struct Canonical {
    weights: TensorMap,
    scalars: BTreeMap<String, f64>,
}

fn canonical_weights(
    layout: CheckpointLayout,
    checkpoint: Option<TorchWeights>,
    encoder_file: Option<TorchWeights>,
    notes: &mut Vec<String>,
) -> Result<Canonical> {
    match layout {
        CheckpointLayout::Torchvision => {
            if encoder_file.is_some() && checkpoint.is_some() {
                bail!(
                    "the torchvision layout takes one file: pass it as --encoder (or --checkpoint), not both"
                );
            }
            let source = encoder_file
                .or(checkpoint)
                .ok_or_else(|| anyhow!("nothing to import: pass --checkpoint FILE and/or --encoder FILE"))?;
            Ok(Canonical {
                weights: torchvision_encoder(source, notes)?,
                scalars: BTreeMap::new(),
            })
        }
        CheckpointLayout::Notebook | CheckpointLayout::Sgrvinod => {
            let mut checkpoint =
                checkpoint.ok_or_else(|| anyhow!("the {layout:?} layout needs --checkpoint FILE"))?;
            let scalars = std::mem::take(&mut checkpoint.scalars);
            Ok(Canonical {
                weights: captioner_with_encoder(checkpoint, encoder_file, layout, notes)?,
                scalars,
            })
        }
    }
}

/// A captioning checkpoint's decoder with its own encoder, or with `encoder_file`'s when given
/// (a checkpoint saved without its encoder needs one).
fn captioner_with_encoder(
    checkpoint: TorchWeights,
    encoder_file: Option<TorchWeights>,
    layout: CheckpointLayout,
    notes: &mut Vec<String>,
) -> Result<TensorMap> {
    let path = checkpoint.path.clone();
    let CaptionerWeights { encoder, decoder } = captioner_weights(checkpoint, layout, notes)?;
    let mut weights = match (encoder_file, encoder.is_empty()) {
        (Some(file), _) => {
            if !encoder.is_empty() {
                notes.push(format!(
                    "encoder weights taken from {} instead of the checkpoint's",
                    shown(&crate::layout::file_name(&file.path))
                ));
            }
            drop(encoder);
            torchvision_encoder(file, notes)?
        }
        (None, false) => encoder,
        (None, true) => bail!(
            "{}: the checkpoint holds no encoder weights; pass the torchvision ImageNet file as --encoder FILE",
            path.display()
        ),
    };
    weights.extend(decoder);
    Ok(weights)
}

/// The encoder the tensors describe, pooled and fed as the request (or sgrvinod's defaults:
/// 14×14 grid, 256 pixels) says.
fn encoder_config(
    request: &ImportRequest,
    layout: CheckpointLayout,
    weights: &TensorMap,
    device: &Device,
) -> Result<(EncoderConfig, PreprocessConfig)> {
    let (arch, width_multiplier) = infer_encoder(weights, device)?;
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
    Ok((encoder, preprocess))
}

/// The request's vocabulary file, read.
fn read_vocabulary(request: &ImportRequest) -> Result<(Vocabulary, &Path)> {
    let vocab_path = request.vocab.as_deref().ok_or_else(|| {
        anyhow!(
            "a vocabulary is needed: pass --vocab FILE (a JSON array, index = id, or a JSON object word → id)"
        )
    })?;
    let vocab_json =
        glimpse_files::read_regular_to_string(vocab_path, glimpse_files::caps::CONFIG, "vocabulary")?;
    let vocab = Vocabulary::from_json(&vocab_json).map_err(|e| anyhow!("{}: {e}", vocab_path.display()))?;
    Ok((vocab, vocab_path))
}

/// Proves the bundle loads: the vocabulary fits the embedding, every value is finite, and every
/// tensor is present, named and shaped as the config says.
fn check_loads(
    config: &ModelConfig,
    vocab: &Vocabulary,
    vocab_path: &Path,
    weights: &TensorMap,
    device: &Device,
) -> Result<()> {
    if vocab.len() != config.decoder.vocab_size {
        bail!(
            "{}: {} words, but the decoder's embedding has {} rows",
            vocab_path.display(),
            vocab.len(),
            config.decoder.vocab_size
        );
    }
    weights.check_values()?;
    CaptionModel::from_weights(config, weights, device)
        .context("the imported weights do not fit the inferred model")?;
    Ok(())
}

/// What the bundle says about itself: names from the files, scores and epochs from the
/// checkpoint's numbers, the import's notes.
fn model_card(
    request: &ImportRequest,
    layout: CheckpointLayout,
    config: &ModelConfig,
    scalars: &BTreeMap<String, f64>,
    notes: &[String],
) -> ModelCard {
    let lossy = |name: Option<&OsStr>| name.map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let checkpoint_first = request.checkpoint.as_deref().or(request.encoder.as_deref());
    let encoder_first = request.encoder.as_deref().or(request.checkpoint.as_deref());
    ModelCard {
        name: request
            .name
            .clone()
            .unwrap_or_else(|| lossy(checkpoint_first.and_then(Path::file_stem))),
        description: format!(
            "{} encoder with a {} attention LSTM decoder, imported from PyTorch ({:?} layout).",
            config.encoder.arch.name(),
            if config.attention.gate {
                "gated relu"
            } else {
                "tanh"
            },
            layout
        ),
        trained_on: request.trained_on.clone().unwrap_or_default(),
        decoder_trained: layout != CheckpointLayout::Torchvision,
        encoder_weights: lossy(encoder_first.and_then(Path::file_name)),
        // A NaN score or a negative epoch count says nothing: left out rather than written.
        metrics: scalars
            .get("bleu-4")
            .filter(|b| b.is_finite())
            .map(|&b| BTreeMap::from([("Bleu_4".to_string(), b)]))
            .unwrap_or_default(),
        epochs: scalars
            .get("num_epochs")
            .or(scalars.get("epoch"))
            .filter(|&&e| e.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&e))
            .map(|&e| e as u32),
        created: request.created.clone(),
        notes: notes.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint's `bleu-4` of NaN was written as `null`, which made the bundle unreadable;
    /// an epoch count of 1e300 or -5 was saturated into the card. They are left out.
    #[test]
    fn scores_and_epochs_that_are_not_numbers_stay_out_of_the_card() {
        let config = ModelConfig::notebook(5);
        let request = ImportRequest::default();
        for (bleu, epoch) in [(f64::NAN, 1e300), (f64::INFINITY, -5.0), (f64::NAN, 2.5)] {
            let scalars = BTreeMap::from([("bleu-4".to_string(), bleu), ("epoch".to_string(), epoch)]);
            let card = model_card(&request, CheckpointLayout::Notebook, &config, &scalars, &[]);
            assert!(card.metrics.is_empty() && card.epochs.is_none(), "{card:?}");
        }
        let scalars = BTreeMap::from([("bleu-4".to_string(), 0.25), ("epoch".to_string(), 7.0)]);
        let card = model_card(&request, CheckpointLayout::Notebook, &config, &scalars, &[]);
        assert_eq!((card.metrics["Bleu_4"], card.epochs), (0.25, Some(7)));
    }
}
