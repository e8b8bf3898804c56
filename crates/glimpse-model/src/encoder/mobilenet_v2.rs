//! torchvision's MobileNetV2 `features` (the light encoder for the web), cut before `classifier`,
//! and its table of inverted residual stages.
//!
//! Names follow torchvision's `state_dict()`: `features.0.0` (stem conv), `features.0.1` (its
//! BatchNorm), `features.N.conv.*` for the 17 inverted residual blocks, `features.18.*` for the
//! final 1×1 convolution to 1280 channels.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

use super::layers::{ConvNorm, batch_norm, conv, conv_bn, fold_batch_norm};
use crate::params::{ParamSlot, TorchParams, join};

/// torchvision's `inverted_residual_setting`: expansion t, channels c, repeats n, stride s.
const SETTINGS: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// Channels of the stem convolution before `width_mult`.
const STEM_CHANNELS: f64 = 32.0;
/// Channels of the last 1×1 convolution before `width_mult`.
const LAST_CHANNELS: f64 = 1280.0;
/// torchvision rounds every channel count to a multiple of 8.
const ROUND_TO: usize = 8;

/// torchvision's `_make_divisible`: round to the nearest multiple of `divisor`, never dropping
/// more than 10%.
pub fn make_divisible(value: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new = (((value + d / 2.0) / d).floor() * d).max(d);
    if new < 0.9 * value {
        new += d;
    }
    new as usize
}

#[derive(Module, Debug)]
pub struct MobileNetV2 {
    /// `features.0`: 3×3 stride-2 convolution, BatchNorm, ReLU6.
    stem: ConvNorm,
    /// `features.1` … `features.17`.
    blocks: Vec<InvertedResidual>,
    /// `features.18`: 1×1 convolution to the last channel count, BatchNorm, ReLU6.
    head: ConvNorm,
}

/// Expand (1×1, skipped when t = 1), depthwise 3×3, linear projection (1×1) with BatchNorm;
/// a residual connection when the shape is kept. The first two end in ReLU6.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvNorm>,
    depthwise: ConvNorm,
    project: Conv2d,
    project_bn: BatchNorm,
    residual: bool,
}

impl MobileNetV2 {
    /// Channels of the output for torchvision's `width_mult` (1280 up to 1.0, then scaled).
    pub fn out_channels(width_mult: f64) -> usize {
        make_divisible(LAST_CHANNELS * width_mult.max(1.0), ROUND_TO)
    }

    /// Channels of the stem's output for torchvision's `width_mult`.
    pub fn stem_channels(width_mult: f64) -> usize {
        make_divisible(STEM_CHANNELS * width_mult, ROUND_TO)
    }

    /// `features.1` … `features.17` from torchvision's table.
    pub fn block_dims(width_mult: f64) -> Vec<InvertedResidualDims> {
        let mut in_channels = Self::stem_channels(width_mult);
        let mut blocks = Vec::new();
        for (expand_ratio, c, n, s) in SETTINGS {
            let out_channels = make_divisible(c as f64 * width_mult, ROUND_TO);
            for i in 0..n {
                blocks.push(InvertedResidualDims {
                    in_channels,
                    out_channels,
                    stride: if i == 0 { s } else { 1 },
                    expand_ratio,
                });
                in_channels = out_channels;
            }
        }
        blocks
    }

    /// A freshly initialised network with torchvision's `width_mult`.
    pub fn new(width_mult: f64, device: &Device) -> Self {
        let stem = ConvNorm::new([3, Self::stem_channels(width_mult)], 3, 2, 1, device);
        let dims = Self::block_dims(width_mult);
        let last = dims.last().map_or(0, |block| block.out_channels);
        let blocks = dims
            .iter()
            .map(|block| InvertedResidual::new(block, device))
            .collect();
        let head = ConvNorm::new([last, Self::out_channels(width_mult)], 1, 1, 1, device);
        MobileNetV2 { stem, blocks, head }
    }

    /// `[B, 3, H, W]` → `[B, 1280, H/32, W/32]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = self.stem.forward_relu6(images); // [B, 32·width_mult, H/2, W/2]
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward_relu6(x)
    }

    /// Folds every BatchNorm into its convolution, for inference (see [`fold_batch_norm`]).
    pub fn fold_batch_norms(&mut self) {
        self.stem.fold_batch_norm();
        for block in &mut self.blocks {
            if let Some(expand) = &mut block.expand {
                expand.fold_batch_norm();
            }
            block.depthwise.fold_batch_norm();
            fold_batch_norm(&mut block.project, &block.project_bn);
        }
        self.head.fold_batch_norm();
    }
}

/// The sizes of one inverted residual block (a row of torchvision's table, repeated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvertedResidualDims {
    pub in_channels: usize,
    pub out_channels: usize,
    pub stride: usize,
    /// t: the expansion layer widens to `t · in_channels` (absent when t = 1).
    pub expand_ratio: usize,
}

impl InvertedResidualDims {
    /// Channels of the expanded (and depthwise) layers. torchvision: `int(round(inp *
    /// expand_ratio))`, exact for whole ratios.
    pub fn hidden(&self) -> usize {
        self.in_channels * self.expand_ratio
    }
}

impl InvertedResidual {
    fn new(dims: &InvertedResidualDims, device: &Device) -> Self {
        let (inp, oup, hidden) = (dims.in_channels, dims.out_channels, dims.hidden());
        InvertedResidual {
            expand: (dims.expand_ratio != 1).then(|| ConvNorm::new([inp, hidden], 1, 1, 1, device)),
            depthwise: ConvNorm::new([hidden, hidden], 3, dims.stride, hidden, device),
            project: conv([hidden, oup], 1, 1, 1, device),
            project_bn: batch_norm(oup, device),
            residual: dims.stride == 1 && inp == oup,
        }
    }

    /// `[B, inp, H, W]` → `[B, oup, H/stride, W/stride]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = match &self.expand {
            Some(expand) => expand.forward_relu6(x.clone()), // [B, t·inp, H, W]
            None => x.clone(),
        };
        let out = self.depthwise.forward_relu6(out); // [B, t·inp, H/s, W/s]
        let out = conv_bn(&self.project, &self.project_bn, out); // [B, oup, H/s, W/s]
        if self.residual { x + out } else { out }
    }
}

impl TorchParams for MobileNetV2 {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        let features = join(prefix, "features");
        self.stem.visit_params(&join(&features, "0"), visit);
        for (i, block) in self.blocks.iter_mut().enumerate() {
            block.visit_params(&join(&features, &(i + 1).to_string()), visit);
        }
        let last = self.blocks.len() + 1;
        self.head.visit_params(&join(&features, &last.to_string()), visit);
    }
}

impl TorchParams for InvertedResidual {
    /// torchvision numbers the block's `conv` Sequential from 0, so every index shifts by one
    /// when the expansion layer is absent.
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        let conv = join(prefix, "conv");
        let mut index = 0;
        if let Some(expand) = &mut self.expand {
            expand.visit_params(&join(&conv, "0"), visit);
            index = 1;
        }
        self.depthwise
            .visit_params(&join(&conv, &index.to_string()), visit);
        self.project
            .visit_params(&join(&conv, &(index + 1).to_string()), visit);
        self.project_bn
            .visit_params(&join(&conv, &(index + 2).to_string()), visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_torchvision() {
        assert_eq!(make_divisible(32.0 * 0.25, 8), 8);
        assert_eq!(make_divisible(24.0 * 0.5, 8), 16);
        assert_eq!(make_divisible(1280.0, 8), 1280);
        assert_eq!(make_divisible(96.0 * 0.35, 8), 32);
    }
}
