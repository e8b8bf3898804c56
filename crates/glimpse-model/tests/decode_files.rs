//! Decoding files written by PIL: EXIF rotation, CMYK JPEG, animated GIF (first frame), lossy
//! WebP, 16-bit grayscale PNG, compared with what PIL itself decodes (after `exif_transpose`
//! and `convert("RGB")`), quadrant by quadrant.

use std::path::{Path, PathBuf};

use glimpse_model::preprocess::decode_image;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images")
}

/// JPEG and WebP decoders may round differently; a few levels out of 255 is the same picture.
const TOLERANCE: f64 = 4.0;

#[test]
fn decoded_pixels_match_pil() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap()).unwrap();
    for (name, want) in expected.as_object().unwrap() {
        let bytes = std::fs::read(dir().join(name)).unwrap();
        let image = decode_image(&bytes, 1_000_000).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (w, h) = image.dimensions();
        assert_eq!(
            [w as u64, h as u64],
            [
                want["size"][0].as_u64().unwrap(),
                want["size"][1].as_u64().unwrap()
            ],
            "{name}: size"
        );
        let (hw, hh) = (w / 2, h / 2);
        let quadrants = [(0, 0, hw, hh), (hw, 0, w, hh), (0, hh, hw, h), (hw, hh, w, h)];
        for (q, ((x0, y0, x1, y1), want)) in quadrants
            .iter()
            .zip(want["quadrant_means"].as_array().unwrap())
            .enumerate()
        {
            let mut sum = [0f64; 3];
            for y in *y0..*y1 {
                for x in *x0..*x1 {
                    let p = image.get_pixel(x, y);
                    for c in 0..3 {
                        sum[c] += p[c] as f64;
                    }
                }
            }
            let n = ((x1 - x0) * (y1 - y0)) as f64;
            for c in 0..3 {
                let (got, want) = (sum[c] / n, want[c].as_f64().unwrap());
                assert!(
                    (got - want).abs() <= TOLERANCE,
                    "{name}: quadrant {q} channel {c} is {got:.1}, PIL gives {want}"
                );
            }
        }
    }
}

/// GIFs whose first frame does not cover its screen (tests/fixtures/make_gif_fixtures.py):
/// pixel for pixel what PIL makes of each, saved beside it as a PNG.
#[test]
fn gif_first_frames_match_pil() {
    let dir = dir().join("gif");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "gif") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let image =
            decode_image(&std::fs::read(&path).unwrap(), 1_000_000).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pil = decode_image(&std::fs::read(path.with_extension("pil.png")).unwrap(), 1_000_000).unwrap();
        assert_eq!(image.dimensions(), pil.dimensions(), "{name}: size");
        let differing = image.pixels().zip(pil.pixels()).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "{name}: pixels unlike PIL's");
        checked += 1;
    }
    assert_eq!(checked, 9);
}

/// An interlaced first frame of no rows read none, and the blank image was captioned (review
/// 74); PIL refuses it.
#[test]
fn a_gif_frame_of_no_pixels_is_refused() {
    let path = dir().join("../hostile/gif_frame_of_no_rows.gif");
    let err = decode_image(&std::fs::read(path).unwrap(), 1_000_000)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the GIF's first frame is 4×0: it has no pixels"),
        "{err}"
    );
}

/// A 60000×60000 first frame on a 2×2 screen (41 bytes) is refused from its descriptor, as an
/// image of that size, before anything is allocated for it.
#[test]
fn a_gif_frame_far_past_its_screen_is_refused_by_its_size() {
    let path = dir().join("../hostile/gif_frame_far_past_its_screen.gif");
    let err = decode_image(&std::fs::read(path).unwrap(), 50_000_000)
        .unwrap_err()
        .to_string();
    assert!(err.contains("60000×60000"), "{err}");
}
