//! Two checks of a WebP's chunks before image-webp 0.2.4 decodes it:
//! - it reads a chunk (EXIF, ICC profile, …) into a buffer of the size its header declares
//!   before it finds that the file holds less. Natively those are zeroed pages that cost nothing
//!   until written; in WebAssembly the module's memory grows by the whole size and never shrinks,
//!   so a WebP of a few hundred bytes could take gigabytes of the page's memory;
//! - it panics (`yuv.rs:93`, a slice out of range) on an animation frame whose image data is
//!   larger than the frame's declared size (found by the `image` fuzzer, round 29; and in
//!   round 53 where the data follows an `ALPH` chunk in a chunk of any name, which it decodes
//!   as lossy data without looking at the name or, there, the size).

use crate::error::{Error, Result};

/// Refuses a WebP (`RIFF` … `WEBP`, then chunks of a four-letter name, a little-endian `u32`
/// size and the data, padded to an even length) one of whose chunks claims more bytes than
/// follow it, or holds metadata over `metadata_cap` bytes. A file too short for its header
/// passes: the decoder reports that itself.
pub(super) fn check_chunk_sizes(bytes: &[u8], metadata_cap: u64) -> Result<()> {
    let Some(mut rest) = bytes.get(12..) else {
        return Ok(());
    };
    while let Some((name, size, data)) = chunk_header(rest) {
        if size > data.len() as u64 {
            return Err(Error::Image(format!(
                "WebP chunk `{}` claims {size} bytes, but only {} follow (the file is truncated or damaged)",
                name.escape_ascii(),
                data.len()
            )));
        }
        super::metadata::check_webp_chunk(name, size, metadata_cap)?;
        // Within `data`, as just checked: the padding byte may be missing at the file's end.
        let padded = (size as usize + (size as usize & 1)).min(data.len());
        rest = &data[padded..];
    }
    Ok(())
}

/// Refuses an animation frame (`ANMF`) whose image data (`VP8 ` or `VP8L`) is not of the size the
/// frame declares. Runs after [`check_chunk_sizes`], so every chunk lies within the file.
pub(super) fn check_frames(bytes: &[u8]) -> Result<()> {
    let frames = chunks(bytes.get(12..).unwrap_or_default()).filter(|(name, _)| *name == b"ANMF");
    for (index, (_, frame)) in frames.enumerate() {
        let Some(header) = frame.get(..16) else { continue };
        let side = |at: usize| 1 + u32::from_le_bytes([header[at], header[at + 1], header[at + 2], 0]);
        let declared = (side(6), side(9));
        let coded = frame_image_size(&frame[16..]);
        if let Some(coded) = coded.filter(|&coded| coded != declared) {
            return Err(Error::Image(format!(
                "WebP animation frame {index} is declared {}×{} but its image data is {}×{}",
                declared.0, declared.1, coded.0, coded.1
            )));
        }
    }
    Ok(())
}

/// The size a frame's image data codes, found as image-webp 0.2.4 finds it: the frame's first
/// chunk, or, when that is `ALPH`, the chunk after it, decoded as lossy (`VP8 `) data whatever
/// its name (a 1×1 frame's `ALPH` followed by 9×7 data named `VP9 ` panicked). A chunk cut short
/// is read as far as it goes, as the decoder reads it.
fn frame_image_size(chunks: &[u8]) -> Option<(u32, u32)> {
    let (name, size, data) = chunk_header(chunks)?;
    if name != b"ALPH" {
        return image_size(name, within(size, data));
    }
    let next = data.get(usize::try_from(size + (size & 1)).ok()?..)?;
    let (_, next_size, next_data) = chunk_header(next)?;
    image_size(b"VP8 ", within(next_size, next_data))
}

/// The first `size` bytes of `data`, or all of it when it holds fewer.
fn within(size: u64, data: &[u8]) -> &[u8] {
    usize::try_from(size).map_or(data, |n| &data[..n.min(data.len())])
}

/// The chunks of `bytes` that lie whole within it: name and data.
fn chunks(mut rest: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let (name, size, data) = chunk_header(rest)?;
        let data = data.get(..usize::try_from(size).ok()?)?;
        let padded = (data.len() + (data.len() & 1)).min(rest.len() - 8);
        rest = &rest[8 + padded..];
        Some((name, data))
    })
}

/// The width and height a `VP8 ` (lossy: 14 bits each after the start code) or `VP8L`
/// (lossless: 14 bits each, minus one, after the signature byte) chunk codes.
fn image_size(name: &[u8], data: &[u8]) -> Option<(u32, u32)> {
    match name {
        b"VP8 " if data.get(3..6) == Some(&[0x9d, 0x01, 0x2a]) => {
            let bits = |at: usize| u32::from(u16::from_le_bytes([data[at], data[at + 1]]) & 0x3fff);
            (data.len() >= 10).then(|| (bits(6), bits(8)))
        }
        b"VP8L" if data.first() == Some(&0x2f) && data.len() >= 5 => {
            let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
            Some((1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff)))
        }
        _ => None,
    }
}

/// A chunk's name, declared size and what follows its header; `None` past the last chunk.
fn chunk_header(bytes: &[u8]) -> Option<(&[u8], u64, &[u8])> {
    let header = bytes.get(..8)?;
    let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    Some((&header[..4], u64::from(size), &bytes[8..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/images/lossy.webp"
        ))
        .unwrap()
    }

    #[test]
    fn an_animation_frame_smaller_than_its_image_data_is_refused() {
        // Valid animations (Pillow 13.0.0, crates/glimpse-fuzz/make_image_seeds.py) and the
        // fuzzer's file: a 1×1 frame holding 9×7 image data.
        let hostile = |name: &str| {
            std::fs::read(format!(
                "{}/../../tests/fixtures/hostile/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        for name in ["animated_lossy.webp", "animated_lossless.webp"] {
            let webp = hostile(name);
            check_frames(&webp).unwrap();
            super::super::decode_image(&webp, 1 << 20).unwrap();
        }
        let crash = hostile("webp_frame_smaller_than_its_data.webp");
        check_chunk_sizes(&crash, u64::MAX).unwrap();
        let err = check_frames(&crash).unwrap_err().to_string();
        assert!(
            err.contains("WebP animation frame 0 is declared 1×1 but its image data is 9×7"),
            "{err}"
        );
        assert!(super::super::decode_image(&crash, 1 << 20).is_err());
        // Round 53's: the 9×7 data after the frame's `ALPH`, in a chunk named `VP9 `.
        let crash = hostile("webp_frame_data_after_alpha_of_any_name.webp");
        let err = check_frames(&crash).unwrap_err().to_string();
        assert!(
            err.contains("WebP animation frame 0 is declared 1×1 but its image data is 9×7"),
            "{err}"
        );
        assert!(super::super::decode_image(&crash, 1 << 20).is_err());
    }

    #[test]
    fn whole_files_pass_and_a_chunk_claiming_more_than_follows_is_refused() {
        let webp = fixture();
        check_chunk_sizes(&webp, u64::MAX).unwrap();
        // An EXIF chunk appended that claims 1 GiB and holds 4 bytes.
        let mut crafted = webp.clone();
        crafted.extend(b"EXIF");
        crafted.extend((1u32 << 30).to_le_bytes());
        crafted.extend(b"II*\0");
        let err = check_chunk_sizes(&crafted, u64::MAX).unwrap_err().to_string();
        assert!(
            err.contains("WebP chunk `EXIF` claims 1073741824 bytes, but only 4 follow"),
            "{err}"
        );
        // A file cut inside its image data: the image chunk claims more than is left.
        let err = check_chunk_sizes(&webp[..webp.len() - 10], u64::MAX)
            .unwrap_err()
            .to_string();
        assert!(err.contains("claims") && err.contains("truncated"), "{err}");
    }
}
