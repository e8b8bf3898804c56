//! # glimpse-model
//!
//! The "Show, Attend and Tell" captioner in burn, shared byte-for-byte by the native `glimpse`
//! binary and the browser build: a torchvision CNN encoder (ResNet 18–152 or MobileNetV2) cut
//! before pooling, Bahdanau soft attention over its grid, an LSTM-cell decoder, and greedy and
//! beam search that return one attention map per word.
//!
//! The crate does no file I/O: bundles and images come in as bytes, captions go out as values.
//! All readbacks are async so the same code runs under WebGPU.
//!
//! ```text
//! image bytes ─ preprocess ─▶ [B,3,H,W] ─ encoder ─▶ [B,P,E] ─┬─ attention(h) ─▶ α [B,P], z [B,E]
//!                                                               └─ lstm([embed(w); z]) ─▶ fcn ─▶ word
//! ```
//!
//! ## Quick start
//!
//! Load a bundle onto burn's pure-Rust CPU backend (`flex`; any burn `Device` works) and caption
//! a photo with a beam of three. Captioning is async because browsers forbid blocking readback;
//! natively, block on it.
//!
//! ```no_run
//! use burn::tensor::Device;
//! use glimpse_model::{Captioner, Decoding, GenerateOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let captioner = Captioner::from_bytes(&std::fs::read("model.safetensors")?, &Device::flex())?;
//! let options = GenerateOptions {
//!     decoding: Decoding::Beam { width: 3, length_penalty: 0.0 },
//!     ..GenerateOptions::default()
//! };
//! let image = std::fs::read("photo.jpg")?;
//! let caption = pollster::block_on(captioner.caption_bytes(&image, options))?;
//! println!("{}", caption.text());
//! let [rows, columns] = caption.grid;
//! // One map per word: rows × columns weights, row-major, summing to 1.
//! for (word, map) in caption.tokens.iter().zip(&caption.attention) {
//!     let peak = (0..map.len()).fold(0, |best, cell| if map[cell] > map[best] { cell } else { best });
//!     let (row, column) = (peak / columns, peak % columns);
//!     println!("{word}: {map:.2?}, most at row {row} of {rows}, column {column} of {columns}");
//! }
//! # Ok(())
//! # }
//! ```

pub mod activation;
pub mod attention;
pub mod bundle;
pub mod captioner;
pub mod config;
pub mod conv_kernels;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod generate;
pub mod lstm;
pub mod model;
pub mod params;
pub mod preprocess;
pub mod quantize;
pub mod vocab;
pub mod weights;

pub use bundle::{Bundle, ModelCard, StorageType};
pub use captioner::{Captioner, StageTimes};
pub use config::{
    AttentionActivation, AttentionConfig, DecoderConfig, EncoderArch, EncoderConfig, ModelConfig,
    PreprocessConfig,
};
pub use error::{Error, Result};
pub use generate::{
    Alternative, Caption, Decoding, ExploreOptions, GPU_STEPS_PER_READBACK, GenerateOptions, ScoredCaption,
    ScoredWord,
};
pub use model::CaptionModel;
pub use vocab::Vocabulary;
pub use weights::{HostTensor, TensorMap};
