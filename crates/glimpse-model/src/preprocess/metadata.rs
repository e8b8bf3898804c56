//! Metadata that decoders read whole, outside image's allocation limit: zune-jpeg gathers every
//! `ICC_PROFILE` segment of a JPEG into one profile, and image-webp reads a WebP's `EXIF`,
//! `ICCP` or `XMP ` chunk into a buffer of its size. A 249 MB JPEG of ICC segments took 766 MB
//! and a WebP with a 240 MB EXIF chunk 516 MB (a hostile round, session 46); a PNG's are capped
//! by image's limits. Both are refused here, before decoding, over the same cap.

use crate::error::{Error, Result};

/// Refuses a JPEG whose `ICC_PROFILE` segments (APP2) hold more than `cap` bytes together.
/// Every `FF E2` marker in the file is looked at: entropy-coded data stuffs a zero after each
/// `FF`, so a marker found there is one a decoder would read too.
pub(super) fn check_jpeg_profile(bytes: &[u8], cap: u64) -> Result<()> {
    const ICC: &[u8] = b"ICC_PROFILE\0";
    let mut total = 0u64;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(2).position(|w| w == [0xFF, 0xE2]) {
        let segment = at + found + 2; // its length, then its data
        if let Some(&[high, low]) = bytes.get(segment..segment + 2)
            && bytes.get(segment + 2..).is_some_and(|data| data.starts_with(ICC))
        {
            total += u64::from(u16::from_be_bytes([high, low]));
        }
        at = segment;
    }
    match total > cap {
        true => Err(too_much(
            "JPEG",
            "colour profile (ICC_PROFILE segments)",
            total,
            cap,
        )),
        false => Ok(()),
    }
}

/// Refuses a WebP chunk of metadata (`name`, `size` bytes) over `cap` bytes.
pub(super) fn check_webp_chunk(name: &[u8], size: u64, cap: u64) -> Result<()> {
    match matches!(name, b"EXIF" | b"ICCP" | b"XMP ") && size > cap {
        true => Err(too_much(
            "WebP",
            &format!("`{}` chunk", name.escape_ascii()),
            size,
            cap,
        )),
        false => Ok(()),
    }
}

fn too_much(format: &str, what: &str, bytes: u64, cap: u64) -> Error {
    Error::Image(format!(
        "{format} header: its metadata ({what}, {bytes} bytes) needs more than {} MiB to read",
        cap >> 20
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An APP2 `ICC_PROFILE` segment of `data` bytes of profile.
    fn icc_segment(data: usize) -> Vec<u8> {
        let length = (2 + 14 + data) as u16;
        let mut segment = vec![0xFF, 0xE2];
        segment.extend(length.to_be_bytes());
        segment.extend(b"ICC_PROFILE\0\x01\x01");
        segment.resize(segment.len() + data, 0);
        segment
    }

    #[test]
    fn a_jpegs_profile_segments_count_together() {
        let mut jpeg = vec![0xFF, 0xD8];
        for _ in 0..10 {
            jpeg.extend(icc_segment(60_000));
        }
        let total = 10 * (2 + 14 + 60_000) as u64;
        check_jpeg_profile(&jpeg, total).unwrap();
        let err = check_jpeg_profile(&jpeg, total - 1).unwrap_err().to_string();
        assert!(
            err.contains("JPEG header: its metadata (colour profile (ICC_PROFILE segments), 600160 bytes)"),
            "{err}"
        );
        // An APP2 segment that is not a profile does not count.
        let other = [&[0xFF, 0xE2, 0x00, 0x08][..], b"MPF\0\0\0"].concat();
        check_jpeg_profile(&other, 0).unwrap();
    }

    #[test]
    fn a_webp_metadata_chunk_over_the_cap_is_named() {
        check_webp_chunk(b"EXIF", 64, 64).unwrap();
        check_webp_chunk(b"VP8 ", 1 << 30, 64).unwrap();
        let err = check_webp_chunk(b"EXIF", 65, 64).unwrap_err().to_string();
        assert!(
            err.contains("WebP header: its metadata (`EXIF` chunk, 65 bytes)"),
            "{err}"
        );
    }
}
