//! # glimpse-metrics
//!
//! Caption metrics computed the way coco-caption (pycocoevalcap 1.2) computes them, in pure Rust
//! so that the trainer, the evaluator and CI need no Python or Java.

pub mod bleu;
pub mod cider;
mod ngrams;
pub mod rouge;
pub mod tokenize;

pub use bleu::{Bleu, BleuScores};
pub use cider::Cider;
pub use rouge::{RougeL, rouge_l};
pub use tokenize::tokenize;
