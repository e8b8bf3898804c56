//! CLIP's image processor: HF's `preprocessor_config.json` read and checked, and photos turned
//! into `pixel_values` as it does (shortest edge resized bicubically, centre crop, CLIP's mean
//! and std).

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use glimpse_files::{caps, read_regular_to_string};
use image::RgbImage;
use image::imageops::FilterType;
use serde::Deserialize;

use super::config::unsupported;

/// HF `preprocessor_config.json`. Old files give `size` and `crop_size` as one number.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct HfPreprocessor {
    do_resize: bool,
    size: SizeSpec,
    resample: u32,
    do_center_crop: bool,
    crop_size: SizeSpec,
    do_rescale: bool,
    rescale_factor: f32,
    do_normalize: bool,
    image_mean: [f32; 3],
    image_std: [f32; 3],
}

impl Default for HfPreprocessor {
    // OpenAI's normalisation, digit for digit as CLIP's preprocessor_config.json gives it.
    #[allow(clippy::excessive_precision)]
    fn default() -> Self {
        HfPreprocessor {
            do_resize: true,
            size: SizeSpec::Edge(224),
            resample: BICUBIC,
            do_center_crop: true,
            crop_size: SizeSpec::Edge(224),
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            image_std: [0.268_629_54, 0.261_302_58, 0.275_777_1],
        }
    }
}

/// PIL's resampling codes as HF stores them.
const BILINEAR: u32 = 2;
const BICUBIC: u32 = 3;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeSpec {
    Edge(u32),
    Shortest { shortest_edge: u32 },
    Exact { height: u32, width: u32 },
}

/// How CLIP's image processor turns a photo into `pixel_values`.
#[derive(Debug, Clone)]
pub struct ClipPreprocess {
    /// Resize so that the shorter side has this length, or to exactly (height, width).
    pub(super) resize: Option<Resize>,
    pub(super) filter: FilterType,
    /// (height, width) of the centre crop.
    pub(super) crop: Option<(u32, u32)>,
    pub(super) scale: f32,
    pub(super) mean: [f32; 3],
    pub(super) std: [f32; 3],
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Resize {
    ShortestEdge(u32),
    Exact(u32, u32),
}

impl ClipPreprocess {
    /// The `[3, H, W]` pixel values (channel-major) for one photo.
    pub fn pixel_values(&self, image: &RgbImage) -> Vec<f32> {
        let cropped = match self.crop {
            Some(crop) => centre_crop(&self.resized(image), crop),
            None => self.resized(image),
        };
        let plane = (cropped.width() * cropped.height()) as usize;
        let mut values = vec![0.0f32; 3 * plane];
        for (i, pixel) in cropped.pixels().enumerate() {
            for c in 0..3 {
                values[c * plane + i] = (pixel[c] as f32 * self.scale - self.mean[c]) / self.std[c];
            }
        }
        values
    }

    fn resized(&self, image: &RgbImage) -> RgbImage {
        let (width, height) = image.dimensions();
        match self.resize {
            Some(Resize::ShortestEdge(edge)) => {
                // HF (like torchvision) floors the longer side.
                let (w, h) = if width <= height {
                    (edge, (edge as u64 * height as u64 / width as u64) as u32)
                } else {
                    ((edge as u64 * width as u64 / height as u64) as u32, edge)
                };
                image::imageops::resize(image, w.max(1), h.max(1), self.filter)
            }
            Some(Resize::Exact(h, w)) => image::imageops::resize(image, w, h, self.filter),
            None => image.clone(),
        }
    }
}

/// Centre crop to (h, w): the top-left corner rounds down, as HF's; an image smaller than the
/// crop lands in zeros, its padding rounded up before it (HF's `ceil`).
fn centre_crop(image: &RgbImage, (h, w): (u32, u32)) -> RgbImage {
    let offset = |size: u32, crop: u32| -> i64 {
        if size < crop {
            (crop - size).div_ceil(2) as i64
        } else {
            -(((size - crop) / 2) as i64)
        }
    };
    let mut canvas = RgbImage::new(w, h);
    let (x, y) = (offset(image.width(), w), offset(image.height(), h));
    image::imageops::replace(&mut canvas, image, x, y);
    canvas
}

/// `dir/preprocessor_config.json` as a [`ClipPreprocess`], or CLIP's defaults when the folder has
/// none; photos must come out `image_size` square, as the image tower's position table fixes.
pub(super) fn read_preprocess(dir: &Path, image_size: u32) -> Result<ClipPreprocess> {
    let path = dir.join("preprocessor_config.json");
    // `exists`, not `is_file`: a FIFO or a folder by that name is refused by name, not skipped.
    let config: HfPreprocessor = if path.exists() {
        serde_json::from_str(&read_regular_to_string(
            &path,
            caps::CONFIG,
            "image processor config",
        )?)
        .map_err(|e| anyhow!("{}: not an image processor config: {e}", path.display()))?
    } else {
        HfPreprocessor::default()
    };
    preprocess_from(&config, &path, image_size)
}

/// Smallest `image_std` accepted, as for Glimpse's own models: dividing by less made every
/// value huge or infinite.
const MIN_STD: f32 = 1e-3;

/// The rescaling and normalisation numbers, within what a photo's pixels can mean: a negative or
/// zero factor turned photos into their negatives or into one grey (finite, meaningless scores),
/// and out-of-range JSON numbers are read as infinities. Written so that NaN fails every check.
fn check_values(config: &HfPreprocessor) -> Result<()> {
    if config.do_rescale && !(config.rescale_factor > 0.0 && config.rescale_factor <= 1.0) {
        bail!(
            "rescale_factor must be within (0, 1] (CLIP's is 1/255), got {}",
            config.rescale_factor
        );
    }
    if !config.do_normalize {
        return Ok(());
    }
    // Pixels are at most 255 before rescaling.
    if !config.image_mean.iter().all(|m| m.abs() <= 255.0) {
        bail!("image_mean must be within ±255, got {:?}", config.image_mean);
    }
    if !config.image_std.iter().all(|s| (MIN_STD..=255.0).contains(s)) {
        bail!(
            "image_std must be within {MIN_STD}..=255, got {:?}",
            config.image_std
        );
    }
    Ok(())
}

/// Checks an image processor config (`path` names it in errors) and turns it into steps.
pub(super) fn preprocess_from(
    config: &HfPreprocessor,
    path: &Path,
    image_size: u32,
) -> Result<ClipPreprocess> {
    let filter = match config.resample {
        BICUBIC => FilterType::CatmullRom,
        BILINEAR => FilterType::Triangle,
        other => {
            return Err(unsupported(
                path,
                "resample",
                other,
                "2 (bilinear) and 3 (bicubic)",
            ));
        }
    };
    let resize = config.do_resize.then_some(match config.size {
        SizeSpec::Edge(edge) | SizeSpec::Shortest { shortest_edge: edge } => Resize::ShortestEdge(edge),
        SizeSpec::Exact { height, width } => Resize::Exact(height, width),
    });
    let crop = config.do_center_crop.then_some(match config.crop_size {
        SizeSpec::Edge(edge) | SizeSpec::Shortest { shortest_edge: edge } => (edge, edge),
        SizeSpec::Exact { height, width } => (height, width),
    });
    check_geometry(resize, crop, path, image_size)?;
    check_values(config).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(ClipPreprocess {
        resize,
        filter,
        crop,
        scale: if config.do_rescale {
            config.rescale_factor
        } else {
            1.0
        },
        mean: if config.do_normalize {
            config.image_mean
        } else {
            [0.0; 3]
        },
        std: if config.do_normalize {
            config.image_std
        } else {
            [1.0; 3]
        },
    })
}

/// Positive sizes, and photos that come out `image_size` square.
fn check_geometry(
    resize: Option<Resize>,
    crop: Option<(u32, u32)>,
    path: &Path,
    image_size: u32,
) -> Result<()> {
    if resize.is_some_and(|r| {
        matches!(
            r,
            Resize::ShortestEdge(0) | Resize::Exact(0, _) | Resize::Exact(_, 0)
        )
    }) || crop.is_some_and(|(h, w)| h == 0 || w == 0)
    {
        bail!("{}: size and crop_size must be positive", path.display());
    }
    // A photo is resized whole before the crop: its shorter side at most twice the crop's
    // (OpenAI's resize to the crop size itself; 60,000 asked for 10.8 GB).
    let largest = match resize {
        Some(Resize::ShortestEdge(edge)) => edge,
        Some(Resize::Exact(h, w)) => h.max(w),
        None => 0,
    };
    if u64::from(largest) > 2 * u64::from(image_size) {
        bail!(
            "{}: size {largest} is over twice the {image_size} pixels of vision_config.image_size",
            path.display()
        );
    }
    // The image tower's position table fixes its input size.
    match (crop, resize) {
        (Some((h, w)), _) if (h, w) != (image_size, image_size) => bail!(
            "{}: crop_size {h}×{w} does not give the {image_size}×{image_size} images config.json's vision_config.image_size asks for",
            path.display()
        ),
        (None, Some(Resize::Exact(h, w))) if (h, w) != (image_size, image_size) => bail!(
            "{}: size {h}×{w} (no centre crop) does not give the {image_size}×{image_size} images config.json's vision_config.image_size asks for",
            path.display()
        ),
        (None, Some(Resize::ShortestEdge(_)) | None) => bail!(
            "{}: without a centre crop, photos would not come out {image_size}×{image_size}",
            path.display()
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image narrower than the crop: 3 columns of padding, 2 before; the expected values are
    /// what transformers.image_transforms.center_crop gives for the same array.
    #[test]
    fn small_images_are_padded_as_transformers_pads_them() {
        let preprocess = ClipPreprocess {
            resize: None,
            filter: FilterType::CatmullRom,
            crop: Some((4, 4)),
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        // 1 column × 7 rows, rows numbered 1..=7: rows 2..=5 are kept (top = (7 - 4) // 2 = 1).
        let mut photo = RgbImage::new(1, 7);
        for y in 0..7 {
            photo.put_pixel(0, y, image::Rgb([y as u8 + 1; 3]));
        }
        let pixels = preprocess.pixel_values(&photo);
        let red: Vec<f32> = pixels[..16].to_vec();
        #[rustfmt::skip]
        assert_eq!(red, [
            0.0, 0.0, 2.0, 0.0,
            0.0, 0.0, 3.0, 0.0,
            0.0, 0.0, 4.0, 0.0,
            0.0, 0.0, 5.0, 0.0,
        ]);
    }

    /// Numbers that would turn photos into something else, each refused by field; CLIP's own
    /// pass.
    #[test]
    fn rescaling_and_normalisation_numbers_are_checked() {
        assert!(check_values(&HfPreprocessor::default()).is_ok());
        type Edit = fn(&mut HfPreprocessor);
        let cases: [(Edit, &str); 6] = [
            (
                |c| c.rescale_factor = -1.0 / 255.0,
                "rescale_factor must be within (0, 1]",
            ),
            (|c| c.rescale_factor = 0.0, "rescale_factor must be within (0, 1]"),
            (
                |c| c.rescale_factor = f32::NAN,
                "rescale_factor must be within (0, 1]",
            ),
            (
                |c| c.image_mean[1] = f32::INFINITY,
                "image_mean must be within ±255",
            ),
            (|c| c.image_std[2] = 1e-30, "image_std must be within 0.001..=255"),
            (
                |c| c.image_std[0] = f32::NAN,
                "image_std must be within 0.001..=255",
            ),
        ];
        for (edit, expected) in cases {
            let mut config = HfPreprocessor::default();
            edit(&mut config);
            let err = check_values(&config).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        // Switched off, they are not used and not checked.
        let mut config = HfPreprocessor {
            do_rescale: false,
            do_normalize: false,
            ..HfPreprocessor::default()
        };
        config.rescale_factor = -1.0;
        config.image_std = [0.0; 3];
        assert!(check_values(&config).is_ok());
    }
}
