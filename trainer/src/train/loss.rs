//! The training objective of Show, Attend and Tell (Xu et al. 2015, eq. 14):
//!
//! ```text
//! L = − Σ_t log p(y_t) / #tokens  +  λ · mean_{b,p} (1 − Σ_t α_{b,t,p})²
//! ```
//! Cross-entropy over the real (non-padding) words, plus the doubly stochastic attention
//! regularisation that pushes every image position to be looked at about once over a caption.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

/// The two terms, each a one-element tensor (kept separate so both can be logged).
pub struct CaptionLoss {
    pub cross_entropy: Tensor<1>,
    pub attention: Tensor<1>,
}

impl CaptionLoss {
    pub fn total(&self) -> Tensor<1> {
        self.cross_entropy.clone() + self.attention.clone()
    }
}

/// `logits` `[B, T, V]`, `alphas` `[B, T, P]`, `targets` `[B, T]` (the next words), `mask`
/// `[B, T]` (1 for a real word, 0 for padding), `tokens` = Σ mask.
pub fn caption_loss(
    logits: Tensor<3>,
    alphas: Tensor<3>,
    targets: Tensor<2, Int>,
    mask: Tensor<2>,
    tokens: usize,
    alpha_c: f64,
) -> CaptionLoss {
    let [batch, steps, _] = logits.dims();
    let log_probs = log_softmax(logits, 2); // [B, T, V]
    let picked = log_probs
        .gather(2, targets.reshape([batch, steps, 1]))
        .reshape([batch, steps]); // [B, T]
    let cross_entropy = (picked * mask.clone()).sum().neg() / tokens.max(1) as f32; // [1]
    // Attention over each caption's real steps only, as sgrvinod's packed sequences give.
    let seen = (alphas * mask.unsqueeze_dim::<3>(2)).sum_dim(1); // [B, 1, P]
    let attention = (seen.neg() + 1.0).powi_scalar(2).mean() * alpha_c as f32; // [1]
    CaptionLoss {
        cross_entropy,
        attention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn matches_a_hand_computation() {
        let device = Device::flex();
        // B = 1, T = 2, V = 2, P = 2; the second step is padding.
        let logits =
            Tensor::<3>::from_data(TensorData::new(vec![0.0f32, 1.0, 5.0, -5.0], [1, 2, 2]), &device);
        let alphas =
            Tensor::<3>::from_data(TensorData::new(vec![0.25f32, 0.75, 0.5, 0.5], [1, 2, 2]), &device);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 0], [1, 2]), &device);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        let loss = caption_loss(logits, alphas, targets, mask, 1, 2.0);
        let ce: f32 = loss.cross_entropy.into_scalar();
        let expected = -(1.0f32 - (1.0f32.exp() + 1.0).ln());
        assert!((ce - expected).abs() < 1e-5, "{ce} vs {expected}");
        // Σ_t α over the one real step = (0.25, 0.75): mean((0.75², 0.25²)) · 2.
        let reg: f32 = loss.attention.into_scalar();
        assert!((reg - (0.5625 + 0.0625)).abs() < 1e-6, "{reg}");
    }
}
