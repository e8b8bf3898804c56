//! The model config that canonical tensors describe: the encoder's architecture and width
//! from its names and shapes, the decoder's sizes from its tensors.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use burn::tensor::Device;
use glimpse_model::TensorMap;
use glimpse_model::config::{AttentionActivation, EncoderArch, EncoderConfig, ModelConfig, PreprocessConfig};

use crate::fresh::FreshDecoder;
use crate::layout::CheckpointLayout;

/// torchvision's MobileNetV2 width multipliers, tried in this order after 1.0 and the stem's
/// own ratio.
const MOBILENET_MULTIPLIERS: [f64; 6] = [0.5, 0.75, 0.25, 0.35, 1.3, 1.4];

/// The encoder architecture and width multiplier that the `encoder.*` tensors describe.
pub fn infer_encoder(weights: &TensorMap, device: &Device) -> Result<(EncoderArch, f64)> {
    if weights.contains("encoder.features.0.0.weight") {
        // Try torchvision's usual multipliers (and the stem's own ratio); keep the first whose
        // every shape matches.
        let ratio = out_channels(weights, "encoder.features.0.0.weight")? as f64 / 32.0;
        let candidates = [1.0, ratio].into_iter().chain(MOBILENET_MULTIPLIERS);
        for multiplier in candidates {
            let mut config = ModelConfig::notebook(4);
            config.encoder = EncoderConfig {
                arch: EncoderArch::MobilenetV2,
                width_multiplier: multiplier,
                pooled_grid: None,
            };
            if config.validate().is_ok() && encoder_shapes_match(&config, weights, device) {
                return Ok((EncoderArch::MobilenetV2, multiplier));
            }
        }
        bail!("the MobileNetV2 encoder's shapes match no torchvision width multiplier");
    }
    if !weights.contains("encoder.conv1.weight") {
        bail!("no encoder weights found (neither `conv1.weight` nor `features.0.0.weight`)");
    }
    let stem = out_channels(weights, "encoder.conv1.weight")?;
    let blocks = resnet_blocks(weights);
    let bottleneck = weights.contains("encoder.layer1.0.conv3.weight");
    let arch = EncoderArch::ALL
        .into_iter()
        .find(|arch| arch.resnet_layers() == Some(blocks) && arch.is_bottleneck() == bottleneck)
        .ok_or_else(|| {
            anyhow!(
                "a ResNet with {} blocks {blocks:?} is not a torchvision depth (18, 34, 50, 101, 152)",
                if bottleneck { "bottleneck" } else { "basic" }
            )
        })?;
    Ok((arch, stem as f64 / 64.0))
}

/// The first dimension of the convolution weight `name` (`[out, in, kh, kw]`).
fn out_channels(weights: &TensorMap, name: &str) -> Result<usize> {
    let [out, _, _, _] = dims(weights, name)?;
    Ok(out)
}

/// The shape of `name`, which must have `N` dimensions.
fn dims<const N: usize>(weights: &TensorMap, name: &str) -> Result<[usize; N]> {
    let tensor = weights
        .get(name)
        .ok_or_else(|| anyhow!("the checkpoint has no `{name}`"))?;
    <[usize; N]>::try_from(tensor.shape.as_slice())
        .map_err(|_| anyhow!("`{name}` has shape {:?}; expected {N} dimensions", tensor.shape))
}

/// Blocks per ResNet stage: one more than the highest `encoder.layer<K>.<index>.` present.
fn resnet_blocks(weights: &TensorMap) -> [usize; 4] {
    let mut blocks = [0usize; 4];
    for (stage, count) in blocks.iter_mut().enumerate() {
        let prefix = format!("encoder.layer{}.", stage + 1);
        *count = weights
            .names()
            .filter_map(|n| n.strip_prefix(&prefix)?.split('.').next()?.parse::<usize>().ok())
            .max()
            .map_or(0, |last| last.saturating_add(1));
    }
    blocks
}

fn encoder_shapes_match(config: &ModelConfig, weights: &TensorMap, device: &Device) -> bool {
    let mut encoder = glimpse_model::encoder::Encoder::new(&config.encoder, device);
    glimpse_model::params::expected_shapes(&mut encoder)
        .iter()
        .all(|e| {
            weights
                .get(&format!("encoder.{}", e.name))
                .is_some_and(|t| t.shape == e.shape)
        })
}

/// The decoder's sizes from its tensors, cross-checked with the sizes a notebook checkpoint
/// stores beside its state dict.
pub(crate) fn decoder_config(
    weights: &TensorMap,
    layout: CheckpointLayout,
    encoder: EncoderConfig,
    preprocess: PreprocessConfig,
    scalars: &BTreeMap<String, f64>,
) -> Result<ModelConfig> {
    let embedding: [usize; 2] = dims(weights, "decoder.embedding.weight")?; // [V, embed]
    let attention: [usize; 2] = dims(weights, "decoder.attention.U.weight")?; // [attention, E]
    let init_h: [usize; 2] = dims(weights, "decoder.init_h.weight")?; // [hidden, E]
    let sgrvinod = layout == CheckpointLayout::Sgrvinod;
    let decoder = FreshDecoder {
        embed_dim: embedding[1],
        attention_dim: attention[0],
        decoder_dim: init_h[0],
        activation: if sgrvinod {
            AttentionActivation::Relu
        } else {
            AttentionActivation::Tanh
        },
        gate: sgrvinod,
        dropout: if sgrvinod { 0.5 } else { 0.3 },
        ..FreshDecoder::default()
    };
    let config = decoder.model_config(encoder, preprocess, embedding[0]);
    if attention[1] != config.encoder_dim() {
        bail!(
            "the decoder's attention expects {}-channel features but the {} encoder gives {}",
            attention[1],
            config.encoder.arch.name(),
            config.encoder_dim()
        );
    }
    check_stored_sizes(&config, scalars)?;
    Ok(config)
}

/// The sizes a notebook checkpoint stores beside its state dict must be its tensors' sizes.
fn check_stored_sizes(config: &ModelConfig, scalars: &BTreeMap<String, f64>) -> Result<()> {
    for (key, value) in [
        ("embed_size", config.decoder.embed_dim),
        ("attention_dim", config.attention.dim),
        ("encoder_dim", config.encoder_dim()),
        ("decoder_dim", config.decoder.decoder_dim),
        ("vocab_size", config.decoder.vocab_size),
    ] {
        if let Some(&stored) = scalars.get(key)
            && stored != value as f64
        {
            bail!("the checkpoint says {key} = {stored} but its tensors give {value}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glimpse_model::HostTensor;

    fn names(names: &[String]) -> TensorMap {
        names
            .iter()
            .map(|n| (n.clone(), HostTensor::new(vec![1], vec![0.0]).unwrap()))
            .collect()
    }

    fn resnet_keys(blocks: [usize; 4], bottleneck: bool, base: usize) -> TensorMap {
        let mut keys = vec![];
        for (stage, &count) in blocks.iter().enumerate() {
            for i in 0..count {
                keys.push(format!("encoder.layer{}.{i}.conv1.weight", stage + 1));
                if bottleneck {
                    keys.push(format!("encoder.layer{}.{i}.conv3.weight", stage + 1));
                }
            }
        }
        let mut map = names(&keys);
        map.insert(
            "encoder.conv1.weight",
            HostTensor::new(vec![base, 3, 7, 7], vec![0.0; base * 147]).unwrap(),
        );
        map
    }

    #[test]
    fn resnet_depth_and_width_come_from_the_keys() {
        let device = Device::flex();
        let infer = |blocks, bottleneck, base| infer_encoder(&resnet_keys(blocks, bottleneck, base), &device);
        assert_eq!(
            infer([2, 2, 2, 2], false, 64).unwrap(),
            (EncoderArch::Resnet18, 1.0)
        );
        assert_eq!(
            infer([3, 4, 6, 3], false, 64).unwrap(),
            (EncoderArch::Resnet34, 1.0)
        );
        assert_eq!(
            infer([3, 4, 6, 3], true, 8).unwrap(),
            (EncoderArch::Resnet50, 0.125)
        );
        assert_eq!(
            infer([3, 4, 23, 3], true, 64).unwrap(),
            (EncoderArch::Resnet101, 1.0)
        );
        assert_eq!(
            infer([3, 8, 36, 3], true, 64).unwrap(),
            (EncoderArch::Resnet152, 1.0)
        );
        let err = infer([3, 4, 5, 3], true, 64).unwrap_err().to_string();
        assert!(
            err.contains("bottleneck blocks [3, 4, 5, 3] is not a torchvision depth"),
            "{err}"
        );
        let err = infer_encoder(&names(&["decoder.fcn.weight".into()]), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no encoder weights found"), "{err}");
    }

    #[test]
    fn a_stem_of_the_wrong_rank_is_named() {
        let device = Device::flex();
        for (name, shape) in [
            ("encoder.features.0.0.weight", vec![]),
            ("encoder.conv1.weight", vec![64]),
        ] {
            let mut weights = TensorMap::new();
            let values = vec![0.0; shape.iter().product()];
            weights.insert(name, HostTensor::new(shape.clone(), values).unwrap());
            let err = infer_encoder(&weights, &device).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("`{name}` has shape {shape:?}; expected 4 dimensions"),
                "{name}"
            );
        }
    }
}
