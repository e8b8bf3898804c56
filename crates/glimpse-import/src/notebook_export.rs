//! A bundle back to PyTorch: its weights as the notebook's `EncoderDecoder.state_dict()` names
//! them, written as `torch.save` writes a state dict (`torch.load(…, weights_only=True)` reads it),
//! so a model trained by Glimpse goes back into the notebook, and `glimpse import torch` reads
//! it again.

use anyhow::Result;
use glimpse_model::bundle::Bundle;
use glimpse_pth::{NamedTensor, write_checkpoint};

use crate::layout::notebook_name;

/// The bundle as the notebook's `save_model` writes a checkpoint: `embed_size`, `vocab_size`,
/// `attention_dim`, `encoder_dim`, `decoder_dim` and the `state_dict` in the notebook's names
/// (float32). The notebook's `decoder.f_beta`, which it defines but never calls, is not in a
/// bundle and not written: load with `load_state_dict(checkpoint["state_dict"], strict=False)`.
/// The vocabulary is not in a checkpoint: write `bundle.vocab.to_json()` beside it.
pub fn notebook_state_dict(bundle: &Bundle) -> Result<Vec<u8>> {
    let config = &bundle.config;
    let numbers = [
        ("embed_size", config.decoder.embed_dim),
        ("vocab_size", config.decoder.vocab_size),
        ("attention_dim", config.attention.dim),
        ("encoder_dim", config.encoder_dim()),
        ("decoder_dim", config.decoder.decoder_dim),
    ];
    let names: Vec<String> = bundle.weights.names().map(notebook_name).collect();
    let tensors: Vec<NamedTensor> = bundle
        .weights
        .iter()
        .zip(&names)
        .map(|((_, tensor), name)| NamedTensor {
            name,
            shape: &tensor.shape,
            data: &tensor.data,
        })
        .collect();
    Ok(write_checkpoint(&numbers, &tensors)?)
}
