//! Captioning datasets as people have them on disk, read into one shape: images with their
//! tokenised reference captions, split into train / val / test.
//!
//! Formats (detected from the files in the data folder):
//! - Kaggle Flickr8k: `captions.txt` (`image,caption`) + `Images/`; splits from the original
//!   split files or Karpathy's JSON when present beside it, else a fixed 80/10/10 split.
//! - Original Flickr8k: `Flickr8k.token.txt` + `Flickr_8k.{train,dev,test}Images.txt` +
//!   `Flicker8k_Dataset/` (or `Images/`).
//! - Karpathy JSON (`dataset_flickr8k.json`, `dataset_flickr30k.json`, `dataset_coco.json`):
//!   the file's own split; `restval` counts as train, as in Karpathy's code.
//!
//! Bad data never panics: each problem is reported with its file and line, counted and skipped.
//! When more than `max_bad_fraction` of the captions or images are bad the load fails, because
//! that many problems mean a wrong folder or a broken download, not a few stray rows.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use glimpse_files::{FileId, PathError, caps, confined, file_id, shown};
use glimpse_metrics::tokenize;
use serde::{Deserialize, Serialize};

use crate::problems::Problems;
use crate::split::{Assignments, Split};
use crate::text::{CaptionTable, MAX_WORDS};
use crate::{flickr8k, karpathy};

/// The longest caption tokenised: a real one is a sentence; anything longer is skipped as
/// over-long before tokenising it costs memory in proportion. (`compare` holds the captions it
/// scores to the same length.)
pub const MAX_CAPTION_BYTES: usize = 64 << 10;

/// One image and its reference captions.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The image's name as the dataset gives it (`1000268201_693b08cb0e.jpg`).
    pub name: String,
    pub path: PathBuf,
    /// Each reference as written.
    pub raw: Vec<String>,
    /// Each reference tokenised as coco-caption scores it.
    pub tokens: Vec<Vec<String>>,
}

/// Which files the data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetFormat {
    Kaggle,
    Flickr8kOriginal,
    Karpathy,
}

/// What [`Dataset::load`] is told.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Captions longer than this many tokens are skipped (counted).
    pub max_caption_tokens: usize,
    /// Fail when more than this fraction of captions or images is bad.
    pub max_bad_fraction: f64,
    /// Fail when the kept captions hold more words than this (at most [`MAX_WORDS`]).
    pub max_words: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_caption_tokens: 40,
            max_bad_fraction: 0.05,
            max_words: MAX_WORDS,
        }
    }
}

/// A dataset: samples per split, and every problem met while reading it.
#[derive(Debug)]
pub struct Dataset {
    pub root: PathBuf,
    pub layout: DatasetFormat,
    /// A name for model cards ("Flickr8k", "flickr30k", or the folder's name).
    pub name: String,
    pub splits: BTreeMap<Split, Vec<Sample>>,
    pub problems: Problems,
}

impl Dataset {
    /// Reads the dataset in `root`, whichever layout it has.
    pub fn load(root: &Path, options: &LoadOptions) -> Result<Dataset> {
        if !root.is_dir() {
            bail!("{}: no such data folder", shown(root));
        }
        let mut problems = Problems::default();
        let found = read_layout(root, &mut problems)?;
        let mut dataset = Dataset {
            root: root.to_path_buf(),
            layout: found.layout,
            name: found.name,
            splits: BTreeMap::new(),
            problems,
        };
        dataset.assemble(found.table, found.assignments, &images_folder(root), options)?;
        Ok(dataset)
    }

    /// Tokenises, checks image files, and files every sample under its split.
    fn assemble(
        &mut self,
        table: CaptionTable,
        assignments: Assignments,
        images_dir: &Path,
        options: &LoadOptions,
    ) -> Result<()> {
        let mut tally = Tally::default();
        let mut files: HashMap<FileId, String> = HashMap::new(); // each kept photo → its name
        let unassigned = unassigned_note(&table, &assignments);
        for (name, (split, relative)) in assignments {
            let images = tally.images.entry(split).or_default();
            images.seen += 1;
            let Some(captions) = table.get(&name) else {
                // Counted: split files from one download beside captions from another matched
                // a few names and trained on those without a complaint.
                self.problems
                    .note(format!("{name}: listed in a split but has no captions; skipped"));
                images.bad += 1;
                continue;
            };
            let Some(path) = self.image_file(images_dir, &name, relative.as_deref(), captions) else {
                images.bad += 1;
                continue;
            };
            let id = file_id(&path);
            if let Some(first) = id.as_ref().and_then(|id| files.get(id)) {
                // `x.jpg` and `./x.jpg` (or a link) put one photo into two splits, unreported.
                self.problems.note(format!(
                    "{name}: the same file as {first} (one photo under two names); skipped"
                ));
                images.bad += 1;
                continue;
            }
            let mut sample = Sample {
                name,
                path,
                raw: Vec::new(),
                tokens: Vec::new(),
            };
            for (location, caption) in captions {
                tally.captions_seen += 1;
                let Some(tokens) = self.caption_tokens(&sample.name, location, caption, options) else {
                    tally.captions_bad += 1;
                    continue;
                };
                tally.add_words(tokens.len(), location, options)?;
                sample.raw.push(caption.clone());
                sample.tokens.push(tokens);
            }
            if sample.tokens.is_empty() {
                self.problems
                    .note(format!("{}: no usable caption; skipped", sample.name));
                tally.images.entry(split).or_default().bad += 1;
                continue;
            }
            // Recorded once kept: a name all of whose captions are unusable leaves the photo to
            // its next name.
            if let Some(id) = id {
                files.insert(id, sample.name.clone());
            }
            self.splits.entry(split).or_default().push(sample);
        }
        // Last: every real Flickr8k has 92 such images, less telling than any problem above.
        if let Some(note) = unassigned {
            self.problems.note(note);
        }
        self.check_tally(&tally, options)
    }

    /// The image file of `name`, or `None` with the reason noted (at its first caption's line
    /// when the name itself is bad).
    fn image_file(
        &mut self,
        images_dir: &Path,
        name: &str,
        relative: Option<&Path>,
        captions: &[(String, String)],
    ) -> Option<PathBuf> {
        let path = match image_path(&self.root, images_dir, name, relative) {
            Ok(path) => path,
            Err(problem) => {
                let location = captions.first().map_or("", |(location, _)| location.as_str());
                self.problems.at(location, format!("{name}: {problem}; skipped"));
                return None;
            }
        };
        if let Some(problem) = image_file_problem(&path) {
            self.problems
                .note(format!("{}: {problem}; skipped", shown(&path)));
            return None;
        }
        Some(path)
    }

    /// The caption's tokens, or `None` with the reason it is unusable noted at `location`.
    fn caption_tokens(
        &mut self,
        name: &str,
        location: &str,
        caption: &str,
        options: &LoadOptions,
    ) -> Option<Vec<String>> {
        let problem = if caption.len() > MAX_CAPTION_BYTES {
            // Refused before it is tokenised: a 300 MB line made 150 M tokens.
            format!(
                "caption of {} bytes is over the limit of {}",
                caption.len(),
                caps::human(MAX_CAPTION_BYTES as u64)
            )
        } else {
            let tokens = caption_tokens(caption);
            if tokens.is_empty() {
                "empty caption".to_string()
            } else if tokens.len() > options.max_caption_tokens {
                format!(
                    "caption of {} tokens is over the limit of {}",
                    tokens.len(),
                    options.max_caption_tokens
                )
            } else {
                return Some(tokens);
            }
        };
        self.problems.at(location, format!("{name}: {problem}; skipped"));
        None
    }

    /// Fails when too many captions or images were unusable, or none is left.
    fn check_tally(&self, tally: &Tally, options: &LoadOptions) -> Result<()> {
        let bad_rows = self.problems.bad_rows();
        check_fraction(
            "captions",
            tally.captions_bad + bad_rows,
            tally.captions_seen + bad_rows,
            options,
            &self.problems,
        )?;
        let all = tally.images.values().fold(Seen::default(), |all, split| Seen {
            seen: all.seen + split.seen,
            bad: all.bad + split.bad,
        });
        check_fraction("images", all.bad, all.seen, options, &self.problems)?;
        // And split by split: within the whole's 5%, half of a test split of 10 could be
        // missing, and its scores were then of the 5 left. One image a split may be missing
        // whatever its size (a split of 4 holding one photo twice).
        for (split, images) in tally.images.iter().filter(|(_, images)| images.bad > 1) {
            check_fraction(
                &format!("{} images", split.name()),
                images.bad,
                images.seen,
                options,
                &self.problems,
            )?;
        }
        // Training needs a train split and checks for it; scoring a test-only set needs none.
        if self.splits.values().all(Vec::is_empty) {
            bail!("{}: no split has usable images", shown(&self.root));
        }
        Ok(())
    }

    /// The samples of `split` (empty when the dataset has none).
    pub fn split(&self, split: Split) -> &[Sample] {
        self.splits.get(&split).map(Vec::as_slice).unwrap_or(&[])
    }

    /// One line per split: `train 6000 images, 30000 captions`.
    pub fn summary(&self) -> String {
        self.splits
            .iter()
            .map(|(split, samples)| {
                let captions: usize = samples.iter().map(|s| s.tokens.len()).sum();
                format!("{} {} images, {captions} captions", split.name(), samples.len())
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn check_fraction(
    what: &str,
    bad: usize,
    seen: usize,
    options: &LoadOptions,
    problems: &Problems,
) -> Result<()> {
    if seen > 0 && bad as f64 > options.max_bad_fraction * seen as f64 {
        bail!(
            "{bad} of {seen} {what} are unusable (more than {:.0}%), so this looks like the wrong folder or a broken download. First problems:\n{}",
            options.max_bad_fraction * 100.0,
            problems.first(10).join("\n")
        );
    }
    Ok(())
}

/// What a layout's files give before the samples are assembled.
struct Found {
    layout: DatasetFormat,
    name: String,
    assignments: Assignments,
    table: CaptionTable,
}

/// Reads the captions and splits of whichever layout `root` holds.
fn read_layout(root: &Path, problems: &mut Problems) -> Result<Found> {
    let karpathy_file = karpathy::find(root)?;
    // `exists`, not `is_file`: a captions.txt that is a FIFO or a folder is refused by name when
    // read, rather than mistaken for no dataset at all.
    if root.join("captions.txt").exists() {
        // Each source left unread is said (hostile round 24: a token file's captions, or a
        // Karpathy file's splits, were left out without a word).
        if root.join("Flickr8k.token.txt").exists() {
            problems.note("Flickr8k.token.txt: not read: captions.txt (Kaggle's layout) gives the captions");
        }
        let table = flickr8k::read_kaggle(&root.join("captions.txt"), problems)?;
        let assignments = match flickr8k::read_split_files(root, problems)? {
            Some(assignments) => {
                if let Some(file) = &karpathy_file {
                    problems.note(format!(
                        "{}: its splits not used: the split files Flickr_8k.{{train,dev,test}}Images.txt give them",
                        shown(file)
                    ));
                }
                assignments
            }
            None => match &karpathy_file {
                Some(file) => {
                    problems.note(format!(
                        "{}: its captions not used (its splits are): captions.txt gives them",
                        shown(file)
                    ));
                    karpathy::read(file, problems)?.splits
                }
                None => flickr8k::default_split(table.images()),
            },
        };
        let name = dataset_name(root);
        return Ok(Found {
            layout: DatasetFormat::Kaggle,
            name,
            assignments,
            table,
        });
    }
    if root.join("Flickr8k.token.txt").exists() {
        let table = flickr8k::read_token_file(&root.join("Flickr8k.token.txt"), problems)?;
        let Some(assignments) = flickr8k::read_split_files(root, problems)? else {
            bail!(
                "{}: Flickr8k.token.txt is here but the split files Flickr_8k.{{train,dev,test}}Images.txt are not",
                shown(root)
            );
        };
        if let Some(file) = &karpathy_file {
            problems.note(format!(
                "{}: not read: Flickr8k.token.txt and its split files give the captions and splits",
                shown(file)
            ));
        }
        return Ok(Found {
            layout: DatasetFormat::Flickr8kOriginal,
            name: "Flickr8k".to_string(),
            assignments,
            table,
        });
    }
    let Some(file) = karpathy_file else {
        bail!(
            "{}: no dataset found: expected captions.txt (Kaggle Flickr8k), Flickr8k.token.txt (original Flickr8k) or dataset_*.json (Karpathy splits)",
            shown(root)
        );
    };
    let read = karpathy::read(&file, problems)?;
    Ok(Found {
        layout: DatasetFormat::Karpathy,
        name: read.name,
        assignments: read.splits,
        table: read.captions,
    })
}

/// How many captioned images no split names, the first few named, said as a note (split files
/// of one download beside the captions of another left most of them out without a word; with
/// none named, 8,000 images could not be searched for the few: hostile round 24); `None` when
/// all are named.
fn unassigned_note(table: &CaptionTable, assignments: &Assignments) -> Option<String> {
    let mut unassigned = table.images().filter(|name| !assignments.contains_key(*name));
    let first: Vec<String> = unassigned.by_ref().take(3).map(|name| shown_name(name)).collect();
    let count = first.len() + unassigned.count();
    (count > 0).then(|| {
        format!(
            "{count} of {} captioned images are in no split ({}{}); left out",
            table.images().count(),
            first.join(", "),
            if count > first.len() { ", …" } else { "" }
        )
    })
}

/// An image's name as a note shows it: escaped, and cut past 60 characters.
fn shown_name(name: &str) -> String {
    let cut: String = name.chars().take(60).collect();
    let more = if cut.len() < name.len() { "…" } else { "" };
    format!("{}{more}", shown(Path::new(&cut)))
}

/// Counts over the whole dataset: the unusable fractions and the word budget.
#[derive(Default)]
struct Tally {
    captions_seen: usize,
    captions_bad: usize,
    /// Images listed in each split, and how many of them were unusable.
    images: BTreeMap<Split, Seen>,
    /// Each kept word is a string of its own (about 60 bytes): the words are what bounds a
    /// dataset's memory (1 million captions of 28 one-letter words once took 3.6 GB).
    words: usize,
}

/// How many of something were met, and how many of those were unusable.
#[derive(Default)]
struct Seen {
    seen: usize,
    bad: usize,
}

impl Tally {
    /// Counts a kept caption's words; fails past the word budget.
    fn add_words(&mut self, count: usize, location: &str, options: &LoadOptions) -> Result<()> {
        self.words += count;
        let max_words = options.max_words.min(MAX_WORDS);
        if self.words > max_words {
            bail!(
                "{location}: the captions hold more than {max_words} words; Glimpse reads at most that many"
            );
        }
        Ok(())
    }
}

/// Where the image `name` is: `relative` (a Karpathy `filepath/filename`) under the data folder,
/// else `name` in the images folder. Either must stay inside its folder: a name written in a
/// data file never reaches an absolute path or climbs out with `..`.
fn image_path(
    root: &Path,
    images_dir: &Path,
    name: &str,
    relative: Option<&Path>,
) -> std::result::Result<PathBuf, PathError> {
    match relative {
        Some(relative) => confined(root, relative),
        None => confined(images_dir, Path::new(name)),
    }
}

/// Why the image at `path` cannot be used, if it cannot: missing, or not a regular file.
fn image_file_problem(path: &Path) -> Option<&'static str> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => None,
        Ok(_) => Some("image is not a regular file"),
        Err(_) => Some("image file missing"),
    }
}

/// `Images/` (Kaggle, synth), else `Flicker8k_Dataset/` (the original zip, sic), else the root.
fn images_folder(root: &Path) -> PathBuf {
    for name in [
        "Images",
        "Flicker8k_Dataset",
        "Flickr8k_Dataset",
        "flickr30k_images",
    ] {
        if root.join(name).is_dir() {
            return root.join(name);
        }
    }
    root.to_path_buf()
}

/// A `glimpse synth` set names itself after its seed and size; other Kaggle-layout folders
/// after the folder.
fn dataset_name(root: &Path) -> String {
    match crate::synth::schema::SynthSidecar::read(&root.join("synth.json")) {
        Ok(sidecar) => format!(
            "glimpse synth (seed {}, {} images)",
            sidecar.seed,
            sidecar.images.len()
        ),
        Err(_) => folder_name(root),
    }
}

fn folder_name(root: &Path) -> String {
    let name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if name.is_empty() {
        "dataset".to_string()
    } else {
        name
    }
}

/// coco-caption's tokens of `caption`, with no control character left in them: the PTB lexer
/// keeps Windows-1252's quotes (U+0091, U+0092, C1 controls) inside words as apostrophes
/// (`o\u{91}clock`), and a vocabulary may hold no control character, so a run trained on such
/// a word could be neither resumed nor exported (fuzzing round 43). They become the curly
/// quotes they stand for; any other control character is dropped, as the lexer drops those
/// standing alone.
fn caption_tokens(caption: &str) -> Vec<String> {
    tokenize(caption)
        .into_iter()
        .map(|token| {
            token
                .replace('\u{91}', "\u{2018}")
                .replace('\u{92}', "\u{2019}")
                .replace(char::is_control, "")
        })
        .filter(|token| !token.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::caption_tokens;

    /// Fuzzing round 43's input kept a C1 control inside a word (`o\u{91}image`).
    #[test]
    fn no_token_holds_a_control_character() {
        assert_eq!(
            caption_tokens("A dog at o\u{91}clock near d\u{92}oh \u{85} \u{91}x"),
            ["a", "dog", "at", "o\u{2018}clock", "near", "d\u{2019}oh", "x"]
        );
    }
}
