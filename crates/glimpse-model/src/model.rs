//! The whole network: encoder + attention decoder, with every tensor under its PyTorch name
//! (`encoder.<torchvision name>`, `decoder.<notebook name>`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::config::ModelConfig;
use crate::decoder::{Decoder, EncodedImages};
use crate::encoder::Encoder;
use crate::error::Result;
use crate::params::{ParamSlot, TorchParams, export_params, join, load_params, load_params_moving};
use crate::weights::TensorMap;

#[derive(Module, Debug)]
pub struct CaptionModel {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl CaptionModel {
    /// A freshly initialised model (random weights), e.g. to train from. The config is
    /// validated first: its numbers size every tensor allocated here (see
    /// [`crate::config::limits`]).
    pub fn new(config: &ModelConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        Ok(CaptionModel {
            encoder: Encoder::new(&config.encoder, device),
            decoder: Decoder::new(&config.decoder_dims(), device),
        })
    }

    /// A model holding exactly `weights`: every expected tensor present with its shape, nothing
    /// else (the error lists every missing, unexpected and misshapen tensor).
    pub fn from_weights(config: &ModelConfig, weights: &TensorMap, device: &Device) -> Result<Self> {
        let mut model = CaptionModel::new(config, device)?;
        load_params(&mut model, weights, device)?;
        Ok(model)
    }

    /// [`CaptionModel::from_weights`], moving the tensors out of `weights` instead of copying
    /// them: loading never holds the weights twice.
    pub fn from_owned_weights(config: &ModelConfig, weights: TensorMap, device: &Device) -> Result<Self> {
        let mut model = CaptionModel::new(config, device)?;
        load_params_moving(&mut model, weights, device)?;
        Ok(model)
    }

    /// Every tensor under its PyTorch name, read back to the host.
    pub async fn weights(&mut self) -> Result<TensorMap> {
        export_params(self).await
    }

    /// Images `[B, 3, H, W]` → features `[B, P, E]` ready for decoding.
    pub fn encode(&self, images: Tensor<4>) -> EncodedImages {
        self.decoder.prepare(self.encoder.forward(images))
    }
}

impl TorchParams for CaptionModel {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.encoder.visit_params(&join(prefix, "encoder"), visit);
        self.decoder.visit_params(&join(prefix, "decoder"), visit);
    }
}
