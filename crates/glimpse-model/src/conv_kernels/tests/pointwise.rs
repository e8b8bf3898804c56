use super::super::epilogue::Epilogue;
use super::super::pointwise::{Dims, matmul_bias};
use super::{EPILOGUES, assert_same, values};

/// The product summed in the kernel's order (k ascending, from zero, then the bias), one
/// output at a time.
fn reference(a: &[f32], bias: &[f32], b: &[f32], Dims { m, k, n }: Dims, epilogue: Epilogue) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f32;
            for kk in 0..k {
                sum += a[i * k + kk] * b[kk * n + j];
            }
            let y = sum + bias[i];
            c[i * n + j] = epilogue.scalar(y);
        }
    }
    c
}

#[test]
fn every_tile_and_edge_matches_the_plain_sum_bit_for_bit() {
    // Rows below, at and past a tile (4); columns below, at and past a tile (8) and a block (256).
    for m in [1, 3, 4, 5, 8, 13] {
        for k in [0, 1, 7, 16] {
            for n in [1, 7, 8, 9, 49, 263, 520] {
                for epilogue in EPILOGUES {
                    let dims = Dims { m, k, n };
                    let seed = (m * 1000 + k * 10 + n) as u64;
                    let (a, bias, b) = (
                        values(m * k, seed, false),
                        values(m, seed + 1, false),
                        values(k * n, seed + 2, true),
                    );
                    let want = reference(&a, &bias, &b, dims, epilogue);
                    // However the rows are split between threads (1 is the single-threaded
                    // modules' split; 5 runs leave some empty where m is small).
                    for tasks in [1, 2, 3, 5] {
                        let mut c = vec![f32::MAX; m * n];
                        let done = matmul_bias(&a, &bias, &b, dims, epilogue, &mut c, tasks);
                        assert_eq!(done, Some(()));
                        assert_same(&c, &want, &(dims, epilogue, tasks));
                    }
                }
            }
        }
    }
}

#[test]
fn relu6_clamps_and_keeps_nan() {
    let c = {
        let dims = Dims { m: 4, k: 1, n: 8 };
        let b = [-7.0, -0.0, 0.5, 5.999, 6.0, 6.5, f32::INFINITY, f32::NAN];
        let mut c = vec![0.0; 32];
        matmul_bias(&[1.0; 4], &[0.0; 4], &b, dims, Epilogue::Relu6, &mut c, 1).unwrap();
        c
    };
    for row in c.chunks(8) {
        assert_eq!(&row[..7], &[0.0, 0.0, 0.5, 5.999, 6.0, 6.0, 6.0]);
        assert!(row[7].is_nan());
    }
}

#[test]
fn mismatched_lengths_are_refused_and_the_output_is_untouched() {
    let dims = Dims { m: 4, k: 2, n: 8 }; // a: 8, bias: 4, b: 16, c: 32
    for [a, bias, b, c] in [[7, 4, 16, 32], [8, 3, 16, 32], [8, 4, 17, 32], [8, 4, 16, 31]] {
        let mut output = vec![-1.0; c];
        let result = matmul_bias(
            &vec![1.0; a],
            &vec![0.0; bias],
            &vec![1.0; b],
            dims,
            Epilogue::Identity,
            &mut output,
            2,
        );
        assert_eq!(result, None, "lengths {a} {bias} {b} {c}");
        assert!(output.iter().all(|&v| v == -1.0));
    }
    let overflowing = Dims {
        m: usize::MAX,
        k: 2,
        n: 2,
    };
    assert_eq!(
        matmul_bias(
            &[0.0; 8],
            &[0.0; 4],
            &[0.0; 4],
            overflowing,
            Epilogue::Identity,
            &mut [0.0; 4],
            2,
        ),
        None
    );
}
