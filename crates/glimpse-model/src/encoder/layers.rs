//! The convolution and BatchNorm pieces both torchvision families are built from.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use crate::params::{ParamSlot, TorchParams, join};

/// A bias-free convolution padded by `kernel / 2` on every side, as torchvision's `conv1x1`,
/// `conv3x3` and `Conv2dNormActivation` (`floor((n - 1) / stride) + 1` outputs per side for odd
/// kernels).
pub fn conv(channels: [usize; 2], kernel: usize, stride: usize, groups: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

/// BatchNorm with PyTorch's epsilon and momentum.
pub fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(1e-5)
        .with_momentum(0.1)
        .init(device)
}

/// `Sequential(conv, BatchNorm)`: a ResNet's `downsample` and, followed by ReLU6, MobileNetV2's
/// `Conv2dNormActivation`. PyTorch numbers the two `0` and `1`.
#[derive(Module, Debug)]
pub struct ConvNorm {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvNorm {
    /// `channels` `[in, out]`; `groups` = `in` makes the convolution depthwise.
    pub fn new(channels: [usize; 2], kernel: usize, stride: usize, groups: usize, device: &Device) -> Self {
        ConvNorm {
            conv: conv(channels, kernel, stride, groups, device),
            bn: batch_norm(channels[1], device),
        }
    }

    /// `[B, in, H, W]` → `[B, out, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

impl TorchParams for ConvNorm {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.conv.visit_params(&join(prefix, "0"), visit);
        self.bn.visit_params(&join(prefix, "1"), visit);
    }
}

/// `min(max(x, 0), 6)`, MobileNetV2's activation.
pub fn relu6<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clamp(0.0, 6.0)
}
