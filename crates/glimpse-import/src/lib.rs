//! `glimpse import torch`: PyTorch checkpoints → one-file bundles.
//!
//! Reads zip-format and legacy `.pth` files with `glimpse-pth`, which parses the pickle
//! without executing anything in it. Three layouts are understood:
//!
//! - **torchvision**: an ImageNet state dict (ResNet-18…152 or MobileNetV2); `fc`/`classifier`
//!   are dropped and a freshly initialised decoder is added, ready for training;
//! - **notebook**: the widely used Kaggle notebook's `EncoderDecoder` state dict, at the top level
//!   or under `state_dict`, keys `encoder.resnet.{0,1,4,5,6,7}.*` and
//!   `decoder.{embedding,attention.{U,W,A},init_h,init_c,lstm_cell,f_beta,fcn}.*` (its `f_beta` is
//!   never used and is dropped), or `encoder.features.*` for MobileNetV2 (as
//!   [`notebook_state_dict`] writes a bundle back to PyTorch);
//! - **sgrvinod**: the tutorial's checkpoint (whole `encoder`/`decoder` modules, or their state
//!   dicts), `decoder.{attention.{encoder_att,decoder_att,full_att},decode_step,f_beta,fc,…}`,
//!   relu attention with the sigmoid gate and 14×14 pooling.
//!
//! The crate writes no files and knows no dates: [`import`] returns a [`Bundle`] and the caller
//! writes it.
//!
//! # Quick start
//!
//! A torchvision ResNet-50 with a fresh decoder, ready for training:
//!
//! ```no_run
//! use burn::tensor::Device;
//! use glimpse_import::{FreshDecoder, ImportRequest, import};
//! use glimpse_model::StorageType;
//!
//! # fn main() -> anyhow::Result<()> {
//! let request = ImportRequest {
//!     encoder: Some("resnet50-0676ba61.pth".into()),
//!     vocab: Some("vocab.json".into()),
//!     fresh_decoder: FreshDecoder { seed: 7, ..FreshDecoder::default() },
//!     created: "2026-01-01".into(),
//!     ..ImportRequest::default()
//! };
//! let imported = import(&request, &Device::flex())?;
//! for note in &imported.notes {
//!     eprintln!("note: {note}");
//! }
//! std::fs::write("resnet50-fresh.safetensors", imported.bundle.to_bytes(StorageType::F32)?)?;
//! # Ok(())
//! # }
//! ```
//!
//! [`Bundle`]: glimpse_model::bundle::Bundle

mod fresh;
mod import;
mod infer;
mod layout;
mod notebook_export;
#[cfg(test)]
mod peak_alloc;
mod torch_weights;
mod torchvision;

pub use fresh::FreshDecoder;
pub use import::{ImportRequest, Imported, import};
pub use infer::infer_encoder;
pub use layout::{CheckpointLayout, detect_layout, notebook_name};
pub use notebook_export::{import_flags, lost_in_round_trip, notebook_state_dict};
pub use torch_weights::{MAX_TOTAL_ELEMENTS, TorchWeights, read_checkpoint};
pub use torchvision::torchvision_encoder;
