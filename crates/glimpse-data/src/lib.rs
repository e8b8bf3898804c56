//! # glimpse-data
//!
//! Captioning datasets as people have them on disk (Flickr8k from Kaggle or the original
//! release, Karpathy's JSON splits for Flickr8k/30k and COCO), read into one shape: images with
//! their tokenised references, split into train / val / test, every bad row reported with its
//! `file:line`. Also the vocabulary built from the training split, the synthetic shapes set
//! (`glimpse synth`) with its sidecar of object boxes, a seeded random generator, and (feature
//! `download`) resumable, checksummed downloads of the public datasets and weights.
//!
//! ```no_run
//! use glimpse_data::{Dataset, LoadOptions, Split, build_vocabulary};
//!
//! let data = Dataset::load("data/flickr8k".as_ref(), &LoadOptions::default())?;
//! let train = data.split(Split::Train);
//! let vocab = build_vocabulary(train, 5)?;
//! println!("{} training images, {} words", train.len(), vocab.len());
//! # anyhow::Ok(())
//! ```

pub mod dataset;
#[cfg(feature = "download")]
pub mod download;
pub mod flickr8k;
mod karpathy;
pub mod problems;
#[cfg(feature = "download")]
pub mod proxy;
pub mod rng;
pub mod split;
pub mod synth;
mod text;
#[cfg(feature = "download")]
pub mod unzip;
pub mod vocab_builder;

pub use dataset::{Dataset, DatasetFormat, LoadOptions, Sample};
pub use problems::Problems;
pub use rng::Rng;
pub use split::Split;
pub use text::{MAX_CAPTIONS, MAX_WORDS};
pub use vocab_builder::build_vocabulary;
