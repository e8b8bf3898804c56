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

pub mod activation;
pub mod attention;
pub mod bundle;
pub mod captioner;
pub mod config;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod generate;
pub mod lstm;
pub mod model;
pub mod params;
pub mod preprocess;
pub mod vocab;
pub mod weights;

pub use bundle::{Bundle, ModelCard, StorageType};
pub use captioner::Captioner;
pub use config::{
    AttentionActivation, AttentionConfig, DecoderConfig, EncoderArch, EncoderConfig, ModelConfig,
    PreprocessConfig,
};
pub use error::{Error, Result};
pub use generate::{Caption, GenerateOptions};
pub use model::CaptionModel;
pub use vocab::Vocabulary;
pub use weights::{HostTensor, TensorMap};
