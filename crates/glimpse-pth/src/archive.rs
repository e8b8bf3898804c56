//! The zip container `torch.save` writes (PyTorch 1.6 and later): `<top>/data.pkl`, optional
//! `<top>/byteorder`, and one `<top>/data/<key>` entry per storage, where `<top>` is whatever
//! the file was called when it was saved. Reading is the `zip` crate's; stored entries (what
//! `torch.save` writes) are borrowed from the file's bytes, deflated ones are inflated on demand,
//! within [`MAX_INFLATED_ENTRY`] bytes each and [`MAX_INFLATED_TOTAL`] in all.
//!
//! Only the one top folder that holds `data.pkl` is read. An archive where two top folders
//! hold one is refused, naming both: which checkpoint it holds would depend on the order of its
//! entries. (A name listed twice is kept once by the zip crate, the last copy; two names that
//! read alike once invalid UTF-8 is replaced are refused too.)

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::{Cursor, Read};
use std::sync::Arc;

use glimpse_files::{ZipDirectory, zip_directory_claims};
use zip::read::{ArchiveOffset, Config};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::error::PthError;
use crate::pickle::preview_text;

/// The whole file, shared between the archive reader and the borrowed entries.
#[derive(Clone)]
struct Bytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

/// `torch.save` archives start at byte 0, as PyTorch's reader assumes; the zip crate's offset
/// detection (zip 9.8, `ArchiveOffset::Detect`) rejects every archive PyTorch writes (its zip64
/// end record) with "Invalid Central Directory header", so offset 0 is tried first. Detection is
/// the fallback for archives with bytes prepended, which Python's `zipfile` also reads.
fn open_archive(bytes: &Bytes) -> Result<ZipArchive<Cursor<Bytes>>, PthError> {
    let at_start = Config {
        archive_offset: ArchiveOffset::Known(0),
    };
    ZipArchive::with_config(at_start, Cursor::new(bytes.clone()))
        .or_else(|_| ZipArchive::new(Cursor::new(bytes.clone())))
        .map_err(PthError::Zip)
}

/// The most bytes one entry may inflate to: 1 GiB (`torch.save` stores entries uncompressed;
/// a re-compressed ResNet-152 storage is under 250 MB).
pub const MAX_INFLATED_ENTRY: u64 = 1 << 30;

/// The most bytes all entries of one archive may inflate to, however often they are read.
pub const MAX_INFLATED_TOTAL: u64 = 1 << 32;

/// An opened archive: its entries by their path below the top folder.
#[derive(Debug)]
pub(crate) struct ZipStorages {
    bytes: Bytes,
    archive: ZipArchive<Cursor<Bytes>>,
    /// `data.pkl`, `data/0`, … → entry index.
    entries: HashMap<String, usize>,
    /// What is left of [`MAX_INFLATED_TOTAL`].
    inflate_left: Cell<u64>,
}

impl ZipStorages {
    pub(crate) fn open(data: Vec<u8>) -> Result<ZipStorages, PthError> {
        check_directory_size(&data)?;
        let bytes = Bytes(Arc::new(data));
        let archive = open_archive(&bytes)?;
        let names: Vec<String> = archive
            .file_names_raw()
            .map(|raw| String::from_utf8_lossy(raw).into_owned())
            .collect();
        let entries = checkpoint_entries(&names)?;
        Ok(ZipStorages {
            bytes,
            archive,
            entries,
            inflate_left: Cell::new(MAX_INFLATED_TOTAL),
        })
    }

    /// The entry at `<top>/<path>`, or `None` if there is none. At most `limit` bytes are
    /// inflated from a compressed entry: a storage needs no more than its view covers.
    pub(crate) fn entry(&self, path: &str, limit: Option<u64>) -> Result<Option<Cow<'_, [u8]>>, PthError> {
        let Some(&index) = self.entries.get(path) else {
            return Ok(None);
        };
        let entry_error = |error| PthError::ZipEntry {
            name: path.to_string(),
            error,
        };
        // Clones share the parsed directory and the bytes: this is cheap.
        let mut archive = self.archive.clone();
        let raw = archive.by_index_raw(index).map_err(entry_error)?;
        match raw.compression() {
            CompressionMethod::Stored => {
                let range = raw.data_start().zip(Some(raw.compressed_size()));
                let bytes = range.and_then(|(start, size)| self.slice(start, size));
                bytes.map(|b| Some(Cow::Borrowed(b))).ok_or_else(|| {
                    entry_error(ZipError::InvalidArchive(
                        "the entry runs past the end of the file".into(),
                    ))
                })
            }
            CompressionMethod::Deflated => {
                drop(raw);
                let limit = self.inflate_limit(path, limit)?;
                let mut out = Vec::new();
                let entry = archive.by_index(index).map_err(entry_error)?;
                let mut entry = entry.take(limit);
                entry.read_to_end(&mut out).map_err(|e| entry_error(e.into()))?;
                self.inflate_left
                    .set(self.inflate_left.get().saturating_sub(out.len() as u64));
                Ok(Some(Cow::Owned(out)))
            }
            other => Err(PthError::Compressed {
                name: path.to_string(),
                method: format!("{other:?}"),
            }),
        }
    }

    /// How many bytes `path` may inflate to: what the caller needs, within the caps.
    fn inflate_limit(&self, path: &str, wanted: Option<u64>) -> Result<u64, PthError> {
        let wanted = wanted.unwrap_or(MAX_INFLATED_ENTRY);
        if wanted > MAX_INFLATED_ENTRY {
            return Err(PthError::EntryTooLarge {
                name: path.to_string(),
                limit: MAX_INFLATED_ENTRY,
            });
        }
        if wanted > self.inflate_left.get() {
            return Err(PthError::InflateBudget {
                limit: MAX_INFLATED_TOTAL,
            });
        }
        Ok(wanted)
    }

    /// `size` bytes of the file from `start`, if they are all there.
    fn slice(&self, start: u64, size: u64) -> Option<&[u8]> {
        let start = usize::try_from(start).ok()?;
        let stop = start.checked_add(usize::try_from(size).ok()?)?;
        self.bytes.0.get(start..stop)
    }
}

/// The entries of the one top folder that holds `data.pkl`, by their path below it (all of
/// them when none does: the caller then reports the missing `data.pkl`). Two candidate
/// `data.pkl`s, or a name listed twice, make the archive ambiguous.
fn checkpoint_entries(names: &[String]) -> Result<HashMap<String, usize>, PthError> {
    let mut pickles = names
        .iter()
        .filter(|name| name.split_once('/').is_some_and(|(_, inner)| inner == "data.pkl"));
    let top = match (pickles.next(), pickles.next()) {
        (Some(first), Some(second)) => return Err(ambiguous(first, second)),
        (Some(only), None) => only.split_once('/').map(|(top, _)| top),
        _ => None,
    };
    let mut entries = HashMap::new();
    let mut full_names: HashMap<&str, &str> = HashMap::new();
    for (index, name) in names.iter().enumerate() {
        let Some((this_top, inner)) = name.split_once('/') else {
            continue;
        };
        if top.is_some_and(|top| top != this_top) {
            continue;
        }
        if let Some(earlier) = full_names.insert(inner, name) {
            return Err(ambiguous(earlier, name));
        }
        entries.insert(inner.to_string(), index);
    }
    Ok(entries)
}

fn ambiguous(first: &str, second: &str) -> PthError {
    PthError::AmbiguousArchive {
        first: preview_text(first),
        second: preview_text(second),
    }
}

/// The most entries a checkpoint's zip directory may list: `torch.save` writes one per storage
/// and a few more (ResNet-152 with a decoder: about a thousand).
pub const MAX_ZIP_ENTRIES: u64 = 1 << 16;

/// The most bytes that directory may take (64 Ki entries with names of about 1 KB).
pub const MAX_ZIP_DIRECTORY: u64 = 64 << 20;

/// The file ends in an end-of-central-directory record (its absence is the usual sign of a
/// truncated download), and no end record a zip reader could take claims more than
/// [`MAX_ZIP_ENTRIES`] entries or [`MAX_ZIP_DIRECTORY`] bytes (see [`zip_directory_claims`]),
/// checked before the zip reader lists the directory: 14 million empty entries in a 1.5 GB
/// file took it 7 GB.
fn check_directory_size(data: &[u8]) -> Result<(), PthError> {
    // Reading a slice cannot fail.
    let Ok(Some(ZipDirectory { entries, bytes })) = zip_directory_claims(&mut Cursor::new(data)) else {
        return Err(PthError::NoZipEnd);
    };
    if entries > MAX_ZIP_ENTRIES || bytes > MAX_ZIP_DIRECTORY {
        return Err(PthError::ZipDirectoryTooLarge {
            entries,
            bytes,
            max_entries: MAX_ZIP_ENTRIES,
            max_bytes: MAX_ZIP_DIRECTORY,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL_HEADER: u32 = 0x0403_4b50;
    const CENTRAL_HEADER: u32 = 0x0201_4b50;
    const END_OF_DIRECTORY: u32 = 0x0605_4b50;

    /// A stored zip as Python's zipfile writes it: {"arch/data.pkl": b"hello", "arch/data/0": b"xy"}.
    fn sample() -> Vec<u8> {
        stored_zip(&[("arch/data.pkl", b"hello"), ("arch/data/0", b"xy")])
    }

    /// A stored zip of `files`, in order, duplicates included (the zip crate's writer refuses
    /// to write those).
    fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for &(name, body) in files {
            let offset = out.len() as u32;
            let crc = crc32(body);
            out.extend(LOCAL_HEADER.to_le_bytes());
            out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend(crc.to_le_bytes());
            out.extend((body.len() as u32).to_le_bytes());
            out.extend((body.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(body);
            central.extend(CENTRAL_HEADER.to_le_bytes());
            central.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend(crc.to_le_bytes());
            central.extend((body.len() as u32).to_le_bytes());
            central.extend((body.len() as u32).to_le_bytes());
            central.extend((name.len() as u16).to_le_bytes());
            central.extend([0u8; 12]);
            central.extend(offset.to_le_bytes());
            central.extend(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend(&central);
        out.extend(END_OF_DIRECTORY.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend((files.len() as u16).to_le_bytes());
        out.extend((files.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn find(zip: &ZipStorages, path: &str) -> Option<Vec<u8>> {
        zip.entry(path, None).unwrap().map(|b| b.into_owned())
    }

    #[test]
    fn finds_entries_by_suffix() {
        let zip = ZipStorages::open(sample()).unwrap();
        assert_eq!(find(&zip, "data.pkl").as_deref(), Some(&b"hello"[..]));
        assert_eq!(find(&zip, "data/0").as_deref(), Some(&b"xy"[..]));
        assert_eq!(find(&zip, "0"), None);
    }

    #[test]
    fn tolerates_prepended_bytes() {
        let mut data = b"#!/bin/sh\n".to_vec();
        data.extend(sample());
        let zip = ZipStorages::open(data).unwrap();
        assert_eq!(find(&zip, "data.pkl").as_deref(), Some(&b"hello"[..]));
        assert_eq!(find(&zip, "data/0").as_deref(), Some(&b"xy"[..]));
    }

    #[test]
    fn a_name_listed_twice_is_read_one_way() {
        // The zip crate keeps one entry per name (the last): reading does not depend on luck.
        let data = stored_zip(&[
            ("arch/data.pkl", b"hello"),
            ("arch/data/0", b"xy"),
            ("arch/data/0", b"zw"),
        ]);
        let zip = ZipStorages::open(data).unwrap();
        assert_eq!(find(&zip, "data/0").as_deref(), Some(&b"zw"[..]));
    }

    /// A directory claimed larger than a checkpoint's is refused before the zip reader lists
    /// it: through the plain end record's size, and through a zip64 record's entry count.
    #[test]
    fn oversized_directories_are_refused_from_the_end_record() {
        let mut data = sample();
        let end = data.len() - 22;
        data[end + 12..end + 16].copy_from_slice(&(65u32 << 20).to_le_bytes());
        let err = ZipStorages::open(data).unwrap_err().to_string();
        assert!(err.contains(&format!("in {} bytes", 65u64 << 20)), "{err}");

        let mut data = sample();
        let plain_end = data.split_off(data.len() - 22);
        let zip64_at = data.len() as u64;
        data.extend(b"PK\x06\x06");
        data.extend(44u64.to_le_bytes());
        data.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        data.extend(14_000_000u64.to_le_bytes()); // entries on this disk
        data.extend(14_000_000u64.to_le_bytes()); // entries in all
        data.extend(u64::from(u32::from_le_bytes(plain_end[12..16].try_into().unwrap())).to_le_bytes());
        data.extend(u64::from(u32::from_le_bytes(plain_end[16..20].try_into().unwrap())).to_le_bytes());
        data.extend(b"PK\x06\x07");
        data.extend(0u32.to_le_bytes());
        data.extend(zip64_at.to_le_bytes());
        data.extend(1u32.to_le_bytes());
        data.extend(&plain_end[..8]);
        data.extend([0xFF; 12]);
        data.extend(0u16.to_le_bytes());
        let err = ZipStorages::open(data).unwrap_err().to_string();
        assert!(
            err.starts_with("the zip directory lists 14000000 entries"),
            "{err}"
        );
    }

    #[test]
    fn truncation_is_reported() {
        let data = sample();
        let err = ZipStorages::open(data[..data.len() - 30].to_vec()).unwrap_err();
        assert!(err.to_string().contains("no zip end"), "{err}");
        assert!(ZipStorages::open(b"PK".to_vec()).is_err());
    }
}
