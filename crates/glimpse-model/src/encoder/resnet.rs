//! torchvision's ResNet (v1.5: the stride sits on the 3×3 convolution), cut before `avgpool`/`fc`.
//!
//! Tensor names follow torchvision's `state_dict()` exactly (`conv1`, `bn1`, `layer3.5.conv2`,
//! `layer2.0.downsample.0`), so an ImageNet checkpoint loads without renaming.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::params::{ParamSlot, TorchParams, join};

/// The convolutional trunk of a torchvision ResNet.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: MaxPool2d,
    /// `layer1` … `layer4`.
    layers: Vec<Vec<ResidualBlock>>,
}

/// A BasicBlock (two 3×3 convolutions) or a Bottleneck (1×1, 3×3, 1×1), with the shortcut
/// projection torchvision calls `downsample` when the shape changes.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    /// Present in Bottleneck blocks only.
    conv3: Option<Conv2d>,
    bn3: Option<BatchNorm>,
    downsample: Option<Downsample>,
}

/// torchvision's `downsample = Sequential(conv1x1, BatchNorm)`.
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// A bias-free convolution with torchvision's padding.
pub(crate) fn conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

/// BatchNorm with PyTorch's epsilon and momentum.
pub(crate) fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(1e-5)
        .with_momentum(0.1)
        .init(device)
}

impl ResNet {
    /// A freshly initialised trunk: `base` is the stem width (64 in torchvision), `bottleneck`
    /// selects the block type, `blocks` the number of blocks per stage.
    pub fn new(base: usize, bottleneck: bool, blocks: [usize; 4], device: &Device) -> Self {
        let expansion = if bottleneck { 4 } else { 1 };
        let mut in_channels = base;
        let layers = blocks
            .iter()
            .enumerate()
            .map(|(stage, &count)| {
                let planes = base << stage;
                let stride = if stage == 0 { 1 } else { 2 };
                (0..count)
                    .map(|i| {
                        let block = ResidualBlock::new(
                            in_channels,
                            planes,
                            if i == 0 { stride } else { 1 },
                            bottleneck,
                            device,
                        );
                        in_channels = planes * expansion;
                        block
                    })
                    .collect()
            })
            .collect();
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
        let x = relu(self.bn1.forward(self.conv1.forward(images)));
        let mut x = self.maxpool.forward(x);
        for layer in &self.layers {
            for block in layer {
                x = block.forward(x);
            }
        }
        x
    }
}

impl ResidualBlock {
    fn new(in_channels: usize, planes: usize, stride: usize, bottleneck: bool, device: &Device) -> Self {
        let expansion = if bottleneck { 4 } else { 1 };
        let out_channels = planes * expansion;
        let downsample = (stride != 1 || in_channels != out_channels).then(|| Downsample {
            conv: conv([in_channels, out_channels], 1, stride, 1, device),
            bn: batch_norm(out_channels, device),
        });
        if bottleneck {
            ResidualBlock {
                conv1: conv([in_channels, planes], 1, 1, 1, device),
                bn1: batch_norm(planes, device),
                conv2: conv([planes, planes], 3, stride, 1, device),
                bn2: batch_norm(planes, device),
                conv3: Some(conv([planes, out_channels], 1, 1, 1, device)),
                bn3: Some(batch_norm(out_channels, device)),
                downsample,
            }
        } else {
            ResidualBlock {
                conv1: conv([in_channels, planes], 3, stride, 1, device),
                bn1: batch_norm(planes, device),
                conv2: conv([planes, planes], 3, 1, 1, device),
                bn2: batch_norm(planes, device),
                conv3: None,
                bn3: None,
                downsample,
            }
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let out = self.bn2.forward(self.conv2.forward(out));
        let out = match (&self.conv3, &self.bn3) {
            (Some(conv3), Some(bn3)) => bn3.forward(conv3.forward(relu(out))),
            _ => out,
        };
        let shortcut = match &self.downsample {
            Some(down) => down.bn.forward(down.conv.forward(x)),
            None => x,
        };
        relu(out + shortcut)
    }
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

impl TorchParams for ResidualBlock {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.conv1.visit_params(&join(prefix, "conv1"), visit);
        self.bn1.visit_params(&join(prefix, "bn1"), visit);
        self.conv2.visit_params(&join(prefix, "conv2"), visit);
        self.bn2.visit_params(&join(prefix, "bn2"), visit);
        if let Some(conv3) = &mut self.conv3 {
            conv3.visit_params(&join(prefix, "conv3"), visit);
        }
        if let Some(bn3) = &mut self.bn3 {
            bn3.visit_params(&join(prefix, "bn3"), visit);
        }
        if let Some(down) = &mut self.downsample {
            down.conv.visit_params(&join(prefix, "downsample.0"), visit);
            down.bn.visit_params(&join(prefix, "downsample.1"), visit);
        }
    }
}
