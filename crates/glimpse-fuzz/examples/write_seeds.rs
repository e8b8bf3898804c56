//! Writes the seed inputs each fuzz target starts from into `DIR/<target>/seed-*`: the
//! repository's real PyTorch files and photos, a tiny bundle, and a small dataset of each
//! layout. `fuzz.sh` starts from them when a target has no `corpus/<target>.zip` yet.
//!
//! `cargo run -p glimpse-fuzz --example write_seeds -- DIR`

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use glimpse_fuzz::Target;
use glimpse_fuzz::corpus::Inputs;
use glimpse_import::FreshDecoder;
use glimpse_model::Vocabulary;
use glimpse_model::bundle::{Bundle, ModelCard, StorageType};
use glimpse_model::config::{EncoderArch, EncoderConfig, PreprocessConfig};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: write_seeds DIR"));
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let seeds: [(Target, Inputs); 6] = [
        (Target::Pth, pth_seeds(&fixtures)),
        (
            Target::Import,
            vec![("notebook".into(), glimpse_fuzz::notebook_pickle())],
        ),
        (Target::Bundle, bundle_seeds()),
        (Target::Image, image_seeds(&fixtures)),
        (Target::Dataset, dataset_seeds()),
        (Target::Caption, caption_seeds(&fixtures)),
    ];
    for (target, inputs) in seeds {
        let dir = out.join(target.name());
        fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in inputs {
            fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}

fn read(path: PathBuf) -> Vec<u8> {
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// PyTorch's own files, both containers.
fn pth_seeds(fixtures: &Path) -> Inputs {
    ["mixed_legacy", "mixed_zip"]
        .into_iter()
        .map(|name| {
            (
                name.to_string(),
                read(fixtures.join(format!("torch/pth/{name}.pth"))),
            )
        })
        .collect()
}

/// A whole model small enough to caption in a fuzzing iteration: ResNet-18 at width 1/32 on
/// 32×32 inputs, a decoder of 4, six words. Stored as F16 and as int8, each whole (mode 0) and
/// as its header (mode 1). Session 43 added the other encoder blocks as headers only (whole,
/// MobileNetV2's 1,280-channel last layer alone is 380 KB, half the packed corpus's budget):
/// MobileNetV2 (inverted residuals, the default model's) stored as F32, ResNet-50
/// (bottlenecks) as F16. No mutation of a ResNet-18 bundle reaches them, since each needs its
/// own tensor table.
fn bundle_seeds() -> Inputs {
    let mut seeds = Vec::new();
    let kinds = [
        ("tiny", EncoderArch::Resnet18, StorageType::F16, true),
        ("tiny-int8", EncoderArch::Resnet18, StorageType::Int8, true),
        (
            "tiny-mobilenet",
            EncoderArch::MobilenetV2,
            StorageType::F32,
            false,
        ),
        ("tiny-resnet50", EncoderArch::Resnet50, StorageType::F16, false),
    ];
    for (name, arch, storage, whole) in kinds {
        let file = tiny_bundle(arch).to_bytes(storage).unwrap();
        let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        if whole {
            seeds.push((name.to_string(), [&[0u8][..], &file].concat()));
        }
        seeds.push((
            format!("{name}-header"),
            [&[1u8][..], &file[8..8 + header_len]].concat(),
        ));
    }
    seeds
}

/// The model of [`bundle_seeds`] with `arch` as its encoder.
fn tiny_bundle(arch: EncoderArch) -> Bundle {
    let words = ["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a", "dog"];
    let vocab = Vocabulary::from_words(words.iter().map(|w| w.to_string()).collect()).unwrap();
    let decoder = FreshDecoder {
        embed_dim: 4,
        attention_dim: 4,
        decoder_dim: 4,
        ..FreshDecoder::default()
    };
    let encoder = EncoderConfig {
        arch,
        width_multiplier: 1.0 / 32.0,
        pooled_grid: Some([2, 2]),
    };
    let preprocess = PreprocessConfig {
        size: [32, 32],
        ..PreprocessConfig::default()
    };
    let config = decoder.model_config(encoder, preprocess, vocab.len());
    let weights = decoder.initial_weights(&config, &Device::flex()).unwrap();
    let card = ModelCard {
        name: "fuzz-seed".into(),
        ..ModelCard::default()
    };
    Bundle {
        config,
        vocab,
        card,
        weights,
    }
}

/// The repository's odd photos (CMYK, 16-bit, EXIF-rotated, animated, a header bomb, a
/// 20000×1 strip), small ones in every format, and browser pixels.
fn image_seeds(fixtures: &Path) -> Inputs {
    let mut seeds = Vec::new();
    for entry in fs::read_dir(fixtures.join("images")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e != "json") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            seeds.push((name, [&[0u8][..], &read(path)].concat()));
        }
    }
    seeds.push((
        "wide.png".into(),
        [&[0u8][..], &read(fixtures.join("hostile/wide_20000x1.png"))].concat(),
    ));
    seeds.extend(cut_jpeg_seeds(&read(fixtures.join("images/restart.jpg"))));
    let photo = RgbImage::from_fn(7, 5, |x, y| Rgb([(x * 36) as u8, (y * 50) as u8, 128]));
    for (name, format) in [
        ("small.png", ImageFormat::Png),
        ("small.jpg", ImageFormat::Jpeg),
        ("small.bmp", ImageFormat::Bmp),
        ("small.gif", ImageFormat::Gif),
    ] {
        let mut bytes = Cursor::new(vec![0u8]);
        bytes.set_position(1);
        DynamicImage::ImageRgb8(photo.clone())
            .write_to(&mut bytes, format)
            .unwrap();
        seeds.push((name.into(), bytes.into_inner()));
    }
    let mut pixels = vec![1u8, 3, 0, 2, 0];
    pixels.extend((0..3 * 2 * 4).map(|i| (i * 21) as u8));
    seeds.push(("rgba-3x2".into(), pixels));
    seeds
}

/// `jpeg` cut at 60% of its bytes and given a new end marker, after a stray byte before its
/// scan, and with its scan's band fields (Ss, Se) swapped: cuts the walk once missed.
fn cut_jpeg_seeds(jpeg: &[u8]) -> Inputs {
    let scan = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let band = scan + 5 + 2 * usize::from(jpeg[scan + 4]);
    let stray = [&jpeg[..scan], &[0xAB], &jpeg[scan..]].concat();
    let mut odd_band = jpeg.to_vec();
    odd_band.swap(band, band + 1);
    let cut = |bytes: &[u8]| [&[0u8][..], &bytes[..bytes.len() * 6 / 10], &[0xFF, 0xD9]].concat();
    vec![
        ("restart_stray_cut.jpg".into(), cut(&stray)),
        ("restart_odd_band_cut.jpg".into(), cut(&odd_band)),
    ]
}

/// One small dataset per layout over images `0.jpg` … `4.jpg` (see the target's docs).
fn dataset_seeds() -> Inputs {
    let splits = "\x000.jpg\n1.jpg\n2.jpg\n\x003.jpg\n\x004.jpg\n";
    let kaggle = format!(
        "\0image,caption\n0.jpg,A dog runs on the grass .\n0.jpg,\"A dog, running\"\n1.jpg,A cat sits\n\
         2.jpg,Two men play football\n3.jpg,A red ball\n4.jpg,A woman 's hat\n{splits}\0{{\"seed\":1,\"images\":[]}}"
    );
    let token = format!(
        "\u{1}0.jpg#0\tA dog runs .\n0.jpg#1\tThe dog is brown\n1.jpg#0\tA cat sits\n2.jpg#0\tTwo men\n\
         3.jpg#0\tA red ball\n4.jpg#0\tA hat\n{splits}"
    );
    let karpathy = "\u{2}{\"dataset\":\"flickr8k\",\"images\":[\
        {\"filename\":\"0.jpg\",\"split\":\"train\",\"sentences\":[{\"raw\":\"A dog runs .\"}]},\
        {\"filename\":\"1.jpg\",\"split\":\"train\",\"sentences\":[{\"raw\":\"A cat\"},{\"raw\":\"A small cat\"}]},\
        {\"filename\":\"2.jpg\",\"filepath\":\"Images\",\"split\":\"restval\",\"sentences\":[{\"raw\":\"Two men\"}]},\
        {\"filename\":\"3.jpg\",\"split\":\"val\",\"sentences\":[{\"raw\":\"A red ball\"}]},\
        {\"filename\":\"4.jpg\",\"split\":\"test\",\"sentences\":[{\"raw\":\"A hat\"}]}]}"
        .to_string();
    let mut seeds = vec![
        ("kaggle".into(), kaggle.into_bytes()),
        ("flickr8k".into(), token.into_bytes()),
        ("karpathy".into(), karpathy.into_bytes()),
    ];
    seeds.extend(later_dataset_seeds(splits));
    seeds
}

/// Session 43's: what the first three left out: a synth sidecar with boxes, Windows line ends
/// and a byte-order mark, quoted Kaggle fields, the default split (no split files), and COCO's
/// Karpathy layout with subfolders and non-ASCII captions. Each loads (the replay test checks).
fn later_dataset_seeds(splits: &str) -> Inputs {
    let object = |shape: &str, bbox: [u32; 4]| {
        format!("{{\"shape\":\"{shape}\",\"color\":\"red\",\"size\":\"small\",\"box\":{bbox:?}}}")
    };
    let synth_images: Vec<String> = (0..5)
        .map(|i| {
            let split = ["train", "train", "train", "val", "test"][i];
            format!(
                "{{\"file\":\"{i}.jpg\",\"split\":\"{split}\",\"background\":\"white\",\"objects\":[{},{}],\
                 \"captions\":[\"a red circle\"]}}",
                object("circle", [0, 0, 10 + i as u32, 20]),
                object("square", [100, 50, 224, 224])
            )
        })
        .collect();
    let synth = format!(
        "\0image,caption\n0.jpg,a red circle\n1.jpg,a red square\n2.jpg,a red circle and a red square\n\
         3.jpg,a red square\n4.jpg,a red circle\n{splits}\0{{\"seed\":7,\"width\":224,\"height\":224,\"images\":[{}]}}",
        synth_images.join(",")
    );
    let windows = format!(
        "\0\u{feff}image,caption\r\n0.jpg,\"A dog \"\"Rex\"\" runs, fast\"\r\n1.jpg,\"A cat, two\"\r\n\
         2.jpg,  spaces  around  \r\n3.jpg,A ball\r\n4.jpg,A hat\r\n\r\n{}",
        splits.replace('\n', "\r\n")
    );
    let token = "\u{1}\u{feff}0.jpg#0\tA dog .\r\n0.jpg#4\tA brown dog\r\n1.jpg#0\tA cat\r\n2.jpg#0\tTwo men\r\n\
                 3.jpg#0\tA ball\r\n4.jpg#0\tA hat\r\n\x000.jpg\r\n1.jpg\r\n\r\n2.jpg\x003.jpg\r\n\x004.jpg";
    let default_split =
        "\0image,caption\n0.jpg,A dog\n1.jpg,A cat\n2.jpg,Two men\n3.jpg,A ball\n4.jpg,A hat\n";
    let coco = "\u{2}{\"dataset\":\"coco\",\"images\":[\
        {\"filepath\":\"Images\",\"filename\":\"0.jpg\",\"split\":\"restval\",\"sentences\":[{\"raw\":\"Un chien court .\",\"tokens\":[\"un\",\"chien\"]}]},\
        {\"filepath\":\"Images\",\"filename\":\"1.jpg\",\"split\":\"train\",\"sentences\":[{\"raw\":\"Ein Hund läuft über die Straße\"}]},\
        {\"filepath\":\"Images\",\"filename\":\"2.jpg\",\"split\":\"train\",\"sentences\":[{\"raw\":\"\\u732b\\u304c\\u5ea7\\u308b\"}]},\
        {\"filepath\":\"Images\",\"filename\":\"3.jpg\",\"split\":\"val\",\"sentences\":[{\"raw\":\"A ball\"},{\"raw\":\"A red ball\"}]},\
        {\"filepath\":\"Images\",\"filename\":\"4.jpg\",\"split\":\"test\",\"sentences\":[{\"raw\":\"A hat\"}]}]}";
    vec![
        ("kaggle-synth".into(), synth.into_bytes()),
        ("kaggle-windows".into(), windows.into_bytes()),
        ("flickr8k-windows".into(), token.as_bytes().to_vec()),
        ("kaggle-default-split".into(), default_split.as_bytes().to_vec()),
        ("karpathy-coco".into(), coco.as_bytes().to_vec()),
    ]
}

/// Pairs of captions (candidate NUL reference) from the tokenizer's fixture: every rule of the
/// jar's lexer, with brackets, quotes, dashes, clitics, numbers, abbreviations, symbols.
fn caption_seeds(fixtures: &Path) -> Inputs {
    let cases: serde_json::Value =
        serde_json::from_slice(&read(fixtures.join("metrics/ptb_tokens.json"))).unwrap();
    let texts: Vec<&str> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    texts
        .chunks(2)
        .take(200)
        .enumerate()
        .map(|(i, pair)| (format!("ptb-{i:03}"), pair.join("\0").into_bytes()))
        .collect()
}
