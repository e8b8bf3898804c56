//! Unpacking the downloaded zip archives, safely: entries that would land outside the folder
//! are refused (zip-slip), and so is a zip bomb (a few MB that expand to GBs), from the sizes the
//! entries declare before anything is written and again from what they really expand to; and a
//! file already in the folder is never replaced unless it is the archive's own copy.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use glimpse_files::{shown, terminal_safe};
use glimpse_model::error::excerpt;
use indicatif::{ProgressBar, ProgressStyle};

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
    let unpacked = check_no_overwrites(&mut zip, archive, dir)?;
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
    Ok(())
}

/// Refuses, before anything is written, an archive with a file whose name is taken in `dir` by a
/// file that is not the archive's own copy of it (same size and CRC-32), and returns the entries
/// already there (an earlier unpack, cut short, wrote them). `glimpse data` unpacks into a folder
/// the user names, and the archives without a published checksum are trusted on first download:
/// a mirror's archive holding `notes.txt` and `.bashrc` replaced the user's own. Names outside
/// the folder, links, markers, two entries for one path and an entry inside a file are refused
/// too ([`enclosed_name`], [`check_entry_names`], [`check_no_entry_inside_a_file`]).
fn check_no_overwrites<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    archive: &Path,
    dir: &Path,
) -> Result<HashSet<usize>> {
    if zip.has_duplicate_names() {
        // (The zip reader keeps one of them.)
        bail!(
            "{}: its directory lists one name twice; refusing an ambiguous archive",
            shown(archive)
        );
    }
    let mut unpacked = HashSet::new();
    let mut paths = BTreeMap::new();
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|e| anyhow!("{}: entry {index}: {e}", shown(archive)))?;
        let name = enclosed_name(&entry, archive)?;
        check_entry_names(&entry, &name, &mut paths, archive)?;
        if entry.is_dir() || is_macos_metadata(&name) {
            continue;
        }
        let target = dir.join(&name);
        // A FIFO or a device at an entry's name (chosen by the archive) was renamed over.
        glimpse_files::check_replaceable(&target).map_err(|e| {
            anyhow!(
                "{}: its file `{}` would replace {e}",
                shown(archive),
                entry_label(entry.name_raw())
            )
        })?;
        if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
            continue; // nothing of the user's there (a link or a FIFO is replaced, never followed)
        }
        if !holds_copy(&target, entry.size(), entry.crc32())? {
            bail!(
                "{}: its file `{}` would replace {}, which is not the archive's copy; glimpse data does not overwrite files: move it away or unpack into another folder",
                shown(archive),
                entry_label(entry.name_raw()),
                shown(&target)
            );
        }
        unpacked.insert(index);
    }
    check_no_entry_inside_a_file(&paths, archive)?;
    Ok(unpacked)
}

/// The empty file that says the archive named `archive_name` is unpacked in its folder.
fn marker_name(archive_name: &str) -> String {
    format!(".{archive_name}.unpacked")
}

/// The path inside the folder where `entry` goes, or why it has none (zip's `enclosed_name`
/// refuses `..` past the top, absolute paths and NUL bytes).
fn enclosed_name<R: Read>(entry: &zip::read::ZipFile<'_, R>, archive: &Path) -> Result<PathBuf> {
    entry.enclosed_name().ok_or_else(|| {
        let why = if entry.name_raw().contains(&0) {
            "holds a NUL byte"
        } else {
            "points outside the folder"
        };
        anyhow!(
            "{}: entry `{}` {why}; refusing to unpack",
            shown(archive),
            entry_label(entry.name_raw())
        )
    })
}

/// An earlier entry of the archive: its name (as messages quote it), its path, and whether it
/// is a folder.
struct Listed {
    label: String,
    path: PathBuf,
    is_dir: bool,
}

/// Refuses a link entry (written as a file, it replaced whatever was at its name unchecked), a
/// file named as [`marker_name`]s are (it would say another archive is unpacked, which then never
/// is), and an entry at a path an earlier one of `paths` (path without case → that entry) takes,
/// unless both are folders: `a.txt` and `./a.txt` are one file, the later silently won, and an
/// unpack cut short between them could never finish; `notes.txt` and `NOTES.txt` are one file
/// on macOS and Windows, so they are refused everywhere.
fn check_entry_names<R: Read>(
    entry: &zip::read::ZipFile<'_, R>,
    path: &Path,
    paths: &mut BTreeMap<PathBuf, Listed>,
    archive: &Path,
) -> Result<()> {
    let raw = || entry_label(entry.name_raw());
    if entry.is_symlink() {
        bail!(
            "{}: entry `{}` is a symbolic link; glimpse data unpacks files and folders only",
            shown(archive),
            raw()
        );
    }
    // (`enclosed_name` made `path` from a `str`.)
    let caseless = PathBuf::from(path.to_string_lossy().to_lowercase());
    let file_name = caseless
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if !entry.is_dir() && file_name.starts_with('.') && file_name.ends_with(".unpacked") {
        bail!(
            "{}: entry `{}` is named as glimpse data's marker of an unpacked archive; refusing to unpack",
            shown(archive),
            raw()
        );
    }
    match paths.entry(caseless) {
        Entry::Occupied(earlier) if !(earlier.get().is_dir && entry.is_dir()) => {
            let earlier = earlier.get();
            let how = if earlier.path == path {
                ""
            } else {
                " where case does not count (macOS, Windows)"
            };
            bail!(
                "{}: entries `{}` and `{}` name one path{how}; refusing an ambiguous archive",
                shown(archive),
                earlier.label,
                raw()
            )
        }
        Entry::Occupied(_) => {}
        Entry::Vacant(slot) => {
            slot.insert(Listed {
                label: raw(),
                path: path.to_path_buf(),
                is_dir: entry.is_dir(),
            });
        }
    }
    Ok(())
}

/// Refuses an entry whose path lies inside a file entry's (`a` and `a/b.txt`): unpacking failed
/// only once `a` was written, and could never finish. Paths sort component by component, so an
/// entry's paths inside it follow it at once: each is compared with the next only (a name of
/// 64 KiB holds 32,768 components, and looking up each of its ancestors took quadratic time).
fn check_no_entry_inside_a_file(paths: &BTreeMap<PathBuf, Listed>, archive: &Path) -> Result<()> {
    for ((path, listed), (next, inside)) in paths.iter().zip(paths.iter().skip(1)) {
        if !listed.is_dir && next.starts_with(path) {
            bail!(
                "{}: entry `{}` lies inside `{}`, which is a file; refusing an ambiguous archive",
                shown(archive),
                inside.label,
                listed.label
            );
        }
    }
    Ok(())
}

/// An entry's name as messages quote it: an excerpt (a name may have 64 KiB), escaped.
fn entry_label(raw: &[u8]) -> String {
    terminal_safe(&excerpt(&String::from_utf8_lossy(raw))).into_owned()
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
    if entry.is_dir() {
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

/// The resource forks and folder of metadata that macOS's archiver adds, never unpacked.
fn is_macos_metadata(relative: &Path) -> bool {
    relative.starts_with("__MACOSX")
        || relative
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("._"))
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
                "entries `notes.txt` and `NOTES.txt` name one path where case does not count (macOS, Windows); refusing an ambiguous archive",
            ),
            (
                zip_of(&[("Images/", b""), ("images", b"B")]),
                "entries `Images/` and `images` name one path where case does not count",
            ),
            (
                zip_of(&[("a.txt", b"A"), ("../escape.txt", b"x")]),
                "entry `../escape.txt` points outside the folder; refusing to unpack",
            ),
            (nul, "holds a NUL byte; refusing to unpack"),
            (
                zip_of(&[("a.txt", b"A"), (".Flickr8k_text.zip.unpacked", b"")]),
                "entry `.Flickr8k_text.zip.unpacked` is named as glimpse data's marker of an unpacked archive",
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
        // A file under a file 32,000 folders deep, named in full only once (an excerpt).
        let deep = format!("{}y", "x/".repeat(32_000));
        let (_dir, path, out, result) =
            unzip_beside_users_file(&zip_of(&[("x", b"X"), (deep.as_str(), b"Y")]));
        let err = result.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: entry `x/x/x/", path.display()))
                && err.ends_with("lies inside `x`, which is a file; refusing an ambiguous archive")
                && err.len() < 1_000,
            "{err}"
        );
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "nothing written");
        // Folders listed twice, in any case, are one folder; a folder may have a marker's name.
        let (_dir, result) = unzip_bytes(
            &zip_of(&[
                ("Images/", b""),
                ("./images/", b""),
                ("Images/1.jpg", b"jpeg"),
                (".old.zip.unpacked/", b""),
            ]),
            &UnzipLimits::default(),
        );
        result.unwrap();
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
