//! `glimpse synth`: a ShapeWorld-style captioning set in Flickr8k's Kaggle layout.
//!
//! Each image holds 1–3 coloured shapes on a textured, noisy background; five differently
//! phrased captions describe it (a single object, two objects and their spatial relation, a
//! count of identical objects, or three distinct objects). A JSON sidecar (`synth.json`) keeps
//! every object's box, which the attention-grounding metric needs. Output is a pure function of
//! the seed and the image count.

pub mod schema;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use glimpse_files::{StagedFolder, shown, write_replacing};
use image::{Rgb, RgbImage};

use crate::flickr8k::SPLIT_FILES;
use crate::rng::Rng;
use crate::split::Split;
use crate::text::MAX_CAPTIONS;

/// Captions written for each image, differently phrased.
pub const CAPTIONS_PER_IMAGE: usize = 5;

/// The most images a set may have: no more than a dataset can hold captions for (a count past
/// it once panicked or aborted allocating). Sets of more than about 500,000 images also pass
/// the dataset's word budget, which `train` and `eval` refuse when they read them.
pub const MAX_IMAGES: usize = MAX_CAPTIONS / CAPTIONS_PER_IMAGE;

pub use schema::{COLORS, SHAPES, SIZE, SynthImage, SynthObject, SynthSidecar};

const SIZES: [(&str, f64); 2] = [("small", 44.0), ("large", 84.0)];
const BACKGROUNDS: [&str; 4] = ["plain", "striped", "checkered", "dotted"];

/// Writes `images` images into `dir` (created; must be empty or absent). The set is made in a
/// temporary folder inside it and moved up once whole: a set cut short by a full disk or Ctrl-C
/// was left in `dir`, which the next try then refused as not empty (hostile round 13). (Made
/// beside it and renamed, the set could not go into an empty mount point, into a folder whose
/// parent the user cannot write, or into `.`.)
pub fn generate(dir: &Path, images: usize, seed: u64) -> Result<SynthSidecar> {
    if !(1..=MAX_IMAGES).contains(&images) {
        bail!(
            "--images must be from 1 to {MAX_IMAGES} (a dataset holds at most {MAX_CAPTIONS} captions, {CAPTIONS_PER_IMAGE} an image)"
        );
    }
    let made = make_empty_folder(dir)?;
    let written = write_set_into(dir, images, seed);
    if written.is_err() && made {
        // Empty again: the set's temporary folder is gone.
        let _ = fs::remove_dir(dir);
    }
    written
}

/// Creates the folder `dir` where it is missing, and checks that it is empty; says whether it
/// was created.
fn make_empty_folder(dir: &Path) -> Result<bool> {
    // A file or a link to nothing on the way is named (a dangling link said only "Not a
    // directory").
    glimpse_files::check_output_folder(dir, &[])?;
    let made = !dir.exists();
    if made {
        fs::create_dir_all(dir).with_context(|| format!("{}", shown(dir)))?;
    }
    // Checked after making it too: `a/..`, missing before `a` was made, is a folder in use.
    let mut entries = fs::read_dir(dir).with_context(|| {
        format!(
            "{}: cannot list it; the synthetic set needs a new or empty folder",
            shown(dir)
        )
    })?;
    if entries.next().is_some() {
        bail!(
            "{}: folder is not empty; choose a new folder for the synthetic set",
            shown(dir)
        );
    }
    Ok(made)
}

/// Writes the set into a temporary folder in the empty folder `dir`, then moves its files up.
fn write_set_into(dir: &Path, images: usize, seed: u64) -> Result<SynthSidecar> {
    let staged = StagedFolder::beside(&dir.join("synth")).with_context(|| format!("{}", shown(dir)))?;
    let sidecar = write_set(staged.path(), images, seed)
        .with_context(|| format!("writing the synthetic set {}", shown(dir)))?;
    for entry in fs::read_dir(staged.path()).with_context(|| format!("{}", shown(dir)))? {
        let name = entry.with_context(|| format!("{}", shown(dir)))?.file_name();
        fs::rename(staged.path().join(&name), dir.join(&name))
            .with_context(|| format!("{}", shown(&dir.join(&name))))?;
    }
    Ok(sidecar)
}

/// Writes the set's images, captions, split lists and sidecar into the folder `dir`.
fn write_set(dir: &Path, images: usize, seed: u64) -> Result<SynthSidecar> {
    fs::create_dir(dir.join("Images")).with_context(|| format!("{}", shown(dir)))?;
    let mut sidecar = SynthSidecar {
        seed,
        width: SIZE,
        height: SIZE,
        images: Vec::with_capacity(images),
    };
    let mut captions_csv = String::from("image,caption\n");
    for index in 0..images {
        // Each image draws from its own stream: image k is the same whatever the count.
        let mut rng = Rng::derive(seed, index as u64 + 1);
        let file = format!("synth_{index:06}.jpg");
        let (picture, background, objects, captions) = scene(&mut rng);
        let split = match index % 10 {
            8 => Split::Val,
            9 => Split::Test,
            _ => Split::Train,
        };
        let path = dir.join("Images").join(&file);
        let mut jpeg = Vec::new();
        picture.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)?;
        write_replacing(&path, &jpeg)?;
        for caption in &captions {
            writeln!(captions_csv, "{file},{caption}").expect("writing to a String");
        }
        sidecar.images.push(SynthImage {
            file,
            split,
            background,
            objects,
            captions,
        });
    }
    write_replacing(&dir.join("captions.txt"), captions_csv.as_bytes())?;
    for (split, name) in SPLIT_FILES {
        let list: String = sidecar
            .images
            .iter()
            .filter(|i| i.split == split)
            .map(|i| format!("{}\n", i.file))
            .collect();
        write_replacing(&dir.join(name), list.as_bytes())?;
    }
    write_replacing(&dir.join("synth.json"), &serde_json::to_vec_pretty(&sidecar)?)?;
    Ok(sidecar)
}

/// What kind of scene to draw.
enum Scene {
    Single,
    Pair,
    Count(usize),
    Trio,
}

fn scene(rng: &mut Rng) -> (RgbImage, String, Vec<SynthObject>, Vec<String>) {
    let background = *rng.pick(&BACKGROUNDS);
    let mut picture = draw_background(rng, background);
    let kind = match rng.below(10) {
        0..=2 => Scene::Single,
        3..=5 => Scene::Pair,
        6..=7 => Scene::Count(2 + rng.below(2)),
        _ => Scene::Trio,
    };
    let specs: Vec<(usize, usize, usize)> = match kind {
        Scene::Single => vec![(rng.below(4), rng.below(6), rng.below(2))],
        Scene::Pair | Scene::Trio => {
            let n = if matches!(kind, Scene::Pair) { 2 } else { 3 };
            // Distinct (shape, colour) pairs so every object can be named unambiguously.
            let mut specs: Vec<(usize, usize, usize)> = Vec::new();
            while specs.len() < n {
                let spec = (rng.below(4), rng.below(6), if n == 3 { 0 } else { rng.below(2) });
                if !specs.iter().any(|s| s.0 == spec.0 && s.1 == spec.1) {
                    specs.push(spec);
                }
            }
            specs
        }
        Scene::Count(n) => {
            let spec = (rng.below(4), rng.below(6), 0);
            vec![spec; n]
        }
    };
    let objects = place(rng, &specs);
    for object in &objects {
        draw_object(&mut picture, rng, object);
    }
    add_noise(&mut picture, rng);
    let captions = describe(rng, &kind, &objects, background);
    (picture, background.to_string(), objects, captions)
}

/// Places objects without overlap (rejection sampling; the canvas is large enough).
fn place(rng: &mut Rng, specs: &[(usize, usize, usize)]) -> Vec<SynthObject> {
    let mut objects: Vec<SynthObject> = Vec::new();
    for &(shape, color, size) in specs {
        let side = SIZES[size].1 * rng.range(0.9, 1.1);
        let side = side as u32;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let x0 = rng.range(6.0, (SIZE - side - 6) as f64) as u32;
            let y0 = rng.range(6.0, (SIZE - side - 6) as f64) as u32;
            let bbox = [x0, y0, x0 + side, y0 + side];
            let clear = objects.iter().all(|o| {
                bbox[0] >= o.bbox[2] + 8
                    || o.bbox[0] >= bbox[2] + 8
                    || bbox[1] >= o.bbox[3] + 8
                    || o.bbox[1] >= bbox[3] + 8
            });
            if clear || attempt > 500 {
                objects.push(SynthObject {
                    shape: SHAPES[shape].to_string(),
                    color: COLORS[color].0.to_string(),
                    size: SIZES[size].0.to_string(),
                    bbox,
                });
                break;
            }
        }
    }
    objects
}

fn draw_background(rng: &mut Rng, kind: &str) -> RgbImage {
    let base = [rng.range(90.0, 170.0); 3].map(|v| v as i32);
    let tint = [
        rng.range(-25.0, 25.0),
        rng.range(-25.0, 25.0),
        rng.range(-25.0, 25.0),
    ]
    .map(|v| v as i32);
    let period = rng.range(10.0, 28.0);
    let angle = rng.range(0.0, std::f64::consts::PI);
    let (ca, sa) = (angle.cos(), angle.sin());
    RgbImage::from_fn(SIZE, SIZE, |x, y| {
        let (xf, yf) = (x as f64, y as f64);
        let shade = match kind {
            "striped" => {
                if ((xf * ca + yf * sa) / period).floor() as i64 % 2 == 0 {
                    28
                } else {
                    -28
                }
            }
            "checkered" => {
                if ((xf / period).floor() as i64 + (yf / period).floor() as i64) % 2 == 0 {
                    24
                } else {
                    -24
                }
            }
            "dotted" => {
                let (dx, dy) = ((xf % period) - period / 2.0, (yf % period) - period / 2.0);
                if dx * dx + dy * dy < (period / 5.0).powi(2) {
                    40
                } else {
                    0
                }
            }
            _ => 0,
        };
        Rgb(std::array::from_fn(|c| {
            (base[c] + tint[c] + shade).clamp(0, 255) as u8
        }))
    })
}

fn inside(shape: &str, u: f64, v: f64) -> bool {
    // u, v in [-1, 1] over the object's box.
    match shape {
        "circle" => u * u + v * v <= 1.0,
        "square" => u.abs() <= 0.92 && v.abs() <= 0.92,
        "triangle" => (-1.0..=1.0).contains(&v) && u.abs() <= (v + 1.0) / 2.0,
        "diamond" => u.abs() + v.abs() <= 1.0,
        _ => false,
    }
}

fn draw_object(picture: &mut RgbImage, rng: &mut Rng, object: &SynthObject) {
    let rgb = COLORS
        .iter()
        .find(|(name, _)| *name == object.color)
        .map(|c| c.1)
        .unwrap_or([0; 3]);
    let jitter: [i32; 3] = std::array::from_fn(|_| rng.range(-18.0, 18.0) as i32);
    let [x0, y0, x1, y1] = object.bbox;
    let (cx, cy) = ((x0 + x1) as f64 / 2.0, (y0 + y1) as f64 / 2.0);
    let half = (x1 - x0) as f64 / 2.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let (u, v) = ((x as f64 + 0.5 - cx) / half, (y as f64 + 0.5 - cy) / half);
            if inside(&object.shape, u, v) {
                let px = std::array::from_fn(|c| (rgb[c] as i32 + jitter[c]).clamp(0, 255) as u8);
                picture.put_pixel(x, y, Rgb(px));
            }
        }
    }
}

fn add_noise(picture: &mut RgbImage, rng: &mut Rng) {
    let amplitude = rng.range(4.0, 22.0);
    for pixel in picture.pixels_mut() {
        for c in 0..3 {
            let noise = (rng.unit() + rng.unit() - 1.0) * amplitude;
            pixel.0[c] = (pixel.0[c] as f64 + noise).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Where `a` is relative to `b`, in words (image y grows downwards).
fn relation(a: &SynthObject, b: &SynthObject) -> (&'static str, &'static str) {
    let center = |o: &SynthObject| {
        (
            (o.bbox[0] + o.bbox[2]) as f64 / 2.0,
            (o.bbox[1] + o.bbox[3]) as f64 / 2.0,
        )
    };
    let ((ax, ay), (bx, by)) = (center(a), center(b));
    let (dx, dy) = (ax - bx, ay - by);
    if dy.abs() >= dx.abs() {
        if dy < 0.0 {
            ("above", "below")
        } else {
            ("below", "above")
        }
    } else if dx < 0.0 {
        ("to the left of", "to the right of")
    } else {
        ("to the right of", "to the left of")
    }
}

fn plural(shape: &str) -> String {
    format!("{shape}s")
}

fn number(n: usize) -> &'static str {
    ["zero", "one", "two", "three"][n.min(3)]
}

/// [`CAPTIONS_PER_IMAGE`] differently phrased captions, in a random order.
fn describe(rng: &mut Rng, kind: &Scene, objects: &[SynthObject], background: &str) -> Vec<String> {
    let bg = format!("{background} background");
    let mut captions = match kind {
        Scene::Single => {
            let o = &objects[0];
            let (s, c, sh) = (&o.size, &o.color, &o.shape);
            vec![
                format!("a {s} {c} {sh}"),
                format!("a {c} {sh} on a {bg}"),
                format!("there is a {s} {c} {sh}"),
                format!("a single {c} {sh}"),
                format!("one {s} {sh} that is {c}"),
            ]
        }
        Scene::Pair => {
            let (a, b) = (&objects[0], &objects[1]);
            let (rel, inverse) = relation(a, b);
            vec![
                format!(
                    "a {} {} {} {rel} a {} {} {}",
                    a.size, a.color, a.shape, b.size, b.color, b.shape
                ),
                format!("a {} {} {rel} a {} {}", a.color, a.shape, b.color, b.shape),
                format!("a {} {} {inverse} a {} {}", b.color, b.shape, a.color, a.shape),
                format!("there is a {} {} and a {} {}", a.color, a.shape, b.color, b.shape),
                format!(
                    "two shapes : a {} {} {rel} a {} {}",
                    a.color, a.shape, b.color, b.shape
                ),
            ]
        }
        Scene::Count(n) => {
            let o = &objects[0];
            let (num, c, shs) = (number(*n), &o.color, plural(&o.shape));
            vec![
                format!("{num} {c} {shs}"),
                format!("{num} small {c} {shs}"),
                format!("there are {num} {c} {shs}"),
                format!("{num} {shs} that are {c}"),
                format!("a group of {num} {c} {shs} on a {bg}"),
            ]
        }
        Scene::Trio => {
            let name = |o: &SynthObject| format!("a {} {}", o.color, o.shape);
            let (a, b, c) = (name(&objects[0]), name(&objects[1]), name(&objects[2]));
            vec![
                format!("{a} , {b} and {c}"),
                format!("three shapes : {a} , {b} and {c}"),
                format!("{b} , {c} and {a}"),
                format!("there are three shapes including {a}"),
                format!("{c} next to {a} and {b}"),
            ]
        }
    };
    rng.shuffle(&mut captions);
    captions.iter().map(|c| with_articles(c)).collect()
}

/// "a orange" → "an orange".
fn with_articles(caption: &str) -> String {
    let words: Vec<&str> = caption.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let next_vowel = words
            .get(i + 1)
            .is_some_and(|w| w.starts_with(['a', 'e', 'i', 'o', 'u']));
        out.push(if *word == "a" && next_vowel { "an" } else { word });
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_inside_their_boxes_and_distinct() {
        assert!(inside("circle", 0.0, 0.0) && !inside("circle", 0.9, 0.9));
        assert!(inside("triangle", 0.0, 0.9) && !inside("triangle", 0.9, -0.9));
        assert!(inside("diamond", 0.0, 0.0) && !inside("diamond", 0.7, 0.7));
        assert!(inside("square", 0.7, 0.7));
    }

    #[test]
    fn counts_past_what_a_dataset_holds_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("set");
        for images in [0, MAX_IMAGES + 1, usize::MAX] {
            let err = generate(&set, images, 0).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("--images must be from 1 to {MAX_IMAGES} ")),
                "{err}"
            );
            assert!(!set.exists(), "nothing is written for {images}");
        }
    }

    #[test]
    fn articles_agree() {
        assert_eq!(
            with_articles("a orange circle above a red square"),
            "an orange circle above a red square"
        );
    }

    #[test]
    fn relations_follow_the_boxes() {
        let at = |x: u32, y: u32| SynthObject {
            shape: "circle".into(),
            color: "red".into(),
            size: "small".into(),
            bbox: [x, y, x + 40, y + 40],
        };
        assert_eq!(relation(&at(100, 10), &at(100, 150)), ("above", "below"));
        assert_eq!(
            relation(&at(10, 100), &at(150, 100)),
            ("to the left of", "to the right of")
        );
    }

    #[test]
    fn every_scene_has_five_captions_and_boxes_in_the_image() {
        for seed in 0..40 {
            let mut rng = Rng::new(seed);
            let (picture, _, objects, captions) = scene(&mut rng);
            assert_eq!(picture.dimensions(), (SIZE, SIZE));
            assert_eq!(captions.len(), CAPTIONS_PER_IMAGE);
            assert!((1..=3).contains(&objects.len()));
            for o in &objects {
                assert!(o.bbox[2] <= SIZE && o.bbox[3] <= SIZE && o.bbox[0] < o.bbox[2]);
            }
        }
    }
}
