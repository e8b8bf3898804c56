//! Training examples and the batches built from them: cached encoder features when the encoder
//! is frozen, preprocessed images when it is fine-tuned.

use std::collections::HashSet;

use anyhow::{Result, anyhow};
use burn::tensor::{Device, Tensor, TensorData};
use glimpse_data::Sample;
use glimpse_data::vocab_builder::encode;
use glimpse_files::{caps, read_regular, shown};
use glimpse_model::Vocabulary;
use glimpse_model::preprocess::bytes_to_input;

use super::step::{Batch, BatchInput};
use super::trainer::Trainer;

/// One training example: an image (index into the split) and one of its captions as ids.
#[derive(Debug, Clone)]
pub(super) struct Pair {
    pub sample: usize,
    pub caption: Vec<u32>,
}

/// A split's images and every (image, caption) pair of it.
pub(super) struct Examples<'a> {
    pub samples: Vec<&'a Sample>,
    pub pairs: Vec<Pair>,
}

impl<'a> Examples<'a> {
    pub fn new(samples: Vec<&'a Sample>, vocab: &Vocabulary) -> Examples<'a> {
        // Sized at once: growing by doubling would leave freed blocks a step cannot use.
        let mut pairs = Vec::with_capacity(samples.iter().map(|s| s.tokens.len()).sum());
        for (index, sample) in samples.iter().enumerate() {
            for tokens in &sample.tokens {
                pairs.push(Pair {
                    sample: index,
                    caption: encode(vocab, tokens),
                });
            }
        }
        Examples { samples, pairs }
    }

    /// Leaves out the samples named in `names` and their pairs.
    pub fn drop_samples(&mut self, names: &HashSet<&str>) {
        let kept: Vec<bool> = self
            .samples
            .iter()
            .map(|s| !names.contains(s.name.as_str()))
            .collect();
        // new_index[i]: sample i's index once the dropped ones before it are gone.
        let new_index: Vec<usize> = kept
            .iter()
            .scan(0, |next, &keep| {
                let index = *next;
                *next += usize::from(keep);
                Some(index)
            })
            .collect();
        self.pairs.retain_mut(|pair| {
            let keep = kept[pair.sample];
            pair.sample = new_index[pair.sample];
            keep
        });
        let mut keep = kept.iter();
        self.samples.retain(|_| keep.next().copied().unwrap_or(false));
    }

    /// Keeps the first `count` samples and their pairs.
    pub fn keep_first(&mut self, count: usize) {
        self.samples.truncate(count);
        self.pairs.retain(|pair| pair.sample < count);
    }

    /// Bytes of an epoch's order of these pairs ([`Trainer::epoch_order`]), made anew each epoch.
    pub fn order_bytes(&self) -> u64 {
        (self.pairs.len() as u64).saturating_mul(size_of::<usize>() as u64)
    }
}

impl Trainer<'_> {
    /// The batch of `pairs` (indices into `samples`) on `device`.
    pub(super) fn make_batch(&self, pairs: &[&Pair], samples: &[&Sample], device: &Device) -> Result<Batch> {
        let input = match &self.cache {
            Some(cache) => {
                let batch = pairs.len();
                let (positions, dim) = (self.model_config.positions(), self.model_config.encoder_dim());
                let mut values = Vec::with_capacity(batch * positions * dim);
                for pair in pairs {
                    values.extend(cache.read(samples[pair.sample])?);
                }
                BatchInput::Features(Tensor::from_data(
                    TensorData::new(values, [batch, positions, dim]),
                    device,
                ))
            }
            None => BatchInput::Images(self.images(pairs, samples, device)?),
        };
        let captions: Vec<&[u32]> = pairs.iter().map(|p| p.caption.as_slice()).collect();
        Ok(Batch::new(input, &captions, self.vocab.pad.unwrap_or(0), device))
    }

    /// The images of `pairs`, read and preprocessed: `[B, 3, H, W]`.
    fn images(&self, pairs: &[&Pair], samples: &[&Sample], device: &Device) -> Result<Tensor<4>> {
        let [height, width] = self.model_config.preprocess.size.map(|s| s as usize);
        let mut values = Vec::with_capacity(pairs.len() * 3 * height * width);
        for pair in pairs {
            let sample = samples[pair.sample];
            let bytes = read_regular(&sample.path, caps::IMAGE, "image")?;
            let input = bytes_to_input(&bytes, &self.model_config.preprocess)
                .map_err(|e| anyhow!("{}: {e}", shown(&sample.path)))?;
            values.extend(input);
        }
        Ok(Tensor::from_data(
            TensorData::new(values, [pairs.len(), 3, height, width]),
            device,
        ))
    }

    /// Encoder inputs for whole validation images (no captions), on the plain device.
    pub(super) fn make_batch_images(&self, pairs: &[&Pair]) -> Result<BatchInput> {
        let with_caption: Vec<Pair> = pairs
            .iter()
            .map(|p| Pair {
                sample: p.sample,
                caption: vec![self.vocab.start, self.vocab.end],
            })
            .collect();
        let refs: Vec<&Pair> = with_caption.iter().collect();
        Ok(self
            .make_batch(&refs, &self.val.samples, &self.devices.plain)?
            .input)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn sample(name: &str, captions: &[&str]) -> Sample {
        Sample {
            name: name.to_string(),
            path: PathBuf::from(name),
            raw: captions.iter().map(|c| c.to_string()).collect(),
            tokens: captions.iter().map(|c| vec![c.to_string()]).collect(),
        }
    }

    #[test]
    fn dropping_samples_keeps_the_others_pairs_on_their_images() {
        let words = ["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a", "b", "c"];
        let vocab = Vocabulary::from_words(words.iter().map(|w| w.to_string()).collect()).unwrap();
        let samples = [
            sample("x", &["a"]),
            sample("y", &["b", "b"]),
            sample("z", &["c", "c", "c"]),
        ];
        let mut examples = Examples::new(samples.iter().collect(), &vocab);
        assert_eq!(examples.pairs.capacity(), 6);
        assert_eq!(examples.order_bytes(), 6 * size_of::<usize>() as u64);
        examples.drop_samples(&HashSet::from(["y"]));
        let names: Vec<&str> = examples.samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["x", "z"]);
        for pair in &examples.pairs {
            // Each caption is its image's one word, so it names the image it belongs to.
            let word = vocab.word(pair.caption[1]).unwrap();
            let image = examples.samples[pair.sample];
            assert!(
                image.tokens.iter().all(|t| t[0] == word),
                "{word} on {}",
                image.name
            );
        }
        assert_eq!(examples.pairs.len(), 4);
    }
}
