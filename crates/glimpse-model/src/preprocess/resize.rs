//! `image::imageops::resize(…, FilterType::Triangle)` for RGB images, one output row at a time.
//!
//! image's resize first resamples every column to the new height into an RGBA f32 buffer of
//! `input width × output height` pixels (16 bytes each): 14 GB for a 4,000,000×1 PNG resized to
//! 224×224. This module does the same arithmetic in the same order, so its output is identical
//! bit for bit (a test compares the two), but keeps only one intermediate row of the input's
//! width: memory is `12 · input width` bytes beside the output, whatever the aspect ratio.

use image::RgbImage;

/// The input samples that one output sample blends: the first index and normalised weights.
struct Taps {
    first: usize,
    weights: Vec<f32>,
}

/// image's triangle (bilinear) kernel.
fn triangle(x: f32) -> f32 {
    if x.abs() < 1.0 { 1.0 - x.abs() } else { 0.0 }
}

/// image's sample positions and weights for output sample `out` when `in_len` samples become
/// `out_len` (both positive): the kernel widens by the ratio when shrinking (antialiasing).
fn taps(in_len: u32, out_len: u32, out: u32) -> Taps {
    let ratio = in_len as f32 / out_len as f32;
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let support = sratio; // the triangle's support of 1, widened
    let centre = (out as f32 + 0.5) * ratio;
    let last = i64::from(in_len) - 1;
    let left = clamp((centre - support).floor() as i64, 0, last);
    let right = clamp((centre + support).ceil() as i64, left + 1, i64::from(in_len));
    let centre = centre - 0.5;
    let mut weights = Vec::with_capacity((right - left) as usize);
    let mut sum = 0.0;
    for i in left..right {
        let w = triangle((i as f32 - centre) / sratio);
        weights.push(w);
        sum += w;
    }
    for w in weights.iter_mut() {
        *w /= sum;
    }
    Taps {
        first: left as usize,
        weights,
    }
}

/// image's clamp (never panics, unlike `Ord::clamp` with `min > max`).
fn clamp<T: PartialOrd>(value: T, min: T, max: T) -> T {
    if value < min {
        min
    } else if value > max {
        max
    } else {
        value
    }
}

/// Resizes `image` to `width × height` exactly as `image::imageops::resize` with
/// `FilterType::Triangle` does, in bounded memory.
pub fn resize_rgb(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (in_width, in_height) = image.dimensions();
    if (in_width, in_height) == (width, height) {
        return image.clone();
    }
    let mut out = RgbImage::new(width, height);
    if in_width == 0 || in_height == 0 || width == 0 || height == 0 {
        return out;
    }
    let columns: Vec<Taps> = (0..width).map(|x| taps(in_width, width, x)).collect();
    // One row of the vertical pass: [in_width × 3] samples, RGB interleaved as in the image.
    // Neither `× 3` can overflow: `image` and `out` already hold whole rows of that many bytes.
    let mut row = vec![0.0f32; in_width as usize * 3];
    for (y, out_row) in out.chunks_exact_mut(width as usize * 3).enumerate() {
        vertical_row(image.as_raw(), &taps(in_height, height, y as u32), &mut row);
        horizontal_row(&row, &columns, out_row);
    }
    out
}

/// One row of the vertical pass: every input sample blended over the rows `rows` names. Tap
/// by tap over the whole row, so that the loop vectorises; each sample still sums its taps in
/// image's order, so the result is the same bit for bit.
fn vertical_row(raw: &[u8], rows: &Taps, row: &mut [f32]) {
    let stride = row.len();
    row.fill(0.0);
    for (i, &w) in rows.weights.iter().enumerate() {
        let start = (rows.first + i) * stride;
        for (sum, &sample) in row.iter_mut().zip(&raw[start..start + stride]) {
            *sum += f32::from(sample) * w;
        }
    }
}

/// One row of the horizontal pass (`out_row`: [width × 3]), rounded to 8 bits as image does.
fn horizontal_row(row: &[f32], columns: &[Taps], out_row: &mut [u8]) {
    for (taps, pixel) in columns.iter().zip(out_row.chunks_exact_mut(3)) {
        let mut t = [0.0f32; 3];
        let samples = row[taps.first * 3..].chunks_exact(3);
        for (w, sample) in taps.weights.iter().zip(samples) {
            for c in 0..3 {
                t[c] += sample[c] * w;
            }
        }
        for c in 0..3 {
            pixel[c] = round_to_u8(clamp(t[c], 0.0, 255.0));
        }
    }
}

/// `value.round() as u8` for `value` in [0, 255] or NaN (→ 0, where image's conversion would
/// panic), without `round`, which is a library call in WebAssembly and on baseline x86-64.
/// `value - trunc(value)` is exact below 2²³, so halves round up exactly as `round` does.
fn round_to_u8(value: f32) -> u8 {
    let whole = value as u8; // truncates; NaN → 0
    let fraction = value - f32::from(whole);
    whole + u8::from(fraction >= 0.5) // NaN ≥ 0.5 is false; 255.0 has no fraction
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;

    /// Deterministic noise, so that every weight matters.
    fn noise(width: u32, height: u32, seed: u32) -> RgbImage {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        RgbImage::from_fn(width, height, |_, _| {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            };
            image::Rgb([next(), next(), next()])
        })
    }

    #[test]
    fn identical_to_image_resize_when_shrinking_enlarging_and_mixing() {
        let shapes = [
            ((40, 30), (16, 16)),
            ((30, 40), (224, 224)),
            ((300, 7), (64, 48)),
            ((7, 300), (64, 48)),
            ((1, 1), (5, 3)),
            ((97, 61), (97, 20)),
            ((61, 97), (20, 97)),
            ((255, 129), (256, 256)),
            ((640, 480), (224, 224)),
        ];
        for (seed, ((w, h), (nw, nh))) in shapes.into_iter().enumerate() {
            let image = noise(w, h, seed as u32);
            let want = image::imageops::resize(&image, nw, nh, FilterType::Triangle);
            assert_eq!(resize_rgb(&image, nw, nh), want, "{w}×{h} → {nw}×{nh}");
        }
    }

    #[test]
    fn rounding_matches_round_at_every_boundary() {
        let mut value = 0.0f32;
        while value <= 255.0 {
            assert_eq!(round_to_u8(value), value.round() as u8, "{value}");
            // Every float near a half and near a whole, and every 1/1024 step between.
            for near in [value - 0.5, value + 0.5] {
                for step in -2i32..=2 {
                    let probe = f32::from_bits((near.to_bits() as i32 + step) as u32);
                    if (0.0..=255.0).contains(&probe) {
                        assert_eq!(round_to_u8(probe), probe.round() as u8, "{probe}");
                    }
                }
            }
            value += 1.0 / 1024.0;
        }
        assert_eq!(round_to_u8(f32::NAN), 0);
    }

    #[test]
    fn empty_images_and_sizes_give_black_or_empty_images() {
        assert_eq!(resize_rgb(&RgbImage::new(0, 5), 3, 2), RgbImage::new(3, 2));
        assert_eq!(resize_rgb(&noise(4, 4, 1), 0, 2).dimensions(), (0, 2));
    }
}
