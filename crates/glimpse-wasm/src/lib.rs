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
//! // { caption, tokens, attention: [Float32Array per word], grid: [h, w], logProb, finished,
//! //   backend: "webgpu" | "cpu", ms, stages: { prepareMs, encoderMs, decoderMs }, note }
//! captioner.info(); // { card, config, vocabularySize, grid, backend, module, note }
//! ```
//!
//! Built twice: `pkg/cpu` (burn's CPU backend only, small, what every visitor loads first) and
//! `pkg/webgpu` (with the `webgpu` feature: both backends), which the page fetches only where
//! the browser has a WebGPU adapter and uses only when it captions faster.
//!
//! Every readback is async (browsers forbid synchronous ones) and device initialisation is
//! `init_async`. When WebGPU fails after loading (device lost, a shader or limits error), the
//! captioner moves to the CPU, says so in `note`, and the caption still arrives.
#![cfg(target_family = "wasm")]

mod convert;
mod device;

use glimpse_model::{Bundle, Caption, GenerateOptions, StageTimes};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use crate::convert::{
    CaptionMeta, caption_to_js, image_input, info_to_js, read_generate_options, read_load_options,
};
use crate::device::{MODULE, Placement, forget_webgpu, place};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A loaded model, ready to caption.
#[wasm_bindgen]
pub struct Captioner {
    inner: glimpse_model::Captioner,
    /// The bundle file, kept to rebuild the model on the CPU if WebGPU fails later.
    bundle_bytes: Vec<u8>,
    placement: Placement,
}

#[wasm_bindgen]
impl Captioner {
    /// Parses a `.safetensors` bundle and loads it on the chosen backend:
    /// `{ backend: "auto" | "webgpu" | "cpu" }` (default `"auto"`: WebGPU when the browser has an
    /// adapter, else the CPU).
    pub async fn load(bundle: Uint8Array, options: JsValue) -> Result<Captioner, JsError> {
        let choice = read_load_options(&options)?;
        let bytes = bundle.to_vec();
        let parsed = Bundle::from_bytes(&bytes).map_err(to_js)?;
        let placement = place(choice).await?;
        let inner = match glimpse_model::Captioner::from_bundle(parsed, &placement.device) {
            Ok(inner) => inner,
            Err(err) => return Err(to_js(err)),
        };
        Ok(Captioner {
            inner,
            bundle_bytes: bytes,
            placement,
        })
    }

    /// Captions an encoded image (`Uint8Array`/`ArrayBuffer` of JPEG, PNG, WebP, GIF or BMP
    /// bytes) or decoded pixels (`ImageData`, or any `{ width, height, data }` RGBA object).
    /// Options: `{ beam = 1, maxLen = 20, lengthPenalty = 0 }`.
    pub async fn caption(&mut self, image: JsValue, options: JsValue) -> Result<JsValue, JsError> {
        let options: GenerateOptions = read_generate_options(&options)?;
        options.validate().map_err(to_js)?;
        let started = js_sys::Date::now();
        let gpu_before = self.placement.choice_is_gpu();
        let (input, image_warning) = image_input(&self.inner, &image)?;
        let prepare_ms = js_sys::Date::now() - started;
        let (caption, stages) = match self.timed_caption(std::slice::from_ref(&input), options).await {
            Ok(done) => done,
            Err(err) if self.placement.choice_is_gpu() => {
                let cause = err.to_string();
                let cause = cause.lines().next().unwrap_or_default().trim_end_matches(':');
                self.move_to_cpu(format!(
                    "WebGPU failed while captioning ({cause}), so the model moved to the CPU"
                ))?;
                self.timed_caption(std::slice::from_ref(&input), options)
                    .await
                    .map_err(to_js)?
            }
            Err(err) => return Err(to_js(err)),
        };
        let ms = js_sys::Date::now() - started;
        // Only a switch made during this very call is news for this caption.
        let switched = gpu_before && !self.placement.choice_is_gpu();
        let note = if switched {
            self.placement.note.as_deref()
        } else {
            None
        };
        let meta = CaptionMeta {
            backend: self.placement.name(),
            ms,
            stages: StageTimes { prepare_ms, ..stages },
            note,
            warning: self.inner.caption_warning(image_warning, &caption),
        };
        Ok(caption_to_js(&caption, meta))
    }

    /// Encodes and decodes one prepared input (a slice of one), timing the two halves.
    async fn timed_caption(
        &self,
        input: &[Vec<f32>],
        options: GenerateOptions,
    ) -> glimpse_model::Result<(Caption, StageTimes)> {
        let started = js_sys::Date::now();
        let encoded = self.inner.encode_inputs(input)?;
        self.inner.finish_encoding(&encoded).await?;
        let encoded_at = js_sys::Date::now();
        let caption = self.inner.decode_encoded(&encoded, options).await?.remove(0);
        let stages = StageTimes {
            prepare_ms: 0.0,
            encoder_ms: encoded_at - started,
            decoder_ms: js_sys::Date::now() - encoded_at,
        };
        Ok((caption, stages))
    }

    /// The model card, config, vocabulary size, attention grid and the backend in use.
    pub fn info(&self) -> Result<JsValue, JsError> {
        info_to_js(
            &self.inner,
            self.placement.name(),
            self.placement.note.as_deref(),
            MODULE,
        )
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.placement.name().to_string()
    }

    /// Gives up on WebGPU for this captioner (the page does this after a GPU fault it saw).
    #[wasm_bindgen(js_name = useCpu)]
    pub fn use_cpu(&mut self, reason: String) -> Result<(), JsError> {
        self.move_to_cpu(reason)
    }

    fn move_to_cpu(&mut self, reason: String) -> Result<(), JsError> {
        forget_webgpu(&reason);
        let bundle = Bundle::from_bytes(&self.bundle_bytes).map_err(to_js)?;
        self.placement = Placement::cpu(Some(reason));
        self.inner = glimpse_model::Captioner::from_bundle(bundle, &self.placement.device).map_err(to_js)?;
        web_sys::console::warn_1(&JsValue::from_str(self.placement.note.as_deref().unwrap_or("")));
        Ok(())
    }
}

pub(crate) fn to_js(err: impl std::fmt::Display) -> JsError {
    JsError::new(&err.to_string())
}
