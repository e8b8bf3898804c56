//! Karpathy's split files (`dataset_flickr8k.json`, `dataset_flickr30k.json`,
//! `dataset_coco.json`): `{"dataset", "images": [{"filename", "filepath"?, "split",
//! "sentences": [{"raw", "tokens"}]}]}`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_files::{PathError, caps, confined, read_regular, shown, terminal_safe};
use glimpse_model::error::excerpt;
use serde::Deserialize;

use crate::problems::Problems;
use crate::split::{Assignments, Split};
use crate::text::{CaptionTable, MAX_CAPTIONS};

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    dataset: Option<String>,
    images: Vec<Image>,
}

#[derive(Deserialize)]
struct Image {
    filename: String,
    /// COCO's subfolder (`train2014`, `val2014`).
    #[serde(default)]
    filepath: Option<String>,
    split: String,
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    raw: String,
}

/// What a Karpathy file holds.
pub struct KarpathySplits {
    pub name: String,
    pub splits: Assignments,
    pub captions: CaptionTable,
}

/// The one `dataset_*.json` in `root`, if any.
pub fn find(root: &Path) -> Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("{}", root.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("dataset_") && name.ends_with(".json") {
            found.push(path);
        }
    }
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => bail!(
            "{}: several Karpathy split files ({}); keep one",
            root.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Reads a Karpathy file (a regular file of at most [`caps::DATASET_TEXT`] bytes). Images in an
/// unknown split, and images whose `filepath` or `filename` would lead outside the data folder
/// (absolute, or with `..`), are reported and skipped.
pub fn read(path: &Path, problems: &mut Problems) -> Result<KarpathySplits> {
    let file = parse(path)?;
    check_dataset_name(file.dataset.as_deref(), path)?;
    let mut splits = Assignments::new();
    let mut captions = CaptionTable::default();
    for (index, image) in file.images.into_iter().enumerate() {
        let location = format!("{}: images[{index}]", shown(path));
        let assignment = match assignment(&image, &splits) {
            Ok(assignment) => assignment,
            Err(problem) => {
                // A skipped entry drops all its captions, and counts as that many: counted as
                // one, entries of five captions could drop a fifth of a file within the 5%
                // allowance.
                let rows = image.sentences.len().max(1);
                problems.bad_entry(&location, rows, format!("{problem}; skipped"));
                continue;
            }
        };
        for (k, sentence) in image.sentences.into_iter().enumerate() {
            captions.push(
                &image.filename,
                format!("{location}.sentences[{k}]"),
                sentence.raw,
            )?;
        }
        splits.insert(image.filename, assignment);
    }
    Ok(KarpathySplits {
        name: file.dataset.unwrap_or_else(|| "karpathy".to_string()),
        splits,
        captions,
    })
}

/// Longest `"dataset"` name, in bytes (Karpathy's are `flickr8k`, `flickr30k` and `coco`).
pub const MAX_DATASET_NAME_BYTES: usize = 256;

/// Refuses a `"dataset"` name past [`MAX_DATASET_NAME_BYTES`]: it is printed, kept in every
/// checkpoint and written into the model card, whose fields `export` refuses past 16 KiB
/// (after hours of training), and at 100 MB no checkpoint could be written.
fn check_dataset_name(name: Option<&str>, path: &Path) -> Result<()> {
    match name.filter(|name| name.len() > MAX_DATASET_NAME_BYTES) {
        Some(name) => bail!(
            "{}: \"dataset\" is {} bytes long (\"{}\"), over the limit of {MAX_DATASET_NAME_BYTES}",
            shown(path),
            name.len(),
            terminal_safe(&excerpt(name))
        ),
        None => Ok(()),
    }
}

/// The file's JSON, refused when it holds more than [`MAX_CAPTIONS`] sentences.
fn parse(path: &Path) -> Result<File> {
    let text = read_regular(path, caps::DATASET_TEXT, "Karpathy split file")?;
    // A byte-order mark (editors on Windows write one) is skipped, as in caption files.
    let json = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    let file: File = serde_json::from_slice(json).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not a Karpathy split file: {e}",
            shown(path),
            e.line(),
            e.column()
        )
    })?;
    let sentences = file
        .images
        .iter()
        .map(|image| image.sentences.len())
        .sum::<usize>();
    if sentences > MAX_CAPTIONS {
        bail!(
            "{}: {sentences} sentences; Glimpse reads at most {MAX_CAPTIONS} captions",
            shown(path)
        );
    }
    Ok(file)
}

/// The entry's split and path under the data folder, or why it is skipped.
fn assignment(image: &Image, splits: &Assignments) -> std::result::Result<(Split, Option<PathBuf>), String> {
    let split = match image.split.as_str() {
        "train" | "restval" => Split::Train,
        "val" => Split::Val,
        "test" => Split::Test,
        other => return Err(format!("unknown split `{other}`")),
    };
    // Captions and splits are keyed by file name: a second image of one name (another
    // folder's, or the same listed in two splits) would silently merge with the first.
    if splits.contains_key(&image.filename) {
        return Err(format!("a second image named `{}`", image.filename));
    }
    let relative = inside_data_folder(image).map_err(|problem| problem.to_string())?;
    Ok((split, relative))
}

/// The image's path relative to the data folder (`filepath/filename`, or `None` for a file in
/// the images folder), when neither part is absolute or climbs out with `..`.
fn inside_data_folder(image: &Image) -> std::result::Result<Option<PathBuf>, PathError> {
    // `confined` only judges the names here; the folder they are joined to comes later.
    let check = |name: &Path| confined(Path::new(""), name).map(|_| ());
    check(Path::new(&image.filename))?;
    match &image.filepath {
        Some(dir) => {
            let relative = PathBuf::from(dir).join(&image.filename);
            check(&relative)?;
            Ok(Some(relative))
        }
        None => Ok(None),
    }
}
