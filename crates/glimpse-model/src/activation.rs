//! `tanh` that is safe on every backend.
//!
//! WGSL's built-in `tanh` may be lowered to `(eˣ − e⁻ˣ)/(eˣ + e⁻ˣ)`, which is ∞/∞ = NaN once
//! |x| exceeds ~44–88 (gpuweb/gpuweb#4458); SwiftShader does this, and a trained model's gates
//! reach such values. Clamping to ±15 changes nothing in f32 (tanh(15) already rounds to 1.0)
//! and keeps WebGPU's results equal to the CPU's.

use burn::tensor::Tensor;
use burn::tensor::activation::tanh;

const LIMIT: f32 = 15.0;

pub fn stable_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    tanh(x.clamp(-LIMIT, LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn equals_tanh_and_saturates() {
        let device = Device::flex();
        let x = Tensor::<1>::from_data(
            TensorData::new(vec![-1000.0f32, -15.5, -1.0, 0.0, 0.5, 15.0, 90.0], [7]),
            &device,
        );
        let ours: Vec<f32> = stable_tanh(x.clone()).into_data().try_to_vec().unwrap();
        let reference: Vec<f32> = tanh(x).into_data().try_to_vec().unwrap();
        assert_eq!(ours, reference);
    }
}
