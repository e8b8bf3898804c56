//! Bundles: parsed, loaded into a model, and (when the model is small enough to run in a
//! fuzzing iteration) used to caption a photo greedily and with a beam.
//!
//! The first byte chooses how the rest is read. `0`: the bytes are the whole file. `1`: the
//! bytes are the safetensors header (its JSON), and the tensor data it declares is filled in
//! here, so that mutations reach the config, the vocabulary and the tensor table instead of
//! mostly landing in weights.

use burn::tensor::Device;
use glimpse_model::bundle::{Bundle, StorageType};
use glimpse_model::{Captioner, Decoding, GenerateOptions};

use crate::check_refusal;

/// The most tensor data filled in after a header (16 MiB): more than any model that captions
/// within a fuzzing iteration.
const MAX_FILL: u64 = 16 << 20;
/// Models whose input is larger than this many pixels are loaded but not run.
pub const MAX_RUN_PIXELS: u64 = 64 * 64;

pub fn run(data: &[u8]) {
    let Some(file) = bundle_file(data) else {
        return;
    };
    match Bundle::from_bytes(&file) {
        Ok(bundle) => check_bundle(bundle),
        Err(error) => check_refusal(error),
    }
}

/// The bundle file `data` stands for (see the module's docs); `None` for an empty input.
pub fn bundle_file(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    Some(match mode {
        1 => with_filled_data(rest),
        _ => rest.to_vec(),
    })
}

/// `header` as a safetensors file: its length, itself, and `0x3C` bytes (finite in f32, f16
/// and bf16) up to the furthest data offset it names.
pub fn with_filled_data(header: &[u8]) -> Vec<u8> {
    let data_len = serde_json::from_slice::<serde_json::Value>(header)
        .ok()
        .and_then(|value| furthest_offset(&value))
        .unwrap_or(0)
        .min(MAX_FILL);
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.resize(file.len() + data_len as usize, 0x3C);
    file
}

/// The largest `data_offsets` end in a safetensors header.
fn furthest_offset(header: &serde_json::Value) -> Option<u64> {
    header
        .as_object()?
        .values()
        .filter_map(|tensor| tensor.get("data_offsets")?.get(1)?.as_u64())
        .max()
}

/// An accepted bundle survives a write and a read, and either loads or is refused; a loaded
/// small model captions (or refuses to, for NaN) without panicking.
fn check_bundle(bundle: Bundle) {
    let bytes = bundle
        .to_bytes(StorageType::F32)
        .expect("an accepted bundle is writable");
    let read = Bundle::from_bytes(&bytes).expect("a written bundle reads back");
    assert_eq!(read, bundle, "the bundle changed on its way through a file");
    // Stored as int8, all or the decoder's (when its other tensors fit in f16), it reads back with
    // the same tensors.
    for storage in [StorageType::Int8, StorageType::Int8Decoder] {
        let Ok(int8) = bundle.to_bytes(storage) else {
            continue;
        };
        let read = Bundle::from_bytes(&int8).expect("an int8 bundle reads back");
        let shapes = |b: &Bundle| {
            b.weights
                .iter()
                .map(|(name, t)| (name.to_string(), t.shape.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shapes(&read),
            shapes(&bundle),
            "{storage:?} storage changed the tensors"
        );
    }
    let device = Device::flex();
    let captioner = match Captioner::from_bundle(bundle, &device) {
        Ok(captioner) => captioner,
        Err(error) => return check_refusal(error),
    };
    let [h, w] = captioner.config.preprocess.size;
    if u64::from(h) * u64::from(w) > MAX_RUN_PIXELS {
        return;
    }
    for decoding in [
        Decoding::Greedy,
        Decoding::Beam {
            width: 2,
            length_penalty: 1.0,
        },
    ] {
        caption_gray(&captioner, decoding);
    }
}

/// Captions a mid-gray photo; every word's attention is one finite weight per grid cell.
fn caption_gray(captioner: &Captioner, decoding: Decoding) {
    let [h, w] = captioner.config.preprocess.size;
    let input = vec![0.5f32; 3 * h as usize * w as usize];
    let options = GenerateOptions { decoding, max_len: 4 };
    match pollster::block_on(captioner.caption_inputs(&[input], options)) {
        Ok(captions) => {
            for caption in captions {
                let cells = caption.grid[0] * caption.grid[1];
                assert_eq!(caption.tokens.len(), caption.attention.len());
                for map in &caption.attention {
                    assert_eq!(map.len(), cells, "an attention map of the wrong size");
                    assert!(map.iter().all(|a| a.is_finite()), "a non-finite attention weight");
                }
            }
        }
        Err(error) => check_refusal(error),
    }
}
