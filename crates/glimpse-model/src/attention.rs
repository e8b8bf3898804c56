//! Bahdanau (additive) soft attention over the encoder grid.
//!
//! ```text
//! e = A(act(U f + W h))      score per grid cell
//! α = softmax(e)             over the cells
//! z = Σ α_i f_i              context vector
//! ```
//! The notebook names the layers `U`, `W`, `A` with tanh; sgrvinod's tutorial names them
//! `encoder_att`, `decoder_att`, `full_att` with relu. Bundles keep the notebook's names.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor};

use crate::activation::tanh;
use crate::config::AttentionActivation;
use crate::params::{ParamSlot, TorchParams, join};

/// The sizes of one attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionDims {
    /// Channels of each grid cell's feature vector `f`.
    pub encoder_dim: usize,
    /// Width of the LSTM state `h`.
    pub decoder_dim: usize,
    /// Width of the U and W projections.
    pub attention_dim: usize,
    pub activation: AttentionActivation,
}

#[derive(Module, Debug)]
pub struct Attention {
    /// `U`: encoder_dim → attention_dim.
    u: Linear,
    /// `W`: decoder_dim → attention_dim.
    w: Linear,
    /// `A`: attention_dim → 1.
    a: Linear,
    /// relu (sgrvinod) instead of tanh (the notebook).
    use_relu: bool,
}

impl Attention {
    pub fn new(dims: &AttentionDims, device: &Device) -> Self {
        let dim = dims.attention_dim;
        Attention {
            u: LinearConfig::new(dims.encoder_dim, dim).init(device),
            w: LinearConfig::new(dims.decoder_dim, dim).init(device),
            a: LinearConfig::new(dim, 1).init(device),
            use_relu: dims.activation == AttentionActivation::Relu,
        }
    }

    /// `U f`, which does not change while a caption is decoded: `[B, P, E]` → `[B, P, A]`.
    pub fn project_features(&self, features: Tensor<3>) -> Tensor<3> {
        self.u.forward(features)
    }

    /// One attention step.
    ///
    /// `features` `[B, P, E]`, `projected` (= `U f`) `[B, P, A]`, `hidden` `[B, D]` →
    /// (`alpha` `[B, P]`, `context` `[B, E]`).
    pub fn forward(
        &self,
        features: Tensor<3>,
        projected: Tensor<3>,
        hidden: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        let [batch, positions, _] = projected.dims();
        let combined = projected + self.w.forward(hidden).unsqueeze_dim(1); // [B, P, A]
        let combined = if self.use_relu {
            relu(combined)
        } else {
            tanh(combined)
        };
        let scores = self.a.forward(combined).reshape([batch, positions]); // [B, P]
        let alpha = softmax(scores, 1);
        // [B, 1, P] × [B, P, E] → [B, 1, E]
        let context = alpha.clone().unsqueeze_dim::<3>(1).matmul(features);
        let encoder_dim = context.dims()[2];
        (alpha, context.reshape([batch, encoder_dim])) // [B, P], [B, E]
    }
}

impl TorchParams for Attention {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.u.visit_params(&join(prefix, "U"), visit);
        self.w.visit_params(&join(prefix, "W"), visit);
        self.a.visit_params(&join(prefix, "A"), visit);
    }
}
