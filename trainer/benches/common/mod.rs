//! What the benchmarks share: the models they time, their synthetic inputs, the timer, and
//! PyTorch's results beside them. Each bench includes this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use glimpse::train::init::is_trainable;
use glimpse::train::step::{Batch, BatchInput, Optimizers, train_step};
use glimpse_data::Rng;
use glimpse_model::config::{EncoderArch, ModelConfig};
use glimpse_model::generate::greedy;
use glimpse_model::params::set_trainable;
use glimpse_model::{CaptionModel, HostTensor, Vocabulary};
use serde_json::Value;

/// Words decoded per caption when timing captioning.
pub const CAPTION_STEPS: usize = 20;
/// The caption vocabulary of the captioning benchmarks (the notebook's order of size).
pub const CAPTION_VOCAB: usize = 5000;
/// Training benchmarks: a 2000-word vocabulary, captions of up to 16 tokens.
pub const TRAIN_VOCAB: usize = 2000;
pub const CAPTION_LEN: usize = 16;
/// The encoders every benchmark times, by torchvision name.
pub const ENCODERS: [(&str, EncoderArch); 2] = [
    ("resnet50", EncoderArch::Resnet50),
    ("mobilenet_v2", EncoderArch::MobilenetV2),
];

/// Where benchmark results go: `target/bench`.
pub fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench")
}

/// PyTorch's rows from `$PYTORCH_RESULTS` or `target/bench/<file>` (none if absent).
pub fn pytorch_rows(file: &str) -> Vec<Value> {
    std::env::var_os("PYTORCH_RESULTS")
        .map(PathBuf::from)
        .or_else(|| Some(out_dir().join(file)))
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The row of `rows` whose fields equal every `(key, value)` of `wanted`; a row without a
/// `batch` field is taken as batch `default_batch` (older result files).
pub fn find_row<'a>(rows: &'a [Value], wanted: &[(&str, Value)], default_batch: u64) -> Option<&'a Value> {
    rows.iter().find(|row| {
        wanted.iter().all(|(key, value)| match row.get(*key) {
            Some(found) => found == value,
            None => *key == "batch" && value.as_u64() == Some(default_batch),
        })
    })
}

/// Median milliseconds of `repeats` runs after `warmups` unmeasured ones.
pub fn median_ms(warmups: usize, repeats: usize, run: &mut dyn FnMut()) -> f64 {
    for _ in 0..warmups {
        run();
    }
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The notebook's model (decoder of embeddings 300, attention 256, LSTM 512, 5000 words) with
/// `arch` as its encoder, random weights, and an end word that never wins, so that every caption
/// decodes exactly [`CAPTION_STEPS`] words.
pub fn caption_model(arch: EncoderArch, device: &Device) -> (CaptionModel, Vocabulary, ModelConfig) {
    let mut config = ModelConfig::notebook(CAPTION_VOCAB);
    config.encoder.arch = arch;
    let mut words: Vec<String> = ["<PAD>", "<SOS>", "<EOS>", "<UNK>"].map(String::from).to_vec();
    words.extend((4..CAPTION_VOCAB).map(|i| format!("w{i}")));
    let vocab = Vocabulary::from_words(words).unwrap();
    device.seed(1);
    let mut model = CaptionModel::new(&config, device).unwrap();
    let mut weights = pollster::block_on(model.weights()).unwrap();
    let bias = weights.get("decoder.fcn.bias").unwrap();
    let mut data = bias.data.clone();
    data[vocab.end as usize] = -1e4;
    weights.insert(
        "decoder.fcn.bias",
        HostTensor::new(bias.shape.clone(), data).unwrap(),
    );
    let model = CaptionModel::from_weights(&config, &weights, device).unwrap();
    (model, vocab, config)
}

/// A fixed, image-like input `[batch, 3, side, side]` in roughly [-1, 1].
pub fn images(batch: usize, side: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..batch * 3 * side * side)
        .map(|i| ((i % 251) as f32 / 125.0) - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, 3, side, side]), device)
}

/// Encoder and [`CAPTION_STEPS`] greedy words for every image of `[B, 3, 224, 224]`, read
/// back every `steps_per_readback` words as `glimpse caption` does on that backend.
pub fn caption_batch(
    (model, vocab, config): &(CaptionModel, Vocabulary, ModelConfig),
    images: Tensor<4>,
    steps_per_readback: usize,
) {
    let batch = images.dims()[0];
    let encoded = model.encode(images);
    let captions = pollster::block_on(greedy(
        model,
        &encoded,
        vocab,
        config.grid(),
        CAPTION_STEPS,
        steps_per_readback,
    ))
    .unwrap();
    assert_eq!(captions.len(), batch);
    assert!(captions.iter().all(|c| c.token_ids.len() == CAPTION_STEPS));
}

/// `batch` random captions of [`CAPTION_LEN`]/2 to [`CAPTION_LEN`] word ids (the first one
/// full length, so every batch has the same padded length).
pub fn random_captions(rng: &mut Rng, batch: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|row| {
            let len = if row == 0 {
                CAPTION_LEN
            } else {
                CAPTION_LEN / 2 + rng.below(CAPTION_LEN / 2 + 1)
            };
            (0..len).map(|_| 4 + rng.below(vocab - 4) as u32).collect()
        })
        .collect()
}

/// A training batch of `captions`: cached encoder features `[B, P, E]` when the encoder is
/// frozen, images `[B, 3, side, side]` when it is fine-tuned.
pub fn train_batch(config: &ModelConfig, fine_tune: bool, captions: &[Vec<u32>], device: &Device) -> Batch {
    let batch = captions.len();
    let input = if fine_tune {
        BatchInput::Images(images(batch, config.preprocess.size[0] as usize, device))
    } else {
        let (positions, dim) = (config.positions(), config.encoder_dim());
        let values: Vec<f32> = (0..batch * positions * dim)
            .map(|i| (i % 97) as f32 / 97.0)
            .collect();
        BatchInput::Features(Tensor::from_data(
            TensorData::new(values, [batch, positions, dim]),
            device,
        ))
    };
    let refs: Vec<&[u32]> = captions.iter().map(Vec::as_slice).collect();
    Batch::new(input, &refs, 0, device)
}

/// Marks what trains: the decoder, and the encoder's last stage when fine-tuning.
pub fn freeze_for(model: &mut CaptionModel, fine_tune: bool) {
    let stages = usize::from(fine_tune);
    set_trainable(model, &|n| is_trainable(n, stages));
}

/// Image–caption pairs per second over `steps` training steps of `batch` pairs, after
/// `warmups` unmeasured ones; the model is created on `device` (an autodiff device) from its seed.
pub fn train_pairs_per_s(
    config: &ModelConfig,
    fine_tune: bool,
    batch: usize,
    (warmups, steps): (usize, usize),
    device: &Device,
) -> f64 {
    let mut rng = Rng::new(0);
    device.seed(1);
    let mut model = CaptionModel::new(config, device).unwrap();
    freeze_for(&mut model, fine_tune);
    let mut optimizers = Optimizers::adam(5.0, fine_tune);
    let captions = random_captions(&mut rng, batch, config.decoder.vocab_size);
    // One batch on the device, reused every step (as PyTorch's benchmark reuses its tensors).
    let pairs = train_batch(config, fine_tune, &captions, device);
    let mut step = |model: CaptionModel| {
        train_step(model, &mut optimizers, pairs.clone(), (4e-4, 1e-4), 1.0)
            .unwrap()
            .0
    };
    for _ in 0..warmups {
        model = step(model);
    }
    let start = Instant::now();
    for _ in 0..steps {
        model = step(model);
    }
    (batch * steps) as f64 / start.elapsed().as_secs_f64()
}

/// The training benchmarks' model: the notebook's decoder with `arch`, a 2000-word vocabulary.
pub fn train_config(arch: EncoderArch) -> ModelConfig {
    let mut config = ModelConfig::notebook(TRAIN_VOCAB);
    config.encoder.arch = arch;
    config
}

/// `Some(x)` as `{x:.digits}`, `None` as `–`.
pub fn cell(value: Option<f64>, digits: usize) -> String {
    value.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// `ours / theirs` as `1.23×`, or `–`.
pub fn ratio_cell(ratio: Option<f64>) -> String {
    ratio.map_or("–".into(), |r| format!("{r:.2}×"))
}
