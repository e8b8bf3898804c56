//! What an archive's entry names may be, checked before anything is written: inside the folder,
//! not a link, at most [`MAX_DEPTH`] folders deep, not a name the run owns (its downloads, their
//! partial files, the markers of unpacked archives), not a second name for one file (also where
//! case and Unicode normalisation do not count, as on macOS and Windows), and not inside a file
//! entry.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use glimpse_files::{shown, terminal_safe};
use glimpse_model::error::excerpt;
use icu_normalizer::ComposingNormalizerBorrowed;

/// The most folders deep an entry may lie (Flickr8k's lie 1 deep). Each folder of each entry is
/// looked up from the top of the folder as it is created, so 16,000 entries 1,900 folders deep
/// (123 MB) took half an hour.
pub const MAX_DEPTH: usize = 32;

/// The empty file that says the archive named `archive_name` is unpacked in its folder.
pub(super) fn marker_name(archive_name: &str) -> String {
    format!(".{archive_name}.unpacked")
}

/// The path inside the folder where `entry` goes, or why it has none (zip's `enclosed_name`
/// refuses `..` past the top, absolute paths and NUL bytes; a file named `.` would be the folder).
pub(super) fn enclosed_name<R: Read>(entry: &zip::read::ZipFile<'_, R>, archive: &Path) -> Result<PathBuf> {
    let enclosed = entry.enclosed_name();
    if enclosed.as_ref().is_some_and(|path| path.as_os_str().is_empty()) && !is_folder(entry) {
        bail!(
            "{}: entry `{}` is a file named as the folder itself; refusing to unpack",
            shown(archive),
            entry_label(entry.name_raw())
        );
    }
    enclosed.ok_or_else(|| {
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

/// Whether `entry` is a folder: its name ends in `/`, or its Unix mode says so (archivers that
/// leave the slash out; written as a file, a folder's entries then lay inside a file).
pub(super) fn is_folder<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> bool {
    const KIND: u32 = 0o170000;
    const FOLDER: u32 = 0o040000;
    entry.is_dir() || entry.unix_mode().is_some_and(|mode| mode & KIND == FOLDER)
}

/// The resource forks and folder of metadata that macOS's archiver adds, never unpacked.
pub(super) fn is_macos_metadata(relative: &Path) -> bool {
    relative.starts_with("__MACOSX")
        || relative
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("._"))
}

/// An entry's name as messages quote it: an excerpt (a name may have 64 KiB), escaped.
pub(super) fn entry_label(raw: &[u8]) -> String {
    terminal_safe(&excerpt(&String::from_utf8_lossy(raw))).into_owned()
}

/// `path` as a file system that ignores case and Unicode normalisation (macOS's, Windows')
/// compares it, or more strictly: composed (NFC), upper then lower case (lower case alone kept
/// `ſ`, which such systems take for `s`).
fn folded(path: &Path) -> PathBuf {
    let composed = ComposingNormalizerBorrowed::new_nfc()
        .normalize(&path.to_string_lossy())
        .into_owned();
    PathBuf::from(composed.to_uppercase().to_lowercase())
}

/// An earlier entry of the archive.
struct Listed {
    /// Its name, as messages quote it.
    label: String,
    path: PathBuf,
    is_folder: bool,
}

/// The names of one archive's entries, checked one by one ([`EntryNames::check`]) and then
/// together ([`EntryNames::finish`]).
pub(super) struct EntryNames<'a> {
    archive: &'a Path,
    /// The paths the run owns: folded, and as the run names them.
    reserved: Vec<(PathBuf, &'a str)>,
    /// Folded path → the entry listed there.
    listed: BTreeMap<PathBuf, Listed>,
}

impl<'a> EntryNames<'a> {
    /// `reserved`: paths in the folder that the run owns and no entry may take.
    pub(super) fn new(archive: &'a Path, reserved: &[&'a str]) -> Self {
        EntryNames {
            archive,
            reserved: reserved
                .iter()
                .map(|path| (folded(Path::new(path)), *path))
                .collect(),
            listed: BTreeMap::new(),
        }
    }

    /// Refuses `entry`, at `path` in the folder, if it is a link (written as a file, it replaced
    /// whatever was at its name unchecked), lies too deep, takes a name the run owns or a
    /// marker's, or names a path an earlier entry took, unless both are folders: `a.txt` and
    /// `./a.txt` are one file (the later silently won, and an unpack cut short between them
    /// could never finish), and so are `notes.txt` and `NOTES.txt` on macOS and Windows, which
    /// are refused everywhere.
    pub(super) fn check<R: Read>(&mut self, entry: &zip::read::ZipFile<'_, R>, path: &Path) -> Result<()> {
        let label = || entry_label(entry.name_raw());
        let archive = shown(self.archive);
        if entry.is_symlink() {
            bail!(
                "{archive}: entry `{}` is a symbolic link; glimpse data unpacks files and folders only",
                label()
            );
        }
        let is_folder = is_folder(entry);
        // (A folder lies inside the folders its path names; a file inside all but the last.)
        let folders = path.components().count().saturating_sub(usize::from(!is_folder));
        if folders > MAX_DEPTH {
            bail!(
                "{archive}: entry `{}` lies {folders} folders deep, over the limit of {MAX_DEPTH}; refusing to unpack",
                label()
            );
        }
        let key = folded(path);
        self.check_not_reserved(&key, is_folder, &label)?;
        match self.listed.entry(key) {
            Entry::Occupied(earlier) if !(earlier.get().is_folder && is_folder) => {
                let earlier = earlier.get();
                let how = if earlier.path == path {
                    ""
                } else {
                    " where case and Unicode normalisation do not count (macOS, Windows)"
                };
                bail!(
                    "{archive}: entries `{}` and `{}` name one path{how}; refusing an ambiguous archive",
                    earlier.label,
                    label()
                )
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(slot) => {
                slot.insert(Listed {
                    label: label(),
                    path: path.to_path_buf(),
                    is_folder,
                });
            }
        }
        Ok(())
    }

    /// Refuses an entry (file or folder) at, or inside, a path the run owns, a file where a
    /// folder of one goes, and one at or inside a marker's name at the top of the folder: a
    /// planted `Flickr8k_Dataset.zip` was taken for the download, a planted marker said an
    /// archive was unpacked that never was, and a folder at a marker's name stopped every later
    /// run.
    fn check_not_reserved(&self, key: &Path, is_folder: bool, label: &dyn Fn() -> String) -> Result<()> {
        let archive = shown(self.archive);
        let taken = |owned: &Path| key.starts_with(owned) || (!is_folder && owned.starts_with(key));
        if let Some((_, owned)) = self.reserved.iter().find(|(folded, _)| taken(folded)) {
            bail!(
                "{archive}: entry `{}` takes the place of `{}`, which glimpse data writes itself; refusing to unpack",
                label(),
                terminal_safe(&excerpt(owned))
            );
        }
        let top = key.components().next().map(|c| c.as_os_str().to_string_lossy());
        if top.is_some_and(|name| name.starts_with('.') && name.ends_with(".unpacked")) {
            bail!(
                "{archive}: entry `{}` is named as glimpse data's marker of an unpacked archive; refusing to unpack",
                label()
            );
        }
        Ok(())
    }

    /// Refuses an entry whose path lies inside a file entry's (`a` and `a/b.txt`): unpacking
    /// failed only once `a` was written, and could never finish. Paths sort component by
    /// component, so an entry's paths inside it follow it at once: each is compared with the
    /// next only.
    pub(super) fn finish(self) -> Result<()> {
        let listed = self.listed.iter();
        for ((path, entry), (next, inside)) in listed.clone().zip(listed.skip(1)) {
            if !entry.is_folder && next.starts_with(path) {
                bail!(
                    "{}: entry `{}` lies inside `{}`, which is a file; refusing an ambiguous archive",
                    shown(self.archive),
                    inside.label,
                    entry.label
                );
            }
        }
        Ok(())
    }
}
