//! JavaScript values in and out: options objects, images (bytes or `ImageData`), results with
//! one `Float32Array` per word.

use glimpse_model::generate::attention_entropy;
use glimpse_model::preprocess::{Region, decode_image_checked, fill_boxes, image_to_input, rgba_to_image};
use glimpse_model::{Caption, Captioner, Decoding, GenerateOptions, PreprocessConfig, StageTimes};
use image::RgbImage;
use js_sys::{Array, ArrayBuffer, Float32Array, Object, Reflect, Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsError, JsValue};

use crate::device::BackendChoice;
use crate::explore::alternatives_to_js;
use crate::{check_length, to_js};

// TypeScript for what this file reads and writes (wasm-bindgen puts it in glimpse_wasm.d.ts).
// Keep each interface in step with the function below that reads or writes it: the package
// test (tests/browser/package.test.mjs) compares the keys of real results with these.
#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &str = r#"
/** Where a model runs: burn's wgpu backend on WebGPU, or burn's CPU backend. */
export type Backend = "webgpu" | "cpu";

/** `Captioner.load`'s options. Null or missing means the default. */
export interface LoadOptions {
  /** `"auto"` (default): WebGPU when the browser has an adapter, else the CPU (pkg/cpu always
   * runs on the CPU); `"webgpu"` fails without an adapter. */
  backend?: "auto" | "webgpu" | "cpu" | null;
}

/** Decoded RGBA pixels, row by row: an `ImageData` or any object like it. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** A photo: encoded bytes (JPEG, PNG, WebP, GIF or BMP) or decoded RGBA pixels. */
export type ImageInput = Uint8Array | ArrayBuffer | RgbaImage;

/** `caption()`'s options. Null or missing means the default; counts are whole numbers. */
export interface CaptionOptions {
  /** Beam width; 1 (default) decodes greedily. */
  beam?: number | null;
  /** The most words a caption has, the prefix's included (default 20). */
  maxLen?: number | null;
  /** Beam search ranks captions by `logProb / length ** lengthPenalty` (default 0, at most 10; greedy
   * decoding ignores it). */
  lengthPenalty?: number | null;
  /** Words the caption starts with: text (split as training captions are) or vocabulary words. */
  prefix?: string | string[] | null;
  /** How many of the most probable words to record at every position, at most 50 (default 0). */
  alternatives?: number | null;
  /** Every beam hypothesis in `beams`, best first (default false). */
  allBeams?: boolean | null;
  /** A region to hide, in fractions of the photo's width and height: filled with the model's
   * mean colour (what it sees as no signal) after the photo is decoded, before it is resized. */
  hide?: HiddenRegion | null;
}

/** A rectangle in fractions of a photo: `x`, `y` in [0, 1), `w`, `h` in (0, 1]. */
export interface HiddenRegion {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Milliseconds of each stage of one call, timed inside the module. */
export interface StageTimes {
  /** Decoding and resizing the photo. */
  prepareMs: number;
  encoderMs: number;
  /** The decoder, its readbacks included. */
  decoderMs: number;
}

/** One caption (the best one, or one hypothesis in `beams`). */
export interface CaptionHypothesis {
  /** The words joined by spaces. */
  caption: string;
  /** The words, without the end token. */
  tokens: string[];
  /** Where the model looked for each word: `grid[0] * grid[1]` weights, row-major, summing to 1. */
  attention: Float32Array[];
  /** Each map's entropy in nats (0: one cell; ln(cells): spread evenly). */
  entropy: number[];
  /** Natural log-probability of every generated token, the end token included. */
  logProb: number;
  /** What beam search ranked it by: `logProb / length ** lengthPenalty` (the end token counted). */
  score: number;
  /** Whether the end token was generated (else `maxLen` stopped it). */
  finished: boolean;
  /** With `alternatives`: the most probable words at each position, one list per word and one
   * more for the end token when `finished`. */
  alternatives?: Alternative[][];
}

/** What `caption()` resolves with. */
export interface CaptionResult extends CaptionHypothesis {
  /** `[rows, columns]` of the attention maps. */
  grid: [number, number];
  /** With `allBeams`: every hypothesis, best first (the first is this caption). */
  beams?: CaptionHypothesis[];
  backend: Backend;
  /** The whole call, in milliseconds. */
  ms: number;
  stages: StageTimes;
  /** A device change made during this call (WebGPU failed, so the model moved to the CPU). */
  note: string | null;
  /** A damaged photo that still decoded, special tokens in the caption (an untrained or damaged
   * decoder), or prefix words read as `<UNK>`. */
  warning: string | null;
}

/** A bundle's model card (`glimpse info` shows the same). */
export interface ModelCard {
  name: string;
  description: string;
  /** The data the decoder was trained on; empty if none. */
  trained_on: string;
  /** An untrained decoder's captions mean nothing. */
  decoder_trained: boolean;
  encoder_weights: string;
  /** Evaluation results by coco-caption name (`Bleu_4`, `CIDEr`, …). */
  metrics: Record<string, number>;
  epochs: number | null;
  /** ISO 8601 date the bundle was written. */
  created: string;
  notes: string;
}

/** A bundle's model config, as the bundle stores it. */
export interface ModelConfig {
  version: number;
  encoder: {
    arch: "resnet18" | "resnet34" | "resnet50" | "resnet101" | "resnet152" | "mobilenet_v2";
    width_multiplier: number;
    /** Adaptive pooling of the feature map to `[rows, columns]`; null keeps the network's grid. */
    pooled_grid: [number, number] | null;
  };
  attention: { dim: number; activation: "tanh" | "relu"; gate: boolean };
  decoder: { vocab_size: number; embed_dim: number; hidden_dim: number; dropout: number };
  preprocess: {
    /** `[height, width]` the whole photo is resized to. */
    size: [number, number];
    mean: [number, number, number];
    std: [number, number, number];
    /** Photos whose header claims more pixels are refused before decoding. */
    max_pixels: number;
  };
}

/** What `info()` returns. */
export interface Info {
  card: ModelCard;
  config: ModelConfig;
  /** Words in the vocabulary, special tokens included. */
  vocabularySize: number;
  /** `[rows, columns]` of the attention maps. */
  grid: [number, number];
  backend: Backend;
  /** Which module this is: pkg/cpu, pkg/cpu-relaxed, pkg/cpu-threads or pkg/webgpu. */
  module: "cpu" | "cpu-relaxed" | "cpu-threads" | "webgpu";
  /** Threads burn's CPU kernels run on: the pool's size in pkg/cpu-threads, else 1. */
  threads: number;
  /** Why the CPU is used although WebGPU was wanted (no adapter, a failure). */
  note: string | null;
}
"#;

pub(crate) fn get(object: &JsValue, key: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn number(object: &JsValue, key: &str, default: f64) -> Result<f64, JsError> {
    let value = get(object, key);
    if value.is_undefined() || value.is_null() {
        return Ok(default);
    }
    value
        .as_f64()
        .ok_or_else(|| JsError::new(&format!("option `{key}` must be a number")))
}

/// A whole number of at most `u32::MAX` (each option's own range is checked where it is used;
/// past this one, 2^33 was reported as 4294967295).
pub(crate) fn whole(object: &JsValue, key: &str, default: usize) -> Result<usize, JsError> {
    let value = number(object, key, default as f64)?;
    if value.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&value) {
        return Err(JsError::new(&format!(
            "option `{key}` must be a whole number from 0 to {}, got {}",
            u32::MAX,
            shown_number(value)
        )));
    }
    Ok(value as usize)
}

/// A number as a person wrote it: whole ones without `.0`, others as `{:?}` shows them (1e300
/// in five characters, not 301).
fn shown_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e16 {
        format!("{}", value as i64)
    } else {
        format!("{value:?}")
    }
}

/// Refuses options that are not an object and names none of `known` is not (a misspelt
/// `max_len`, the command line's spelling, was ignored and the caption ran with the default).
pub(crate) fn check_option_names(options: &JsValue, known: &[&str]) -> Result<(), JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(());
    }
    if !options.is_object() {
        return Err(JsError::new("options must be an object"));
    }
    let names = Object::keys(options.unchecked_ref::<Object>());
    let unknown = names
        .iter()
        .filter_map(|name| name.as_string())
        .find(|name| !known.contains(&name.as_str()));
    match unknown {
        Some(name) => Err(JsError::new(&format!(
            "unknown option {:?} (the options are {})",
            name.chars().take(64).collect::<String>(),
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `{ backend: "auto" | "webgpu" | "cpu" }`.
pub fn read_load_options(options: &JsValue) -> Result<BackendChoice, JsError> {
    check_option_names(options, &["backend"])?;
    let value = get(options, "backend");
    if value.is_undefined() || value.is_null() {
        return Ok(BackendChoice::Auto);
    }
    value
        .as_string()
        .and_then(|name| BackendChoice::parse(&name))
        .ok_or_else(|| JsError::new("option `backend` must be \"auto\", \"webgpu\" or \"cpu\""))
}

/// `{ beam, maxLen, lengthPenalty }`: a beam of 1 decodes greedily.
pub fn read_generate_options(options: &JsValue) -> Result<GenerateOptions, JsError> {
    let defaults = GenerateOptions::default();
    let beam = whole(options, "beam", defaults.decoding.beam_width())?;
    let max_len = whole(options, "maxLen", defaults.max_len)?;
    let length_penalty = number(options, "lengthPenalty", defaults.decoding.length_penalty())?;
    Ok(GenerateOptions {
        decoding: Decoding::from_beam(beam, length_penalty).map_err(to_js)?,
        max_len,
    })
}

/// Option `hide`: `{ x, y, w, h }`, the region to hide in fractions of the photo, if any.
pub fn read_hidden_region(options: &JsValue) -> Result<Option<Region>, JsError> {
    let hide = get(options, "hide");
    if hide.is_undefined() || hide.is_null() {
        return Ok(None);
    }
    if !hide.is_object() {
        return Err(JsError::new(
            "option `hide` must be an object { x, y, w, h } in fractions of the photo",
        ));
    }
    let field = |key: &str| {
        get(&hide, key).as_f64().ok_or_else(|| {
            JsError::new(&format!(
                "option `hide.{key}` must be a number (a fraction of the photo)"
            ))
        })
    };
    let region = Region::new(field("x")?, field("y")?, field("w")?, field("h")?);
    region.map(Some).map_err(to_js)
}

/// The encoder input for encoded bytes or decoded RGBA pixels, with `hide`'s region filled if
/// given, and the decoder's warning about a damaged file that still decoded (a truncated JPEG).
pub fn image_input(
    captioner: &Captioner,
    image: &JsValue,
    hide: Option<Region>,
) -> Result<(Vec<f32>, Option<String>), JsError> {
    let photo = |array: &JsValue| check_length(array, glimpse_files::caps::IMAGE, "photo");
    let preprocess = &captioner.config.preprocess;
    if let Some(bytes) = image.dyn_ref::<Uint8Array>() {
        photo(bytes)?;
        return encoded_input(preprocess, &bytes.to_vec(), hide);
    }
    if let Some(buffer) = image.dyn_ref::<ArrayBuffer>() {
        photo(buffer)?;
        return encoded_input(preprocess, &Uint8Array::new(buffer).to_vec(), hide);
    }
    let data = get(image, "data");
    if let (Some(width), Some(height)) = (pixels_across(image, "width")?, pixels_across(image, "height")?) {
        let pixels = if let Some(clamped) = data.dyn_ref::<Uint8ClampedArray>() {
            photo(clamped)?;
            clamped.to_vec()
        } else if let Some(plain) = data.dyn_ref::<Uint8Array>() {
            photo(plain)?;
            plain.to_vec()
        } else {
            return Err(JsError::new(
                "image.data must be a Uint8ClampedArray of RGBA pixels",
            ));
        };
        let decoded = rgba_to_image(width, height, &pixels, preprocess).map_err(to_js)?;
        return Ok((hidden_input(decoded, hide, preprocess), None));
    }
    Err(JsError::new(
        "image must be encoded bytes (Uint8Array or ArrayBuffer) or ImageData",
    ))
}

/// `image.width` or `image.height`: `None` where it is not a number (not pixels at all), else a
/// whole number of pixels that fits a `u32` (1.99 was cut to 1 and captioned as another image;
/// NaN read as 0, Infinity as 4294967295).
fn pixels_across(image: &JsValue, key: &str) -> Result<Option<u32>, JsError> {
    let Some(value) = get(image, key).as_f64() else {
        return Ok(None);
    };
    if value.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&value) {
        return Err(JsError::new(&format!(
            "image.{key} must be a whole number of pixels from 1 to {}, got {}",
            u32::MAX,
            shown_number(value)
        )));
    }
    Ok(Some(value as u32))
}

fn encoded_input(
    preprocess: &PreprocessConfig,
    bytes: &[u8],
    hide: Option<Region>,
) -> Result<(Vec<f32>, Option<String>), JsError> {
    let decoded = decode_image_checked(bytes, preprocess.max_pixels).map_err(to_js)?;
    Ok((hidden_input(decoded.image, hide, preprocess), decoded.warning))
}

/// The encoder input of `photo`, `hide`'s region first filled with the mean colour.
fn hidden_input(mut photo: RgbImage, hide: Option<Region>, preprocess: &PreprocessConfig) -> Vec<f32> {
    if let Some(region) = hide {
        let hidden = region.pixels(photo.width(), photo.height());
        fill_boxes(&mut photo, &[hidden], preprocess.mean_colour());
    }
    image_to_input(&photo, preprocess)
}

pub(crate) fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &key.into(), &value.into());
}

/// What [`caption_to_js`] reports beside the words.
pub struct CaptionMeta<'a> {
    pub backend: &'a str,
    pub ms: f64,
    pub stages: StageTimes,
    /// A device change made while captioning.
    pub note: Option<&'a str>,
    /// A damaged photo, special tokens in the caption ([`Captioner::caption_warning`]), or
    /// prefix words read as `<UNK>`.
    pub warning: Option<String>,
    /// Beam search's ranking exponent, for each beam's `score`.
    pub length_penalty: f64,
    /// Whether every hypothesis was asked for (`beams` is then present).
    pub all_beams: bool,
}

/// One caption's own fields: `{ caption, tokens, attention: [Float32Array per word], entropy,
/// logProb, score, finished, alternatives }` (`alternatives` only when asked for).
fn caption_object(caption: &Caption, length_penalty: f64) -> Object {
    let out = Object::new();
    set(&out, "caption", caption.text());
    let tokens: Array = caption.tokens.iter().map(|t| JsValue::from_str(t)).collect();
    set(&out, "tokens", tokens);
    let maps = caption.attention.iter();
    let attention: Array = maps
        .clone()
        .map(|a| JsValue::from(Float32Array::from(a.as_slice())))
        .collect();
    set(&out, "attention", attention);
    let entropy: Array = maps.map(|a| JsValue::from(attention_entropy(a))).collect();
    set(&out, "entropy", entropy);
    set(&out, "logProb", caption.log_prob);
    set(&out, "score", caption.beam_score(length_penalty));
    set(&out, "finished", caption.finished);
    if !caption.alternatives.is_empty() {
        let positions: Array = caption
            .alternatives
            .iter()
            .map(|a| JsValue::from(alternatives_to_js(a)))
            .collect();
        set(&out, "alternatives", positions);
    }
    out
}

pub(crate) fn set_stages(out: &Object, times: StageTimes) {
    let stages = Object::new();
    set(&stages, "prepareMs", times.prepare_ms);
    set(&stages, "encoderMs", times.encoder_ms);
    set(&stages, "decoderMs", times.decoder_ms);
    set(out, "stages", stages);
}

/// The result object for the best of `ranked` (best first): its fields, `grid`, `backend`,
/// `ms`, `stages`, `note`, `warning`, and with `allBeams` every hypothesis in `beams`.
pub fn caption_to_js(ranked: &[Caption], meta: CaptionMeta) -> JsValue {
    let best = &ranked[0];
    let out = caption_object(best, meta.length_penalty);
    let grid: Array = best.grid.iter().map(|&g| JsValue::from(g as u32)).collect();
    set(&out, "grid", grid);
    if meta.all_beams {
        let beams: Array = ranked
            .iter()
            .map(|caption| JsValue::from(caption_object(caption, meta.length_penalty)))
            .collect();
        set(&out, "beams", beams);
    }
    set(&out, "backend", meta.backend);
    set(&out, "ms", meta.ms);
    set_stages(&out, meta.stages);
    set(
        &out,
        "note",
        meta.note.map(JsValue::from_str).unwrap_or(JsValue::NULL),
    );
    set(
        &out,
        "warning",
        meta.warning.map(JsValue::from).unwrap_or(JsValue::NULL),
    );
    out.into()
}

/// `{ card, config, vocabularySize, grid, backend, module, threads, note }`.
pub fn info_to_js(
    captioner: &Captioner,
    backend: &str,
    note: Option<&str>,
    (module, threads): (&str, usize),
) -> Result<JsValue, JsError> {
    let info = serde_json::json!({
        "card": captioner.card,
        "config": captioner.config,
        "vocabularySize": captioner.vocab.len(),
        "grid": captioner.config.grid(),
        "backend": backend,
        "module": module,
        "threads": threads,
        "note": note,
    });
    js_sys::JSON::parse(&info.to_string()).map_err(|_| JsError::new("model info is not JSON"))
}
