//! Scoring a given caption: how probable the model finds each word and where it would look for
//! it, computed by teacher forcing (training's forward pass).

use super::explore::{check_alternatives, check_caption_ids};
use super::rows::{int_tensor, rank_of, read_step, top_words};
use super::{Alternative, attention_entropy};
use crate::decoder::EncodedImages;
use crate::error::{Error, Result};
use crate::model::CaptionModel;
use crate::vocab::Vocabulary;

/// One word of a scored caption.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScoredWord {
    /// The vocabulary's word (`<UNK>` for a word it lacks).
    pub word: String,
    pub id: u32,
    /// Natural log of the word's probability given the image and the words before it.
    pub log_prob: f32,
    pub prob: f32,
    /// 1 when no word was more probable here.
    pub rank: usize,
    /// Where the model looked when predicting this word: `grid` cells, row-major, summing to 1.
    pub attention: Vec<f32>,
    /// Entropy of `attention` in nats (0 = one cell, ln(cells) = spread evenly).
    pub entropy: f32,
    /// The most probable words at this position, if asked for.
    pub alternatives: Vec<Alternative>,
}

/// A caption as the model scores it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScoredCaption {
    pub words: Vec<ScoredWord>,
    /// The end token after the last word: how ready the model is to stop there.
    pub end: ScoredWord,
    /// Sum of every word's log-probability, the end token's included (comparable with
    /// [`super::Caption::log_prob`] of a finished caption).
    pub log_prob: f64,
    /// `[rows, columns]` of the attention maps.
    pub grid: [usize; 2],
    /// Words the vocabulary lacks, read as `<UNK>` (filled in by [`crate::Captioner`]).
    pub notes: Vec<String>,
}

/// Scores the caption `words` (vocabulary ids, without start and end tokens) for the one image
/// of `encoded`: `<start> words… <end>` goes through the decoder by teacher forcing, and each
/// position's log-probabilities and attention are read back in one transfer.
pub async fn score(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    words: &[u32],
    alternatives: usize,
) -> Result<ScoredCaption> {
    check_caption_ids(vocab, words)?;
    check_alternatives(alternatives)?;
    if encoded.batch_size() != 1 {
        return Err(Error::InvalidArgument(format!(
            "scoring takes one image at a time, got {}",
            encoded.batch_size()
        )));
    }
    let ids: Vec<u32> = std::iter::once(vocab.start)
        .chain(words.iter().copied())
        .chain(std::iter::once(vocab.end))
        .collect();
    let steps = ids.len() - 1;
    let device = encoded.features.device();
    let caption = int_tensor(&ids, [1, ids.len()], &device); // [1, T]
    // logits [1, T-1, V], alphas [1, T-1, P]
    let (logits, alphas) = model.decoder.forward(encoded, caption);
    let [_, _, vocab_size] = logits.dims();
    let [_, _, positions] = alphas.dims();
    let rows = read_step(
        logits.reshape([steps, vocab_size]), // [T-1, V]
        alphas.reshape([steps, positions]),  // [T-1, P]
        0,
    )
    .await?;
    let mut scored: Vec<ScoredWord> = (0..steps)
        .map(|t| {
            let id = ids[t + 1];
            let log_probs = rows.log_probs(t);
            let attention = rows.alpha(t).to_vec();
            ScoredWord {
                word: vocab.word(id).unwrap_or("<?>").to_string(),
                id,
                log_prob: log_probs[id as usize],
                prob: log_probs[id as usize].exp(),
                rank: rank_of(log_probs, id),
                entropy: attention_entropy(&attention),
                attention,
                alternatives: top_words(log_probs, alternatives, vocab),
            }
        })
        .collect();
    let log_prob = scored.iter().map(|w| w.log_prob as f64).sum();
    let end = scored.pop().expect("the end token is always scored");
    Ok(ScoredCaption {
        words: scored,
        end,
        log_prob,
        grid,
        notes: Vec::new(),
    })
}
