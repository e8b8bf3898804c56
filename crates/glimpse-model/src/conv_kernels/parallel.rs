//! How a kernel splits its output between threads: into one run of whole rows (pointwise) or
//! groups (3×3) per thread of the rayon pool in the browser's threaded module, run at once; in
//! every other build into one run, on the calling thread. Each output value is computed by the
//! same arithmetic in the same order however the output is split, so the split never changes a
//! bit (the tests split every kernel into 1–5 runs).

/// How many runs a kernel splits its output into: the pool's threads with the feature
/// `threads` (the threaded module), else 1. (Asked where the kernels run: see `flex`.)
#[cfg(all(feature = "flex", any(test, target_arch = "wasm32")))]
pub fn tasks() -> usize {
    #[cfg(feature = "threads")]
    return rayon::current_num_threads().max(1);
    #[cfg(not(feature = "threads"))]
    1
}

/// `task(i, run)` for each consecutive run of `out`, `len` values each (the last may be
/// shorter): on the rayon pool with the feature `threads`, else in order. `None` if any task
/// returns `None`.
pub fn try_for_each_run<F>(out: &mut [f32], len: usize, task: F) -> Option<()>
where
    F: Fn(usize, &mut [f32]) -> Option<()> + Sync + Send,
{
    let len = len.max(1);
    #[cfg(feature = "threads")]
    {
        use rayon::prelude::*;
        if out.len() > len {
            return out
                .par_chunks_mut(len)
                .enumerate()
                .try_for_each(|(i, run)| task(i, run));
        }
    }
    out.chunks_mut(len)
        .enumerate()
        .try_for_each(|(i, run)| task(i, run))
}
