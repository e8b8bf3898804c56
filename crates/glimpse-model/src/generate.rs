//! Caption generation: batched greedy decoding and beam search, each returning one attention
//! map per word.
//!
//! Every step reads the step's log-probabilities and attention back to the host in one async
//! readback, and all choosing (argmax, top-k, beam bookkeeping) happens there: browsers forbid
//! synchronous readback, and sort/argsort read back synchronously.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::decoder::EncodedImages;
use crate::error::{Error, Result};
use crate::lstm::LstmState;
use crate::model::CaptionModel;
use crate::vocab::Vocabulary;

/// How to decode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// 1 is greedy decoding; more keeps that many hypotheses.
    pub beam_width: usize,
    /// Most words generated, the end token included.
    pub max_len: usize,
    /// Beam search ranks finished captions by `log_prob / length^length_penalty`; 0 ranks by
    /// the plain sum, which favours short captions.
    pub length_penalty: f64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            beam_width: 1,
            max_len: 20,
            length_penalty: 0.0,
        }
    }
}

/// Largest beam accepted (beyond it search costs more than it can gain).
pub const MAX_BEAM_WIDTH: usize = 64;
/// Longest caption accepted.
pub const MAX_LENGTH: usize = 200;

impl GenerateOptions {
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_BEAM_WIDTH).contains(&self.beam_width) {
            return Err(Error::InvalidArgument(format!(
                "beam width {} must be within 1..={MAX_BEAM_WIDTH}",
                self.beam_width
            )));
        }
        if !(1..=MAX_LENGTH).contains(&self.max_len) {
            return Err(Error::InvalidArgument(format!(
                "max length {} must be within 1..={MAX_LENGTH}",
                self.max_len
            )));
        }
        if !(self.length_penalty.is_finite() && self.length_penalty >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "length penalty {} must be finite and non-negative",
                self.length_penalty
            )));
        }
        Ok(())
    }
}

/// A generated caption with, for every word, where the model looked.
#[derive(Debug, Clone, PartialEq)]
pub struct Caption {
    /// The words, without the end token.
    pub tokens: Vec<String>,
    /// Their ids.
    pub token_ids: Vec<u32>,
    /// One map per word over the `grid` cells (row-major), each summing to 1.
    pub attention: Vec<Vec<f32>>,
    /// `[rows, columns]` of the attention maps.
    pub grid: [usize; 2],
    /// Sum of the log-probabilities of every generated token, the end token included.
    pub log_prob: f64,
    /// Whether the end token was generated (else `max_len` stopped it).
    pub finished: bool,
}

impl Caption {
    /// The words joined by spaces.
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// Decodes every image of the batch greedily (the notebook's `generate_caption`).
pub async fn greedy(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    max_len: usize,
) -> Result<Vec<Caption>> {
    let batch = encoded.batch_size();
    let device = encoded.features.device();
    let decoder = &model.decoder;
    let mut state = decoder.init_state(encoded);
    let mut words = vec![vocab.start; batch];
    let mut captions = vec![empty_caption(grid); batch];
    let mut done = vec![false; batch];
    for _ in 0..max_len {
        let out = decoder.step(encoded, index_tensor(&words, &device), state);
        let rows = read_step(out.logits, out.alpha).await?;
        for (i, caption) in captions.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            let (word, log_prob) = argmax(rows.log_probs(i));
            caption.log_prob += log_prob as f64;
            words[i] = word;
            if word == vocab.end {
                caption.finished = true;
                done[i] = true;
            } else {
                push_word(caption, vocab, word, rows.alpha(i));
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        state = out.state;
    }
    Ok(captions)
}

/// Beam search for a single image (`encoded` holds one row).
///
/// sgrvinod's scheme: `k` hypotheses start from the start token; each step every live
/// hypothesis is extended by every word and the best `k - finished` extensions survive (ties go
/// to the lower hypothesis index, then the lower word id); an extension ending in the end token
/// is finished and leaves the beam. Search stops when `k` captions are finished, none is live,
/// or `max_len` words were generated; the live ones then compete with the finished ones. The
/// best by `log_prob / length^length_penalty` wins.
pub async fn beam_search(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    options: GenerateOptions,
) -> Result<Caption> {
    options.validate()?;
    if encoded.batch_size() != 1 {
        return Err(Error::InvalidArgument(format!(
            "beam search takes one image at a time, got {}",
            encoded.batch_size()
        )));
    }
    let k = options.beam_width;
    let device = encoded.features.device();
    let decoder = &model.decoder;
    let mut state = decoder.init_state(encoded);
    let mut live = vec![Hypothesis {
        caption: empty_caption(grid),
        last: vocab.start,
    }];
    let mut finished: Vec<Caption> = Vec::new();
    for _ in 0..options.max_len {
        let slots = k - finished.len();
        let rows = encoded.select(index_tensor(&vec![0; live.len()], &device));
        let last: Vec<u32> = live.iter().map(|h| h.last).collect();
        let out = decoder.step(&rows, index_tensor(&last, &device), state);
        let step = read_step(out.logits, out.alpha).await?;

        let mut candidates: Vec<(f64, usize, u32)> = Vec::with_capacity(live.len() * step.vocab);
        for (b, hypothesis) in live.iter().enumerate() {
            for (w, &lp) in step.log_probs(b).iter().enumerate() {
                candidates.push((hypothesis.caption.log_prob + lp as f64, b, w as u32));
            }
        }
        let best = top_candidates(candidates, slots);

        let mut next = Vec::with_capacity(best.len());
        let mut keep = Vec::with_capacity(best.len());
        for (score, b, word) in best {
            let mut caption = live[b].caption.clone();
            caption.log_prob = score;
            if word == vocab.end {
                caption.finished = true;
                finished.push(caption);
            } else {
                push_word(&mut caption, vocab, word, step.alpha(b));
                next.push(Hypothesis { caption, last: word });
                keep.push(b as u32);
            }
        }
        if next.is_empty() || finished.len() == k {
            live = next;
            break;
        }
        let keep = index_tensor(&keep, &device);
        state = LstmState {
            h: out.state.h.select(0, keep.clone()),
            c: out.state.c.select(0, keep),
        };
        live = next;
    }
    finished.extend(live.into_iter().map(|h| h.caption));
    let rank = |c: &Caption| {
        let length = (c.token_ids.len() + c.finished as usize).max(1) as f64;
        c.log_prob / length.powf(options.length_penalty)
    };
    // Earliest wins a tie, so finished captions (listed first) beat unfinished ones.
    let mut best = 0;
    for (i, caption) in finished.iter().enumerate() {
        if rank(caption) > rank(&finished[best]) {
            best = i;
        }
    }
    Ok(finished.swap_remove(best))
}

struct Hypothesis {
    caption: Caption,
    last: u32,
}

/// The `n` best (score, hypothesis, word) triples, best first; ties go to the lower hypothesis
/// index, then the lower word id.
fn top_candidates(mut candidates: Vec<(f64, usize, u32)>, n: usize) -> Vec<(f64, usize, u32)> {
    let order = |a: &(f64, usize, u32), b: &(f64, usize, u32)| {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
    };
    let n = n.min(candidates.len());
    if n == 0 {
        return Vec::new();
    }
    if n < candidates.len() {
        candidates.select_nth_unstable_by(n - 1, order);
        candidates.truncate(n);
    }
    candidates.sort_by(order);
    candidates
}

fn empty_caption(grid: [usize; 2]) -> Caption {
    Caption {
        tokens: Vec::new(),
        token_ids: Vec::new(),
        attention: Vec::new(),
        grid,
        log_prob: 0.0,
        finished: false,
    }
}

fn push_word(caption: &mut Caption, vocab: &Vocabulary, word: u32, alpha: &[f32]) {
    caption.token_ids.push(word);
    caption.tokens.push(vocab.word(word).unwrap_or("<?>").to_string());
    caption.attention.push(alpha.to_vec());
}

/// First index of the largest value (as `torch.argmax`), with that value.
fn argmax(values: &[f32]) -> (u32, f32) {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    (best as u32, values[best])
}

fn index_tensor(indices: &[u32], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(data, [indices.len()]), device)
}

/// One step's output on the host: per row, `vocab` log-probabilities then `positions` weights.
struct StepRows {
    data: Vec<f32>,
    vocab: usize,
    positions: usize,
}

impl StepRows {
    fn log_probs(&self, row: usize) -> &[f32] {
        let start = row * (self.vocab + self.positions);
        &self.data[start..start + self.vocab]
    }

    fn alpha(&self, row: usize) -> &[f32] {
        let start = row * (self.vocab + self.positions) + self.vocab;
        &self.data[start..start + self.positions]
    }
}

/// Log-softmax of `logits` `[B, V]` and `alpha` `[B, P]`, read back in one transfer.
async fn read_step(logits: Tensor<2>, alpha: Tensor<2>) -> Result<StepRows> {
    let [_, vocab] = logits.dims();
    let [_, positions] = alpha.dims();
    let rows = Tensor::cat(vec![log_softmax(logits, 1), alpha], 1);
    let data = read_f32(rows).await?;
    Ok(StepRows {
        data,
        vocab,
        positions,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_candidates_orders_by_score_then_index() {
        let cands = vec![
            (-1.0, 0, 5),
            (-0.5, 1, 2),
            (-1.0, 0, 3),
            (-2.0, 0, 0),
            (-0.5, 0, 9),
        ];
        let top = top_candidates(cands, 3);
        assert_eq!(top, vec![(-0.5, 0, 9), (-0.5, 1, 2), (-1.0, 0, 3)]);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), (1, 0.7));
    }

    #[test]
    fn options_are_checked() {
        let mut options = GenerateOptions::default();
        options.validate().unwrap();
        options.beam_width = 0;
        assert!(
            options
                .validate()
                .unwrap_err()
                .to_string()
                .contains("beam width 0")
        );
        options.beam_width = 3;
        options.max_len = 0;
        assert!(
            options
                .validate()
                .unwrap_err()
                .to_string()
                .contains("max length 0")
        );
        options.max_len = 5;
        options.length_penalty = f64::NAN;
        assert!(
            options
                .validate()
                .unwrap_err()
                .to_string()
                .contains("length penalty")
        );
    }
}
