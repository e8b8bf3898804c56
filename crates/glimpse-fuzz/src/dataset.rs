//! Dataset folders: caption files, split files and a Karpathy JSON, loaded as `glimpse train`
//! and `glimpse eval` load them, beside a folder of images `0.jpg` … `4.jpg`.
//!
//! The first byte chooses the layout: `0` Kaggle Flickr8k (`captions.txt`), `1` the original
//! Flickr8k (`Flickr8k.token.txt`), `2` Karpathy (`dataset_flickr8k.json`). The rest is split
//! at NUL bytes into that file, then the train, dev and test split files, then `synth.json`;
//! only the parts present are written.

use std::fs;
use std::path::Path;

use glimpse_data::dataset::{Dataset, LoadOptions};

use crate::check_refusal;

const IMAGES: usize = 5;
const LAYOUT_FILES: [&str; 3] = ["captions.txt", "Flickr8k.token.txt", "dataset_flickr8k.json"];
const OTHER_FILES: [&str; 4] = [
    "Flickr_8k.trainImages.txt",
    "Flickr_8k.devImages.txt",
    "Flickr_8k.testImages.txt",
    "synth.json",
];

pub fn run(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path().join("data");
    let options = LoadOptions::default();
    match load(data, &root, &options) {
        Some(Ok(dataset)) => check_dataset(&dataset, &root, &options),
        Some(Err(error)) => check_refusal(error),
        None => {}
    }
}

/// The dataset `data` describes, written to `root` and loaded; `None` for an empty input.
pub fn load(data: &[u8], root: &Path, options: &LoadOptions) -> Option<anyhow::Result<Dataset>> {
    let (&layout, rest) = data.split_first()?;
    write_folder(root, layout, rest);
    Some(Dataset::load(root, options))
}

fn write_folder(root: &Path, layout: u8, data: &[u8]) {
    let images = root.join("Images");
    fs::create_dir_all(&images).expect("a temporary folder");
    for i in 0..IMAGES {
        fs::write(images.join(format!("{i}.jpg")), b"").expect("a temporary file");
    }
    let names = std::iter::once(LAYOUT_FILES[usize::from(layout) % LAYOUT_FILES.len()]).chain(OTHER_FILES);
    for (name, part) in names.zip(data.split(|&b| b == 0)) {
        fs::write(root.join(name), part).expect("a temporary file");
    }
}

/// Every sample is an image inside the folder, no image is two samples (in one split or two),
/// and each has at least one caption of 1 to `max_caption_tokens` tokens, none of them holding
/// a control character.
fn check_dataset(dataset: &Dataset, root: &Path, options: &LoadOptions) {
    let root = root.canonicalize().expect("the data folder exists");
    let mut seen = std::collections::HashSet::new();
    for samples in dataset.splits.values() {
        for sample in samples {
            let path = sample.path.canonicalize().expect("a sample's image exists");
            assert!(
                path.starts_with(&root),
                "{} is outside the data folder",
                path.display()
            );
            assert!(seen.insert(path.clone()), "{} is two samples", path.display());
            assert!(
                !sample.tokens.is_empty(),
                "{}: a sample without captions",
                sample.name
            );
            assert_eq!(sample.tokens.len(), sample.raw.len());
            for tokens in &sample.tokens {
                assert!((1..=options.max_caption_tokens).contains(&tokens.len()));
                for token in tokens {
                    assert!(
                        !token.chars().any(char::is_control),
                        "a token with a control character: {token:?}"
                    );
                }
            }
        }
    }
}
