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
    let mut row = vec![[0.0f32; 3]; in_width as usize];
    for y in 0..height {
        vertical_row(image, &taps(in_height, height, y), &mut row);
        horizontal_row(&row, &columns, &mut out, y);
    }
    out
}

/// One row of the vertical pass: every input column blended over the rows `rows` names.
fn vertical_row(image: &RgbImage, rows: &Taps, row: &mut [[f32; 3]]) {
    let raw = image.as_raw();
    let stride = row.len() * 3;
    for (x, sample) in row.iter_mut().enumerate() {
        let mut t = [0.0f32; 3];
        for (i, w) in rows.weights.iter().enumerate() {
            let at = (rows.first + i) * stride + x * 3;
            for c in 0..3 {
                t[c] += f32::from(raw[at + c]) * w;
            }
        }
        *sample = t;
    }
}

/// One row of the horizontal pass, rounded to 8 bits as image does.
fn horizontal_row(row: &[[f32; 3]], columns: &[Taps], out: &mut RgbImage, y: u32) {
    for (x, taps) in columns.iter().enumerate() {
        let mut t = [0.0f32; 3];
        for (i, w) in taps.weights.iter().enumerate() {
            let sample = row[taps.first + i];
            for c in 0..3 {
                t[c] += sample[c] * w;
            }
        }
        // `as u8` saturates (NaN → 0) where image's conversion would panic.
        let pixel = t.map(|v| clamp(v, 0.0, 255.0).round() as u8);
        out.put_pixel(x as u32, y, image::Rgb(pixel));
    }
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
    fn empty_images_and_sizes_give_black_or_empty_images() {
        assert_eq!(resize_rgb(&RgbImage::new(0, 5), 3, 2), RgbImage::new(3, 2));
        assert_eq!(resize_rgb(&noise(4, 4, 1), 0, 2).dimensions(), (0, 2));
    }
}
