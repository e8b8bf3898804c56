//! The threaded module (`threads` on wasm32) links against a shared memory that the page creates
//! and hands to every worker of the pool: rustc's defaults export a private memory instead.
//! Link arguments here, not in RUSTFLAGS, so that they reach only this crate's final link.

include!("src/memory.rs");

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/memory.rs");
    let wasm = std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|family| family == "wasm");
    if !(wasm && std::env::var_os("CARGO_FEATURE_THREADS").is_some()) {
        return;
    }
    let max_memory = format!("--max-memory={THREADED_MODULE_BYTES}");
    for arg in [
        "--shared-memory",
        "--import-memory",
        &max_memory,
        // Each worker sets up its own thread-local storage (wasm-bindgen's thread transform).
        "--export=__wasm_init_tls",
        "--export=__tls_size",
        "--export=__tls_align",
        "--export=__tls_base",
    ] {
        println!("cargo::rustc-link-arg-cdylib={arg}");
    }
}
