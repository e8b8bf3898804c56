//! Whether a JPEG's image data is all there. The decoder fills whatever is missing without a
//! word, so a photo cut short would be captioned as if it were whole. Two checks find it: no
//! end-of-image marker after the last scan (a download that stopped), and, for Huffman-coded
//! sequential and progressive JPEGs (what cameras, phones and web encoders write), a walk over
//! the coded data that counts the blocks each scan holds against the blocks its frame needs,
//! and the bits of each coefficient the scans code against all of them — which also finds data
//! cut short and given a new end marker, inside a scan or between two.

mod bits;
mod block;
mod frame;
mod huffman;
mod scan;
#[cfg(test)]
mod tests;

use self::bits::DataEnd;
use self::frame::Frame;
use self::huffman::Tables;
use self::scan::{Scan, ScanEnd};

/// Whether the image data of `bytes`, a JPEG of at most `max_pixels`, stops before the image
/// does. The walk's answer wins where it has one: it stops at the first end marker, while the
/// marker check looks from the file's end, where a motion photo keeps a video whose bytes may
/// look like a scan.
pub(super) fn jpeg_is_truncated(bytes: &[u8], max_pixels: u64) -> bool {
    data_is_short(bytes, max_pixels).unwrap_or_else(|| ends_inside_a_scan(bytes))
}

/// Whether the file stops early in any way: its data before the image, or the file before its
/// end marker. Said of a file the decoder refused (for a decoded one, a missing end marker
/// alone is no harm: [`jpeg_is_truncated`] is what to warn about).
pub(super) fn jpeg_is_cut(bytes: &[u8], max_pixels: u64) -> bool {
    ends_inside_a_scan(bytes) || jpeg_is_truncated(bytes, max_pixels)
}

/// The file ends inside a scan or between scans: walking its segments from the start, no
/// end-of-image marker (FF D9) comes after the first scan. Segments are skipped by their length
/// and scan data up to its next marker, so a thumbnail inside an APP segment or a video after
/// the image (a motion photo) is never taken for the image's end or its data. A file that
/// breaks off before any scan has a broken header, which the decoder reports.
fn ends_inside_a_scan(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let (mut pos, mut scanned) = (2, false);
    loop {
        let Some((marker, after)) = marker_at(bytes, pos) else {
            return scanned;
        };
        pos = after;
        match marker {
            0xD9 => return false,
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(length) = bytes
            .get(pos..pos + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return scanned;
        };
        pos += length;
        if marker == 0xDA {
            scanned = true;
            // Scan data: every FF is followed by 00 (a stuffed byte) or a restart marker.
            let data = bytes.get(pos..).unwrap_or_default();
            match data
                .windows(2)
                .position(|w| w[0] == 0xFF && !matches!(w[1], 0x00 | 0xD0..=0xD7))
            {
                Some(end) => pos += end,
                None => return true,
            }
        }
    }
}

/// [`walk`] as the tool uses it: data left over after a scan's last block (a sloppy encoder's
/// padding) is skipped.
fn data_is_short(bytes: &[u8], max_pixels: u64) -> Option<bool> {
    walk(bytes, max_pixels, Leftover::Skipped)
}

/// What to do with data left over after a scan's last block.
#[derive(PartialEq)]
enum Leftover {
    Skipped,
    /// No judgement (`None`): what tests ask, to show the walk reads every bit of a file.
    Refused,
}

/// `Some(true)` when a scan's data ends before its last block or the scans leave a coefficient
/// bit uncoded (a progressive file cut between scans), `Some(false)` when everything is there.
/// `None` when this walk cannot tell (lossless, hierarchical or arithmetic-coded files, frames
/// over `max_pixels`, or data it does not understand): the decoder's own checks are all there
/// is then.
fn walk(bytes: &[u8], max_pixels: u64, leftover: Leftover) -> Option<bool> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut pos = 2;
    let mut frame: Option<Frame> = None;
    let mut tables = Tables::default();
    let mut restart_interval = 0;
    loop {
        if bytes.get(pos..).unwrap_or_default().iter().all(|&b| b == 0xFF) {
            break; // only fill bytes left, or nothing: the end marker is all that is missing
        }
        let (marker, after) = marker_at(bytes, pos)?;
        pos = after;
        match marker {
            0xD9 => break,                  // end of image
            0x01 | 0xD0..=0xD8 => continue, // markers without a segment
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
        let segment = bytes.get(pos + 2..pos.checked_add(length)?)?;
        pos += length;
        match marker {
            // One frame to an image: a second would start the walk's budget over.
            0xC0..=0xC2 if frame.is_some() => return None,
            0xC0..=0xC2 => frame = Some(Frame::parse(segment, marker == 0xC2, max_pixels)?),
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xC4 => tables.parse(segment)?,
            0xDD => restart_interval = usize::from(u16::from_be_bytes([*segment.first()?, *segment.get(1)?])),
            0xDA => {
                let frame = frame.as_mut()?;
                let scan = Scan::parse(segment, frame, &tables, restart_interval)?;
                match scan.walk(bytes, pos, frame)? {
                    ScanEnd::Short => return Some(true),
                    ScanEnd::Complete { exact: false, .. } if leftover == Leftover::Refused => return None,
                    ScanEnd::Complete {
                        end: DataEnd::Marker(next),
                        ..
                    } => pos = next,
                    // Only the end marker is missing: nothing was filled in.
                    ScanEnd::Complete {
                        end: DataEnd::FileEnd,
                        ..
                    } => break,
                }
            }
            _ => {} // APPn, COM, DQT: nothing to count
        }
    }
    Some(!frame?.complete())
}

/// The first marker at or after `pos` and the position after it: an FF, after any fill bytes
/// (more FFs), followed by a code other than 00. Stray bytes before it, an `FF 00` among them,
/// are skipped as zune-jpeg skips them: a walk that stopped there would let a stray byte hide
/// a cut.
fn marker_at(bytes: &[u8], pos: usize) -> Option<(u8, usize)> {
    let at = pos
        + bytes
            .get(pos..)?
            .windows(2)
            .position(|w| w[0] == 0xFF && !matches!(w[1], 0x00 | 0xFF))?;
    Some((bytes[at + 1], at + 2))
}
