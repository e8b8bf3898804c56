//! The decoder's activations, `tanh` and `sigmoid`, fast on the CPU and safe on every backend.
//!
//! On burn's CPU backend (natively and in the browser's CPU module) both run the vectorised
//! kernels of [`kernels`] through a backend extension ([`flex`]), with gradients from the saved
//! output. burn's own versions call libm once per element; in training they took about a third
//! of the time.
//!
//! Elsewhere (wgpu, CUDA) they are burn's ops, with `tanh`'s input clamped: WGSL's built-in
//! `tanh` may be lowered to `(eˣ − e⁻ˣ)/(eˣ + e⁻ˣ)`, which is ∞/∞ = NaN once |x| exceeds ~44–88
//! (gpuweb/gpuweb#4458); SwiftShader does this, and a trained model's gates reach such values.
//! Clamping to ±15 changes nothing in f32 (tanh(15) already rounds to 1.0).

pub mod kernels;

#[cfg(feature = "flex")]
mod flex;

use burn::tensor::{Device, Tensor, activation};

const TANH_LIMIT: f32 = 15.0;

/// `tanh`, elementwise.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if on_flex(&x.device()) {
        use burn::backend::Dispatch;
        use flex::VectorActivations;
        return Tensor::from_dispatch(<Dispatch as VectorActivations>::vector_tanh(x.into_dispatch()));
    }
    // Two one-sided clamps: burn-flex's two-sided `clamp` does not vectorise.
    activation::tanh(x.clamp_min(-TANH_LIMIT).clamp_max(TANH_LIMIT))
}

/// `sigmoid`, elementwise.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if on_flex(&x.device()) {
        use burn::backend::Dispatch;
        use flex::VectorActivations;
        return Tensor::from_dispatch(<Dispatch as VectorActivations>::vector_sigmoid(x.into_dispatch()));
    }
    activation::sigmoid(x)
}

/// Whether `device` is burn's CPU backend, with or without autodiff: the backends the extension
/// implements (it would panic on any other).
#[cfg(feature = "flex")]
fn on_flex(device: &Device) -> bool {
    use burn::backend::DispatchDevice;
    match device.as_dispatch() {
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "autodiff")]
        DispatchDevice::Autodiff(inner) => matches!(**inner, DispatchDevice::Flex(_)),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

#[cfg(test)]
mod tests;
