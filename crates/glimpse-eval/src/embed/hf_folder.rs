//! Reading the Hugging Face model folders that the evaluation's text and image encoders come
//! in (`config.json`, `tokenizer.json`, `model.safetensors`), with errors that name the file.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use glimpse_files::{caps, read_regular, read_regular_to_string};
use serde::de::DeserializeOwned;
use tokenizers::{PaddingParams, PaddingStrategy, PostProcessor, Tokenizer, TruncationParams};

use super::tokenizer_file;
use crate::similarity::PROBE_TEXTS;

/// One past the largest token id and token type id a tokenizer gives ([`HfFolder::token_ids`]).
#[derive(Debug, Clone, Copy)]
pub struct TokenIds {
    pub ids: usize,
    pub types: usize,
}

/// A model folder and what it must hold, for error messages.
pub struct HfFolder<'a> {
    pub dir: &'a Path,
    /// e.g. "a CLIP folder must hold Hugging Face's config.json, model.safetensors and tokenizer.json".
    pub expects: &'a str,
}

impl HfFolder<'_> {
    /// The path of `name` in the folder, which must exist (one that is not a regular file is
    /// left to the reader to name: a FIFO there was reported as missing).
    pub fn file(&self, name: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        if path.exists() {
            Ok(path)
        } else {
            Err(anyhow!("{}: no {name}; {}", self.dir.display(), self.expects))
        }
    }

    /// `name` parsed as JSON; `what` says what it should be ("a CLIP config").
    pub fn json<T: DeserializeOwned>(&self, name: &str, what: &str) -> Result<(T, PathBuf)> {
        let path = self.file(name)?;
        let text = read_regular_to_string(&path, caps::CONFIG, "model config")?;
        let value =
            serde_json::from_str(&text).map_err(|e| anyhow!("{}: not {what}: {e}", path.display()))?;
        Ok((value, path))
    }

    /// `tokenizer.json`, set to cut texts at `max_length` tokens (keeping the special tokens,
    /// as transformers' `truncation=True` does) and to pad batches to their longest text (with
    /// tokenizers' default pad, [PAD] = 0, which `get_padding_mut` can change).
    pub fn tokenizer(&self, max_length: usize) -> Result<(Tokenizer, PathBuf)> {
        let path = self.file("tokenizer.json")?;
        let bytes = read_regular(&path, caps::CONFIG, "tokenizer")?;
        let file: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow!("{}: not a tokenizers file: {e}", path.display()))?;
        tokenizer_file::check(&file).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let mut tokenizer = Tokenizer::from_bytes(bytes)
            .map_err(|e| anyhow!("{}: not a tokenizers file: {e}", path.display()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tells_texts_apart(&tokenizer, max_length).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok((tokenizer, path))
    }

    /// One past the largest token id and token type id the tokenizer gives a text: its
    /// vocabulary's (added tokens among them) and its post-processor's special tokens and types,
    /// which the model's tables must hold (a larger id failed inside candle, naming no file).
    pub fn token_ids(tokenizer: &Tokenizer, path: &Path) -> Result<TokenIds> {
        let probe = tokenizer
            .encode("a", true)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let largest = |ids: &[u32]| ids.iter().max().map_or(0, |&id| id as usize + 1);
        let vocabulary = tokenizer.get_vocab(true).into_values().max();
        Ok(TokenIds {
            ids: largest(probe.get_ids()).max(vocabulary.map_or(0, |id| id as usize + 1)),
            types: largest(probe.get_type_ids()),
        })
    }

    /// `model.safetensors`, read (not mapped: a file changed while mapped would change memory
    /// under us), as f32 on the CPU.
    pub fn weights(&self) -> Result<(VarBuilder<'static>, PathBuf)> {
        let path = self.file("model.safetensors")?;
        let bytes = read_regular(&path, caps::MODEL, "model weights")?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok((vb, path))
    }

    /// The folder's name, for reports.
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// Most special tokens a post-processor may add to a text (BERT's and CLIP's add 2).
const MAX_SPECIAL_TOKENS: usize = 8;

/// Refuses a tokenizer that gives different texts the same tokens, which scored every caption
/// alike (hostile round 12): a post-processor whose special tokens fill all `max_length`
/// positions or all but one (past them, tokenizers' room for the text wrapped around and
/// candle failed, naming no file), or parts that remove or replace every letter but a few.
fn tells_texts_apart(tokenizer: &Tokenizer, max_length: usize) -> Result<()> {
    let special = tokenizer
        .get_post_processor()
        .map_or(0, |processor| processor.added_tokens(false));
    if special > MAX_SPECIAL_TOKENS.min(max_length / 2) {
        return Err(anyhow!(
            "the post-processor adds {special} special tokens to a text of at most {max_length}; Glimpse takes at most {MAX_SPECIAL_TOKENS}, leaving room for the text"
        ));
    }
    let mut seen: Vec<(&str, Vec<u32>)> = Vec::new();
    for text in PROBE_TEXTS {
        let ids = tokenizer
            .encode(text, true)
            .map_err(|e| anyhow!("{e}"))?
            .get_ids()
            .to_vec();
        if let Some((same, _)) = seen.iter().find(|(_, other)| *other == ids) {
            return Err(anyhow!(
                "it gives \"{same}\" and \"{text}\" the same tokens, so different texts would score alike"
            ));
        }
        seen.push((text, ids));
    }
    Ok(())
}
