// How far each module's WebAssembly memory can grow: a model must load within it. Read by
// `build.rs` too, which links the threaded module with this maximum.

/// The threaded module's memory is shared, and a shared memory must declare its maximum: 2 GiB,
/// far above the default model's ~0.3 (the single-threaded modules may grow to wasm32's 4).
pub const THREADED_MODULE_BYTES: u64 = 2 << 30;
