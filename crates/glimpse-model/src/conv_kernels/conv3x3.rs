//! A 3×3 convolution (padding 1, stride 1 or 2) computed directly, with a bias, then optionally
//! ReLU6: MobileNetV2's depthwise convolutions (one input channel per group) and its first
//! convolution (3 input channels), where a matrix product would spend more time arranging the
//! inputs (im2col) than multiplying.
//!
//! Each input plane is first copied into a zero-bordered scratch plane, so that no tap needs a
//! bounds test; for stride 2 its even and odd columns go to two planes, so that the inputs of 4
//! neighbouring outputs are 4 adjacent values for every tap. Then 16 outputs at a time sum their
//! taps in vector registers, and the bias and epilogue are applied as they are stored.

use super::epilogue::Epilogue;
use super::lanes::F32x4;
use super::parallel;

/// Vectors of outputs per step along a row.
const VECTORS: usize = 4;
/// Outputs per step along a row.
const STEP: usize = 4 * VECTORS;

/// The most input channels per group: the kernel is for depthwise convolutions (1) and the
/// first convolution of an RGB image (3); with more, a matrix product is faster.
pub const MAX_GROUP_INPUTS: usize = 4;

/// One image's sizes and the convolution's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Both channel counts divide into `groups`; each output channel reads the input channels
    /// of its group.
    pub groups: usize,
    pub height: usize,
    pub width: usize,
    pub stride: usize,
}

impl Dims {
    /// `(height, width)` of the output: `⌊(n + 2 − 3) / stride⌋ + 1` per side; `None` for an
    /// empty side or a zero stride.
    pub fn output(self) -> Option<(usize, usize)> {
        let side = |n: usize| Some(n.checked_sub(1)?.checked_div(self.stride)? + 1);
        Some((side(self.height)?, side(self.width)?))
    }

    /// `(input, output)` channels per group; `None` unless both divide evenly.
    fn per_group(self) -> Option<(usize, usize)> {
        let divides = |n: usize| n.checked_rem(self.groups) == Some(0);
        (divides(self.in_channels) && divides(self.out_channels))
            .then(|| (self.in_channels / self.groups, self.out_channels / self.groups))
    }
}

/// `out = epilogue(conv3x3(x) + bias)` for one image: `x` `[in, height, width]`, `weight`
/// `[out, in / groups, 3, 3]`, `bias` `[out]`, `out` `[out, output height, output width]`; its
/// groups split into at most `tasks` runs, each computed on its own (with its own scratch
/// planes) and, in the threaded module, on its own thread of the pool ([`parallel`]).
/// `None` (and `out` untouched) for another stride, an empty plane, channels that do not divide
/// into the groups or more than [`MAX_GROUP_INPUTS`] per group, or a slice whose length does
/// not match.
pub fn conv3x3(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    dims: Dims,
    epilogue: Epilogue,
    out: &mut [f32],
    tasks: usize,
) -> Option<()> {
    if !(1..=2).contains(&dims.stride) {
        return None;
    }
    let (out_height, out_width) = dims.output()?;
    let (group_in, group_out) = dims.per_group()?;
    let plane = dims.height.checked_mul(dims.width)?;
    let out_plane = out_height.checked_mul(out_width)?;
    let filter = group_in.checked_mul(9)?; // one output channel's weights
    if group_in == 0
        || group_in > MAX_GROUP_INPUTS
        || x.len() != dims.in_channels.checked_mul(plane)?
        || weight.len() != dims.out_channels.checked_mul(filter)?
        || bias.len() != dims.out_channels
        || out.len() != dims.out_channels.checked_mul(out_plane)?
    {
        return None;
    }
    let groups_per_run = dims.groups.div_ceil(tasks.max(1));
    let group_len = group_out.checked_mul(out_plane)?;
    parallel::try_for_each_run(out, groups_per_run.checked_mul(group_len)?, |run, out| {
        let (first, groups) = (run * groups_per_run, out.len() / group_len.max(1));
        let x = &x[first * group_in * plane..][..groups * group_in * plane];
        let weight = &weight[first * group_out * filter..][..groups * group_out * filter];
        let bias = &bias[first * group_out..][..groups * group_out];
        let sizes = [plane, filter, out_plane];
        convolve_groups(x, weight, bias, dims, sizes, epilogue, out)
    })
}

/// [`conv3x3`] on the calling thread over the whole groups that `x`, `weight`, `bias` and `out`
/// hold; `sizes`: values per input plane, per output channel's weights, per output plane.
fn convolve_groups(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    dims: Dims,
    [plane, filter, out_plane]: [usize; 3],
    epilogue: Epilogue,
    out: &mut [f32],
) -> Option<()> {
    let (group_in, group_out) = dims.per_group()?;
    let (_, out_width) = dims.output()?;
    let mut scratch = Scratch::new(dims, group_in)?;
    let groups = x
        .chunks_exact(group_in * plane)
        .zip(weight.chunks_exact(group_out * filter));
    let groups = groups
        .zip(bias.chunks_exact(group_out))
        .zip(out.chunks_exact_mut(group_out * out_plane));
    for (((x, weights), bias), out) in groups {
        for (input, x) in x.chunks_exact(plane).enumerate() {
            scratch.fill(input, x, dims.width);
        }
        for ((w, &b), out) in weights
            .chunks_exact(filter)
            .zip(bias)
            .zip(out.chunks_exact_mut(out_plane))
        {
            scratch.convolve(w, b, epilogue, out_width, out);
        }
    }
    Some(())
}

/// The bordered copies of one group's input planes. Per input, for stride 1 one plane
/// `[height + 2][row]` with the input at column 1; for stride 2 its even columns then its odd
/// ones, `2 × [height + 2][row]`. `row` leaves room for a whole step past the last output, so
/// loads never run off a row.
struct Scratch {
    values: Vec<f32>,
    /// Values per scratch row.
    row: usize,
    /// Rows per scratch plane (`height + 2`).
    rows: usize,
    /// Where each tap column reads: the scratch plane (of the input's 1 or 2) and the offset in
    /// its row.
    taps: [(usize, usize); 3],
    stride: usize,
}

impl Scratch {
    fn new(dims: Dims, inputs: usize) -> Option<Self> {
        let (_, out_width) = dims.output()?;
        let row = out_width
            .div_ceil(STEP)
            .checked_mul(STEP)?
            .checked_add(2)?
            .max(dims.width.checked_add(2)?);
        let rows = dims.height.checked_add(2)?;
        let planes = inputs.checked_mul(dims.stride)?;
        let values = vec![0.0; row.checked_mul(rows)?.checked_mul(planes)?];
        // Output column j reads input column stride·j − 1 + kx: bordered column stride·j + kx.
        let taps = if dims.stride == 1 {
            [(0, 0), (0, 1), (0, 2)]
        } else {
            [(0, 0), (1, 0), (0, 1)]
        };
        Some(Scratch {
            values,
            row,
            rows,
            taps,
            stride: dims.stride,
        })
    }

    fn plane_len(&self) -> usize {
        self.row * self.rows
    }

    /// Copies plane `x` (`[height, width]`) in as input `input`, leaving the border and the tail
    /// of each row zero.
    fn fill(&mut self, input: usize, x: &[f32], width: usize) {
        let (plane_len, first_plane) = (self.plane_len(), input * self.stride);
        for (y, x_row) in x.chunks_exact(width).enumerate() {
            let at = (y + 1) * self.row;
            if self.stride == 1 {
                let start = first_plane * plane_len + at + 1;
                self.values[start..start + width].copy_from_slice(x_row);
            } else {
                // Bordered column c (input column c − 1) goes to plane c % 2, index c / 2.
                for (c, &value) in (1..).zip(x_row) {
                    self.values[(first_plane + c % 2) * plane_len + at + c / 2] = value;
                }
            }
        }
    }

    /// One output plane (`[out height, out width]`) from the filled scratch and its filter
    /// `w` (`[inputs][3][3]`), with the filter's length a constant so that the tap loop unrolls.
    fn convolve(&self, w: &[f32], bias: f32, epilogue: Epilogue, out_width: usize, out: &mut [f32]) {
        match w.len() {
            9 => self.convolve_taps::<9>(w, bias, epilogue, out_width, out),
            18 => self.convolve_taps::<18>(w, bias, epilogue, out_width, out),
            27 => self.convolve_taps::<27>(w, bias, epilogue, out_width, out),
            _ => self.convolve_taps::<{ 9 * MAX_GROUP_INPUTS }>(w, bias, epilogue, out_width, out),
        }
    }

    #[cfg_attr(
        all(target_arch = "wasm32", feature = "relaxed-simd"),
        target_feature(enable = "relaxed-simd")
    )]
    fn convolve_taps<const TAPS: usize>(
        &self,
        w: &[f32],
        bias: f32,
        epilogue: Epilogue,
        out_width: usize,
        out: &mut [f32],
    ) {
        let Ok(w) = <&[f32; TAPS]>::try_from(w) else {
            return; // (not reached: `convolve` matched the length)
        };
        let (plane_len, b) = (self.plane_len(), F32x4::splat(bias));
        let mut partial = [0.0f32; STEP];
        let mut sources: [&[f32]; TAPS] = [&[]; TAPS];
        for (oy, out_row) in out.chunks_exact_mut(out_width).enumerate() {
            // The row each weight of `w` reads for this output row, in the order of `w`.
            for (i, source) in sources.iter_mut().enumerate() {
                let (input, ky, (plane, offset)) = (i / 9, i % 9 / 3, self.taps[i % 3]);
                let start =
                    (input * self.stride + plane) * plane_len + (self.stride * oy + ky) * self.row + offset;
                *source = &self.values[start..start + self.row - 2];
            }
            for ox in (0..out_width).step_by(STEP) {
                // VECTORS independent sums: one chain of dependent adds would wait on each.
                let mut sums = [F32x4::zero(); VECTORS];
                for (&weight, source) in w.iter().zip(&sources) {
                    let Some(values) = source[ox..].first_chunk::<STEP>() else {
                        return; // (not reached: rows hold whole steps past the output)
                    };
                    let weight = F32x4::splat(weight);
                    for (sum, lanes) in sums.iter_mut().zip(values.as_chunks::<4>().0) {
                        *sum = sum.mul_add(weight, F32x4::load(lanes));
                    }
                }
                let lanes = (out_width - ox).min(STEP);
                let full = lanes == STEP;
                let out: &mut [f32; STEP] = match out_row[ox..].first_chunk_mut::<STEP>() {
                    Some(out) if full => out,
                    _ => &mut partial,
                };
                for (sum, lanes) in sums.into_iter().zip(out.as_chunks_mut::<4>().0) {
                    epilogue.lanes(sum.add(b)).store(lanes);
                }
                if !full {
                    out_row[ox..].copy_from_slice(&partial[..lanes]);
                }
            }
        }
    }
}
