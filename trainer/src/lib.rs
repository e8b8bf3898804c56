//! The native Glimpse trainer as a library: training runs (loop, step, loss, checkpoints, the
//! frozen encoder's feature cache, curves) and their export as bundles. The `glimpse` binary
//! (`src/main.rs`, one file per command under `src/commands/`) is a thin layer over this crate
//! and the `glimpse-*` crates.
//!
//! ```no_run
//! use glimpse::backend::Backend;
//! use glimpse::export::{ExportRequest, Which, export};
//! use glimpse::train::config::TrainConfig;
//! use glimpse::train::{self, TrainOutcome, TrainRequest};
//! use glimpse_model::StorageType;
//!
//! let request = TrainRequest {
//!     data: Some("data/shapes".into()), // any folder `glimpse_data::Dataset::load` reads
//!     run: "runs/shapes".into(),
//!     config: TrainConfig::default(), // the notebook's decoder sizes
//!     resume: false,
//!     devices: Backend::Flex.devices(1)?,
//!     backend_name: "flex",
//!     memory: glimpse::memory::limit(), // the host's: the CPU backend keeps a step there
//!     checkpoint_every: 200,
//!     max_steps: None,
//! };
//! if let TrainOutcome::Finished(state) = train::run(&request)? {
//!     println!("best validation BLEU-4 {:?}", state.best_bleu4);
//!     let bundle = export(&ExportRequest {
//!         run: request.run.clone(),
//!         which: Which::Best,
//!         name: None,
//!         description: None,
//!     })?;
//!     std::fs::write("shapes.safetensors", bundle.to_bytes(StorageType::F16)?)?;
//! }
//! # anyhow::Ok(())
//! ```

pub mod backend;
pub mod card;
pub mod export;
pub mod files;
pub mod memory;
pub mod model_card;
pub mod signals;
pub mod train;
