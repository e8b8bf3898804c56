//! The image encoder: a torchvision CNN cut before pooling, turned into a sequence of grid-cell
//! feature vectors for attention.

pub mod mobilenet_v2;
pub mod resnet;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

use crate::config::{EncoderArch, ModelConfig};
use crate::params::{ParamSlot, TorchParams};
pub use mobilenet_v2::MobileNetV2;
pub use resnet::ResNet;

/// The convolutional network, one of the torchvision families.
#[derive(Module, Debug)]
pub enum Backbone {
    ResNet(ResNet),
    MobileNetV2(MobileNetV2),
}

/// A CNN followed by optional adaptive pooling and flattening of the grid.
#[derive(Module, Debug)]
pub struct Encoder {
    backbone: Backbone,
    /// Adaptive average pooling target (sgrvinod's 14×14), if any.
    pooled_grid: Option<[usize; 2]>,
}

impl Encoder {
    /// A freshly initialised encoder for `config` (weights are loaded over it).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let arch = config.encoder.arch;
        let backbone = match arch.resnet_layers() {
            Some(blocks) => Backbone::ResNet(ResNet::new(
                config.resnet_base_width(),
                arch.is_bottleneck(),
                blocks,
                device,
            )),
            None => Backbone::MobileNetV2(MobileNetV2::new(config.encoder.width_multiplier, device)),
        };
        Encoder {
            backbone,
            pooled_grid: config.encoder.pooled_grid,
        }
    }

    /// `[B, 3, H, W]` → feature map `[B, E, h, w]` (pooled when configured).
    pub fn feature_map(&self, images: Tensor<4>) -> Tensor<4> {
        let map = match &self.backbone {
            Backbone::ResNet(net) => net.forward(images),
            Backbone::MobileNetV2(net) => net.forward(images),
        };
        match self.pooled_grid {
            Some(grid) => adaptive_avg_pool2d(map, grid),
            None => map,
        }
    }

    /// `[B, 3, H, W]` → `[B, P = h·w, E]`, cells in row-major order (as the notebook's
    /// `permute(0, 2, 3, 1).view(B, -1, E)`).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let map = self.feature_map(images);
        let [batch, channels, h, w] = map.dims();
        map.reshape([batch, channels, h * w]).swap_dims(1, 2)
    }
}

impl TorchParams for Encoder {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        match &mut self.backbone {
            Backbone::ResNet(net) => net.visit_params(prefix, visit),
            Backbone::MobileNetV2(net) => net.visit_params(prefix, visit),
        }
    }
}

/// torchvision's ImageNet classifier on top of the trunk: global average pooling and the final
/// linear layer (`fc` for ResNets, `classifier.1` for MobileNetV2). Not part of captioning; it
/// checks an imported encoder against PyTorch's ImageNet predictions.
#[derive(Module, Debug)]
pub struct ImageNetHead {
    fc: Linear,
}

impl ImageNetHead {
    pub fn new(encoder_dim: usize, classes: usize, device: &Device) -> Self {
        ImageNetHead {
            fc: LinearConfig::new(encoder_dim, classes).init(device),
        }
    }

    /// The state-dict name of the linear layer for this architecture.
    pub fn torch_name(arch: EncoderArch) -> &'static str {
        match arch {
            EncoderArch::MobilenetV2 => "classifier.1",
            _ => "fc",
        }
    }

    /// Feature map `[B, E, h, w]` → logits `[B, classes]`.
    pub fn forward(&self, feature_map: Tensor<4>) -> Tensor<2> {
        let [batch, channels, h, w] = feature_map.dims();
        let pooled = feature_map
            .reshape([batch, channels, h * w])
            .mean_dim(2)
            .reshape([batch, channels]);
        self.fc.forward(pooled)
    }
}

impl TorchParams for ImageNetHead {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.fc.visit_params(prefix, visit);
    }
}
