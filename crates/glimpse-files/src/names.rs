//! Output file names that never collide: two photos `a/cat.jpg` and `b/cat.png` must not
//! write the same `cat.attention.png`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use crate::terminal::path_text;

/// The longest file name ext4, XFS, Btrfs, APFS and NTFS take, in bytes (NTFS: UTF-16 units).
pub const MAX_NAME_BYTES: usize = 255;

/// One name per stem, in order: a stem's first use keeps it, later ones get `-2`, `-3`, … (the
/// first number not taken, so a real `cat-2` is never overwritten either). Names are compared
/// ignoring case, because macOS and Windows file systems do. An empty stem becomes `image`.
/// Each stem's numbering goes on from where it stopped: tried from 2 each time, 40,000 photos
/// called `image.jpg` took minutes before the first caption.
pub fn unique_names<S: AsRef<str>>(stems: impl IntoIterator<Item = S>) -> Vec<String> {
    unique_by(stems, |stem, number| {
        let stem = match stem.as_ref() {
            "" => "image",
            stem => stem,
        };
        match number {
            1 => stem.to_string(),
            _ => format!("{stem}-{number}"),
        }
    })
}

/// One name per item, in order: `name(item, 1)` if no earlier name is the same ignoring case
/// (as [`path_text`] shows it: a byte that is not UTF-8 and its escape `\xFF` compare alike),
/// else `name(item, 2)`, `name(item, 3)`, …, the first not taken. The names themselves are
/// compared, so however `name` shortens them, no two are the same.
pub fn unique_by<T, N: AsRef<OsStr>>(
    items: impl IntoIterator<Item = T>,
    name: impl Fn(&T, u64) -> N,
) -> Vec<N> {
    let key = |name: &N| path_text(Path::new(name.as_ref())).to_lowercase();
    let mut taken = HashSet::new();
    let mut next_number: HashMap<String, u64> = HashMap::new();
    let mut names = Vec::new();
    for item in items {
        let first = name(&item, 1);
        let first_key = key(&first);
        if taken.insert(first_key.clone()) {
            names.push(first);
            continue;
        }
        let number = next_number.entry(first_key).or_insert(2);
        loop {
            let numbered = name(&item, *number);
            *number += 1;
            if taken.insert(key(&numbered)) {
                names.push(numbered);
                break;
            }
        }
    }
    names
}

/// `name` then `suffix`, or, when that is longer than a file name may be
/// ([`MAX_NAME_BYTES`]), as much of `name` as fits beside a hash of all of it: outputs named
/// after a long input (a figure, a temporary file) could not be written at all.
pub fn fitting_name(name: &str, suffix: &str) -> String {
    if name.len() + suffix.len() <= MAX_NAME_BYTES {
        return format!("{name}{suffix}");
    }
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    let hash = format!("-{:016x}", hasher.finish());
    let room = MAX_NAME_BYTES.saturating_sub(hash.len() + suffix.len());
    let cut = (0..=room.min(name.len()))
        .rev()
        .find(|&i| name.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}{hash}{suffix}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_stems_are_numbered() {
        assert_eq!(
            unique_names(["cat", "dog", "cat", "cat"]),
            ["cat", "dog", "cat-2", "cat-3"]
        );
    }

    /// Hostile round 12: 40,000 photos of one stem took over two minutes.
    #[test]
    fn many_photos_of_one_stem_are_numbered_at_once() {
        // (Quadratic, this would take minutes.)
        let names = unique_names(std::iter::repeat_n("image", 100_000));
        assert_eq!(names[99_999], "image-100000");
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), 100_000);
        let mixed = unique_names(["a", "A", "a-2", "a", "a-3"]);
        assert_eq!(mixed, ["a", "A-2", "a-2-2", "a-3", "a-3-2"]);
    }

    /// Round 12's verifier: two long names differing only in bytes that are not UTF-8 were cut
    /// to one name, and one figure replaced the other.
    #[cfg(unix)]
    #[test]
    fn cut_names_are_compared_whole() {
        use std::os::unix::ffi::OsStringExt;
        let stems = [0xfe, 0xff].map(|last| {
            let mut bytes = vec![b'L'; 250];
            bytes.push(last);
            std::ffi::OsString::from_vec(bytes)
        });
        let names = unique_by(stems, |stem, n| {
            fitting_name(&format!("{}-{n}", stem.to_string_lossy()), ".png")
        });
        assert_ne!(names[0], names[1]);
    }

    #[test]
    fn long_names_are_cut_and_told_apart_by_a_hash() {
        assert_eq!(fitting_name("cat", ".attention.png"), "cat.attention.png");
        let long = |c: &str| format!("{}{c}", "é".repeat(130));
        let (a, b) = (
            fitting_name(&long("a"), ".attention.png"),
            fitting_name(&long("b"), ".attention.png"),
        );
        assert!(a.len() <= MAX_NAME_BYTES && b.len() <= MAX_NAME_BYTES, "{a}");
        assert!(a.ends_with(".attention.png") && a.starts_with("éé"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn numbered_names_never_collide_with_real_ones() {
        assert_eq!(unique_names(["cat", "cat", "cat-2"]), ["cat", "cat-2", "cat-2-2"]);
        assert_eq!(unique_names(["Cat", "cat", ""]), ["Cat", "cat-2", "image"]);
    }
}
