//! Captions one photo again and again and prints the median time: a steady workload for a
//! profiler. `tests/browser/profile-wasm.mjs` builds it for WebAssembly and profiles it under
//! Node's V8, Chromium's engine; natively it runs under `perf` as it is.
//!
//! usage: caption_loop MODEL.safetensors PHOTO [RUNS]

use std::error::Error;
use std::time::Instant;

use burn::tensor::Device;
use glimpse_model::{Captioner, GenerateOptions};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, photo, rest @ ..] = args.as_slice() else {
        return Err("usage: caption_loop MODEL.safetensors PHOTO [RUNS]".into());
    };
    let runs: usize = rest.first().map_or(Ok(20), |runs| runs.parse())?;
    let captioner = Captioner::from_bytes(&std::fs::read(model)?, &Device::flex())?;
    let image = std::fs::read(photo)?;
    let mut ms = Vec::with_capacity(runs);
    for run in 0..runs.max(1) {
        let started = Instant::now();
        let caption = pollster::block_on(captioner.caption_bytes(&image, GenerateOptions::default()))?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        if run == 0 {
            println!("caption: {}", caption.text());
        }
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{} runs: median {:.1} ms, fastest {:.1} ms",
        ms.len(),
        ms[ms.len() / 2],
        ms[0]
    );
    #[cfg(target_os = "wasi")]
    // SAFETY: the profiler's `done` takes nothing and returns nothing.
    unsafe {
        profiler::done();
    }
    Ok(())
}

/// The profiling script's hook: it exits there, which writes the profile, before the WASI exit
/// path, on which Node 20 crashed.
#[cfg(target_os = "wasi")]
mod profiler {
    #[link(wasm_import_module = "profiler")]
    unsafe extern "C" {
        pub fn done();
    }
}
