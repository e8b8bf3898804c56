//! torchvision's ResNet (v1.5: the stride sits on the 3×3 convolution), cut before `avgpool`/`fc`,
//! and the table of its depths.
//!
//! Tensor names follow torchvision's `state_dict()` exactly (`conv1`, `bn1`, `layer3.5.conv2`,
//! `layer2.0.downsample.0`), so an ImageNet checkpoint loads without renaming.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::block::{BlockKind, ResidualBlock, ResidualBlockDims};
use super::layers::{batch_norm, conv_bn, fold_batch_norm};
use crate::config::{EncoderArch, EncoderConfig};
use crate::params::{ParamSlot, TorchParams, join};

/// torchvision's stem width; `EncoderConfig::width_multiplier` scales it.
pub const BASE_WIDTH: usize = 64;

impl EncoderArch {
    /// Blocks per ResNet stage, as torchvision (`None` for MobileNetV2).
    pub fn resnet_layers(self) -> Option<[usize; 4]> {
        match self {
            EncoderArch::Resnet18 => Some([2, 2, 2, 2]),
            EncoderArch::Resnet34 | EncoderArch::Resnet50 => Some([3, 4, 6, 3]),
            EncoderArch::Resnet101 => Some([3, 4, 23, 3]),
            EncoderArch::Resnet152 => Some([3, 8, 36, 3]),
            EncoderArch::MobilenetV2 => None,
        }
    }

    /// Whether the ResNet uses bottleneck blocks (50 and deeper).
    pub fn is_bottleneck(self) -> bool {
        matches!(
            self,
            EncoderArch::Resnet50 | EncoderArch::Resnet101 | EncoderArch::Resnet152
        )
    }
}

/// The shape of a ResNet trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResNetDims {
    /// Stem width, 64 in torchvision; stage `k` (from 0) has blocks of width `base_width · 2ᵏ`.
    pub base_width: usize,
    pub block: BlockKind,
    /// Blocks per stage (`layer1` … `layer4`).
    pub blocks: [usize; 4],
}

impl ResNetDims {
    /// The trunk `encoder` describes, or `None` when it is not a ResNet.
    pub fn from_config(encoder: &EncoderConfig) -> Option<Self> {
        let blocks = encoder.arch.resnet_layers()?;
        let block = if encoder.arch.is_bottleneck() {
            BlockKind::Bottleneck
        } else {
            BlockKind::Basic
        };
        Some(ResNetDims {
            base_width: (BASE_WIDTH as f64 * encoder.width_multiplier) as usize,
            block,
            blocks,
        })
    }

    /// Channels of the last stage's output (2048 for ResNet-50, 512 for ResNet-18).
    pub fn out_channels(&self) -> usize {
        8 * self.base_width * self.block.expansion()
    }

    /// Every block of `layer1` … `layer4`: widths `base · 2ᵏ`, stride 2 on the first block of
    /// every stage but the first.
    pub fn block_dims(&self) -> Vec<Vec<ResidualBlockDims>> {
        let mut in_channels = self.base_width;
        let mut layers = Vec::with_capacity(self.blocks.len());
        for (stage, &count) in self.blocks.iter().enumerate() {
            let mut layer = Vec::with_capacity(count);
            for i in 0..count {
                let block = ResidualBlockDims {
                    in_channels,
                    planes: self.base_width << stage,
                    stride: if stage > 0 && i == 0 { 2 } else { 1 },
                    kind: self.block,
                };
                in_channels = block.out_channels();
                layer.push(block);
            }
            layers.push(layer);
        }
        layers
    }
}

/// The convolutional trunk of a torchvision ResNet.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: MaxPool2d,
    /// `layer1` … `layer4`.
    layers: Vec<Vec<ResidualBlock>>,
}

impl ResNet {
    /// A freshly initialised trunk.
    pub fn new(dims: &ResNetDims, device: &Device) -> Self {
        let base = dims.base_width;
        let layers = stages(dims, device);
        ResNet {
            conv1: Conv2dConfig::new([3, base], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .with_bias(false)
                .init(device),
            bn1: batch_norm(base, device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layers,
        }
    }

    /// `[B, 3, H, W]` → `[B, 8·base·expansion, H/32, W/32]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let x = relu(conv_bn(&self.conv1, &self.bn1, images)); // [B, base, H/2, W/2]
        let mut x = self.maxpool.forward(x); // [B, base, H/4, W/4]
        for layer in &self.layers {
            for block in layer {
                x = block.forward(x);
            }
        }
        x
    }

    /// Folds every BatchNorm into its convolution, for inference (see [`fold_batch_norm`]).
    pub fn fold_batch_norms(&mut self) {
        fold_batch_norm(&mut self.conv1, &self.bn1);
        self.layers
            .iter_mut()
            .flatten()
            .for_each(ResidualBlock::fold_batch_norms);
    }
}

/// The four stages, built from [`ResNetDims::block_dims`].
fn stages(dims: &ResNetDims, device: &Device) -> Vec<Vec<ResidualBlock>> {
    dims.block_dims()
        .iter()
        .map(|stage| {
            stage
                .iter()
                .map(|block| ResidualBlock::new(block, device))
                .collect()
        })
        .collect()
}

impl TorchParams for ResNet {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.conv1.visit_params(&join(prefix, "conv1"), visit);
        self.bn1.visit_params(&join(prefix, "bn1"), visit);
        for (stage, layer) in self.layers.iter_mut().enumerate() {
            for (i, block) in layer.iter_mut().enumerate() {
                block.visit_params(&join(prefix, &format!("layer{}.{i}", stage + 1)), visit);
            }
        }
    }
}
