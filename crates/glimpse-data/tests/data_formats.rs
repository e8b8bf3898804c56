//! Every dataset layout the trainer reads, and every kind of bad data: each problem is reported
//! with its file and line and skipped, or the load fails with a clear message past the
//! threshold.

use std::fs;
use std::path::{Path, PathBuf};

use glimpse_data::{Dataset, DatasetFormat as Layout, LoadOptions, Split};

/// A tiny valid JPEG-or-not does not matter here: image files are only checked for existence
/// when loading (decoding happens when features are computed).
fn touch_images(dir: &Path, names: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for name in names {
        fs::write(dir.join(name), b"jpeg").unwrap();
    }
}

fn names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("img{i}.jpg")).collect()
}

fn write_splits(root: &Path, names: &[String]) {
    let (train, rest) = names.split_at(names.len() - 2);
    fs::write(root.join("Flickr_8k.trainImages.txt"), train.join("\n")).unwrap();
    fs::write(root.join("Flickr_8k.devImages.txt"), &rest[0]).unwrap();
    fs::write(root.join("Flickr_8k.testImages.txt"), &rest[1]).unwrap();
}

/// A Kaggle-layout folder in `root`: `names` as images, `csv` as captions.txt, the original
/// split files.
fn kaggle_folder(root: &Path, names: &[String], csv: &str) {
    touch_images(
        &root.join("Images"),
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    fs::write(root.join("captions.txt"), csv).unwrap();
    write_splits(root, names);
}

#[test]
fn kaggle_layout_with_quotes_commas_and_split_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = names(5);
    touch_images(
        &root.join("Images"),
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut csv = String::from("image,caption\n");
    for name in &names {
        csv.push_str(&format!(
            "{name},A dog runs .\n{name},\"A dog , brown and \"\"happy\"\" .\"\n"
        ));
    }
    fs::write(root.join("captions.txt"), csv).unwrap();
    write_splits(root, &names);
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    assert_eq!(data.layout, Layout::Kaggle);
    assert_eq!(data.split(Split::Train).len(), 3);
    assert_eq!(data.split(Split::Val).len(), 1);
    let sample = &data.split(Split::Train)[0];
    assert_eq!(sample.raw[1], "A dog , brown and \"happy\" .");
    assert_eq!(sample.tokens[1], ["a", "dog", "brown", "and", "happy"]);
    assert!(data.problems.is_empty(), "{:?}", data.problems.kept());
}

/// An original-layout Flickr8k folder in `root`: four images of five captions each in
/// `Flickr8k.token.txt`, then the rows `extra`, and the original split files.
fn token_folder(root: &Path, extra: &str) {
    let names = names(4);
    touch_images(
        &root.join("Flicker8k_Dataset"),
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let token: String = names
        .iter()
        .flat_map(|n| (0..5).map(move |k| format!("{n}#{k}\tA child in a pink dress {k} .\n")))
        .collect();
    fs::write(root.join("Flickr8k.token.txt"), token + extra).unwrap();
    write_splits(root, &names);
}

#[test]
fn caption_and_split_files_left_unread_are_named() {
    // Hostile round 24: a token file beside captions.txt, and a Karpathy file beside the split
    // files, were left out without a word.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = names(5);
    let csv: String = names
        .iter()
        .map(|name| format!("{name},A dog runs .\n"))
        .collect();
    kaggle_folder(root, &names, &format!("image,caption\n{csv}"));
    fs::write(root.join("Flickr8k.token.txt"), "img0.jpg#0\tA zebra .\n").unwrap();
    write_karpathy(root, &[karpathy_entry("img0.jpg", None, "test", "A zebra .")]);
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    assert_eq!(data.layout, Layout::Kaggle);
    let notes = data.problems.kept().join("\n");
    for line in [
        "Flickr8k.token.txt: not read: captions.txt (Kaggle's layout) gives the captions",
        "dataset_flickr8k.json: its splits not used: the split files Flickr_8k.{train,dev,test}Images.txt give them",
    ] {
        assert!(notes.contains(line), "{line} not in:\n{notes}");
    }
}

#[test]
fn original_flickr8k_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    token_folder(root, "");
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    assert_eq!(data.layout, Layout::Flickr8kOriginal);
    assert_eq!(data.split(Split::Train).len(), 2);
    assert_eq!(data.split(Split::Train)[0].tokens.len(), 5);
    assert!(
        data.split(Split::Train)[0]
            .path
            .ends_with("Flicker8k_Dataset/img0.jpg")
    );
}

#[test]
fn karpathy_json_with_restval_and_subfolders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch_images(&root.join("val2014"), &["a.jpg", "b.jpg", "c.jpg", "d.jpg"]);
    let image = |file: &str, split: &str| {
        serde_json::json!({"filename": file, "filepath": "val2014", "split": split,
            "sentences": [{"raw": "A man rides a horse.", "tokens": ["a", "man"]}]})
    };
    let json = serde_json::json!({"dataset": "coco", "images": [
        image("a.jpg", "train"), image("b.jpg", "restval"), image("c.jpg", "val"), image("d.jpg", "test")]});
    // With a byte-order mark, as Windows editors write it: refused as "expected value at line 1
    // column 1" before.
    fs::write(root.join("dataset_coco.json"), format!("\u{feff}{json}")).unwrap();
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    assert_eq!(data.layout, Layout::Karpathy);
    assert_eq!(data.name, "coco");
    assert_eq!(data.split(Split::Train).len(), 2, "restval counts as train");
    assert_eq!(data.split(Split::Test).len(), 1);
    assert_eq!(
        data.split(Split::Val)[0].tokens[0],
        ["a", "man", "rides", "a", "horse"]
    );
}

/// A set with only a test split (what one scores a captioner on) loads; one with no usable
/// image at all does not.
#[test]
fn a_test_only_set_loads_and_an_empty_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch_images(&root.join("val2014"), &["a.jpg", "b.jpg"]);
    let image = |file: &str| {
        serde_json::json!({"filename": file, "filepath": "val2014", "split": "test",
            "sentences": [{"raw": "A man rides a horse.", "tokens": ["a", "man"]}]})
    };
    let json = serde_json::json!({"dataset": "coco", "images": [image("a.jpg"), image("b.jpg")]});
    fs::write(root.join("dataset_coco.json"), json.to_string()).unwrap();
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    assert_eq!(
        (data.split(Split::Train).len(), data.split(Split::Test).len()),
        (0, 2)
    );

    let empty = serde_json::json!({"dataset": "coco", "images": []});
    fs::write(root.join("dataset_coco.json"), empty.to_string()).unwrap();
    let err = Dataset::load(root, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no split has usable images"), "{err}");
}

#[test]
fn bad_rows_are_reported_with_file_and_line_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = names(40);
    let existing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "img7.jpg")
        .collect();
    touch_images(&root.join("Images"), &existing);
    let mut csv = b"image,caption\n".to_vec();
    for name in &names {
        for k in 0..5 {
            csv.extend(format!("{name},a small dog number {k}\n").as_bytes());
        }
    }
    csv.extend(b"img1.jpg a caption without a comma\n"); // line 202
    csv.extend(b"img2.jpg,caf\xe9 not utf-8\n"); // line 203
    csv.extend(b"img3.jpg,  .  \n"); // line 204: empty once tokenised
    csv.extend(format!("img4.jpg,{}\n", "word ".repeat(50)).as_bytes()); // line 205: too long
    csv.extend(b"img5.jpg,\"unterminated quote\n"); // line 206
    fs::write(root.join("captions.txt"), csv).unwrap();
    write_splits(root, &names);
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    let all = data.problems.kept().join("\n");
    let file = root.join("captions.txt").display().to_string();
    for (line, what) in [
        (202, "no comma"),
        (203, "not UTF-8"),
        (204, "empty caption"),
        (205, "over the limit"),
        (206, "closing quote"),
    ] {
        assert!(
            all.contains(&format!("{file}:{line}: ")) && all.contains(what),
            "{line} {what}:\n{all}"
        );
    }
    assert!(all.contains("img7.jpg: image file missing"), "{all}");
    assert_eq!(
        data.problems.bad_rows(),
        3,
        "no comma, not UTF-8, unterminated quote"
    );
    // img7 is gone; every other image kept its five good captions.
    let train = data.split(Split::Train);
    assert!(train.iter().all(|s| s.name != "img7.jpg"));
    assert!(train.iter().all(|s| s.tokens.len() == 5));
}

#[test]
fn too_much_bad_data_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = names(10);
    touch_images(
        &root.join("Images"),
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut csv = String::from("image,caption\n");
    for name in &names {
        csv.push_str(&format!("{name},a dog\n{name} broken row\n"));
    }
    fs::write(root.join("captions.txt"), csv).unwrap();
    write_splits(root, &names);
    let err = Dataset::load(root, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("10 of 20 captions are unusable") && err.contains("wrong folder"),
        "{err}"
    );
    assert!(err.contains("captions.txt:3: no comma"), "{err}");
    // The threshold is the user's to raise.
    let options = LoadOptions {
        max_bad_fraction: 0.6,
        ..LoadOptions::default()
    };
    assert!(Dataset::load(root, &options).is_ok());
}

/// Names the split files list without a caption count as unusable images: split files of one
/// download beside the captions of another loaded the few names they shared, without a word.
#[test]
fn split_names_without_captions_count_toward_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let listed = names(40);
    let captioned = &listed[..36];
    let csv: String = captioned.iter().map(|name| format!("{name},a dog\n")).collect();
    kaggle_folder(root, &listed, &format!("image,caption\n{csv}"));
    let err = Dataset::load(root, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("4 of 40 images are unusable")
            && err.contains("img36.jpg: listed in a split but has no captions; skipped"),
        "{err}"
    );
    // Half of a test split of 10 is over the 5% of that split, though within the whole's; the
    // captioned images no split names are noted.
    let listed = names(100);
    let (train, rest) = listed.split_at(80);
    fs::write(root.join("Flickr_8k.trainImages.txt"), train.join("\n")).unwrap();
    fs::write(root.join("Flickr_8k.devImages.txt"), rest[..10].join("\n")).unwrap();
    fs::write(root.join("Flickr_8k.testImages.txt"), rest[10..].join("\n")).unwrap();
    let unlisted = names(103);
    let captioned = listed[..90].iter().chain(&listed[95..]).chain(&unlisted[100..]);
    let csv: String = captioned.map(|name| format!("{name},a dog\n")).collect();
    fs::write(root.join("captions.txt"), format!("image,caption\n{csv}")).unwrap();
    touch_images(&root.join("Images"), &["img100.jpg", "img101.jpg", "img102.jpg"]);
    touch_images(
        &root.join("Images"),
        &listed.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let err = format!("{:#}", Dataset::load(root, &LoadOptions::default()).unwrap_err());
    assert!(
        err.contains("5 of 10 test images are unusable")
            && err.contains(
                "3 of 98 captioned images are in no split (img100.jpg, img101.jpg, img102.jpg); left out"
            ),
        "{err}"
    );
    write_splits(root, &listed[..40]);

    // One of 40 is within the 5%, and noted.
    let csv: String = listed[..39]
        .iter()
        .map(|name| format!("{name},a dog\n"))
        .collect();
    fs::write(root.join("captions.txt"), format!("image,caption\n{csv}")).unwrap();
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    assert_eq!(data.split(Split::Train).len(), 38);
    assert!(
        data.problems
            .kept()
            .iter()
            .any(|p| p.contains("img39.jpg: listed in a split")),
        "{:?}",
        data.problems.kept()
    );
}

#[test]
fn wrong_folders_and_headers_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Dataset::load(dir.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no dataset found") && err.contains("captions.txt"),
        "{err}"
    );
    fs::write(dir.path().join("captions.txt"), "file,text\na.jpg,x\n").unwrap();
    let err = Dataset::load(dir.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("captions.txt:1") && err.contains("image,caption"),
        "{err}"
    );
    let err = Dataset::load(&dir.path().join("nope"), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no such data folder"), "{err}");
}

#[test]
fn without_split_files_the_split_is_fixed_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = names(200);
    touch_images(
        &root.join("Images"),
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let csv: String = std::iter::once("image,caption\n".to_string())
        .chain(names.iter().map(|n| format!("{n},a dog\n")))
        .collect();
    fs::write(root.join("captions.txt"), csv).unwrap();
    let first = Dataset::load(root, &LoadOptions::default()).unwrap();
    let (train, val, test) = (
        first.split(Split::Train).len(),
        first.split(Split::Val).len(),
        first.split(Split::Test).len(),
    );
    assert_eq!(train + val + test, 200);
    assert!(
        (130..=185).contains(&train) && val >= 8 && test >= 8,
        "{train} {val} {test}"
    );
    let again = Dataset::load(root, &LoadOptions::default()).unwrap();
    let names_of = |d: &Dataset| {
        d.split(Split::Test)
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names_of(&first), names_of(&again));
}

/// `count` photos in `root/Images`; their names.
fn photos(root: &Path, count: usize) -> Vec<String> {
    let good = names(count);
    touch_images(
        &root.join("Images"),
        &good.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    good
}

/// `root/dataset_flickr8k.json` listing `images`.
fn write_karpathy(root: &Path, images: &[serde_json::Value]) {
    let json = serde_json::json!({"dataset": "flickr8k", "images": images});
    fs::write(root.join("dataset_flickr8k.json"), json.to_string()).unwrap();
}

/// One image of a Karpathy JSON file: its name, folder (`filepath`), split and one sentence.
fn karpathy_entry(file: &str, path: Option<&str>, split: &str, raw: &str) -> serde_json::Value {
    let mut image = serde_json::json!({"filename": file, "split": split, "sentences": [{"raw": raw}]});
    if let Some(path) = path {
        image["filepath"] = path.into();
    }
    image
}

/// Karpathy `filepath` / `filename` values that are absolute or climb out with `..` are reported
/// with their entry and skipped, even when the file they name exists.
#[test]
fn karpathy_paths_outside_the_data_folder_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let good = photos(&root, 100);
    touch_images(&dir.path().join("outside"), &["secret.jpg"]);
    let secret = dir.path().join("outside/secret.jpg");
    let entry = |file: &str, path: Option<&str>, split: &str| {
        karpathy_entry(file, path, split, "A man rides a horse.")
    };
    let mut images: Vec<serde_json::Value> = good
        .iter()
        .enumerate()
        .map(|(i, name)| entry(name, None, if i % 10 == 0 { "val" } else { "train" }))
        .collect();
    images.push(entry("secret.jpg", Some("../outside"), "train"));
    images.push(entry(secret.to_str().unwrap(), None, "train"));
    images.push(entry("../outside/secret.jpg", None, "train"));
    write_karpathy(&root, &images);

    let data = Dataset::load(&root, &LoadOptions::default()).unwrap();
    assert_eq!(data.split(Split::Train).len() + data.split(Split::Val).len(), 100);
    assert!(
        data.splits
            .values()
            .flatten()
            .all(|s| s.path.starts_with(&root) && !s.name.contains("secret")),
        "nothing outside the data folder is used"
    );
    assert_eq!(data.problems.bad_rows(), 3);
    let problems = data.problems.kept().join("\n");
    for (index, expected) in [
        (100, "`../outside/secret.jpg` contains `..`"),
        (101, &format!("`{}` is an absolute path", secret.display())),
        (102, "`../outside/secret.jpg` contains `..`"),
    ] {
        let line = format!("dataset_flickr8k.json: images[{index}]: {expected}");
        assert!(problems.contains(&line), "{line} not in:\n{problems}");
    }
}

/// Two Karpathy entries of one file name (two folders' `x.jpg`, or one image listed in two
/// splits) once merged silently: the second is reported and skipped, its captions with it.
#[test]
fn karpathy_entries_sharing_a_file_name_are_reported_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let good = photos(&root, 60);
    touch_images(&root.join("a"), &["x.jpg"]);
    touch_images(&root.join("b"), &["x.jpg"]);
    let mut images: Vec<serde_json::Value> = good
        .iter()
        .map(|name| karpathy_entry(name, None, "train", "A man rides a horse."))
        .collect();
    images.push(karpathy_entry("x.jpg", Some("a"), "test", "A red circle."));
    images.push(karpathy_entry("x.jpg", Some("b"), "test", "A blue square."));
    images.push(karpathy_entry(&good[0], None, "test", "A dog runs."));
    write_karpathy(&root, &images);

    let data = Dataset::load(&root, &LoadOptions::default()).unwrap();
    let test = data.split(Split::Test);
    assert_eq!(test.len(), 1);
    assert!(test[0].path.ends_with("a/x.jpg"));
    assert_eq!(test[0].raw, ["A red circle."]);
    assert_eq!(
        data.split(Split::Train)
            .iter()
            .find(|s| s.name == good[0])
            .unwrap()
            .raw
            .len(),
        1
    );
    let problems = data.problems.kept().join("\n");
    for (index, name) in [(61, "x.jpg"), (62, good[0].as_str())] {
        let line = format!("dataset_flickr8k.json: images[{index}]: a second image named `{name}`; skipped");
        assert!(problems.contains(&line), "{line} not in:\n{problems}");
    }
}

/// One photo under two names (`x.jpg` and `./x.jpg`, or a link to it) was two samples, each split on its own: a test split could hold the train split's
/// photos, and nothing said so. The first name (in name order) keeps the photo; the others are
/// reported and skipped, so no file is in two splits.
#[cfg(unix)]
#[test]
fn one_photo_under_two_names_is_one_sample() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let good = photos(&root, 80);
    std::os::unix::fs::symlink(root.join("Images").join(&good[1]), root.join("Images/link.jpg")).unwrap();
    let aliases = [
        format!("./{}", good[0]),
        format!(".//{}", good[0]),
        "link.jpg".to_string(),
    ];
    // A name whose only caption is unusable (the sample is dropped) leaves the photo to its next
    // name: it once took the photo with it.
    let csv: String = std::iter::once("image,caption\n".to_string())
        .chain(good.iter().chain(&aliases).map(|n| format!("{n},a dog runs\n")))
        .chain(std::iter::once(format!("./{},\u{1}\n", good[3])))
        .collect();
    fs::write(root.join("captions.txt"), csv).unwrap();
    let kaggle = Dataset::load(&root, &LoadOptions::default()).unwrap();
    assert!(
        kaggle
            .splits
            .values()
            .flatten()
            .any(|sample| sample.name == good[3])
    );
    fs::remove_file(root.join("captions.txt")).unwrap();
    let mut images: Vec<serde_json::Value> = good
        .iter()
        .map(|name| karpathy_entry(name, None, "train", "A man rides a horse."))
        .collect();
    images.push(karpathy_entry(
        &format!("./{}", good[0]),
        None,
        "test",
        "A red circle.",
    ));
    // (In another split: two of a split of two would be over its allowance.)
    images.push(karpathy_entry("link.jpg", None, "val", "A blue square."));
    write_karpathy(&root, &images);
    let karpathy = Dataset::load(&root, &LoadOptions::default()).unwrap();

    for (data, skipped) in [(&kaggle, 3), (&karpathy, 2)] {
        let mut files: Vec<PathBuf> = data
            .splits
            .values()
            .flatten()
            .map(|sample| sample.path.canonicalize().unwrap())
            .collect();
        assert_eq!(files.len(), 80, "every photo once");
        files.sort();
        files.dedup();
        assert_eq!(files.len(), 80, "no photo twice");
        let problems = data.problems.kept().join("\n");
        assert_eq!(
            problems.matches("(one photo under two names); skipped").count(),
            skipped,
            "{problems}"
        );
    }
    let problems = kaggle.problems.kept().join("\n");
    let line = format!("./{}: the same file as .//{}", good[0], good[0]);
    assert!(problems.contains(&line), "{line} not in:\n{problems}");
}

/// A skipped Karpathy entry counts as all the captions it drops: 4 entries of 5 captions beside
/// 100 good captions are 20 of 120 unusable (over 5%), where counting each entry once made 4 of
/// 104 and loaded the rest without complaint.
#[test]
fn a_skipped_karpathy_entry_counts_as_every_caption_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let good = photos(&root, 100);
    let mut images: Vec<serde_json::Value> = good
        .iter()
        .map(|name| karpathy_entry(name, None, "train", "A man rides a horse."))
        .collect();
    for k in 0..4 {
        let mut entry = karpathy_entry(&format!("gone{k}.jpg"), None, "nowhere", "A cat.");
        entry["sentences"] = serde_json::Value::Array(vec![serde_json::json!({"raw": "A cat."}); 5]);
        images.push(entry);
    }
    write_karpathy(&root, &images);
    let error = Dataset::load(&root, &LoadOptions::default()).unwrap_err();
    assert!(
        format!("{error:#}").contains("20 of 120 captions are unusable"),
        "{error:#}"
    );
}

/// The same for image names in `captions.txt`: reported with the row's `file:line`, counted and
/// skipped.
#[test]
fn image_names_leaving_the_images_folder_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let good = photos(&root, 100);
    touch_images(&root, &["secret.jpg"]);
    let mut csv = String::from("image,caption\n");
    for name in &good {
        csv.push_str(&format!("{name},A dog runs .\n"));
    }
    csv.push_str("../secret.jpg,A dog runs .\n");
    fs::write(root.join("captions.txt"), csv).unwrap();
    let data = Dataset::load(&root, &LoadOptions::default()).unwrap();
    let problems = data.problems.kept().join("\n");
    assert!(
        problems.contains(
            "captions.txt:102: ../secret.jpg: `../secret.jpg` contains `..`; paths in data files must stay inside the data folder; skipped"
        ),
        "{problems}"
    );
    assert!(data.splits.values().flatten().all(|s| s.name != "../secret.jpg"));
}

/// A captions file that is a FIFO is refused by name at once (reading it would block forever),
/// and control characters in names are escaped in the problems reported.
#[cfg(unix)]
#[test]
fn special_files_are_refused_and_problems_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("Images")).unwrap();
    let fifo = root.join("captions.txt");
    glimpse_files::testing::mkfifo(&fifo);
    let err = Dataset::load(root, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "captions.txt: the dataset file is a named pipe (FIFO), not a regular file; refusing to read it"
        ),
        "{err}"
    );
    fs::remove_file(&fifo).unwrap();

    let good = photos(root, 100);
    let mut csv = String::from("image,caption\n");
    for name in &good {
        csv.push_str(&format!("{name},A dog runs .\n"));
    }
    csv.push_str("evil\u{1b}]0;owned\u{7}.jpg,A dog runs .\n");
    fs::write(root.join("captions.txt"), csv).unwrap();
    let data = Dataset::load(root, &LoadOptions::default()).unwrap();
    let problems = data.problems.kept().join("\n");
    assert!(!problems.contains('\u{1b}'), "{problems}");
    assert!(
        problems.contains("evil\\u{1b}]0;owned\\u{7}.jpg: image file missing; skipped"),
        "{problems}"
    );
}

/// The hostile-input campaign's dataset files, at sizes a test can write: millions of blank
/// lines (each once cost a string and its `file:line`), more bad rows than the problems kept,
/// and a caption line of 1 MB (once tokenised whole before the length check): each problem is
/// counted, the first ones kept, and the long caption is skipped by its size.
#[test]
fn blank_lines_a_huge_caption_and_many_bad_rows_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = names(5);
    let mut csv = String::from("image,caption\n");
    csv.push_str(&"\n".repeat(4_000_000));
    for _ in 0..20 {
        for name in &names {
            csv.push_str(&format!("{name},A dog runs .\n"));
        }
    }
    csv.push_str(&format!("{},{}\n", names[0], "a ".repeat(500_000)));
    csv.push_str(&"no comma here\n".repeat(glimpse_data::problems::MAX_KEPT));
    csv.push_str(&"\n".repeat(4_000_000));
    kaggle_folder(root, &names, &csv);
    let options = LoadOptions {
        max_bad_fraction: 1.0,
        ..LoadOptions::default()
    };
    let data = Dataset::load(root, &options).unwrap();
    let captions: usize = data.split(Split::Train).iter().map(|s| s.raw.len()).sum();
    assert_eq!(captions, 60, "the 1 MB caption is not among them");
    // The bad rows come first (reading), the long caption last (checking captions): past the
    // kept ones, counted.
    let kept = data.problems.kept();
    assert_eq!(kept.len(), glimpse_data::problems::MAX_KEPT);
    assert!(
        kept[0].ends_with(":4000103: no comma between image and caption; skipped"),
        "{}",
        kept[0]
    );
    assert_eq!(data.problems.len(), glimpse_data::problems::MAX_KEPT + 1);
    let mut csv = String::from("image,caption\n");
    for name in &names {
        csv.push_str(&format!("{name},A dog runs .\n"));
    }
    csv.push_str(&format!("{},{}\n", names[0], "a ".repeat(500_000)));
    fs::write(root.join("captions.txt"), csv).unwrap();
    let data = Dataset::load(root, &options).unwrap();
    assert_eq!(data.problems.kept().len(), 1);
    let problem = &data.problems.kept()[0];
    assert!(
        problem.ends_with(":7: img0.jpg: caption of 999999 bytes is over the limit of 64 KiB; skipped"),
        "{problem}"
    );
}

/// Kept words are what a dataset's memory grows with (a 29 MB file of one-letter words once took
/// 3.6 GB): past the budget the load fails, naming where. The tool's budget is
/// `glimpse_data::MAX_WORDS`; a smaller one shows the check at a size a test can write.
#[test]
fn captions_past_the_word_budget_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let names = names(5);
    let csv: String = std::iter::once("image,caption\n".to_string())
        .chain(names.iter().map(|name| format!("{name},a dog runs fast\n")))
        .collect();
    kaggle_folder(root, &names, &csv);
    let options = |max_words| LoadOptions {
        max_words,
        ..LoadOptions::default()
    };
    assert!(Dataset::load(root, &options(20)).is_ok());
    let err = Dataset::load(root, &options(19)).unwrap_err().to_string();
    assert!(err.contains("the captions hold more than 19 words"), "{err}");
}

/// A second `image#N` row (or `image#00`) added a sixth reference to the image without a word.
#[test]
fn a_token_file_row_read_twice_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // The same caption number however it is spelt.
    token_folder(
        root,
        "img0.jpg#0\tA dog .\nimg0.jpg#00\tA cat .\nimg0.jpg#+0\tA cow .\n",
    );
    let options = LoadOptions {
        max_bad_fraction: 0.2, // 3 rows of 23
        ..LoadOptions::default()
    };
    let data = Dataset::load(root, &options).unwrap();
    assert_eq!(data.split(Split::Train)[0].tokens.len(), 5);
    let problems = data.problems.first(10).join("\n");
    for (line, key) in [(21, "img0.jpg#0"), (22, "img0.jpg#00"), (23, "img0.jpg#+0")] {
        let expected =
            format!("Flickr8k.token.txt:{line}: `{key}` is caption 0 of `img0.jpg` again (line 1); skipped");
        assert!(problems.contains(&expected), "{problems}");
    }
}

/// A Karpathy file's `"dataset"` name is printed, kept in every checkpoint and written into the
/// model card: one of 17 KB trained for hours and then could not be exported.
#[test]
fn a_karpathy_dataset_name_past_its_cap_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch_images(root, &["a.jpg"]);
    let json = serde_json::json!({"dataset": "\u{1f}".repeat(17_000), "images": [
        {"filename": "a.jpg", "split": "test", "sentences": [{"raw": "A dog."}]}]});
    fs::write(root.join("dataset_x.json"), json.to_string()).unwrap();
    let err = Dataset::load(root, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dataset_x.json: \"dataset\" is 17000 bytes long (\"\\u{1f}")
            && err.contains("over the limit of 256")
            && err.len() < 1000,
        "{err}"
    );
}

/// Images all of whose captions are unusable count against their split too: two of a test split
/// of 10 are over its 5%, though 2 of 100 captions and images are within the whole's.
#[test]
fn images_without_a_usable_caption_count_against_their_split() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let listed = names(100);
    let csv: String = listed
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{name},{}\n", if i == 90 || i == 91 { "" } else { "a dog" }))
        .collect();
    kaggle_folder(root, &listed, &format!("image,caption\n{csv}"));
    let (train, rest) = listed.split_at(80);
    fs::write(root.join("Flickr_8k.trainImages.txt"), train.join("\n")).unwrap();
    fs::write(root.join("Flickr_8k.devImages.txt"), rest[..10].join("\n")).unwrap();
    fs::write(root.join("Flickr_8k.testImages.txt"), rest[10..].join("\n")).unwrap();
    let err = format!("{:#}", Dataset::load(root, &LoadOptions::default()).unwrap_err());
    assert!(
        err.contains("2 of 10 test images are unusable")
            && err.contains("img90.jpg: no usable caption; skipped"),
        "{err}"
    );
}

/// A name a split file lists twice is said to be listed twice (it read "already in the train
/// split; now in train").
#[test]
fn a_name_listed_twice_in_one_split_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let names = names(40);
    let csv: String = names.iter().map(|name| format!("{name},a dog\n")).collect();
    kaggle_folder(dir.path(), &names, &format!("image,caption\n{csv}"));
    let train = dir.path().join("Flickr_8k.trainImages.txt");
    let listed = fs::read_to_string(&train).unwrap();
    fs::write(&train, format!("{listed}\nimg3.jpg")).unwrap();
    let data = Dataset::load(dir.path(), &LoadOptions::default()).unwrap();
    let problems = data.problems.kept().join("\n");
    assert!(
        problems.contains("img3.jpg is listed twice in the train split"),
        "{problems}"
    );
}

/// Problems quote the file's names, which may be of any length: a name of 100,000 control
/// characters (600,000 bytes escaped) was repeated whole in every message and in the error.
#[test]
fn problems_quoting_huge_names_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = "\u{1f}".repeat(100_000);
    touch_images(&root.join("Images"), &["a.jpg"]);
    fs::write(
        root.join("captions.txt"),
        format!("image,caption\n{name},a dog\n"),
    )
    .unwrap();
    let err = format!("{:#}", Dataset::load(root, &LoadOptions::default()).unwrap_err());
    assert!(
        err.contains("1 of 1 images are unusable") && err.contains("bytes in all)") && err.len() < 2000,
        "{} bytes",
        err.len()
    );
}
