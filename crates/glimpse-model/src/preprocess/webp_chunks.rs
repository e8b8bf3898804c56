//! image-webp reads a chunk (EXIF, ICC profile, …) into a buffer of the size its header
//! declares before it finds that the file holds less. Natively those are zeroed pages that cost
//! nothing until written; in WebAssembly the module's memory grows by the whole size and never
//! shrinks, so a WebP of a few hundred bytes could take gigabytes of the page's memory. A WebP
//! whose chunks claim more than the file holds is refused before it is decoded.

use crate::error::{Error, Result};

/// Refuses a WebP (`RIFF` … `WEBP`, then chunks of a four-letter name, a little-endian `u32`
/// size and the data, padded to an even length) one of whose chunks claims more bytes than
/// follow it. A file too short for its header passes: the decoder reports that itself.
pub(super) fn check_chunk_sizes(bytes: &[u8]) -> Result<()> {
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
        // Within `data`, as just checked: the padding byte may be missing at the file's end.
        let padded = (size as usize + (size as usize & 1)).min(data.len());
        rest = &data[padded..];
    }
    Ok(())
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
    fn whole_files_pass_and_a_chunk_claiming_more_than_follows_is_refused() {
        let webp = fixture();
        check_chunk_sizes(&webp).unwrap();
        // An EXIF chunk appended that claims 1 GiB and holds 4 bytes.
        let mut crafted = webp.clone();
        crafted.extend(b"EXIF");
        crafted.extend((1u32 << 30).to_le_bytes());
        crafted.extend(b"II*\0");
        let err = check_chunk_sizes(&crafted).unwrap_err().to_string();
        assert!(
            err.contains("WebP chunk `EXIF` claims 1073741824 bytes, but only 4 follow"),
            "{err}"
        );
        // A file cut inside its image data: the image chunk claims more than is left.
        let err = check_chunk_sizes(&webp[..webp.len() - 10])
            .unwrap_err()
            .to_string();
        assert!(err.contains("claims") && err.contains("truncated"), "{err}");
    }
}
