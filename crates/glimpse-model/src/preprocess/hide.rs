//! Hiding part of a photo: filling it with the colour the normalisation maps to zero, which the
//! model sees as no signal. The page's "Hide a region" and `glimpse eval`'s occlusion test hide
//! this way, on the photo as decoded for its caption, before it is resized: the page once hid
//! the region on the browser's own decode (colour-managed, premultiplied, rescaled), and words
//! then changed for pixels outside the region (review 71).

use image::{Rgb, RgbImage};

use crate::config::PreprocessConfig;
use crate::error::{Error, Result};

/// A rectangle in fractions of a photo's width and height, `x` and `y` its top-left corner: the
/// same part of the photo whatever size it is decoded at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Region {
    /// A region inside the photo: `x`, `y` in [0, 1), `w`, `h` in (0, 1].
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> Result<Region> {
        let check = |name: &str, value: f64, zero_ok: bool, one_ok: bool| {
            let inside = value.is_finite()
                && (value > 0.0 || (zero_ok && value == 0.0))
                && (value < 1.0 || (one_ok && value == 1.0));
            let (low, high) = (
                if zero_ok { "[0" } else { "(0" },
                if one_ok { "1]" } else { "1)" },
            );
            match inside {
                true => Ok(()),
                false => Err(Error::InvalidArgument(format!(
                    "the hidden region's {name} must be within {low}, {high} of the photo, got {value}"
                ))),
            }
        };
        check("x", x, true, false)?;
        check("y", y, true, false)?;
        check("w", w, false, true)?;
        check("h", h, false, true)?;
        Ok(Region { x, y, w, h })
    }

    /// `[x0, y0, x1, y1]` in pixels of a `width`×`height` photo (end exclusive, fractional:
    /// [`fill_boxes`] fills every pixel it touches).
    pub fn pixels(&self, width: u32, height: u32) -> [f64; 4] {
        let (width, height) = (f64::from(width), f64::from(height));
        [
            self.x * width,
            self.y * height,
            (self.x + self.w) * width,
            (self.y + self.h) * height,
        ]
    }
}

impl PreprocessConfig {
    /// The 8-bit colour that normalises to (nearly) zero: the mean. A mean outside [0, 1] has no
    /// colour; the nearest one gives the input nearest to zero.
    pub fn mean_colour(&self) -> [u8; 3] {
        self.mean.map(|m| (m.clamp(0.0, 1.0) * 255.0).round() as u8)
    }
}

/// `photo` with `boxes` (`[x0, y0, x1, y1]` in pixels, end exclusive, cut to the photo) filled
/// with `fill`: every pixel a box touches ([`touched_pixels`]).
pub fn fill_boxes(photo: &mut RgbImage, boxes: &[[f64; 4]], fill: [u8; 3]) {
    let (width, height) = (f64::from(photo.width()), f64::from(photo.height()));
    for b in boxes {
        let [x0, y0, x1, y1] = touched_pixels(*b);
        let [x0, x1] = [x0, x1].map(|x| x.clamp(0.0, width) as u32);
        let [y0, y1] = [y0, y1].map(|y| y.clamp(0.0, height) as u32);
        for y in y0..y1 {
            for x in x0..x1 {
                photo.put_pixel(x, y, Rgb(fill));
            }
        }
    }
}

/// The whole pixels a box (`[x0, y0, x1, y1]` in pixels, end exclusive) touches: its start
/// rounded down and its end up (a partly covered last pixel was left shown: review 72, hostile
/// round 26), a value within rounding of a whole pixel taken as it (`0.1 + 0.2` of 10 pixels
/// hid pixel 3 too: review 73).
pub fn touched_pixels(b: [f64; 4]) -> [f64; 4] {
    [
        whole(b[0]).floor(),
        whole(b[1]).floor(),
        whole(b[2]).ceil(),
        whole(b[3]).ceil(),
    ]
}

/// `value`, or the whole number it differs from by rounding alone (products of fractions that
/// should meet a pixel's edge fall a few ulps either side of it).
fn whole(value: f64) -> f64 {
    let nearest = value.round();
    match (value - nearest).abs() <= 1e-9 * nearest.abs().max(1.0) {
        true => nearest,
        false => value,
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::*;

    #[test]
    fn a_region_covers_every_pixel_it_touches() {
        // x from 2.5 to 5.5 of 10 pixels: pixels 2 to 5; y from 3.5 to 7 of 7: rows 3 to 6.
        let region = Region::new(0.25, 0.5, 0.3, 0.5).unwrap();
        assert_hides(region, (10, 7), (2..6, 3..7));
        // x from 1 to 3 of 10, which 0.1 + 0.2 (0.30000000000000004) puts a few ulps past 3.
        let region = Region::new(0.1, 0.0, 0.2, 1.0).unwrap();
        assert_hides(region, (10, 7), (1..3, 0..7));
    }

    fn assert_hides(region: Region, (width, height): (u32, u32), (xs, ys): (Range<u32>, Range<u32>)) {
        let mut photo = RgbImage::from_pixel(width, height, Rgb([9, 9, 9]));
        fill_boxes(&mut photo, &[region.pixels(width, height)], [1, 2, 3]);
        for (x, y, pixel) in photo.enumerate_pixels() {
            let hidden = xs.contains(&x) && ys.contains(&y);
            assert_eq!(
                pixel.0,
                if hidden { [1, 2, 3] } else { [9, 9, 9] },
                "{region:?}: ({x}, {y})"
            );
        }
    }

    #[test]
    fn regions_outside_the_photo_are_refused_by_name() {
        for (args, field) in [
            ([-0.1, 0.0, 0.5, 0.5], "x"),
            ([0.0, 1.0, 0.5, 0.5], "y"),
            ([0.0, 0.0, 0.0, 0.5], "w"),
            ([0.0, 0.0, 0.5, f64::NAN], "h"),
            ([0.0, 0.0, 1.5, 0.5], "w"),
        ] {
            let err = Region::new(args[0], args[1], args[2], args[3])
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("region's {field} must be within")), "{err}");
        }
        assert!(Region::new(0.0, 0.0, 1.0, 1.0).is_ok());
    }

    #[test]
    fn the_fill_is_the_mean_in_eight_bits() {
        let config = PreprocessConfig::default();
        assert_eq!(config.mean_colour(), [124, 116, 104]);
        let odd = PreprocessConfig {
            mean: [-0.5, 2.0, 0.5],
            ..config
        };
        assert_eq!(odd.mean_colour(), [0, 255, 128]);
    }
}
