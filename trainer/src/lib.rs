//! The native Glimpse trainer as a library: training runs (loop, step, loss, checkpoints, the
//! frozen encoder's feature cache, curves) and their export as bundles. The `glimpse` binary
//! (`src/main.rs`, one file per command under `src/commands/`) is a thin layer over this crate
//! and the `glimpse-*` crates.

pub mod backend;
pub mod card;
pub mod export;
pub mod train;
