//! CLIP's text and image towers, from a Hugging Face CLIP folder the user supplies
//! (`config.json`, `model.safetensors`, `tokenizer.json`, `preprocessor_config.json`; e.g.
//! openai/clip-vit-base-patch32). The transformer is candle-transformers' CLIP; this module reads
//! HF's config ([`config`]), pools the text tower at the end-of-text token as HF does, and
//! preprocesses images as CLIP's image processor does ([`preprocess`]).
//!
//! Features are the projected embeddings (`get_text_features` / `get_image_features`), not
//! normalised; [`TextEncoder::embed`] returns them at unit length.

mod config;
mod preprocess;
mod score;

pub use preprocess::ClipPreprocess;
pub use score::{ClipSplit, clip_evaluation};

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use candle_core::{Device, IndexOp, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::clip::text_model::ClipTextTransformer;
use candle_transformers::models::clip::vision_model::ClipVisionTransformer;
use image::RgbImage;
use tokenizers::Tokenizer;

use crate::embed::hf_folder::HfFolder;
use crate::embed::minilm::in_length_batches;
use crate::similarity::{TextEncoder, check_encoder, finite, normalised, tells_apart};
use config::{ClipConfig, HfConfig};
use preprocess::read_preprocess;

const BATCH: usize = 32;
/// CLIP's end-of-text token, which also pads its batches.
const END_OF_TEXT: &str = "<|endoftext|>";

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

/// The two towers and their projections, as the weights file holds them.
struct Towers {
    text: ClipTextTransformer,
    text_projection: Linear,
    vision: ClipVisionTransformer,
    visual_projection: Linear,
}

impl Clip {
    /// Loads a Hugging Face CLIP folder: the config, then the tokenizer, the image processor
    /// and the weights, each checked against the config.
    pub fn load(dir: &Path) -> Result<Clip> {
        let folder = HfFolder {
            dir,
            expects: "a CLIP folder must hold Hugging Face's config.json, model.safetensors and tokenizer.json (and preprocessor_config.json)",
        };
        let (config, config_path): (HfConfig, _) = folder.json("config.json", "a CLIP config")?;
        let config = config.into_clip_config(&config_path)?;
        let tokenizer = load_tokenizer(&folder, &config, &config_path)?;
        let preprocess = read_preprocess(dir, config.vision.image_size as u32)?;
        let towers = load_towers(&folder, &config)?;
        let clip = Clip {
            text: towers.text,
            text_projection: towers.text_projection,
            vision: towers.vision,
            visual_projection: towers.visual_projection,
            tokenizer,
            pooling: if config.eos_token_id == 2 {
                Pooling::LargestId
            } else {
                Pooling::FirstEos(config.eos_token_id)
            },
            preprocess,
            image_size: config.vision.image_size,
            name: format!("CLIP {}", folder.name()),
            device: Device::Cpu,
        };
        check_encoder(&clip)?;
        clip.tells_images_apart()?;
        Ok(clip)
    }

    /// Refuses an image tower that embeds three unlike pictures in one direction (as a visual
    /// projection of rank one does), which would give every photo the same scores.
    fn tells_images_apart(&self) -> Result<()> {
        let (names, images): (Vec<&str>, Vec<RgbImage>) = probe_images().into_iter().unzip();
        let vectors = finite(&self.name, self.image_features(&images)?)?;
        tells_apart(&self.name, "photos", &names, &vectors)
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

/// Pictures any image tower must embed apart, named for messages (64 × 64: the processor
/// resizes them).
fn probe_images() -> [(&'static str, RgbImage); 3] {
    let ramp = RgbImage::from_fn(64, 64, |_, y| image::Rgb([(y * 4) as u8; 3]));
    let checkerboard = RgbImage::from_fn(64, 64, |x, y| {
        if (x / 8 + y / 8) % 2 == 0 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 200, 40])
        }
    });
    let square = RgbImage::from_fn(64, 64, |x, y| {
        if (16..48).contains(&x) && (16..48).contains(&y) {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([30, 60, 200])
        }
    });
    [
        ("a grey ramp", ramp),
        ("a red and green checkerboard", checkerboard),
        ("a white square on blue", square),
    ]
}

/// `tokenizer.json`, cut at the text tower's positions and padding with end-of-text (CLIP's pad
/// token, which the causal mask keeps from the pooled position); it must fit the vocabulary.
fn load_tokenizer(folder: &HfFolder<'_>, config: &ClipConfig, config_path: &Path) -> Result<Tokenizer> {
    let (mut tokenizer, tokenizer_path) = folder.tokenizer(config.text.max_position_embeddings)?;
    let end_of_text = tokenizer.token_to_id(END_OF_TEXT).ok_or_else(|| {
        anyhow!(
            "{}: no {END_OF_TEXT} token; not a CLIP tokenizer",
            tokenizer_path.display()
        )
    })?;
    if let Some(padding) = tokenizer.get_padding_mut() {
        (padding.pad_token, padding.pad_id) = (END_OF_TEXT.to_string(), end_of_text);
    }
    let ids = HfFolder::token_ids(&tokenizer, &tokenizer_path)?.ids;
    if ids > config.vocab_size {
        bail!(
            "{}: the tokenizer has token ids up to {} but {} says vocab_size {}",
            tokenizer_path.display(),
            ids - 1,
            config_path.display(),
            config.vocab_size
        );
    }
    Ok(tokenizer)
}

/// The towers and projections from `model.safetensors`; errors name the file and tensor.
fn load_towers(folder: &HfFolder<'_>, config: &ClipConfig) -> Result<Towers> {
    let (vb, weights): (VarBuilder<'static>, _) = folder.weights()?;
    let tensor_error = |e: candle_core::Error| anyhow!("{}: {e}", weights.display());
    let text = ClipTextTransformer::new(vb.pp("text_model"), &config.text).map_err(tensor_error)?;
    let vision = ClipVisionTransformer::new(vb.pp("vision_model"), &config.vision).map_err(tensor_error)?;
    // The vision embeddings invent a random class embedding when the file lacks one.
    if !vb.contains_tensor("vision_model.embeddings.class_embedding") {
        bail!(
            "{}: tensor vision_model.embeddings.class_embedding is missing",
            weights.display()
        );
    }
    let projection = |name: &str, from: usize| {
        candle_nn::linear_no_bias(from, config.projection_dim, vb.pp(name)).map_err(tensor_error)
    };
    Ok(Towers {
        text_projection: projection("text_projection", config.text.embed_dim)?,
        visual_projection: projection("visual_projection", config.vision.embed_dim)?,
        text,
        vision,
    })
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

#[cfg(test)]
mod tests {
    use super::preprocess::{HfPreprocessor, preprocess_from};
    use super::*;

    /// The shape of openai/clip-vit-base-patch32's files: towers under `*_config_dict` beside
    /// `null`s, the legacy `eos_token_id: 2`, sizes as plain numbers, defaults for the rest.
    #[test]
    #[allow(clippy::excessive_precision)] // OpenAI's published normalisation, digit for digit
    fn openai_style_files_are_read() {
        let config: HfConfig = serde_json::from_str(
            r#"{"model_type": "clip", "projection_dim": 512, "text_config": null, "vision_config": null,
                "text_config_dict": {"eos_token_id": 2, "hidden_act": "quick_gelu"},
                "vision_config_dict": {"patch_size": 32, "layer_norm_eps": 1e-05}}"#,
        )
        .unwrap();
        let (text, vision) = config.towers();
        assert_eq!(
            (text.eos_token_id, text.hidden_size, text.vocab_size),
            (2, 512, 49408)
        );
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
