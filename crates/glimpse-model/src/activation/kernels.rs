//! `tanh`, `sigmoid` and the `exp` beneath them in plain `f32` arithmetic, so that a loop over a
//! slice vectorises: 4 lanes of WebAssembly SIMD or SSE2, 8 of AVX2 where the CPU has it. libm's
//! versions (what burn-flex calls) are one function call per element.
//!
//! Every step is a single IEEE operation (no fused multiply-add, no table), so a value is the
//! same bit for bit natively and in the browser, with or without AVX2. Accuracy, checked by the
//! tests below against f64: `exp` within 2 ulp, `tanh` and `sigmoid` within 4 ulp; NaN stays
//! NaN, ±∞ saturate, and `tanh(-0) = -0`.

/// `exp(x)`, Cephes' `expf`: `x = n·ln 2 + r` with |r| ≤ ln 2 / 2, a degree-5 polynomial for
/// `eʳ`, and `2ⁿ` built in the exponent bits. Inputs are clamped to [-87, 88] so that `2ⁿ` stays
/// a normal number: below, the result is e⁻⁸⁷ ≈ 1.6e-38 instead of smaller; above, e⁸⁸ instead
/// of larger (callers only use it where that cannot show).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts: n·LN2_HI is exact for the n that occur here.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to an integer and leaves that integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // `if` rather than `clamp`: `f32::clamp` asserts, which keeps the loop from vectorising.
    #[allow(clippy::manual_clamp)]
    let x = if x < -87.0 {
        -87.0
    } else if x > 88.0 {
        88.0
    } else {
        x
    };
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes' 5.0000001201e-1, rounded to f32
    let e_r = p * (r * r) + r + 1.0;
    // The low bits of `shifted` hold n (two's complement); the bits above them shift out.
    let two_to_n = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    e_r * two_to_n
}

/// `tanh(x)`. For |x| ≥ ln(3)/2 (where the result is at least ½): `1 − 2/(e^{2|x|} + 1)`; below,
/// where that would cancel: `m/(m + 2)` with `m = e^{2|x|} − 1` from its Taylor series (to the
/// 11th power; the next term is under 4e-9 of m on this interval). The sign is copied back.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    const SMALL: f32 = 0.549_306_1; // ln(3)/2
    let a = x.abs();
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let y = 2.0 * a;
    let mut m = 1.0 / 39_916_800.0; // 1/11!
    for inverse_factorial in [
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
    ] {
        m = m * y + inverse_factorial;
    }
    let m = m * y;
    let small = m / (m + 2.0);
    let magnitude = if a < SMALL { small } else { large };
    magnitude.copysign(x)
}

/// `sigmoid(x) = 1/(1 + e⁻ˣ)`: exactly 1 from x ≈ 17 up, and about 6e-39 (not 0) below -88.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Defines `$name(values: &mut [f32])`, which applies `$f` to every value in place, with AVX2
/// when the CPU has it (checked once; `std` caches the answer).
macro_rules! in_place {
    ($name:ident, $f:ident) => {
        pub fn $name(values: &mut [f32]) {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                fn wide(values: &mut [f32]) {
                    values.iter_mut().for_each(|v| *v = $f(*v));
                }
                // SAFETY: the CPU has just said that it supports AVX2.
                return unsafe { wide(values) };
            }
            values.iter_mut().for_each(|v| *v = $f(*v));
        }
    };
}

in_place!(tanh_in_place, tanh);
in_place!(sigmoid_in_place, sigmoid);

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in representable f32 values (ulp) from `got` to the f64 `want` rounded to f32.
    fn ulps(got: f32, want: f64) -> u32 {
        let key = |v: f32| {
            let bits = v.to_bits() as i64;
            if bits < 0 {
                i64::from(i32::MIN) - bits
            } else {
                bits
            }
        };
        (key(got) - key(want as f32)).unsigned_abs() as u32
    }

    /// Every 97th f32 in [-lo, hi] and its negative: about 20 million values.
    fn sweep(limit: f32) -> impl Iterator<Item = f32> {
        (0..limit.to_bits()).step_by(97).flat_map(|bits| {
            let v = f32::from_bits(bits);
            [v, -v]
        })
    }

    fn worst(f: fn(f32) -> f32, reference: fn(f64) -> f64, inputs: impl Iterator<Item = f32>) -> (u32, f32) {
        let worst = inputs
            .map(|x| (ulps(f(x), reference(f64::from(x))), x))
            .max_by_key(|&(u, _)| u)
            .unwrap();
        eprintln!("worst: {} ulp at {}", worst.0, worst.1);
        worst
    }

    #[test]
    fn exp_is_within_2_ulp_where_it_does_not_clamp() {
        let (ulp, at) = worst(exp, f64::exp, sweep(87.0));
        assert!(ulp <= 2, "exp: {ulp} ulp at {at}");
    }

    #[test]
    fn tanh_is_within_4_ulp_everywhere() {
        let (ulp, at) = worst(tanh, f64::tanh, sweep(f32::MAX));
        assert!(ulp <= 4, "tanh: {ulp} ulp at {at}");
    }

    #[test]
    fn sigmoid_is_within_4_ulp_down_to_its_clamp() {
        let reference = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (ulp, at) = worst(sigmoid, reference, sweep(87.0));
        assert!(ulp <= 4, "sigmoid: {ulp} ulp at {at}");
        // Beyond the clamp: 1 above, within 1e-38 of 0 below.
        assert_eq!(sigmoid(1e30), 1.0);
        assert!((0.0..1e-38).contains(&sigmoid(-1e30)));
    }

    #[test]
    fn special_values() {
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert!(sigmoid(f32::NEG_INFINITY) < 1e-38);
        for f in [exp, tanh, sigmoid] {
            assert!(f(f32::NAN).is_nan());
        }
    }

    #[test]
    fn slices_give_the_scalar_values() {
        // Long enough for the vector loop and its remainder, with every special value.
        let mut values: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) * 0.037).collect();
        values.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e30, -1e30]);
        for (in_place, f) in [
            (tanh_in_place as fn(&mut [f32]), tanh as fn(f32) -> f32),
            (sigmoid_in_place, sigmoid),
        ] {
            let mut got = values.clone();
            in_place(&mut got);
            for (g, v) in got.iter().zip(&values) {
                assert_eq!(g.to_bits(), f(*v).to_bits(), "at {v}");
            }
        }
    }
}
