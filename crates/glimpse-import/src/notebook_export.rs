//! A bundle back to PyTorch: its weights as the notebook's `EncoderDecoder.state_dict()` names
//! them, written as `torch.save` writes a state dict (`torch.load(…, weights_only=True)` reads it),
//! so a model trained by Glimpse goes back into the notebook, and `glimpse import torch` reads
//! it again.

use anyhow::Result;
use glimpse_model::ModelConfig;
use glimpse_model::bundle::Bundle;
use glimpse_pth::{NamedTensor, write_checkpoint};
use serde_json::Value;

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

/// What `glimpse import torch` must be told to read such a state dict back into `config`: the
/// square input size and the pooling grid, which a notebook checkpoint does not hold.
pub fn import_flags(config: &ModelConfig) -> (Option<u32>, Option<[usize; 2]>) {
    let [height, width] = config.preprocess.size;
    ((height == width).then_some(height), config.encoder.pooled_grid)
}

/// What of `config` the bundle read back from its state dict (`back`) no longer has, as
/// "field was → is" lines; dropout aside, which only training uses and a checkpoint does not
/// hold. A notebook checkpoint holds no normalisation, gate or relu attention: a bundle with
/// them came back a different model, its captions changed, and nothing said so.
pub fn lost_in_round_trip(config: &ModelConfig, back: &ModelConfig) -> Vec<String> {
    let mut back = back.clone();
    back.decoder.dropout = config.decoder.dropout;
    let (Ok(was), Ok(is)) = (serde_json::to_value(config), serde_json::to_value(&back)) else {
        return vec!["the config (not serialisable)".into()];
    };
    let mut lost = Vec::new();
    differences(&was, &is, String::new(), &mut lost);
    lost
}

/// The paths where `was` and `is` differ, with both values.
fn differences(was: &Value, is: &Value, path: String, out: &mut Vec<String>) {
    match (was, is) {
        (Value::Object(was), Value::Object(is)) => {
            for (key, value) in was {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                differences(value, is.get(key).unwrap_or(&Value::Null), inner, out);
            }
        }
        _ if was != is => out.push(format!("{path} {was} → {is}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_a_round_trip_loses_are_named_and_dropout_is_not() {
        let config = ModelConfig::notebook(100);
        let mut back = config.clone();
        back.decoder.dropout = 0.1;
        assert!(lost_in_round_trip(&config, &back).is_empty());
        back.preprocess.mean = [0.2; 3];
        back.attention.gate = true;
        let lost = lost_in_round_trip(&config, &back);
        assert_eq!(lost.len(), 2, "{lost:?}");
        assert!(lost[0].starts_with("attention.gate false → true"), "{lost:?}");
        assert!(lost[1].starts_with("preprocess.mean [0.485"), "{lost:?}");
        assert_eq!(import_flags(&config), (Some(224), None));
    }
}
