//! torchvision's ImageNet classifier on top of the trunk, used only to check an imported encoder
//! against PyTorch's ImageNet predictions.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::config::EncoderArch;
use crate::params::{ParamSlot, TorchParams};

/// Global average pooling and the final linear layer (`fc` for ResNets, `classifier.1` for
/// MobileNetV2). Not part of captioning.
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
            .mean_dim(2) // [B, E, 1]
            .reshape([batch, channels]);
        self.fc.forward(pooled)
    }
}

impl TorchParams for ImageNetHead {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.fc.visit_params(prefix, visit);
    }
}
