//! Validation after each epoch: the loss without dropout, and corpus BLEU-1..4 of the captions
//! the model decodes for the validation images.

use anyhow::Result;
use burn::module::Module;
use glimpse_metrics::Bleu;
use glimpse_model::decoder::EncodedImages;
use glimpse_model::generate::{Decoding, decode};
use glimpse_model::{Caption, CaptionModel, GenerateOptions};

use super::batch::Pair;
use super::loss::caption_loss;
use super::step::{encode_input, read_scalars};
use super::trainer::Trainer;

impl Trainer<'_> {
    /// Validation loss (no dropout) and corpus BLEU-1..4 of the decoded captions.
    pub(super) fn validate(&self, model: &CaptionModel) -> Result<(f64, [f64; 4])> {
        let eval = model.valid();
        Ok((self.validation_loss(&eval)?, self.validation_bleu(&eval)?))
    }

    /// The mean loss over the validation pairs, weighted by pairs per batch.
    fn validation_loss(&self, eval: &CaptionModel) -> Result<f64> {
        let (mut loss_sum, mut count) = (0.0, 0usize);
        for chunk in self.val.pairs.chunks(self.config.batch_size) {
            let pairs: Vec<&Pair> = chunk.iter().collect();
            let batch = self.make_batch(&pairs, &self.val.samples, &self.devices.plain)?;
            let encoded = encode_input(eval, batch.input);
            // logits [B, T-1, V], alphas [B, T-1, P]
            let (logits, alphas) = eval.decoder.forward(&encoded, batch.captions);
            let loss = caption_loss(
                logits,
                alphas,
                batch.targets,
                batch.mask,
                batch.tokens,
                self.config.alpha_c,
            );
            loss_sum += read_scalars(loss.total())?[0] * pairs.len() as f64;
            count += pairs.len();
        }
        Ok(loss_sum / count.max(1) as f64)
    }

    /// Corpus BLEU-1..4 of one decoded caption per validation image against all its captions.
    fn validation_bleu(&self, eval: &CaptionModel) -> Result<[f64; 4]> {
        let mut bleu = Bleu::new();
        let images: Vec<Pair> = (0..self.val.samples.len())
            .map(|sample| Pair {
                sample,
                caption: vec![],
            })
            .collect();
        // Greedy decoding decodes a chunk's images together: no more than the model takes.
        let at_once = self.config.batch_size.min(self.model_config.images_at_once(true));
        for chunk in images.chunks(at_once) {
            let pairs: Vec<&Pair> = chunk.iter().collect();
            let batch = self.make_batch_images(&pairs)?;
            let encoded = encode_input(eval, batch);
            let captions = self.decode(eval, encoded)?;
            for (pair, caption) in pairs.iter().zip(captions) {
                bleu.add(&caption.tokens, &self.val.samples[pair.sample].tokens);
            }
        }
        Ok(bleu.scores().corpus)
    }

    /// Captions for the images of `encoded`, as the config's `val_beam` and `val_max_len` say.
    fn decode(&self, eval: &CaptionModel, encoded: EncodedImages) -> Result<Vec<Caption>> {
        let options = GenerateOptions {
            decoding: Decoding::from_beam(self.config.val_beam, 0.0)?,
            max_len: self.config.val_max_len,
        };
        let grid = self.model_config.grid();
        // Reading back every step: validation decodes a whole batch per step, so a GPU's round
        // trips are shared by the batch's images.
        Ok(pollster::block_on(decode(
            eval,
            &encoded,
            &self.vocab,
            grid,
            options,
            1,
        ))?)
    }
}
