//! The kernels through burn's CPU backend against burn's own convolution.

use super::super::{Epilogue, Kernel, kernel_for, run};
use super::EPILOGUES;
use crate::encoder::layers::{conv, relu6};
use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor, TensorData, Tolerance};

/// A convolution with random weights and a bias, as after a BatchNorm fold.
fn folded_conv(channels: [usize; 2], kernel: usize, stride: usize, groups: usize, device: &Device) -> Conv2d {
    let mut conv = conv(channels, kernel, stride, groups, device);
    let [out, per_group, kh, kw] = conv.weight.dims();
    let weight = super::values(out * per_group * kh * kw, 5, false);
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weight, [out, per_group, kh, kw]),
        device,
    ));
    let bias = super::values(out, 7, false);
    conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [out]),
        device,
    )));
    conv
}

/// `[2, channels, height, width]`, permuted from `[2, height, width, channels]`: not contiguous.
fn input(channels: usize, height: usize, width: usize, device: &Device) -> Tensor<4> {
    let values = super::values(2 * channels * height * width, 3, true);
    Tensor::<4>::from_data(TensorData::new(values, [2, height, width, channels]), device)
        .permute([0, 3, 1, 2])
}

fn assert_matches_burn(conv: &Conv2d, x: Tensor<4>, kernel: Kernel) {
    assert_eq!(kernel_for(conv, &x), Some(kernel));
    let expected = conv.forward(x.clone());
    for epilogue in EPILOGUES {
        let bias = conv.bias.as_ref().unwrap().val();
        let got = run(kernel, conv, bias, x.clone(), epilogue).to_data();
        let expected = match epilogue {
            Epilogue::Identity => expected.clone(),
            Epilogue::Relu6 => relu6(expected.clone()),
        };
        got.assert_approx_eq::<f32>(&expected.to_data(), Tolerance::rel_abs(1e-5, 1e-5));
    }
}

#[test]
fn pointwise_gives_burns_convolution_and_relu6() {
    let device = Device::flex();
    assert_matches_burn(
        &folded_conv([24, 36], 1, 1, 1, &device),
        input(24, 7, 9, &device),
        Kernel::Pointwise,
    );
}

#[test]
fn conv3x3_gives_burns_convolution_and_relu6_at_both_strides() {
    let device = Device::flex();
    // [in, out, groups]: depthwise, the RGB stem, two filters per channel.
    for [in_channels, out_channels, groups] in [[6, 6, 6], [3, 8, 1], [4, 8, 4]] {
        for (height, width) in [(1, 1), (2, 3), (7, 7), (9, 12), (14, 13)] {
            for stride in [1, 2] {
                let conv = folded_conv([in_channels, out_channels], 3, stride, groups, &device);
                let x = input(in_channels, height, width, &device);
                assert_matches_burn(&conv, x, Kernel::Direct3x3 { stride });
            }
        }
    }
}

#[test]
fn only_the_shapes_the_kernels_compute_are_sent_to_them() {
    let device = Device::flex();
    let x = Tensor::<4>::zeros([1, 8, 5, 5], &device);
    let kernel = |conv: &Conv2d| kernel_for(conv, &x);
    let conv3x3 = |stride| Some(Kernel::Direct3x3 { stride });
    assert_eq!(
        kernel(&folded_conv([8, 8], 1, 1, 1, &device)),
        Some(Kernel::Pointwise)
    );
    assert_eq!(kernel(&folded_conv([8, 8], 3, 2, 8, &device)), conv3x3(2)); // depthwise
    assert_eq!(kernel(&folded_conv([8, 16], 3, 1, 8, &device)), conv3x3(1)); // two filters per channel
    assert_eq!(kernel(&folded_conv([8, 4], 3, 1, 2, &device)), conv3x3(1)); // 4 inputs per group
    let rgb = Tensor::<4>::zeros([1, 3, 5, 5], &device);
    assert_eq!(
        kernel_for(&folded_conv([3, 32], 3, 2, 1, &device), &rgb),
        conv3x3(2)
    ); // the stem
    assert_eq!(kernel(&folded_conv([8, 8], 3, 1, 1, &device)), None); // 8 inputs per group
    assert_eq!(kernel(&folded_conv([8, 8], 1, 2, 1, &device)), None); // 1×1 with stride 2
    assert_eq!(kernel(&folded_conv([8, 8], 1, 1, 8, &device)), None); // 1×1 grouped
    assert_eq!(kernel(&folded_conv([8, 8], 3, 3, 8, &device)), None); // 3×3, stride 3
    assert_eq!(kernel(&folded_conv([8, 8], 5, 1, 8, &device)), None); // 5×5
    assert_eq!(kernel(&folded_conv([4, 8], 1, 1, 1, &device)), None); // 4 input channels, x has 8
    assert_eq!(kernel(&conv([8, 8], 1, 1, 1, &device)), None); // no bias: not folded
    let mut dilated = folded_conv([8, 8], 3, 1, 8, &device);
    dilated.dilation = [2, 2];
    assert_eq!(kernel(&dilated), None);
}
