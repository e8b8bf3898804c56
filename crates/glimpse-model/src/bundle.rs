//! The weight bundle: one `.safetensors` file holding a whole captioning model.
//!
//! Tensors sit under their PyTorch names, so `safetensors.torch.load_file` reads them and a
//! PyTorch user recognises them. Metadata entries hold the model config (JSON), the vocabulary
//! (JSON array, index = id) and the model card (JSON). Storage is F32, F16 or int8 (weights as
//! I8 with per-channel scales, see [`crate::quantize`]); computation is always f32. Everything here works on bytes: the browser has no file system.

use std::collections::{BTreeMap, HashMap};

use half::f16;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, SafeTensorError, TensorView};
use serde::{Deserialize, Serialize};

mod header;

use crate::config::ModelConfig;
use crate::config::limits::MAX_TENSOR_NAME_BYTES;
use crate::error::{Error, Result, excerpt, parser_message};
use crate::quantize;
use crate::vocab::Vocabulary;
use crate::weights::{HostTensor, TensorMap};

/// Metadata key of the model config.
pub const CONFIG_KEY: &str = "glimpse.config";
/// Metadata key of the vocabulary.
pub const VOCAB_KEY: &str = "glimpse.vocab";
/// Metadata key of the model card.
pub const CARD_KEY: &str = "glimpse.card";

/// What a bundle says about its model, shown to users beside the captions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelCard {
    /// Short name (`glimpse-mobilenet-synth`).
    pub name: String,
    /// One or two sentences on what the model is.
    pub description: String,
    /// The data the decoder was trained on (`Flickr8k, Karpathy train split`), empty if none.
    pub trained_on: String,
    /// Whether the decoder was trained at all: an untrained decoder's captions mean nothing.
    pub decoder_trained: bool,
    /// Where the encoder's weights came from (`torchvision mobilenet_v2-b0353104.pth`).
    pub encoder_weights: String,
    /// Evaluation results by coco-caption name (`Bleu_4`, `CIDEr`, …).
    pub metrics: BTreeMap<String, f64>,
    /// Training epochs, when trained.
    pub epochs: Option<u32>,
    /// ISO 8601 date the bundle was written.
    pub created: String,
    /// Free-form notes.
    pub notes: String,
}

/// Longest text of a card field, in bytes: a description is a sentence or two, notes a
/// paragraph; the page shows each in full.
pub const MAX_CARD_TEXT_BYTES: usize = 16 << 10;
/// Most metrics a card reports (coco-caption computes 7, Glimpse's evaluation 12).
pub const MAX_CARD_METRICS: usize = 64;
/// Longest metric name, in bytes.
pub const MAX_METRIC_NAME_BYTES: usize = 64;

/// Longest card JSON, in bytes: its six texts at their limit, each character escaped (six
/// bytes), and its metrics, with room.
pub const MAX_CARD_JSON_BYTES: usize = 1 << 20;

impl ModelCard {
    /// Parses a card (unchecked); the message of a failure.
    fn from_json(json: &str) -> std::result::Result<ModelCard, String> {
        if json.len() > MAX_CARD_JSON_BYTES {
            // (Its metrics are a map built whole before they are counted.)
            return Err(format!(
                "{} bytes of JSON, over the limit of {MAX_CARD_JSON_BYTES}",
                json.len()
            ));
        }
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    /// Refuses text longer than the page and the model card can show: each field within
    /// [`MAX_CARD_TEXT_BYTES`], at most [`MAX_CARD_METRICS`] metrics with names within
    /// [`MAX_METRIC_NAME_BYTES`].
    pub fn check(&self) -> Result<()> {
        let texts = [
            ("name", &self.name),
            ("description", &self.description),
            ("trained_on", &self.trained_on),
            ("encoder_weights", &self.encoder_weights),
            ("created", &self.created),
            ("notes", &self.notes),
        ];
        let too_long = |field: &str, text: &str, limit: usize| Error::Metadata {
            field: format!("{CARD_KEY}.{field}"),
            message: format!(
                "{} bytes, over the limit of {limit} (\"{}\")",
                text.len(),
                excerpt(text)
            ),
        };
        if let Some((field, text)) = texts.iter().find(|(_, text)| text.len() > MAX_CARD_TEXT_BYTES) {
            return Err(too_long(field, text, MAX_CARD_TEXT_BYTES));
        }
        if self.metrics.len() > MAX_CARD_METRICS {
            return Err(Error::Metadata {
                field: format!("{CARD_KEY}.metrics"),
                message: format!(
                    "{} metrics, over the limit of {MAX_CARD_METRICS}",
                    self.metrics.len()
                ),
            });
        }
        match self
            .metrics
            .keys()
            .find(|name| name.len() > MAX_METRIC_NAME_BYTES)
        {
            Some(name) => Err(too_long("metrics", name, MAX_METRIC_NAME_BYTES)),
            None => Ok(()),
        }
    }
}

/// How tensors are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageType {
    F32,
    /// Half the size; values are rounded to the nearest f16 (weights far outside ±65504 refuse).
    F16,
    /// About a quarter of F32: weights of rank ≥ 2 as I8 with a scale per output channel, the
    /// rest as F16 ([`crate::quantize`]).
    Int8,
    /// The decoder's weights as [`StorageType::Int8`] stores them, the encoder's as F16: the
    /// frozen ImageNet encoder's features are what int8 storage disturbs (README, "Smaller
    /// bundles").
    Int8Decoder,
}

impl StorageType {
    /// Whether `name` is stored as I8 (when [`quantize::quantize`] accepts its shape).
    fn int8(self, name: &str) -> bool {
        match self {
            StorageType::F32 | StorageType::F16 => false,
            StorageType::Int8 => true,
            StorageType::Int8Decoder => name.starts_with(DECODER_PREFIX),
        }
    }
}

/// Every decoder tensor's name begins with this.
const DECODER_PREFIX: &str = "decoder.";

/// A model's config, vocabulary, card and tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub config: ModelConfig,
    pub vocab: Vocabulary,
    pub card: ModelCard,
    pub weights: TensorMap,
}

impl Bundle {
    /// Parses and checks a bundle. Shapes against the config are checked when the model is built
    /// ([`crate::CaptionModel::from_weights`]), which lists every missing or misshapen tensor.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle> {
        Bundle::from_bytes_within(bytes, u64::MAX)
    }

    /// [`Bundle::from_bytes`] where loading may take at most `memory` bytes (a WebAssembly
    /// module's memory is capped): a bundle whose file and f32 weights together need more is
    /// refused ([`Error::TooLarge`]) from its header, before any weight is read.
    pub fn from_bytes_within(bytes: &[u8], memory: u64) -> Result<Bundle> {
        check_tensor_entries(bytes)?;
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| file_error(e, bytes))?;
        let entries = metadata.metadata().clone().unwrap_or_default();
        let field = |key: &str| -> Result<&String> {
            entries.get(key).ok_or_else(|| Error::Metadata {
                field: key.to_string(),
                message: "missing: this safetensors file is not a Glimpse bundle \
                          (no model config, vocabulary and card in its metadata)"
                    .into(),
            })
        };
        // A parser's message may quote the file's text at any length: quoted in part.
        let metadata_error = |key: &str, message: String| Error::Metadata {
            field: key.into(),
            message: parser_message(&message),
        };
        let config = ModelConfig::from_json(field(CONFIG_KEY)?)
            .map_err(|e| metadata_error(CONFIG_KEY, e.to_string()))?;
        let vocab =
            Vocabulary::from_json(field(VOCAB_KEY)?).map_err(|e| metadata_error(VOCAB_KEY, e.to_string()))?;
        let card = ModelCard::from_json(field(CARD_KEY)?).map_err(|e| metadata_error(CARD_KEY, e))?;
        card.check()?;
        if vocab.len() != config.decoder.vocab_size {
            return Err(Error::Metadata {
                field: VOCAB_KEY.into(),
                message: format!(
                    "{} words, but the config's decoder.vocab_size is {}",
                    vocab.len(),
                    config.decoder.vocab_size
                ),
            });
        }

        let tensors = SafeTensors::deserialize(bytes).map_err(|e| file_error(e, bytes))?;
        let views = tensors.iter().collect();
        check_names_and_shapes(&config, &views)?;
        check_load_memory(bytes.len(), &views, memory)?;
        let weights = read_weights(&views)?;
        for name in ["decoder.embedding.weight", "decoder.fcn.weight"] {
            if let Some(tensor) = weights.get(name)
                && tensor.shape.first() != Some(&vocab.len())
            {
                return Err(Error::VocabularySize {
                    vocab: vocab.len(),
                    tensor: name.into(),
                    rows: tensor.shape.first().copied().unwrap_or(0),
                });
            }
        }
        Ok(Bundle {
            config,
            vocab,
            card,
            weights,
        })
    }

    /// Writes the bundle as a safetensors file.
    pub fn to_bytes(&self, storage: StorageType) -> Result<Vec<u8>> {
        if self.vocab.len() != self.config.decoder.vocab_size {
            return Err(Error::Config(format!(
                "vocabulary has {} words but decoder.vocab_size is {}",
                self.vocab.len(),
                self.config.decoder.vocab_size
            )));
        }
        self.weights.check_values()?;
        // JSON has no NaN: serde_json would write `null`, which no reader accepts as a score.
        if let Some((name, value)) = self.card.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Metadata {
                field: format!("{CARD_KEY}.metrics.{name}"),
                message: format!("{value} is not a number a bundle can hold"),
            });
        }
        let mut stored = Vec::with_capacity(self.weights.len());
        for (name, tensor) in self.weights.iter() {
            let quantized = storage.int8(name).then(|| quantize::quantize(name, tensor));
            match (storage, quantized.flatten()) {
                (StorageType::F32, _) => stored.push(StoredTensor::f32(name, tensor)),
                (_, Some(pair)) if self.weights.get(&pair[1].name).is_some() => {
                    return Err(Error::Quantized {
                        name: name.to_string(),
                        message: format!(
                            "its scales would be stored as `{}`, a tensor the bundle already has; store it as F32 or F16",
                            pair[1].name
                        ),
                    });
                }
                (_, Some(pair)) => stored.extend(pair),
                (_, None) => stored.push(StoredTensor::f16(name, tensor)?),
            }
        }
        self.card.check()?;
        let card = to_json("the bundle's card", &self.card)?;
        write_safetensors(
            "the bundle",
            &stored,
            &self.config,
            &self.vocab,
            [(CARD_KEY, card)],
        )
    }
}

/// One tensor as a safetensors file stores it: dtype, shape and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl StoredTensor {
    /// Bytes already laid out as `dtype` little-endian values of `shape`.
    pub fn raw(name: &str, dtype: Dtype, shape: Vec<usize>, bytes: Vec<u8>) -> StoredTensor {
        StoredTensor {
            name: name.to_string(),
            dtype,
            shape,
            bytes,
        }
    }

    /// `tensor` as F32, exactly.
    pub fn f32(name: &str, tensor: &HostTensor) -> StoredTensor {
        StoredTensor {
            name: name.to_string(),
            dtype: Dtype::F32,
            shape: tensor.shape.clone(),
            bytes: tensor.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// `tensor` as F16, each value rounded to the nearest; refuses values beyond f16's range.
    pub fn f16(name: &str, tensor: &HostTensor) -> Result<StoredTensor> {
        let mut bytes = Vec::with_capacity(tensor.data.len() * 2);
        for (index, &v) in tensor.data.iter().enumerate() {
            let h = f16::from_f32(v);
            if !h.is_finite() {
                return Err(Error::InvalidArgument(format!(
                    "tensor `{name}` value {v} at flat index {index} does not fit in f16"
                )));
            }
            bytes.extend(h.to_le_bytes());
        }
        Ok(StoredTensor {
            name: name.to_string(),
            dtype: Dtype::F16,
            shape: tensor.shape.clone(),
            bytes,
        })
    }
}

/// A safetensors file of `tensors` whose metadata holds PyTorch's `format` marker, `config`
/// under [`CONFIG_KEY`], `vocab` under [`VOCAB_KEY`] and the `extra` entries. Bundles and
/// training checkpoints both carry their model this way, so one reader finds it in either.
/// `what` names the file in errors (`"the bundle"`).
///
/// The bytes depend only on the arguments: the header lists the metadata with its keys sorted
/// (the safetensors crate writes them in `HashMap` order, different on every run), then the
/// tensors in the crate's own order (alignment descending, then name), their data packed in
/// that order, and the header padded with spaces to a multiple of 8 bytes, as the crate does.
pub fn write_safetensors<'a>(
    what: &str,
    tensors: &[StoredTensor],
    config: &ModelConfig,
    vocab: &Vocabulary,
    extra: impl IntoIterator<Item = (&'a str, String)>,
) -> Result<Vec<u8>> {
    let mut metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        (CONFIG_KEY.to_string(), config.to_json()),
        (VOCAB_KEY.to_string(), vocab.to_json()),
    ]);
    metadata.extend(extra.into_iter().map(|(key, value)| (key.to_string(), value)));
    let order = storage_order(what, tensors)?;
    let header = header_bytes(what, &metadata, &order)?;
    let data_len: usize = order.iter().map(|t| t.bytes.len()).sum();
    let mut out = Vec::with_capacity(8 + header.len() + data_len);
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(&header);
    for tensor in order {
        out.extend(&tensor.bytes);
    }
    Ok(out)
}

/// safetensors' own limit on the header, which its reader enforces.
pub const MAX_HEADER_BYTES: usize = 100_000_000;

/// The tensors in the order the safetensors crate stores them (alignment descending, then
/// name), each checked to hold exactly its shape's bytes, names unique.
fn storage_order<'t>(what: &str, tensors: &'t [StoredTensor]) -> Result<Vec<&'t StoredTensor>> {
    for t in tensors {
        TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
            .map_err(|e| Error::InvalidArgument(format!("writing {what}: tensor `{}`: {e}", t.name)))?;
    }
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::InvalidArgument(format!(
            "writing {what}: two tensors are named `{}`",
            pair[0]
        )));
    }
    let mut order: Vec<&StoredTensor> = tensors.iter().collect();
    order.sort_by(|a, b| b.dtype.cmp(&a.dtype).then(a.name.cmp(&b.name)));
    Ok(order)
}

/// One tensor's header entry, serialised as the safetensors crate serialises its `TensorInfo`.
#[derive(Serialize)]
struct HeaderEntry<'a> {
    dtype: Dtype,
    shape: &'a [usize],
    data_offsets: [usize; 2],
}

/// The JSON header, `__metadata__` first (keys sorted) and the tensors in `order` with their
/// data offsets, padded with spaces to a multiple of 8 bytes.
fn header_bytes(what: &str, metadata: &BTreeMap<String, String>, order: &[&StoredTensor]) -> Result<Vec<u8>> {
    let mut header = format!("{{\"__metadata__\":{}", to_json(what, metadata)?);
    let mut offset = 0usize;
    for tensor in order {
        let end = offset + tensor.bytes.len(); // the sum of buffers already in memory
        let entry = HeaderEntry {
            dtype: tensor.dtype,
            shape: &tensor.shape,
            data_offsets: [offset, end],
        };
        header.push_str(&format!(
            ",{}:{}",
            to_json(what, &tensor.name)?,
            to_json(what, &entry)?
        ));
        offset = end;
    }
    header.push('}');
    let mut bytes = header.into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    if bytes.len() > MAX_HEADER_BYTES {
        return Err(Error::InvalidArgument(format!(
            "writing {what}: the header would be {} bytes, over safetensors' limit of {MAX_HEADER_BYTES}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Compact JSON of a header part.
fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::InvalidArgument(format!("writing {what}: {e}")))
}

/// The most dimensions a model's tensor (a convolution's weight) has.
pub const MAX_RANK: usize = 4;

/// The most tensors a bundle may list (ResNet-152's weights with their int8 scales are about
/// 2,000).
pub const MAX_TENSORS: usize = 1 << 16;

/// Reads the header's tensor entries with a typed reader that skips their values before the
/// safetensors crate parses them, and refuses more than [`MAX_TENSORS`] of them, a field an
/// entry does not have, or a tensor (int8 scales among them) of more than [`MAX_RANK`]
/// dimensions: the crate holds every entry whole, unknown fields and shapes included, before
/// it reads it (a field of 44 million numbers took 2.85 GB, 1.4 million tensors 1.3 GB, and one
/// value of 10 million dimensions made a 30 MB message). A header it cannot find is left to the
/// crate, which names the problem.
pub fn check_tensor_entries(bytes: &[u8]) -> Result<()> {
    let Some(header) = header_of(bytes) else {
        return Ok(());
    };
    header::check(header).map_err(|refusal| match refusal {
        header::Refusal::Parse(e) => Error::NotSafetensors(parser_message(&format!(
            "the header is not a safetensors JSON header: {e}"
        ))),
        header::Refusal::TooManyTensors => Error::NotSafetensors(format!(
            "the header lists more than {MAX_TENSORS} tensors, more than any model has"
        )),
        header::Refusal::LongName(bytes, name) => Error::NotSafetensors(format!(
            "a tensor name is {bytes} bytes long (\"{name}\"), over the limit of {MAX_TENSOR_NAME_BYTES}"
        )),
        header::Refusal::Rank(name, rank) => Error::Rank { name, rank },
        header::Refusal::TooManyMetadataEntries => Error::NotSafetensors(format!(
            "the header's metadata holds more than {} entries",
            header::MAX_METADATA_ENTRIES
        )),
        header::Refusal::Twice(name) => Error::NotSafetensors(format!(
            "the header lists `{name}` twice; refusing an ambiguous file"
        )),
    })
}

/// The header's text, when the file holds as much as its first 8 bytes say.
fn header_of(bytes: &[u8]) -> Option<&[u8]> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    // The crate's own limit, which it names.
    (n <= MAX_HEADER_BYTES).then_some(())?;
    bytes.get(8..8usize.checked_add(n)?)
}

/// No tensor the file holds is unknown to `config`'s model or larger than the model's tensor of
/// its name (int8 scales aside), checked from the header before anything is converted: an
/// unused or oversized int8 tensor would otherwise be dequantised (four times its size) only to
/// be refused. Missing and smaller misshapen tensors are reported when the model is built.
/// (The trainer's checkpoints are checked so too.)
#[cfg(feature = "flex")]
pub fn check_names_and_shapes(config: &ModelConfig, views: &BTreeMap<&str, TensorView<'_>>) -> Result<()> {
    use crate::error::{NamedShape, ShapeMismatch, WeightsMismatch};
    // Parameters are created lazily: this model allocates nothing but its BatchNorm statistics.
    let mut model = crate::CaptionModel::new(config, &burn::tensor::Device::flex())?;
    let expected: BTreeMap<String, Vec<usize>> = crate::params::expected_shapes(&mut model)
        .into_iter()
        .map(|named| (named.name, named.shape))
        .collect();
    let mut mismatch = WeightsMismatch::default();
    for (&name, view) in views.iter().filter(|(name, _)| !is_scale_of_int8(name, views)) {
        let shape = view.shape().to_vec();
        let elements = |shape: &[usize]| shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        match expected.get(name) {
            None => mismatch.unexpected.push(NamedShape {
                name: name.to_string(),
                shape,
            }),
            Some(wanted) if elements(&shape).is_none_or(|n| Some(n) > elements(wanted)) => {
                mismatch.wrong_shape.push(ShapeMismatch {
                    name: name.to_string(),
                    expected: wanted.clone(),
                    actual: shape,
                })
            }
            Some(_) => {}
        }
    }
    if !mismatch.is_empty() {
        return Err(Error::Weights(mismatch));
    }
    Ok(())
}

/// Without the CPU backend the model is checked when it is built, after conversion.
#[cfg(not(feature = "flex"))]
pub fn check_names_and_shapes(_: &ModelConfig, _: &BTreeMap<&str, TensorView<'_>>) -> Result<()> {
    Ok(())
}

/// Refuses a bundle whose loading needs more than `memory` bytes: at least its file, held while
/// the weights are read, and every weight as an f32 (I8 and F16 ones widened; the int8 scales
/// are consumed).
fn check_load_memory(file: usize, views: &BTreeMap<&str, TensorView<'_>>, memory: u64) -> Result<()> {
    let f32_bytes = |view: &TensorView<'_>| {
        view.shape()
            .iter()
            .try_fold(4u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))
    };
    let weights = views
        .iter()
        .filter(|(name, _)| !is_scale_of_int8(name, views))
        .try_fold(0u64, |sum, (_, view)| sum.checked_add(f32_bytes(view)?))
        .unwrap_or(u64::MAX);
    let file = u64::try_from(file).unwrap_or(u64::MAX);
    if file.saturating_add(weights) > memory {
        return Err(Error::TooLarge {
            file,
            weights,
            memory,
        });
    }
    Ok(())
}

/// `name` is the `_scale` tensor of an I8 tensor of `views`.
fn is_scale_of_int8(name: &str, views: &BTreeMap<&str, TensorView<'_>>) -> bool {
    name.strip_suffix(quantize::SCALE_SUFFIX)
        .and_then(|base| views.get(base))
        .is_some_and(|base| base.dtype() == Dtype::I8)
}

/// Every tensor of the file as f32, by name: I8 weights dequantised with their `_scale`
/// tensors (which are consumed), each checked to be finite.
fn read_weights(views: &BTreeMap<&str, TensorView<'_>>) -> Result<TensorMap> {
    let mut weights = TensorMap::new();
    for (&name, view) in views {
        let tensor = match view.dtype() {
            _ if is_scale_of_int8(name, views) => continue,
            Dtype::I8 => {
                let scale = views.get(format!("{name}{}", quantize::SCALE_SUFFIX).as_str());
                quantize::dequantize(name, view, scale)?
            }
            _ => HostTensor::new(view.shape().to_vec(), read_floats(name, view)?)?,
        };
        tensor.check_values(name)?;
        weights.insert(name, tensor);
    }
    Ok(weights)
}

/// The values of an F32 or F16 tensor as f32.
pub(crate) fn read_floats(name: &str, view: &TensorView<'_>) -> Result<Vec<f32>> {
    let bytes = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(Error::UnsupportedDtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    })
}

/// Explains why bytes are not a readable safetensors file, telling truncation apart (a training
/// checkpoint's reader says it so too).
pub fn file_error(err: SafeTensorError, bytes: &[u8]) -> Error {
    // A zip archive (what `torch.save` writes) was described by its first 8 bytes as a header of
    // 43 GB (hostile round 22).
    if bytes.starts_with(b"PK\x03\x04") {
        return Error::NotSafetensors(
            "it is a zip archive (a PyTorch checkpoint?), not a safetensors bundle; a PyTorch checkpoint is imported first"
                .into(),
        );
    }
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    match err {
        SafeTensorError::HeaderTooSmall => Error::NotSafetensors(format!(
            "the file is {} bytes, shorter than the 8-byte header length every safetensors file starts with",
            bytes.len()
        )),
        SafeTensorError::HeaderTooLarge => Error::NotSafetensors(format!(
            "its first 8 bytes declare a header of {} bytes, which no safetensors file has",
            header_len.unwrap_or(0)
        )),
        SafeTensorError::InvalidHeaderLength => Error::Truncated(format!(
            "the header is declared as {} bytes but only {} bytes follow",
            header_len.unwrap_or(0),
            bytes.len().saturating_sub(8)
        )),
        SafeTensorError::InvalidHeader(e) => {
            Error::NotSafetensors(format!("the header is not UTF-8 text: {e}"))
        }
        SafeTensorError::InvalidHeaderDeserialization(e) => {
            // serde quotes the value it did not expect, at any length.
            Error::NotSafetensors(parser_message(&format!(
                "the header is not a safetensors JSON header: {e}"
            )))
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            let needed = data_end(bytes);
            match needed {
                Some(needed) if needed > bytes.len() => Error::Truncated(format!(
                    "the tensors need {needed} bytes but the file holds {}",
                    bytes.len()
                )),
                Some(needed) => {
                    Error::NotSafetensors(format!("{} bytes follow the last tensor", bytes.len() - needed))
                }
                None => Error::NotSafetensors("tensor offsets do not cover the data".into()),
            }
        }
        // The crate's message names no tensor.
        other @ (SafeTensorError::TensorInvalidInfo
        | SafeTensorError::ValidationOverflow
        | SafeTensorError::MisalignedSlice) => {
            Error::NotSafetensors(misfit_tensor(bytes).unwrap_or_else(|| other.to_string()))
        }
        // (Some name the tensor whole.)
        other => Error::NotSafetensors(parser_message(&other.to_string())),
    }
}

/// Names the first tensor, in data order as the crate checks them, whose offsets do not span
/// the bytes its shape and dtype need. `None` when the header cannot say (the shapes' ranks
/// were checked first, by [`check_tensor_entries`]).
fn misfit_tensor(bytes: &[u8]) -> Option<String> {
    /// A tensor's entry (the metadata's, with none of these fields, is skipped).
    #[derive(Deserialize)]
    struct Entry {
        dtype: Option<Dtype>,
        shape: Option<Vec<u64>>,
        data_offsets: Option<(u64, u64)>,
    }
    let entries: HashMap<String, Entry> = serde_json::from_slice(header_of(bytes)?).ok()?;
    let mut tensors: Vec<_> = entries
        .iter()
        .filter_map(|(name, e)| Some((e.data_offsets?, name, e.dtype?, e.shape.as_ref()?)))
        .collect();
    tensors.sort_by_key(|(offsets, ..)| *offsets);
    tensors.into_iter().find_map(|((start, end), name, dtype, shape)| {
        let bits = shape
            .iter()
            .try_fold(dtype.bitsize() as u128, |bits, &n| bits.checked_mul(u128::from(n)));
        let span = end.checked_sub(start).map(u128::from);
        match bits {
            None => Some(format!("tensor `{name}`: its shape {shape:?} is larger than any file")),
            Some(bits) if bits % 8 != 0 => Some(format!(
                "tensor `{name}`: its shape {shape:?} of {dtype:?} is not a whole number of bytes"
            )),
            Some(bits) if span != Some(bits / 8) => Some(format!(
                "tensor `{name}`: its offsets {start}..{end} span {} bytes, but its shape {shape:?} of {dtype:?} needs {}",
                end.saturating_sub(start),
                bits / 8
            )),
            Some(_) => None,
        }
    })
}

/// Where the tensor data ends according to the header (header length + largest end offset),
/// `None` when the header cannot say or the sum does not fit (checked: the numbers are the
/// file's).
fn data_end(bytes: &[u8]) -> Option<usize> {
    let header = header_of(bytes)?;
    /// A tensor's entry, the rest of it skipped, not built.
    #[derive(Deserialize)]
    struct Entry {
        data_offsets: Option<(u64, u64)>,
    }
    let entries: HashMap<String, Entry> = serde_json::from_slice(header).ok()?;
    let end = entries
        .iter()
        .filter(|(key, _)| *key != "__metadata__")
        .filter_map(|(_, entry)| Some(entry.data_offsets?.1))
        .max()
        .unwrap_or(0);
    (8 + header.len()).checked_add(usize::try_from(end).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_bundle() -> Bundle {
        let vocab = Vocabulary::from_words(
            ["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
        .unwrap();
        let mut weights = TensorMap::new();
        weights.insert(
            "decoder.embedding.weight",
            HostTensor::new(vec![5, 2], (0..10).map(|i| i as f32 * 0.25).collect()).unwrap(),
        );
        weights.insert(
            "decoder.fcn.bias",
            HostTensor::new(vec![5], vec![0.5; 5]).unwrap(),
        );
        Bundle {
            config: ModelConfig::notebook(5),
            vocab,
            card: ModelCard {
                name: "tiny".into(),
                ..ModelCard::default()
            },
            weights,
        }
    }

    /// Int8 storage: rank-2 weights as I8 beside their `_scale`, the bias as F16; read back
    /// under the same names and shapes, the scales consumed.
    #[test]
    fn int8_stores_weights_as_i8_with_scales_and_the_rest_as_f16() {
        let bundle = tiny_bundle();
        let bytes = bundle.to_bytes(StorageType::Int8).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let dtype = |name: &str| file.tensor(name).unwrap().dtype();
        assert_eq!(dtype("decoder.embedding.weight"), Dtype::I8);
        assert_eq!(dtype("decoder.embedding.weight_scale"), Dtype::F16);
        assert_eq!(dtype("decoder.fcn.bias"), Dtype::F16);
        let read = Bundle::from_bytes(&bytes).unwrap();
        let names = |b: &Bundle| {
            b.weights
                .iter()
                .map(|(n, t)| (n.to_string(), t.shape.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&read), names(&bundle));
        assert_eq!(
            (&read.config, &read.vocab, &read.card),
            (&bundle.config, &bundle.vocab, &bundle.card)
        );
        assert_eq!(
            read.weights.get("decoder.fcn.bias"),
            bundle.weights.get("decoder.fcn.bias")
        );
    }

    /// A PyTorch zip given as a bundle is named as such (its first 8 bytes read as a header of
    /// 43 GB: hostile round 22).
    #[test]
    fn a_zip_archive_is_named_as_one() {
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend([0x14, 0, 0, 0, 0, 0, 0x21, 0x1b, 0, 0, 0, 0]);
        let err = Bundle::from_bytes(&zip).unwrap_err().to_string();
        assert!(
            err.contains("it is a zip archive (a PyTorch checkpoint?), not a safetensors bundle"),
            "{err}"
        );
    }

    /// A tensor whose offsets do not span its shape's bytes is named (the crate names none).
    #[test]
    fn a_tensor_whose_offsets_misfit_its_shape_is_named() {
        let bytes = tiny_bundle().to_bytes(StorageType::F32).unwrap();
        let header = std::str::from_utf8(header_of(&bytes).unwrap()).unwrap();
        let with_shape = |shape: &str| {
            let header = header.replacen(r#""shape":[5]"#, &format!(r#""shape":{shape}"#), 1);
            let mut file = (header.len() as u64).to_le_bytes().to_vec();
            file.extend(header.as_bytes());
            file.extend(&bytes[8 + header_of(&bytes).unwrap().len()..]);
            Bundle::from_bytes(&file).unwrap_err().to_string()
        };
        assert_eq!(header.matches(r#""shape":[5]"#).count(), 1);
        let err = with_shape("[6]");
        assert!(
            err.contains("tensor `decoder.fcn.bias`: its offsets 40..60 span 20 bytes, but its shape [6] of F32 needs 24"),
            "{err}"
        );
        let err = with_shape(&format!("[{0},{0},{0}]", u64::MAX));
        let huge = format!("[{0}, {0}, {0}]", u64::MAX);
        assert!(
            err.contains(&format!(
                "tensor `decoder.fcn.bias`: its shape {huge} is larger than any file"
            )),
            "{err}"
        );
    }

    /// A memory cap refuses a bundle whose file and f32 weights do not fit in it together, from
    /// the header: the need is the file's length plus four bytes for every value the read
    /// bundle holds (counted here from what was read, not from the header).
    #[test]
    fn a_memory_cap_refuses_a_bundle_that_cannot_load_within_it() {
        for storage in [StorageType::F32, StorageType::Int8] {
            let bytes = tiny_bundle().to_bytes(storage).unwrap();
            let read = Bundle::from_bytes(&bytes).unwrap();
            let values: usize = read.weights.iter().map(|(_, t)| t.numel()).sum();
            let need = bytes.len() as u64 + 4 * values as u64;
            assert!(Bundle::from_bytes_within(&bytes, need).is_ok(), "{storage:?}");
            match Bundle::from_bytes_within(&bytes, need - 1) {
                Err(
                    err @ Error::TooLarge {
                        file,
                        weights,
                        memory,
                    },
                ) => {
                    assert_eq!(
                        (file, weights, memory),
                        (bytes.len() as u64, 4 * values as u64, need - 1)
                    );
                    assert!(
                        err.to_string()
                            .starts_with("loading this model takes at least 1 MiB"),
                        "{err}"
                    );
                }
                other => panic!("{storage:?}: {other:?}"),
            }
        }
    }

    /// Decoder-only int8: the decoder's weight as I8, the encoder's kernel F16 (exactly its f16
    /// value when read back), and no scale for it.
    #[test]
    fn int8_decoder_leaves_the_encoder_f16() {
        let mut bundle = tiny_bundle();
        bundle.config.encoder.arch = crate::config::EncoderArch::MobilenetV2;
        let kernel = HostTensor::new(vec![2, 1, 1, 3], vec![0.1, -0.2, 0.3, 1.5, 2.5, -3.5]).unwrap();
        bundle
            .weights
            .insert("encoder.features.0.0.weight", kernel.clone());
        let bytes = bundle.to_bytes(StorageType::Int8Decoder).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let dtype = |name: &str| file.tensor(name).map(|t| t.dtype()).ok();
        assert_eq!(dtype("decoder.embedding.weight"), Some(Dtype::I8));
        assert_eq!(dtype("decoder.fcn.bias"), Some(Dtype::F16));
        assert_eq!(dtype("encoder.features.0.0.weight"), Some(Dtype::F16));
        assert_eq!(dtype("encoder.features.0.0.weight_scale"), None);
        let read = Bundle::from_bytes(&bytes).unwrap();
        let f16_rounded: Vec<f32> = kernel
            .data
            .iter()
            .map(|&v| half::f16::from_f32(v).to_f32())
            .collect();
        assert_eq!(
            read.weights.get("encoder.features.0.0.weight").unwrap().data,
            f16_rounded
        );
        let int8_all = bundle.to_bytes(StorageType::Int8).unwrap();
        assert_eq!(
            Bundle::from_bytes(&int8_all)
                .unwrap()
                .weights
                .get("decoder.embedding.weight"),
            read.weights.get("decoder.embedding.weight"),
            "the decoder is stored as --int8 stores it"
        );
    }

    /// A bundle that already has a tensor named as an int8 weight's scales would be (found by
    /// the `bundle` fuzzer) is refused as int8, naming both, and still writes as F32 and F16;
    /// the writer refuses two tensors of one name even when their dtypes differ.
    #[test]
    fn int8_refuses_a_scale_name_the_bundle_already_uses() {
        let mut bundle = tiny_bundle();
        let taken = HostTensor::new(vec![1, 5], vec![0.5; 5]).unwrap();
        bundle.weights.insert("decoder.embedding.weight_scale", taken);
        for storage in [StorageType::Int8, StorageType::Int8Decoder] {
            let err = bundle.to_bytes(storage).unwrap_err().to_string();
            assert!(
                err.contains("`decoder.embedding.weight`")
                    && err.contains("`decoder.embedding.weight_scale`"),
                "{err}"
            );
        }
        // Written as F32 or F16, the name is a tensor the model does not have: refused on read.
        for storage in [StorageType::F32, StorageType::F16] {
            let err = Bundle::from_bytes(&bundle.to_bytes(storage).unwrap()).unwrap_err();
            assert!(
                err.to_string()
                    .contains("unexpected tensor(s): `decoder.embedding.weight_scale`"),
                "{err}"
            );
        }

        let weight = bundle.weights.get("decoder.embedding.weight").unwrap();
        let [values, _] = crate::quantize::quantize("decoder.embedding.weight", weight).unwrap();
        let same_name = StoredTensor::f32("decoder.embedding.weight", weight);
        let err = write_safetensors("a test", &[values, same_name], &bundle.config, &bundle.vocab, [])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("two tensors are named `decoder.embedding.weight`"),
            "{err}"
        );
    }

    /// An int8 tensor the model does not have, or larger than the model's of its name, is refused
    /// from the header, before anything is dequantised (the hostile-input campaign's 1.9 GB
    /// bundle with an unused `[458752, 4096]` I8 tensor needed 7.5 GB for it before its name was
    /// checked). The scales are zero: a refusal here is the header check's.
    #[test]
    fn unknown_and_oversized_int8_tensors_are_refused_before_conversion() {
        let bundle = tiny_bundle();
        let int8 = |name: &str, rows: usize| {
            let values = vec![1u8; rows * 4];
            let scale = vec![0u8; rows * 2];
            (name.to_string(), rows, values, scale)
        };
        for (name, rows, values, scale) in [int8("decoder.junk", 8), int8("decoder.fcn.bias", 64)] {
            let mut metadata = std::collections::HashMap::new();
            metadata.insert(CONFIG_KEY.to_string(), bundle.config.to_json());
            metadata.insert(VOCAB_KEY.to_string(), bundle.vocab.to_json());
            metadata.insert(CARD_KEY.to_string(), "{}".to_string());
            let scale_name = format!("{name}{}", quantize::SCALE_SUFFIX);
            let views = [
                (
                    name.clone(),
                    TensorView::new(Dtype::I8, vec![rows, 4], &values).unwrap(),
                ),
                (
                    scale_name,
                    TensorView::new(Dtype::F16, vec![rows], &scale).unwrap(),
                ),
            ];
            let bytes = safetensors::serialize(views, Some(metadata)).unwrap();
            let err = Bundle::from_bytes(&bytes).unwrap_err().to_string();
            let expected = match name.as_str() {
                "decoder.junk" => "unexpected tensor(s): `decoder.junk` [8, 4]".to_string(),
                _ => format!("`{name}` is [{rows}, 4], expected [5]"),
            };
            assert!(err.contains(&expected), "{err}");
        }
    }

    /// A crafted file whose I8 tensor lost its scale is refused, naming the tensor.
    #[test]
    fn int8_tensors_without_their_scale_are_refused_by_name() {
        let bundle = tiny_bundle();
        let weight = bundle.weights.get("decoder.embedding.weight").unwrap();
        let [values, _] = crate::quantize::quantize("decoder.embedding.weight", weight).unwrap();
        let bias = StoredTensor::f32(
            "decoder.fcn.bias",
            bundle.weights.get("decoder.fcn.bias").unwrap(),
        );
        let card = serde_json::to_string(&bundle.card).unwrap();
        let bytes = write_safetensors(
            "a test",
            &[values, bias],
            &bundle.config,
            &bundle.vocab,
            [(CARD_KEY, card)],
        )
        .unwrap();
        let err = Bundle::from_bytes(&bytes).unwrap_err().to_string();
        assert_eq!(
            err,
            "int8 tensor `decoder.embedding.weight`: it has no `decoder.embedding.weight_scale` tensor"
        );
    }

    #[test]
    fn round_trips_in_f32_and_f16() {
        let bundle = tiny_bundle();
        for storage in [StorageType::F32, StorageType::F16] {
            let back = Bundle::from_bytes(&bundle.to_bytes(storage).unwrap()).unwrap();
            // Multiples of 0.25 are exact in f16 too.
            assert_eq!(back, bundle, "{storage:?}");
        }
        let f32_len = bundle.to_bytes(StorageType::F32).unwrap().len();
        let f16_len = bundle.to_bytes(StorageType::F16).unwrap().len();
        assert!(
            f16_len + 24 <= f32_len,
            "f16 halves the data: {f32_len} vs {f16_len}"
        );
    }

    #[test]
    fn not_a_safetensors_file() {
        let err = Bundle::from_bytes(b"GIF89a").unwrap_err().to_string();
        assert!(
            err.contains("not a safetensors bundle") && err.contains("6 bytes"),
            "{err}"
        );
        let mut garbage = 20u64.to_le_bytes().to_vec();
        garbage.extend(b"this is not json at all");
        let err = Bundle::from_bytes(&garbage).unwrap_err().to_string();
        assert!(err.contains("not a safetensors bundle"), "{err}");
        let err = Bundle::from_bytes(&[0xff; 64]).unwrap_err().to_string();
        assert!(err.contains("not a safetensors bundle"), "{err}");
    }

    #[test]
    fn truncated_files_say_so() {
        let bytes = tiny_bundle().to_bytes(StorageType::F32).unwrap();
        let err = Bundle::from_bytes(&bytes[..bytes.len() - 7])
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated") && err.contains("tensors need"), "{err}");
        let err = Bundle::from_bytes(&bytes[..40]).unwrap_err().to_string();
        assert!(
            err.contains("truncated") && err.contains("header is declared"),
            "{err}"
        );
    }

    #[test]
    fn plain_safetensors_without_metadata_is_not_a_bundle() {
        let data = [0u8; 4];
        let view = TensorView::new(Dtype::F32, vec![1], &data).unwrap();
        let bytes = safetensors::serialize([("w", view)], None).unwrap();
        let err = Bundle::from_bytes(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("`glimpse.config`") && err.contains("not a Glimpse bundle"),
            "{err}"
        );
    }

    #[test]
    fn vocabulary_must_fit_the_embedding() {
        let mut bundle = tiny_bundle();
        bundle.weights.insert(
            "decoder.embedding.weight",
            HostTensor::new(vec![4, 2], vec![0.0; 8]).unwrap(),
        );
        let err = Bundle::from_bytes(&bundle.to_bytes(StorageType::F32).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vocabulary has 5 words but `decoder.embedding.weight` has 4 rows"
        );
        let mut bundle = tiny_bundle();
        bundle.config.decoder.vocab_size = 6;
        assert!(
            bundle
                .to_bytes(StorageType::F32)
                .unwrap_err()
                .to_string()
                .contains("vocab_size is 6")
        );
    }

    #[test]
    fn non_finite_values_are_refused_on_read_and_write() {
        let mut bundle = tiny_bundle();
        let ok = bundle.to_bytes(StorageType::F32).unwrap();
        bundle.weights.insert(
            "decoder.fcn.bias",
            HostTensor::new(vec![5], vec![0.0, 0.0, f32::INFINITY, 0.0, 0.0]).unwrap(),
        );
        let err = bundle.to_bytes(StorageType::F32).unwrap_err().to_string();
        assert!(
            err.contains("`decoder.fcn.bias`") && err.contains("flat index 2"),
            "{err}"
        );
        // Patch a NaN into the stored bytes of a valid file.
        let mut bytes = ok.clone();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let (_, meta) = SafeTensors::read_metadata(&ok).unwrap();
        let info = meta.info("decoder.fcn.bias").unwrap();
        let at = 8 + n + info.data_offsets.0 + 4;
        bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let err = Bundle::from_bytes(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("`decoder.fcn.bias` holds a non-finite value") && err.contains("flat index 1"),
            "{err}"
        );
    }

    #[test]
    fn f16_overflow_is_refused() {
        let mut bundle = tiny_bundle();
        bundle.weights.insert(
            "decoder.fcn.bias",
            HostTensor::new(vec![5], vec![1e6; 5]).unwrap(),
        );
        let err = bundle.to_bytes(StorageType::F16).unwrap_err().to_string();
        assert!(err.contains("does not fit in f16"), "{err}");
    }

    #[test]
    fn a_card_metric_that_is_not_a_number_is_refused_on_write() {
        let mut bundle = tiny_bundle();
        bundle.card.metrics.insert("Bleu_4".into(), f64::NAN);
        let err = bundle.to_bytes(StorageType::F32).unwrap_err().to_string();
        assert!(
            err.contains("glimpse.card.metrics.Bleu_4") && err.contains("NaN"),
            "{err}"
        );
    }

    #[test]
    fn other_dtypes_are_refused_by_name() {
        let bundle = tiny_bundle();
        let data = [0u8; 8];
        let mut metadata = std::collections::HashMap::new();
        metadata.insert(CONFIG_KEY.to_string(), bundle.config.to_json());
        metadata.insert(VOCAB_KEY.to_string(), bundle.vocab.to_json());
        metadata.insert(CARD_KEY.to_string(), "{}".to_string());
        let view = TensorView::new(Dtype::I64, vec![1], &data).unwrap();
        let bytes = safetensors::serialize([("decoder.fcn.bias", view)], Some(metadata)).unwrap();
        let err = Bundle::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains("`decoder.fcn.bias` is stored as I64"), "{err}");
    }

    #[test]
    fn bad_metadata_names_the_field() {
        let bundle = tiny_bundle();
        let bytes = bundle.to_bytes(StorageType::F32).unwrap();
        let (n, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let mut config: serde_json::Value =
            serde_json::from_str(&meta.metadata().as_ref().unwrap()[CONFIG_KEY]).unwrap();
        config["encoder"]["dilation"] = 2.into();
        header["__metadata__"][CONFIG_KEY] = config.to_string().into();
        let header = header.to_string().into_bytes();
        let mut patched = (header.len() as u64).to_le_bytes().to_vec();
        patched.extend(&header);
        patched.extend(&bytes[8 + n..]);
        let err = Bundle::from_bytes(&patched).unwrap_err().to_string();
        assert!(
            err.contains("`glimpse.config`") && err.contains("unknown field `dilation`"),
            "{err}"
        );
    }
}
