//! Choosing the compute backend. Each is a cargo feature: `flex` (pure-Rust CPU, the default,
//! builds everywhere), `wgpu` (any GPU through Vulkan, Metal or DX12) and `cuda` (NVIDIA;
//! opt-in because its build downloads LLVM).

use anyhow::{Result, bail};
use burn::tensor::Device;

/// Most devices a run trains on (`--devices`). Each replica holds a copy of the model and
/// its batch is split among them: no machine Glimpse targets has more GPUs than this, and an
/// unchecked count was allocated as that many devices (2^64 - 1 panicked, 10^12 aborted).
pub const MAX_DEVICES: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Flex,
    Wgpu,
    Cuda,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// The first backend this build has, in the order CPU, wgpu, CUDA: for work (importing,
    /// checking shapes) that any device does equally well.
    pub fn first_built() -> Backend {
        if cfg!(feature = "flex") {
            Backend::Flex
        } else if cfg!(feature = "wgpu") {
            Backend::Wgpu
        } else {
            Backend::Cuda
        }
    }

    /// `count` devices for data-parallel training: CUDA devices 0..count, wgpu discrete GPUs
    /// 0..count. The CPU is one device: `count` replicas share it (the computation is the same;
    /// it only checks the data-parallel path). `count` must be 1 to [`MAX_DEVICES`].
    pub fn devices(self, count: usize) -> Result<Vec<Device>> {
        if count == 0 || count as u64 > MAX_DEVICES {
            bail!("{count} devices: data-parallel training uses 1 to {MAX_DEVICES}");
        }
        if count == 1 {
            return Ok(vec![self.device()?]);
        }
        match self {
            Backend::Flex => Ok(vec![flex()?; count]),
            Backend::Cuda => (0..count).map(cuda_index).collect(),
            Backend::Wgpu => (0..count).map(wgpu_index).collect(),
        }
    }

    /// Whether a training step's tensors live in the host's memory (the CPU backend), which
    /// [`crate::memory::limit`] reads; a GPU's own memory is not reported.
    pub fn steps_in_host_memory(self) -> bool {
        self == Backend::Flex
    }

    /// Greedy decoding's steps between two readbacks: every step on the CPU, where a readback
    /// costs nothing; a few on a GPU, where each is a round trip.
    pub fn steps_per_readback(self) -> usize {
        match self {
            Backend::Flex => 1,
            Backend::Wgpu | Backend::Cuda => glimpse_model::GPU_STEPS_PER_READBACK,
        }
    }

    /// The device, or an error saying how to build with this backend.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => flex(),
            Backend::Wgpu => wgpu(),
            Backend::Cuda => cuda(),
        }
    }
}

fn not_built(backend: &str) -> Result<Device> {
    bail!(
        "this glimpse was built without the `{backend}` backend; rebuild with \
         `cargo build --release -p glimpse-captioner --features {backend}`"
    )
}

#[cfg(feature = "flex")]
fn flex() -> Result<Device> {
    Ok(Device::flex())
}

#[cfg(not(feature = "flex"))]
fn flex() -> Result<Device> {
    not_built("flex")
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Device::wgpu_options()
        .init()
        .map_err(|e| anyhow::anyhow!("no usable GPU adapter for wgpu: {e:?}"))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    not_built("wgpu")
}

#[cfg(feature = "wgpu")]
fn wgpu_index(index: usize) -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(index)))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_index(_: usize) -> Result<Device> {
    not_built("wgpu")
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    not_built("cuda")
}

#[cfg(feature = "cuda")]
fn cuda_index(index: usize) -> Result<Device> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_index(_: usize) -> Result<Device> {
    not_built("cuda")
}
