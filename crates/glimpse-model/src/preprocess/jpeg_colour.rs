//! zune-jpeg 0.5.15, image's JPEG decoder, takes the colour an Adobe APP14 segment declares even
//! when the segment comes after the frame header. YCCK (transform 2) on a frame of one or two
//! components then becomes YCbCr, three components, and the decoder reads a component the frame
//! does not have: a panic in progressive files (found by fuzzing, round 27), an invented image in
//! sequential ones. Such a file is refused before it is decoded.

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::error::{Error, Result};

/// Refuses a JPEG whose declared colour needs more components than its frame has, as
/// zune-jpeg's header parser reads the file: its reading of a damaged file, not a correct
/// parser's, is what the decoder then acts on. A file whose headers it cannot read passes: the
/// decoder reports that itself.
pub(super) fn check_colour_components(bytes: &[u8]) -> Result<()> {
    // image's options: no strict mode, no size limit (the pixel budget is checked apart).
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    if decoder.decode_headers().is_err() {
        return Ok(());
    }
    let (Some(colour), Some(info)) = (decoder.input_colorspace(), decoder.info()) else {
        return Ok(());
    };
    if colour == ColorSpace::YCCK && info.components < 3 {
        return Err(Error::Image(format!(
            "the JPEG declares YCCK colour (an Adobe APP14 segment after its frame header) for a \
             frame of {} component(s), which its decoder would misread",
            info.components
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Adobe APP14 segment declaring YCCK colour.
    const ADOBE_YCCK: &[u8] = b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x02";

    /// `jpeg` with `segment` inserted right after its frame header (SOF0 or SOF2).
    fn after_frame_header(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
            .unwrap();
        let end = sof + 2 + usize::from(u16::from_be_bytes([jpeg[sof + 2], jpeg[sof + 3]]));
        [&jpeg[..end], segment, &jpeg[end..]].concat()
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/fixtures/images/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// A sequential JPEG of one grey component.
    fn grey_jpeg() -> Vec<u8> {
        let grey = image::GrayImage::from_fn(19, 13, |x, y| image::Luma([(x * 13 + y * 7) as u8]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageLuma8(grey)
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .unwrap();
        bytes
    }

    #[test]
    fn ycck_declared_after_a_grey_frame_is_refused() {
        for (name, jpeg) in [
            ("progressive", fixture("progressive_grey.jpg")),
            ("sequential", grey_jpeg()),
        ] {
            assert!(check_colour_components(&jpeg).is_ok(), "{name}");
            let crafted = after_frame_header(&jpeg, ADOBE_YCCK);
            let err = check_colour_components(&crafted).unwrap_err().to_string();
            assert!(
                err.contains("YCCK colour") && err.contains("1 component(s)"),
                "{name}: {err}"
            );
            // Through the whole decoder too: an error, not zune-jpeg's panic.
            assert!(super::super::decode_image(&crafted, 1 << 20).is_err(), "{name}");
        }
    }

    #[test]
    fn ycck_declared_after_a_colour_frame_still_decodes() {
        // Three components: zune-jpeg reads the YCCK it cannot convert as YCbCr, like libjpeg.
        let crafted = after_frame_header(&fixture("restart.jpg"), ADOBE_YCCK);
        assert!(check_colour_components(&crafted).is_ok());
        assert!(super::super::decode_image(&crafted, 1 << 22).is_ok());
    }
}
