//! From image bytes (or browser pixels) to the encoder's input tensor.
//!
//! The whole image is resized to the model's input size — no crop — so that attention covers
//! the whole photo. EXIF orientation is applied, every colour type becomes 8-bit RGB (alpha is
//! dropped, as PIL's `convert("RGB")` does), and the header's pixel count and aspect ratio are
//! checked against the budget before any pixel is decoded. Memory is bounded by the pixel
//! budget whatever the image's shape: the resize keeps one row of scratch
//! ([`resize::resize_rgb`]).

mod gif_frame;
mod header_size;
mod hide;
mod jpeg_colour;
mod jpeg_end;
mod metadata;
mod png_palette;
mod resize;
mod webp_chunks;

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

pub use self::hide::{Region, fill_boxes, touched_pixels};
use self::jpeg_end::{jpeg_is_cut, jpeg_is_truncated};
pub use self::resize::resize_rgb;
use crate::config::PreprocessConfig;
use crate::config::limits::MAX_ASPECT_RATIO;
use crate::error::{Error, Result};

/// Formats the decoder accepts, for error messages.
pub const SUPPORTED_FORMATS: &str = "JPEG, PNG, WebP, GIF, BMP";

/// A decoded image and what the user should be told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedImage {
    /// Upright 8-bit RGB.
    pub image: RgbImage,
    /// Set when the file was damaged but the decoder still produced a whole image (a JPEG cut
    /// short has its missing part filled in): its caption describes a partly invented photo.
    pub warning: Option<String>,
}

/// The most a decoder may allocate while it reads an image's header and metadata (a PNG's
/// colour profile, EXIF and text chunks, and one row of its pixels): real profiles take a few
/// MB, a row of the widest image the budget allows under 0.5 MB.
const MAX_HEADER_ALLOC: u64 = 64 << 20;

/// Decodes an encoded image to upright 8-bit RGB, refusing it unread if its header claims more
/// than `max_pixels` or an aspect ratio beyond [`MAX_ASPECT_RATIO`]. A warning about a
/// truncated file is dropped: [`decode_image_checked`] returns it.
pub fn decode_image(bytes: &[u8], max_pixels: u64) -> Result<RgbImage> {
    decode_image_checked(bytes, max_pixels).map(|decoded| decoded.image)
}

/// The most bytes at a file's start that tell its format (WebP's `RIFF….WEBP` takes 12).
pub const FORMAT_SIGNATURE_BYTES: usize = 16;

/// Refuses from its first bytes (at least [`FORMAT_SIGNATURE_BYTES`] of them, where the file
/// has as many) a file that [`decode_image`] refuses for its format, with the same message: a
/// page need not copy a whole video into the module's memory, which never shrinks, to be told.
pub fn check_format(start: &[u8]) -> Result<()> {
    if start.is_empty() {
        return Err(Error::Image("the file is empty".into()));
    }
    supported_format(image::guess_format(start).ok()).map(drop)
}

/// `format` if the decoder takes it; else why not.
fn supported_format(format: Option<ImageFormat>) -> Result<ImageFormat> {
    let format = format.ok_or_else(|| {
        Error::Image(format!(
            "not a recognised image format (supported: {SUPPORTED_FORMATS})"
        ))
    })?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Bmp
    ) {
        return Err(Error::Image(format!(
            "{format:?} images are not supported (supported: {SUPPORTED_FORMATS})"
        )));
    }
    Ok(format)
}

/// [`decode_image`], with a warning when the file is truncated but still decoded.
pub fn decode_image_checked(bytes: &[u8], max_pixels: u64) -> Result<DecodedImage> {
    if bytes.is_empty() {
        return Err(Error::Image("the file is empty".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("cannot read the image header: {e}")))?;
    // Reading the header reads a PNG's chunks before its pixels: a colour profile of 1 MB
    // inflated to 1 GiB, and an EXIF chunk can be any size. What that may allocate is capped
    // here, before the pixel budget is known.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(MAX_HEADER_ALLOC);
    reader.limits(header_limits);
    let format = supported_format(reader.format())?;
    if format == ImageFormat::Gif {
        let image = gif_frame::decode_first_frame(bytes, max_pixels)?;
        return Ok(DecodedImage { image, warning: None });
    }
    if format == ImageFormat::Jpeg {
        metadata::check_jpeg_profile(bytes, MAX_HEADER_ALLOC)?;
    }
    if format == ImageFormat::WebP {
        webp_chunks::check_chunk_sizes(bytes, MAX_HEADER_ALLOC)?;
        webp_chunks::check_frames(bytes)?;
    }
    let header_size = match format {
        ImageFormat::Png => header_size::png(bytes),
        ImageFormat::Bmp => header_size::bmp(bytes),
        _ => None,
    };
    if let Some((width, height)) = header_size {
        check_dimensions(width, height, max_pixels)?;
    }
    if format == ImageFormat::Png {
        png_palette::check_palette(bytes)?;
    }
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::Image(format!(
            "{format:?} header: its metadata (a colour profile, EXIF or text chunk) needs more \
                 than {} MiB to read",
            MAX_HEADER_ALLOC >> 20
        )),
        e => Error::Image(format!("corrupt {format:?} header: {e}")),
    })?;
    let (width, height) = decoder.dimensions();
    let pixels = check_dimensions(width, height, max_pixels)?;
    // The header passed the budget; also cap what decoding may allocate, in case a decoder
    // needs more than the header suggests (16 bytes per pixel covers RGBA f32).
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(pixels.saturating_mul(16).max(1 << 20));
    decoder
        .set_limits(limits)
        .map_err(|e| Error::Image(format!("{format:?} image: {e}")))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let jpeg = format == ImageFormat::Jpeg;
    if jpeg {
        jpeg_colour::check_colour_components(bytes)?;
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| {
        let hint = if jpeg && jpeg_is_cut(bytes, max_pixels) {
            " (the file is truncated)"
        } else {
            ""
        };
        Error::Image(format!("corrupt {format:?} data{hint}: {e}"))
    })?;
    image.apply_orientation(orientation);
    let warning = (jpeg && jpeg_is_truncated(bytes, max_pixels)).then(|| {
        "the JPEG's image data stops before the image does (the file is truncated or damaged): \
         the missing part was filled in, so the caption describes a partly invented image"
            .to_string()
    });
    Ok(DecodedImage {
        image: image.into_rgb8(),
        warning,
    })
}

/// Checks a `width × height` image against the pixel budget and [`MAX_ASPECT_RATIO`], before
/// anything is allocated for it; returns its pixel count.
pub fn check_dimensions(width: u32, height: u32, max_pixels: u64) -> Result<u64> {
    let pixels = u64::from(width) * u64::from(height); // < 2⁶⁴: both factors are below 2³²
    if pixels > max_pixels {
        return Err(Error::TooManyPixels {
            width,
            height,
            pixels,
            budget: max_pixels,
        });
    }
    if pixels == 0 {
        return Err(Error::Image(format!(
            "the image is {width}×{height}: it has no pixels"
        )));
    }
    let (long, short) = (width.max(height), width.min(height));
    if u64::from(long) > u64::from(short) * u64::from(MAX_ASPECT_RATIO) {
        return Err(Error::AspectRatio {
            width,
            height,
            limit: MAX_ASPECT_RATIO,
        });
    }
    Ok(pixels)
}

/// Resizes and normalises an RGB image into the encoder's `[3, H, W]` input (channel-major).
/// `config` is a validated one (a bundle's always is). Memory is the output plus one row of
/// the input, whatever the image's shape.
pub fn image_to_input(image: &RgbImage, config: &PreprocessConfig) -> Vec<f32> {
    let [height, width] = config.size;
    // Triangle = bilinear, widened when shrinking (antialiased), like PIL's BILINEAR.
    let resized = resize_rgb(image, width, height);
    let plane = width as usize * height as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, pixel) in resized.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (pixel[c] as f32 / 255.0 - config.mean[c]) / config.std[c];
        }
    }
    out
}

/// Decodes and preprocesses encoded image bytes.
pub fn bytes_to_input(bytes: &[u8], config: &PreprocessConfig) -> Result<Vec<f32>> {
    Ok(image_to_input(&decode_image(bytes, config.max_pixels)?, config))
}

/// Preprocesses pixels a browser already decoded (`ImageData`: RGBA, row-major), with the
/// same budget and aspect-ratio checks as encoded images.
pub fn rgba_to_input(width: u32, height: u32, rgba: &[u8], config: &PreprocessConfig) -> Result<Vec<f32>> {
    Ok(image_to_input(
        &rgba_to_image(width, height, rgba, config)?,
        config,
    ))
}

/// Pixels a browser already decoded (`ImageData`: RGBA, row-major) as an RGB image, alpha
/// dropped as [`decode_image`] drops it, after the budget and aspect-ratio checks.
pub fn rgba_to_image(width: u32, height: u32, rgba: &[u8], config: &PreprocessConfig) -> Result<RgbImage> {
    let pixels = check_dimensions(width, height, config.max_pixels)?;
    let needed = pixels.checked_mul(4);
    if needed != Some(rgba.len() as u64) {
        return Err(Error::Image(format!(
            "{width}×{height} RGBA pixels need {} bytes, got {}",
            u128::from(pixels) * 4,
            rgba.len()
        )));
    }
    let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| Error::Image(format!("{width}×{height} RGBA pixels do not fit their buffer")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};

    fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    fn gradient(width: u32, height: u32) -> RgbImage {
        ImageBuffer::from_fn(width, height, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 128]))
    }

    #[test]
    fn every_supported_format_decodes_to_the_same_pixels() {
        let image = DynamicImage::ImageRgb8(gradient(40, 30));
        for format in [
            ImageFormat::Png,
            ImageFormat::Bmp,
            ImageFormat::WebP,
            ImageFormat::Gif,
        ] {
            let decoded = decode_image(&encode(image.clone(), format), 1 << 20).unwrap();
            assert_eq!(decoded.dimensions(), (40, 30), "{format:?}");
            if format != ImageFormat::Gif {
                // GIF quantises to a palette; the lossless ones must round-trip exactly.
                assert_eq!(decoded, image.to_rgb8(), "{format:?}");
            }
        }
        let jpeg = decode_image(&encode(image, ImageFormat::Jpeg), 1 << 20).unwrap();
        assert_eq!(jpeg.dimensions(), (40, 30));
    }

    #[test]
    fn grayscale_rgba_and_16_bit_become_rgb() {
        let gray = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(4, 4, Luma([200u8])));
        let decoded = decode_image(&encode(gray, ImageFormat::Png), 1000).unwrap();
        assert_eq!(decoded.get_pixel(1, 1), &Rgb([200, 200, 200]));

        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(4, 4, Rgba([10u8, 20, 30, 0])));
        let decoded = decode_image(&encode(rgba, ImageFormat::Png), 1000).unwrap();
        assert_eq!(decoded.get_pixel(0, 0), &Rgb([10, 20, 30]));

        let deep = DynamicImage::ImageRgb16(ImageBuffer::from_pixel(4, 4, Rgb([65535u16, 0, 32896])));
        let decoded = decode_image(&encode(deep, ImageFormat::Png), 1000).unwrap();
        assert_eq!(decoded.get_pixel(3, 3), &Rgb([255, 0, 128]));
    }

    /// A 64×64 PNG whose colour profile is `profile_bytes` of zeros (a few KB compressed).
    fn png_with_profile(profile_bytes: usize) -> Vec<u8> {
        use image::ImageEncoder;
        use image::codecs::png::PngEncoder;
        let mut bytes = Vec::new();
        let mut encoder = PngEncoder::new(&mut bytes);
        encoder.set_icc_profile(vec![0; profile_bytes]).unwrap();
        encoder
            .write_image(gradient(64, 64).as_raw(), 64, 64, image::ExtendedColorType::Rgb8)
            .unwrap();
        bytes
    }

    #[test]
    fn a_colour_profile_past_the_header_cap_is_not_inflated() {
        // png drops a profile it cannot inflate within the cap (the pixels do not need it);
        // the memory this bounds is measured in trainer/tests/memory.rs.
        let bomb = png_with_profile(MAX_HEADER_ALLOC as usize + (16 << 20));
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let decoded = decode_image(&bomb, 1 << 20).unwrap();
        assert_eq!(decoded, gradient(64, 64));
    }

    #[test]
    fn metadata_past_the_header_cap_is_refused_naming_it() {
        use image::ImageEncoder;
        use image::codecs::png::PngEncoder;
        let mut bytes = Vec::new();
        let mut encoder = PngEncoder::new(&mut bytes);
        encoder
            .set_exif_metadata(vec![0; MAX_HEADER_ALLOC as usize + 1])
            .unwrap();
        encoder
            .write_image(gradient(8, 8).as_raw(), 8, 8, image::ExtendedColorType::Rgb8)
            .unwrap();
        let err = decode_image(&bytes, 1 << 20).unwrap_err().to_string();
        assert!(
            err.contains("metadata") && err.contains("more than 64 MiB"),
            "{err}"
        );
    }

    #[test]
    fn over_budget_images_are_refused_before_decoding() {
        let bytes = encode(DynamicImage::ImageRgb8(gradient(100, 50)), ImageFormat::Png);
        match decode_image(&bytes, 4999) {
            Err(Error::TooManyPixels {
                width: 100,
                height: 50,
                pixels: 5000,
                budget: 4999,
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(decode_image(&bytes, 5000).is_ok());
    }

    #[test]
    fn a_png_or_bmp_headers_size_out_of_range_is_named_as_such() {
        // Hostile round 24: "its metadata needs more than 64 MiB" and "too large" instead.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(i32::MAX.to_be_bytes());
        png.extend(1u32.to_be_bytes());
        png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        match decode_image(&png, 50_000_000) {
            Err(Error::TooManyPixels { width, height: 1, .. }) if width == i32::MAX as u32 => {}
            other => panic!("{other:?}"),
        }
        let mut bmp = b"BM".to_vec();
        bmp.extend([0; 12]);
        bmp.extend([40i32, 0, 0].iter().flat_map(|v| v.to_le_bytes()));
        bmp.extend([0; 28]);
        let err = decode_image(&bmp, 1000).unwrap_err().to_string();
        assert!(err.contains("the image is 0×0: it has no pixels"), "{err}");
    }

    #[test]
    fn a_header_claiming_a_huge_image_is_refused_unread() {
        // A valid PNG whose header claims 30000×20000 pixels but holds almost no data.
        let png = include_bytes!("../../../tests/fixtures/images/huge_header.png");
        match decode_image(png, 50_000_000) {
            Err(Error::TooManyPixels {
                width: 30000,
                height: 20000,
                pixels: 600_000_000,
                budget: 50_000_000,
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_files_first_bytes_tell_what_decoding_it_would_refuse_for_its_format() {
        let png = encode(DynamicImage::ImageRgb8(gradient(4, 4)), ImageFormat::Png);
        let webp = encode(DynamicImage::ImageRgb8(gradient(4, 4)), ImageFormat::WebP);
        for photo in [&png, &webp] {
            assert!(check_format(&photo[..FORMAT_SIGNATURE_BYTES]).is_ok());
        }
        let tiff = b"II*\0\x08\0\0\0 a TIFF's header, then anything";
        for refused in [&b"this is a text file, not a photo"[..], &tiff[..], &[]] {
            let start = &refused[..refused.len().min(FORMAT_SIGNATURE_BYTES)];
            let whole = decode_image(refused, 1000).unwrap_err().to_string();
            assert_eq!(check_format(start).unwrap_err().to_string(), whole);
        }
    }

    #[test]
    fn garbage_and_truncated_files_give_clear_errors() {
        let err = decode_image(b"this is a text file, not a photo", 1000).unwrap_err();
        assert!(err.to_string().contains("not a recognised image format"), "{err}");
        let png = encode(DynamicImage::ImageRgb8(gradient(64, 64)), ImageFormat::Png);
        let err = decode_image(&png[..png.len() / 2], 1 << 20).unwrap_err();
        assert!(err.to_string().contains("corrupt Png"), "{err}");
        let err = decode_image(&[], 1000).unwrap_err();
        assert!(err.to_string().contains("the file is empty"), "{err}");
    }

    #[test]
    fn normalisation_is_channel_major_imagenet() {
        let config = PreprocessConfig {
            size: [2, 3],
            ..PreprocessConfig::default()
        };
        let image = ImageBuffer::from_pixel(3, 2, Rgb([255u8, 0, 128]));
        let input = image_to_input(&image, &config);
        assert_eq!(input.len(), 3 * 6);
        let expect = |c: usize, v: f32| (v / 255.0 - config.mean[c]) / config.std[c];
        assert!((input[0] - expect(0, 255.0)).abs() < 1e-6);
        assert!((input[6] - expect(1, 0.0)).abs() < 1e-6);
        assert!((input[17] - expect(2, 128.0)).abs() < 1e-6);
    }

    #[test]
    fn rgba_pixels_match_decoded_bytes() {
        let config = PreprocessConfig {
            size: [16, 16],
            ..PreprocessConfig::default()
        };
        let image = gradient(20, 10);
        let rgba: Vec<u8> = image.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let from_rgba = rgba_to_input(20, 10, &rgba, &config).unwrap();
        let png = encode(DynamicImage::ImageRgb8(image), ImageFormat::Png);
        assert_eq!(from_rgba, bytes_to_input(&png, &config).unwrap());
        let err = rgba_to_input(20, 10, &rgba[4..], &config).unwrap_err();
        assert!(err.to_string().contains("need 800 bytes, got 796"), "{err}");
    }
}
