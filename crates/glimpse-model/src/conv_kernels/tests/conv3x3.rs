use super::super::conv3x3::{Dims, MAX_GROUP_INPUTS, conv3x3};
use super::super::epilogue::Epilogue;
use super::{EPILOGUES, assert_same, values};

/// Every tap of every output over the zero-bordered input, summed in the kernel's order (input
/// channels, rows, columns, from zero, then the bias).
fn reference(x: &[f32], weight: &[f32], bias: &[f32], dims: Dims, epilogue: Epilogue) -> Vec<f32> {
    let Dims {
        in_channels,
        out_channels,
        groups,
        height,
        width,
        stride,
    } = dims;
    let (group_in, group_out) = (in_channels / groups, out_channels / groups);
    let (out_height, out_width) = dims.output().unwrap();
    let input = |c: usize, y: isize, x_: isize| {
        let inside = (0..height as isize).contains(&y) && (0..width as isize).contains(&x_);
        if inside {
            x[(c * height + y as usize) * width + x_ as usize]
        } else {
            0.0
        }
    };
    let mut out = Vec::with_capacity(out_channels * out_height * out_width);
    for o in 0..out_channels {
        for oy in 0..out_height {
            for ox in 0..out_width {
                let mut sum = 0.0f32;
                for i in 0..group_in {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (y, x_) = ((stride * oy + ky) as isize - 1, (stride * ox + kx) as isize - 1);
                            let value = input(o / group_out * group_in + i, y, x_);
                            sum += weight[(o * group_in + i) * 9 + ky * 3 + kx] * value;
                        }
                    }
                }
                out.push(epilogue.scalar(sum + bias[o]));
            }
        }
    }
    out
}

fn check(dims: Dims, seed: u64) {
    let (out_height, out_width) = dims.output().unwrap();
    let group_in = dims.in_channels / dims.groups;
    let x = values(dims.in_channels * dims.height * dims.width, seed, true);
    let weight = values(dims.out_channels * group_in * 9, seed + 1, false);
    let bias = values(dims.out_channels, seed + 2, false);
    for epilogue in EPILOGUES {
        let want = reference(&x, &weight, &bias, dims, epilogue);
        // However the groups are split between threads (1: the single-threaded modules).
        for tasks in [1, 2, 3, 5] {
            let mut out = vec![f32::MAX; dims.out_channels * out_height * out_width];
            let done = conv3x3(&x, &weight, &bias, dims, epilogue, &mut out, tasks);
            assert_eq!(done, Some(()), "{dims:?}");
            assert_same(&out, &want, &(dims, epilogue, tasks));
        }
    }
}

#[test]
fn depthwise_at_every_size_and_stride_matches_the_plain_sum_bit_for_bit() {
    // Sides below, at and past a vector (4), odd and even, for both strides.
    for height in [1, 2, 3, 4, 5, 8, 13] {
        for width in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17] {
            for stride in [1, 2] {
                let dims = Dims {
                    in_channels: 3,
                    out_channels: 3,
                    groups: 3,
                    height,
                    width,
                    stride,
                };
                check(dims, (height * 100 + width * 3 + stride) as u64);
            }
        }
    }
}

#[test]
fn every_group_shape_matches_the_plain_sum_bit_for_bit() {
    // [in, out, groups]: the RGB stem (3 → 8), two inputs per group, two filters per channel,
    // and the most inputs per group.
    for [in_channels, out_channels, groups] in [[3, 8, 1], [4, 6, 2], [2, 4, 2], [MAX_GROUP_INPUTS, 5, 1]] {
        for (height, width) in [(5, 9), (8, 8), (3, 1)] {
            for stride in [1, 2] {
                check(
                    Dims {
                        in_channels,
                        out_channels,
                        groups,
                        height,
                        width,
                        stride,
                    },
                    7,
                );
            }
        }
    }
}

#[test]
fn output_sides_are_torchs() {
    // floor((n + 2·1 − 3) / stride) + 1
    let dims = |n, stride| Dims {
        in_channels: 1,
        out_channels: 1,
        groups: 1,
        height: n,
        width: n,
        stride,
    };
    let side = |n, stride| dims(n, stride).output().unwrap().0;
    assert_eq!([side(1, 1), side(7, 1), side(112, 1)], [1, 7, 112]);
    assert_eq!(
        [side(1, 2), side(2, 2), side(7, 2), side(112, 2), side(113, 2)],
        [1, 1, 4, 56, 57]
    );
    assert_eq!(dims(0, 1).output(), None);
    assert_eq!(dims(4, 0).output(), None);
}

#[test]
fn bad_shapes_and_mismatched_lengths_are_refused_untouched() {
    // x: 2·3·4 = 24, weight: 2·1·9 = 18, bias: 2, out: 24.
    let dims = Dims {
        in_channels: 2,
        out_channels: 2,
        groups: 2,
        height: 3,
        width: 4,
        stride: 1,
    };
    let run = |dims: Dims, [x, weight, bias, out]: [usize; 4]| {
        let mut output = vec![-1.0; out];
        let (x, weight, bias) = (vec![1.0; x], vec![1.0; weight], vec![0.0; bias]);
        let result = conv3x3(&x, &weight, &bias, dims, Epilogue::Identity, &mut output, 1);
        assert!(output.iter().all(|&v| v == -1.0), "{dims:?}");
        result
    };
    for lengths in [[23, 18, 2, 24], [24, 17, 2, 24], [24, 18, 3, 24], [24, 18, 2, 25]] {
        assert_eq!(run(dims, lengths), None, "{lengths:?}");
    }
    let bad = [
        Dims { stride: 0, ..dims },
        Dims { stride: 3, ..dims },
        Dims { height: 0, ..dims },
        Dims { width: 0, ..dims },
        Dims { groups: 0, ..dims },
        Dims {
            out_channels: 3,
            ..dims
        }, // 3 outputs in 2 groups
        Dims {
            in_channels: 10,
            groups: 1,
            ..dims
        }, // 10 inputs per group
        Dims {
            in_channels: usize::MAX / 2,
            ..dims
        }, // overflows
    ];
    for dims in bad {
        assert_eq!(run(dims, [24, 18, 2, 24]), None, "{dims:?}");
    }
}
