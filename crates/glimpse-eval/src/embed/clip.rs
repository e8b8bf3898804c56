//! CLIP's text and image towers, from a Hugging Face CLIP folder the user supplies
//! (`config.json`, `model.safetensors`, `tokenizer.json`, `preprocessor_config.json`; e.g.
//! openai/clip-vit-base-patch32). The transformer is candle-transformers' CLIP; this file reads
//! HF's config, pools the text tower at the end-of-text token as HF does, and preprocesses
//! images as CLIP's image processor does (shortest edge resized bicubically, centre crop,
//! CLIP's mean and std).
//!
//! Features are the projected embeddings (`get_text_features` / `get_image_features`), not
//! normalised; [`TextEncoder::embed`] returns them at unit length.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::{Device, IndexOp, Tensor};
use candle_nn::{Linear, Module};
use candle_transformers::models::clip::text_model::{Activation, ClipTextConfig, ClipTextTransformer};
use candle_transformers::models::clip::vision_model::{ClipVisionConfig, ClipVisionTransformer};
use image::RgbImage;
use image::imageops::FilterType;
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::embed::hf_folder::HfFolder;
use crate::embed::similarity::{TextEncoder, in_length_batches, normalised};

const BATCH: usize = 32;

/// HF `CLIPConfig`, the fields the towers need; missing ones take HF's defaults (ViT-B/32).
#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    #[serde(default = "default_projection_dim")]
    projection_dim: usize,
    text_config: Option<HfTextConfig>,
    vision_config: Option<HfVisionConfig>,
    /// Configs saved by transformers before 4.20 (e.g. openai/clip-vit-base-patch32's first
    /// revision) may carry the towers here instead.
    text_config_dict: Option<HfTextConfig>,
    vision_config_dict: Option<HfVisionConfig>,
}

fn default_projection_dim() -> usize {
    512
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct HfTextConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    max_position_embeddings: usize,
    hidden_act: String,
    layer_norm_eps: f64,
    eos_token_id: u32,
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
struct HfVisionConfig {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_channels: usize,
    image_size: usize,
    patch_size: usize,
    hidden_act: String,
    layer_norm_eps: f64,
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

/// HF `preprocessor_config.json`. Old files give `size` and `crop_size` as one number.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct HfPreprocessor {
    do_resize: bool,
    size: SizeSpec,
    resample: u32,
    do_center_crop: bool,
    crop_size: SizeSpec,
    do_rescale: bool,
    rescale_factor: f32,
    do_normalize: bool,
    image_mean: [f32; 3],
    image_std: [f32; 3],
}

impl Default for HfPreprocessor {
    fn default() -> Self {
        HfPreprocessor {
            do_resize: true,
            size: SizeSpec::Edge(224),
            resample: BICUBIC,
            do_center_crop: true,
            crop_size: SizeSpec::Edge(224),
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            image_std: [0.268_629_54, 0.261_302_58, 0.275_777_1],
        }
    }
}

/// PIL's resampling codes as HF stores them.
const BILINEAR: u32 = 2;
const BICUBIC: u32 = 3;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeSpec {
    Edge(u32),
    Shortest { shortest_edge: u32 },
    Exact { height: u32, width: u32 },
}

/// How CLIP's image processor turns a photo into `pixel_values`.
#[derive(Debug, Clone)]
pub struct ClipPreprocess {
    /// Resize so that the shorter side has this length, or to exactly (height, width).
    resize: Option<Resize>,
    filter: FilterType,
    crop: Option<(u32, u32)>,
    scale: f32,
    mean: [f32; 3],
    std: [f32; 3],
}

#[derive(Debug, Clone, Copy)]
enum Resize {
    ShortestEdge(u32),
    Exact(u32, u32),
}

impl ClipPreprocess {
    /// The `[3, H, W]` pixel values (channel-major) for one photo.
    pub fn pixel_values(&self, image: &RgbImage) -> Vec<f32> {
        let (width, height) = image.dimensions();
        let resized = match self.resize {
            Some(Resize::ShortestEdge(edge)) => {
                // HF (like torchvision) floors the longer side.
                let (w, h) = if width <= height {
                    (edge, (edge as u64 * height as u64 / width as u64) as u32)
                } else {
                    ((edge as u64 * width as u64 / height as u64) as u32, edge)
                };
                image::imageops::resize(image, w.max(1), h.max(1), self.filter)
            }
            Some(Resize::Exact(h, w)) => image::imageops::resize(image, w, h, self.filter),
            None => image.clone(),
        };
        let cropped = match self.crop {
            Some((h, w)) => {
                // Centre crop (the top-left corner rounds down, as HF's); an image smaller than
                // the crop lands in zeros, its padding rounded up before it (HF's `ceil`).
                let offset = |size: u32, crop: u32| -> i64 {
                    if size < crop {
                        (crop - size).div_ceil(2) as i64
                    } else {
                        -(((size - crop) / 2) as i64)
                    }
                };
                let mut canvas = RgbImage::new(w, h);
                let (x, y) = (offset(resized.width(), w), offset(resized.height(), h));
                image::imageops::replace(&mut canvas, &resized, x, y);
                canvas
            }
            None => resized,
        };
        let plane = (cropped.width() * cropped.height()) as usize;
        let mut values = vec![0.0f32; 3 * plane];
        for (i, pixel) in cropped.pixels().enumerate() {
            for c in 0..3 {
                values[c * plane + i] = (pixel[c] as f32 * self.scale - self.mean[c]) / self.std[c];
            }
        }
        values
    }
}

/// Which position's hidden state is the text's embedding (HF `CLIPTextTransformer`).
#[derive(Debug, Clone, Copy)]
enum Pooling {
    /// Configs older than transformers#24773 say `eos_token_id: 2`; HF then takes the largest
    /// token id, which is CLIP's end-of-text token.
    LargestId,
    /// The first occurrence of the end-of-text id (padding may repeat it).
    FirstEos(u32),
}

pub struct Clip {
    text: ClipTextTransformer,
    text_projection: Linear,
    vision: ClipVisionTransformer,
    visual_projection: Linear,
    tokenizer: Tokenizer,
    pooling: Pooling,
    preprocess: ClipPreprocess,
    image_size: usize,
    name: String,
    device: Device,
}

fn unsupported(path: &Path, field: &str, value: impl std::fmt::Display, supported: &str) -> anyhow::Error {
    anyhow!(
        "{}: {field} is {value}; Glimpse's CLIP supports {supported}",
        path.display()
    )
}

impl Clip {
    /// Loads a Hugging Face CLIP folder.
    pub fn load(dir: &Path) -> Result<Clip> {
        let folder = HfFolder {
            dir,
            expects: "a CLIP folder must hold Hugging Face's config.json, model.safetensors and tokenizer.json (and preprocessor_config.json)",
        };
        let (config, config_path): (HfConfig, _) = folder.json("config.json", "a CLIP config")?;
        if let Some(model_type) = config.model_type.as_deref().filter(|t| *t != "clip") {
            return Err(unsupported(&config_path, "model_type", model_type, "clip"));
        }
        let text_cfg = &config.text_config.or(config.text_config_dict).unwrap_or_default();
        let vision_cfg = &config
            .vision_config
            .or(config.vision_config_dict)
            .unwrap_or_default();
        for (tower, act, eps) in [
            ("text_config", &text_cfg.hidden_act, text_cfg.layer_norm_eps),
            ("vision_config", &vision_cfg.hidden_act, vision_cfg.layer_norm_eps),
        ] {
            if act != "quick_gelu" {
                return Err(unsupported(
                    &config_path,
                    &format!("{tower}.hidden_act"),
                    act,
                    "quick_gelu (OpenAI's CLIP)",
                ));
            }
            if (eps - 1e-5).abs() > 1e-12 {
                return Err(unsupported(
                    &config_path,
                    &format!("{tower}.layer_norm_eps"),
                    eps,
                    "1e-5",
                ));
            }
        }
        for (field, hidden, heads) in [
            ("text_config", text_cfg.hidden_size, text_cfg.num_attention_heads),
            (
                "vision_config",
                vision_cfg.hidden_size,
                vision_cfg.num_attention_heads,
            ),
        ] {
            if heads == 0 || hidden % heads != 0 {
                bail!(
                    "{}: {field}.hidden_size {hidden} is not a multiple of num_attention_heads {heads}",
                    config_path.display()
                );
            }
        }
        if vision_cfg.patch_size == 0 || vision_cfg.image_size % vision_cfg.patch_size != 0 {
            bail!(
                "{}: vision_config.image_size {} is not a multiple of patch_size {}",
                config_path.display(),
                vision_cfg.image_size,
                vision_cfg.patch_size
            );
        }
        let text_config = ClipTextConfig {
            vocab_size: text_cfg.vocab_size,
            embed_dim: text_cfg.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: text_cfg.intermediate_size,
            max_position_embeddings: text_cfg.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: text_cfg.num_hidden_layers,
            num_attention_heads: text_cfg.num_attention_heads,
            projection_dim: config.projection_dim,
        };
        let vision_config = ClipVisionConfig {
            embed_dim: vision_cfg.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: vision_cfg.intermediate_size,
            num_hidden_layers: vision_cfg.num_hidden_layers,
            num_attention_heads: vision_cfg.num_attention_heads,
            projection_dim: config.projection_dim,
            num_channels: vision_cfg.num_channels,
            image_size: vision_cfg.image_size,
            patch_size: vision_cfg.patch_size,
        };

        let (mut tokenizer, tokenizer_path) = folder.tokenizer(text_cfg.max_position_embeddings)?;
        let end_of_text = tokenizer.token_to_id("<|endoftext|>").ok_or_else(|| {
            anyhow!(
                "{}: no <|endoftext|> token; not a CLIP tokenizer",
                tokenizer_path.display()
            )
        })?;
        // Batches are padded with end-of-text (CLIP's pad token), which the causal mask keeps
        // from the pooled position.
        if let Some(padding) = tokenizer.get_padding_mut() {
            (padding.pad_token, padding.pad_id) = ("<|endoftext|>".to_string(), end_of_text);
        }
        let pooling = if text_cfg.eos_token_id == 2 {
            Pooling::LargestId
        } else {
            Pooling::FirstEos(text_cfg.eos_token_id)
        };
        if tokenizer.get_vocab_size(true) > text_cfg.vocab_size {
            bail!(
                "{}: the tokenizer has {} tokens but {} says vocab_size {}",
                tokenizer_path.display(),
                tokenizer.get_vocab_size(true),
                config_path.display(),
                text_cfg.vocab_size
            );
        }
        let preprocess_path = dir.join("preprocessor_config.json");
        let preprocessor: HfPreprocessor = if preprocess_path.is_file() {
            serde_json::from_str(
                &std::fs::read_to_string(&preprocess_path)
                    .with_context(|| format!("{}", preprocess_path.display()))?,
            )
            .map_err(|e| {
                anyhow!(
                    "{}: not an image processor config: {e}",
                    preprocess_path.display()
                )
            })?
        } else {
            HfPreprocessor::default()
        };
        let preprocess = preprocess_from(&preprocessor, &preprocess_path, vision_cfg.image_size as u32)?;

        let (vb, weights) = folder.weights()?;
        let tensor_error = |e: candle_core::Error| anyhow!("{}: {e}", weights.display());
        let text = ClipTextTransformer::new(vb.pp("text_model"), &text_config).map_err(tensor_error)?;
        let vision =
            ClipVisionTransformer::new(vb.pp("vision_model"), &vision_config).map_err(tensor_error)?;
        // The vision embeddings invent a random class embedding when the file lacks one.
        if !vb.contains_tensor("vision_model.embeddings.class_embedding") {
            bail!(
                "{}: tensor vision_model.embeddings.class_embedding is missing",
                weights.display()
            );
        }
        let text_projection = candle_nn::linear_no_bias(
            text_config.embed_dim,
            config.projection_dim,
            vb.pp("text_projection"),
        )
        .map_err(tensor_error)?;
        let visual_projection = candle_nn::linear_no_bias(
            vision_config.embed_dim,
            config.projection_dim,
            vb.pp("visual_projection"),
        )
        .map_err(tensor_error)?;
        Ok(Clip {
            text,
            text_projection,
            vision,
            visual_projection,
            tokenizer,
            pooling,
            preprocess,
            image_size: vision_config.image_size,
            name: format!("CLIP {}", folder.name()),
            device: Device::Cpu,
        })
    }

    /// Token ids of one text, as the text tower sees it (start, BPE tokens, end; truncated).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| anyhow!("tokenizing {text:?}: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Projected text features, one per text.
    pub fn text_features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        in_length_batches(texts, BATCH, |chunk| self.text_features_batch(chunk))
    }

    fn text_features_batch(&self, chunk: &[String]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(chunk.to_vec(), true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        let rows = encodings.len();
        let length = encodings.first().map_or(0, |e| e.get_ids().len());
        let ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_ids().to_vec()).collect();
        let pooled_at: Vec<usize> = encodings
            .iter()
            .map(|e| pooled_position(self.pooling, e.get_ids()))
            .collect();
        let ids = Tensor::from_vec(ids, (rows, length), &self.device)?; // [rows, length]
        let hidden = self.text.forward_with_mask(&ids, usize::MAX)?; // [rows, length, H]
        let pooled: Vec<Tensor> = pooled_at
            .iter()
            .enumerate()
            .map(|(row, &at)| hidden.i((row, at)))
            .collect::<candle_core::Result<_>>()?;
        let pooled = Tensor::stack(&pooled, 0)?; // [rows, H]
        let projected = self.text_projection.forward(&pooled)?; // [rows, P]
        Ok(projected.to_vec2::<f32>()?)
    }

    /// The image tower's input for one photo: `[3, S, S]`, channel-major (S is checked at load).
    pub fn pixel_values(&self, image: &RgbImage) -> Vec<f32> {
        self.preprocess.pixel_values(image)
    }

    /// Projected image features from `pixel_values` of `count` images (`[count, 3, S, S]`).
    pub fn image_features_from_pixels(&self, pixels: &[f32], count: usize) -> Result<Vec<Vec<f32>>> {
        let s = self.image_size;
        if pixels.len() != count * 3 * s * s {
            bail!(
                "{} pixel values are not {count} images of 3×{s}×{s}",
                pixels.len()
            );
        }
        let input = Tensor::from_slice(pixels, (count, 3, s, s), &self.device)?;
        let pooled = self.vision.forward(&input)?; // [count, H]
        Ok(self.visual_projection.forward(&pooled)?.to_vec2::<f32>()?) // [count, P]
    }

    /// Projected image features of photos.
    pub fn image_features(&self, images: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(BATCH) {
            let mut pixels = Vec::new();
            for image in chunk {
                pixels.extend(self.pixel_values(image));
            }
            out.extend(self.image_features_from_pixels(&pixels, chunk.len())?);
        }
        Ok(out)
    }
}

impl TextEncoder for Clip {
    fn name(&self) -> &str {
        &self.name
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(self.text_features(texts)?.into_iter().map(normalised).collect())
    }
}

/// The position HF pools the text tower at.
fn pooled_position(pooling: Pooling, ids: &[u32]) -> usize {
    match pooling {
        // torch.argmax returns the first of equal maxima.
        Pooling::LargestId => {
            ids.iter()
                .enumerate()
                .fold(
                    (0, 0),
                    |(best, max), (i, &id)| if id > max { (i, id) } else { (best, max) },
                )
                .0
        }
        // HF's `(ids == eos).argmax()` is 0 when the text has no end token.
        Pooling::FirstEos(eos) => ids.iter().position(|&id| id == eos).unwrap_or(0),
    }
}

fn preprocess_from(config: &HfPreprocessor, path: &Path, image_size: u32) -> Result<ClipPreprocess> {
    let filter = match config.resample {
        BICUBIC => FilterType::CatmullRom,
        BILINEAR => FilterType::Triangle,
        other => {
            return Err(unsupported(
                path,
                "resample",
                other,
                "2 (bilinear) and 3 (bicubic)",
            ));
        }
    };
    let resize = config.do_resize.then_some(match config.size {
        SizeSpec::Edge(edge) | SizeSpec::Shortest { shortest_edge: edge } => Resize::ShortestEdge(edge),
        SizeSpec::Exact { height, width } => Resize::Exact(height, width),
    });
    let crop = config.do_center_crop.then_some(match config.crop_size {
        SizeSpec::Edge(edge) | SizeSpec::Shortest { shortest_edge: edge } => (edge, edge),
        SizeSpec::Exact { height, width } => (height, width),
    });
    if resize.is_some_and(|r| {
        matches!(
            r,
            Resize::ShortestEdge(0) | Resize::Exact(0, _) | Resize::Exact(_, 0)
        )
    }) || crop.is_some_and(|(h, w)| h == 0 || w == 0)
    {
        bail!("{}: size and crop_size must be positive", path.display());
    }
    // The image tower's position table fixes its input size.
    match (crop, resize) {
        (Some((h, w)), _) if (h, w) != (image_size, image_size) => bail!(
            "{}: crop_size {h}×{w} does not give the {image_size}×{image_size} images config.json's vision_config.image_size asks for",
            path.display()
        ),
        (None, Some(Resize::Exact(h, w))) if (h, w) != (image_size, image_size) => bail!(
            "{}: size {h}×{w} (no centre crop) does not give the {image_size}×{image_size} images config.json's vision_config.image_size asks for",
            path.display()
        ),
        (None, Some(Resize::ShortestEdge(_)) | None) => bail!(
            "{}: without a centre crop, photos would not come out {image_size}×{image_size}",
            path.display()
        ),
        _ => {}
    }
    if config.do_normalize && config.image_std.iter().any(|s| *s <= 0.0) {
        bail!("{}: image_std must be positive", path.display());
    }
    Ok(ClipPreprocess {
        resize,
        filter,
        crop,
        scale: if config.do_rescale {
            config.rescale_factor
        } else {
            1.0
        },
        mean: if config.do_normalize {
            config.image_mean
        } else {
            [0.0; 3]
        },
        std: if config.do_normalize {
            config.image_std
        } else {
            [1.0; 3]
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of openai/clip-vit-base-patch32's files: towers under `*_config_dict` beside
    /// `null`s, the legacy `eos_token_id: 2`, sizes as plain numbers, defaults for the rest.
    #[test]
    fn openai_style_files_are_read() {
        let config: HfConfig = serde_json::from_str(
            r#"{"model_type": "clip", "projection_dim": 512, "text_config": null, "vision_config": null,
                "text_config_dict": {"eos_token_id": 2, "hidden_act": "quick_gelu"},
                "vision_config_dict": {"patch_size": 32, "layer_norm_eps": 1e-05}}"#,
        )
        .unwrap();
        let text = config.text_config.or(config.text_config_dict).unwrap_or_default();
        assert_eq!(
            (text.eos_token_id, text.hidden_size, text.vocab_size),
            (2, 512, 49408)
        );
        let vision = config
            .vision_config
            .or(config.vision_config_dict)
            .unwrap_or_default();
        assert_eq!(
            (vision.hidden_size, vision.image_size, vision.patch_size),
            (768, 224, 32)
        );
        let preprocessor: HfPreprocessor = serde_json::from_str(
            r#"{"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
                "feature_extractor_type": "CLIPFeatureExtractor", "resample": 3, "size": 224}"#,
        )
        .unwrap();
        let preprocess = preprocess_from(&preprocessor, Path::new("p.json"), 224).unwrap();
        // A 448×300 photo: shorter side to 224 (longer floored to 334), centre 224×224.
        let photo = RgbImage::from_pixel(448, 300, image::Rgb([255, 0, 0]));
        let pixels = preprocess.pixel_values(&photo);
        assert_eq!(pixels.len(), 3 * 224 * 224);
        let red = (1.0 - 0.481_454_66) / 0.268_629_54;
        assert!(
            (pixels[0] - red).abs() < 1e-5 && (pixels[224 * 224] + 0.457_827_5 / 0.261_302_58).abs() < 1e-5
        );
        let wrong = preprocess_from(&preprocessor, Path::new("p.json"), 336)
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("crop_size 224×224") && wrong.contains("336×336"),
            "{wrong}"
        );
    }

    /// An image narrower than the crop: 3 columns of padding, 2 before; the expected values are
    /// what transformers.image_transforms.center_crop gives for the same array.
    #[test]
    fn small_images_are_padded_as_transformers_pads_them() {
        let preprocess = ClipPreprocess {
            resize: None,
            filter: FilterType::CatmullRom,
            crop: Some((4, 4)),
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        // 1 column × 7 rows, rows numbered 1..=7: rows 2..=5 are kept (top = (7 - 4) // 2 = 1).
        let mut photo = RgbImage::new(1, 7);
        for y in 0..7 {
            photo.put_pixel(0, y, image::Rgb([y as u8 + 1; 3]));
        }
        let pixels = preprocess.pixel_values(&photo);
        let red: Vec<f32> = pixels[..16].to_vec();
        #[rustfmt::skip]
        assert_eq!(red, [
            0.0, 0.0, 2.0, 0.0,
            0.0, 0.0, 3.0, 0.0,
            0.0, 0.0, 4.0, 0.0,
            0.0, 0.0, 5.0, 0.0,
        ]);
    }

    #[test]
    fn pooling_follows_transformers() {
        let ids = [49406, 320, 1929, 49407, 49407, 49407];
        assert_eq!(
            pooled_position(Pooling::LargestId, &ids),
            3,
            "the first of equal maxima, as torch.argmax"
        );
        assert_eq!(pooled_position(Pooling::FirstEos(49407), &ids), 3);
        // A tokenizer whose end token is not the largest id: the configured id decides.
        assert_eq!(pooled_position(Pooling::FirstEos(320), &ids), 1);
        assert_eq!(pooled_position(Pooling::FirstEos(7), &ids), 0);
    }
}
