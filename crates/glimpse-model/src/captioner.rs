//! The high-level API shared by the CLI and the browser: a loaded model with its vocabulary,
//! captioning images from bytes or pixels.

use burn::tensor::{Device, Tensor, TensorData};

use crate::bundle::{Bundle, ModelCard};
use crate::config::ModelConfig;
use crate::decoder::EncodedImages;
use crate::error::{Error, Result};
use crate::generate::rows::index_tensor;
use crate::generate::{
    Caption, ExploreOptions, GenerateOptions, ScoredCaption, beam_hypotheses, decode, lookup_words, read_f32,
    score, special_token_warning,
};
use crate::model::CaptionModel;
use crate::preprocess;
use crate::vocab::Vocabulary;

/// Milliseconds one caption spent in each stage: reading, decoding and resizing the photo; the
/// encoder (waited for with [`Captioner::finish_encoding`]); the decoder's steps with their
/// readbacks. Callers time the stages themselves (the browser has no `Instant`); a batch's times
/// are shared equally among its images.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageTimes {
    pub prepare_ms: f64,
    pub encoder_ms: f64,
    pub decoder_ms: f64,
}

/// A model ready to caption, on one device.
#[derive(Debug)]
pub struct Captioner {
    pub config: ModelConfig,
    pub vocab: Vocabulary,
    pub card: ModelCard,
    /// The bundle's network with its encoder's BatchNorms folded for inference
    /// ([`crate::encoder::Encoder::fold_batch_norms`]): not the file's tensors.
    pub model: CaptionModel,
    device: Device,
    /// Greedy decoding's steps between two readbacks (see [`crate::generate::greedy`]).
    steps_per_readback: usize,
}

impl Captioner {
    /// Builds the model from a parsed bundle; fails listing every tensor that does not fit.
    pub fn from_bundle(bundle: Bundle, device: &Device) -> Result<Self> {
        bundle.config.check_vocabulary(&bundle.vocab)?;
        let Bundle {
            config,
            vocab,
            card,
            weights,
        } = bundle;
        let mut model = CaptionModel::from_owned_weights(&config, weights, device)?;
        model.encoder.fold_batch_norms();
        Ok(Captioner {
            config,
            vocab,
            card,
            model,
            device: device.clone(),
            steps_per_readback: 1,
        })
    }

    /// Parses and loads a bundle file's bytes.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        Captioner::from_bundle(Bundle::from_bytes(bytes)?, device)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Lets greedy decoding run `steps` steps on the device between two readbacks (1, the
    /// default, suits the CPU; [`crate::GPU_STEPS_PER_READBACK`] a GPU). The captions do not
    /// change.
    pub fn set_steps_per_readback(&mut self, steps: usize) {
        self.steps_per_readback = steps.max(1);
    }

    /// Decodes and preprocesses an encoded image for [`Self::caption_inputs`].
    pub fn prepare_bytes(&self, bytes: &[u8]) -> Result<Vec<f32>> {
        preprocess::bytes_to_input(bytes, &self.config.preprocess)
    }

    /// Captions preprocessed inputs (`[3, H, W]` each), encoded as one batch: greedy decoding
    /// decodes them together, beam search one after the other (see [`decode`]). Fails if the
    /// model computes NaN or an infinity for an image still being decoded; captions holding `<PAD>` or the start token are
    /// returned as computed (callers show [`crate::generate::special_token_warning`]).
    pub async fn caption_inputs(
        &self,
        inputs: &[Vec<f32>],
        options: GenerateOptions,
    ) -> Result<Vec<Caption>> {
        options.validate()?;
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = self.encode_inputs(inputs)?;
        self.decode_encoded(&encoded, options).await
    }

    /// Runs the encoder on preprocessed inputs (`[3, H, W]` each, at least one) as one batch:
    /// the first half of [`Captioner::caption_inputs`], apart so that the page can time it.
    pub fn encode_inputs(&self, inputs: &[Vec<f32>]) -> Result<EncodedImages> {
        if inputs.is_empty() {
            return Err(Error::InvalidArgument("no images to encode".into()));
        }
        self.config.check_encoder_batch(inputs.len())?;
        let [h, w] = self.config.preprocess.size;
        let plane = 3 * h as usize * w as usize;
        if let Some(bad) = inputs.iter().position(|input| input.len() != plane) {
            return Err(Error::InvalidArgument(format!(
                "input {bad} has {} values, expected 3×{h}×{w} = {plane}",
                inputs[bad].len()
            )));
        }
        let data: Vec<f32> = inputs.concat();
        let images = Tensor::<4>::from_data(
            TensorData::new(data, [inputs.len(), 3, h as usize, w as usize]),
            &self.device,
        ); // [B, 3, H, W]
        Ok(self.model.encode(images))
    }

    /// Waits until the device has computed `encoded` (WebGPU runs work lazily) by reading one
    /// value back, so that timing the encoder measures the encoder.
    pub async fn finish_encoding(&self, encoded: &EncodedImages) -> Result<()> {
        let first = encoded
            .features
            .clone()
            .narrow(0, 0, 1)
            .narrow(1, 0, 1)
            .narrow(2, 0, 1);
        read_f32(first).await.map(drop)
    }

    /// Checks that decoding `images` encoded images with `options` stays within the model's
    /// attention budget ([`crate::config::limits::MAX_ATTENTION_VALUES`]): greedy decoding
    /// decodes the images together, beam search one image's beam at a time. Callers that can
    /// refuse before encoding (the CLI) call it first; decoding checks it again.
    pub fn check_decoding(&self, options: &GenerateOptions, images: usize) -> Result<()> {
        match options.decoding.batches_images() {
            true => self.config.check_decoding_rows(images, "greedy batch"),
            false => self
                .config
                .check_decoding_rows(options.decoding.beam_width(), "beam width"),
        }
    }

    /// The most images to caption at once with `options` (see
    /// [`crate::ModelConfig::images_at_once`]): callers batch by it.
    pub fn images_at_once(&self, options: &GenerateOptions) -> usize {
        self.config.images_at_once(options.decoding.batches_images())
    }

    /// Decodes what [`Captioner::encode_inputs`] returned: the second half of
    /// [`Captioner::caption_inputs`].
    pub async fn decode_encoded(
        &self,
        encoded: &EncodedImages,
        options: GenerateOptions,
    ) -> Result<Vec<Caption>> {
        self.check_decoding(&options, encoded.batch_size())?;
        let grid = self.config.grid();
        decode(
            &self.model,
            encoded,
            &self.vocab,
            grid,
            options,
            self.steps_per_readback,
        )
        .await
    }

    /// Asks more of one encoded image than its caption (`encoded` holds one row): continue
    /// `explore.prefix`, record the top words at every position, keep every beam. The captions
    /// come best first: one, or every hypothesis with `explore.all_beams`.
    pub async fn explore_encoded(
        &self,
        encoded: &EncodedImages,
        options: GenerateOptions,
        explore: &ExploreOptions,
    ) -> Result<Vec<Caption>> {
        self.check_decoding(&options, 1)?;
        let grid = self.config.grid();
        let mut ranked = beam_hypotheses(&self.model, encoded, &self.vocab, grid, options, explore).await?;
        if !explore.all_beams {
            ranked.truncate(1);
        }
        Ok(ranked)
    }

    /// [`Self::explore_encoded`] for every image of `encoded`, one after the other (a plain
    /// request decodes the batch as [`Self::decode_encoded`] does): each image's captions, best
    /// first.
    pub async fn explore_images(
        &self,
        encoded: &EncodedImages,
        options: GenerateOptions,
        explore: &ExploreOptions,
    ) -> Result<Vec<Vec<Caption>>> {
        if *explore == ExploreOptions::default() {
            let captions = self.decode_encoded(encoded, options).await?;
            return Ok(captions.into_iter().map(|caption| vec![caption]).collect());
        }
        let mut all = Vec::with_capacity(encoded.batch_size());
        for image in 0..encoded.batch_size() {
            let one = encoded.select(index_tensor(&[image as u32], &self.device)); // [1, P, E]
            all.push(self.explore_encoded(&one, options, explore).await?);
        }
        Ok(all)
    }

    /// Scores a person's caption for one encoded image: `words` as
    /// [`crate::generate::caption_words`] splits them; words the vocabulary lacks are read as
    /// `<UNK>` and named in the result's `notes`. A caption of no words is refused: its end
    /// token alone was scored without a word (an empty `--caption`: review 73).
    pub async fn score_encoded(
        &self,
        encoded: &EncodedImages,
        words: &[String],
        alternatives: usize,
    ) -> Result<ScoredCaption> {
        crate::generate::explore::check_words_to_score(words)?;
        let (ids, notes) = self.lookup_words(words)?;
        self.config.check_scored_words(ids.len())?;
        let grid = self.config.grid();
        let scored = score(&self.model, encoded, &self.vocab, grid, &ids, alternatives).await?;
        Ok(ScoredCaption { notes, ..scored })
    }

    /// Vocabulary ids for a person's words, with a note per word read as `<UNK>`.
    pub fn lookup_words(&self, words: &[String]) -> Result<(Vec<u32>, Vec<String>)> {
        lookup_words(&self.vocab, words)
    }

    /// Captions one encoded image (JPEG, PNG, WebP, GIF, BMP).
    pub async fn caption_bytes(&self, bytes: &[u8], options: GenerateOptions) -> Result<Caption> {
        let input = self.prepare_bytes(bytes)?;
        let mut captions = self.caption_inputs(&[input], options).await?;
        Ok(captions.remove(0))
    }

    /// What the user should read beside the captions `ranked` (the best first, then the other
    /// beams shown): `image_warning` (a damaged photo that still decoded, from
    /// [`preprocess::decode_image_checked`]), the best caption's own [`special_token_warning`],
    /// and which other beams hold such tokens (each beam is shown); joined, `None` when there
    /// is nothing to say.
    pub fn caption_warning(&self, image_warning: Option<String>, ranked: &[Caption]) -> Option<String> {
        let best = ranked
            .first()
            .and_then(|caption| special_token_warning(caption, &self.vocab));
        let others: Vec<String> = (1..ranked.len())
            .filter(|&i| special_token_warning(&ranked[i], &self.vocab).is_some())
            .map(|i| (i + 1).to_string())
            .collect();
        let others = (!others.is_empty()).then(|| {
            format!(
                "beam(s) {} of {} hold a start or padding token, which a trained model never generates",
                others.join(", "),
                ranked.len()
            )
        });
        let warnings: Vec<String> = image_warning.into_iter().chain(best).chain(others).collect();
        (!warnings.is_empty()).then(|| warnings.join("; "))
    }
}
