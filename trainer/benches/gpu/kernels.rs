//! Single operations at the sizes the encoder runs, in TFLOP/s, to tell where the GPU's time
//! goes: a large matrix product, three of ResNet-50's convolutions at batch 64, and the 3×3 one
//! again as im2col + matrix product (`kernels.py` times the same in PyTorch).

use anyhow::Result;
use burn::tensor::module::{conv2d, unfold4d};
use burn::tensor::ops::{ConvOptions, UnfoldOptions};
use burn::tensor::{Device, Distribution, Tensor};
use glimpse_model::generate::read_f32;
use serde_json::json;

use crate::common::median_ms;
use crate::{Rows, Sizes, gpu};

/// A convolution: input `[B, C, H, W]`, `out` channels, a `kernel`² window, stride, padding.
struct Conv {
    name: &'static str,
    input: [usize; 4],
    out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

/// ResNet-50's stem, a layer3 3×3 and a layer3 1×1 (the batch is filled in).
const CONVS: [Conv; 3] = [
    Conv {
        name: "conv 7x7/2, 3->64, 224x224 (stem)",
        input: [0, 3, 224, 224],
        out: 64,
        kernel: 7,
        stride: 2,
        padding: 3,
    },
    Conv {
        name: "conv 3x3, 256->256, 14x14 (layer3)",
        input: [0, 256, 14, 14],
        out: 256,
        kernel: 3,
        stride: 1,
        padding: 1,
    },
    Conv {
        name: "conv 1x1, 1024->256, 14x14 (layer3)",
        input: [0, 1024, 14, 14],
        out: 256,
        kernel: 1,
        stride: 1,
        padding: 0,
    },
];

/// Waits for `tensor` through a one-number readback.
fn wait<const D: usize>(tensor: Tensor<D>) {
    pollster::block_on(read_f32(tensor.sum())).unwrap();
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

pub fn run(rows: &Rows, sizes: &Sizes) -> Result<()> {
    let device = gpu()?;
    let repeats = sizes.caption_repeats;
    let n = if sizes.caption_throughput_batch < 64 {
        512
    } else {
        4096
    };
    let (a, b) = (random([n, n], &device), random([n, n], &device));
    let ms = median_ms(3, repeats, &mut || wait(a.clone().matmul(b.clone())));
    let flop = 2.0 * (n * n * n) as f64;
    rows.push(json!({"op": format!("matmul {n}x{n}x{n}"), "ms": ms, "tflops": flop / ms / 1e9}))?;
    let batch = sizes.caption_throughput_batch;
    for conv in CONVS {
        let [_, channels, height, width] = conv.input;
        let x = random([batch, channels, height, width], &device);
        let weight = random([conv.out, channels, conv.kernel, conv.kernel], &device);
        let (s, p) = (conv.stride, conv.padding);
        let out_side = (height + 2 * p - conv.kernel) / s + 1;
        let flop =
            2.0 * (batch * conv.out * out_side * out_side * channels * conv.kernel * conv.kernel) as f64;
        let options = ConvOptions::new([s, s], [p, p], [1, 1], 1);
        let ms = median_ms(3, repeats, &mut || {
            wait(conv2d(x.clone(), weight.clone(), None, options.clone()))
        });
        rows.push(json!({"op": conv.name, "batch": batch, "ms": ms, "tflops": flop / ms / 1e9}))?;
        if conv.kernel == 3 {
            // [B, C·k², L] columns times the weight as [out, C·k²]: the same product as a GEMM.
            let unfold = UnfoldOptions::new([s, s], [p, p], [1, 1]);
            let matrix = weight
                .clone()
                .reshape([conv.out, channels * conv.kernel * conv.kernel]);
            let ms = median_ms(3, repeats, &mut || {
                let columns = unfold4d(x.clone(), [conv.kernel, conv.kernel], unfold.clone());
                wait(matrix.clone().unsqueeze::<3>().matmul(columns)); // [B, out, L]
            });
            let name = format!("{} as im2col + matmul", conv.name);
            rows.push(json!({"op": name, "batch": batch, "ms": ms, "tflops": flop / ms / 1e9}))?;
        }
    }
    Ok(())
}
