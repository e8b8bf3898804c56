//! # glimpse-eval
//!
//! Scoring captioners the way the captioning literature does: caption a dataset split with a
//! bundle, score it against the references as coco-caption does (BLEU-1..4, ROUGE-L, CIDEr-D),
//! measure where the attention of colour and shape words falls on synthetic data (grounding),
//! and write a self-contained HTML report with the attention figures. With the `embeddings`
//! feature, also the original report's embedding similarity (all-MiniLM-L6-v2), CLIPScore and
//! RefCLIPScore, run by candle; without it, asking for them is an error.
//!
//! ```no_run
//! use burn::tensor::Device;
//! use glimpse_data::Split;
//! use glimpse_eval::evaluate::{EvalRequest, evaluate};
//! use glimpse_model::GenerateOptions;
//!
//! # fn main() -> anyhow::Result<()> {
//! let evaluation = evaluate(&EvalRequest {
//!     model: "model.safetensors".into(),
//!     data: "data/flickr8k".into(),
//!     split: Split::Test,
//!     options: GenerateOptions::default(),
//!     device: Device::default(),
//!     steps_per_readback: 1,
//!     batch: 16,
//!     limit: Some(100),
//!     out: Some("eval".into()),
//!     text_encoder: None,
//!     clip: None,
//! })?;
//! println!("CIDEr {:.3} over {} images", evaluation.metrics["CIDEr"], evaluation.images);
//! # Ok(())
//! # }
//! ```

pub mod caption_file;
pub mod captioning;
pub mod clip_score;
pub mod colormap;
pub mod compare;
#[cfg(feature = "embeddings")]
pub mod embed;
mod embedders;
pub mod evaluate;
pub mod figure;
pub mod grounding;
pub mod occlusion;
mod outputs;
pub mod report;
pub mod score;
pub mod similarity;
pub mod svg;
