//! `C = A·B + bias`, then optionally ReLU6: the product behind a 1×1 convolution, where `A` is
//! the weight `[m, k]` (output by input channels), `B` one image's activations `[k, n]` (input
//! channels by pixels) and `C` its output `[m, n]`, all row-major f32.
//!
//! Tiles of [`ROWS`] output channels by [`COLUMNS`] pixels keep their sums in vector registers:
//! each step over `k` loads [`VECTORS`] vectors of `B` and multiplies them by one weight per row,
//! broadcast. Where the rows or columns do not divide into tiles, the last tile overlaps the one
//! before. Both operands are packed in the order a tile reads them: `A` once, by row tiles;
//! `B` [`BLOCK`] columns at a time, by column tiles, so that a block stays in cache while every
//! row tile reads it, from consecutive addresses.

use super::epilogue::Epilogue;
use super::lanes::F32x4;
use super::parallel;

/// Output channels per tile.
const ROWS: usize = 4;
/// Vectors of 4 pixels per tile: `ROWS · VECTORS` sums, `VECTORS` loads and a broadcast fit
/// the 16 vector registers of x86-64, which the browser's compiler maps WebAssembly onto.
const VECTORS: usize = 2;
/// Pixels per tile.
const COLUMNS: usize = 4 * VECTORS;
/// Pixels per pass over the weights.
const BLOCK: usize = 256;

/// The sizes of one product: `A` is `[m, k]`, `B` `[k, n]`, `C` `[m, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

/// `c = epilogue(a·b + bias)`, its rows split into at most `tasks` runs of whole row tiles, each
/// computed on its own (each packing the columns of `b` it reads) and, in the threaded module,
/// on its own thread of the pool ([`parallel`]). `None` when a slice's length does not match
/// `dims` (`a`: m·k, `bias`: m, `b`: k·n, `c`: m·n); `c` is then untouched.
pub fn matmul_bias(
    a: &[f32],
    bias: &[f32],
    b: &[f32],
    dims: Dims,
    epilogue: Epilogue,
    c: &mut [f32],
    tasks: usize,
) -> Option<()> {
    let Dims { m, k, n } = dims;
    if a.len() != m.checked_mul(k)?
        || bias.len() != m
        || b.len() != k.checked_mul(n)?
        || c.len() != m.checked_mul(n)?
    {
        return None;
    }
    if n == 0 || m == 0 {
        return Some(());
    }
    let rows_per_run = m.div_ceil(ROWS).div_ceil(tasks.max(1)) * ROWS;
    parallel::try_for_each_run(c, rows_per_run.checked_mul(n)?, |run, c| {
        let (first, rows) = (run * rows_per_run, c.len() / n);
        let (a, bias) = (&a[first * k..][..rows * k], &bias[first..][..rows]);
        rows_product(a, bias, b, Dims { m: rows, k, n }, epilogue, c)
    })
}

/// `c = epilogue(a·b + bias)` on the calling thread, for slices whose lengths match `dims`.
#[cfg_attr(
    all(target_arch = "wasm32", feature = "relaxed-simd"),
    target_feature(enable = "relaxed-simd")
)]
fn rows_product(
    a: &[f32],
    bias: &[f32],
    b: &[f32],
    dims: Dims,
    epilogue: Epilogue,
    c: &mut [f32],
) -> Option<()> {
    let Dims { m, k, n } = dims;
    if m < ROWS || n < COLUMNS || k == 0 {
        for i in 0..m {
            scalar_row(
                &a[i * k..][..k],
                bias[i],
                b,
                n,
                0..n,
                epilogue,
                &mut c[i * n..][..n],
            );
        }
        return Some(());
    }
    let rows: Vec<usize> = tile_starts(0, m, ROWS).collect();
    let packed = pack_rows(a, k, &rows);
    let mut strips: Vec<[f32; COLUMNS]> = Vec::with_capacity(k * BLOCK / COLUMNS + k);
    for block in (0..n).step_by(BLOCK) {
        let columns: Vec<usize> = tile_starts(block, n.min(block + BLOCK), COLUMNS).collect();
        pack_columns(b, n, &columns, &mut strips);
        for (&row, weights) in rows.iter().zip(packed.chunks_exact(k)) {
            let bias: &[f32; ROWS] = bias[row..row + ROWS].try_into().ok()?;
            let out = &mut c[row * n..(row + ROWS) * n];
            for (&j, strip) in columns.iter().zip(strips.chunks_exact(k)) {
                store(tile(weights, strip), bias, epilogue, out, n, j);
            }
        }
    }
    Some(())
}

/// `a`'s row tiles starting at `rows`, each `[k][ROWS]`: a tile's weights for one step over `k`
/// are adjacent.
fn pack_rows(a: &[f32], k: usize, rows: &[usize]) -> Vec<[f32; ROWS]> {
    let mut packed = vec![[0.0; ROWS]; rows.len() * k];
    for (&row, tile) in rows.iter().zip(packed.chunks_exact_mut(k)) {
        for (r, a_row) in a[row * k..(row + ROWS) * k].chunks_exact(k).enumerate() {
            for (weights, &value) in tile.iter_mut().zip(a_row) {
                weights[r] = value;
            }
        }
    }
    packed
}

/// The column tiles of `b` starting at `columns`, each `[k][COLUMNS]`, into `strips`: a tile
/// then reads its columns in order instead of one row of `b` apart.
fn pack_columns(b: &[f32], n: usize, columns: &[usize], strips: &mut Vec<[f32; COLUMNS]>) {
    strips.clear();
    for &j in columns {
        strips.extend(
            b.chunks_exact(n)
                .map(|b_row| b_row[j..].first_chunk().copied().unwrap_or_default()),
        );
    }
}

/// Where the tiles covering `start..end` begin, `size` apart; the last one ends at `end` and
/// may overlap the one before (its shared outputs are computed again, identically), or start
/// before `start`. Needs `end ≥ size`.
fn tile_starts(start: usize, end: usize, size: usize) -> impl Iterator<Item = usize> {
    let full = (start..end).step_by(size).filter(move |&j| j + size <= end);
    let last = (!(end - start).is_multiple_of(size)).then(|| end - size);
    full.chain(last)
}

/// The sums of one tile from its packed rows of `a` (`[k][ROWS]`) and columns of `b`
/// (`[k][COLUMNS]`).
#[cfg_attr(not(feature = "relaxed-simd"), inline(always))]
#[cfg_attr(
    all(target_arch = "wasm32", feature = "relaxed-simd"),
    target_feature(enable = "relaxed-simd")
)]
fn tile(weights: &[[f32; ROWS]], strip: &[[f32; COLUMNS]]) -> [[F32x4; VECTORS]; ROWS] {
    let mut sums = [[F32x4::zero(); VECTORS]; ROWS];
    for (weights, columns) in weights.iter().zip(strip) {
        let (vectors, _) = columns.as_chunks::<4>();
        let x: [F32x4; VECTORS] = std::array::from_fn(|v| F32x4::load(&vectors[v]));
        for (row_sums, &weight) in sums.iter_mut().zip(weights) {
            let w = F32x4::splat(weight);
            for (sum, &x) in row_sums.iter_mut().zip(&x) {
                *sum = sum.mul_add(w, x);
            }
        }
    }
    sums
}

/// Adds the bias, applies `epilogue` and writes one tile at column `j` of `out` (`[ROWS, n]`).
#[inline(always)]
fn store(
    sums: [[F32x4; VECTORS]; ROWS],
    bias: &[f32; ROWS],
    epilogue: Epilogue,
    out: &mut [f32],
    n: usize,
    j: usize,
) {
    for (r, row_sums) in sums.into_iter().enumerate() {
        let Some(row) = out[r * n + j..].first_chunk_mut::<COLUMNS>() else {
            return; // (not reached)
        };
        let b = F32x4::splat(bias[r]);
        for (sum, lanes) in row_sums.into_iter().zip(row.as_chunks_mut::<4>().0) {
            epilogue.lanes(sum.add(b)).store(lanes);
        }
    }
}

/// One output row over `columns`, a column at a time: products too small for one tile.
fn scalar_row(
    a_row: &[f32],
    bias: f32,
    b: &[f32],
    n: usize,
    columns: std::ops::Range<usize>,
    epilogue: Epilogue,
    out: &mut [f32],
) {
    for j in columns {
        let sum = a_row
            .iter()
            .zip(b.chunks_exact(n))
            .fold(0.0f32, |sum, (&w, b_row)| sum + w * b_row[j]);
        out[j] = epilogue.scalar(sum + bias);
    }
}
