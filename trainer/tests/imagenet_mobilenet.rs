//! Real pretrained weights: torchvision's MobileNetV2 ImageNet file, imported with
//! `glimpse import torch`, with torchvision's classifier head on top of the imported encoder,
//! ranks ImageNet classes on real photos exactly as PyTorch does.
//!
//! The photos and weights come from `tests/setup-assets.sh` (README's test command runs it);
//! PyTorch's answers are in `tests/fixtures/torch/mobilenet_v2_imagenet.json`, made by
//! `make_torch_fixtures.py --imagenet`.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use glimpse_import::{ImportRequest, import, read_checkpoint};
use glimpse_model::encoder::ImageNetHead;
use glimpse_model::generate::read_f32;
use glimpse_model::params::load_params;
use glimpse_model::preprocess::{bytes_to_input, image_to_input};
use glimpse_model::{Captioner, EncoderArch, TensorMap};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn assets() -> PathBuf {
    let dir = std::env::var_os("GLIMPSE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".assets"));
    assert!(
        dir.join("mobilenet_v2-b0353104.pth").exists(),
        "test assets missing in {}: run tests/setup-assets.sh (README's test command does)",
        dir.display()
    );
    dir
}

struct Classifier {
    captioner: Captioner,
    head: ImageNetHead,
    device: Device,
}

impl Classifier {
    fn load() -> Classifier {
        let device = Device::flex();
        let weights = assets().join("mobilenet_v2-b0353104.pth");
        let vocab = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(vocab.path(), r#"["<PAD>", "<SOS>", "<EOS>", "<UNK>", "photo"]"#).unwrap();
        let request = ImportRequest {
            encoder: Some(weights.clone()),
            vocab: Some(vocab.path().to_path_buf()),
            ..ImportRequest::default()
        };
        let imported = import(&request, &device).unwrap();
        assert_eq!(imported.bundle.config.encoder.arch, EncoderArch::MobilenetV2);
        assert!(!imported.bundle.card.decoder_trained);
        let captioner = Captioner::from_bundle(imported.bundle, &device).unwrap();

        // torchvision's classifier.1 from the same file (the import drops it).
        let mut checkpoint = read_checkpoint(&weights).unwrap();
        let prefix = ImageNetHead::torch_name(EncoderArch::MobilenetV2);
        let mut head_weights = TensorMap::new();
        for part in ["weight", "bias"] {
            let tensor = checkpoint.tensors.take(&format!("{prefix}.{part}")).unwrap();
            head_weights.insert(part, tensor);
        }
        let mut head = ImageNetHead::new(1280, 1000, &device);
        load_params(&mut head, &head_weights, &device).unwrap();
        Classifier {
            captioner,
            head,
            device,
        }
    }

    fn logits(&self, input: Vec<f32>) -> Vec<f32> {
        let images = Tensor::<4>::from_data(TensorData::new(input, [1, 3, 224, 224]), &self.device);
        let map = self.captioner.model.encoder.feature_map(images);
        pollster::block_on(read_f32(self.head.forward(map))).unwrap()
    }
}

fn top(logits: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order.truncate(k);
    order
}

fn expected() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/torch/mobilenet_v2_imagenet.json")).unwrap(),
    )
    .unwrap()
}

/// Glimpse's whole pipeline (its own decoding and resizing) against PyTorch's (PIL's): the same
/// five classes in the same order on every photo.
#[test]
fn top5_matches_pytorch_on_real_photos() {
    let classifier = Classifier::load();
    let photos = expected()["photos"].as_array().unwrap().clone();
    assert_eq!(photos.len(), 12);
    for photo in photos {
        let spec = photo["photo"].as_str().unwrap();
        let (source, name) = spec.split_once(':').unwrap();
        let bytes = std::fs::read(assets().join(source).join(name)).unwrap();
        let input = bytes_to_input(&bytes, &classifier.captioner.config.preprocess).unwrap();
        let got = top(&classifier.logits(input), 5);
        let want: Vec<usize> = photo["top10"].as_array().unwrap()[..5]
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got, want, "{spec}: top-5 classes differ from PyTorch's");
    }
}

/// On PyTorch's exact input the logits themselves agree.
#[test]
fn logits_match_pytorch_on_its_exact_input() {
    let classifier = Classifier::load();
    let photo = expected()["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["photo"] == "skimage:chelsea.png")
        .unwrap()
        .clone();
    let png = image::open(repo().join("tests/fixtures/torch/mobilenet_v2_input_chelsea.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(png.dimensions(), (224, 224));
    let logits = classifier.logits(image_to_input(&png, &classifier.captioner.config.preprocess));
    let classes = photo["top10"].as_array().unwrap();
    let values = photo["logits"].as_array().unwrap();
    assert_eq!(
        top(&logits, 10),
        classes
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect::<Vec<_>>()
    );
    for (class, want) in classes.iter().zip(values) {
        let (class, want) = (class.as_u64().unwrap() as usize, want.as_f64().unwrap() as f32);
        assert!(
            (logits[class] - want).abs() < 1e-3,
            "class {class}: {} vs PyTorch {want}",
            logits[class]
        );
    }
}
