//! # glimpse-metrics
//!
//! Caption metrics computed the way coco-caption (pycocoevalcap 1.2) computes them, in pure Rust
//! so that the trainer, the evaluator and CI need no Python or Java.
//!
//! ```
//! use glimpse_metrics::{Bleu, Cider, RougeL, tokenize};
//!
//! let candidate = tokenize("A dog runs on the grass.");
//! let references = vec![tokenize("a dog running on grass"), tokenize("The dog runs across a lawn")];
//! let (mut bleu, mut rouge, mut cider) = (Bleu::new(), RougeL::new(), Cider::new());
//! bleu.add(&candidate, &references);
//! rouge.add(&candidate, &references);
//! cider.add(&candidate, &references);
//! let (cider_corpus, _per_image) = cider.scores();
//! println!("BLEU-4 {:.3}, ROUGE-L {:.3}, CIDEr {cider_corpus:.3}", bleu.scores().corpus[3], rouge.corpus());
//! ```

pub mod bleu;
pub mod cider;
mod ngrams;
pub mod rouge;
pub mod tokenize;

pub use bleu::{Bleu, BleuScores};
pub use cider::Cider;
pub use rouge::{RougeL, rouge_l};
pub use tokenize::tokenize;
