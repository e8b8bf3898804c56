//! torchvision's two residual blocks: `BasicBlock` (ResNet-18/34) and `Bottleneck` (ResNet-50
//! and deeper, v1.5: the stride sits on the 3×3 convolution).
//!
//! Both add a shortcut, projected by torchvision's `downsample = Sequential(conv1x1, BatchNorm)`
//! when the block changes the shape.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::layers::{ConvNorm, batch_norm, conv, conv_bn, fold_batch_norm};
use crate::params::{ParamSlot, TorchParams, join};

/// Which block a ResNet stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Two 3×3 convolutions.
    Basic,
    /// 1×1 reduce, 3×3, 1×1 expand to four times the width.
    Bottleneck,
}

impl BlockKind {
    /// Output channels per unit of block width (`planes`): torchvision's `expansion`.
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// The sizes of one residual block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidualBlockDims {
    pub in_channels: usize,
    /// The block's width; it outputs `planes · expansion` channels.
    pub planes: usize,
    /// 2 on the first block of stages 2–4, else 1.
    pub stride: usize,
    pub kind: BlockKind,
}

impl ResidualBlockDims {
    pub fn out_channels(&self) -> usize {
        self.planes * self.kind.expansion()
    }
}

/// A block of either kind; a ResNet stacks one kind only.
// A Bottleneck is two fields larger than a BasicBlock; boxing would buy nothing in a Vec built once.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ResidualBlock {
    Basic(BasicBlock),
    Bottleneck(Bottleneck),
}

#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<ConvNorm>,
}

#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    downsample: Option<ConvNorm>,
}

impl ResidualBlock {
    /// A freshly initialised block of `dims.kind`.
    pub fn new(dims: &ResidualBlockDims, device: &Device) -> Self {
        match dims.kind {
            BlockKind::Basic => ResidualBlock::Basic(BasicBlock::new(dims, device)),
            BlockKind::Bottleneck => ResidualBlock::Bottleneck(Bottleneck::new(dims, device)),
        }
    }

    /// `[B, in, H, W]` → `[B, out, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ResidualBlock::Basic(block) => block.forward(x),
            ResidualBlock::Bottleneck(block) => block.forward(x),
        }
    }

    /// Folds every BatchNorm into its convolution, for inference (see [`fold_batch_norm`]).
    pub fn fold_batch_norms(&mut self) {
        let downsample = match self {
            ResidualBlock::Basic(block) => {
                fold_batch_norm(&mut block.conv1, &block.bn1);
                fold_batch_norm(&mut block.conv2, &block.bn2);
                &mut block.downsample
            }
            ResidualBlock::Bottleneck(block) => {
                fold_batch_norm(&mut block.conv1, &block.bn1);
                fold_batch_norm(&mut block.conv2, &block.bn2);
                fold_batch_norm(&mut block.conv3, &block.bn3);
                &mut block.downsample
            }
        };
        if let Some(down) = downsample {
            down.fold_batch_norm();
        }
    }
}

/// The shortcut projection, needed when the block changes the channel count or the grid.
fn downsample(dims: &ResidualBlockDims, device: &Device) -> Option<ConvNorm> {
    let out_channels = dims.out_channels();
    (dims.stride != 1 || dims.in_channels != out_channels)
        .then(|| ConvNorm::new([dims.in_channels, out_channels], 1, dims.stride, 1, device))
}

/// `x` `[B, in, H, W]`, projected to the block's output shape when it has a `downsample`.
fn shortcut(downsample: &Option<ConvNorm>, x: Tensor<4>) -> Tensor<4> {
    match downsample {
        Some(down) => down.forward(x),
        None => x,
    }
}

impl BasicBlock {
    fn new(dims: &ResidualBlockDims, device: &Device) -> Self {
        let (planes, downsample) = (dims.planes, downsample(dims, device));
        BasicBlock {
            conv1: conv([dims.in_channels, planes], 3, dims.stride, 1, device),
            bn1: batch_norm(planes, device),
            conv2: conv([planes, planes], 3, 1, 1, device),
            bn2: batch_norm(planes, device),
            downsample,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(conv_bn(&self.conv1, &self.bn1, x.clone())); // [B, planes, H/s, W/s]
        let out = conv_bn(&self.conv2, &self.bn2, out); // [B, planes, H/s, W/s]
        relu(out + shortcut(&self.downsample, x))
    }
}

impl Bottleneck {
    fn new(dims: &ResidualBlockDims, device: &Device) -> Self {
        let (planes, out_channels) = (dims.planes, dims.out_channels());
        let downsample = downsample(dims, device);
        Bottleneck {
            conv1: conv([dims.in_channels, planes], 1, 1, 1, device),
            bn1: batch_norm(planes, device),
            conv2: conv([planes, planes], 3, dims.stride, 1, device),
            bn2: batch_norm(planes, device),
            conv3: conv([planes, out_channels], 1, 1, 1, device),
            bn3: batch_norm(out_channels, device),
            downsample,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(conv_bn(&self.conv1, &self.bn1, x.clone())); // [B, planes, H, W]
        let out = relu(conv_bn(&self.conv2, &self.bn2, out)); // [B, planes, H/s, W/s]
        let out = conv_bn(&self.conv3, &self.bn3, out); // [B, 4·planes, H/s, W/s]
        relu(out + shortcut(&self.downsample, x))
    }
}

impl TorchParams for ResidualBlock {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        match self {
            ResidualBlock::Basic(block) => block.visit_params(prefix, visit),
            ResidualBlock::Bottleneck(block) => block.visit_params(prefix, visit),
        }
    }
}

impl TorchParams for BasicBlock {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.conv1.visit_params(&join(prefix, "conv1"), visit);
        self.bn1.visit_params(&join(prefix, "bn1"), visit);
        self.conv2.visit_params(&join(prefix, "conv2"), visit);
        self.bn2.visit_params(&join(prefix, "bn2"), visit);
        if let Some(down) = &mut self.downsample {
            down.visit_params(&join(prefix, "downsample"), visit);
        }
    }
}

impl TorchParams for Bottleneck {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.conv1.visit_params(&join(prefix, "conv1"), visit);
        self.bn1.visit_params(&join(prefix, "bn1"), visit);
        self.conv2.visit_params(&join(prefix, "conv2"), visit);
        self.bn2.visit_params(&join(prefix, "bn2"), visit);
        self.conv3.visit_params(&join(prefix, "conv3"), visit);
        self.bn3.visit_params(&join(prefix, "bn3"), visit);
        if let Some(down) = &mut self.downsample {
            down.visit_params(&join(prefix, "downsample"), visit);
        }
    }
}
