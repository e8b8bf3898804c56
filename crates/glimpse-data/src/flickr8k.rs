//! Flickr8k as it is distributed: Kaggle's `captions.txt`, the original `Flickr8k.token.txt`,
//! and the original split files.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Result, bail};

use crate::problems::Problems;
use crate::split::{Assignments, Split};
use crate::text::{CaptionTable, MAX_CAPTIONS, TextFile};

/// The original split files, as `glimpse synth` also writes them.
pub const SPLIT_FILES: [(Split, &str); 3] = [
    (Split::Train, "Flickr_8k.trainImages.txt"),
    (Split::Val, "Flickr_8k.devImages.txt"),
    (Split::Test, "Flickr_8k.testImages.txt"),
];

/// Kaggle's `captions.txt`: a header `image,caption`, then one `image,caption` row per caption.
/// The caption is everything after the first comma; a quoted caption may contain commas and
/// doubled quotes.
pub(crate) fn read_kaggle(path: &Path, problems: &mut Problems) -> Result<CaptionTable> {
    let file = TextFile::read(path, problems)?;
    let mut lines = file.lines();
    match lines.next() {
        Some((_, header)) if header.trim() == "image,caption" => {}
        Some((location, header)) => bail!(
            "{location}: expected the header `image,caption` (Kaggle's Flickr8k captions.txt), found `{}`",
            header.chars().take(60).collect::<String>()
        ),
        None => bail!(
            "{}: empty file; expected the header `image,caption`",
            path.display()
        ),
    }
    let mut table = CaptionTable::default();
    for (location, line) in lines {
        let Some((image, caption)) = line.split_once(',') else {
            problems.bad_row(&location, "no comma between image and caption; skipped");
            continue;
        };
        let image = image.trim();
        if image.is_empty() {
            problems.bad_row(&location, "empty image name; skipped");
            continue;
        }
        let caption = match unquote(caption.trim()) {
            Ok(caption) => caption,
            Err(message) => {
                problems.bad_row(&location, message);
                continue;
            }
        };
        table.push(image, location, caption)?;
    }
    Ok(table)
}

/// A CSV field: plain, or quoted with `""` for a quote inside.
fn unquote(field: &str) -> std::result::Result<String, String> {
    let Some(inner) = field.strip_prefix('"') else {
        return Ok(field.to_string());
    };
    let Some(inner) = inner.strip_suffix('"') else {
        return Err("a quoted caption without its closing quote; skipped".to_string());
    };
    Ok(inner.replace("\"\"", "\""))
}

/// `Flickr8k.token.txt`: `image.jpg#N<TAB>caption` per line.
pub(crate) fn read_token_file(path: &Path, problems: &mut Problems) -> Result<CaptionTable> {
    let mut table = CaptionTable::default();
    let file = TextFile::read(path, problems)?;
    // Each image and caption number with the line it was read on: a second one (`x.jpg#0` again,
    // or `x.jpg#00`) added another reference unnoticed.
    let mut keys: HashMap<(&str, u32), usize> = HashMap::new();
    for (line_number, line) in file.numbered_lines() {
        let location = file.location(line_number);
        let Some((key, caption)) = line.split_once('\t') else {
            problems.bad_row(&location, "no tab between `image#N` and the caption; skipped");
            continue;
        };
        let Some((image, number)) = key.rsplit_once('#') else {
            problems.bad_row(&location, format!("`{key}` is not `image#N`; skipped"));
            continue;
        };
        let Some(caption_number) = number.parse::<u32>().ok().filter(|_| !image.is_empty()) else {
            problems.bad_row(&location, format!("`{key}` is not `image#N`; skipped"));
            continue;
        };
        // The first line of a number stays the one named.
        if let Some(&first) = keys.get(&(image, caption_number)) {
            problems.bad_row(
                &location,
                format!("`{key}` is caption {caption_number} of `{image}` again (line {first}); skipped"),
            );
            continue;
        }
        keys.insert((image, caption_number), line_number);
        table.push(image, location, caption.trim().to_string())?;
    }
    Ok(table)
}

/// The original split files, if present: image name → split. All three or none. (Present means
/// existing: one that is not a regular file is refused by name when read.)
pub fn read_split_files(root: &Path, problems: &mut Problems) -> Result<Option<Assignments>> {
    read_split_files_capped(root, problems, MAX_CAPTIONS)
}

/// [`read_split_files`] with at most `max_names` names: a dataset holds at most
/// [`MAX_CAPTIONS`] captions, so more names than that would mostly have none (20 million names
/// once took 2 GB).
fn read_split_files_capped(
    root: &Path,
    problems: &mut Problems,
    max_names: usize,
) -> Result<Option<Assignments>> {
    let present: Vec<_> = SPLIT_FILES
        .iter()
        .filter(|(_, f)| root.join(f).exists())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    if present.len() < SPLIT_FILES.len() {
        let missing: Vec<_> = SPLIT_FILES
            .iter()
            .filter(|(_, f)| !root.join(f).exists())
            .map(|(_, f)| *f)
            .collect();
        bail!(
            "{}: split files incomplete, missing {}",
            root.display(),
            missing.join(", ")
        );
    }
    let mut assignments = BTreeMap::new();
    for (split, file) in SPLIT_FILES {
        for (location, line) in TextFile::read(&root.join(file), problems)?.lines() {
            let name = line.trim();
            if assignments.len() == max_names && !assignments.contains_key(name) {
                bail!(
                    "{location}: more than {max_names} image names in the split files; Glimpse reads at most that many"
                );
            }
            if let Some((earlier, _)) = assignments.insert(name.to_string(), (split, None)) {
                let problem = if earlier == split {
                    format!("{name} is listed twice in the {} split", split.name())
                } else {
                    format!(
                        "{name} was already in the {} split; now in {}",
                        earlier.name(),
                        split.name()
                    )
                };
                problems.at(&location, problem);
            }
        }
    }
    Ok(Some(assignments))
}

/// A fixed split when the data comes without one: by a hash of the image name, 80% train, 10%
/// val, 10% test — the same on every machine and independent of the file's order.
pub fn default_split<'a>(names: impl Iterator<Item = &'a String>) -> Assignments {
    names
        .map(|name| {
            let bucket = glimpse_model::params::stable_id(name) % 10;
            let split = match bucket {
                0 => Split::Test,
                1 => Split::Val,
                _ => Split::Train,
            };
            (name.clone(), (split, None))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_files_naming_more_images_than_a_dataset_holds_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (_, file)) in SPLIT_FILES.iter().enumerate() {
            std::fs::write(dir.path().join(file), format!("a{i}.jpg\nb{i}.jpg\n")).unwrap();
        }
        let mut problems = Problems::default();
        let read = |max, problems: &mut Problems| read_split_files_capped(dir.path(), problems, max);
        assert_eq!(read(6, &mut problems).unwrap().unwrap().len(), 6);
        let err = read(5, &mut problems).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "Flickr_8k.testImages.txt:2: more than 5 image names in the split files; Glimpse reads at most that many"
            ),
            "{err}"
        );
    }
}
