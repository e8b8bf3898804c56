//! The kernels as a burn backend extension on the CPU backend (`Flex`): each runs once per image
//! over the tensors' memory.

use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::TensorData;
use burn::tensor::ops::ConvOptions;
use burn_flex::FlexTensor;

use super::epilogue::Epilogue;
use super::{conv3x3, parallel, pointwise};

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

/// The f32 values of `x`, the weight and the bias; `None` for another dtype.
fn values<'a>(x: &'a FlexTensor, weight: &'a FlexTensor, bias: &'a FlexTensor) -> Option<[&'a [f32]; 3]> {
    Some([x.as_slice()?, weight.as_slice()?, bias.as_slice()?])
}

/// The tensor `out_shape` (`[B, …]`) from `kernel` run on each of `input`'s B images of
/// `image_in` values; `None` for an empty image, a size that overflows, or an image the kernel
/// refuses.
fn per_image(
    input: &[f32],
    image_in: usize,
    out_shape: [usize; 4],
    mut kernel: impl FnMut(&[f32], &mut [f32]) -> Option<()>,
) -> Option<FlexTensor> {
    let [batch, channels, height, width] = out_shape;
    let image_out = channels.checked_mul(height)?.checked_mul(width)?;
    if image_in == 0 || image_out == 0 || input.len() != batch.checked_mul(image_in)? {
        return None;
    }
    let mut output = vec![0.0f32; batch.checked_mul(image_out)?];
    for (x, out) in input
        .chunks_exact(image_in)
        .zip(output.chunks_exact_mut(image_out))
    {
        kernel(x, out)?;
    }
    Some(FlexTensor::from_data(TensorData::new(output, out_shape)))
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
    let [input, a, bias] = values(x, weight, bias)?;
    let pixels = height.checked_mul(width)?;
    if weight_k != k {
        return None;
    }
    let dims = pointwise::Dims { m, k, n: pixels };
    per_image(
        input,
        k.checked_mul(pixels)?,
        [batch, m, height, width],
        |b, c| pointwise::matmul_bias(a, bias, b, dims, epilogue, c, parallel::tasks()),
    )
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
    let [input, w, bias] = values(x, weight, bias)?;
    let dims = conv3x3::Dims {
        in_channels,
        out_channels,
        groups,
        height,
        width,
        stride,
    };
    let (out_height, out_width) = dims.output()?;
    let image_in = in_channels.checked_mul(height)?.checked_mul(width)?;
    per_image(
        input,
        image_in,
        [batch, out_channels, out_height, out_width],
        |x, out| conv3x3::conv3x3(x, w, bias, dims, epilogue, out, parallel::tasks()),
    )
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
