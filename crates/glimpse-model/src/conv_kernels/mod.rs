//! MobileNetV2's convolutions, fast in the browser's CPU modules: 1×1 ones as one matrix product
//! per image ([`pointwise`]); depthwise 3×3 ones and the first, on 3 channels, directly
//! ([`conv3x3`]); each with its bias and ReLU6 applied as it stores an output. In the threaded
//! module each kernel splits its output between the pool's threads ([`parallel`]).
//!
//! Most of MobileNetV2's arithmetic is in its 1×1 convolutions. burn's CPU backend runs them
//! through the `gemm` crate, whose WebAssembly path spends much of its time arranging operands
//! (packing at every call), then adds the bias and applies ReLU6 in passes of their own over the
//! output; its depthwise and first convolutions go through generic loops and an im2col copy.
//! These kernels read the weights and activations in the order their tiles use them and apply
//! the bias and ReLU6 as they store each output. In headless Chromium, alternating the two
//! builds in one page (6 pairs of 25 photos), the default model's encoder took 35–43 ms per photo
//! (median 38) against 44–50 (median 47.5).
//!
//! With the feature `relaxed-simd` (the browser's `pkg/cpu-relaxed`), the kernels multiply-add
//! with relaxed SIMD's `f32x4.relaxed_madd`, fused where the machine has FMA: the encoder took a
//! median 37 against 40.5 ms per photo in Chromium (README, "Relaxed SIMD"). Every kernel
//! function that multiplies-adds carries the target feature; one without it leaves each
//! multiply-add as a call. Larger tiles (4×12, 6×8, 5×8, 3×16) were slower: x86-64, onto
//! which the browser maps WebAssembly, has 16 vector registers.
//!
//! With the feature `threads` (`pkg/cpu-threads`), where burn's convolutions split their work
//! over the pool, these split theirs (whole row tiles, whole groups): on an isolated page here
//! the threaded module's encoder took 48–71 ms per photo against 78–93 with burn's (3 alternating
//! runs each; README, "Threads").
//!
//! Natively, `gemm` picks AVX2 and FMA at run time and stays faster, so native builds use
//! burn's convolution; the kernels are tested natively all the same (their portable lanes
//! compute the same values as WebAssembly SIMD, bit for bit against a plain loop).

pub mod conv3x3;
mod epilogue;
mod lanes;
mod parallel;
pub mod pointwise;

#[cfg(all(feature = "flex", any(test, target_arch = "wasm32")))]
mod flex;

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

pub use epilogue::Epilogue;

/// Which kernel computes a convolution.
#[cfg(all(feature = "flex", any(test, target_arch = "wasm32")))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// 1×1, stride 1, unpadded, ungrouped: [`pointwise`].
    Pointwise,
    /// 3×3, padding 1, stride 1 or 2, at most [`conv3x3::MAX_GROUP_INPUTS`] input channels per
    /// group: [`conv3x3`].
    Direct3x3 { stride: usize },
}

/// `epilogue(conv(x))` by a kernel where one applies: the browser's CPU modules (the threaded
/// one splits each kernel's output between its pool's threads: [`parallel`]), f32 tensors, a
/// convolution with a bias (a folded BatchNorm) of a shape [`Kernel`] names. Elsewhere `None`,
/// for the caller to run burn's convolution.
pub fn conv2d(conv: &Conv2d, x: &Tensor<4>, epilogue: Epilogue) -> Option<Tensor<4>> {
    #[cfg(all(feature = "flex", target_arch = "wasm32"))]
    if let (Some(kernel), Some(bias)) = (kernel_for(conv, x), &conv.bias) {
        return Some(run(kernel, conv, bias.val(), x.clone(), epilogue));
    }
    let _ = (conv, x, epilogue);
    None
}

/// Runs `kernel` through the backend extension, whatever the target (the tests call it
/// natively).
#[cfg(all(feature = "flex", any(test, target_arch = "wasm32")))]
fn run(kernel: Kernel, conv: &Conv2d, bias: Tensor<1>, x: Tensor<4>, epilogue: Epilogue) -> Tensor<4> {
    use burn::backend::Dispatch;
    use flex::ConvKernels;
    let (x, weight) = (x.into_dispatch(), conv.weight.val().into_dispatch());
    let (bias, relu6) = (bias.into_dispatch(), epilogue == Epilogue::Relu6);
    Tensor::from_dispatch(match kernel {
        Kernel::Pointwise => <Dispatch as ConvKernels>::pointwise_conv(x, weight, bias, relu6),
        Kernel::Direct3x3 { stride } => {
            <Dispatch as ConvKernels>::conv3x3(x, weight, bias, stride, conv.groups, relu6)
        }
    })
}

/// The kernel that computes `conv(x)`, if any: see [`conv2d`].
#[cfg(all(feature = "flex", any(test, target_arch = "wasm32")))]
fn kernel_for(conv: &Conv2d, x: &Tensor<4>) -> Option<Kernel> {
    use burn::backend::DispatchDevice;
    use burn::nn::PaddingConfig2d;
    use burn::tensor::DType;
    let supported = matches!(x.device().as_dispatch(), DispatchDevice::Flex(_))
        && x.dtype() == DType::F32
        && conv.weight.val().dtype() == DType::F32
        && conv.bias.is_some()
        && conv.dilation == [1, 1];
    let padding = match conv.padding {
        PaddingConfig2d::Valid => Some(0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => {
            [left, bottom, right].iter().all(|&p| p == top).then_some(top)
        }
        _ => None,
    };
    let [_, in_channels, _, _] = x.dims();
    let [out_channels, weight_in, kh, kw] = conv.weight.dims();
    let [stride, stride_w] = conv.stride;
    match ([kh, kw], padding, conv.groups) {
        _ if !supported || stride != stride_w => None,
        ([1, 1], Some(0), 1) if stride == 1 && weight_in == in_channels => Some(Kernel::Pointwise),
        ([3, 3], Some(1), groups)
            if groups > 0
                && in_channels == weight_in * groups
                && out_channels % groups == 0
                && weight_in <= conv3x3::MAX_GROUP_INPUTS
                && (1..=2).contains(&stride) =>
        {
            Some(Kernel::Direct3x3 { stride })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
