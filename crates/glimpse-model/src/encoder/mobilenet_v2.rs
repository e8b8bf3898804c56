//! torchvision's MobileNetV2 `features` (the light encoder for the web), cut before `classifier`.
//!
//! Names follow torchvision's `state_dict()`: `features.0.0` (stem conv), `features.0.1` (its
//! BatchNorm), `features.N.conv.*` for the 17 inverted residual blocks, `features.18.*` for the
//! final 1×1 convolution to 1280 channels.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

use super::resnet::{batch_norm, conv};
use crate::config::make_divisible;
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

#[derive(Module, Debug)]
pub struct MobileNetV2 {
    /// `features.0`: 3×3 stride-2 convolution, BatchNorm, ReLU6.
    stem: ConvBnRelu6,
    /// `features.1` … `features.17`.
    blocks: Vec<InvertedResidual>,
    /// `features.18`: 1×1 convolution to the last channel count, BatchNorm, ReLU6.
    head: ConvBnRelu6,
}

/// torchvision's `Conv2dNormActivation` with ReLU6.
#[derive(Module, Debug)]
pub struct ConvBnRelu6 {
    conv: Conv2d,
    bn: BatchNorm,
}

/// Expand (1×1, skipped when t = 1), depthwise 3×3, linear projection (1×1) with BatchNorm;
/// a residual connection when the shape is kept.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvBnRelu6>,
    depthwise: ConvBnRelu6,
    project: Conv2d,
    project_bn: BatchNorm,
    residual: bool,
}

impl MobileNetV2 {
    /// A freshly initialised network with torchvision's `width_mult`.
    pub fn new(width_mult: f64, device: &Device) -> Self {
        let mut in_channels = make_divisible(32.0 * width_mult, 8);
        let last_channels = make_divisible(1280.0 * width_mult.max(1.0), 8);
        let stem = ConvBnRelu6::new([3, in_channels], 3, 2, 1, device);
        let mut blocks = Vec::new();
        for (t, c, n, s) in SETTINGS {
            let out_channels = make_divisible(c as f64 * width_mult, 8);
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                blocks.push(InvertedResidual::new(
                    in_channels,
                    out_channels,
                    stride,
                    t,
                    device,
                ));
                in_channels = out_channels;
            }
        }
        let head = ConvBnRelu6::new([in_channels, last_channels], 1, 1, 1, device);
        MobileNetV2 { stem, blocks, head }
    }

    /// `[B, 3, H, W]` → `[B, 1280, H/32, W/32]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = self.stem.forward(images);
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward(x)
    }
}

impl ConvBnRelu6 {
    fn new(channels: [usize; 2], kernel: usize, stride: usize, groups: usize, device: &Device) -> Self {
        ConvBnRelu6 {
            conv: conv(channels, kernel, stride, groups, device),
            bn: batch_norm(channels[1], device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x)).clamp(0.0, 6.0)
    }
}

impl InvertedResidual {
    fn new(inp: usize, oup: usize, stride: usize, expand_ratio: usize, device: &Device) -> Self {
        // torchvision: hidden_dim = int(round(inp * expand_ratio)); exact for whole ratios.
        let hidden = inp * expand_ratio;
        InvertedResidual {
            expand: (expand_ratio != 1).then(|| ConvBnRelu6::new([inp, hidden], 1, 1, 1, device)),
            depthwise: ConvBnRelu6::new([hidden, hidden], 3, stride, hidden, device),
            project: conv([hidden, oup], 1, 1, 1, device),
            project_bn: batch_norm(oup, device),
            residual: stride == 1 && inp == oup,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = match &self.expand {
            Some(expand) => expand.forward(x.clone()),
            None => x.clone(),
        };
        let out = self.depthwise.forward(out);
        let out = self.project_bn.forward(self.project.forward(out));
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

impl TorchParams for ConvBnRelu6 {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.conv.visit_params(&join(prefix, "0"), visit);
        self.bn.visit_params(&join(prefix, "1"), visit);
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
