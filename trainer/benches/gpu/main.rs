//! The GPU check: Glimpse on a real GPU through burn's `wgpu` backend, checked against the CPU
//! and timed for comparison with PyTorch on the same GPU. `run.sh` beside this file runs every
//! phase on a lent GPU machine and `report.py` prints the table; one phase runs as
//!
//! ```text
//! cargo bench -p glimpse-captioner --features wgpu --bench gpu -- <phase> <rows.jsonl>
//! ```
//!
//! Phases: `adapter` (which GPU wgpu opened), `correctness` (the PyTorch-equivalence fixture
//! captioned on the CPU and the GPU; 20 training steps on both), `caption` (latency at batch 1,
//! throughput at batch 64), `train` (pairs/s, frozen and fine-tuning the last stage, batches 32
//! and 128), `parallel` (two data-parallel replicas on the one GPU), `kernels` (a matrix product
//! and convolutions alone, in TFLOP/s). Each appends one JSON object
//! per result to `<rows.jsonl>`, so a phase cut short keeps what it measured.
//! `GLIMPSE_GPU_CHECK_QUICK=1` shrinks batches and repeats (to try the script on lavapipe).

#[path = "../common/mod.rs"]
mod common;
mod correctness;
mod kernels;
mod parallel;
mod speed;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use glimpse::backend::Backend;
use serde_json::{Value, json};

/// Batch sizes and repeats: the issue's, or small ones for a software Vulkan driver.
pub struct Sizes {
    pub caption_throughput_batch: usize,
    pub train_batches: [usize; 2],
    pub caption_repeats: usize,
    pub train_steps: usize,
}

impl Sizes {
    fn from_env() -> Sizes {
        if std::env::var_os("GLIMPSE_GPU_CHECK_QUICK").is_some() {
            Sizes {
                caption_throughput_batch: 2,
                train_batches: [2, 4],
                caption_repeats: 2,
                train_steps: 1,
            }
        } else {
            Sizes {
                caption_throughput_batch: 64,
                train_batches: [32, 128],
                caption_repeats: 10,
                train_steps: 6,
            }
        }
    }
}

/// Appends result rows to the phase's JSON-lines file and echoes them.
pub struct Rows {
    path: PathBuf,
    phase: String,
}

impl Rows {
    pub fn push(&self, mut row: Value) -> Result<()> {
        row["phase"] = json!(self.phase);
        println!("{row}");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{row}").with_context(|| format!("writing {}", self.path.display()))
    }
}

/// The GPU, opened once per process (wgpu allows one initialisation); the CPU instead with
/// `GLIMPSE_GPU_CHECK_BACKEND=flex` (to tell the GPU's share of a difference from the check's).
pub fn gpu() -> Result<Device> {
    match std::env::var("GLIMPSE_GPU_CHECK_BACKEND").as_deref() {
        Ok("flex") => Backend::Flex.device(),
        _ => Backend::Wgpu.device(),
    }
}

fn main() -> Result<()> {
    glimpse::memory::keep_freed_memory(); // as the glimpse binary does
    // `cargo bench` appends `--bench`; the phase and the output file are the other arguments.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [phase, out] = args.as_slice() else {
        bail!("usage: gpu <adapter|correctness|caption|train|parallel|kernels> <rows.jsonl>");
    };
    let rows = Rows {
        path: out.into(),
        phase: phase.clone(),
    };
    let sizes = Sizes::from_env();
    match phase.as_str() {
        "adapter" => adapter(&rows),
        "correctness" => check_correctness(&rows),
        "caption" => speed::caption(&rows, &sizes),
        "train" => speed::train(&rows, &sizes),
        "parallel" => parallel::run(&rows, &sizes),
        "kernels" => kernels::run(&rows, &sizes),
        other => bail!("unknown phase {other:?}"),
    }
}

/// The adapter wgpu chose: its name shows whether this is the real GPU or a software renderer.
fn adapter(rows: &Rows) -> Result<()> {
    let identity = gpu()?.identity().context("the wgpu device reports no identity")?;
    rows.push(json!({"adapter": identity.name, "identity": format!("{identity:?}")}))
}

/// The fixture's captions and 20 training steps, CPU against GPU.
fn check_correctness(rows: &Rows) -> Result<()> {
    let (cpu, gpu) = (Backend::Flex.device()?, gpu()?);
    let fixture = std::path::Path::new("tests/fixtures/torch/notebook");
    for check in correctness::caption_fixture(fixture, &cpu, &gpu, Backend::Wgpu.steps_per_readback())? {
        rows.push(
            json!({"check": "caption", "decoding": format!("{:?}", check.decoding),
            "same_words": check.gpu_words == check.cpu_words, "words": check.gpu_words,
            "same_finished": check.same_finished, "attention_max_diff": check.attention_max_diff,
            "log_prob_diff": check.log_prob_diff}),
        )?;
    }
    let steps = correctness::training_steps(&cpu.autodiff(), &gpu.autodiff(), 20)?;
    rows.push(
        json!({"check": "train", "steps": steps.cpu_losses.len(), "cpu_losses": steps.cpu_losses,
        "gpu_losses": steps.gpu_losses, "max_relative_diff": steps.max_relative_diff}),
    )
}
