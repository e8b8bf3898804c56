//! Batched greedy decoding: the most probable word at every step, for a whole batch at once.
//!
//! The word is chosen on the device (argmax of the log-probabilities: the first maximum, as
//! `torch.argmax` takes it) and fed straight into the next step, so the host only reads what
//! it keeps: per row the chosen word, its log-probability, the attention map, and the row's
//! sum to check that every value is finite. It reads them every `steps_per_readback` steps, in
//! one transfer: on a GPU each readback is a round trip that waits for the queue to drain,
//! which costs more than a decoder step; on the CPU it costs nothing, and 1 wastes no steps.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use super::Caption;
use super::rows::{empty_caption, index_tensor, push_word, read_f32};
use crate::decoder::EncodedImages;
use crate::error::{Error, Result};
use crate::lstm::LstmState;
use crate::model::CaptionModel;
use crate::vocab::Vocabulary;

/// Decoding steps between two readbacks on a GPU: a caption of the usual 8–12 words (9–13
/// steps with its end word) then needs 3–4 round trips instead of 9–13, and at most 3 steps
/// are computed past its end word.
pub const GPU_STEPS_PER_READBACK: usize = 4;

/// Decodes every image of the batch greedily (the notebook's `generate_caption`), reading
/// the chosen words back every `steps_per_readback` steps (0 is read as 1). The captions are
/// the same for every cadence: steps computed past an image's end word are discarded.
pub async fn greedy(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    max_len: usize,
    steps_per_readback: usize,
) -> Result<Vec<Caption>> {
    let batch = encoded.batch_size();
    let mut run = DeviceSteps {
        words: index_tensor(&vec![vocab.start; batch], &encoded.features.device()), // [B]
        state: model.decoder.init_state(encoded),
    };
    let mut captions = vec![empty_caption(grid); batch];
    let mut done = vec![false; batch];
    let mut step = 0;
    while step < max_len && !done.iter().all(|&d| d) {
        let steps = steps_per_readback.clamp(1, max_len - step);
        let kept; // [steps, B, 3 + P]
        (run, kept) = run.advance(model, encoded, steps);
        let rows = read_f32(kept).await?;
        let width = rows.len() / (steps * batch).max(1);
        for (offset, step_rows) in rows.chunks(width * batch).enumerate() {
            for (i, row) in step_rows.chunks(width).enumerate() {
                if !done[i] {
                    done[i] = take_word(&mut captions[i], row, vocab, step + offset + 1)?;
                }
            }
        }
        step += steps;
    }
    Ok(captions)
}

/// Where the decoder stands on the device: the words just chosen and the LSTM state.
struct DeviceSteps {
    words: Tensor<1, Int>, // [B]
    state: LstmState,      // h, c [B, D]
}

impl DeviceSteps {
    /// Runs `steps` steps without reading anything back; returns what the host keeps of them,
    /// `[steps, B, 3 + P]`: per row the chosen word's log-probability, its id (exact in f32:
    /// vocabularies are far below 2^24 words), the sum of all log-probabilities (to check them
    /// all: it is NaN or -inf if any is) and the attention map.
    fn advance(mut self, model: &CaptionModel, encoded: &EncodedImages, steps: usize) -> (Self, Tensor<3>) {
        let mut kept = Vec::with_capacity(steps);
        for _ in 0..steps {
            let out = model.decoder.step(encoded, self.words, self.state);
            let log_probs = log_softmax(out.logits, 1); // [B, V]
            let best = log_probs.clone().argmax(1); // [B, 1]
            let best_log_prob = log_probs.clone().gather(1, best.clone()); // [B, 1]
            let all = log_probs.sum_dim(1); // [B, 1]
            kept.push(Tensor::cat(
                vec![best_log_prob, best.clone().float(), all, out.alpha],
                1,
            )); // [B, 3 + P]
            let [batch, _] = best.dims();
            self = DeviceSteps {
                words: best.reshape([batch]),
                state: out.state,
            };
        }
        (self, Tensor::stack(kept, 0))
    }
}

/// Adds one step's row (`[log-probability, word id, sum of log-probabilities, attention…]`)
/// to `caption`; returns whether the caption has ended. A non-finite value is refused, naming
/// what it was, as the searches that read whole rows do: NaN would otherwise be "chosen" as
/// word 0 (`<PAD>`) and printed.
fn take_word(caption: &mut Caption, row: &[f32], vocab: &Vocabulary, step: usize) -> Result<bool> {
    let (log_prob, word, all, alpha) = (row[0], row[1], row[2], &row[3..]);
    let non_finite = |what, value| Error::NonFiniteOutput { what, step, value };
    if let Some(bad) = [log_prob, all].into_iter().find(|v| !v.is_finite()) {
        return Err(non_finite("word log-probabilities", bad));
    }
    if let Some(&bad) = alpha.iter().find(|v| !v.is_finite()) {
        return Err(non_finite("attention weights", bad));
    }
    let word = word as u32;
    caption.log_prob += log_prob as f64;
    if word == vocab.end {
        caption.finished = true;
        return Ok(true);
    }
    push_word(caption, vocab, word, alpha);
    Ok(false)
}
