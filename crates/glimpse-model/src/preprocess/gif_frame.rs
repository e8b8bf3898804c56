//! A GIF's first frame as PIL makes it (`Image.open(…).convert("RGB")`), which the PyTorch
//! notebook's models learned on. A first frame need not cover its logical screen: PIL leaves the
//! rest at the frame's transparent index, or index 0 without one, and widens the image to hold
//! a frame reaching past the screen. image's GIF reader fills the rest with black and crops the
//! frame to the screen (hostile round 24), and the frame's buffer could exceed the budget its
//! screen passed ("Memory limit exceeded"). Indices become colours as PIL's do ([`Colours`]).

use std::borrow::Cow;
use std::io::Cursor;
use std::num::NonZeroU64;

use gif::{ColorOutput, DecodeOptions, Decoder, DecodingError, MemoryLimit};
use image::{Rgb, RgbImage};

use super::{MAX_HEADER_ALLOC, check_dimensions};
use crate::error::{Error, Result};

/// Bytes of one palette colour.
const RGB: usize = 3;

/// Where a GIF's logical screen descriptor ends (after the 6-byte signature), and the byte of
/// its flags, whose top bit says a global colour table follows.
const SCREEN_END: usize = 13;
const SCREEN_FLAGS: usize = 10;

/// Decodes the first frame of the GIF `bytes`, refusing an image (screen and frame together)
/// of more than `max_pixels` before its pixels are read.
pub(super) fn decode_first_frame(bytes: &[u8], max_pixels: u64) -> Result<RgbImage> {
    let bytes = with_global_table(bytes);
    let mut decoder = open(&bytes)?;
    let screen = (u32::from(decoder.width()), u32::from(decoder.height()));
    let frame = decoder
        .next_frame_info()
        .map_err(header_error)?
        .ok_or_else(|| Error::Image("the GIF holds no frame".into()))?;
    let (left, top) = (u32::from(frame.left), u32::from(frame.top));
    let (width, height) = (u32::from(frame.width), u32::from(frame.height));
    let background = frame.transparent.unwrap_or(0);
    let local = frame.palette.clone(); // at most 768 bytes
    if width == 0 || height == 0 {
        // (An interlaced one read no row, and a blank image was captioned: review 74.)
        return Err(Error::Image(format!(
            "the GIF's first frame is {width}×{height}: it has no pixels"
        )));
    }
    // u16 + u16: no overflow in u32.
    let canvas = (screen.0.max(left + width), screen.1.max(top + height));
    check_dimensions(canvas.0, canvas.1, max_pixels)?;
    let colours = Colours::of(local.as_deref(), decoder.global_palette());
    // frame ≤ canvas, which passed the budget: [height, width] palette indices.
    let mut indices = vec![0u8; width as usize * height as usize];
    decoder
        .read_into_buffer(&mut indices)
        .map_err(|e| Error::Image(format!("corrupt Gif data: {e}")))?;
    let mut image = RgbImage::from_pixel(canvas.0, canvas.1, colours.of_index(background));
    for (y, row) in (top..).zip(indices.chunks_exact(width as usize)) {
        for (x, &index) in (left..).zip(row) {
            image.put_pixel(x, y, colours.of_index(index));
        }
    }
    Ok(image)
}

/// A reader of palette indices, what it keeps besides the frame capped.
fn open(bytes: &[u8]) -> Result<Decoder<Cursor<&[u8]>>> {
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    // What the reader keeps besides the frame (a colour profile, XMP), as for other formats.
    options.set_memory_limit(MemoryLimit::Bytes(
        NonZeroU64::new(MAX_HEADER_ALLOC).expect("a positive constant"),
    ));
    options.read_info(Cursor::new(bytes)).map_err(header_error)
}

fn header_error(e: DecodingError) -> Error {
    match e {
        DecodingError::MemoryLimit => Error::Image(format!(
            "Gif header: its metadata (a colour profile or XMP) needs more than {} MiB to read",
            MAX_HEADER_ALLOC >> 20
        )),
        e => Error::Image(format!("corrupt Gif header: {e}")),
    }
}

/// `bytes`, given a global colour table of greys where it has none: PIL reads such a GIF's
/// indices as greys, which the decoder cannot read without a table (it refused the file).
fn with_global_table(bytes: &[u8]) -> Cow<'_, [u8]> {
    match bytes.get(SCREEN_FLAGS) {
        Some(flags) if flags & 0x80 == 0 && bytes.len() >= SCREEN_END => {
            let mut with = Vec::with_capacity(bytes.len() + 256 * RGB);
            with.extend_from_slice(&bytes[..SCREEN_END]);
            with[SCREEN_FLAGS] |= 0x87; // a table of 2^(7 + 1) = 256 colours
            with.extend((0..=255u8).flat_map(|i| [i; RGB]));
            with.extend_from_slice(&bytes[SCREEN_END..]);
            Cow::Owned(with)
        }
        _ => Cow::Borrowed(bytes),
    }
}

/// How a frame's indices become colours, as PIL reads them: through the frame's own palette,
/// else the global one, but a palette whose every entry `i` is the grey `i` counts as none
/// (PIL's `_is_palette_needed`), and without one an index is its grey.
enum Colours {
    Palette(Vec<u8>),
    Grey,
}

impl Colours {
    fn of(local: Option<&[u8]>, global: Option<&[u8]>) -> Colours {
        let needed = |palette: &&[u8]| {
            let entries = palette.chunks(RGB).enumerate();
            entries
                .into_iter()
                .any(|(i, entry)| entry.iter().any(|&c| usize::from(c) != i))
        };
        match [local, global].into_iter().flatten().find(needed) {
            Some(palette) => Colours::Palette(palette.to_vec()),
            None => Colours::Grey,
        }
    }

    /// Entry `index`; black past the palette's end, as PIL's conversion gives.
    fn of_index(&self, index: u8) -> Rgb<u8> {
        let Colours::Palette(palette) = self else {
            return Rgb([index; RGB]);
        };
        let start = usize::from(index) * RGB;
        match palette.get(start..start + RGB) {
            Some(&[r, g, b]) => Rgb([r, g, b]),
            _ => Rgb([0, 0, 0]),
        }
    }
}
