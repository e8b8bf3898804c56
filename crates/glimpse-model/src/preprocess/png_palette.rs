//! A check of a PNG's palette before png 0.18.1 decodes it: expanding a palette (`PLTE`) whose
//! length is not a multiple of 3 it panics (`transform/palette.rs:74`, a slice out of range),
//! and one of more than 256 colours overruns its table of 256 (found by the `image` fuzzer,
//! round 51).

use crate::error::{Error, Result};

/// What every PNG starts with.
const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Most bytes a palette may hold: 256 colours of 3 bytes.
const MAX_PALETTE_BYTES: u32 = 256 * 3;

/// Refuses a PNG whose palette is not 1 to 256 colours of 3 bytes each. Chunks (a big-endian
/// `u32` length, a four-letter name, the data, a CRC) are read while they lie whole within the
/// file; a file cut short passes, for the decoder to report.
pub(super) fn check_palette(bytes: &[u8]) -> Result<()> {
    let mut rest = bytes.strip_prefix(SIGNATURE).unwrap_or_default();
    while let Some((length, after)) = rest.split_first_chunk::<4>() {
        let length = u32::from_be_bytes(*length);
        let Some(name) = after.get(..4) else {
            return Ok(());
        };
        if name == b"PLTE" && (length == 0 || length % 3 != 0 || length > MAX_PALETTE_BYTES) {
            return Err(Error::Image(format!(
                "PNG palette (PLTE) holds {length} bytes, not 1 to 256 colours of 3 bytes each"
            )));
        }
        // Length, name, data and CRC.
        let Some(next) = usize::try_from(length).ok().and_then(|n| n.checked_add(12)) else {
            return Ok(());
        };
        let Some(after) = rest.get(next..) else {
            return Ok(());
        };
        rest = after;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/fixtures/hostile/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// A 1×1 PNG of 8-bit palette indices (its pixel: index 0) with `palette`.
    fn paletted_png(palette: &[u8]) -> Vec<u8> {
        let mut png = SIGNATURE.to_vec();
        let mut chunk = |name: &[u8], data: &[u8]| {
            png.extend((data.len() as u32).to_be_bytes());
            let named = [name, data].concat();
            png.extend(&named);
            png.extend(crc32fast::hash(&named).to_be_bytes());
        };
        chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 3, 0, 0, 0]);
        chunk(b"PLTE", palette);
        // zlib: one stored block of the row (filter 0, index 0), then its Adler-32.
        chunk(b"IDAT", &[0x78, 0x01, 0x01, 2, 0, 0xFD, 0xFF, 0, 0, 0, 2, 0, 1]);
        chunk(b"IEND", &[]);
        png
    }

    #[test]
    fn a_palette_of_whole_colours_passes_and_any_other_is_refused() {
        // The fuzzer's file (its CRCs made right, as the fuzzing build's decoder ignores them): a
        // 103-byte, 103×7 paletted PNG whose palette holds 13 bytes, which panicked a release
        // build.
        let crash = hostile("png_palette_not_whole_colours.png");
        let err = check_palette(&crash).unwrap_err().to_string();
        assert!(
            err.contains("PNG palette (PLTE) holds 13 bytes, not 1 to 256 colours of 3 bytes each"),
            "{err}"
        );
        assert!(super::super::decode_image(&crash, 1 << 20).is_err());
        // A palette of one colour, or of 256, decodes to its first colour; 257 colours, none,
        // or a colour and a byte are refused.
        for colours in [1, 256] {
            let png = paletted_png(&[10, 20, 30].repeat(colours));
            check_palette(&png).unwrap();
            let decoded = super::super::decode_image(&png, 1 << 20).unwrap();
            assert_eq!(decoded.get_pixel(0, 0).0, [10, 20, 30]);
        }
        for palette in [vec![7u8; 771], vec![], vec![7; 4]] {
            let err = check_palette(&paletted_png(&palette)).unwrap_err().to_string();
            assert!(err.contains(&format!("holds {} bytes", palette.len())), "{err}");
        }
        // A file cut inside a chunk, or not a PNG at all, is left to the decoder.
        check_palette(&crash[..40]).unwrap();
        check_palette(b"GIF89a").unwrap();
    }
}
