//! The one config struct that describes a captioning model, serialised as JSON in every bundle.
//!
//! Unknown fields and unknown versions are refused rather than ignored: a bundle written by a
//! newer Glimpse must not load into an older one and silently compute something else.

use serde::{Deserialize, Serialize};

use crate::decoder::DecoderDims;
use crate::encoder::{self, resnet::BASE_WIDTH};
use crate::error::{Error, Result};

/// The config format this build reads and writes.
pub const CONFIG_VERSION: u32 = 1;

/// A whole captioning model: encoder, attention, decoder and the image preprocessing it expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Always [`CONFIG_VERSION`].
    pub version: u32,
    pub encoder: EncoderConfig,
    pub attention: AttentionConfig,
    pub decoder: DecoderConfig,
    pub preprocess: PreprocessConfig,
}

/// Which convolutional network turns the image into a grid of feature vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderArch {
    Resnet18,
    Resnet34,
    Resnet50,
    Resnet101,
    Resnet152,
    MobilenetV2,
}

impl EncoderArch {
    /// All architectures, in the order the CLI lists them.
    pub const ALL: [EncoderArch; 6] = [
        EncoderArch::Resnet18,
        EncoderArch::Resnet34,
        EncoderArch::Resnet50,
        EncoderArch::Resnet101,
        EncoderArch::Resnet152,
        EncoderArch::MobilenetV2,
    ];

    /// The torchvision constructor name (`resnet50`, `mobilenet_v2`).
    pub fn name(self) -> &'static str {
        match self {
            EncoderArch::Resnet18 => "resnet18",
            EncoderArch::Resnet34 => "resnet34",
            EncoderArch::Resnet50 => "resnet50",
            EncoderArch::Resnet101 => "resnet101",
            EncoderArch::Resnet152 => "resnet152",
            EncoderArch::MobilenetV2 => "mobilenet_v2",
        }
    }

    pub fn from_name(name: &str) -> Option<EncoderArch> {
        EncoderArch::ALL.into_iter().find(|arch| arch.name() == name)
    }
}

/// The encoder: a torchvision network cut before its pooling and classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    pub arch: EncoderArch,
    /// Channel multiplier. 1.0 is torchvision's network; MobileNetV2 applies it as torchvision's
    /// `width_mult`, ResNets scale their base width of 64 (smaller values exist for small test
    /// models with the same structure and names).
    #[serde(default = "one")]
    pub width_multiplier: f64,
    /// Adaptive average pooling of the feature map to this grid (the sgrvinod tutorial uses
    /// 14×14); `None` keeps the network's own grid (7×7 at 224×224).
    #[serde(default)]
    pub pooled_grid: Option<[usize; 2]>,
}

/// The nonlinearity between the summed projections and the score layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionActivation {
    /// `tanh(U f + W h)`, as the widely used notebook and Bahdanau et al.
    Tanh,
    /// `relu(U f + W h)`, as sgrvinod's tutorial.
    Relu,
}

/// Bahdanau (additive) soft attention over the encoder grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionConfig {
    /// Width of the U and W projections.
    pub dim: usize,
    pub activation: AttentionActivation,
    /// Multiply the context by `sigmoid(f_beta(h))` before the LSTM (Xu et al. §4.2.1).
    pub gate: bool,
}

/// The LSTM decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    pub vocab_size: usize,
    pub embed_dim: usize,
    /// The LSTM's hidden size; serialised as `hidden_dim`, the key every existing bundle holds.
    #[serde(rename = "hidden_dim")]
    pub decoder_dim: usize,
    /// Dropout before the vocabulary projection, active only while training.
    pub dropout: f64,
}

/// How an image becomes the encoder's input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessConfig {
    /// `[height, width]` the whole image is resized to (no crop, so attention covers the photo).
    pub size: [u32; 2],
    /// Per-channel mean subtracted after scaling to [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by after the mean.
    pub std: [f32; 3],
    /// Images whose header claims more pixels than this are refused before decoding.
    pub max_pixels: u64,
}

fn one() -> f64 {
    1.0
}

/// ImageNet statistics used by every torchvision model.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// 50 megapixels: larger than any phone photo, small enough to decode in a browser tab.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig {
            size: [224, 224],
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

impl PreprocessConfig {
    /// Input size, normalisation and pixel budget against [`limits`].
    pub fn validate(&self) -> Result<()> {
        let [h, w] = self.size;
        let sides = limits::MIN_INPUT_SIDE..=limits::MAX_INPUT_SIDE;
        if !(sides.contains(&h) && sides.contains(&w)) {
            return Err(Error::Config(format!(
                "preprocess.size [{h}, {w}] must be within {}..={} on each side",
                limits::MIN_INPUT_SIDE,
                limits::MAX_INPUT_SIDE
            )));
        }
        if let Some((c, v)) = self
            .mean
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && v.abs() <= limits::MAX_ABS_MEAN))
        {
            return Err(Error::Config(format!(
                "preprocess.mean[{c}] {v:?} must be finite and within ±{}",
                limits::MAX_ABS_MEAN
            )));
        }
        if let Some((c, v)) = self
            .std
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v >= limits::MIN_STD))
        {
            return Err(Error::Config(format!(
                "preprocess.std[{c}] {v:?} must be finite and at least {} (dividing by less turns \
                 pixels into infinities)",
                limits::MIN_STD
            )));
        }
        if !(1..=DEFAULT_MAX_PIXELS).contains(&self.max_pixels) {
            return Err(Error::Config(format!(
                "preprocess.max_pixels {} must be within 1..={DEFAULT_MAX_PIXELS} (a bundle may \
                 lower the tool's pixel budget, not raise it)",
                self.max_pixels
            )));
        }
        Ok(())
    }
}

/// One weight matrix of the decoder, for [`ModelConfig::validate`].
struct Matrix {
    /// Which matrix, by the config fields that size it.
    what: &'static str,
    rows: usize,
    columns: usize,
    /// How many matrices of this shape the decoder holds.
    copies: u64,
}

/// A pooled grid within [`limits::MAX_GRID_SIDE`] per side and [`limits::MAX_GRID_CELLS`]
/// cells. burn-flex's adaptive pooling writes its output through an unchecked pointer into a
/// buffer sized by the wrapping product of the grid's sides, so this check is what keeps a
/// crafted grid from writing outside memory.
fn check_grid(h: usize, w: usize) -> Result<()> {
    let sides = 1..=limits::MAX_GRID_SIDE;
    let cells = (h as u64).checked_mul(w as u64);
    if sides.contains(&h) && sides.contains(&w) && cells.is_some_and(|c| c <= limits::MAX_GRID_CELLS as u64) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "encoder.pooled_grid [{h}, {w}] must be within 1..={} per side and at most {} cells",
        limits::MAX_GRID_SIDE,
        limits::MAX_GRID_CELLS
    )))
}

/// The hard caps this build puts on every number a model config supplies. A bundle can lower
/// a limit (its own `max_pixels`), never raise one. Each cap is far above what real
/// Show-Attend-Tell models use (ResNet-152 pooled to 14×14 at 256 pixels, a vocabulary of
/// about 10,000 words, layers of 512) and low enough that a crafted config cannot make the
/// model allocate more than a few GiB or overflow an index, on 64-bit or on wasm32.
pub mod limits {
    /// Smallest input side: the encoders downsample by 32.
    pub const MIN_INPUT_SIDE: u32 = 32;
    /// Largest input side (real models use 224 or 256): the encoder's activations grow with
    /// its square, so 4096 meant 38 s and 2.4 GB per image.
    pub const MAX_INPUT_SIDE: u32 = 1024;
    /// Largest side of a pooled attention grid (sgrvinod uses 14).
    pub const MAX_GRID_SIDE: usize = 64;
    /// Most cells of a pooled attention grid.
    pub const MAX_GRID_CELLS: usize = 4096;
    /// Fewest words: the four special tokens.
    pub const MIN_VOCAB_SIZE: usize = 4;
    /// Most words (captioning vocabularies hold 5,000–30,000).
    pub const MAX_VOCAB_SIZE: usize = 1_000_000;
    /// Longest word, in bytes (English's longest dictionary words have 45 letters; a word is
    /// shown as a button in the page and printed in every caption).
    pub const MAX_WORD_BYTES: usize = 256;
    /// Longest config JSON, in bytes (a Glimpse config has about 600): parsed into a tree
    /// first, which costs many times the text.
    pub const MAX_CONFIG_JSON_BYTES: usize = 64 << 10;
    /// Longest tensor name, in bytes (the longest a Glimpse model has is under 60).
    pub const MAX_TENSOR_NAME_BYTES: usize = 256;
    /// Widest embedding, attention or LSTM layer (real models use 256–1024).
    pub const MAX_LAYER_DIM: usize = 8192;
    /// Most elements of one decoder weight matrix (2²⁷, 512 MiB as f32); a 10,000-word
    /// embedding of 512 has 5 million.
    pub const MAX_MATRIX_ELEMENTS: u64 = 1 << 27;
    /// Most elements of all the decoder's weight matrices together (2²⁸, 1 GiB as f32).
    pub const MAX_DECODER_PARAMETERS: u64 = 1 << 28;
    /// Widest encoder (torchvision's widest MobileNetV2 is 1.4).
    pub const MAX_WIDTH_MULTIPLIER: f64 = 2.0;
    /// Smallest normalisation std (ImageNet's are about 0.22; 1e-45 turned pixels into
    /// infinities and captions into `<PAD> <PAD> …`).
    pub const MIN_STD: f32 = 1e-3;
    /// Largest normalisation mean in magnitude (pixels are scaled to [0, 1] first).
    pub const MAX_ABS_MEAN: f32 = 1000.0;
    /// Most an image's longer side may exceed its shorter one (panoramas are about 4–10).
    /// Resizing costs time in proportion to the longer side times the output size, so a
    /// 4,000,000×1 image within the pixel budget would still take minutes.
    pub const MAX_ASPECT_RATIO: u32 = 64;
    /// Most attention values one decoding step may compute: captions decoded at once (a beam,
    /// or a greedy batch of images) × grid cells × `attention.dim`, each held by a few tensors
    /// at a time (2²⁶, 256 MiB as f32; a 14×14 grid with attention of 512 allows 668 captions
    /// at once). Each factor is capped on its own, but their product was not: a bundle within
    /// every cap above (a 64×64 grid, attention of 8192) made `--beam 64` ask for 4.8 GB at once.
    pub const MAX_ATTENTION_VALUES: u64 = 1 << 26;
    /// Most word scores (logits, then log-probabilities) computed at once: captions decoded
    /// together × the vocabulary, or a scored caption's positions × the vocabulary (2²⁶, as
    /// [`MAX_ATTENTION_VALUES`]). A vocabulary of a million words is within its cap, and so is a
    /// caption of 199 words, but scoring one against the other took several copies of 800 MB.
    pub const MAX_WORD_SCORES: u64 = 1 << 26;
    /// Most input pixels the encoder takes at once (2²², 64 images of 256×256; about 96 bytes of
    /// activations a pixel, measured: 1,600 images of 224×224 took 7.7 GB). A batch of 64 was
    /// safe at 224 pixels but not at the 1,024 a bundle may declare: 6.6 GB, and an abort.
    pub const MAX_ENCODER_PIXELS: u64 = 1 << 22;
}

/// The presets are the only place model defaults live: the CLI's flags, a fresh decoder for an
/// imported encoder and training's config all start from one of them.
impl ModelConfig {
    /// The notebook's model: ResNet-50, tanh attention of 256, embeddings of 300, LSTM of 512,
    /// dropout 0.3, no gate.
    pub fn notebook(vocab_size: usize) -> Self {
        ModelConfig {
            version: CONFIG_VERSION,
            encoder: EncoderConfig {
                arch: EncoderArch::Resnet50,
                width_multiplier: 1.0,
                pooled_grid: None,
            },
            attention: AttentionConfig {
                dim: 256,
                activation: AttentionActivation::Tanh,
                gate: false,
            },
            decoder: DecoderConfig {
                vocab_size,
                embed_dim: 300,
                decoder_dim: 512,
                dropout: 0.3,
            },
            preprocess: PreprocessConfig::default(),
        }
    }

    /// sgrvinod's tutorial: ResNet-101 pooled to 14×14, relu attention of 512 with a gate,
    /// embeddings of 512, LSTM of 512, dropout 0.5, 256×256 input.
    pub fn sgrvinod(vocab_size: usize) -> Self {
        ModelConfig {
            version: CONFIG_VERSION,
            encoder: EncoderConfig {
                arch: EncoderArch::Resnet101,
                width_multiplier: 1.0,
                pooled_grid: Some([14, 14]),
            },
            attention: AttentionConfig {
                dim: 512,
                activation: AttentionActivation::Relu,
                gate: true,
            },
            decoder: DecoderConfig {
                vocab_size,
                embed_dim: 512,
                decoder_dim: 512,
                dropout: 0.5,
            },
            preprocess: PreprocessConfig {
                size: [256, 256],
                ..PreprocessConfig::default()
            },
        }
    }

    /// Parses and validates a config from JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        if json.len() > limits::MAX_CONFIG_JSON_BYTES {
            return Err(Error::Config(format!(
                "{} bytes of JSON, over the limit of {}",
                json.len(),
                limits::MAX_CONFIG_JSON_BYTES
            )));
        }
        // Read the version first so that a newer format gets a version error, not a field error.
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| Error::Config(format!("not JSON: {e}")))?;
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == CONFIG_VERSION as u64 => {}
            Some(v) => {
                return Err(Error::Config(format!(
                    "version {v} is not supported (this build reads version {CONFIG_VERSION})"
                )));
            }
            None => return Err(Error::Config("field `version` is missing".into())),
        }
        // From the text, not the value: a value keeps the last of a field given twice, which a
        // first-wins reader of the same bundle would not use (hostile round 22).
        let config: ModelConfig = serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a config always serialises")
    }

    /// Checks that `vocabulary` is the one this model's decoder was made for: its word ids
    /// index the embedding and the output layer, so a longer one reads past their rows.
    pub fn check_vocabulary(&self, vocabulary: &crate::Vocabulary) -> Result<()> {
        if vocabulary.len() != self.decoder.vocab_size {
            return Err(Error::Config(format!(
                "vocabulary has {} words but decoder.vocab_size is {}",
                vocabulary.len(),
                self.decoder.vocab_size
            )));
        }
        Ok(())
    }

    /// Checks every value against the caps in [`limits`], before anything is allocated from
    /// it: a config comes from a file, and its numbers size the model's tensors.
    pub fn validate(&self) -> Result<()> {
        if self.version != CONFIG_VERSION {
            return Err(Error::Config(format!(
                "version {} is not supported",
                self.version
            )));
        }
        self.validate_encoder()?;
        self.validate_sizes()?;
        self.validate_matrices()?;
        self.preprocess.validate()
    }

    /// The width multiplier and the pooled grid.
    fn validate_encoder(&self) -> Result<()> {
        let m = self.encoder.width_multiplier;
        if !(m.is_finite() && m > 0.0 && m <= limits::MAX_WIDTH_MULTIPLIER) {
            return Err(Error::Config(format!(
                "encoder.width_multiplier {m} must be in (0, {}]",
                limits::MAX_WIDTH_MULTIPLIER
            )));
        }
        if self.encoder.arch != EncoderArch::MobilenetV2 {
            let base = BASE_WIDTH as f64 * m;
            if base.fract() != 0.0 {
                return Err(Error::Config(format!(
                    "encoder.width_multiplier {m} gives a ResNet base width of {base}, not a whole number"
                )));
            }
        }
        if let Some([h, w]) = self.encoder.pooled_grid {
            check_grid(h, w)?;
        }
        Ok(())
    }

    /// Vocabulary, layer widths and dropout.
    fn validate_sizes(&self) -> Result<()> {
        let vocab = self.decoder.vocab_size;
        if !(limits::MIN_VOCAB_SIZE..=limits::MAX_VOCAB_SIZE).contains(&vocab) {
            return Err(Error::Config(format!(
                "decoder.vocab_size {vocab} must be within {}..={} (the four special tokens, \
                 and at most {} words)",
                limits::MIN_VOCAB_SIZE,
                limits::MAX_VOCAB_SIZE,
                limits::MAX_VOCAB_SIZE
            )));
        }
        for (name, value) in [
            ("attention.dim", self.attention.dim),
            ("decoder.embed_dim", self.decoder.embed_dim),
            ("decoder.hidden_dim", self.decoder.decoder_dim),
        ] {
            if !(1..=limits::MAX_LAYER_DIM).contains(&value) {
                return Err(Error::Config(format!(
                    "{name} {value} must be within 1..={}",
                    limits::MAX_LAYER_DIM
                )));
            }
        }
        let p = self.decoder.dropout;
        if !(p.is_finite() && (0.0..1.0).contains(&p)) {
            return Err(Error::Config(format!("decoder.dropout {p} must be in [0, 1)")));
        }
        Ok(())
    }

    /// The element count of every decoder weight matrix, and of them all, computed in `u64`
    /// with checked arithmetic (on wasm32 `usize` has 32 bits): the model allocates them
    /// before any weight from the file is compared with them.
    fn validate_matrices(&self) -> Result<()> {
        let mut total: u64 = 0;
        for Matrix {
            what,
            rows,
            columns,
            copies,
        } in self.decoder_matrices()
        {
            let elements = (rows as u64).checked_mul(columns as u64);
            match elements {
                Some(n) if n <= limits::MAX_MATRIX_ELEMENTS => total = total.saturating_add(n * copies),
                _ => {
                    return Err(Error::Config(format!(
                        "{what} would be a {rows}×{columns} matrix, over the limit of {} elements",
                        limits::MAX_MATRIX_ELEMENTS
                    )));
                }
            }
        }
        if total > limits::MAX_DECODER_PARAMETERS {
            return Err(Error::Config(format!(
                "the decoder would have {total} weights, over the limit of {}",
                limits::MAX_DECODER_PARAMETERS
            )));
        }
        Ok(())
    }

    /// How many weights the decoder's matrices hold (biases aside): what training's memory
    /// grows with. Only meaningful for a validated config.
    pub fn decoder_weights(&self) -> u64 {
        self.decoder_matrices()
            .iter()
            .map(|m| {
                (m.rows as u64)
                    .saturating_mul(m.columns as u64)
                    .saturating_mul(m.copies)
            })
            .fold(0, u64::saturating_add)
    }

    /// Every decoder weight matrix, named by the config fields that size it. Only called once
    /// the individual sizes passed their caps.
    fn decoder_matrices(&self) -> [Matrix; 7] {
        let (vocab, embed) = (self.decoder.vocab_size, self.decoder.embed_dim);
        let (hidden, attention) = (self.decoder.decoder_dim, self.attention.dim);
        let encoder = self.encoder_dim();
        // 4 · hidden ≤ 4 · MAX_LAYER_DIM and embed + encoder stay far below usize::MAX on
        // every target once the sizes passed their caps.
        let (gates, lstm_in) = (4 * hidden, embed + encoder);
        let matrix = |what, rows, columns, copies| Matrix {
            what,
            rows,
            columns,
            copies,
        };
        [
            matrix(
                "the embedding (decoder.vocab_size × decoder.embed_dim)",
                vocab,
                embed,
                1,
            ),
            matrix(
                "the output layer (decoder.vocab_size × decoder.hidden_dim)",
                vocab,
                hidden,
                1,
            ),
            matrix(
                "the LSTM input weights (4·decoder.hidden_dim × (decoder.embed_dim + encoder channels))",
                gates,
                lstm_in,
                1,
            ),
            matrix(
                "the LSTM recurrent weights (4·decoder.hidden_dim × decoder.hidden_dim)",
                gates,
                hidden,
                1,
            ),
            matrix(
                "attention U (encoder channels × attention.dim)",
                encoder,
                attention,
                1,
            ),
            matrix(
                "attention W (decoder.hidden_dim × attention.dim)",
                hidden,
                attention,
                1,
            ),
            // init_h and init_c, and f_beta (its transpose) counted whether gated or not.
            matrix(
                "init_h, init_c and f_beta (encoder channels × decoder.hidden_dim)",
                encoder,
                hidden,
                3,
            ),
        ]
    }

    /// Channels of each grid cell's feature vector (2048 for ResNet-50, 1280 for MobileNetV2).
    pub fn encoder_dim(&self) -> usize {
        encoder::encoder_dim(&self.encoder)
    }

    /// `[height, width]` of the attention grid for this config's input size.
    pub fn grid(&self) -> [usize; 2] {
        if let Some(grid) = self.encoder.pooled_grid {
            return grid;
        }
        let [h, w] = self.preprocess.size;
        [encoder::native_grid(h as usize), encoder::native_grid(w as usize)]
    }

    /// Checks that decoding `rows` captions at once (`what`: how the caller sets that number)
    /// stays within [`limits::MAX_ATTENTION_VALUES`] and [`limits::MAX_WORD_SCORES`] for this
    /// model, before anything is decoded.
    pub fn check_decoding_rows(&self, rows: usize, what: &str) -> Result<()> {
        self.check_word_scores(rows, what)?;
        let per_row = (self.positions() as u64).saturating_mul(self.attention.dim as u64);
        let values = per_row.saturating_mul(rows as u64);
        if values > limits::MAX_ATTENTION_VALUES {
            let most = limits::MAX_ATTENTION_VALUES / per_row.max(1);
            return Err(Error::InvalidArgument(format!(
                "{what} {rows} × {} attention cells × attention.dim {} = {values} values a step, over the \
                 limit of {}: this model decodes at most {most} at once",
                self.positions(),
                self.attention.dim,
                limits::MAX_ATTENTION_VALUES
            )));
        }
        Ok(())
    }

    /// Checks that scoring every word of the vocabulary for `rows` captions or positions at
    /// once (`what`: how the caller sets that number) stays within
    /// [`limits::MAX_WORD_SCORES`].
    pub fn check_word_scores(&self, rows: usize, what: &str) -> Result<()> {
        let words = self.decoder.vocab_size as u64;
        let values = words.saturating_mul(rows as u64);
        if values > limits::MAX_WORD_SCORES {
            return Err(Error::InvalidArgument(format!(
                "{what} {rows} × {words} words = {values} word scores at once, over the limit of {}: \
                 this model scores at most {} at once",
                limits::MAX_WORD_SCORES,
                self.word_score_rows()
            )));
        }
        Ok(())
    }

    /// How many rows of scores over the whole vocabulary fit [`limits::MAX_WORD_SCORES`].
    fn word_score_rows(&self) -> u64 {
        limits::MAX_WORD_SCORES / (self.decoder.vocab_size as u64).max(1)
    }

    /// Checks that a caption of `words` words may be scored: every position, its end token's
    /// among them, is scored against the whole vocabulary at once ([`limits::MAX_WORD_SCORES`]).
    pub fn check_scored_words(&self, words: usize) -> Result<()> {
        let vocabulary = self.decoder.vocab_size as u64;
        let most = self.word_score_rows().saturating_sub(1);
        if words as u64 > most {
            return Err(Error::InvalidArgument(format!(
                "a caption of {words} words and its end token is {} × {vocabulary} word scores at once, \
                 over the limit of {}: this model scores captions of at most {most} words",
                words as u64 + 1,
                limits::MAX_WORD_SCORES
            )));
        }
        Ok(())
    }

    /// Checks that the encoder may take `images` inputs at once
    /// ([`limits::MAX_ENCODER_PIXELS`]).
    pub fn check_encoder_batch(&self, images: usize) -> Result<()> {
        let pixels = self.input_pixels().saturating_mul(images as u64);
        if pixels > limits::MAX_ENCODER_PIXELS {
            let [h, w] = self.preprocess.size;
            return Err(Error::InvalidArgument(format!(
                "{images} images of {w}×{h} = {pixels} pixels for the encoder at once, over the limit of {}: \
                 this model encodes at most {} at once",
                limits::MAX_ENCODER_PIXELS,
                self.images_at_once(false)
            )));
        }
        Ok(())
    }

    /// The most images this model takes at once within its encoder's and (when they are
    /// decoded together, `greedy`) its attention's and word scores' budgets; at least 1 (the
    /// caps on the input size, a row's attention and the vocabulary leave room for one).
    pub fn images_at_once(&self, greedy: bool) -> usize {
        let by_encoder = limits::MAX_ENCODER_PIXELS / self.input_pixels().max(1);
        let per_row = (self.positions() as u64).saturating_mul(self.attention.dim as u64);
        let by_attention = match greedy {
            true => (limits::MAX_ATTENTION_VALUES / per_row.max(1)).min(self.word_score_rows()),
            false => u64::MAX,
        };
        by_encoder
            .min(by_attention)
            .max(1)
            .try_into()
            .unwrap_or(usize::MAX)
    }

    /// Pixels of one encoder input.
    fn input_pixels(&self) -> u64 {
        let [h, w] = self.preprocess.size;
        u64::from(h) * u64::from(w)
    }

    /// Values one decoder step computes for one caption: the attention over every cell, the
    /// scores of every word, the LSTM's gates and its input. What training keeps for the
    /// backward pass grows with it (see the trainer's activation cap).
    pub fn step_values(&self) -> u64 {
        let attention = (self.positions() as u64).saturating_mul(self.attention.dim as u64);
        let rest = [
            self.decoder.vocab_size,
            self.decoder.decoder_dim.saturating_mul(4),
            self.decoder.embed_dim,
            self.encoder_dim(),
        ];
        rest.iter()
            .fold(attention, |sum, &n| sum.saturating_add(n as u64))
    }

    /// Number of positions attention spreads over.
    pub fn positions(&self) -> usize {
        let [h, w] = self.grid();
        h * w
    }

    /// The decoder's sizes (attention's among them) for this config's encoder.
    pub fn decoder_dims(&self) -> DecoderDims {
        DecoderDims {
            vocab_size: self.decoder.vocab_size,
            embed_dim: self.decoder.embed_dim,
            decoder_dim: self.decoder.decoder_dim,
            encoder_dim: self.encoder_dim(),
            attention_dim: self.attention.dim,
            activation: self.attention.activation,
            gate: self.attention.gate,
            dropout: self.decoder.dropout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_defaults_give_a_7x7_grid_of_2048() {
        let config = ModelConfig::notebook(5000);
        assert_eq!(config.encoder_dim(), 2048);
        assert_eq!(config.grid(), [7, 7]);
        assert_eq!(config.positions(), 49);
        config.validate().unwrap();
    }

    #[test]
    fn encoder_dims_follow_torchvision() {
        let mut config = ModelConfig::notebook(10);
        for (arch, dim) in [
            (EncoderArch::Resnet18, 512),
            (EncoderArch::Resnet34, 512),
            (EncoderArch::Resnet101, 2048),
            (EncoderArch::Resnet152, 2048),
            (EncoderArch::MobilenetV2, 1280),
        ] {
            config.encoder.arch = arch;
            assert_eq!(config.encoder_dim(), dim, "{arch:?}");
        }
        config.encoder.width_multiplier = 1.4;
        assert_eq!(config.encoder_dim(), 1792);
    }

    #[test]
    fn sgrvinod_pools_to_14x14() {
        let config = ModelConfig::sgrvinod(9490);
        assert_eq!(config.grid(), [14, 14]);
        assert_eq!(config.positions(), 196);
    }

    #[test]
    fn grid_follows_input_size() {
        let mut config = ModelConfig::notebook(10);
        config.preprocess.size = [256, 320];
        assert_eq!(config.grid(), [8, 10]);
        config.preprocess.size = [225, 225];
        assert_eq!(config.grid(), [8, 8]);
    }

    #[test]
    fn json_round_trips() {
        let config = ModelConfig::sgrvinod(123);
        let back = ModelConfig::from_json(&config.to_json()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn the_lstm_size_keeps_its_json_key() {
        let json = ModelConfig::notebook(10).to_json();
        assert!(json.contains(r#""hidden_dim":512"#), "{json}");
        assert!(!json.contains("decoder_dim"), "{json}");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let mut value: serde_json::Value =
            serde_json::from_str(&ModelConfig::notebook(10).to_json()).unwrap();
        value["decoder"]["heads"] = 8.into();
        let err = ModelConfig::from_json(&value.to_string()).unwrap_err();
        assert!(err.to_string().contains("unknown field `heads`"), "{err}");
    }

    #[test]
    fn unknown_versions_are_refused() {
        let mut value: serde_json::Value =
            serde_json::from_str(&ModelConfig::notebook(10).to_json()).unwrap();
        value["version"] = 2.into();
        let err = ModelConfig::from_json(&value.to_string()).unwrap_err();
        assert!(err.to_string().contains("version 2 is not supported"), "{err}");
        value.as_object_mut().unwrap().remove("version");
        let err = ModelConfig::from_json(&value.to_string()).unwrap_err();
        assert!(err.to_string().contains("`version` is missing"), "{err}");
    }

    /// A field given twice is refused, at any depth: the last one was used, where a first-wins
    /// reader of the same bundle would use the other (hostile round 22).
    #[test]
    fn fields_given_twice_are_refused() {
        let json = ModelConfig::notebook(10).to_json();
        assert!(ModelConfig::from_json(&json).is_ok());
        for (field, first) in [("\"version\":", "1"), ("\"mean\":", "[100,100,100]")] {
            assert!(json.contains(field), "{json}");
            let twice = json.replacen(field, &format!("{field}{first},{field}"), 1);
            let err = ModelConfig::from_json(&twice).unwrap_err().to_string();
            assert!(err.contains("duplicate field"), "{field}: {err}");
        }
    }

    #[test]
    fn inconsistent_values_are_refused() {
        let mut config = ModelConfig::notebook(10);
        config.decoder.dropout = 1.0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("decoder.dropout")
        );
        let mut config = ModelConfig::notebook(10);
        config.encoder.width_multiplier = 0.3;
        assert!(config.validate().unwrap_err().to_string().contains("base width"));
        let mut config = ModelConfig::notebook(10);
        config.preprocess.std[1] = 0.0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("preprocess.std")
        );
        let mut config = ModelConfig::notebook(2);
        config.decoder.vocab_size = 2;
        assert!(config.validate().unwrap_err().to_string().contains("vocab_size"));
    }
}
