//! Unpacking the downloaded zip archives, safely: entries that would land outside the folder
//! are refused (zip-slip), and so are ambiguous names ([`names`]) and a zip bomb (a few MB that
//! expand to GBs), from the sizes the entries declare and the bytes they share before anything
//! is written and again from what they really expand to; and a file already in the folder is
//! never replaced unless it is the archive's own copy.

mod names;

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use glimpse_files::shown;
use indicatif::{ProgressBar, ProgressStyle};

pub use names::MAX_DEPTH;
use names::{EntryNames, enclosed_name, entry_label, is_folder, is_macos_metadata, marker_name};

/// What unpacking one archive may write. A zip bomb (a few MB that expand to GBs) is refused
/// from the sizes its entries declare, before anything is written, and again while writing in
/// case a header lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnzipLimits {
    /// The most bytes one entry may expand to.
    pub max_entry: u64,
    /// The most bytes all entries together may expand to.
    pub max_total: u64,
    /// An entry of more than [`UnzipLimits::ratio_from`] bytes may be at most this many times
    /// its compressed size (photos barely compress; text about 5×; zeros 1000×).
    pub max_ratio: u64,
    pub ratio_from: u64,
    /// The most entries the archive's directory may list (each takes memory when listed, and
    /// a file when unpacked), in at most [`DIRECTORY_BYTES_PER_ENTRY`] bytes each.
    pub max_entries: u64,
}

/// A directory entry's bytes: 46 and its name, extra field and comment (names of about 1 KB).
pub const DIRECTORY_BYTES_PER_ENTRY: u64 = 1 << 10;

impl Default for UnzipLimits {
    /// Flickr8k's archives (about 1.1 GB of JPEGs in about 8,100 entries, and 3 MB of text in
    /// about 10) with room to spare.
    fn default() -> Self {
        UnzipLimits {
            max_entry: glimpse_files::caps::IMAGE,
            max_total: 8 << 30,
            max_ratio: 100,
            ratio_from: 1 << 20,
            max_entries: 1 << 16,
        }
    }
}

/// Unpacks a zip into `dir` (once: a marker remembers it), skipping macOS metadata, refusing
/// entries that would land outside `dir` and archives over the [`UnzipLimits::default`] caps.
pub fn unzip(archive: &Path, dir: &Path) -> Result<()> {
    unzip_with_limits(archive, dir, &UnzipLimits::default())
}

/// [`unzip`] under the given limits.
pub fn unzip_with_limits(archive: &Path, dir: &Path, limits: &UnzipLimits) -> Result<()> {
    unpack(archive, dir, limits, &[])
}

/// [`unzip`], refusing an entry at (or inside) any of `reserved`, the paths in `dir` that the
/// caller writes itself (its downloads and their partial files).
pub fn unzip_reserving(archive: &Path, dir: &Path, reserved: &[&str]) -> Result<()> {
    unpack(archive, dir, &UnzipLimits::default(), reserved)
}

fn unpack(archive: &Path, dir: &Path, limits: &UnzipLimits, reserved: &[&str]) -> Result<()> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let marker = dir.join(marker_name(&name));
    // Only our own empty file counts: a link or a FIFO there (which hung the write below) does not.
    if fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    let (mut file, _) = glimpse_files::open_regular(archive, "archive")?;
    check_directory_size(&mut file, archive, limits)?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| anyhow!("{}: not a readable zip archive: {e}", shown(archive)))?;
    check_declared_sizes(&mut zip, archive, limits)?;
    let unpacked = check_no_overwrites(&mut zip, archive, dir, reserved)?;
    let progress = ProgressBar::new(zip.len() as u64).with_style(
        ProgressStyle::with_template("unpacking {prefix} {bar:30} {pos}/{len}").expect("a valid template"),
    );
    progress.set_prefix(name.clone());
    // The folder named by the user is theirs to link; the archive's own folders inside it are not.
    fs::create_dir_all(dir).with_context(|| format!("{}", shown(dir)))?;
    let mut written = 0u64;
    for index in 0..zip.len() {
        progress.inc(1);
        if unpacked.contains(&index) {
            continue;
        }
        let entry = zip
            .by_index(index)
            .map_err(|e| anyhow!("{}: entry {index}: {e}", shown(archive)))?;
        unpack_entry(entry, archive, dir, limits, &mut written)?;
    }
    progress.finish_and_clear();
    // Created afresh: whatever was at its name (a FIFO that failed the check above) is replaced.
    glimpse_files::create_fresh(&marker).with_context(|| format!("{}", shown(&marker)))?;
    Ok(())
}

/// Refuses an archive whose end records claim more entries, or directory bytes, than the
/// limits allow ([`glimpse_files::zip_directory_claims`]), before the zip reader lists them: a
/// mirror's 110 MB archive of a million empty entries took 223 MB to list, and its 4 GiB one
/// could list 39 million.
fn check_directory_size(file: &mut fs::File, archive: &Path, limits: &UnzipLimits) -> Result<()> {
    let claims = glimpse_files::zip_directory_claims(file)
        .with_context(|| format!("{}: cannot read", shown(archive)))?;
    // None: no end record, which the zip reader reports as it is.
    let glimpse_files::ZipDirectory { entries, bytes } = claims.unwrap_or_default();
    let max_bytes = limits.max_entries.saturating_mul(DIRECTORY_BYTES_PER_ENTRY);
    if entries > limits.max_entries || bytes > max_bytes {
        bail!(
            "{}: the zip directory lists {entries} entries in {bytes} bytes, over the limit of {} entries in {max_bytes} bytes; refusing to unpack",
            shown(archive),
            limits.max_entries
        );
    }
    Ok(())
}

/// Refuses an archive whose entries declare more than the limits allow, before writing.
fn check_declared_sizes<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    archive: &Path,
    limits: &UnzipLimits,
) -> Result<()> {
    let mut total = 0u64;
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|e| anyhow!("{}: entry {index}: {e}", shown(archive)))?;
        let (size, packed) = (entry.size(), entry.compressed_size());
        let label = || entry_label(entry.name_raw());
        if size > limits.max_entry {
            bail!(
                "{}: entry `{}` would expand to {size} bytes, over the {}-byte limit for one file; refusing to unpack",
                shown(archive),
                label(),
                limits.max_entry
            );
        }
        if size > limits.ratio_from && size / packed.max(1) > limits.max_ratio {
            bail!(
                "{}: entry `{}` would expand {}× ({packed} bytes to {size}), over the {}× limit: a zip bomb? refusing to unpack",
                shown(archive),
                label(),
                size / packed.max(1),
                limits.max_ratio
            );
        }
        total = total.saturating_add(size);
        if total > limits.max_total {
            bail!(
                "{}: the entries would expand to more than {} bytes in all; refusing to unpack",
                shown(archive),
                limits.max_total
            );
        }
    }
    // Entries sharing their compressed bytes each pass the ratio: 12 entries of 100 MB, each
    // 53 times its share, came from 1.97 MB.
    if zip
        .has_overlapping_files()
        .map_err(|e| anyhow!("{}: {e}", shown(archive)))?
    {
        bail!(
            "{}: entries share their compressed bytes (a zip bomb?); refusing to unpack",
            shown(archive)
        );
    }
    Ok(())
}

/// Refuses, before anything is written, an archive with a file whose name is taken in `dir` by a
/// file that is not the archive's own copy of it (same size and CRC-32), and returns the entries
/// already there (an earlier unpack, cut short, wrote them). `glimpse data` unpacks into a folder
/// the user names, and the archives without a published checksum are trusted on first download:
/// a mirror's archive holding `notes.txt` and `.bashrc` replaced the user's own. So is one whose
/// folder is taken by a file or a link, and entries named as [`names`] refuses. The archive's
/// own faults are looked for first: a hostile archive beside a file of the user's in its way
/// was taken for a sound one, and kept.
fn check_no_overwrites<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    archive: &Path,
    dir: &Path,
    reserved: &[&str],
) -> Result<HashSet<usize>> {
    let entries = check_names(zip, archive, reserved)?;
    let mut unpacked = HashSet::new();
    let mut folders = FolderSet::default(); // the folders of entries already checked
    for entry in entries {
        let folder = if entry.is_folder {
            Some(entry.name.as_path())
        } else {
            entry.name.parent()
        };
        check_folders_free(dir, folder.unwrap_or(Path::new("")), &mut folders, archive)?;
        if !entry.is_folder && holds_users_file(dir, &entry, archive)? {
            unpacked.insert(entry.index);
        }
    }
    Ok(unpacked)
}

/// What the second look at an entry needs: where it goes, and the copy it would write.
struct Listed {
    index: usize,
    name: PathBuf,
    label: String,
    is_folder: bool,
    size: u64,
    crc: u32,
}

/// Every entry [`names`] accepts, but macOS's metadata (never written).
fn check_names<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    archive: &Path,
    reserved: &[&str],
) -> Result<Vec<Listed>> {
    if zip.has_duplicate_names() {
        // (The zip reader keeps one of them.)
        bail!(
            "{}: its directory lists one name twice; refusing an ambiguous archive",
            shown(archive)
        );
    }
    let mut names = EntryNames::new(archive, reserved);
    let mut listed = Vec::new();
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|e| anyhow!("{}: entry {index}: {e}", shown(archive)))?;
        let name = enclosed_name(&entry, archive)?;
        if is_macos_metadata(&name) {
            continue;
        }
        names.check(&entry, &name)?;
        listed.push(Listed {
            index,
            name,
            label: entry_label(entry.name_raw()),
            is_folder: is_folder(&entry),
            size: entry.size(),
            crc: entry.crc32(),
        });
    }
    names.finish()?;
    Ok(listed)
}

/// Whether `dir` already holds the archive's own copy of the file `entry` (an unpack cut short
/// wrote it); refuses a file of the user's, or a FIFO or a device, at its name (a FIFO was
/// renamed over), as [`InTheWay`].
fn holds_users_file(dir: &Path, entry: &Listed, archive: &Path) -> Result<bool> {
    let target = dir.join(&entry.name);
    let in_the_way_as = |what: String| {
        in_the_way(format!(
            "{}: its file `{}` would replace {what}",
            shown(archive),
            entry.label
        ))
    };
    glimpse_files::check_replaceable(&target).map_err(|e| in_the_way_as(e.to_string()))?;
    if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
        return Ok(false); // nothing of the user's there (a link or a FIFO is replaced, never followed)
    }
    // (A file of the user's that cannot be read is theirs to look at, not the archive's fault.)
    match holds_copy(&target, entry.size, entry.crc) {
        Ok(true) => Ok(true),
        Ok(false) => Err(in_the_way_as(format!(
            "{}, which is not the archive's copy; glimpse data does not overwrite files: move it away or unpack into another folder",
            shown(&target)
        ))),
        Err(e) => Err(in_the_way_as(format!(
            "{}, which cannot be read: {e:#}",
            shown(&target)
        ))),
    }
}

/// Refuses, before anything is written, a file or a link in `dir` at `folder` or a folder above
/// it, where the archive writes a folder (unpacking stopped there, halfway). Each is looked at
/// once.
fn check_folders_free(dir: &Path, folder: &Path, checked: &mut FolderSet, archive: &Path) -> Result<()> {
    for folder in folder.ancestors().filter(|f| !f.as_os_str().is_empty()) {
        if !checked.insert(folder) {
            return Ok(()); // and so were the folders above it
        }
        let path = dir.join(folder);
        if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            return Err(in_the_way(format!(
                "{}: {} is a link or a file where a folder of the archive goes; glimpse data does not overwrite files: move it away or unpack into another folder",
                shown(archive),
                shown(&path)
            )));
        }
    }
    Ok(())
}

/// Folders already looked at, by a keyed hash of their path: the paths themselves (65,536
/// entries of 1 KiB names, 32 folders each) could take a GiB. Two folders sharing a hash (a
/// chance of 2^-64 a pair, the key random) leave the second to be refused while unpacking.
#[derive(Default)]
struct FolderSet {
    hashes: HashSet<u64>,
    keys: std::collections::hash_map::RandomState,
}

impl FolderSet {
    /// Adds `folder`; false if it was there.
    fn insert(&mut self, folder: &Path) -> bool {
        self.hashes
            .insert(std::hash::BuildHasher::hash_one(&self.keys, folder))
    }
}

/// Whether the regular file `path` has `size` bytes whose CRC-32 is `crc`.
fn holds_copy(path: &Path, size: u64, crc: u32) -> Result<bool> {
    let (mut file, length) = glimpse_files::open_regular(path, "file")?;
    if length != size {
        return Ok(false);
    }
    let mut hasher = crc32fast::Hasher::new();
    read_through(&mut file, path, |chunk| hasher.update(chunk))?;
    Ok(hasher.finalize() == crc)
}

/// Hands every byte `file` (at `path`, for messages) holds from where it stands to `take`, a
/// chunk at a time.
pub(crate) fn read_through(file: &mut impl Read, path: &Path, mut take: impl FnMut(&[u8])) -> Result<()> {
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("{}: cannot read", shown(path)))?;
        if read == 0 {
            return Ok(());
        }
        take(&buffer[..read]);
    }
}

/// Writes one entry under `dir` (macOS metadata skipped), counting what it really expands to
/// against the limits: a header that understates its size is caught while writing, and the
/// partial file removed.
fn unpack_entry<R: Read>(
    mut entry: zip::read::ZipFile<'_, R>,
    archive: &Path,
    dir: &Path,
    limits: &UnzipLimits,
    written: &mut u64,
) -> Result<()> {
    let relative = enclosed_name(&entry, archive)?;
    if is_macos_metadata(&relative) {
        return Ok(());
    }
    let target = dir.join(&relative);
    if is_folder(&entry) {
        return create_folders(dir, &relative, &shown(archive).to_string(), "the archive");
    }
    if let Some(parent) = relative.parent() {
        create_folders(dir, parent, &shown(archive).to_string(), "the archive")?;
    }
    let room = limits.max_entry.min(limits.max_total.saturating_sub(*written));
    let copied = write_capped(&mut entry, &target, room)
        .with_context(|| format!("{}: entry `{}`", shown(archive), entry_label(entry.name_raw())))?;
    if copied > room {
        bail!(
            "{}: entry `{}` expands past its declared {} bytes and the unpacking limits ({} bytes per file, {} in all); refusing to unpack",
            shown(archive),
            entry_label(entry.name_raw()),
            entry.size(),
            limits.max_entry,
            limits.max_total
        );
    }
    *written += copied;
    Ok(())
}

/// Creates each folder of `relative` under `dir` that is missing, refusing a link or a file on
/// the way (`label: … where a folder of {whose} goes`): a link planted at `Flicker8k_Dataset/`
/// had the archive unpacked wherever it pointed, and one at `weights/` the download written
/// there.
pub(crate) fn create_folders(dir: &Path, relative: &Path, label: &str, whose: &str) -> Result<()> {
    let mut folder = dir.to_path_buf();
    for part in relative.components() {
        folder.push(part);
        match fs::symlink_metadata(&folder) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "{label}: {} is a link or a file where a folder of {whose} goes; refusing to write through it",
                shown(&folder)
            ),
            Err(_) => fs::create_dir(&folder).with_context(|| format!("{}", shown(&folder)))?,
        }
    }
    Ok(())
}

/// Copies at most `room + 1` bytes of `entry` to `target` and returns how many were copied
/// (more than `room` means the entry is over its limit). The bytes go to a temporary file that
/// is renamed to `target` once whole, so an unpack cut short leaves no partial file under an
/// entry's name (which the next run would take for the user's). Whatever was at `target` is
/// replaced, never written through (a link planted at `Flickr8k.token.txt` had another file
/// overwritten).
fn write_capped(entry: &mut impl Read, target: &Path, room: u64) -> Result<u64> {
    // Removed when dropped unplaced: an entry over its limit, or a failed copy.
    let result = glimpse_files::Staged::beside(target).and_then(|mut staged| {
        match std::io::copy(&mut entry.take(room.saturating_add(1)), staged.file()) {
            Ok(copied) if copied <= room => staged.place(target).map(|()| copied),
            other => other,
        }
    });
    result.map_err(|error| {
        if is_write_failure(error.kind()) {
            anyhow::Error::new(UnpackWriteError {
                path: shown(target).to_string(),
                error,
            })
        } else {
            anyhow!("{}: {error}", shown(target))
        }
    })
}

/// Unpacking failed writing, not reading: the archive is sound, and the folder it unpacks into
/// is full or cannot be written (a full disk was blamed on the archive, and a good download
/// was to be deleted).
#[derive(Debug)]
pub struct UnpackWriteError {
    path: String,
    error: std::io::Error,
}

impl std::fmt::Display for UnpackWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.error)
    }
}

impl std::error::Error for UnpackWriteError {}

/// The folder, not the archive, stops the unpack: a file of the user's (or a link, a FIFO) where
/// the archive writes. A new download would stop the same way, so the archive is kept.
#[derive(Debug)]
pub struct InTheWay(String);

impl std::fmt::Display for InTheWay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InTheWay {}

fn in_the_way(message: String) -> anyhow::Error {
    anyhow::Error::new(InTheWay(message))
}

/// Errors only writing gives: reading a damaged archive fails otherwise (invalid data, an
/// early end).
fn is_write_failure(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        StorageFull | QuotaExceeded | ReadOnlyFilesystem | FileTooLarge | PermissionDenied
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn unzip_bytes(archive: &[u8], limits: &UnzipLimits) -> (tempfile::TempDir, Result<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.zip");
        fs::write(&path, archive).unwrap();
        let result = unzip_with_limits(&path, &dir.path().join("out"), limits);
        (dir, result)
    }

    /// 20 MB of zeros compress to about 20 KB: refused by the default limits from the declared
    /// sizes, before anything is written.
    #[test]
    fn a_zip_bomb_is_refused_before_writing() {
        let archive = zip_of(&[("zeros.txt", &vec![0u8; 20 << 20])]);
        assert!(archive.len() < 100 << 10);
        let (dir, result) = unzip_bytes(&archive, &UnzipLimits::default());
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("bomb.zip: entry `zeros.txt` would expand")
                && err.contains("over the 100× limit: a zip bomb?"),
            "{err}"
        );
        assert!(!dir.path().join("out/zeros.txt").exists());
        // A name of 60,000 control characters was quoted whole, escaped: 360 KB of message.
        let name = format!("{}.txt", "\u{1}".repeat(60_000));
        for name in [name.clone(), format!("../{name}")] {
            let archive = zip_of(&[(&name, &vec![0u8; 20 << 20])]);
            let (_dir, result) = unzip_bytes(&archive, &UnzipLimits::default());
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains("bytes in all)") && err.len() < 1000,
                "{} bytes",
                err.len()
            );
        }
    }

    #[test]
    fn entries_and_totals_over_the_caps_are_refused() {
        let limits = UnzipLimits {
            max_entry: 1000,
            max_total: 1500,
            ..UnzipLimits::default()
        };
        let (_dir, result) = unzip_bytes(&zip_of(&[("big.bin", &[7u8; 1001])]), &limits);
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("entry `big.bin` would expand to 1001 bytes, over the 1000-byte limit for one file"),
            "{err}"
        );
        let (_dir, result) = unzip_bytes(&zip_of(&[("a", &[1u8; 800]), ("b", &[2u8; 800])]), &limits);
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("would expand to more than 1500 bytes in all"),
            "{err}"
        );
        let (dir, result) = unzip_bytes(&zip_of(&[("a", &[1u8; 700]), ("b", &[2u8; 700])]), &limits);
        result.unwrap();
        assert_eq!(fs::read(dir.path().join("out/b")).unwrap(), [2u8; 700]);
    }

    /// An archive listing more entries than the limit is refused from its end record, before
    /// its directory is listed and before anything is written.
    #[test]
    fn too_many_entries_are_refused_before_listing() {
        let names: Vec<String> = (0..5).map(|i| format!("e/{i}")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let limits = UnzipLimits {
            max_entries: 4,
            ..UnzipLimits::default()
        };
        let (dir, result) = unzip_bytes(&zip_of(&entries), &limits);
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("bomb.zip: the zip directory lists 5 entries in ")
                && err.contains("over the limit of 4 entries in 4096 bytes; refusing to unpack"),
            "{err}"
        );
        assert!(!dir.path().join("out").exists());
        let (dir, result) = unzip_bytes(&zip_of(&entries[..4]), &limits);
        result.unwrap();
        assert!(dir.path().join("out/e/3").is_file());
    }

    /// An entry whose headers claim 10 bytes but that inflates to 100 KB is stopped while
    /// writing, and its partial file removed.
    #[test]
    fn a_lying_header_is_caught_while_writing() {
        let mut archive = zip_of(&[("liar.bin", &vec![0u8; 100_000])]);
        patch_sizes(&mut archive, b"PK\x03\x04", 22, 10);
        patch_sizes(&mut archive, b"PK\x01\x02", 24, 10);
        let limits = UnzipLimits {
            max_entry: 1000,
            ..UnzipLimits::default()
        };
        let (dir, result) = unzip_bytes(&archive, &limits);
        let err = format!("{:#}", result.unwrap_err());
        assert!(
            err.contains("entry `liar.bin`")
                && (err.contains("expands past its declared 10 bytes") || err.contains("liar.bin")),
            "{err}"
        );
        assert!(!dir.path().join("out/liar.bin").exists());
    }

    /// Overwrites the 4-byte uncompressed size at `offset` of the header starting with `magic`.
    fn patch_sizes(archive: &mut [u8], magic: &[u8], offset: usize, size: u32) {
        let at = archive.windows(4).position(|w| w == magic).unwrap() + offset;
        archive[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }

    /// `archive` as `data.zip` unpacked into `out`, a folder holding the user's `.bashrc` ("#
    /// mine"): the folder, both paths and the result.
    fn unzip_beside_users_file(archive: &[u8]) -> (tempfile::TempDir, PathBuf, PathBuf, Result<()>) {
        let dir = tempfile::tempdir().unwrap();
        let (path, out) = (dir.path().join("data.zip"), dir.path().join("out"));
        fs::write(&path, archive).unwrap();
        fs::create_dir(&out).unwrap();
        fs::write(out.join(".bashrc"), "# mine").unwrap();
        let result = unzip(&path, &out);
        (dir, path, out, result)
    }

    /// A file of the user's under an entry's name stops the unpack before anything is written;
    /// the archive's own copy, left by an unpack cut short, is kept and the rest unpacked.
    #[test]
    fn files_already_in_the_folder_are_never_replaced() {
        let archive = zip_of(&[("captions.txt", b"a dog"), (".bashrc", b"echo pwned")]);
        let (_dir, path, out, result) = unzip_beside_users_file(&archive);
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("data.zip: its file `.bashrc` would replace")
                && err.contains("glimpse data does not overwrite files"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(out.join(".bashrc")).unwrap(), "# mine");
        assert!(
            !out.join("captions.txt").exists(),
            "nothing written before the refusal"
        );

        fs::write(out.join(".bashrc"), "echo pwned").unwrap(); // the archive's own copy
        unzip(&path, &out).unwrap();
        assert_eq!(fs::read(out.join("captions.txt")).unwrap(), b"a dog");
        let left: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 3, "no temporary file left: {left:?}"); // and the marker
    }

    /// A link entry was written as a file (its target's bytes) over whatever held its name,
    /// unchecked; two entries for one path had the later one silently win.
    #[test]
    fn links_and_entries_sharing_a_path_are_refused_before_writing() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("captions.txt", options).unwrap();
        writer.write_all(b"a dog").unwrap();
        writer.add_symlink(".bashrc", "echo pwned", options).unwrap();
        let linked = writer.finish().unwrap().into_inner();
        // The archive's own fault is said first, not the user's file in its way (which keeps
        // a download and its checksum).
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        writer.start_file(".bashrc", options).unwrap();
        writer.write_all(b"theirs").unwrap();
        writer.add_symlink("z", "/etc/passwd", options).unwrap();
        let linked_after_users_file = writer.finish().unwrap().into_inner();
        // The same name twice, and a NUL in a name: the writer refuses both, so they are patched in.
        let twice = renamed(
            zip_of(&[("notes/a.txt", b"A"), ("notes/b.txt", b"B")]),
            "notes/b.txt",
            "notes/a.txt",
        );
        let nul = renamed(zip_of(&[("a.txt", b"A"), ("b_txt", b"B")]), "b_txt", "b\0txt");
        for (archive, expected) in [
            (
                linked,
                "entry `.bashrc` is a symbolic link; glimpse data unpacks files and folders only",
            ),
            (
                linked_after_users_file,
                "entry `z` is a symbolic link; glimpse data unpacks files and folders only",
            ),
            (
                zip_of(&[("a.txt", b"A"), ("./a.txt", b"B")]),
                "entries `a.txt` and `./a.txt` name one path; refusing an ambiguous archive",
            ),
            (
                zip_of(&[("Images/", b""), ("Images/../Images", b"B")]),
                "entries `Images/` and `Images/../Images` name one path",
            ),
            (
                twice,
                "its directory lists one name twice; refusing an ambiguous archive",
            ),
            (
                zip_of(&[("notes.txt", b"A"), ("Images/", b""), ("NOTES.txt", b"B")]),
                "entries `notes.txt` and `NOTES.txt` name one path where case and Unicode normalisation do not count (macOS, Windows); refusing an ambiguous archive",
            ),
            (
                zip_of(&[("Images/", b""), ("images", b"B")]),
                "entries `Images/` and `images` name one path where case",
            ),
            (
                zip_of(&[("caf\u{e9}.txt", b"A"), ("cafe\u{301}.txt", b"B")]),
                "entries `caf\u{e9}.txt` and `cafe\u{301}.txt` name one path where case and Unicode normalisation",
            ),
            (
                zip_of(&[("a.txt", b"A"), ("../escape.txt", b"x")]),
                "entry `../escape.txt` points outside the folder; refusing to unpack",
            ),
            (nul, "holds a NUL byte; refusing to unpack"),
            (
                zip_of(&[("a.txt", b"A"), ("./", b""), ("sub/..", b"X")]),
                "entry `sub/..` is a file named as the folder itself; refusing to unpack",
            ),
            (
                zip_of(&[("a.txt", b"A"), (".Flickr8k_text.zip.unpacked", b"")]),
                "entry `.Flickr8k_text.zip.unpacked` is named as glimpse data's marker of an unpacked archive",
            ),
            (
                // A folder there stopped every later run at writing the marker.
                zip_of(&[("a.txt", b"A"), (".Flickr8k_Dataset.zip.unpacked/", b"")]),
                "entry `.Flickr8k_Dataset.zip.unpacked/` is named as glimpse data's marker",
            ),
            (
                zip_of(&[("a.txt", b"A"), (".Flickr8k_Dataset.zip.unpacked/x", b"")]),
                "entry `.Flickr8k_Dataset.zip.unpacked/x` is named as glimpse data's marker",
            ),
            (
                zip_of(&[("a.txt", b"A"), (&format!("{}b.txt", "d/".repeat(33)), b"B")]),
                "lies 33 folders deep, over the limit of 32; refusing to unpack",
            ),
            (
                // The bytes of one entry listed again under another name.
                shared_bytes(),
                "entries share their compressed bytes (a zip bomb?); refusing to unpack",
            ),
            (
                zip_of(&[("a", b"A"), ("a b", b"C"), ("a/b.txt", b"B")]),
                "entry `a/b.txt` lies inside `a`, which is a file; refusing an ambiguous archive",
            ),
            (
                zip_of(&[("notes/a/b/c.txt", b"C"), ("notes/a", b"A"), ("notes/a-b", b"D")]),
                "entry `notes/a/b/c.txt` lies inside `notes/a`, which is a file",
            ),
        ] {
            let (_dir, path, out, result) = unzip_beside_users_file(&archive);
            let err = result.unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{}: ", path.display())) && err.contains(expected),
                "{err}"
            );
            assert_eq!(fs::read_to_string(out.join(".bashrc")).unwrap(), "# mine");
            assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "nothing written");
        }
        // A file 32,000 folders deep, named in full only once (an excerpt).
        let deep = format!("{}y", "x/".repeat(32_000));
        let (_dir, path, out, result) =
            unzip_beside_users_file(&zip_of(&[("x", b"X"), (deep.as_str(), b"Y")]));
        let err = result.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: entry `x/x/x/", path.display()))
                && err.ends_with("lies 32000 folders deep, over the limit of 32; refusing to unpack")
                && err.len() < 1_000,
            "{err}"
        );
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "nothing written");
        // Folders listed twice, in any case, are one folder; a folder written without its slash
        // (its Unix mode says folder) holds its files; macOS's metadata is never written, so its
        // names are not compared; a marker's name below the top is no marker.
        let deep32 = format!("{}b.txt", "d/".repeat(32));
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, bytes) in [
            ("Images/", &b""[..]),
            ("./images/", b""),
            ("Images/1.jpg", b"jpeg"),
            ("notes/.old.zip.unpacked", b""),
            ("__MACOSX/._a.txt", b"meta"),
            ("__MACOSX/._A.txt", b"meta"),
            ("abc/1.txt", b"1"),
            (deep32.as_str(), b"32 folders deep"),
        ] {
            writer.start_file(name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.add_directory("ab/", options).unwrap();
        let archive = renamed(writer.finish().unwrap().into_inner(), "ab/", "abc");
        let (dir, result) = unzip_bytes(&archive, &UnzipLimits::default());
        result.unwrap();
        let out = dir.path().join("out");
        assert_eq!(fs::read(out.join("abc/1.txt")).unwrap(), b"1");
        assert!(out.join(&deep32).is_file());
        assert!(out.join("notes/.old.zip.unpacked").is_file());
        assert!(!out.join("__MACOSX").exists());
    }

    /// `a.txt` and `b.txt`, whose directory entry points at `a.txt`'s bytes.
    fn shared_bytes() -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("a.txt", options).unwrap();
        writer.write_all(b"A").unwrap();
        writer.shallow_copy_file("a.txt", "b.txt").unwrap();
        writer.finish().unwrap().into_inner()
    }

    /// The paths a caller writes itself, in any case, and what lies inside them, are refused
    /// before anything is written: an archive holding the next download was taken for it.
    #[test]
    fn paths_the_caller_owns_are_refused() {
        let owned = [
            "Flickr8k_Dataset.zip",
            "Flickr8k_Dataset.zip.part",
            "weights/mobilenet_v2-b0353104.pth",
        ];
        for (archive, expected) in [
            (
                zip_of(&[("a.txt", b"A"), ("Flickr8k_Dataset.zip", b"PK")]),
                "entry `Flickr8k_Dataset.zip` takes the place of `Flickr8k_Dataset.zip`, which glimpse data writes itself",
            ),
            (
                // (`ſ` is `s` where case does not count.)
                zip_of(&[("a.txt", b"A"), ("Flickr8k_Dataſet.zip", b"PK")]),
                "entry `Flickr8k_Dataſet.zip` takes the place of `Flickr8k_Dataset.zip`",
            ),
            (
                // A file where the download's folder goes.
                zip_of(&[("a.txt", b"A"), ("WEIGHTS", b"")]),
                "entry `WEIGHTS` takes the place of `weights/mobilenet_v2-b0353104.pth`",
            ),
            (
                zip_of(&[("a.txt", b"A"), ("FLICKR8K_Dataset.zip.part/x", b"")]),
                "entry `FLICKR8K_Dataset.zip.part/x` takes the place of `Flickr8k_Dataset.zip.part`",
            ),
            (
                zip_of(&[("weights/", b""), ("weights/mobilenet_v2-b0353104.pth", b"PK")]),
                "entry `weights/mobilenet_v2-b0353104.pth` takes the place of",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (path, out) = (dir.path().join("Flickr8k_text.zip"), dir.path().join("out"));
            fs::write(&path, &archive).unwrap();
            let err = unzip_reserving(&path, &out, &owned).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!out.exists(), "nothing written");
        }
    }

    /// A file or a link of the user's where a folder of the archive goes is refused before
    /// anything is written (`a.txt` was), as the folder's problem (the archive is kept).
    #[test]
    fn a_file_where_a_folder_goes_is_refused_before_writing() {
        let (_dir, path, out, result) = unzip_beside_users_file(&zip_of(&[
            ("a.txt", b"A"),
            (".bashrc/b.txt", b"B"),
            ("z.txt", b"Z"),
        ]));
        let err = result.unwrap_err();
        assert!(err.chain().any(|cause| cause.is::<InTheWay>()), "{err:#}");
        assert!(
            err.to_string().starts_with(&format!(
                "{}: {} is a link or a file where a folder of the archive goes",
                path.display(),
                out.join(".bashrc").display()
            )),
            "{err}"
        );
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "nothing written");
    }

    /// `archive` with its entry name `from` (in the local and the central header) made `to`,
    /// of the same length.
    fn renamed(mut archive: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let at: Vec<usize> = (0..archive.len() - from.len())
            .filter(|&i| &archive[i..i + from.len()] == from.as_bytes())
            .collect();
        assert_eq!(at.len(), 2, "a local and a central header");
        for i in at {
            archive[i..i + to.len()].copy_from_slice(to.as_bytes());
        }
        archive
    }

    /// A link planted where a file or a folder of the archive goes is never written through,
    /// and a FIFO at the marker's name (which hung the final write) is no marker.
    #[cfg(unix)]
    #[test]
    fn planted_links_and_a_fifo_marker_are_not_followed() {
        use std::os::unix::fs::symlink;
        let archive = zip_of(&[("captions.txt", b"a dog"), ("Images/1.jpg", b"jpeg")]);
        let dir = tempfile::tempdir().unwrap();
        let (path, out) = (dir.path().join("data.zip"), dir.path().join("out"));
        fs::write(&path, &archive).unwrap();
        let victim = dir.path().join("victim.txt");
        fs::write(&victim, "precious").unwrap();
        fs::create_dir(&out).unwrap();
        symlink(&victim, out.join("captions.txt")).unwrap();
        glimpse_files::testing::mkfifo(&out.join(".data.zip.unpacked"));
        unzip(&path, &out).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read(out.join("captions.txt")).unwrap(), b"a dog");
        assert!(
            fs::symlink_metadata(out.join(".data.zip.unpacked"))
                .unwrap()
                .is_file()
        );

        // A FIFO at an entry's name stops the unpack before anything is written.
        let piped = dir.path().join("piped");
        fs::create_dir(&piped).unwrap();
        glimpse_files::testing::mkfifo(&piped.join("captions.txt"));
        let err = unzip(&path, &piped).unwrap_err().to_string();
        assert!(
            err.contains("data.zip: its file `captions.txt` would replace")
                && err.ends_with("captions.txt: exists and is not a regular file; not replaced"),
            "{err}"
        );
        assert!(!piped.join("Images").exists());

        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let again = dir.path().join("again");
        fs::create_dir(&again).unwrap();
        symlink(&elsewhere, again.join("Images")).unwrap();
        let err = unzip(&path, &again).unwrap_err().to_string();
        assert!(
            err.contains("is a link or a file where a folder of the archive goes"),
            "{err}"
        );
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}
