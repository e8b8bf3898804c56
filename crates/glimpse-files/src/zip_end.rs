//! The end of a zip archive: the largest directory its end records could make a zip reader
//! list, read before a reader lists it (which trusts the count and takes memory for every
//! entry: 14 million empty entries in a 1.5 GB file took 7 GB).
//!
//! A reader takes the first end record that works, searching back from the file's end, so a
//! check must hold for every record it could take (hostile round 11 got past a check of fewer):
//! every end-of-central-directory signature in the last 64 KiB and a record, and, for one that
//! defers to zip64 (any of its count, size or offset at its maximum) through a locator, every
//! zip64 record between where the locator points and the locator that ends exactly at the
//! locator (as the `zip` crate searches, not only the one the locator points to).

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};

/// What a zip's directory is claimed to hold: the most entries and the most bytes any end
/// record claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZipDirectory {
    /// The entries the directory lists.
    pub entries: u64,
    /// The bytes the directory takes.
    pub bytes: u64,
}

const END_SIGNATURE: &[u8; 4] = b"PK\x05\x06";
const LOCATOR_SIGNATURE: &[u8; 4] = b"PK\x06\x07";
const ZIP64_SIGNATURE: &[u8; 4] = b"PK\x06\x06";
/// An end record's fixed part (its comment follows).
const END_RECORD: usize = 22;
/// Where end records are searched: the `zip` crate's 64 KiB comment, a signature and its
/// 32-byte record, with room to spare.
const SEARCHED: usize = (1 << 16) + 128;
/// The zip64 locator stands just before the end record.
const LOCATOR: usize = 20;
/// A zip64 record's fixed part, up to the directory's offset.
const ZIP64_RECORD: usize = 56;
/// A zip64 record's declared size counts from after its first 12 bytes.
const ZIP64_OVERHEAD: u64 = 12;

/// The largest directory any end record in `file`'s tail (or the zip64 records those defer to)
/// claims; `None` when there is no end record at all, the usual sign of a file cut short.
pub fn zip_directory_claims(file: &mut (impl Read + Seek)) -> io::Result<Option<ZipDirectory>> {
    let len = file.seek(SeekFrom::End(0))?;
    let tail_start = len.saturating_sub((SEARCHED + LOCATOR) as u64);
    file.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::with_capacity(SEARCHED + LOCATOR);
    file.by_ref()
        .take((SEARCHED + LOCATOR) as u64)
        .read_to_end(&mut tail)?;
    let first = tail.len().saturating_sub(SEARCHED);
    let ends: Vec<usize> = (first..tail.len().saturating_sub(END_RECORD - 1))
        .filter(|&at| tail[at..].starts_with(END_SIGNATURE))
        .collect();
    if ends.is_empty() {
        return Ok(None);
    }
    let mut largest = ZipDirectory::default();
    // Locator's position in the file → the earliest place a zip64 record may start for it.
    let mut zip64_searches: HashMap<u64, u64> = HashMap::new();
    for at in ends {
        let locator = at
            .checked_sub(LOCATOR)
            .filter(|&l| tail[l..].starts_with(LOCATOR_SIGNATURE));
        match locator {
            Some(locator) if defers_to_zip64(&tail[at..]) => {
                let locator_at = tail_start + locator as u64;
                let from = le64(&tail, locator + 8);
                let earliest = zip64_searches.entry(locator_at).or_insert(from);
                *earliest = (*earliest).min(from);
            }
            _ => largest = largest.max_with(u64::from(le16(&tail, at + 10)), u64::from(le32(&tail, at + 12))),
        }
    }
    if !zip64_searches.is_empty() {
        largest = largest.max(zip64_claims(file, &zip64_searches)?);
    }
    Ok(Some(largest))
}

impl ZipDirectory {
    fn max_with(self, entries: u64, bytes: u64) -> ZipDirectory {
        ZipDirectory {
            entries: self.entries.max(entries),
            bytes: self.bytes.max(bytes),
        }
    }

    fn max(self, other: ZipDirectory) -> ZipDirectory {
        self.max_with(other.entries, other.bytes)
    }
}

/// An end record (at the start of `record`) whose entry count, directory size or offset is at
/// its maximum: a reader looks for its zip64 record.
fn defers_to_zip64(record: &[u8]) -> bool {
    le16(record, 10) == u16::MAX || le32(record, 12) == u32::MAX || le32(record, 16) == u32::MAX
}

/// The largest claims of the zip64 records that end exactly at one of `searches`' locators and
/// start no earlier than its search does, read in one pass over the file whatever the number of
/// locators (each record's claims are taken as it is found, so none is kept).
fn zip64_claims(file: &mut (impl Read + Seek), searches: &HashMap<u64, u64>) -> io::Result<ZipDirectory> {
    let start = searches.values().copied().min().unwrap_or(0);
    let end = searches.keys().copied().max().unwrap_or(0);
    let mut largest = ZipDirectory::default();
    let mut chunk = vec![0u8; 1 << 20];
    let mut offset = start;
    while offset < end {
        file.seek(SeekFrom::Start(offset))?;
        // Each window overlaps the next by a record, so that none straddling two is missed.
        let wanted = (chunk.len() as u64).min(end - offset + ZIP64_RECORD as u64) as usize;
        let read = read_up_to(file, &mut chunk[..wanted])?;
        let window = &chunk[..read];
        for at in
            (0..read.saturating_sub(ZIP64_RECORD - 1)).filter(|&at| window[at..].starts_with(ZIP64_SIGNATURE))
        {
            let position = offset + at as u64;
            let record_end = position
                .checked_add(ZIP64_OVERHEAD)
                .and_then(|p| p.checked_add(le64(window, at + 4)));
            if let Some(record_end) = record_end
                && searches.get(&record_end).is_some_and(|&from| position >= from)
            {
                largest = largest.max_with(le64(window, at + 32), le64(window, at + 40));
            }
        }
        if read < ZIP64_RECORD {
            break;
        }
        offset += (read - (ZIP64_RECORD - 1)) as u64;
    }
    Ok(largest)
}

/// Fills as much of `buffer` as `file` has left.
fn read_up_to(file: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn le16(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

fn le32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().unwrap_or_default())
}

fn le64(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// An end record without a comment.
    fn end_record(entries: u16, bytes: u32, offset: u32) -> Vec<u8> {
        let mut record = END_SIGNATURE.to_vec();
        record.extend([0; 4]);
        record.extend(entries.to_le_bytes());
        record.extend(entries.to_le_bytes());
        record.extend(bytes.to_le_bytes());
        record.extend(offset.to_le_bytes());
        record.extend([0; 2]);
        record
    }

    /// A zip64 record claiming `entries` and `bytes`.
    fn zip64_record(entries: u64, bytes: u64) -> Vec<u8> {
        let mut record = ZIP64_SIGNATURE.to_vec();
        record.extend(44u64.to_le_bytes());
        record.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        record.extend(entries.to_le_bytes()); // on this disk
        record.extend(entries.to_le_bytes()); // in all
        record.extend(bytes.to_le_bytes());
        record.extend(0u64.to_le_bytes()); // the directory's offset
        record
    }

    fn locator(zip64_at: u64) -> Vec<u8> {
        let mut record = LOCATOR_SIGNATURE.to_vec();
        record.extend(0u32.to_le_bytes());
        record.extend(zip64_at.to_le_bytes());
        record.extend(1u32.to_le_bytes());
        record
    }

    fn claims(data: &[u8]) -> Option<ZipDirectory> {
        zip_directory_claims(&mut Cursor::new(data)).unwrap()
    }

    fn claim(entries: u64, bytes: u64) -> Option<ZipDirectory> {
        Some(ZipDirectory { entries, bytes })
    }

    #[test]
    fn every_end_record_in_reach_is_read() {
        assert_eq!(claims(b"not a zip"), None);
        assert_eq!(claims(&end_record(3, 150, 0)), claim(3, 150));
        // A second record inside the first's comment is a claim too.
        let mut nested = end_record(1, 46, 0);
        nested[20..22].copy_from_slice(&22u16.to_le_bytes());
        nested.extend(end_record(9, 900, 0));
        assert_eq!(claims(&nested), claim(9, 900));
        // Hostile round 11: 65,538 bytes after the record put it past a 64 KiB window, but not
        // past the zip reader's.
        let mut pushed = end_record(2, 5000, 0);
        pushed.extend(vec![0u8; 65_538]);
        assert_eq!(claims(&pushed), claim(2, 5000));
    }

    /// The zip64 record a locator points to, a decoy there with another one after it, and a
    /// record deferring through its offset alone (hostile round 11's three ways past the check).
    #[test]
    fn every_zip64_record_a_reader_could_take_is_read() {
        let mut plain = zip64_record(14_000_000, 1 << 33);
        plain.extend(locator(0));
        plain.extend(end_record(u16::MAX, u32::MAX, u32::MAX));
        assert_eq!(claims(&plain), claim(14_000_000, 1 << 33));

        // The decoy, where the locator points, does not end at the locator; the second does.
        let mut decoy = zip64_record(1, 46);
        decoy[4..12].copy_from_slice(&0u64.to_le_bytes());
        decoy.extend(zip64_record(3_000_000, 1 << 28));
        decoy.extend(locator(0));
        decoy.extend(end_record(5, 300, 0));
        assert_eq!(
            claims(&decoy),
            claim(5, 300),
            "a record at no maximum is read as it is"
        );
        let len = decoy.len();
        decoy[len - 6..len - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(claims(&decoy), claim(3_000_000, 1 << 28));

        // A record that does not end at the locator is no reader's.
        let mut stray = zip64_record(9_000_000, 1 << 30);
        stray.extend([0; 3]);
        stray.extend(locator(0));
        stray.extend(end_record(u16::MAX, 100, 0));
        assert_eq!(claims(&stray), claim(0, 0));
    }
}
