//! The original report's text encoder: sentence-transformers' all-MiniLM-L6-v2 run by
//! candle-transformers' BERT with Hugging Face's `tokenizers`: token embeddings mean-pooled
//! under the attention mask and L2-normalised, exactly as sentence-transformers does (inputs
//! truncated at its 256 tokens).

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::embed::hf_folder::{HfFolder, TokenIds};
use crate::similarity::{TextEncoder, check_encoder};

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
const MAX_TOKENS: usize = 256;
const BATCH: usize = 64;

/// all-MiniLM-L6-v2 (or any sentence-transformers BERT with mean pooling).
pub struct TextEmbedder {
    name: String,
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl TextEmbedder {
    /// Loads a sentence-transformers folder: `config.json`, `tokenizer.json`, `model.safetensors`.
    pub fn load(dir: &Path) -> Result<TextEmbedder> {
        let folder = HfFolder {
            dir,
            expects: "the text encoder folder must hold a sentence-transformers model (config.json, tokenizer.json, model.safetensors)",
        };
        let (config, config_path): (Config, _) = folder.json("config.json", "a BERT config")?;
        check_config(&config, &config_path)?;
        let (tokenizer, tokenizer_path) = folder.tokenizer(MAX_TOKENS)?;
        let ids = HfFolder::token_ids(&tokenizer, &tokenizer_path)?;
        check_tables(&config, &config_path, ids, &tokenizer_path)?;
        let (vb, weights) = folder.weights()?;
        let model = BertModel::load(vb, &config).map_err(|e| anyhow!("{}: {e}", weights.display()))?;
        let embedder = TextEmbedder {
            name: folder.name(),
            model,
            tokenizer,
            device: Device::Cpu,
        };
        check_encoder(&embedder)?;
        Ok(embedder)
    }

    fn embed_batch(&self, chunk: &[String]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(chunk.to_vec(), true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        let rows = encodings.len();
        let length = encodings.first().map_or(0, |e| e.get_ids().len());
        let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings.iter().flat_map(|e| f(e).to_vec()).collect()
        };
        let ids = Tensor::from_vec(flat(&|e| e.get_ids()), (rows, length), &self.device)?;
        let types = Tensor::from_vec(flat(&|e| e.get_type_ids()), (rows, length), &self.device)?;
        let mask = Tensor::from_vec(flat(&|e| e.get_attention_mask()), (rows, length), &self.device)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?; // [rows, length, H]
        // Mean over the real tokens.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // [rows, length, 1]
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // [rows, H]
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?; // [rows, 1]
        let pooled = summed.broadcast_div(&counts)?; // [rows, H]
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?; // [rows, 1]
        let normalised = pooled.broadcast_div(&norms)?; // [rows, H]
        Ok(normalised.to_vec2::<f32>()?)
    }
}

/// What candle's BERT divides by or normalises with: a head count that divides the width and a
/// positive, finite LayerNorm epsilon (0 or a negative one makes every embedding NaN).
fn check_config(config: &Config, path: &Path) -> Result<()> {
    let (hidden, heads) = (config.hidden_size, config.num_attention_heads);
    if hidden == 0 || heads == 0 || hidden % heads != 0 {
        bail!(
            "{}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}",
            path.display()
        );
    }
    let eps = config.layer_norm_eps;
    if !(eps > 0.0 && eps <= 0.1) {
        bail!(
            "{}: layer_norm_eps {eps} is not a small positive number (BERT's is 1e-12)",
            path.display()
        );
    }
    Ok(())
}

/// Every id, position and token type the tokenizer can produce must be a row of the model's
/// tables: smaller ones failed inside candle with "index-select invalid index", naming no file.
fn check_tables(config: &Config, path: &Path, ids: TokenIds, tokenizer: &Path) -> Result<()> {
    if ids.ids > config.vocab_size {
        bail!(
            "{}: vocab_size {} is below the {} token ids of {}",
            path.display(),
            config.vocab_size,
            ids.ids,
            tokenizer.display()
        );
    }
    if config.max_position_embeddings < MAX_TOKENS {
        bail!(
            "{}: max_position_embeddings {} is below the {MAX_TOKENS} tokens a text is cut to",
            path.display(),
            config.max_position_embeddings
        );
    }
    if ids.types > config.type_vocab_size {
        bail!(
            "{}: type_vocab_size {} is below the {} token types of {}",
            path.display(),
            config.type_vocab_size,
            ids.types,
            tokenizer.display()
        );
    }
    Ok(())
}

impl TextEncoder for TextEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        in_length_batches(texts, BATCH, |chunk| self.embed_batch(chunk))
    }
}

/// Runs `embed` over batches of texts of similar length, longest first (as
/// sentence-transformers does, so that batches carry little padding), and returns the results
/// in the texts' order. Padding does not change any text's result.
pub fn in_length_batches(
    texts: &[String],
    batch: usize,
    mut embed: impl FnMut(&[String]) -> Result<Vec<Vec<f32>>>,
) -> Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].chars().count()));
    let mut out = vec![Vec::new(); texts.len()];
    for indices in order.chunks(batch.max(1)) {
        let chunk: Vec<String> = indices.iter().map(|&i| texts[i].clone()).collect();
        for (&i, vector) in indices.iter().zip(embed(&chunk)?) {
            out[i] = vector;
        }
    }
    Ok(out)
}
