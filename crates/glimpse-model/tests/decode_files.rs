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
