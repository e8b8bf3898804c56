//! The image encoder: a torchvision CNN cut before pooling, turned into a sequence of grid-cell
//! feature vectors for attention.
//!
//! Each network sits in its own file with its architecture table (ResNet depths, MobileNetV2's
//! inverted residual settings); [`encoder_dim`] and [`native_grid`] derive the output shape
//! from them, and [`crate::config::ModelConfig`] asks here rather than repeating the arithmetic.

pub mod block;
pub mod imagenet_head;
pub mod layers;
pub mod mobilenet_v2;
pub mod resnet;
pub mod stages;

use burn::module::Module;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

use crate::config::EncoderConfig;
use crate::params::{ParamSlot, TorchParams};
pub use block::{BlockKind, ResidualBlock};
pub use imagenet_head::ImageNetHead;
pub use mobilenet_v2::MobileNetV2;
pub use resnet::{ResNet, ResNetDims};
pub use stages::{StageCost, encoder_stage, stage_costs};

/// The convolutional network, one of the torchvision families.
// One per model: the size difference between the variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
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

/// Channels of each grid cell's feature vector (2048 for ResNet-50, 1280 for MobileNetV2).
pub fn encoder_dim(config: &EncoderConfig) -> usize {
    match ResNetDims::from_config(config) {
        Some(dims) => dims.out_channels(),
        None => MobileNetV2::out_channels(config.width_multiplier),
    }
}

/// Side of the feature map after the five stride-2 stages both torchvision families share
/// (each a 3×3-or-larger window padded to keep `floor((n - 1) / 2) + 1`). `side` must be
/// positive.
pub fn native_grid(side: usize) -> usize {
    (0..5).fold(side, |n, _| n.saturating_sub(1) / 2 + 1)
}

impl Encoder {
    /// A freshly initialised encoder for `config` (weights are loaded over it).
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        let backbone = match ResNetDims::from_config(config) {
            Some(dims) => Backbone::ResNet(ResNet::new(&dims, device)),
            None => Backbone::MobileNetV2(MobileNetV2::new(config.width_multiplier, device)),
        };
        Encoder {
            backbone,
            pooled_grid: config.pooled_grid,
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

    /// Folds every BatchNorm into the convolution before it ([`layers::fold_batch_norm`]): the
    /// same features (to float rounding) in fewer passes. For inference only: a folded encoder
    /// no longer holds the file's tensors, so it is neither trained nor exported.
    pub fn fold_batch_norms(&mut self) {
        match &mut self.backbone {
            Backbone::ResNet(net) => net.fold_batch_norms(),
            Backbone::MobileNetV2(net) => net.fold_batch_norms(),
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
