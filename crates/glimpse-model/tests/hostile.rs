//! Crafted inputs from issue 14, each refused with its precise message or handled in bounded
//! memory: config numbers that wrapped or switched limits off (classes 1 and 7), images whose
//! shape made the resize allocate gigabytes (class 6), truncated images, NaN and special tokens
//! in captions, terminal escapes in vocabularies, and bundles that must be byte-reproducible.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;

use burn::tensor::Device;
use glimpse_model::bundle::{CARD_KEY, write_safetensors};
use glimpse_model::config::limits;
use glimpse_model::generate::special_token_warning;
use glimpse_model::preprocess::{
    check_dimensions, decode_image, decode_image_checked, image_to_input, resize_rgb, rgba_to_input,
};
use glimpse_model::{
    Bundle, CaptionModel, Captioner, Decoding, EncoderArch, Error, GenerateOptions, HostTensor, ModelCard,
    ModelConfig, PreprocessConfig, StorageType, Vocabulary,
};
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb, RgbImage};

// ---------------------------------------------------------------------------------------------
// Peak heap use of the current thread, to prove memory bounds (tests run on parallel threads).

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn record(grow: usize, shrink: usize) {
    let _ = LIVE.try_with(|live| {
        let now = (live.get() + grow).saturating_sub(shrink);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(layout.size(), 0);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        record(0, layout.size());
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most heap `f` held at once beyond what was live when it started, and its result.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let result = f();
    (PEAK.with(Cell::get) - start, result)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn words(n: usize) -> Vocabulary {
    let mut words: Vec<String> = ["<PAD>", "<SOS>", "<EOS>", "<UNK>"].map(String::from).to_vec();
    words.extend((4..n).map(|i| format!("w{i}")));
    Vocabulary::from_words(words).unwrap()
}

/// A bundle file holding `config` as written (no validation) and no tensors: the loader must
/// refuse the config before it looks at anything else.
fn bundle_with(config: &ModelConfig) -> Vec<u8> {
    write_safetensors(
        "a crafted bundle",
        &[],
        config,
        &words(5),
        [(CARD_KEY, "{}".to_string())],
    )
    .unwrap()
}

fn load_error(config: &ModelConfig) -> String {
    Bundle::from_bytes(&bundle_with(config)).unwrap_err().to_string()
}

fn config_error(message: &str) -> String {
    format!("bundle metadata `glimpse.config`: model config: {message}")
}

fn small_config() -> ModelConfig {
    let mut config = ModelConfig::notebook(8);
    config.encoder.arch = EncoderArch::Resnet18;
    config.encoder.width_multiplier = 0.125;
    config.preprocess.size = [64, 64];
    config.attention.dim = 8;
    config.decoder.embed_dim = 6;
    config.decoder.decoder_dim = 10;
    config
}

/// A small random model whose output layer is `weight` (every value) and `bias`.
fn captioner_with_output(weight: f32, bias: &[f32]) -> (Captioner, ModelConfig) {
    let config = small_config();
    let device = Device::flex();
    device.seed(5);
    let mut weights = pollster::block_on(CaptionModel::new(&config, &device).unwrap().weights()).unwrap();
    weights.insert(
        "decoder.fcn.weight",
        HostTensor::new(vec![8, 10], vec![weight; 80]).unwrap(),
    );
    weights.insert(
        "decoder.fcn.bias",
        HostTensor::new(vec![8], bias.to_vec()).unwrap(),
    );
    let bundle = Bundle {
        config: config.clone(),
        vocab: words(8),
        card: ModelCard::default(),
        weights,
    };
    (Captioner::from_bundle(bundle, &device).unwrap(), config)
}

fn caption_error(captioner: &Captioner, input: Vec<f32>, decoding: Decoding) -> Error {
    let options = GenerateOptions { decoding, max_len: 4 };
    pollster::block_on(captioner.caption_inputs(&[input], options)).unwrap_err()
}

fn png(image: DynamicImage) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png).unwrap();
    bytes.into_inner()
}

// ---------------------------------------------------------------------------------------------
// Class 1: config numbers that wrapped.

#[test]
fn a_pooled_grid_whose_product_wraps_is_refused_before_anything_is_built() {
    let mut config = small_config();
    config.encoder.pooled_grid = Some([4_294_967_296, 4_294_967_296]);
    let message = "encoder.pooled_grid [4294967296, 4294967296] must be within 1..=64 per side and \
                   at most 4096 cells";
    assert_eq!(load_error(&config), config_error(message));
    // Building a model from it directly (as `import --grid` and training do) is refused too.
    let err = CaptionModel::new(&config, &Device::flex()).unwrap_err();
    assert_eq!(err.to_string(), format!("model config: {message}"));

    for grid in [[65, 1], [64, 65], [0, 14]] {
        config.encoder.pooled_grid = Some(grid);
        assert!(load_error(&config).contains("encoder.pooled_grid"), "{grid:?}");
    }
    config.encoder.pooled_grid = Some([64, 64]);
    config.validate().unwrap();
}

#[test]
fn layer_sizes_whose_matrices_would_not_fit_are_refused_naming_the_matrix() {
    let mut config = small_config();
    config.decoder.vocab_size = limits::MAX_VOCAB_SIZE;
    config.decoder.embed_dim = limits::MAX_LAYER_DIM;
    assert_eq!(
        load_error(&config),
        config_error(
            "the embedding (decoder.vocab_size × decoder.embed_dim) would be a 1000000×8192 \
             matrix, over the limit of 134217728 elements"
        )
    );
    let mut config = small_config();
    config.decoder.vocab_size = limits::MAX_VOCAB_SIZE + 1;
    assert!(load_error(&config).contains("decoder.vocab_size 1000001 must be within 4..=1000000"));
    let mut config = small_config();
    config.attention.dim = 1 << 40;
    assert_eq!(
        load_error(&config),
        config_error("attention.dim 1099511627776 must be within 1..=8192")
    );
    // All layers at their cap: each matrix fits, but not all of them together.
    let mut config = small_config();
    config.encoder.arch = EncoderArch::Resnet50;
    config.encoder.width_multiplier = 1.0;
    config.decoder.vocab_size = 16_000;
    (
        config.attention.dim,
        config.decoder.embed_dim,
        config.decoder.decoder_dim,
    ) = (8192, 8192, 2048);
    assert!(
        load_error(&config).contains("over the limit of 268435456"),
        "{}",
        load_error(&config)
    );
}

#[test]
fn real_model_shapes_are_within_every_cap() {
    // sgrvinod's ResNet-101 at 14×14 and 256 px, and the same with ResNet-152, a 30k vocabulary
    // and layers of 1024; the notebook's ResNet-50 with MobileNetV2's widest torchvision width.
    let mut big = ModelConfig::sgrvinod(30_000);
    big.encoder.arch = EncoderArch::Resnet152;
    (big.attention.dim, big.decoder.embed_dim, big.decoder.decoder_dim) = (1024, 1024, 1024);
    let mut mobilenet = ModelConfig::notebook(10_000);
    mobilenet.encoder.arch = EncoderArch::MobilenetV2;
    mobilenet.encoder.width_multiplier = 1.4;
    for config in [
        ModelConfig::sgrvinod(9490),
        big,
        ModelConfig::notebook(10_000),
        mobilenet,
    ] {
        config.validate().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Class 7: limits a file could switch off.

#[test]
fn a_bundle_cannot_raise_the_pixel_budget_or_the_input_size() {
    let mut config = small_config();
    config.preprocess.max_pixels = u64::MAX;
    assert_eq!(
        load_error(&config),
        config_error(
            "preprocess.max_pixels 18446744073709551615 must be within 1..=50000000 (a bundle \
             may lower the tool's pixel budget, not raise it)"
        )
    );
    let mut config = small_config();
    config.preprocess.size = [4096, 4096];
    assert_eq!(
        load_error(&config),
        config_error("preprocess.size [4096, 4096] must be within 32..=1024 on each side")
    );
    config.preprocess.max_pixels = 1000;
    config.preprocess.size = [1024, 32];
    config.validate().unwrap();
}

#[test]
fn a_vanishing_std_or_a_huge_mean_is_refused() {
    let mut config = small_config();
    config.preprocess.std[1] = 1e-45;
    assert_eq!(
        load_error(&config),
        config_error(
            "preprocess.std[1] 1e-45 must be finite and at least 0.001 (dividing by less turns \
             pixels into infinities)"
        )
    );
    let mut config = small_config();
    config.preprocess.mean[2] = 1e30;
    assert_eq!(
        load_error(&config),
        config_error("preprocess.mean[2] 1e30 must be finite and within ±1000")
    );
    let mut config = small_config();
    config.encoder.width_multiplier = 64.0;
    assert_eq!(
        load_error(&config),
        config_error("encoder.width_multiplier 64 must be in (0, 2]")
    );
}

#[test]
fn non_finite_model_output_is_an_error_not_a_caption_of_pad() {
    let mut bias = vec![0.0; 8];
    let (captioner, config) = captioner_with_output(0.0, &bias);
    let [h, w] = config.preprocess.size;
    let plane = 3 * h as usize * w as usize;
    // A NaN input reaches the encoder output and then every word's log-probability.
    match caption_error(&captioner, vec![f32::NAN; plane], Decoding::Greedy) {
        Error::NonFiniteOutput {
            what: "word log-probabilities",
            step: 1,
            value,
        } => assert!(!value.is_finite()),
        other => panic!("{other}"),
    }
    // Finite but extreme weights: the logits' spread overflows f32.
    (bias[4], bias[5]) = (3.0e38, -3.0e38);
    let (captioner, _) = captioner_with_output(0.0, &bias);
    for decoding in [Decoding::Greedy, Decoding::from_beam(3, 0.0).unwrap()] {
        let err = caption_error(&captioner, vec![0.5; plane], decoding);
        assert_eq!(
            err.to_string(),
            "the model computed a non-finite value (-inf) among its word log-probabilities at \
             step 1: its weights, config or input are broken",
            "{decoding:?}"
        );
    }
}

#[test]
fn pad_and_start_tokens_in_a_caption_get_a_warning_unk_is_a_word() {
    let plane = 3 * 64 * 64;
    let options = |decoding| GenerateOptions { decoding, max_len: 3 };
    for (id, token) in [(0, "<PAD>"), (1, "<SOS>")] {
        let mut bias = vec![0.0; 8];
        bias[id] = 50.0;
        let (captioner, _) = captioner_with_output(0.0, &bias);
        for decoding in [Decoding::Greedy, Decoding::from_beam(2, 0.0).unwrap()] {
            let inputs = [vec![0.5; plane], vec![0.25; plane]];
            let captions = pollster::block_on(captioner.caption_inputs(&inputs, options(decoding))).unwrap();
            assert_eq!(captions[1].text(), [token; 3].join(" "));
            assert_eq!(
                special_token_warning(&captions[1], &captioner.vocab).as_deref(),
                Some(
                    format!(
                        "the model generated {token} as word 1, which a trained model never \
                         does: its weights are untrained or damaged"
                    )
                    .as_str()
                ),
                "{decoding:?}"
            );
        }
    }
    let mut bias = vec![0.0; 8];
    bias[3] = 50.0;
    let (captioner, _) = captioner_with_output(0.0, &bias);
    let caption =
        pollster::block_on(captioner.caption_inputs(&[vec![0.5; plane]], options(Decoding::Greedy))).unwrap();
    assert_eq!(caption[0].text(), "<UNK> <UNK> <UNK>");
    assert_eq!(special_token_warning(&caption[0], &captioner.vocab), None);
    assert_eq!(captioner.caption_warning(None, &caption), None);
    assert_eq!(
        captioner
            .caption_warning(Some("cut short".into()), &caption)
            .as_deref(),
        Some("cut short")
    );
    // Every beam is shown with `--all-beams` and in the page: only the best one was checked.
    let mut beams = vec![caption[0].clone(); 4];
    beams[1].token_ids[1] = captioner.vocab.start;
    beams[3].token_ids[2] = captioner.vocab.pad.unwrap();
    assert_eq!(
        captioner.caption_warning(None, &beams).as_deref(),
        Some("beam(s) 2, 4 of 4 hold a start or padding token, which a trained model never generates")
    );
}

#[test]
fn a_damaged_photo_and_a_start_token_give_one_warning_saying_both() {
    let mut bias = vec![0.0; 8];
    bias[1] = 50.0;
    let (captioner, _) = captioner_with_output(0.0, &bias);
    let options = GenerateOptions {
        decoding: Decoding::Greedy,
        max_len: 2,
    };
    let caption = pollster::block_on(captioner.caption_inputs(&[vec![0.5; 3 * 64 * 64]], options)).unwrap();
    assert_eq!(
        captioner
            .caption_warning(Some("the file is truncated".into()), &caption)
            .as_deref(),
        Some(
            "the file is truncated; the model generated <SOS> as word 1, which a trained model \
             never does: its weights are untrained or damaged"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Class 6: images whose shape made resizing allocate gigabytes.

#[test]
fn extreme_aspect_ratios_are_refused_before_decoding() {
    // 4,000,000×1 pixels in a few kilobytes: image's resize wanted 4,000,000 × 224 × 16 bytes.
    let wide = png(DynamicImage::ImageLuma8(ImageBuffer::from_pixel(
        4_000_000,
        1,
        Luma([7u8]),
    )));
    assert!(wide.len() < 100_000, "{}", wide.len());
    let err = decode_image(&wide, 50_000_000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "image is 4000000×1: its longer side is more than 64 times its shorter one (not decoded; \
         crop it first)"
    );
    let tall = include_bytes!("../../../tests/fixtures/hostile/wide_20000x1.png");
    assert!(matches!(
        decode_image(tall, 50_000_000),
        Err(Error::AspectRatio {
            width: 20000,
            height: 1,
            limit: 64
        })
    ));
    // The browser's decoded pixels are held to the same rule.
    let config = PreprocessConfig::default();
    let err = rgba_to_input(1, 20000, &vec![0; 80000], &config).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AspectRatio {
                width: 1,
                height: 20000,
                ..
            }
        ),
        "{err}"
    );
    // 64:1 is still a photo.
    assert_eq!(check_dimensions(6400, 100, 50_000_000).unwrap(), 640_000);
    assert!(check_dimensions(6401, 100, 50_000_000).is_err());
}

#[test]
fn resizing_uses_memory_in_proportion_to_the_output_and_one_input_row() {
    // A 20000×1 strip, resized directly (the aspect check is the decoder's): image's own
    // resize holds 20000 × 224 × 16 bytes = 72 MB in between; this one a row of 240 kB.
    let strip = RgbImage::from_fn(20_000, 1, |x, _| Rgb([(x % 251) as u8, 3, 200]));
    let (peak, resized) = peak_heap(|| resize_rgb(&strip, 224, 224));
    assert_eq!(resized.dimensions(), (224, 224));
    assert!(peak < 2_000_000, "the resize held {peak} bytes at once");
    let config = PreprocessConfig::default();
    let (peak, input) = peak_heap(|| image_to_input(&strip, &config));
    assert_eq!(input.len(), 3 * 224 * 224);
    assert!(peak < 3_000_000, "preprocessing held {peak} bytes at once");
}

// ---------------------------------------------------------------------------------------------
// Truncated images.

#[test]
fn a_png_cut_short_is_an_error_saying_so() {
    let image = RgbImage::from_fn(64, 64, |x, y| Rgb([x as u8 * 4, y as u8 * 4, 9]));
    let bytes = png(DynamicImage::ImageRgb8(image));
    let err = decode_image(&bytes[..bytes.len() / 2], 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("image: corrupt Png data"), "{err}");
}

#[test]
fn a_jpeg_cut_in_half_is_decoded_with_a_warning_even_with_a_new_end_marker() {
    // Large and busy enough that half the file is scan data, past the headers.
    let image = RgbImage::from_fn(320, 240, |x, y| {
        Rgb([(x * y % 251) as u8, (x * 7) as u8, (y * 3) as u8])
    });
    let mut bytes = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image)
        .write_to(&mut bytes, ImageFormat::Jpeg)
        .unwrap();
    let bytes = bytes.into_inner();
    let whole = decode_image_checked(&bytes, 1 << 20).unwrap();
    assert_eq!(whole.warning, None);
    let half = &bytes[..bytes.len() / 2];
    // Cut the same way and given a new end-of-image marker, so that only the data shows it.
    let half_ended = [half, &[0xFF, 0xD9][..]].concat();
    for cut in [half, &half_ended[..]] {
        let decoded = decode_image_checked(cut, 1 << 20).unwrap();
        assert_eq!(decoded.image.dimensions(), (320, 240));
        assert_eq!(
            decoded.warning.as_deref(),
            Some(
                "the JPEG's image data stops before the image does (the file is truncated or \
                 damaged): the missing part was filled in, so the caption describes a partly \
                 invented image"
            )
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Class 10 (part): terminal escapes in vocabularies, byte-reproducible bundles.

#[test]
fn vocabulary_words_with_control_characters_are_refused_by_index() {
    let json = r#"["<PAD>", "<SOS>", "<EOS>", "<UNK>", "\u001b]0;pwned\u0007"]"#;
    let err = Vocabulary::from_json(json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "vocabulary: word 4 (\"\\u{1b}]0;pwned\\u{7}\") contains the control character U+001B; \
         words are printed on terminals, where control characters act as commands or reorder the text"
    );
    let err = Vocabulary::from_json(r#"{"<SOS>": 0, "<EOS>": 1, "a\u0085b": 2}"#).unwrap_err();
    assert!(
        err.to_string().contains("word 2") && err.to_string().contains("U+0085"),
        "{err}"
    );
    // Other non-ASCII words are words.
    Vocabulary::from_json(r#"["<SOS>", "<EOS>", "café", "日本"]"#).unwrap();
}

#[test]
fn overlong_words_are_refused_and_quoted_in_part() {
    let mut words: Vec<String> = ["<PAD>", "<SOS>", "<EOS>", "<UNK>"].map(String::from).into();
    words.push("a".repeat(limits::MAX_WORD_BYTES));
    Vocabulary::from_words(words.clone()).unwrap();
    words[4].push('b');
    let err = Vocabulary::from_words(words).unwrap_err().to_string();
    assert!(
        err.contains("word 4") && err.contains("longer than 256 bytes") && err.contains("(257 bytes in all)"),
        "{err}"
    );
    assert!(err.len() < 300, "{} bytes: {err}", err.len());
    // Words not yet checked are quoted in part too: a word map's id that is not a number.
    let huge = "x".repeat(1 << 20);
    let err = Vocabulary::from_json(&format!(r#"{{"{huge}": [1, 2]}}"#))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is an array, not an id") && err.len() < 300,
        "{} bytes",
        err.len()
    );
}

/// `bundle`'s file with its header's metadata entry `key` replaced by `value`.
fn with_metadata(bundle: &Bundle, key: &str, value: String) -> Vec<u8> {
    let bytes = bundle.to_bytes(StorageType::F32).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"][key] = value.into();
    let header = header.to_string().into_bytes();
    [&(header.len() as u64).to_le_bytes()[..], &header, &bytes[8 + n..]].concat()
}

#[test]
fn card_text_past_its_caps_is_refused_by_field_and_quoted_in_part() {
    let bundle = tiny_bundle();
    let mut card = bundle.card.clone();
    card.description = "d".repeat(glimpse_model::bundle::MAX_CARD_TEXT_BYTES + 1);
    let err = Bundle::from_bytes(&with_metadata(
        &bundle,
        CARD_KEY,
        serde_json::to_string(&card).unwrap(),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`glimpse.card.description`: 16385 bytes, over the limit of 16384"),
        "{err}"
    );
    assert!(err.len() < 300, "{} bytes", err.len());
    // Writing one is refused the same way: no bundle a reader would refuse is written.
    let mut long = bundle.clone();
    long.card.metrics = (0..65).map(|i| (format!("m{i}"), 0.5)).collect();
    let err = long.to_bytes(StorageType::F32).unwrap_err().to_string();
    assert!(err.contains("65 metrics, over the limit of 64"), "{err}");
    // A parser's message that quotes the file is cut short.
    let bad_card = format!(r#"{{"epochs": "{}"}}"#, "9".repeat(100_000));
    let err = Bundle::from_bytes(&with_metadata(&bundle, CARD_KEY, bad_card))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`glimpse.card`") && err.contains("bytes in all") && err.len() < 400,
        "{} bytes",
        err.len()
    );
}

#[test]
fn an_overlong_tensor_name_is_refused_and_quoted_in_part() {
    let bundle = tiny_bundle();
    let mut long = bundle.clone();
    let name = format!("decoder.{}", "n".repeat(limits::MAX_TENSOR_NAME_BYTES));
    long.weights
        .insert(&name, HostTensor::new(vec![1], vec![0.5]).unwrap());
    let err = Bundle::from_bytes(&long.to_bytes(StorageType::F32).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a tensor name is 264 bytes long") && err.contains("over the limit of 256"),
        "{err}"
    );
    assert!(err.len() < 300, "{} bytes", err.len());
}

fn tiny_bundle() -> Bundle {
    let mut weights = glimpse_model::TensorMap::new();
    for (name, rows) in [
        ("decoder.embedding.weight", 5),
        ("decoder.fcn.weight", 5),
        ("decoder.attention.U.weight", 3),
    ] {
        let data = (0..rows * 2).map(|i| i as f32 * 0.5).collect();
        weights.insert(name, HostTensor::new(vec![rows, 2], data).unwrap());
    }
    Bundle {
        config: ModelConfig::notebook(5),
        vocab: words(5),
        card: ModelCard {
            name: "tiny".into(),
            metrics: [("CIDEr".to_string(), 0.5), ("Bleu_4".to_string(), 0.25)].into(),
            created: "2026-01-01".into(),
            ..ModelCard::default()
        },
        weights,
    }
}

#[test]
fn bundles_are_byte_reproducible_and_round_trip() {
    let bundle = tiny_bundle();
    for storage in [StorageType::F32, StorageType::F16] {
        let first = bundle.to_bytes(storage).unwrap();
        for _ in 0..8 {
            assert_eq!(bundle.to_bytes(storage).unwrap(), first, "{storage:?}");
        }
        assert_eq!(Bundle::from_bytes(&first).unwrap(), bundle, "{storage:?}");
        // The header: 8-byte aligned, metadata keys sorted, tensors in the crate's order.
        let n = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let header = std::str::from_utf8(&first[8..8 + n]).unwrap();
        let keys = ["format", "glimpse.card", "glimpse.config", "glimpse.vocab"];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| header.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{header}");
        let tensors = [
            "decoder.attention.U.weight",
            "decoder.embedding.weight",
            "decoder.fcn.weight",
        ];
        let at: Vec<usize> = tensors
            .iter()
            .map(|k| header.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{header}");
    }
}

#[test]
fn the_header_is_the_one_the_safetensors_crate_writes_up_to_metadata_order() {
    let bundle = tiny_bundle();
    let ours = bundle.to_bytes(StorageType::F32).unwrap();
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&ours).unwrap();
    let entries = metadata.metadata().clone().unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&ours).unwrap();
    let theirs = safetensors::serialize(tensors.tensors(), Some(entries)).unwrap();
    assert_eq!(ours.len(), theirs.len());
    let header = |bytes: &[u8]| {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        (
            serde_json::from_slice::<serde_json::Value>(&bytes[8..8 + n]).unwrap(),
            bytes[8 + n..].to_vec(),
        )
    };
    assert_eq!(header(&ours), header(&theirs));
}

/// `bundle`'s F32 file with `edit` applied to its header's JSON and `extra` bytes of data
/// appended.
fn with_header(bundle: &Bundle, edit: impl FnOnce(&mut serde_json::Value, usize), extra: usize) -> Vec<u8> {
    let bytes = bundle.to_bytes(StorageType::F32).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header, bytes.len() - 8 - n);
    let header = header.to_string().into_bytes();
    let data = [&bytes[8 + n..], &vec![0u8; extra][..]].concat();
    [&(header.len() as u64).to_le_bytes()[..], &header, &data].concat()
}

/// A header may list a tensor of a million dimensions (one value, 2 MB of `1, `), a name or a
/// dtype of a megabyte, or configs, cards and vocabularies whose JSON trees take many times
/// their text: each is refused from a short message, before its claims are built.
#[test]
fn header_claims_are_refused_with_short_messages_before_they_are_built() {
    let bundle = tiny_bundle();
    let load = |bytes: Vec<u8>| Bundle::from_bytes(&bytes).unwrap_err().to_string();
    let ranked = with_header(
        &bundle,
        |header, end| {
            header["x"] = serde_json::json!({"dtype": "F32", "shape": vec![1; 1_000_000],
            "data_offsets": [end, end + 4]})
        },
        4,
    );
    let err = load(ranked);
    assert!(
        err.contains("tensor `x` has 1000000 dimensions; a model's tensors have at most 4"),
        "{}",
        &err[..err.len().min(500)]
    );
    let long = "a".repeat(1 << 20);
    let named = with_header(
        &bundle,
        |header, end| {
            header[&long] = serde_json::json!({"dtype": "F32", "shape": [1],
            "data_offsets": [end + 4, end + 8]})
        },
        8,
    );
    let typed = with_header(
        &bundle,
        |header, end| {
            header["x"] = serde_json::json!({"dtype": long, "shape": [1],
            "data_offsets": [end, end + 4]})
        },
        4,
    );
    // What the safetensors crate held whole before reading it: a field it ignores, or a
    // million tensors.
    let padded = with_header(
        &bundle,
        |header, end| {
            header["x"] = serde_json::json!({"dtype": "F32", "shape": [1],
            "data_offsets": [end, end + 4], "junk": vec![0; 3_000_000]})
        },
        4,
    );
    let many = with_header(
        &bundle,
        |header, end| {
            for i in 0..70_000 {
                header[format!("t{i}")] = serde_json::json!({"dtype": "U8", "shape": [0],
                    "data_offsets": [end, end]});
            }
        },
        0,
    );
    // Each field of its type: a dtype, shape or offsets of millions of numbers passed a first
    // version that skipped their values.
    let entry = |field: &str, value: serde_json::Value| {
        with_header(
            &bundle,
            |header, end| {
                let mut entry =
                    serde_json::json!({"dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]});
                entry[field] = value;
                header["x"] = entry;
            },
            4,
        )
    };
    let numbers = serde_json::Value::from(vec![0; 3_000_000]);
    let long_name = with_header(
        &bundle,
        |header, end| {
            header["n".repeat(1 << 20)] = serde_json::json!({"dtype": "F32",
            "shape": vec![1; 5], "data_offsets": [end, end + 4]})
        },
        4,
    );
    for (bytes, expected) in [
        (padded, "unknown field `junk`"),
        (many, "the header lists more than 65536 tensors"),
        (
            entry("dtype", numbers.clone()),
            "invalid type: sequence, expected a dtype's name",
        ),
        (
            entry("shape", serde_json::json!([numbers.clone()])),
            "invalid type: sequence, expected u64",
        ),
        (entry("data_offsets", numbers.clone()), "trailing"),
        (long_name, "a tensor name is 1048576 bytes long (\"nnnn"),
    ] {
        let (peak, err) = peak_heap(|| Bundle::from_bytes(&bytes).unwrap_err().to_string());
        assert!(err.contains(expected) && err.len() < 400, "{err}");
        assert!(peak < 16 << 20, "{} KB", peak >> 10); // the names of 65,536 tensors among it
    }
    for bytes in [named, typed] {
        let err = load(bytes);
        assert!(
            err.starts_with("not a safetensors bundle: ") && err.len() < 400,
            "{} bytes",
            err.len()
        );
    }

    let config = format!(r#"{{"version": 1, "x": [{}0]}}"#, "0,".repeat(40_000));
    let err = load(with_metadata(&bundle, "glimpse.config", config.clone()));
    assert!(
        err.contains(&config_error(&format!(
            "{} bytes of JSON, over the limit of 65536",
            config.len()
        ))),
        "{err}"
    );
    let card = format!(r#"{{"metrics": {{{}"m": 0}}}}"#, r#""m": 0, "#.repeat(200_000));
    let err = load(with_metadata(&bundle, CARD_KEY, card.clone()));
    assert!(
        err.contains(&format!(
            "`glimpse.card`: {} bytes of JSON, over the limit of 1048576",
            card.len()
        )),
        "{err}"
    );
}

/// `bundle`'s F32 file with its header's text edited by `edit` (JSON values cannot list a key
/// twice).
fn with_header_text(bundle: &Bundle, edit: impl FnOnce(&str) -> String) -> Vec<u8> {
    let bytes = bundle.to_bytes(StorageType::F32).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = edit(std::str::from_utf8(&bytes[8..8 + n]).unwrap()).into_bytes();
    [&(header.len() as u64).to_le_bytes()[..], &header, &bytes[8 + n..]].concat()
}

/// A tensor or a metadata entry listed twice: the safetensors crate silently kept one (a second
/// vocabulary in front of the real one went unseen).
#[test]
fn a_header_listing_a_name_twice_or_too_much_metadata_is_refused() {
    let bundle = tiny_bundle();
    let load = |bytes: Vec<u8>| Bundle::from_bytes(&bytes).unwrap_err().to_string();
    let tensor_twice = with_header_text(&bundle, |text| {
        let start = text.find("\"decoder.fcn.weight\":").unwrap();
        let entry = &text[start..=start + text[start..].find('}').unwrap()];
        text.replacen('{', &format!("{{{entry},"), 1)
    });
    let vocab_twice = with_header_text(&bundle, |text| {
        text.replacen(
            "\"__metadata__\":{",
            "\"__metadata__\":{\"glimpse.vocab\":\"[]\",",
            1,
        )
    });
    let crowded = with_header_text(&bundle, |text| {
        let extra: String = (0..1025).map(|i| format!("\"k{i}\":\"v\",")).collect();
        text.replacen("\"__metadata__\":{", &format!("\"__metadata__\":{{{extra}"), 1)
    });
    for (bytes, expected) in [
        (
            tensor_twice,
            "the header lists `decoder.fcn.weight` twice; refusing an ambiguous file",
        ),
        (
            vocab_twice,
            "the header lists `glimpse.vocab` twice; refusing an ambiguous file",
        ),
        (crowded, "the header's metadata holds more than 1024 entries"),
    ] {
        let err = load(bytes);
        assert!(err.contains(expected), "{err}");
    }
}

/// A vocabulary of three million one-letter words (12 MB of JSON) was built whole as a JSON
/// tree before its length was checked.
#[test]
fn a_vocabulary_past_its_cap_is_refused_while_it_is_read() {
    let json = format!("[{}\"a\"]", "\"a\",".repeat(3_000_000));
    let (peak, result) = peak_heap(|| Vocabulary::from_json(&json));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("more than 1000000 words"), "{err}");
    assert!(peak < 80 << 20, "{} MB", peak >> 20);
    let object = format!(
        "{{{}\"b\": 0}}",
        (0..1_100_000)
            .map(|i| format!("\"w{i}\": 0, "))
            .collect::<String>()
    );
    let err = Vocabulary::from_json(&object).unwrap_err().to_string();
    assert!(err.contains("more than 1000000 words"), "{err}");
    // One entry, or one id, of three million numbers was built whole (1.65 GB at 44 million).
    let numbers = format!("[{}0]", "0,".repeat(3_000_000));
    for (json, expected) in [
        (format!("[{numbers}]"), "entry 0 is an array, not a string"),
        (
            format!("{{\"<PAD>\": {numbers}}}"),
            "id of \"<PAD>\" is an array, not an id",
        ),
    ] {
        let (peak, result) = peak_heap(|| Vocabulary::from_json(&json));
        let err = result.unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert!(peak < 1 << 20, "{} KB", peak >> 10);
    }
}

/// `<end>` beside `<EOS>` was an ordinary word: a caption could say it and go on to its
/// longest.
#[test]
fn a_vocabulary_with_two_spellings_of_a_special_token_is_refused() {
    for (extra, expected) in [
        (
            "<end>",
            r#"holds both "<EOS>" (id 2) and "<end>" (id 4), two spellings of one special token"#,
        ),
        ("<start>", r#"holds both "<SOS>" (id 1) and "<start>" (id 4)"#),
        ("<pad>", r#"holds both "<PAD>" (id 0) and "<pad>" (id 4)"#),
    ] {
        let words = ["<PAD>", "<SOS>", "<EOS>", "<UNK>", extra]
            .map(String::from)
            .to_vec();
        let err = Vocabulary::from_words(words).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
}

/// A vocabulary and a caption each within their caps scored every word at every position at
/// once: a million words against 199 typed ones took several copies of 800 MB. Scoring and
/// greedy batches are held to [`limits::MAX_WORD_SCORES`].
#[test]
fn word_scores_past_their_budget_are_refused_before_decoding() {
    let mut config = small_config();
    config.decoder.vocab_size = 400_000;
    let device = Device::flex();
    let weights = pollster::block_on(CaptionModel::new(&config, &device).unwrap().weights()).unwrap();
    let bundle = Bundle {
        config: config.clone(),
        vocab: words(400_000),
        card: ModelCard::default(),
        weights,
    };
    let captioner = Captioner::from_bundle(bundle, &device).unwrap();
    let input = vec![0.0; 3 * 64 * 64];
    let encoded = captioner.encode_inputs(&[input]).unwrap();
    let typed: Vec<String> = (0..199).map(|i| format!("w{}", i + 4)).collect();
    let err = pollster::block_on(captioner.score_encoded(&encoded, &typed, 0)).unwrap_err();
    assert!(
        err.to_string().contains(
            "a caption of 199 words and its end token is 200 × 400000 word scores at once, over the limit of 67108864: this model scores captions of at most 166 words"
        ),
        "{err}"
    );
    let scored = pollster::block_on(captioner.score_encoded(&encoded, &typed[..100], 0)).unwrap();
    assert_eq!(scored.words.len(), 100);
    // Greedy batches are cut to fit (a beam of the widest, 64, fits a million words).
    assert_eq!(config.images_at_once(true), 167);
    let err = config
        .check_decoding_rows(168, "greedy batch")
        .unwrap_err()
        .to_string();
    assert!(err.contains("greedy batch 168 × 400000 words"), "{err}");
}
