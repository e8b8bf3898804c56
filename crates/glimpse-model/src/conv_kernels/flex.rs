//! The kernels as a burn backend extension on the CPU backend (`Flex`): each runs once per image
//! over the tensors' memory.

use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::TensorData;
use burn::tensor::ops::ConvOptions;
use burn_flex::FlexTensor;

use super::epilogue::Epilogue;
use super::{conv3x3, pointwise};

#[backend_extension(Flex)]
pub trait ConvKernels: Backend {
    /// `x` `[B, k, H, W]`, `weight` `[m, k, 1, 1]`, `bias` `[m]` → `[B, m, H, W]`, then ReLU6
    /// if `relu6`.
    fn pointwise_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu6: bool,
    ) -> FloatTensor<Self>;

    /// `x` `[B, in, H, W]`, `weight` `[out, in / groups, 3, 3]`, `bias` `[out]`, padding 1,
    /// `stride` 1 or 2 → `[B, out, H', W']`, then ReLU6 if `relu6`.
    fn conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        groups: usize,
        relu6: bool,
    ) -> FloatTensor<Self>;
}

impl ConvKernels for Flex {
    fn pointwise_conv(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu6: bool) -> FlexTensor {
        let [x, weight, bias] = contiguous([x, weight, bias]);
        match pointwise_product(&x, &weight, &bias, epilogue(relu6)) {
            Some(y) => y,
            None => fallback(
                x,
                weight,
                bias,
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
                epilogue(relu6),
            ),
        }
    }

    fn conv3x3(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        groups: usize,
        relu6: bool,
    ) -> FlexTensor {
        let [x, weight, bias] = contiguous([x, weight, bias]);
        match conv3x3_product(&x, &weight, &bias, stride, groups, epilogue(relu6)) {
            Some(y) => y,
            None => {
                let options = ConvOptions::new([stride, stride], [1, 1], [1, 1], groups);
                fallback(x, weight, bias, options, epilogue(relu6))
            }
        }
    }
}

fn epilogue(relu6: bool) -> Epilogue {
    if relu6 {
        Epilogue::Relu6
    } else {
        Epilogue::Identity
    }
}

fn contiguous<const N: usize>(tensors: [FlexTensor; N]) -> [FlexTensor; N] {
    tensors.map(|t| if t.is_contiguous() { t } else { t.to_contiguous() })
}

fn four(shape: &[usize]) -> Option<[usize; 4]> {
    shape.try_into().ok()
}

/// [`pointwise::matmul_bias`] per image, or `None` where it does not apply (another dtype,
/// shapes that do not match a 1×1 convolution).
fn pointwise_product(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    epilogue: Epilogue,
) -> Option<FlexTensor> {
    let [batch, k, height, width] = four(x.layout().shape())?;
    let [m, weight_k, 1, 1] = four(weight.layout().shape())? else {
        return None;
    };
    let pixels = height.checked_mul(width)?;
    let (input, a, bias) = (
        x.as_slice::<f32>()?,
        weight.as_slice::<f32>()?,
        bias.as_slice::<f32>()?,
    );
    if weight_k != k || input.len() != batch.checked_mul(k)?.checked_mul(pixels)? || k == 0 || pixels == 0 {
        return None;
    }
    let image_out = m.checked_mul(pixels)?;
    let mut output = vec![0.0f32; batch.checked_mul(image_out)?]; // [B, m, H, W]
    let dims = pointwise::Dims { m, k, n: pixels };
    for (b, c) in input
        .chunks_exact(k * pixels)
        .zip(output.chunks_exact_mut(image_out))
    {
        pointwise::matmul_bias(a, bias, b, dims, epilogue, c)?;
    }
    Some(FlexTensor::from_data(TensorData::new(
        output,
        [batch, m, height, width],
    )))
}

/// [`conv3x3::conv3x3`] per image, or `None` where it does not apply.
fn conv3x3_product(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: usize,
    groups: usize,
    epilogue: Epilogue,
) -> Option<FlexTensor> {
    let [batch, in_channels, height, width] = four(x.layout().shape())?;
    let [out_channels, _, 3, 3] = four(weight.layout().shape())? else {
        return None;
    };
    let dims = conv3x3::Dims {
        in_channels,
        out_channels,
        groups,
        height,
        width,
        stride,
    };
    let (out_height, out_width) = dims.output()?;
    let (input, w, bias) = (
        x.as_slice::<f32>()?,
        weight.as_slice::<f32>()?,
        bias.as_slice::<f32>()?,
    );
    let image_in = in_channels.checked_mul(height)?.checked_mul(width)?;
    let image_out = out_channels.checked_mul(out_height)?.checked_mul(out_width)?;
    if image_in == 0 || image_out == 0 || input.len() != batch.checked_mul(image_in)? {
        return None;
    }
    let mut output = vec![0.0f32; batch.checked_mul(image_out)?]; // [B, out, H', W']
    for (x, out) in input
        .chunks_exact(image_in)
        .zip(output.chunks_exact_mut(image_out))
    {
        conv3x3::conv3x3(x, w, bias, dims, epilogue, out)?;
    }
    Some(FlexTensor::from_data(TensorData::new(
        output,
        [batch, out_channels, out_height, out_width],
    )))
}

/// burn's own convolution and ReLU6.
fn fallback(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    options: ConvOptions<2>,
    epilogue: Epilogue,
) -> FlexTensor {
    let y = Flex::conv2d(x, weight, Some(bias), options);
    match epilogue {
        Epilogue::Identity => y,
        Epilogue::Relu6 => Flex::float_clamp_max(Flex::relu(y), 6.0.into()),
    }
}
