//! The importer on a fuzzed pickle over the notebook checkpoint's real storages: layout
//! detection, name mapping, config inference and the load check all see hostile names, shapes,
//! strides, offsets and storage keys.

use std::fs;

use burn::tensor::Device;
use glimpse_import::{ImportRequest, Imported, import};
use glimpse_model::Captioner;
use glimpse_model::bundle::{Bundle, StorageType};

use crate::archive::{NOTEBOOK_VOCAB, with_pickle};
use crate::check_refusal;

pub fn run(pickle: &[u8]) {
    let device = Device::flex();
    match import_pickle(pickle, &device) {
        Ok(imported) => check_bundle_loads(imported.bundle, &device),
        Err(error) => check_refusal(error),
    }
}

/// `glimpse import torch` of the notebook checkpoint with `pickle` as its `data.pkl`.
pub fn import_pickle(pickle: &[u8], device: &Device) -> anyhow::Result<Imported> {
    let dir = tempfile::tempdir()?;
    let checkpoint = dir.path().join("checkpoint.pth");
    let vocab = dir.path().join("vocab.json");
    fs::write(&checkpoint, with_pickle(pickle))?;
    fs::write(&vocab, NOTEBOOK_VOCAB)?;
    let request = ImportRequest {
        checkpoint: Some(checkpoint),
        vocab: Some(vocab),
        created: "2026-01-01".into(),
        ..ImportRequest::default()
    };
    import(&request, device)
}

/// An imported bundle is written, read back unchanged, and loads (the import promises it).
fn check_bundle_loads(bundle: Bundle, device: &Device) {
    let bytes = bundle
        .to_bytes(StorageType::F32)
        .expect("an imported bundle is writable");
    let read = Bundle::from_bytes(&bytes).expect("an imported bundle reads back");
    assert_eq!(read, bundle, "the bundle changed on its way through a file");
    Captioner::from_bundle(read, device).expect("an imported bundle loads");
}
