//! Caption generation: one [`Decoding`] value picks batched greedy decoding or beam search
//! ([`decode`] dispatches), each returning one attention map per word; [`explore`] asks more of
//! one image (a prefix to continue, the top words at every position, every beam) and [`score`]
//! rates a given caption word by word.
//!
//! Greedy decoding picks its words on the device and reads them back every few steps (see
//! [`greedy`]). The searches that need whole rows (beam search, exploring, scoring) read each
//! step's log-probabilities and attention back in one async readback and do their choosing
//! (top-k, beam bookkeeping) on the host: browsers forbid synchronous readback, and
//! sort/argsort read back synchronously.

mod beam;
pub mod explore;
mod greedy;
pub(crate) mod rows;
mod score;

pub use beam::{beam_hypotheses, beam_search};
pub use explore::{ExploreOptions, MAX_ALTERNATIVES, MAX_TEXT_BYTES, caption_words, lookup_words};
pub use greedy::{GPU_STEPS_PER_READBACK, greedy};
pub use rows::read_f32;
pub use score::{ScoredCaption, ScoredWord, score};

use crate::decoder::EncodedImages;
use crate::error::{Error, Result};
use crate::model::CaptionModel;
use crate::vocab::Vocabulary;
use rows::index_tensor;

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
/// Largest length penalty accepted: well past what is used (GNMT's 0.6–1, Hugging Face's 1–2),
/// and small enough that the longest caption's length to its power stays finite (201^10 ≈
/// 1e23; past about 134, every score became −0 and beams were ranked in the order they ended).
pub const MAX_LENGTH_PENALTY: f64 = 10.0;

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
    if !(0.0..=MAX_LENGTH_PENALTY).contains(&length_penalty) {
        return Err(Error::InvalidArgument(format!(
            "length penalty {length_penalty} must be within 0..={MAX_LENGTH_PENALTY}"
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
    /// Only when asked for ([`ExploreOptions::alternatives`]): the most probable words at each
    /// position, one list per word and one more for the end token when the caption finished.
    pub alternatives: Vec<Vec<Alternative>>,
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

    /// What beam search ranks captions by: `log_prob / length^length_penalty`, the end token
    /// counted in the length.
    pub fn beam_score(&self, length_penalty: f64) -> f64 {
        let length = (self.token_ids.len() + self.finished as usize).max(1) as f64;
        self.log_prob / length.powf(length_penalty)
    }
}

/// A word the model considered at one position, with its probability.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alternative {
    pub word: String,
    pub id: u32,
    pub log_prob: f32,
    pub prob: f32,
}

impl Alternative {
    pub(crate) fn new(vocab: &Vocabulary, id: u32, log_prob: f32) -> Self {
        Alternative {
            word: vocab.word(id).unwrap_or("<?>").to_string(),
            id,
            log_prob,
            prob: log_prob.exp(),
        }
    }
}

/// Entropy of an attention map in nats: 0 when all weight is on one cell, `ln(cells)` when it
/// is spread evenly.
pub fn attention_entropy(map: &[f32]) -> f32 {
    -map.iter()
        .filter(|&&a| a > 0.0)
        .map(|&a| a as f64 * (a as f64).ln())
        .sum::<f64>() as f32
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
/// once (reading its words back every `steps_per_readback` steps), beam search each image in
/// turn. The one place that chooses between the two.
pub async fn decode(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    options: GenerateOptions,
    steps_per_readback: usize,
) -> Result<Vec<Caption>> {
    options.validate()?;
    if options.decoding.batches_images() {
        return greedy(model, encoded, vocab, grid, options.max_len, steps_per_readback).await;
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn attention_entropy_is_zero_on_one_cell_and_ln_n_when_even() {
        assert_eq!(attention_entropy(&[0.0, 1.0, 0.0]), 0.0);
        assert!((attention_entropy(&[0.25; 4]) - 4f32.ln()).abs() < 1e-6);
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
        let err = Decoding::from_beam(1, 10.5).unwrap_err().to_string();
        assert!(err.contains("length penalty 10.5 must be within 0..=10"), "{err}");
        assert!(Decoding::from_beam(3, MAX_LENGTH_PENALTY).is_ok());
        // The longest caption's length to the largest penalty stays finite.
        let length = (MAX_LENGTH + 1) as f64;
        assert!(length.powf(MAX_LENGTH_PENALTY).is_finite());
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
