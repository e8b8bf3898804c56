//! The model as a whole, on small random configurations: loading reports every mismatch,
//! batched greedy decoding equals one-at-a-time decoding, teacher forcing equals stepping, and
//! every architecture builds with torchvision's names.

use burn::tensor::{Device, Int, Tensor, TensorData};
use glimpse_model::config::{AttentionActivation, EncoderArch, ModelConfig};
use glimpse_model::generate::{beam_search, read_f32};
use glimpse_model::params::expected_shapes;
use glimpse_model::{
    Bundle, CaptionModel, Captioner, Decoding, GenerateOptions, HostTensor, ModelCard, StorageType,
    Vocabulary,
};

fn small_config(arch: EncoderArch) -> ModelConfig {
    let mut config = ModelConfig::notebook(12);
    config.encoder.arch = arch;
    config.encoder.width_multiplier = if arch == EncoderArch::MobilenetV2 {
        0.25
    } else {
        0.125
    };
    config.preprocess.size = [64, 64];
    config.attention.dim = 8;
    config.decoder.embed_dim = 6;
    config.decoder.decoder_dim = 10;
    config
}

fn vocab() -> Vocabulary {
    let words = [
        "<PAD>", "<SOS>", "<EOS>", "<UNK>", "a", "dog", "cat", "runs", "on", "grass", "red", "ball",
    ];
    Vocabulary::from_words(words.iter().map(|w| w.to_string()).collect()).unwrap()
}

fn random_captioner(config: &ModelConfig, seed: u64) -> Captioner {
    let device = Device::flex();
    device.seed(seed);
    let mut model = CaptionModel::new(config, &device).unwrap();
    let weights = pollster::block_on(model.weights()).unwrap();
    let bundle = Bundle {
        config: config.clone(),
        vocab: vocab(),
        card: ModelCard::default(),
        weights,
    };
    Captioner::from_bytes(&bundle.to_bytes(StorageType::F32).unwrap(), &device).unwrap()
}

/// A deterministic test input with some structure.
fn input(config: &ModelConfig, k: usize) -> Vec<f32> {
    let [h, w] = config.preprocess.size;
    (0..3 * h as usize * w as usize)
        .map(|i| (((i * (k + 3)) % 97) as f32 / 48.0 - 1.0) * (1.0 + k as f32))
        .collect()
}

#[test]
fn every_architecture_builds_with_torchvision_names() {
    let device = Device::flex();
    for arch in EncoderArch::ALL {
        let config = small_config(arch);
        let mut model = CaptionModel::new(&config, &device).unwrap();
        let names: Vec<String> = expected_shapes(&mut model).into_iter().map(|s| s.name).collect();
        let has = |name: &str| names.iter().any(|n| n == name);
        match arch {
            EncoderArch::MobilenetV2 => {
                assert!(has("encoder.features.0.0.weight") && has("encoder.features.1.conv.0.0.weight"));
                assert!(has("encoder.features.2.conv.3.running_var") && has("encoder.features.18.1.bias"));
            }
            _ => {
                let blocks = arch.resnet_layers().unwrap();
                let last = format!("encoder.layer4.{}.conv2.weight", blocks[3] - 1);
                assert!(
                    has("encoder.conv1.weight") && has("encoder.layer2.0.downsample.0.weight") && has(&last),
                    "{arch:?}"
                );
                assert_eq!(
                    has("encoder.layer1.0.conv3.weight"),
                    arch.is_bottleneck(),
                    "{arch:?}"
                );
            }
        }
        for name in [
            "decoder.attention.U.weight",
            "decoder.lstm_cell.weight_hh",
            "decoder.fcn.bias",
        ] {
            assert!(has(name), "{arch:?}: {name}");
        }
        assert!(!has("decoder.f_beta.weight"));
        // The feature grid is the config's.
        let images = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        assert_eq!(
            model.encoder.forward(images).dims(),
            [1, config.positions(), config.encoder_dim()],
            "{arch:?}"
        );
    }
}

#[test]
fn loading_lists_every_missing_unexpected_and_misshapen_tensor() {
    let config = small_config(EncoderArch::Resnet18);
    let device = Device::flex();
    let mut model = CaptionModel::new(&config, &device).unwrap();
    let mut weights = pollster::block_on(model.weights()).unwrap();
    weights.remove("decoder.init_c.bias");
    weights.remove("encoder.layer3.1.bn2.running_mean");
    weights.insert(
        "decoder.extra.weight",
        HostTensor::new(vec![2], vec![0.0; 2]).unwrap(),
    );
    weights.insert(
        "decoder.fcn.weight",
        HostTensor::new(vec![12, 11], vec![0.0; 132]).unwrap(),
    );
    let err = CaptionModel::from_weights(&config, &weights, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 missing tensor(s)"), "{err}");
    assert!(
        err.contains("`decoder.init_c.bias` [10]")
            && err.contains("`encoder.layer3.1.bn2.running_mean` [32]"),
        "{err}"
    );
    assert!(
        err.contains("1 unexpected tensor(s): `decoder.extra.weight` [2]"),
        "{err}"
    );
    assert!(
        err.contains("`decoder.fcn.weight` is [12, 11], expected [12, 10]"),
        "{err}"
    );
}

#[test]
fn batched_greedy_equals_one_image_at_a_time() {
    for arch in [EncoderArch::Resnet34, EncoderArch::MobilenetV2] {
        let mut config = small_config(arch);
        config.attention.activation = AttentionActivation::Relu;
        config.attention.gate = true;
        config.encoder.pooled_grid = Some([3, 3]);
        let captioner = random_captioner(&config, 3);
        let inputs: Vec<Vec<f32>> = (0..3).map(|k| input(&config, k)).collect();
        let options = GenerateOptions {
            max_len: 8,
            ..GenerateOptions::default()
        };
        let batched = pollster::block_on(captioner.caption_inputs(&inputs, options)).unwrap();
        for (k, input) in inputs.into_iter().enumerate() {
            let single = pollster::block_on(captioner.caption_inputs(&[input], options))
                .unwrap()
                .remove(0);
            let caption = &batched[k];
            assert_eq!(caption.token_ids, single.token_ids, "{arch:?} image {k}");
            assert_eq!(caption.grid, [3, 3]);
            assert!((caption.log_prob - single.log_prob).abs() < 1e-4);
            for (a, b) in caption.attention.iter().zip(&single.attention) {
                assert_eq!(a.len(), 9);
                assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5));
            }
        }
    }
}

#[test]
fn beam_search_stays_within_its_bounds_and_checks_arguments() {
    let config = small_config(EncoderArch::Resnet18);
    let captioner = random_captioner(&config, 11);
    let device = captioner.device().clone();
    let images = Tensor::<4>::from_data(TensorData::new(input(&config, 1), [1, 3, 64, 64]), &device);
    let encoded = captioner.model.encode(images);
    let grid = config.grid();
    for k in [2, 4, 7] {
        let options = GenerateOptions {
            decoding: Decoding::Beam {
                width: k,
                length_penalty: 0.0,
            },
            max_len: 6,
        };
        let beam = pollster::block_on(beam_search(
            &captioner.model,
            &encoded,
            &captioner.vocab,
            grid,
            options,
        ))
        .unwrap();
        assert!(beam.token_ids.len() <= 6);
        assert_eq!(beam.attention.len(), beam.token_ids.len());
        assert!(beam.log_prob < 0.0 && beam.log_prob.is_finite());
        assert!(beam.attention.iter().all(|a| a.len() == config.positions()));
    }
    let err = pollster::block_on(captioner.caption_inputs(
        &[input(&config, 0)],
        GenerateOptions {
            decoding: Decoding::Beam {
                width: 0,
                length_penalty: 0.0,
            },
            ..GenerateOptions::default()
        },
    ))
    .unwrap_err();
    assert!(err.to_string().contains("beam width 0"));
    let err = pollster::block_on(captioner.caption_inputs(&[vec![0.0; 10]], GenerateOptions::default()))
        .unwrap_err();
    assert!(err.to_string().contains("expected 3×64×64"), "{err}");
}

#[test]
fn teacher_forcing_equals_stepping() {
    let config = small_config(EncoderArch::Resnet18);
    let captioner = random_captioner(&config, 5);
    let device = captioner.device().clone();
    let images = Tensor::<4>::from_data(
        TensorData::new([input(&config, 0), input(&config, 2)].concat(), [2, 3, 64, 64]),
        &device,
    );
    let encoded = captioner.model.encode(images);
    let captions = Tensor::<2, Int>::from_data(
        TensorData::new(vec![1i64, 4, 5, 7, 2, 1, 4, 6, 8, 9], [2, 5]),
        &device,
    );
    let (logits, alphas) = captioner.model.decoder.forward(&encoded, captions);
    assert_eq!(logits.dims(), [2, 4, 12]);
    assert_eq!(alphas.dims(), [2, 4, config.positions()]);
    let forced = pollster::block_on(read_f32(logits)).unwrap();
    let mut state = captioner.model.decoder.init_state(&encoded);
    let words = [[1i64, 4, 5, 7], [1, 4, 6, 8]];
    for t in 0..4 {
        let step_words =
            Tensor::<1, Int>::from_data(TensorData::new(vec![words[0][t], words[1][t]], [2]), &device);
        let out = captioner.model.decoder.step(&encoded, step_words, state);
        let stepped = pollster::block_on(read_f32(out.logits)).unwrap();
        for b in 0..2 {
            for v in 0..12 {
                let f = forced[(b * 4 + t) * 12 + v];
                assert!((f - stepped[b * 12 + v]).abs() < 1e-5);
            }
        }
        state = out.state;
    }
}

/// Collects the ids of a module's trainable parameters in visiting order.
struct Ids(Vec<u64>);

impl burn::module::ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        self.0.push(param.id.val());
    }
}

#[test]
fn loaded_parameters_have_ids_derived_from_their_names() {
    // An optimizer keys its state by parameter id; a checkpoint's state must find the same
    // parameters when the weights are loaded again in another process.
    use burn::module::Module;
    let config = small_config(EncoderArch::Resnet18);
    let device = Device::flex();
    let loaded = |seed| {
        device.seed(seed);
        let weights = pollster::block_on(CaptionModel::new(&config, &device).unwrap().weights()).unwrap();
        CaptionModel::from_weights(&config, &weights, &device).unwrap()
    };
    let ids = |model: &CaptionModel| {
        let mut ids = Ids(Vec::new());
        model.visit(&mut ids);
        ids.0
    };
    let (a, b) = (ids(&loaded(1)), ids(&loaded(2)));
    assert_eq!(a, b, "same names, same ids, whatever the values");
    let unique: std::collections::HashSet<_> = a.iter().collect();
    assert_eq!(unique.len(), a.len(), "every parameter has its own id");
    assert!(a.contains(&glimpse_model::params::stable_id("decoder.fcn.weight")));
}

/// The PyTorch names of `module` cover every parameter and buffer burn knows of, and each once:
/// a field left out of `visit_params` would keep its random weights when a bundle is loaded.
fn assert_names_cover_every_parameter<M>(module: &mut M, what: &str)
where
    M: burn::module::Module + glimpse_model::params::TorchParams,
{
    let named = expected_shapes(module);
    let elements: usize = named.iter().map(|s| s.shape.iter().product::<usize>()).sum();
    assert_eq!(elements, module.num_params(), "{what}: elements");
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    assert_eq!(named.len(), ids.0.len(), "{what}: tensors");
    let unique: std::collections::HashSet<_> = named.iter().map(|s| &s.name).collect();
    assert_eq!(unique.len(), named.len(), "{what}: every name once");
}

#[test]
fn torch_names_cover_every_parameter_of_every_encoder_and_decoder() {
    use glimpse_model::decoder::Decoder;
    use glimpse_model::encoder::Encoder;
    // torchvision's full-size networks: burn allocates the weights only when they are read.
    let device = Device::flex();
    for arch in EncoderArch::ALL {
        let mut config = ModelConfig::notebook(12);
        config.encoder.arch = arch;
        assert_names_cover_every_parameter(&mut Encoder::new(&config.encoder, &device), arch.name());
    }
    for (config, gate) in [
        (ModelConfig::notebook(50), false),
        (ModelConfig::sgrvinod(50), true),
    ] {
        assert_eq!(config.attention.gate, gate);
        let what = format!("decoder, gate {gate}");
        assert_names_cover_every_parameter(&mut Decoder::new(&config.decoder_dims(), &device), &what);
        let what = format!("model, gate {gate}");
        assert_names_cover_every_parameter(&mut CaptionModel::new(&config, &device).unwrap(), &what);
    }
}

/// The browser and `glimpse caption` run the encoder with every BatchNorm folded into the
/// convolution before it: for each block kind (MobileNetV2's inverted residuals, ResNet's basic
/// and bottleneck blocks) and BatchNorm statistics far from the identity, the folded encoder
/// gives the unfolded encoder's features to float rounding.
#[test]
fn folding_the_batch_norms_keeps_the_features() {
    let device = Device::flex();
    for arch in [
        EncoderArch::MobilenetV2,
        EncoderArch::Resnet18,
        EncoderArch::Resnet50,
    ] {
        let config = small_config(arch);
        device.seed(7);
        let mut weights = pollster::block_on(CaptionModel::new(&config, &device).unwrap().weights()).unwrap();
        let norms: Vec<String> = (weights.names())
            .filter_map(|name| name.strip_suffix(".running_var").map(str::to_string))
            .collect();
        assert!(norms.len() > 10, "{arch:?}: {norms:?}");
        for (k, norm) in norms.iter().enumerate() {
            let channels = weights.get(&format!("{norm}.running_var")).unwrap().numel();
            // Deterministic, distinct per channel and layer: γ in [0.5, 1.5], β and μ in
            // [-0.5, 0.5], σ² in [0.2, 2.2].
            let wave = |offset: usize| -> Vec<f32> {
                (0..channels)
                    .map(|c| (((c * 7 + k * 13 + offset) % 23) as f32 / 22.0) - 0.5)
                    .collect()
            };
            let set = |weights: &mut glimpse_model::TensorMap, field: &str, values: Vec<f32>| {
                weights.insert(
                    format!("{norm}.{field}"),
                    HostTensor::new(vec![channels], values).unwrap(),
                );
            };
            set(&mut weights, "weight", wave(1).iter().map(|v| v + 1.0).collect());
            set(&mut weights, "bias", wave(5));
            set(&mut weights, "running_mean", wave(11));
            set(
                &mut weights,
                "running_var",
                wave(17).iter().map(|v| 2.0 * v + 1.2).collect(),
            );
        }
        let plain = CaptionModel::from_weights(&config, &weights, &device).unwrap();
        let mut folded = CaptionModel::from_weights(&config, &weights, &device).unwrap();
        folded.encoder.fold_batch_norms();
        let [h, w] = config.preprocess.size.map(|side| side as usize);
        let images = Tensor::<4>::from_data(TensorData::new(input(&config, 2), [1, 3, h, w]), &device); // [1, 3, H, W]
        let want = plain.encoder.forward(images.clone()).into_data(); // [1, P, E]
        let got = folded.encoder.forward(images).into_data();
        let scale = want.iter::<f32>().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst =
            (want.iter::<f32>().zip(got.iter::<f32>())).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{arch:?}: largest feature {scale}, largest difference {worst}");
        assert!(scale > 0.1, "{arch:?}: the features are all near zero ({scale})");
        assert!(
            worst <= 1e-4 * scale,
            "{arch:?}: folded features differ by {worst} (largest {scale})"
        );
    }
}
