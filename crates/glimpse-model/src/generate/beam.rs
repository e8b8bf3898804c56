//! Beam search for one image (sgrvinod's scheme), optionally continuing a given prefix,
//! recording the top words at every position and returning every hypothesis ranked.

use super::explore::ExploreOptions;
use super::rows::{StepRows, empty_caption, first_n_by, index_tensor, push_word, read_step, top_words};
use super::{Caption, GenerateOptions};
use crate::decoder::{Decoder, EncodedImages};
use crate::error::{Error, Result};
use crate::lstm::LstmState;
use crate::model::CaptionModel;
use crate::vocab::Vocabulary;

/// Beam search for a single image (`encoded` holds one row), with the width and length penalty
/// of `options.decoding` (`Greedy` searches a beam of one): the best of [`beam_hypotheses`].
pub async fn beam_search(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    options: GenerateOptions,
) -> Result<Caption> {
    let plain = ExploreOptions::default();
    let mut ranked = beam_hypotheses(model, encoded, vocab, grid, options, &plain).await?;
    Ok(ranked.swap_remove(0))
}

/// Every hypothesis of a beam search for a single image, best first (at least one).
///
/// sgrvinod's scheme: `k` hypotheses start from the start token followed by `explore.prefix`;
/// each step every live hypothesis is extended by every word and the best `k - finished`
/// extensions survive (ties go to the lower hypothesis index, then the lower word id); an
/// extension ending in the end token is finished and leaves the beam. Search stops when `k`
/// captions are finished, none is live, or `max_len` words (the prefix's included) were
/// generated; the live ones then compete with the finished ones, ranked by
/// [`Caption::beam_score`] (earliest first on a tie, so finished captions come first).
pub async fn beam_hypotheses(
    model: &CaptionModel,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    options: GenerateOptions,
    explore: &ExploreOptions,
) -> Result<Vec<Caption>> {
    options.validate()?;
    explore.validate(vocab, options.max_len)?;
    if encoded.batch_size() != 1 {
        return Err(Error::InvalidArgument(format!(
            "beam search takes one image at a time, got {}",
            encoded.batch_size()
        )));
    }
    let k = options.decoding.beam_width();
    let device = encoded.features.device();
    let decoder = &model.decoder;
    // h, c [L, D], L live hypotheses (1 at first)
    let (first, mut state) = start(decoder, encoded, vocab, grid, explore).await?;
    let mut live = vec![first];
    let mut finished: Vec<Caption> = Vec::new();
    for step in explore.prefix.len() + 1..=options.max_len {
        let rows = encoded.select(index_tensor(&vec![0; live.len()], &device)); // features [L, P, E]
        let last: Vec<u32> = live.iter().map(|h| h.last).collect();
        // logits [L, V], alpha [L, P]
        let out = decoder.step(&rows, index_tensor(&last, &device), state);
        let scores = read_step(out.logits, out.alpha, step).await?;
        let wanted = k - finished.len();
        let best = top_candidates(extensions(&live, &scores, wanted), wanted);
        let chosen = Chosen {
            step: &scores,
            vocab,
            alternatives: explore.alternatives,
        };
        let (next, keep) = advance(&live, best, &chosen, &mut finished);
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
    rank_captions(finished, options.decoding.length_penalty())
}

struct Hypothesis {
    caption: Caption,
    last: u32,
}

/// The hypothesis a search starts from, with its LSTM state (h, c `[1, D]`): the start token,
/// then the prefix fed one word per step, exactly as if the search had chosen those words
/// (their log-probabilities, attention and alternatives recorded).
async fn start(
    decoder: &Decoder,
    encoded: &EncodedImages,
    vocab: &Vocabulary,
    grid: [usize; 2],
    explore: &ExploreOptions,
) -> Result<(Hypothesis, LstmState)> {
    let device = encoded.features.device();
    let mut state = decoder.init_state(encoded);
    let mut hypothesis = Hypothesis {
        caption: empty_caption(grid),
        last: vocab.start,
    };
    for (i, &word) in explore.prefix.iter().enumerate() {
        // logits [1, V], alpha [1, P]
        let out = decoder.step(encoded, index_tensor(&[hypothesis.last], &device), state);
        let step = read_step(out.logits, out.alpha, i + 1).await?;
        let caption = &mut hypothesis.caption;
        caption.log_prob += step.log_probs(0)[word as usize] as f64;
        if explore.alternatives > 0 {
            let top = top_words(step.log_probs(0), explore.alternatives, vocab);
            caption.alternatives.push(top);
        }
        push_word(caption, vocab, word, step.alpha(0));
        hypothesis.last = word;
        state = out.state;
    }
    Ok((hypothesis, state))
}

/// The `n` best extensions of each live hypothesis by a word, as (score, hypothesis, word):
/// the `n` best of all are among them, and a row at a time they take `n` per hypothesis, not
/// the vocabulary's size (a beam of 64 over a million words held 1 GiB of them on wasm32).
fn extensions(live: &[Hypothesis], step: &StepRows, n: usize) -> Vec<(f64, usize, u32)> {
    let mut candidates = Vec::with_capacity(live.len() * n);
    for (b, hypothesis) in live.iter().enumerate() {
        let row = step.log_probs(b).iter().enumerate();
        let row = row.map(|(w, &lp)| (hypothesis.caption.log_prob + lp as f64, b, w as u32));
        candidates.extend(top_candidates(row.collect(), n));
    }
    candidates
}

/// What [`advance`] records from one step's output.
struct Chosen<'a> {
    step: &'a StepRows,
    vocab: &'a Vocabulary,
    /// How many of the most probable words to record per position (0: none).
    alternatives: usize,
}

/// Applies the chosen extensions: those ending in the end token join `finished`, the others
/// become the next live hypotheses, returned with the index of the hypothesis each extends
/// (the LSTM state rows to keep).
fn advance(
    live: &[Hypothesis],
    best: Vec<(f64, usize, u32)>,
    chosen: &Chosen,
    finished: &mut Vec<Caption>,
) -> (Vec<Hypothesis>, Vec<u32>) {
    let mut next = Vec::with_capacity(best.len());
    let mut keep = Vec::with_capacity(best.len());
    // Each hypothesis's most probable words, found once however many extensions it has.
    let mut alternatives = vec![None; live.len()];
    for (score, b, word) in best {
        let mut caption = live[b].caption.clone();
        caption.log_prob = score;
        if chosen.alternatives > 0 {
            let row = chosen.step.log_probs(b);
            let top =
                alternatives[b].get_or_insert_with(|| top_words(row, chosen.alternatives, chosen.vocab));
            caption.alternatives.push(top.clone());
        }
        if word == chosen.vocab.end {
            caption.finished = true;
            finished.push(caption);
        } else {
            push_word(&mut caption, chosen.vocab, word, chosen.step.alpha(b));
            next.push(Hypothesis { caption, last: word });
            keep.push(b as u32);
        }
    }
    (next, keep)
}

/// `captions` best first by [`Caption::beam_score`]; the sort is stable, so the earliest wins
/// a tie and finished captions (listed first) beat unfinished ones.
fn rank_captions(mut captions: Vec<Caption>, length_penalty: f64) -> Result<Vec<Caption>> {
    if captions.is_empty() {
        return Err(Error::InvalidArgument(
            "beam search found no caption (the vocabulary is empty)".to_string(),
        ));
    }
    captions.sort_by(|a, b| {
        b.beam_score(length_penalty)
            .total_cmp(&a.beam_score(length_penalty))
    });
    Ok(captions)
}

/// The `n` best (score, hypothesis, word) triples, best first; ties go to the lower hypothesis
/// index, then the lower word id.
fn top_candidates(candidates: Vec<(f64, usize, u32)>, n: usize) -> Vec<(f64, usize, u32)> {
    first_n_by(candidates, n, |a, b| {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
    })
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

    fn caption(words: usize, finished: bool, log_prob: f64) -> Caption {
        Caption {
            token_ids: vec![4; words],
            finished,
            log_prob,
            ..empty_caption([1, 1])
        }
    }

    #[test]
    fn captions_rank_by_normalised_score_and_the_earliest_wins_a_tie() {
        // Plain sums: -2 beats -3; the two at -2 keep their order.
        let ranked = rank_captions(
            vec![
                caption(3, true, -3.0),
                caption(2, true, -2.0),
                caption(2, false, -2.0),
            ],
            0.0,
        )
        .unwrap();
        let order: Vec<(f64, bool)> = ranked.iter().map(|c| (c.log_prob, c.finished)).collect();
        assert_eq!(order, [(-2.0, true), (-2.0, false), (-3.0, true)]);
        // Length-normalised (penalty 1, end token counted): -3/4 beats -2/2.
        let ranked = rank_captions(vec![caption(1, true, -2.0), caption(3, true, -3.0)], 1.0).unwrap();
        assert_eq!(ranked[0].log_prob, -3.0);
        assert!(rank_captions(Vec::new(), 0.0).is_err());
    }
}
