//! # glimpse-wasm
//!
//! Glimpse in the browser: the very model crate the native tool uses, behind an ES-module API
//! (wasm-bindgen), on WebGPU through burn's wgpu backend or on the CPU through burn's pure-Rust
//! `flex` backend built with wasm SIMD.
//!
//! ```js
//! import init, { Captioner } from "./pkg/cpu/glimpse_wasm.js"; // or ./pkg/webgpu/…
//! await init();
//! const captioner = await Captioner.load(bundleBytes, { backend: "auto" }); // "webgpu" | "cpu"
//! const result = await captioner.caption(imageBytesOrImageData, { beam: 3, maxLen: 20 });
//! // { caption, tokens, attention: [Float32Array per word], entropy, grid: [h, w], logProb,
//! //   score, finished, backend: "webgpu" | "cpu", ms, stages: { prepareMs, encoderMs,
//! //   decoderMs }, note, warning }
//! // Exploring: continue given words, the top words at every position, every beam.
//! await captioner.caption(image, { prefix: ["a", "cat"], alternatives: 5, beam: 3, allBeams: true });
//! // + alternatives: [[{ word, id, prob, logProb }] per position], beams: [caption objects]
//! const scored = await captioner.score(image, "a dog runs on the grass", { alternatives: 5 });
//! // { words: [{ word, typed, id, prob, logProb, rank, attention, entropy, alternatives }],
//! //   end, logProb, grid, notes, backend, ms, stages }
//! captioner.info(); // { card, config, vocabularySize, grid, backend, module, threads, note }
//! ```
//!
//! Built four times: `pkg/cpu` (burn's CPU backend only, small, what every visitor loads
//! first), `pkg/cpu-relaxed` (the same with the `relaxed-simd` feature: fused multiply-adds in
//! the convolution kernels; for browsers that validate relaxed SIMD), `pkg/cpu-threads` (the same with the `threads` feature: burn's CPU kernels over a
//! rayon pool of Web Workers, started by `initThreadPool(n)`; for cross-origin isolated pages)
//! and `pkg/webgpu` (with the `webgpu` feature: both backends), which the page fetches only
//! where the browser has a WebGPU adapter and uses only when it captions faster.
//!
//! Its TypeScript types (`glimpse_wasm.d.ts`: `CaptionOptions`, `CaptionResult`, `Info`, …) are
//! the `typescript_custom_section`s beside the code that reads and writes each object
//! (`convert.rs`, `explore.rs`).
//!
//! Every readback is async (browsers forbid synchronous ones) and device initialisation is
//! `init_async`. On WebGPU greedy decoding chooses its words on the GPU and reads them back
//! every `GPU_STEPS_PER_READBACK` steps, not every step: each readback is a round trip. When WebGPU fails after loading (device lost, a shader or limits error), the
//! captioner moves to the CPU, says so in `note`, and the caption still arrives.
#![cfg(target_family = "wasm")]

mod convert;
mod device;
mod explore;
mod memory;

use glimpse_model::{Bundle, ExploreOptions, GenerateOptions, StageTimes};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use crate::convert::{
    CaptionMeta, caption_to_js, image_input, info_to_js, read_generate_options, read_load_options,
};
use crate::device::{MODULE, Placement, cpu_threads, forget_webgpu, place};
use crate::explore::{read_explore_request, read_words, scored_to_js};

/// `initThreadPool(n)` (the `threads` module only): starts `n` Web Workers for burn's CPU kernels.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The most bytes of one photo (encoded, or RGBA pixels) `caption` and `score` take: the native
/// tool's cap, so that a page can refuse a larger file before reading it.
#[wasm_bindgen(js_name = maxImageBytes)]
pub fn max_image_bytes() -> f64 {
    glimpse_files::caps::IMAGE as f64
}

/// Refuses, from its first bytes (16 tell any format), a file `caption` would refuse for its
/// format, with the same message: a page need not copy a whole video into the module's memory,
/// which never shrinks, to be told it is no photo.
#[wasm_bindgen(js_name = checkPhotoStart)]
pub fn check_photo_start(start: &[u8]) -> Result<(), JsError> {
    glimpse_model::preprocess::check_format(start).map_err(to_js)
}

/// The most bytes of a bundle `Captioner.load` takes (the native tool's cap for a 32-bit
/// address space), so that a page can stop a download that goes past it.
#[wasm_bindgen(js_name = maxBundleBytes)]
pub fn max_bundle_bytes() -> f64 {
    glimpse_files::caps::MODEL as f64
}

/// The most memory this module's instance can grow to: a model it cannot load within it is
/// refused before its weights are read (a trap, on the threaded module, before).
const MODULE_MEMORY_BYTES: u64 = if cfg!(feature = "threads") {
    memory::THREADED_MODULE_BYTES
} else {
    4 << 30
};

/// Refuses `array` (a typed array or an `ArrayBuffer`) of more than `cap` bytes of `what` before
/// it is copied into this module's memory (which never shrinks). Its `byteLength` is read as
/// JavaScript's number: js-sys's lengths are `u32`s, which took 2^32 + 100 bytes for 100.
pub(crate) fn check_length(array: &JsValue, cap: u64, what: &str) -> Result<(), JsError> {
    let length = convert::get(array, "byteLength")
        .as_f64()
        .unwrap_or(f64::INFINITY);
    if length > cap as f64 {
        return Err(JsError::new(&format!(
            "the {what} is {length} bytes, over the limit of {}",
            glimpse_files::caps::human(cap)
        )));
    }
    Ok(())
}

/// What `caption()`'s options may name.
const CAPTION_OPTIONS: [&str; 7] = [
    "beam",
    "maxLen",
    "lengthPenalty",
    "prefix",
    "alternatives",
    "allBeams",
    "hide",
];

/// A loaded model, ready to caption.
#[wasm_bindgen]
pub struct Captioner {
    inner: glimpse_model::Captioner,
    /// The bundle file, kept on WebGPU only: to rebuild the model on the CPU if the GPU fails.
    bundle_bytes: Option<Vec<u8>>,
    placement: Placement,
}

#[wasm_bindgen]
impl Captioner {
    /// Parses a `.safetensors` bundle and loads it on the chosen backend:
    /// `{ backend: "auto" | "webgpu" | "cpu" }` (default `"auto"`: WebGPU when the browser has an
    /// adapter, else the CPU).
    pub async fn load(
        bundle: Uint8Array,
        #[wasm_bindgen(unchecked_optional_param_type = "LoadOptions")] options: JsValue,
    ) -> Result<Captioner, JsValue> {
        let choice = read_load_options(&options)?;
        check_length(&bundle, glimpse_files::caps::MODEL, "bundle")?;
        let bytes = bundle.to_vec();
        let parsed = Bundle::from_bytes_within(&bytes, MODULE_MEMORY_BYTES).map_err(load_error)?;
        let placement = place(choice).await?;
        // On the CPU the file's copy goes before the model is built: WebAssembly memory never
        // shrinks, so its high-water mark is what the page keeps.
        let bundle_bytes = placement.choice_is_gpu().then_some(bytes);
        let inner = placement.load(parsed).map_err(to_js)?;
        Ok(Captioner {
            inner,
            bundle_bytes,
            placement,
        })
    }

    /// Captions an encoded image (`Uint8Array`/`ArrayBuffer` of JPEG, PNG, WebP, GIF or BMP
    /// bytes) or decoded pixels (`ImageData`, or any `{ width, height, data }` RGBA object).
    /// Options: `{ beam = 1, maxLen = 20, lengthPenalty = 0 }`, and to explore: `prefix` (words
    /// the caption starts with: a string or an array of vocabulary words), `alternatives` (the
    /// top words recorded at every position), `allBeams` (every hypothesis in `beams`), and
    /// `hide` (a region `{ x, y, w, h }` in fractions of the photo, filled with the mean colour
    /// before resizing).
    #[wasm_bindgen(unchecked_return_type = "CaptionResult")]
    pub async fn caption(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "ImageInput")] image: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CaptionOptions")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        convert::check_option_names(&options, &CAPTION_OPTIONS)?;
        let generate: GenerateOptions = read_generate_options(&options)?;
        generate.validate().map_err(to_js)?;
        let request = read_explore_request(&options)?;
        let hide = convert::read_hidden_region(&options)?;
        let (prefix, prefix_notes) = self.inner.lookup_words(&request.prefix).map_err(to_js)?;
        let explore = ExploreOptions {
            prefix,
            alternatives: request.alternatives,
            all_beams: request.all_beams,
        };
        explore
            .validate(&self.inner.vocab, generate.max_len)
            .map_err(to_js)?;
        let started = js_sys::Date::now();
        let gpu_before = self.placement.choice_is_gpu();
        let (input, image_warning) = image_input(&self.inner, &image, hide)?;
        let prepare_ms = js_sys::Date::now() - started;
        let input = std::slice::from_ref(&input);
        let explore = &explore;
        let (ranked, stages) = self
            .on_device("captioning", async |inner| {
                timed(inner, input, async |inner, encoded| {
                    Ok(inner.explore_images(encoded, generate, explore).await?.remove(0))
                })
                .await
            })
            .await?;
        let warnings = self.inner.caption_warning(image_warning, &ranked);
        let meta = CaptionMeta {
            backend: self.placement.name(),
            ms: js_sys::Date::now() - started,
            stages: StageTimes { prepare_ms, ..stages },
            note: self.switch_note(gpu_before),
            warning: join_warnings(warnings, prefix_notes),
            length_penalty: generate.decoding.length_penalty(),
            all_beams: explore.all_beams,
        };
        Ok(caption_to_js(&ranked, meta))
    }

    /// Scores a caption for an image: `caption` is a string (split as training captions are)
    /// or an array of words; options `{ alternatives = 0 }`. Each word's probability, rank,
    /// attention and attention entropy, by teacher forcing; words the vocabulary lacks are read
    /// as `<UNK>` and named in `notes`.
    #[wasm_bindgen(unchecked_return_type = "ScoreResult")]
    pub async fn score(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "ImageInput")] image: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | string[]")] caption: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ScoreOptions")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        convert::check_option_names(&options, &["alternatives"])?;
        let typed = read_words(&caption, "caption")?;
        let alternatives = convert::whole(&options, "alternatives", 0)?;
        // Checked here, not inside `on_device`: a bad caption is not a WebGPU failure.
        self.inner.lookup_words(&typed).map_err(to_js)?;
        self.inner.config.check_scored_words(typed.len()).map_err(to_js)?;
        glimpse_model::generate::explore::check_alternatives(alternatives).map_err(to_js)?;
        let started = js_sys::Date::now();
        let (input, _) = image_input(&self.inner, &image, None)?;
        let prepare_ms = js_sys::Date::now() - started;
        let input = std::slice::from_ref(&input);
        let typed_words = &typed;
        let (scored, stages) = self
            .on_device("scoring", async |inner| {
                timed(inner, input, async |inner, encoded| {
                    inner.score_encoded(encoded, typed_words, alternatives).await
                })
                .await
            })
            .await?;
        let stages = StageTimes { prepare_ms, ..stages };
        let ms = js_sys::Date::now() - started;
        Ok(scored_to_js(&scored, &typed, self.placement.name(), ms, stages))
    }

    /// Runs `work` on the model; when WebGPU fails during it, moves the model to the CPU and
    /// runs `work` again there (the note says so).
    async fn on_device<T>(
        &mut self,
        what: &str,
        work: impl AsyncFn(&glimpse_model::Captioner) -> glimpse_model::Result<T>,
    ) -> Result<T, JsError> {
        match work(&self.inner).await {
            Ok(done) => Ok(done),
            Err(err) if self.placement.choice_is_gpu() => {
                let cause = err.to_string();
                let cause = cause.lines().next().unwrap_or_default().trim_end_matches(':');
                self.move_to_cpu(format!(
                    "WebGPU failed while {what} ({cause}), so the model moved to the CPU"
                ))?;
                work(&self.inner).await.map_err(to_js)
            }
            Err(err) => Err(to_js(err)),
        }
    }

    /// The device-change note for this call: only a switch made during it is news.
    fn switch_note(&self, gpu_before: bool) -> Option<&str> {
        let switched = gpu_before && !self.placement.choice_is_gpu();
        if switched {
            self.placement.note.as_deref()
        } else {
            None
        }
    }

    /// The model card, config, vocabulary size, attention grid and the backend in use.
    #[wasm_bindgen(unchecked_return_type = "Info")]
    pub fn info(&self) -> Result<JsValue, JsError> {
        info_to_js(
            &self.inner,
            self.placement.name(),
            self.placement.note.as_deref(),
            (MODULE, cpu_threads()),
        )
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter, unchecked_return_type = "Backend")]
    pub fn backend(&self) -> String {
        self.placement.name().to_string()
    }

    /// Gives up on WebGPU for this captioner (the page does this after a GPU fault it saw).
    #[wasm_bindgen(js_name = useCpu)]
    pub fn use_cpu(&mut self, reason: String) -> Result<(), JsError> {
        self.move_to_cpu(reason)
    }

    /// Rebuilds the model on the CPU; nothing to do when it is there already (only a WebGPU
    /// captioner keeps the file). If rebuilding fails, everything stays as it was, to retry.
    fn move_to_cpu(&mut self, reason: String) -> Result<(), JsError> {
        let Some(bytes) = &self.bundle_bytes else {
            return Ok(());
        };
        forget_webgpu(&reason);
        // Within the module's memory, as a load is: a CPU copy that cannot fit is refused by name
        // rather than trapping.
        let bundle = Bundle::from_bytes_within(bytes, MODULE_MEMORY_BYTES).map_err(to_js)?;
        let placement = Placement::cpu(Some(reason));
        self.inner = placement.load(bundle).map_err(to_js)?;
        self.placement = placement;
        self.bundle_bytes = None;
        web_sys::console::warn_1(&JsValue::from_str(self.placement.note.as_deref().unwrap_or("")));
        Ok(())
    }
}

/// Encodes one prepared input (a slice of one) and runs `decode` on it, timing the two halves.
async fn timed<T>(
    inner: &glimpse_model::Captioner,
    input: &[Vec<f32>],
    decode: impl AsyncFn(
        &glimpse_model::Captioner,
        &glimpse_model::decoder::EncodedImages,
    ) -> glimpse_model::Result<T>,
) -> glimpse_model::Result<(T, StageTimes)> {
    let started = js_sys::Date::now();
    let encoded = inner.encode_inputs(input)?;
    inner.finish_encoding(&encoded).await?;
    let encoded_at = js_sys::Date::now();
    let done = decode(inner, &encoded).await?;
    let stages = StageTimes {
        prepare_ms: 0.0,
        encoder_ms: encoded_at - started,
        decoder_ms: js_sys::Date::now() - encoded_at,
    };
    Ok((done, stages))
}

/// The caption's warnings and the prefix's notes as one message.
fn join_warnings(warning: Option<String>, notes: Vec<String>) -> Option<String> {
    let all: Vec<String> = warning.into_iter().chain(notes).collect();
    (!all.is_empty()).then(|| all.join("; "))
}

pub(crate) fn to_js(err: impl std::fmt::Display) -> JsError {
    JsError::new(&err.to_string())
}

/// A bundle's error; for a model this module's memory cannot hold it carries `tooLarge: true`,
/// so that a page can load it on a module with more memory.
fn load_error(err: glimpse_model::Error) -> JsValue {
    let too_large = matches!(err, glimpse_model::Error::TooLarge { .. });
    let error = JsValue::from(to_js(err));
    if too_large {
        // Setting a property of a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&error, &"tooLarge".into(), &JsValue::TRUE);
    }
    error
}
