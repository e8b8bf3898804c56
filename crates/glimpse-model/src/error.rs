//! Every way loading a model or captioning an image can fail, each naming what was wrong.

use std::fmt;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Messages name the tensor, field or limit at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a safetensors file at all.
    #[error("not a safetensors bundle: {0}")]
    NotSafetensors(String),

    /// The header promises more bytes than the file holds.
    #[error("bundle is truncated: {0}")]
    Truncated(String),

    /// A tensor is stored in a type the bundle format does not allow.
    #[error(
        "tensor `{name}` is stored as {dtype}; bundles hold F32 or F16 tensors, or I8 ones with a scale tensor"
    )]
    UnsupportedDtype { name: String, dtype: String },

    /// The tensors do not fit the model the config describes.
    #[error("{0}")]
    Weights(WeightsMismatch),

    /// An int8 tensor and its scales do not belong together, or cannot be written together.
    #[error("int8 tensor `{name}`: {message}")]
    Quantized { name: String, message: String },

    /// A tensor holds NaN or an infinity.
    #[error("tensor `{name}` holds a non-finite value ({value}) at flat index {index}")]
    NonFinite { name: String, index: usize, value: f32 },

    /// A BatchNorm running variance below 0 (whose square root is NaN).
    #[error("tensor `{name}` holds {value} at flat index {index}, but a variance cannot be negative")]
    NegativeVariance { name: String, index: usize, value: f32 },

    /// The vocabulary does not fit the embedding / output layers.
    #[error("vocabulary has {vocab} words but `{tensor}` has {rows} rows")]
    VocabularySize {
        vocab: usize,
        tensor: String,
        rows: usize,
    },

    /// A metadata entry is missing or malformed.
    #[error("bundle metadata `{field}`: {message}")]
    Metadata { field: String, message: String },

    /// The model config is inconsistent or of an unknown version.
    #[error("model config: {0}")]
    Config(String),

    /// The vocabulary cannot be used.
    #[error("vocabulary: {0}")]
    Vocabulary(String),

    /// The image cannot be decoded.
    #[error("image: {0}")]
    Image(String),

    /// The image header claims more pixels than the configured budget; nothing was decoded.
    #[error("image is {width}×{height} = {pixels} pixels, over the budget of {budget} pixels (not decoded)")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        budget: u64,
    },

    /// One side of the image is so much longer than the other that resizing it would take
    /// time out of proportion to its pixels; nothing was decoded.
    #[error(
        "image is {width}×{height}: its longer side is more than {limit} times its shorter one \
         (not decoded; crop it first)"
    )]
    AspectRatio { width: u32, height: u32, limit: u32 },

    /// The model computed NaN or an infinity: with finite weights and a validated config this
    /// means the weights are extreme enough to overflow f32.
    #[error(
        "the model computed a non-finite value ({value}) among its {what} at step {step}: its \
         weights, config or input are broken"
    )]
    NonFiniteOutput {
        what: &'static str,
        step: usize,
        value: f32,
    },

    /// Loading the model needs more memory than it may take here (a WebAssembly module's memory
    /// is capped); found from the bundle's header, before any weight was read.
    #[error(
        "loading this model takes at least {} (its file, {}, and its weights as 32-bit floats, {}), \
         more than the {} of memory it may use here",
        mib(file.saturating_add(*weights)), mib(*file), mib(*weights), mib(*memory)
    )]
    TooLarge { file: u64, weights: u64, memory: u64 },

    /// A tensor has more dimensions than any of a model's (a file may list millions).
    #[error(
        "tensor `{name}` has {rank} dimensions; a model's tensors have at most {}",
        crate::bundle::MAX_RANK
    )]
    Rank { name: String, rank: usize },

    /// A caller passed a value outside what the operation accepts.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The compute backend failed (a readback, a device loss).
    #[error("backend: {0}")]
    Backend(String),
}

/// `bytes` in MiB, rounded up (a need is never shown smaller than it is).
fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes.div_ceil(1 << 20))
}

/// A tensor name with its shape, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedShape {
    pub name: String,
    pub shape: Vec<usize>,
}

/// A tensor whose stored shape differs from what the model expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    pub name: String,
    pub expected: Vec<usize>,
    pub actual: Vec<usize>,
}

/// Everything that keeps a set of tensors from loading into a model, reported at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightsMismatch {
    pub missing: Vec<NamedShape>,
    pub unexpected: Vec<NamedShape>,
    pub wrong_shape: Vec<ShapeMismatch>,
}

impl WeightsMismatch {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.wrong_shape.is_empty()
    }
}

/// How many names of each kind a message lists before it summarises.
const LISTED: usize = 8;

/// Most characters of a file's own text (a word, a name, a parser's message) that a message
/// quotes: a bundle's header may hold 100 MB of it, which no message should repeat.
const EXCERPT_CHARS: usize = 80;

/// `text` as a message quotes it: whole when short, else its first [`EXCERPT_CHARS`] characters
/// and how long it is.
pub fn excerpt(text: &str) -> String {
    excerpt_of(text, EXCERPT_CHARS)
}

/// Most characters of a parser's message about a file that an error shows: three excerpts'
/// worth, the parser's own words around one quoted value.
const PARSER_MESSAGE_CHARS: usize = 240;

/// A parser's `message` about a file's text (which it may quote at any length), cut to
/// [`PARSER_MESSAGE_CHARS`].
pub fn parser_message(message: &str) -> String {
    excerpt_of(message, PARSER_MESSAGE_CHARS)
}

/// `text` whole when it has at most `most` characters, else its first `most` and its length.
pub fn excerpt_of(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
    }
}

impl fmt::Display for WeightsMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} missing tensor(s): {}",
                self.missing.len(),
                list(
                    self.missing
                        .iter()
                        .map(|t| format!("`{}` {}", t.name, dims(&t.shape)))
                )
            ));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!(
                "{} unexpected tensor(s): {}",
                self.unexpected.len(),
                list(
                    self.unexpected
                        .iter()
                        .map(|t| format!("`{}` {}", t.name, dims(&t.shape)))
                )
            ));
        }
        if !self.wrong_shape.is_empty() {
            parts.push(format!(
                "{} tensor(s) with the wrong shape: {}",
                self.wrong_shape.len(),
                list(self.wrong_shape.iter().map(|t| format!(
                    "`{}` is {}, expected {}",
                    t.name,
                    dims(&t.actual),
                    dims(&t.expected)
                )))
            ));
        }
        write!(f, "weights do not fit the model: {}", parts.join("; "))
    }
}

/// Most dimensions of a shape a message shows.
const SHOWN_DIMS: usize = 8;

/// `shape` as `[a, b, …]`, its first [`SHOWN_DIMS`] dimensions and how many there are past them.
fn dims(shape: &[usize]) -> String {
    match shape.get(..SHOWN_DIMS).filter(|_| shape.len() > SHOWN_DIMS) {
        Some(first) => format!("{:?}… ({} dimensions)", first, shape.len()),
        None => format!("{shape:?}"),
    }
}

fn list(items: impl ExactSizeIterator<Item = String>) -> String {
    let total = items.len();
    let mut shown: Vec<String> = items.take(LISTED).collect();
    if total > LISTED {
        shown.push(format!("and {} more", total - LISTED));
    }
    shown.join(", ")
}

impl From<image::ImageError> for Error {
    fn from(err: image::ImageError) -> Self {
        Error::Image(err.to_string())
    }
}
