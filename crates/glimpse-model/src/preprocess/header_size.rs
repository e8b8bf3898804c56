//! A PNG's or a BMP's size, read from its header before the decoder reads it, so that a size out
//! of the budget is named as such: the decoder's own refusals named other problems (a PNG of
//! 2,147,483,647×1 blamed on metadata it did not have, a 0×0 BMP called "too large": hostile
//! round 24).

/// `(width, height)` from the IHDR chunk a PNG starts with, if it does.
pub(super) fn png(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be_u32(bytes, 16)?, be_u32(bytes, 20)?))
}

/// `(width, height)` from a BMP's info header (40 bytes or more; a negative height is a
/// top-down image of that many rows), if it has one.
pub(super) fn bmp(bytes: &[u8]) -> Option<(u32, u32)> {
    let info_size = le_i32(bytes, 14)?;
    if info_size < 40 {
        return None; // an OS/2 core header: the decoder reads its 16-bit sizes
    }
    Some((
        le_i32(bytes, 18)?.unsigned_abs(),
        le_i32(bytes, 22)?.unsigned_abs(),
    ))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le_i32(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}
