//! A GIF's first frame as PIL makes it (`Image.open(…).convert("RGB")`), which the PyTorch
//! notebook's models learned on. A first frame need not cover its logical screen: PIL leaves the
//! rest at the frame's transparent index, or index 0 without one, in the frame's own palette,
//! and widens the image to hold a frame reaching past the screen. image's GIF reader fills the
//! rest with black and crops the frame to the screen (hostile round 24), and the frame's buffer
//! could exceed the budget its screen passed ("Memory limit exceeded").

use std::io::Cursor;
use std::num::NonZeroU64;

use gif::{ColorOutput, DecodeOptions, DecodingError, MemoryLimit};
use image::{Rgb, RgbImage};

use super::{MAX_HEADER_ALLOC, check_dimensions};
use crate::error::{Error, Result};

/// Bytes of one palette colour.
const RGB: usize = 3;

/// Decodes the first frame of the GIF `bytes`, refusing an image (screen and frame together)
/// of more than `max_pixels` before its pixels are read.
pub(super) fn decode_first_frame(bytes: &[u8], max_pixels: u64) -> Result<RgbImage> {
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    // What the reader keeps besides the frame (a colour profile, XMP), as for other formats.
    options.set_memory_limit(MemoryLimit::Bytes(
        NonZeroU64::new(MAX_HEADER_ALLOC).expect("a positive constant"),
    ));
    let header_error = |e: DecodingError| match e {
        DecodingError::MemoryLimit => Error::Image(format!(
            "Gif header: its metadata (a colour profile or XMP) needs more than {} MiB to read",
            MAX_HEADER_ALLOC >> 20
        )),
        e => Error::Image(format!("corrupt Gif header: {e}")),
    };
    let mut decoder = options.read_info(Cursor::new(bytes)).map_err(header_error)?;
    let screen = (u32::from(decoder.width()), u32::from(decoder.height()));
    let frame = decoder
        .next_frame_info()
        .map_err(header_error)?
        .ok_or_else(|| Error::Image("the GIF holds no frame".into()))?;
    let (left, top) = (u32::from(frame.left), u32::from(frame.top));
    let (width, height) = (u32::from(frame.width), u32::from(frame.height));
    let background = frame.transparent.unwrap_or(0);
    // u16 + u16: no overflow in u32.
    let canvas = (screen.0.max(left + width), screen.1.max(top + height));
    check_dimensions(canvas.0, canvas.1, max_pixels)?;
    // The frame's own palette, or the global one (at most 768 bytes).
    let palette = decoder.palette().map_err(header_error)?.to_vec();
    // frame ≤ canvas, which passed the budget: [height, width] palette indices.
    let mut indices = vec![0u8; width as usize * height as usize];
    decoder
        .read_into_buffer(&mut indices)
        .map_err(|e| Error::Image(format!("corrupt Gif data: {e}")))?;
    let colour = |index: u8| palette_colour(&palette, index);
    let mut image = RgbImage::from_pixel(canvas.0, canvas.1, colour(background));
    for (y, row) in (top..).zip(indices.chunks_exact(width.max(1) as usize)) {
        for (x, &index) in (left..).zip(row) {
            image.put_pixel(x, y, colour(index));
        }
    }
    Ok(image)
}

/// Entry `index` of a palette; black past its end, as PIL's conversion gives.
fn palette_colour(palette: &[u8], index: u8) -> Rgb<u8> {
    let start = usize::from(index) * RGB;
    match palette.get(start..start + RGB) {
        Some(&[r, g, b]) => Rgb([r, g, b]),
        _ => Rgb([0, 0, 0]),
    }
}
