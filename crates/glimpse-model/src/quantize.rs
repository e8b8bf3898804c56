//! Int8 storage: per-output-channel symmetric quantisation of the weights.
//!
//! Every weight of rank ≥ 2 (convolution kernels, linear layers, the word embedding) is stored as
//! I8 values `q` beside a `<name>_scale` of shape `[out]`, `out` being its first dimension, and
//! read back as `q · scale[out]` (the "channel" scheme and `weight_scale` naming of
//! compressed-tensors checkpoints). The scales are F16 when every one of them is an f16 normal
//! number (F32 otherwise): the values are quantised with the rounded scales, so the file reads
//! back exactly what was quantised. Biases and BatchNorm statistics stay F16. Computation is f32
//! either way: int8 only shrinks the file (about a quarter of F32).
//!
//! ```text
//! scale[o] = max |w[o, …]| / 127        q[o, …] = round(w[o, …] / scale[o])  ∈ [-127, 127]
//! ```

use half::f16;
use safetensors::tensor::{Dtype, TensorView};

use crate::bundle::StoredTensor;
use crate::error::{Error, Result};
use crate::weights::HostTensor;

/// The scale tensor of `<name>` is `<name>_scale`.
pub const SCALE_SUFFIX: &str = "_scale";

/// `tensor` as I8 values and the scale of each output channel; `None` for a tensor int8 storage
/// leaves alone (rank below 2, or empty), which is stored as F16.
pub fn quantize(name: &str, tensor: &HostTensor) -> Option<[StoredTensor; 2]> {
    let (&rows, rest) = tensor.shape.split_first()?;
    if rest.is_empty() || tensor.numel() == 0 {
        return None;
    }
    let width = tensor.numel() / rows; // rows > 0: the tensor is not empty
    let channels = tensor.data.chunks_exact(width);
    let to_f16 = |s: f32| f16::from_f32(s).to_f32();
    // F16 when each channel's unclipped scale fits one: past f16's range, the largest scale
    // that fit clipped the channel's largest values by 17% (hostile round 22).
    let halves: Option<Vec<f16>> = channels
        .clone()
        .map(|row| {
            let half = f16::from_f32(channel_scale(row, to_f16));
            (f16::from_f32(full_scale(row)).is_finite() && half.is_normal()).then_some(half)
        })
        .collect();
    let scale_name = format!("{name}{SCALE_SUFFIX}");
    let (scales, stored_scales): (Vec<f32>, _) = match halves {
        Some(halves) => {
            let bytes = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
            let stored = StoredTensor::raw(&scale_name, Dtype::F16, vec![rows], bytes);
            (halves.iter().map(|h| h.to_f32()).collect(), stored)
        }
        None => {
            let scales = HostTensor {
                shape: vec![rows],
                data: channels.map(|row| channel_scale(row, |s| s)).collect(),
            };
            (scales.data.clone(), StoredTensor::f32(&scale_name, &scales))
        }
    };
    let values = tensor
        .data
        .chunks_exact(width)
        .zip(&scales)
        .flat_map(|(row, &scale)| {
            row.iter()
                .map(move |v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8)
        })
        .collect();
    let values = StoredTensor::raw(name, Dtype::I8, tensor.shape.clone(), values);
    Some([values, stored_scales])
}

/// What int8 storage reads back for `tensor` (`None` where it stores the tensor as F16): the
/// weights a model trained for int8 storage computes with (`encoder_int8` in training).
pub fn int8_values(name: &str, tensor: &HostTensor) -> Option<HostTensor> {
    let [values, scale] = quantize(name, tensor)?;
    dequantize(name, &as_view(&values)?, Some(&as_view(&scale)?)).ok()
}

fn as_view(stored: &StoredTensor) -> Option<TensorView<'_>> {
    TensorView::new(stored.dtype, stored.shape.clone(), &stored.bytes).ok()
}

/// The scale, among `max |v| / 127` and smaller ones down to half of it (each as `stored` keeps
/// it), that stores the channel with the least squared error: clipping a rare large value to ±127
/// steps can make the steps of all the others finer. 1 for a channel of zeros (or of values so
/// small that the scale would not be a normal float), whose values then all store as 0.
fn channel_scale(row: &[f32], stored: impl Fn(f32) -> f32) -> f32 {
    let full = full_scale(row);
    if full.is_nan() || full < f32::MIN_POSITIVE {
        return 1.0;
    }
    let error = |scale: f32| -> f64 {
        row.iter()
            .map(|&v| {
                let stored = (v / scale).round().clamp(-127.0, 127.0) * scale;
                f64::from(v - stored).powi(2)
            })
            .sum()
    };
    (0..=CLIP_STEPS)
        .map(|k| stored(full * (1.0 - 0.5 * k as f32 / CLIP_STEPS as f32)))
        .filter(|&scale| scale >= f32::MIN_POSITIVE)
        .map(|scale| (error(scale), scale))
        .fold((f64::INFINITY, stored(full)), |best, candidate| {
            if candidate.0 < best.0 { candidate } else { best }
        })
        .1
}

/// The scale that stores a channel's largest value as ±127: `max |v| / 127`.
fn full_scale(row: &[f32]) -> f32 {
    row.iter().fold(0.0f32, |max, v| max.max(v.abs())) / 127.0
}

/// Candidate scales tried between `max / 127` and half of it.
const CLIP_STEPS: usize = 50;

/// Reads an I8 tensor back as f32 with its `scale` tensor, checking that the two belong
/// together: the scale is F32 or F16, of shape `[out]`, every value finite and positive.
pub fn dequantize(name: &str, values: &TensorView<'_>, scale: Option<&TensorView<'_>>) -> Result<HostTensor> {
    let fail = |message: String| Error::Quantized {
        name: name.to_string(),
        message,
    };
    let shape = values.shape().to_vec();
    let Some(scale) = scale else {
        return Err(fail(format!("it has no `{name}{SCALE_SUFFIX}` tensor")));
    };
    if shape.len() < 2 {
        return Err(fail(format!(
            "shape {shape:?}: only tensors of rank 2 or more are stored as int8"
        )));
    }
    if scale.shape() != [shape[0]] {
        return Err(fail(format!(
            "`{name}{SCALE_SUFFIX}` has shape {:?}, expected [{}] (one scale per output channel)",
            scale.shape(),
            shape[0]
        )));
    }
    let scales = crate::bundle::read_floats(&format!("{name}{SCALE_SUFFIX}"), scale)?;
    if let Some((index, bad)) = scales
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(fail(format!(
            "scale {bad} of output channel {index} is not a positive finite number"
        )));
    }
    let width = values.data().len().checked_div(shape[0]).unwrap_or(0);
    // Sized up front: collected from `flat_map`, which cannot tell its length, the vector grew
    // by doubling and kept up to twice the memory (the browser's memory never shrinks).
    let mut data = Vec::with_capacity(values.data().len());
    if width > 0 {
        for (row, &s) in values.data().chunks_exact(width).zip(&scales) {
            data.extend(row.iter().map(|&q| q as i8 as f32 * s));
        }
    }
    HostTensor::new(shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(stored: &StoredTensor) -> TensorView<'_> {
        as_view(stored).unwrap()
    }

    fn round_trip(tensor: &HostTensor) -> HostTensor {
        let [values, scale] = quantize("w", tensor).unwrap();
        assert_eq!((values.dtype, scale.name.as_str()), (Dtype::I8, "w_scale"));
        assert_eq!(scale.shape, vec![tensor.shape[0]]);
        dequantize("w", &view(&values), Some(&view(&scale))).unwrap()
    }

    /// Deterministic weights with a few outliers, as trained layers have.
    fn weights(rows: usize, width: usize) -> HostTensor {
        let mut state = 12345u32;
        let data = (0..rows * width)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let v = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                if i % 97 == 0 { v * 0.3 } else { v * 0.1 }
            })
            .collect();
        HostTensor::new(vec![rows, width], data).unwrap()
    }

    /// Each channel's squared error is at most that of the plain `max / 127` scale (as F16
    /// stores it), computed here independently; with outliers it is smaller.
    #[test]
    fn never_worse_than_the_full_range_scale() {
        let tensor = weights(16, 200);
        let back = round_trip(&tensor);
        let mut improved = 0;
        for (got, want) in back.data.chunks(200).zip(tensor.data.chunks(200)) {
            let step = want.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            let step = f16::from_f32(step).to_f32();
            let plain: f64 = want
                .iter()
                .map(|v| f64::from(v - (v / step).round() * step).powi(2))
                .sum();
            let ours: f64 = got.iter().zip(want).map(|(g, w)| f64::from(g - w).powi(2)).sum();
            assert!(ours <= plain * (1.0 + 1e-9), "{ours} > {plain}");
            improved += usize::from(ours < plain);
        }
        assert!(improved > 0, "clipping never helped on rows with outliers");
    }

    /// The values hold no spare capacity: a bundle's weights are all dequantised at once, and
    /// in the browser memory that was once grown for them stays with the page.
    #[test]
    fn dequantised_values_are_allocated_exactly() {
        let back = round_trip(&weights(300, 137));
        assert_eq!(back.data.len(), 300 * 137);
        assert_eq!(back.data.capacity(), back.data.len());
    }

    /// A channel of equal magnitudes is stored within the F16 rounding of its scale; zeros and
    /// values too small for a normal scale store as zeros.
    #[test]
    fn exact_channels_and_empty_ones() {
        let tensor = HostTensor::new(
            vec![3, 3],
            vec![0.3, -0.3, 0.3, 0.0, 0.0, 0.0, 1e-40, -1e-40, 0.0],
        )
        .unwrap();
        let back = round_trip(&tensor);
        for (got, want) in back.data[..3].iter().zip([0.3f32, -0.3, 0.3]) {
            assert!((got - want).abs() <= 0.3 / 2048.0, "{got} for {want}");
        }
        assert_eq!(&back.data[3..], &[0.0; 6]);
    }

    /// Scales are F16 when they fit as normal numbers, F32 when one would not; either way the
    /// file reads back what `int8_values` says, bit for bit.
    #[test]
    fn scales_are_f16_where_they_fit_and_read_back_exactly() {
        let fits = weights(8, 50);
        let mut tiny = fits.clone();
        tiny.data[..50].iter_mut().for_each(|v| *v *= 1e-6); // scale ≈ 4e-10: below f16's range
        for (tensor, dtype) in [(fits, Dtype::F16), (tiny, Dtype::F32)] {
            let [_, scale] = quantize("w", &tensor).unwrap();
            assert_eq!(scale.dtype, dtype);
            let back = round_trip(&tensor);
            let once = int8_values("w", &tensor).unwrap();
            assert_eq!(once.data, back.data);
            assert_eq!(
                int8_values("w", &once).unwrap().data,
                once.data,
                "not a fixed point"
            );
        }
        let bias = HostTensor::new(vec![3], vec![1.0, 2.0, 3.0]).unwrap();
        assert!(int8_values("b", &bias).is_none());
    }

    /// A channel whose scale is past f16's range gets F32 scales, not a clipped f16 one (values
    /// of 1e7 read back as 8.3e6: hostile round 22).
    #[test]
    fn scales_past_f16s_range_are_f32_and_nothing_is_clipped() {
        let mut huge = weights(4, 8);
        huge.data[..3].copy_from_slice(&[1e7, -5e6, 0.5]);
        let [_, scale] = quantize("w", &huge).unwrap();
        assert_eq!(scale.dtype, Dtype::F32);
        let back = round_trip(&huge);
        let step = 1e7 / 127.0;
        for (v, b) in huge.data[..8].iter().zip(&back.data) {
            assert!((v - b).abs() <= step / 2.0 * 1.001, "{v} read back as {b}");
        }
    }

    #[test]
    fn mismatched_or_missing_scales_are_refused_by_name() {
        let tensor = HostTensor::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let [values, _] = quantize("decoder.fcn.weight", &tensor).unwrap();
        let err = dequantize("decoder.fcn.weight", &view(&values), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("decoder.fcn.weight") && err.contains("no `decoder.fcn.weight_scale`"),
            "{err}"
        );

        let wrong = StoredTensor::f32("s", &HostTensor::new(vec![3], vec![1.0; 3]).unwrap());
        let err = dequantize("decoder.fcn.weight", &view(&values), Some(&view(&wrong)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("shape [3], expected [2]"), "{err}");

        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let scale = StoredTensor::f32("s", &HostTensor::new(vec![2], vec![1.0, bad]).unwrap());
            let err = dequantize("decoder.fcn.weight", &view(&values), Some(&view(&scale)))
                .unwrap_err()
                .to_string();
            assert!(err.contains("output channel 1"), "{err}");
        }
    }
}
