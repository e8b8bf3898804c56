//! The zip container `torch.save` writes (PyTorch 1.6 and later): stored (uncompressed)
//! entries, ZIP64 end records, data descriptors. Only what those files use is read; the central
//! directory is located the way Python's `zipfile` does, tolerating data prepended to the archive.

use std::collections::HashMap;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;

/// Entry name → byte range of its data within the file.
#[derive(Debug)]
pub struct ZipIndex {
    entries: HashMap<String, (usize, usize)>,
}

fn u16_at(data: &[u8], at: usize) -> Result<u16, String> {
    data.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| "zip structure runs past the end of the file".to_string())
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, String> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| "zip structure runs past the end of the file".to_string())
}

fn u64_at(data: &[u8], at: usize) -> Result<u64, String> {
    data.get(at..at + 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| "zip structure runs past the end of the file".to_string())
}

impl ZipIndex {
    pub fn read(data: &[u8]) -> Result<ZipIndex, String> {
        // The end record sits in the last 64 KiB + 22 bytes (its comment is at most 64 KiB).
        let search_from = data.len().saturating_sub(22 + 65_535);
        let end = (search_from..=data.len().saturating_sub(22))
            .rev()
            .find(|&at| u32_at(data, at) == Ok(END_OF_DIRECTORY))
            .ok_or("no zip end-of-central-directory record: the file is truncated or not a zip")?;
        let mut count = u16_at(data, end + 10)? as u64;
        let mut size = u32_at(data, end + 12)? as u64;
        let mut offset = u32_at(data, end + 16)? as u64;
        // Where the directory should end if nothing was prepended.
        let mut directory_end = end as u64;
        if end >= 20 && u32_at(data, end - 20)? == ZIP64_LOCATOR {
            let record = end - 20 - 56;
            if u32_at(data, record)? != ZIP64_END {
                return Err("ZIP64 locator without its end record".into());
            }
            count = u64_at(data, record + 32)?;
            size = u64_at(data, record + 40)?;
            offset = u64_at(data, record + 48)?;
            directory_end = record as u64;
        }
        // Bytes before the archive proper shift every offset it records.
        let shift = directory_end
            .checked_sub(size + offset)
            .ok_or("the zip central directory claims to extend past its end record")?
            as usize;
        let mut entries = HashMap::new();
        let mut at = (offset as usize) + shift;
        for _ in 0..count {
            if u32_at(data, at)? != CENTRAL_HEADER {
                return Err(format!("no zip central directory entry at byte {at}"));
            }
            let method = u16_at(data, at + 10)?;
            let mut compressed = u32_at(data, at + 20)? as u64;
            let mut local = u32_at(data, at + 42)? as u64;
            let name_len = u16_at(data, at + 28)? as usize;
            let extra_len = u16_at(data, at + 30)? as usize;
            let comment_len = u16_at(data, at + 32)? as usize;
            let name_bytes = data
                .get(at + 46..at + 46 + name_len)
                .ok_or("zip entry name runs past the end")?;
            let name = String::from_utf8_lossy(name_bytes).into_owned();
            // ZIP64 extra field: the 64-bit values, in order, of the fields set to 0xFFFFFFFF.
            let mut extra = at + 46 + name_len;
            let extra_end = extra + extra_len;
            while extra + 4 <= extra_end {
                let (id, len) = (u16_at(data, extra)?, u16_at(data, extra + 2)? as usize);
                if id == 0x0001 {
                    let mut field = extra + 4;
                    if u32_at(data, at + 24)? == u32::MAX {
                        field += 8; // uncompressed size
                    }
                    if compressed == u32::MAX as u64 {
                        compressed = u64_at(data, field)?;
                        field += 8;
                    }
                    if local == u32::MAX as u64 {
                        local = u64_at(data, field)?;
                    }
                }
                extra += 4 + len;
            }
            if method != 0 {
                return Err(format!(
                    "zip entry `{name}` is compressed (method {method}); torch.save stores entries uncompressed, so re-save the checkpoint with torch.save"
                ));
            }
            let local = local as usize + shift;
            if u32_at(data, local)? != LOCAL_HEADER {
                return Err(format!("zip entry `{name}` has no local header at byte {local}"));
            }
            let start = local + 30 + u16_at(data, local + 26)? as usize + u16_at(data, local + 28)? as usize;
            let stop = start
                .checked_add(compressed as usize)
                .filter(|&stop| stop <= data.len())
                .ok_or_else(|| format!("zip entry `{name}` runs past the end of the file: truncated"))?;
            entries.insert(name, (start, stop));
            at += 46 + name_len + extra_len + comment_len;
        }
        Ok(ZipIndex { entries })
    }

    /// The data of the entry whose name ends with `/{suffix}` (PyTorch puts everything under
    /// one top folder named after the file when it was saved).
    pub fn find<'a>(&self, data: &'a [u8], suffix: &str) -> Option<&'a [u8]> {
        let wanted = format!("/{suffix}");
        self.entries
            .iter()
            .find(|(name, _)| {
                name.ends_with(&wanted) && name.matches('/').count() == suffix.matches('/').count() + 1
            })
            .map(|(_, &(start, stop))| &data[start..stop])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored zip as Python's zipfile writes it: {"arch/data.pkl": b"hello", "arch/data/0": b"xy"}.
    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        let files: [(&str, &[u8]); 2] = [("arch/data.pkl", b"hello"), ("arch/data/0", b"xy")];
        for (name, body) in files {
            let offset = out.len() as u32;
            out.extend(LOCAL_HEADER.to_le_bytes());
            out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend([0u8; 4]); // crc (unchecked)
            out.extend((body.len() as u32).to_le_bytes());
            out.extend((body.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(body);
            central.extend(CENTRAL_HEADER.to_le_bytes());
            central.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend([0u8; 4]);
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
        out.extend(2u16.to_le_bytes());
        out.extend(2u16.to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    #[test]
    fn finds_entries_by_suffix() {
        let data = sample();
        let index = ZipIndex::read(&data).unwrap();
        assert_eq!(index.find(&data, "data.pkl"), Some(&b"hello"[..]));
        assert_eq!(index.find(&data, "data/0"), Some(&b"xy"[..]));
        assert_eq!(index.find(&data, "0"), None);
    }

    #[test]
    fn tolerates_prepended_bytes() {
        let mut data = b"#!/bin/sh\n".to_vec();
        data.extend(sample());
        let index = ZipIndex::read(&data).unwrap();
        assert_eq!(index.find(&data, "data.pkl"), Some(&b"hello"[..]));
    }

    #[test]
    fn truncation_is_reported() {
        let data = sample();
        assert!(
            ZipIndex::read(&data[..data.len() - 30])
                .unwrap_err()
                .contains("no zip end")
        );
        assert!(ZipIndex::read(b"PK").is_err());
    }
}
