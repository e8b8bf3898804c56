//! Where the model runs: WebGPU (burn's wgpu backend, initialised asynchronously as browsers
//! require) or the CPU (burn's `flex`).

#[cfg(feature = "webgpu")]
use std::cell::RefCell;

use burn::tensor::Device;
use glimpse_model::{Bundle, GPU_STEPS_PER_READBACK};
use wasm_bindgen::JsError;

/// What the page asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// WebGPU when the browser offers an adapter, else the CPU.
    Auto,
    WebGpu,
    Cpu,
}

impl BackendChoice {
    pub fn parse(name: &str) -> Option<BackendChoice> {
        match name {
            "auto" => Some(BackendChoice::Auto),
            "webgpu" => Some(BackendChoice::WebGpu),
            "cpu" => Some(BackendChoice::Cpu),
            _ => None,
        }
    }
}

/// The device a captioner uses, and why, when it is not the one asked for.
pub struct Placement {
    pub device: Device,
    gpu: bool,
    /// Why the CPU is used although WebGPU was wanted (no adapter, a later failure).
    pub note: Option<String>,
}

impl Placement {
    pub fn cpu(note: Option<String>) -> Placement {
        Placement {
            device: Device::flex(),
            gpu: false,
            note,
        }
    }

    fn gpu(device: Device) -> Placement {
        Placement {
            device,
            gpu: true,
            note: None,
        }
    }

    pub fn name(&self) -> &'static str {
        if self.gpu { "webgpu" } else { "cpu" }
    }

    pub fn choice_is_gpu(&self) -> bool {
        self.gpu
    }

    /// Builds the model on this device. On WebGPU greedy decoding reads its words back every
    /// few steps, since each readback is a round trip to the GPU; on the CPU every step.
    pub fn load(&self, bundle: Bundle) -> glimpse_model::Result<glimpse_model::Captioner> {
        let mut captioner = glimpse_model::Captioner::from_bundle(bundle, &self.device)?;
        if self.gpu {
            captioner.set_steps_per_readback(GPU_STEPS_PER_READBACK);
        }
        Ok(captioner)
    }
}

#[cfg(feature = "webgpu")]
thread_local! {
    /// burn initialises a wgpu runtime once per page; later loads reuse it (or its failure).
    static WEBGPU: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
}

/// After a GPU fault the device is gone for this page; later loads go to the CPU.
pub fn forget_webgpu(reason: &str) {
    #[cfg(feature = "webgpu")]
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(Err(format!("the GPU device was lost earlier ({reason})"))));
    #[cfg(not(feature = "webgpu"))]
    let _ = reason;
}

#[cfg(feature = "webgpu")]
async fn webgpu() -> Result<Device, String> {
    if let Some(known) = WEBGPU.with(|cell| cell.borrow().clone()) {
        return known;
    }
    let result = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| e.to_string());
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(result.clone()));
    result
}

#[cfg(not(feature = "webgpu"))]
async fn webgpu() -> Result<Device, String> {
    Err(format!(
        "this is a CPU-only module (pkg/{MODULE}); WebGPU needs pkg/webgpu"
    ))
}

/// Finds the device for `choice`.
pub async fn place(choice: BackendChoice) -> Result<Placement, JsError> {
    match choice {
        BackendChoice::Cpu => Ok(Placement::cpu(None)),
        // The CPU-only module has nothing to choose from (the page decides between modules).
        BackendChoice::Auto if MODULE != "webgpu" => Ok(Placement::cpu(None)),
        BackendChoice::WebGpu => webgpu()
            .await
            .map(Placement::gpu)
            .map_err(|e| JsError::new(&format!("WebGPU is not available in this browser: {e}"))),
        BackendChoice::Auto => Ok(match webgpu().await {
            Ok(device) => Placement::gpu(device),
            Err(e) => {
                web_sys::console::info_1(&format!("WebGPU unavailable: {e}").into());
                Placement::cpu(Some(
                    "This browser offers no WebGPU adapter, so the model runs on the CPU".into(),
                ))
            }
        }),
    }
}

/// `"webgpu"` in the WebGPU module, `"cpu-threads"` in the threaded CPU one, `"cpu-relaxed"` in
/// the relaxed-SIMD one, `"cpu"` in the plain single-threaded one.
pub const MODULE: &str = if cfg!(feature = "webgpu") {
    "webgpu"
} else if cfg!(feature = "threads") {
    "cpu-threads"
} else if cfg!(feature = "relaxed-simd") {
    "cpu-relaxed"
} else {
    "cpu"
};

/// Threads burn's CPU kernels run on: the rayon pool's size in the threaded module, else 1.
pub fn cpu_threads() -> usize {
    #[cfg(feature = "threads")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "threads"))]
    return 1;
}
