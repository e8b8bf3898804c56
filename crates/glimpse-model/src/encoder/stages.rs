//! The encoder's stages as fine-tuning counts them, and what training each one costs.
//!
//! A run fine-tunes the last N stages: ResNet's stem is stage 0 and `layerK` stage K (5 in
//! all); MobileNetV2's `features.K` is stage K (19 in all). A trained stage costs its weights
//! (with their gradients and the optimizer's moments) and the values its layers output, which
//! autodiff keeps for the backward pass. [`stage_costs`] counts both from the sizes the networks
//! are built from ([`ResNetDims::block_dims`], [`MobileNetV2::block_dims`]), so training can
//! refuse a config before it allocates any of it.

use super::block::{BlockKind, ResidualBlockDims};
use super::mobilenet_v2::{InvertedResidualDims, MobileNetV2};
use super::resnet::ResNetDims;
use crate::config::{EncoderArch, EncoderConfig};

/// Stages of a ResNet (stem, `layer1` … `layer4`) and of MobileNetV2 (`features.0` … `.18`).
const RESNET_STAGES: usize = 5;
const MOBILENET_V2_STAGES: usize = 19;

impl EncoderArch {
    /// How many stages fine-tuning counts in this network.
    pub fn stages(self) -> usize {
        match self {
            EncoderArch::MobilenetV2 => MOBILENET_V2_STAGES,
            _ => RESNET_STAGES,
        }
    }
}

/// The encoder stage a parameter named `name` (`encoder.…`, as the model names it) belongs to
/// and how many stages its encoder has; `None` outside the encoder.
pub fn encoder_stage(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("encoder.")?;
    if let Some(rest) = rest.strip_prefix("features.") {
        let index = rest.split('.').next()?.parse().ok()?;
        return Some((index, MOBILENET_V2_STAGES));
    }
    if let Some(rest) = rest.strip_prefix("layer") {
        let index = rest.split('.').next()?.parse().ok()?;
        return Some((index, RESNET_STAGES));
    }
    Some((0, RESNET_STAGES))
}

/// What one stage holds for training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageCost {
    /// Trained weights: convolution kernels, BatchNorm scales and shifts.
    pub weights: u64,
    /// Values the stage's convolutions (and ResNet's max pooling) output for one image; each
    /// convolution's BatchNorm and activation output as many again.
    pub values: u64,
    /// The most values one of its layers outputs for one image: what a frozen stage holds at
    /// once is a few tensors of that size.
    pub largest: u64,
}

/// A convolution without bias followed by a BatchNorm, as every encoder layer is.
struct ConvNorm {
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
}

impl StageCost {
    /// Adds `conv` applied to a `side`×`side` input; returns its output side. Every layer pads
    /// by `kernel / 2`, so the output side is `⌊(side − 1) / stride⌋ + 1`.
    fn add(&mut self, conv: ConvNorm, side: u64) -> u64 {
        let [inputs, outputs] = conv.channels.map(|c| c as u64);
        // Saturating: a checkpoint's config supplies the sizes (validated, but never trusted).
        let kernel = (conv.kernel as u64).saturating_mul(conv.kernel as u64);
        let per_output = (inputs / conv.groups.max(1) as u64).saturating_mul(kernel);
        let weights = outputs.saturating_mul(per_output.saturating_add(2));
        let out_side = side.saturating_sub(1) / conv.stride as u64 + 1;
        self.weights = self.weights.saturating_add(weights);
        self.add_output(outputs.saturating_mul(out_side.saturating_mul(out_side)));
        out_side
    }

    /// Adds a layer's `values` for one image.
    fn add_output(&mut self, values: u64) {
        self.values = self.values.saturating_add(values);
        self.largest = self.largest.max(values);
    }
}

/// Every stage's cost for `input_side`×`input_side` images, first stage first.
pub fn stage_costs(config: &EncoderConfig, input_side: u32) -> Vec<StageCost> {
    let side = u64::from(input_side);
    match ResNetDims::from_config(config) {
        Some(dims) => resnet_costs(&dims, side),
        None => mobilenet_v2_costs(config.width_multiplier, side),
    }
}

fn conv(channels: [usize; 2], kernel: usize, stride: usize, groups: usize) -> ConvNorm {
    ConvNorm {
        channels,
        kernel,
        stride,
        groups,
    }
}

fn resnet_costs(dims: &ResNetDims, side: u64) -> Vec<StageCost> {
    let mut stem = StageCost::default();
    let side = stem.add(conv([3, dims.base_width], 7, 2, 1), side);
    let mut side = side.saturating_sub(1) / 2 + 1; // the 3×3 stride-2 max pooling
    stem.add_output((dims.base_width as u64).saturating_mul(side.saturating_mul(side)));
    let mut costs = vec![stem];
    for layer in dims.block_dims() {
        let mut stage = StageCost::default();
        for block in &layer {
            side = add_residual_block(&mut stage, block, side);
        }
        costs.push(stage);
    }
    costs
}

/// The layers of torchvision's `BasicBlock` or `Bottleneck` (v1.5: the stride on the 3×3) and
/// their shortcut projection; returns the block's output side.
fn add_residual_block(stage: &mut StageCost, block: &ResidualBlockDims, side: u64) -> u64 {
    let (inputs, planes, stride) = (block.in_channels, block.planes, block.stride);
    let outputs = block.out_channels();
    if stride != 1 || inputs != outputs {
        stage.add(conv([inputs, outputs], 1, stride, 1), side);
    }
    match block.kind {
        BlockKind::Basic => {
            let side = stage.add(conv([inputs, planes], 3, stride, 1), side);
            stage.add(conv([planes, planes], 3, 1, 1), side)
        }
        BlockKind::Bottleneck => {
            let side = stage.add(conv([inputs, planes], 1, 1, 1), side);
            let side = stage.add(conv([planes, planes], 3, stride, 1), side);
            stage.add(conv([planes, outputs], 1, 1, 1), side)
        }
    }
}

fn mobilenet_v2_costs(width_mult: f64, side: u64) -> Vec<StageCost> {
    let mut stem = StageCost::default();
    let stem_channels = MobileNetV2::stem_channels(width_mult);
    let mut side = stem.add(conv([3, stem_channels], 3, 2, 1), side);
    let mut costs = vec![stem];
    let blocks = MobileNetV2::block_dims(width_mult);
    for block in &blocks {
        let mut stage = StageCost::default();
        side = add_inverted_residual(&mut stage, block, side);
        costs.push(stage);
    }
    let last = blocks.last().map_or(stem_channels, |block| block.out_channels);
    let mut head = StageCost::default();
    head.add(conv([last, MobileNetV2::out_channels(width_mult)], 1, 1, 1), side);
    costs.push(head);
    costs
}

/// Expansion (when t ≠ 1), depthwise 3×3, projection; returns the block's output side.
fn add_inverted_residual(stage: &mut StageCost, block: &InvertedResidualDims, side: u64) -> u64 {
    let hidden = block.hidden();
    if block.expand_ratio != 1 {
        stage.add(conv([block.in_channels, hidden], 1, 1, 1), side);
    }
    let side = stage.add(conv([hidden, hidden], 3, block.stride, hidden), side);
    stage.add(conv([hidden, block.out_channels], 1, 1, 1), side)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::encoder::Encoder;
    use crate::params::{ParamSlot, TorchParams};

    /// Trained elements per stage of the network as built, grouped by [`encoder_stage`].
    fn built_weights(config: &EncoderConfig) -> Vec<u64> {
        let mut encoder = Encoder::new(config, &Device::flex());
        let mut stages = Vec::new();
        encoder.visit_params("encoder", &mut |name, slot| {
            let trained = !matches!(slot, ParamSlot::Running1(_));
            let elements: usize = slot.torch_shape().iter().product();
            let (stage, total) = encoder_stage(&name).expect("an encoder name");
            stages.resize(total, 0);
            stages[stage] += if trained { elements as u64 } else { 0 };
        });
        stages
    }

    #[test]
    fn stage_weights_are_those_of_the_built_network() {
        for arch in EncoderArch::ALL {
            for width_multiplier in [1.0, 0.5] {
                let config = EncoderConfig {
                    arch,
                    width_multiplier,
                    pooled_grid: None,
                };
                let costs: Vec<u64> = stage_costs(&config, 224).iter().map(|c| c.weights).collect();
                assert_eq!(costs, built_weights(&config), "{arch:?} × {width_multiplier}");
            }
        }
    }

    #[test]
    fn totals_and_values_match_torchvision_counted_by_hand() {
        let cost = |arch, side| {
            let config = EncoderConfig {
                arch,
                width_multiplier: 1.0,
                pooled_grid: None,
            };
            stage_costs(&config, side)
        };
        // torchvision's parameter counts without the classifier (fc, classifier.1).
        let total = |costs: Vec<StageCost>| costs.iter().map(|c| c.weights).sum::<u64>();
        assert_eq!(total(cost(EncoderArch::Resnet50, 224)), 25_557_032 - 2_049_000);
        assert_eq!(total(cost(EncoderArch::MobilenetV2, 224)), 3_504_872 - 1_281_000);
        // Values from torchvision's layer tables at 224, by hand: ResNet-18's stem is a
        // 64×112×112 convolution, then 64×56×56 after pooling; its layer2 a 128-channel
        // projection and four 128-channel 3×3s at 28×28.
        let resnet18 = cost(EncoderArch::Resnet18, 224);
        assert_eq!(resnet18[0].values, 64 * 112 * 112 + 64 * 56 * 56);
        assert_eq!(resnet18[0].largest, 64 * 112 * 112);
        assert_eq!(resnet18[2].values, 5 * 128 * 28 * 28);
        // ResNet-50's layer1 at 56×56: a 256 projection, then three bottlenecks of 64, 64, 256.
        let layer1 = (256 + 3 * (64 + 64 + 256)) * 56 * 56;
        assert_eq!(cost(EncoderArch::Resnet50, 224)[1].values, layer1);
        // MobileNetV2: features.1 (t = 1, 32 → 16) a depthwise 32 and a projection to 16 at
        // 112×112; features.2 (t = 6, 16 → 24, stride 2) an expansion to 96 at 112×112, its
        // depthwise and the projection to 24 at 56×56; features.18 1280 at 7×7.
        let mobilenet = cost(EncoderArch::MobilenetV2, 224);
        assert_eq!(mobilenet[1].values, (32 + 16) * 112 * 112);
        assert_eq!(mobilenet[2].values, 96 * 112 * 112 + (96 + 24) * 56 * 56);
        assert_eq!(mobilenet[2].largest, 96 * 112 * 112);
        assert_eq!(mobilenet[18].values, 1280 * 7 * 7);
        // An odd side is rounded up at each stride: 225 gives 113, 57, 29, 15 and 8.
        assert_eq!(cost(EncoderArch::Resnet18, 225)[4].values, 5 * 512 * 8 * 8);
    }

    #[test]
    fn stages_are_named_as_the_networks_name_their_tensors() {
        assert_eq!(encoder_stage("decoder.fcn.weight"), None);
        assert_eq!(encoder_stage("encoder.conv1.weight"), Some((0, 5)));
        assert_eq!(encoder_stage("encoder.layer3.4.bn2.bias"), Some((3, 5)));
        assert_eq!(encoder_stage("encoder.features.18.0.weight"), Some((18, 19)));
    }
}
