//! # glimpse-eval
//!
//! Scoring captioners the way the captioning literature does: caption a dataset split with a
//! bundle, score it against the references as coco-caption does (BLEU-1..4, ROUGE-L, CIDEr-D),
//! measure where the attention of colour and shape words falls on synthetic data (grounding),
//! and write a self-contained HTML report with the attention figures. With the `embeddings`
//! feature, also the original report's embedding similarity (all-MiniLM-L6-v2), CLIPScore and
//! RefCLIPScore, run by candle.
//!
//! ```no_run
//! use glimpse_data::Split;
//! use glimpse_eval::evaluate::{EvalRequest, evaluate};
//! use glimpse_model::Decoding;
//!
//! # fn device() -> burn::tensor::Device { unimplemented!() }
//! let evaluation = evaluate(&EvalRequest {
//!     model: "model.safetensors".into(),
//!     data: "data/flickr8k".into(),
//!     split: Split::Test,
//!     ..EvalRequest::new(device())
//! })?;
//! println!("{:?}", evaluation.metrics);
//! # anyhow::Ok(())
//! ```

pub mod captioning;
pub mod compare;
#[cfg(feature = "embeddings")]
pub mod embed;
pub mod evaluate;
pub mod figure;
pub mod grounding;
pub mod report;
