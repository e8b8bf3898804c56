mod conv3x3;
#[cfg(feature = "flex")]
mod on_flex;
mod pointwise;

use super::epilogue::Epilogue;

/// Deterministic values in [-4, 4) with a few NaN and out-of-range ones when `special`.
fn values(len: usize, seed: u64, special: bool) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..len)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let x = ((state >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0;
            match i % 97 {
                13 if special => f32::NAN,
                41 if special => 1e4,
                _ => x,
            }
        })
        .collect()
}

/// `got` equals `want` bit for bit, or both are NaN.
fn assert_same(got: &[f32], want: &[f32], what: &dyn std::fmt::Debug) {
    assert_eq!(got.len(), want.len(), "{what:?}");
    for (index, (got, want)) in got.iter().zip(want).enumerate() {
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{what:?} output {index}: {got} against {want}"
        );
    }
}

const EPILOGUES: [Epilogue; 2] = [Epilogue::Identity, Epilogue::Relu6];
