//! Dataset annotation files as lines, and the captions read from them, in memory proportional
//! to the file: no string is made for a blank line or kept for a line that is refused, and a
//! dataset holds at most [`MAX_CAPTIONS`] captions. (A `captions.txt` followed by 20 MB of
//! newlines once took 4 GB, a line per newline each with its `file:line`.)

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use glimpse_files::{caps, read_regular, shown};

use crate::problems::Problems;

/// The most captions a dataset may hold: far above COCO's 616,767 (Karpathy's split file),
/// far below what exhausts memory.
pub const MAX_CAPTIONS: usize = 1 << 22;

/// The most words (tokens) a dataset's kept captions may hold: more than twice COCO's (about
/// 7 million), about 1 GB as the tokenised strings they are kept as.
pub const MAX_WORDS: usize = 1 << 24;

/// A line-based dataset file (`captions.txt`, `Flickr8k.token.txt`, split lists).
pub(crate) struct TextFile {
    shown: String,
    bytes: Vec<u8>,
}

impl TextFile {
    /// Reads a regular file of at most [`caps::DATASET_TEXT`] bytes, reporting each line that
    /// is not UTF-8 (those lines are then left out of [`TextFile::lines`]).
    pub fn read(path: &Path, problems: &mut Problems) -> Result<TextFile> {
        let file = TextFile {
            shown: shown(path).to_string(),
            bytes: read_regular(path, caps::DATASET_TEXT, "dataset file")?,
        };
        for (number, raw) in file.raw_lines() {
            if let Err(e) = std::str::from_utf8(raw) {
                problems.bad_row(&file.location(number), format!("not UTF-8 text ({e}); skipped"));
            }
        }
        Ok(file)
    }

    /// Each UTF-8 line that is not blank, with its `file:line`, without its line ending or a
    /// byte-order mark.
    pub fn lines(&self) -> impl Iterator<Item = (String, &str)> {
        self.numbered_lines()
            .map(|(number, text)| (self.location(number), text))
    }

    /// [`TextFile::lines`], each with its line number instead.
    pub fn numbered_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.raw_lines().filter_map(|(number, raw)| {
            let text = std::str::from_utf8(raw).ok()?.trim_start_matches('\u{feff}');
            (!text.trim().is_empty()).then_some((number, text))
        })
    }

    /// Lines numbered from 1, without `\n` or `\r\n`.
    fn raw_lines(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(index, raw)| (index + 1, raw.strip_suffix(b"\r").unwrap_or(raw)))
    }

    /// `file:line` of line `number`.
    pub fn location(&self, number: usize) -> String {
        format!("{}:{number}", self.shown)
    }
}

/// Each image's captions, each with where it was read (`file:line`), at most [`MAX_CAPTIONS`]
/// in all.
#[derive(Debug, Default)]
pub(crate) struct CaptionTable {
    by_image: BTreeMap<String, Vec<(String, String)>>,
    count: usize,
}

impl CaptionTable {
    /// Adds a caption of `image`; an error once the table would exceed [`MAX_CAPTIONS`].
    pub fn push(&mut self, image: &str, location: String, caption: String) -> Result<()> {
        if self.count == MAX_CAPTIONS {
            bail!("{location}: more than {MAX_CAPTIONS} captions; Glimpse reads at most that many");
        }
        self.count += 1;
        match self.by_image.get_mut(image) {
            Some(captions) => captions.push((location, caption)),
            None => {
                self.by_image.insert(image.to_string(), vec![(location, caption)]);
            }
        }
        Ok(())
    }

    pub fn get(&self, image: &str) -> Option<&[(String, String)]> {
        self.by_image.get(image).map(Vec::as_slice)
    }

    /// The image names, sorted.
    pub fn images(&self) -> impl Iterator<Item = &String> {
        self.by_image.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_skip_blanks_and_report_invalid_utf8_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("captions.txt");
        std::fs::write(&path, b"\xef\xbb\xbfhead\r\n\n  \nbad \xff\nlast").unwrap();
        let mut problems = Problems::default();
        let file = TextFile::read(&path, &mut problems).unwrap();
        let lines: Vec<(String, &str)> = file.lines().collect();
        let shown = shown(&path).to_string();
        assert_eq!(
            lines,
            [(format!("{shown}:1"), "head"), (format!("{shown}:5"), "last")]
        );
        assert_eq!(problems.bad_rows(), 1);
        assert!(problems.kept()[0].starts_with(&format!("{shown}:4: not UTF-8")));
    }

    #[test]
    fn the_table_refuses_the_caption_past_its_cap() {
        let mut table = CaptionTable {
            count: MAX_CAPTIONS - 1,
            ..CaptionTable::default()
        };
        table.push("a.jpg", "f:1".into(), "a dog".into()).unwrap();
        let err = table.push("a.jpg", "f:2".into(), "a cat".into()).unwrap_err();
        assert!(
            err.to_string().starts_with("f:2: more than 4194304 captions"),
            "{err}"
        );
        assert_eq!(table.get("a.jpg").unwrap().len(), 1);
    }
}
