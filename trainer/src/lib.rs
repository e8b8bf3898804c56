//! The native Glimpse tool as a library: the `glimpse` binary is a thin command-line layer over
//! these modules, and the integration tests call them directly.

pub mod backend;
pub mod caption;
pub mod clip;
pub mod clip_score;
pub mod compare;
pub mod data;
pub mod download;
pub mod evaluate;
pub mod export;
pub mod grounding;
pub mod hf_folder;
pub mod plot;
pub mod pth;
pub mod report;
pub mod rng;
pub mod similarity;
pub mod synth;
pub mod torch_import;
pub mod train;
