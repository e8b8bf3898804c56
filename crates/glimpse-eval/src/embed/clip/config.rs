//! Hugging Face's `config.json` for CLIP, read and checked, turned into candle-transformers'
//! tower configs.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use candle_transformers::models::clip::text_model::{Activation, ClipTextConfig};
use candle_transformers::models::clip::vision_model::ClipVisionConfig;
use serde::Deserialize;

/// HF `CLIPConfig`, the fields the towers need; missing ones take HF's defaults (ViT-B/32).
#[derive(Debug, Deserialize)]
pub(super) struct HfConfig {
    pub(super) model_type: Option<String>,
    #[serde(default = "default_projection_dim")]
    pub(super) projection_dim: usize,
    pub(super) text_config: Option<HfTextConfig>,
    pub(super) vision_config: Option<HfVisionConfig>,
    /// Configs saved by transformers before 4.20 (e.g. openai/clip-vit-base-patch32's first
    /// revision) may carry the towers here instead.
    pub(super) text_config_dict: Option<HfTextConfig>,
    pub(super) vision_config_dict: Option<HfVisionConfig>,
}

fn default_projection_dim() -> usize {
    512
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct HfTextConfig {
    pub(super) vocab_size: usize,
    pub(super) hidden_size: usize,
    pub(super) intermediate_size: usize,
    pub(super) num_hidden_layers: usize,
    pub(super) num_attention_heads: usize,
    pub(super) max_position_embeddings: usize,
    pub(super) hidden_act: String,
    pub(super) layer_norm_eps: f64,
    pub(super) eos_token_id: u32,
}

impl Default for HfTextConfig {
    fn default() -> Self {
        HfTextConfig {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct HfVisionConfig {
    pub(super) hidden_size: usize,
    pub(super) intermediate_size: usize,
    pub(super) num_hidden_layers: usize,
    pub(super) num_attention_heads: usize,
    pub(super) num_channels: usize,
    pub(super) image_size: usize,
    pub(super) patch_size: usize,
    pub(super) hidden_act: String,
    pub(super) layer_norm_eps: f64,
}

impl Default for HfVisionConfig {
    fn default() -> Self {
        HfVisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

/// What the rest of loading needs from `config.json`, checked.
pub(super) struct ClipConfig {
    pub(super) text: ClipTextConfig,
    pub(super) vision: ClipVisionConfig,
    pub(super) projection_dim: usize,
    /// The text tower's vocabulary size, which the tokenizer must not exceed.
    pub(super) vocab_size: usize,
    /// The text tower's `eos_token_id`, which decides where it is pooled.
    pub(super) eos_token_id: u32,
}

impl HfConfig {
    /// The towers, wherever the file keeps them (`*_config` or the older `*_config_dict`).
    pub(super) fn towers(self) -> (HfTextConfig, HfVisionConfig) {
        (
            self.text_config.or(self.text_config_dict).unwrap_or_default(),
            self.vision_config.or(self.vision_config_dict).unwrap_or_default(),
        )
    }

    /// Checks the file against what candle's CLIP can run and builds its tower configs;
    /// `path` names the file in errors.
    pub(super) fn into_clip_config(self, path: &Path) -> Result<ClipConfig> {
        if let Some(model_type) = self.model_type.as_deref().filter(|t| *t != "clip") {
            return Err(unsupported(path, "model_type", model_type, "clip"));
        }
        let projection_dim = self.projection_dim;
        let (text, vision) = self.towers();
        check_towers(&text, &vision, path)?;
        // Pooling reads the hidden state where this id first appears; an id past the
        // vocabulary never appears, and pooling then silently takes another position.
        if text.eos_token_id as usize >= text.vocab_size {
            bail!(
                "{}: text_config.eos_token_id {} is outside the vocabulary of {} tokens",
                path.display(),
                text.eos_token_id,
                text.vocab_size
            );
        }
        Ok(ClipConfig {
            text: ClipTextConfig {
                vocab_size: text.vocab_size,
                embed_dim: text.hidden_size,
                activation: Activation::QuickGelu,
                intermediate_size: text.intermediate_size,
                max_position_embeddings: text.max_position_embeddings,
                pad_with: None,
                num_hidden_layers: text.num_hidden_layers,
                num_attention_heads: text.num_attention_heads,
                projection_dim,
            },
            vision: ClipVisionConfig {
                embed_dim: vision.hidden_size,
                activation: Activation::QuickGelu,
                intermediate_size: vision.intermediate_size,
                num_hidden_layers: vision.num_hidden_layers,
                num_attention_heads: vision.num_attention_heads,
                projection_dim,
                num_channels: vision.num_channels,
                image_size: vision.image_size,
                patch_size: vision.patch_size,
            },
            projection_dim,
            vocab_size: text.vocab_size,
            eos_token_id: text.eos_token_id,
        })
    }
}

/// OpenAI's activation and epsilon, and head and patch sizes that divide evenly.
fn check_towers(text: &HfTextConfig, vision: &HfVisionConfig, path: &Path) -> Result<()> {
    for (tower, act, eps) in [
        ("text_config", &text.hidden_act, text.layer_norm_eps),
        ("vision_config", &vision.hidden_act, vision.layer_norm_eps),
    ] {
        if act != "quick_gelu" {
            return Err(unsupported(
                path,
                &format!("{tower}.hidden_act"),
                act,
                "quick_gelu (OpenAI's CLIP)",
            ));
        }
        if (eps - 1e-5).abs() > 1e-12 {
            return Err(unsupported(path, &format!("{tower}.layer_norm_eps"), eps, "1e-5"));
        }
    }
    for (field, hidden, heads) in [
        ("text_config", text.hidden_size, text.num_attention_heads),
        ("vision_config", vision.hidden_size, vision.num_attention_heads),
    ] {
        if hidden == 0 || heads == 0 || !hidden.is_multiple_of(heads) {
            bail!(
                "{}: {field}.hidden_size {hidden} is not a multiple of num_attention_heads {heads}",
                path.display()
            );
        }
    }
    check_sizes(text, vision, path)?;
    if vision.patch_size == 0 || !vision.image_size.is_multiple_of(vision.patch_size) {
        bail!(
            "{}: vision_config.image_size {} is not a multiple of patch_size {}",
            path.display(),
            vision.image_size,
            vision.patch_size
        );
    }
    Ok(())
}

/// OpenAI's towers take images of 224 or 336 pixels in 49–576 patches and texts of 77 tokens.
/// Attention grows with the square of both, and a folder of a few MB asking for 2048-pixel
/// images or 40,000 text positions failed to allocate 5–13 GB.
const MAX_IMAGE_SIZE: usize = 448;
const MAX_PATCHES: usize = 1024;
const MAX_TEXT_POSITIONS: usize = 512;

/// The image size, patches and text positions within what attention over them can hold.
fn check_sizes(text: &HfTextConfig, vision: &HfVisionConfig, path: &Path) -> Result<()> {
    let patches = match vision.patch_size {
        0 => usize::MAX,
        patch => (vision.image_size / patch).saturating_pow(2),
    };
    let checks = [
        ("vision_config.image_size", vision.image_size, MAX_IMAGE_SIZE),
        (
            "vision_config's patches (image_size / patch_size, squared)",
            patches,
            MAX_PATCHES,
        ),
        (
            "text_config.max_position_embeddings",
            text.max_position_embeddings,
            MAX_TEXT_POSITIONS,
        ),
    ];
    for (field, value, max) in checks {
        if value > max {
            bail!("{}: {field} is {value}, over Glimpse's {max}", path.display());
        }
    }
    Ok(())
}

/// "`path`: `field` is `value`; Glimpse's CLIP supports `supported`".
pub(super) fn unsupported(
    path: &Path,
    field: &str,
    value: impl std::fmt::Display,
    supported: &str,
) -> anyhow::Error {
    anyhow!(
        "{}: {field} is {value}; Glimpse's CLIP supports {supported}",
        path.display()
    )
}
