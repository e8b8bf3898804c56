//! Dropout masks drawn on the host, row by row, from the run's seed.
//!
//! A backend keeps one random stream per process: data-parallel replicas, each in its own
//! thread, drew their masks from it in whatever order they reached it, so two identical runs
//! differed. Here each caption of a step's batch has its own stream, derived from (seed, step,
//! the caption's row in the whole batch), and its mask is drawn step after step of the caption:
//! a replica's rows get the masks they would have on one device, however the batch is split
//! and however long its share is padded.

use burn::tensor::{Device, Tensor, TensorData};
use glimpse_data::Rng;

use super::DROPOUT_STREAM;

/// Where in the run a batch's masks come from.
#[derive(Debug, Clone, Copy)]
pub(super) struct MaskStream {
    pub seed: u64,
    /// The optimiser step (0-based) whose batch this is.
    pub step: u64,
    /// The row of the whole batch where this share starts.
    pub first_row: usize,
}

/// The keep mask `[B, T-1, D]` (0 where dropped, 1/(1-p) where kept) of `rows` captions of
/// `length` ids each (T) and hidden size `dim`, or `None` without dropout (`p` = 0).
pub(super) fn dropout_mask(
    stream: MaskStream,
    [rows, length, dim]: [usize; 3],
    p: f64,
    device: &Device,
) -> Option<Tensor<3>> {
    if p <= 0.0 {
        return None;
    }
    let steps = length.saturating_sub(1);
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    let step_seed = Rng::derive(stream.seed, DROPOUT_STREAM.wrapping_add(stream.step)).next_u64();
    // B·(T-1)·D: the size of the step's hidden states, which the memory check has allowed.
    let mut values = Vec::with_capacity(rows * steps * dim);
    for row in 0..rows {
        let mut rng = Rng::derive(step_seed, (stream.first_row + row) as u64);
        values.extend((0..steps * dim).map(|_| if rng.unit() < keep { scale } else { 0.0 }));
    }
    Some(Tensor::from_data(
        TensorData::new(values, [rows, steps, dim]),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;

    fn mask(first_row: usize, shape: [usize; 3]) -> Vec<f32> {
        let stream = MaskStream {
            seed: 5,
            step: 3,
            first_row,
        };
        let tensor = dropout_mask(stream, shape, 0.5, &Backend::Flex.device().unwrap()).unwrap();
        tensor.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_share_gets_its_rows_masks_whatever_its_padding() {
        let whole = mask(0, [4, 6, 3]); // 4 captions, 5 steps, 3 hidden units
        // Rows 2..4 on a second replica whose captions are padded only to 4 ids (3 steps).
        let share = mask(2, [2, 4, 3]);
        for row in 0..2 {
            let from_whole = &whole[(2 + row) * 15..(2 + row) * 15 + 9];
            assert_eq!(&share[row * 9..(row + 1) * 9], from_whole, "row {row}");
        }
        assert!(whole.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = whole.iter().filter(|&&v| v == 2.0).count();
        assert!((15..=45).contains(&kept), "{kept} of 60 kept at p = 0.5");
        assert_ne!(mask(0, [1, 6, 3]), mask(1, [1, 6, 3])[..], "rows differ");
    }

    #[test]
    fn no_mask_without_dropout() {
        let stream = MaskStream {
            seed: 5,
            step: 0,
            first_row: 0,
        };
        assert!(dropout_mask(stream, [2, 3, 4], 0.0, &Backend::Flex.device().unwrap()).is_none());
    }
}
