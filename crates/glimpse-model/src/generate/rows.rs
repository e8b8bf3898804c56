//! One decoding step's output on the host, and the small host-side choices made from it
//! (the top words of a row, a word's rank): everything the searches read back goes through here.

use std::cmp::Ordering;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, IntDType, Tensor, TensorData};

use super::{Alternative, Caption};
use crate::error::{Error, Result};
use crate::vocab::Vocabulary;

/// One step's output on the host: per row, `vocab` log-probabilities then `positions` weights.
pub(crate) struct StepRows {
    data: Vec<f32>,
    pub(crate) vocab: usize,
    positions: usize,
}

impl StepRows {
    /// Names the first non-finite value: a word log-probability or an attention weight.
    fn check_finite(&self, step: usize) -> Result<()> {
        let width = self.vocab + self.positions;
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(at) => Err(Error::NonFiniteOutput {
                what: if at % width.max(1) < self.vocab {
                    "word log-probabilities"
                } else {
                    "attention weights"
                },
                step,
                value: self.data[at],
            }),
        }
    }

    pub(crate) fn log_probs(&self, row: usize) -> &[f32] {
        let start = row * (self.vocab + self.positions);
        &self.data[start..start + self.vocab]
    }

    pub(crate) fn alpha(&self, row: usize) -> &[f32] {
        let start = row * (self.vocab + self.positions) + self.vocab;
        &self.data[start..start + self.positions]
    }
}

/// Log-softmax of `logits` `[B, V]` and `alpha` `[B, P]`, read back in one transfer, and
/// refused if any value is not finite: NaN would otherwise be "chosen" as word 0 (`<PAD>`)
/// and printed as a caption. A NaN or infinite encoder output reaches the first step's
/// values, so this also catches a broken encoder without reading its output back.
pub(crate) async fn read_step(logits: Tensor<2>, alpha: Tensor<2>, step: usize) -> Result<StepRows> {
    let [_, vocab] = logits.dims();
    let [_, positions] = alpha.dims();
    let rows = Tensor::cat(vec![log_softmax(logits, 1), alpha], 1); // [B, V + P]
    let rows = StepRows {
        data: read_f32(rows).await?,
        vocab,
        positions,
    };
    rows.check_finite(step)?;
    Ok(rows)
}

/// Reads a tensor back to the host as f32 values.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("reading a tensor back: {e:?}")))?
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::Backend(format!("reading a tensor back: {e:?}")))
}

pub(crate) fn empty_caption(grid: [usize; 2]) -> Caption {
    Caption {
        tokens: Vec::new(),
        token_ids: Vec::new(),
        attention: Vec::new(),
        alternatives: Vec::new(),
        grid,
        log_prob: 0.0,
        finished: false,
    }
}

pub(crate) fn push_word(caption: &mut Caption, vocab: &Vocabulary, word: u32, alpha: &[f32]) {
    caption.token_ids.push(word);
    caption.tokens.push(vocab.word(word).unwrap_or("<?>").to_string());
    caption.attention.push(alpha.to_vec());
}

/// The first `n` of `items` in `order`, sorted: a partial selection, then a sort of only those.
pub(crate) fn first_n_by<T>(
    mut items: Vec<T>,
    n: usize,
    mut order: impl FnMut(&T, &T) -> Ordering,
) -> Vec<T> {
    let n = n.min(items.len());
    if n == 0 {
        return Vec::new();
    }
    if n < items.len() {
        items.select_nth_unstable_by(n - 1, &mut order);
        items.truncate(n);
    }
    items.sort_by(order);
    items
}

/// The `k` most probable words of one row of log-probabilities, most probable first; ties go
/// to the lower id (as `torch.topk` on these fixtures, and stable for the page).
pub(crate) fn top_words(log_probs: &[f32], k: usize, vocab: &Vocabulary) -> Vec<Alternative> {
    let order = |a: &usize, b: &usize| log_probs[*b].total_cmp(&log_probs[*a]).then(a.cmp(b));
    first_n_by((0..log_probs.len()).collect(), k, order)
        .into_iter()
        .map(|id| Alternative::new(vocab, id as u32, log_probs[id]))
        .collect()
}

/// 1 for the most probable word; ties share the better rank.
pub(crate) fn rank_of(log_probs: &[f32], word: u32) -> usize {
    let target = log_probs[word as usize];
    1 + log_probs.iter().filter(|&&v| v > target).count()
}

/// Indices or word ids `[N]` as an integer tensor.
pub(crate) fn index_tensor(indices: &[u32], device: &Device) -> Tensor<1, Int> {
    int_tensor(indices, [indices.len()], device)
}

/// `values` (word ids, indices) as an integer tensor of `shape`, built in the device's own
/// integer type. Built in another, each was converted by burn's cast between every pair of
/// types: in WebAssembly its largest function (77 KB), which decoding called at every step, so
/// V8 spent half a second optimising it during the user's first photos.
pub(crate) fn int_tensor<const D: usize>(
    values: &[u32],
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Int> {
    let data = match device.settings().int_dtype {
        // Word ids and indices are far below 2^31 (vocabularies and batches are capped).
        IntDType::I32 => TensorData::new(values.iter().map(|&v| v as i32).collect::<Vec<_>>(), shape),
        IntDType::U32 => TensorData::new(values.to_vec(), shape),
        _ => TensorData::new(values.iter().map(|&v| i64::from(v)).collect::<Vec<_>>(), shape),
    };
    Tensor::from_data(data, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        let words = ["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a", "dog"];
        Vocabulary::from_words(words.iter().map(|w| w.to_string()).collect()).unwrap()
    }

    #[test]
    fn top_words_are_ordered_by_probability_then_id() {
        let log_probs = [-3.0, -9.0, -1.0, -0.5, -1.0, -2.0];
        let top = top_words(&log_probs, 3, &vocab());
        let ids: Vec<u32> = top.iter().map(|a| a.id).collect();
        assert_eq!(ids, [3, 2, 4]);
        assert_eq!(top[0].word, "<UNK>");
        assert!((top[0].prob - (-0.5f32).exp()).abs() < 1e-7);
        assert_eq!(top_words(&log_probs, 0, &vocab()), Vec::new());
        assert_eq!(top_words(&log_probs, 50, &vocab()).len(), 6);
    }

    #[test]
    fn rank_counts_the_more_probable_words() {
        let log_probs = [-3.0, -9.0, -1.0, -0.5, -1.0, -2.0];
        assert_eq!(rank_of(&log_probs, 3), 1);
        assert_eq!(rank_of(&log_probs, 2), 2);
        assert_eq!(rank_of(&log_probs, 4), 2);
        assert_eq!(rank_of(&log_probs, 1), 6);
    }
}
