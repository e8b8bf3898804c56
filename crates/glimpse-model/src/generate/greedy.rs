//! Batched greedy decoding: the most probable word at every step, for a whole batch at once.

use super::Caption;
use super::rows::{argmax, empty_caption, index_tensor, push_word, read_step};
use crate::decoder::EncodedImages;
use crate::error::Result;
use crate::model::CaptionModel;
use crate::vocab::Vocabulary;

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
