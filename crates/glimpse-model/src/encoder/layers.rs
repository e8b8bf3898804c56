//! The convolution and BatchNorm pieces both torchvision families are built from.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::conv_kernels::{self, Epilogue};
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

/// `bn(conv(x))`, or `conv(x)` alone once [`fold_batch_norm`] has folded `bn` into `conv`: the
/// encoder's convolutions are bias-free, so a bias means the fold happened.
pub fn conv_bn(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    conv_bn_then(conv, bn, x, Epilogue::Identity)
}

/// `relu6(bn(conv(x)))`, as [`conv_bn`].
pub fn conv_bn_relu6(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    conv_bn_then(conv, bn, x, Epilogue::Relu6)
}

/// `epilogue(bn(conv(x)))`. Folded 1×1 and depthwise 3×3 convolutions run by [`conv_kernels`]
/// where it applies (the browser's CPU module), the epilogue included.
fn conv_bn_then(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>, epilogue: Epilogue) -> Tensor<4> {
    let y = match conv.bias {
        Some(_) => match conv_kernels::conv2d(conv, &x, epilogue) {
            Some(y) => return y,
            None => conv.forward(x),
        },
        None => bn.forward(conv.forward(x)),
    };
    match epilogue {
        Epilogue::Identity => y,
        Epilogue::Relu6 => relu6(y),
    }
}

/// Folds an inference BatchNorm into the bias-free convolution before it: with
/// `s = γ / √(σ² + ε)` per output channel, `w' = w · s` and a bias `β − μ · s`. One
/// convolution then does the work of the convolution and BatchNorm's four passes over its output
/// (subtract, divide, multiply, add). The running statistics are read, never updated.
pub fn fold_batch_norm(conv: &mut Conv2d, bn: &BatchNorm) {
    if conv.bias.is_some() {
        return; // folded already
    }
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt(); // [out]
    let [out] = scale.dims();
    let weight = conv.weight.val() * scale.clone().reshape([out, 1, 1, 1]); // [out, in/groups, k, k]
    let bias = bn.beta.val() - bn.running_mean.value() * scale; // [out]
    conv.weight = Param::from_tensor(weight);
    conv.bias = Some(Param::from_tensor(bias));
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
        conv_bn(&self.conv, &self.bn, x)
    }

    /// `relu6(forward(x))`: MobileNetV2's `Conv2dNormActivation`.
    pub fn forward_relu6(&self, x: Tensor<4>) -> Tensor<4> {
        conv_bn_relu6(&self.conv, &self.bn, x)
    }

    /// See [`fold_batch_norm`].
    pub fn fold_batch_norm(&mut self) {
        fold_batch_norm(&mut self.conv, &self.bn);
    }
}

impl TorchParams for ConvNorm {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.conv.visit_params(&join(prefix, "0"), visit);
        self.bn.visit_params(&join(prefix, "1"), visit);
    }
}

/// `min(max(x, 0), 6)`, MobileNetV2's activation. As `relu` then `clamp_max`, not `clamp`:
/// burn-flex's `clamp` checks its bounds inside the loop (`f32::clamp` asserts), which keeps
/// it scalar; the two one-sided ops vectorise. In WebAssembly `clamp` took a quarter of a
/// caption's time, the two passes a tenth of that (profiled under Node's V8).
pub fn relu6<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    relu(x).clamp_max(6.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn relu6_is_min_max_element_by_element_nan_kept() {
        let values = [
            f32::NEG_INFINITY,
            -7.0,
            -0.5,
            0.0,
            1e-30,
            0.5,
            5.999,
            6.0,
            6.001,
            1e30,
            f32::INFINITY,
        ];
        let x = Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &Device::flex());
        let got: Vec<f32> = relu6(x).into_data().try_to_vec().unwrap();
        let want: Vec<f32> = values.iter().map(|v| v.clamp(0.0, 6.0)).collect();
        assert_eq!(got, want);
        let nan = Tensor::<1>::from_data(TensorData::new(vec![f32::NAN], [1]), &Device::flex());
        assert!(
            relu6(nan).into_data().try_to_vec::<f32>().unwrap()[0].is_nan(),
            "NaN propagates, as in PyTorch"
        );
    }
}
