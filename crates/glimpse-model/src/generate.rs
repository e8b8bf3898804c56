//! Caption generation: one [`Decoding`] value picks batched greedy decoding or beam search
//! ([`decode`] dispatches), each returning one attention map per word.
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

/// Which search picks the words; one value decides for every caller (CLI, browser, training's
/// validation), as candle-transformers' `Sampling` does.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Decoding {
    /// The most probable word at each step; a whole batch decodes at once.
    #[default]
    Greedy,
    /// Keeps `width` hypotheses, one image at a time, and ranks finished captions by
    /// `log_prob / length^length_penalty` (0 ranks by the plain sum, which favours short
    /// captions).
    Beam { width: usize, length_penalty: f64 },
}

/// Largest beam accepted (beyond it search costs more than it can gain).
pub const MAX_BEAM_WIDTH: usize = 64;
/// Longest caption accepted.
pub const MAX_LENGTH: usize = 200;

impl Decoding {
    /// The decoding the command-line and JavaScript numbers ask for: a width of 1 is greedy.
    /// Both numbers are checked even then, so a bad length penalty is never silently ignored.
    pub fn from_beam(width: usize, length_penalty: f64) -> Result<Self> {
        check_beam_width(width)?;
        check_length_penalty(length_penalty)?;
        Ok(if width == 1 {
            Decoding::Greedy
        } else {
            Decoding::Beam {
                width,
                length_penalty,
            }
        })
    }

    /// Checks the width and the length penalty against their limits.
    pub fn validate(&self) -> Result<()> {
        check_beam_width(self.beam_width())?;
        check_length_penalty(self.length_penalty())
    }

    /// Hypotheses kept per image: 1 when greedy.
    pub fn beam_width(&self) -> usize {
        match *self {
            Decoding::Greedy => 1,
            Decoding::Beam { width, .. } => width,
        }
    }

    /// The ranking exponent: 0 when greedy (a single hypothesis needs no ranking).
    pub fn length_penalty(&self) -> f64 {
        match *self {
            Decoding::Greedy => 0.0,
            Decoding::Beam { length_penalty, .. } => length_penalty,
        }
    }

    /// Whether images decode together in one batch (greedy) or one at a time (beam).
    pub fn batches_images(&self) -> bool {
        matches!(self, Decoding::Greedy)
    }

    /// Images to decode per call when `requested` are asked for: at least 1 for greedy, always
    /// 1 for beam search.
    pub fn batch_size(&self, requested: usize) -> usize {
        if self.batches_images() {
            requested.max(1)
        } else {
            1
        }
    }
}

/// How to decode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    pub decoding: Decoding,
    /// Most words generated, the end token included.
    pub max_len: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            decoding: Decoding::Greedy,
            max_len: 20,
        }
    }
}

impl GenerateOptions {
    /// Checks the beam width, the length and the length penalty, in that order.
    pub fn validate(&self) -> Result<()> {
        check_beam_width(self.decoding.beam_width())?;
        if !(1..=MAX_LENGTH).contains(&self.max_len) {
            return Err(Error::InvalidArgument(format!(
                "max length {} must be within 1..={MAX_LENGTH}",
                self.max_len
            )));
        }
        check_length_penalty(self.decoding.length_penalty())
    }
}

fn check_beam_width(width: usize) -> Result<()> {
    if !(1..=MAX_BEAM_WIDTH).contains(&width) {
        return Err(Error::InvalidArgument(format!(
            "beam width {width} must be within 1..={MAX_BEAM_WIDTH}"
        )));
    }
    Ok(())
}

fn check_length_penalty(length_penalty: f64) -> Result<()> {
    if !(length_penalty.is_finite() && length_penalty >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "length penalty {length_penalty} must be finite and non-negative"
        )));
    }
    Ok(())
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

/// Why a caption holding the padding or the start token should not be trusted, naming the
/// first such word; `None` for a caption of words (`<UNK>` is a word). Decoding returns such
/// captions as computed, as the PyTorch references it is compared with do (an untrained
/// decoder often starts with `<SOS>`), and the tools show this beside them; NaN, which used to
/// caption `<PAD> <PAD> …`, is refused at every step instead.
pub fn special_token_warning(caption: &Caption, vocab: &Vocabulary) -> Option<String> {
    let special = |id: &u32| *id == vocab.start || Some(*id) == vocab.pad;
    let position = caption.token_ids.iter().position(special)?;
    let token = vocab.word(caption.token_ids[position]).unwrap_or("<?>");
    Some(format!(
        "the model generated {token} as word {}, which a trained model never does: its weights \
         are untrained or damaged",
        position + 1
    ))
}

/// Captions every image of `encoded` as `options.decoding` says: greedy decodes the batch at
/// once, beam search each image in turn. The one place that chooses between the two.
pub async fn decode(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    options: GenerateOptions,
) -> Result<Vec<Caption>> {
    options.validate()?;
    if options.decoding.batches_images() {
        return greedy(model, encoded, vocab, grid, options.max_len).await;
    }
    let device = encoded.features.device();
    let batch = encoded.batch_size();
    let mut captions = Vec::with_capacity(batch);
    for image in 0..batch {
        let one = encoded.select(index_tensor(&[image as u32], &device)); // features [1, P, E]
        captions.push(beam_search(model, &one, vocab, grid, options).await?);
    }
    Ok(captions)
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
    let mut state = decoder.init_state(encoded); // h, c [B, D]
    let mut words = vec![vocab.start; batch];
    let mut captions = vec![empty_caption(grid); batch];
    let mut done = vec![false; batch];
    for step in 1..=max_len {
        // logits [B, V], alpha [B, P]
        let out = decoder.step(encoded, index_tensor(&words, &device), state);
        let rows = read_step(out.logits, out.alpha, step).await?;
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

/// Beam search for a single image (`encoded` holds one row), with the width and length penalty
/// of `options.decoding` (`Greedy` searches a beam of one).
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
    let k = options.decoding.beam_width();
    let device = encoded.features.device();
    let decoder = &model.decoder;
    let mut state = decoder.init_state(encoded); // h, c [L, D], L live hypotheses (1 at first)
    let mut live = vec![Hypothesis {
        caption: empty_caption(grid),
        last: vocab.start,
    }];
    let mut finished: Vec<Caption> = Vec::new();
    for step in 1..=options.max_len {
        let rows = encoded.select(index_tensor(&vec![0; live.len()], &device)); // features [L, P, E]
        let last: Vec<u32> = live.iter().map(|h| h.last).collect();
        // logits [L, V], alpha [L, P]
        let out = decoder.step(&rows, index_tensor(&last, &device), state);
        let scores = read_step(out.logits, out.alpha, step).await?;
        let best = top_candidates(extensions(&live, &scores), k - finished.len());
        let (next, keep) = advance(&live, best, &scores, vocab, &mut finished);
        live = next;
        if live.is_empty() || finished.len() == k {
            break;
        }
        // The rows of the hypotheses that live on: h, c [L', D].
        let keep = index_tensor(&keep, &device);
        state = LstmState {
            h: out.state.h.select(0, keep.clone()),
            c: out.state.c.select(0, keep),
        };
    }
    finished.extend(live.into_iter().map(|h| h.caption));
    best_caption(finished, options.decoding.length_penalty())
}

struct Hypothesis {
    caption: Caption,
    last: u32,
}

/// Every extension of every live hypothesis by every word, as (score, hypothesis, word).
fn extensions(live: &[Hypothesis], step: &StepRows) -> Vec<(f64, usize, u32)> {
    let mut candidates = Vec::with_capacity(live.len() * step.vocab);
    for (b, hypothesis) in live.iter().enumerate() {
        for (w, &lp) in step.log_probs(b).iter().enumerate() {
            candidates.push((hypothesis.caption.log_prob + lp as f64, b, w as u32));
        }
    }
    candidates
}

/// Applies the chosen extensions: those ending in the end token join `finished`, the others
/// become the next live hypotheses, returned with the index of the hypothesis each extends
/// (the LSTM state rows to keep).
fn advance(
    live: &[Hypothesis],
    best: Vec<(f64, usize, u32)>,
    step: &StepRows,
    vocab: &Vocabulary,
    finished: &mut Vec<Caption>,
) -> (Vec<Hypothesis>, Vec<u32>) {
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
    (next, keep)
}

/// The best caption by `log_prob / length^length_penalty`, the end token counted in the
/// length. Earliest wins a tie, so finished captions (listed first) beat unfinished ones.
fn best_caption(mut captions: Vec<Caption>, length_penalty: f64) -> Result<Caption> {
    if captions.is_empty() {
        return Err(Error::InvalidArgument(
            "beam search found no caption (the vocabulary is empty)".to_string(),
        ));
    }
    let rank = |c: &Caption| {
        let length = (c.token_ids.len() + c.finished as usize).max(1) as f64;
        c.log_prob / length.powf(length_penalty)
    };
    let mut best = 0;
    for (i, caption) in captions.iter().enumerate() {
        if rank(caption) > rank(&captions[best]) {
            best = i;
        }
    }
    Ok(captions.swap_remove(best))
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

    fn log_probs(&self, row: usize) -> &[f32] {
        let start = row * (self.vocab + self.positions);
        &self.data[start..start + self.vocab]
    }

    fn alpha(&self, row: usize) -> &[f32] {
        let start = row * (self.vocab + self.positions) + self.vocab;
        &self.data[start..start + self.positions]
    }
}

/// Log-softmax of `logits` `[B, V]` and `alpha` `[B, P]`, read back in one transfer, and
/// refused if any value is not finite: NaN would otherwise be "chosen" as word 0 (`<PAD>`)
/// and printed as a caption. A NaN or infinite encoder output reaches the first step's
/// values, so this also catches a broken encoder without reading its output back.
async fn read_step(logits: Tensor<2>, alpha: Tensor<2>, step: usize) -> Result<StepRows> {
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
        options.decoding = Decoding::Beam {
            width: 0,
            length_penalty: 0.0,
        };
        assert!(
            options
                .validate()
                .unwrap_err()
                .to_string()
                .contains("beam width 0")
        );
        options.decoding = Decoding::Beam {
            width: 3,
            length_penalty: 0.0,
        };
        options.max_len = 0;
        assert!(
            options
                .validate()
                .unwrap_err()
                .to_string()
                .contains("max length 0")
        );
        options.max_len = 5;
        options.decoding = Decoding::Beam {
            width: 3,
            length_penalty: f64::NAN,
        };
        assert!(
            options
                .validate()
                .unwrap_err()
                .to_string()
                .contains("length penalty")
        );
    }

    #[test]
    fn a_beam_of_one_is_greedy_and_both_numbers_are_checked() {
        assert_eq!(Decoding::from_beam(1, 0.5).unwrap(), Decoding::Greedy);
        assert_eq!(
            Decoding::from_beam(4, 0.5).unwrap(),
            Decoding::Beam {
                width: 4,
                length_penalty: 0.5
            }
        );
        let err = Decoding::from_beam(0, 0.0).unwrap_err().to_string();
        assert!(err.contains("beam width 0"), "{err}");
        let err = Decoding::from_beam(MAX_BEAM_WIDTH + 1, 0.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("beam width 65"), "{err}");
        let err = Decoding::from_beam(1, -1.0).unwrap_err().to_string();
        assert!(err.contains("length penalty -1"), "{err}");
    }

    #[test]
    fn greedy_batches_and_beam_goes_one_image_at_a_time() {
        assert!(Decoding::Greedy.batches_images());
        assert_eq!(Decoding::Greedy.batch_size(16), 16);
        assert_eq!(Decoding::Greedy.batch_size(0), 1);
        let beam = Decoding::from_beam(3, 0.0).unwrap();
        assert!(!beam.batches_images());
        assert_eq!(beam.batch_size(16), 1);
        assert_eq!((beam.beam_width(), Decoding::Greedy.beam_width()), (3, 1));
    }
}
