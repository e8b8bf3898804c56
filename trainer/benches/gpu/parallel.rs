//! `glimpse train --devices 2`'s step with both replicas on the one GPU (machines with several
//! GPUs are not lent here): the same losses as one replica, and its throughput beside it.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use glimpse::train::step::{Batch, BatchInput, Optimizers, StepLoss, train_step, train_step_parallel};
use glimpse_data::Rng;
use glimpse_model::config::{EncoderArch, ModelConfig};
use glimpse_model::{CaptionModel, TensorMap};
use serde_json::json;

use crate::common::{freeze_for, random_captions, train_batch, train_config};
use crate::{Rows, Sizes, gpu};

const STEPS: usize = 5;
const LEARNING_RATES: (f64, f64) = (4e-4, 1e-4);

/// One training step of some kind, from a model to the next one and its loss.
type Step<'a> = &'a dyn Fn(CaptionModel, &mut Optimizers) -> Result<(CaptionModel, StepLoss)>;

/// MobileNetV2 frozen without dropout, the larger training batch split across two replicas of
/// one device, against the whole batch on one replica: per-step losses and pairs/s.
pub fn run(rows: &Rows, sizes: &Sizes) -> Result<()> {
    let device = gpu()?.autodiff();
    let devices = [device.clone(), device.clone()];
    let mut config = train_config(EncoderArch::MobilenetV2);
    config.decoder.dropout = 0.0; // dropout masks would differ between the two ways
    let batch = sizes.train_batches[1];
    let captions = random_captions(&mut Rng::new(3), batch, config.decoder.vocab_size);
    let whole = train_batch(&config, false, &captions, &device);
    let halves = [
        share(&whole, &captions, 0..batch / 2, &device),
        share(&whole, &captions, batch / 2..batch, &device),
    ];
    // Weights drawn once: burn initialises parameters lazily, and two replica threads would
    // draw them in either order.
    device.seed(1);
    let weights = pollster::block_on(CaptionModel::new(&config, &device)?.weights())?;
    let start = (&config, &weights, &device);
    let (one, one_speed) = losses_and_speed(start, batch, &|model, optim| {
        train_step(model, optim, whole.clone(), LEARNING_RATES, 1.0)
    })?;
    let (two, two_speed) = losses_and_speed(start, batch, &|model, optim| {
        train_step_parallel(model, optim, halves.to_vec(), &devices, LEARNING_RATES, 1.0)
    })?;
    let max_relative_diff = one
        .iter()
        .zip(&two)
        .map(|(a, b)| (a - b).abs() / a.abs())
        .fold(0.0, f64::max);
    rows.push(
        json!({"replicas": 2, "batch": batch, "steps": STEPS, "one_replica_losses": one,
        "two_replica_losses": two, "max_relative_diff": max_relative_diff,
        "one_replica_pairs_per_s": one_speed, "two_replica_pairs_per_s": two_speed}),
    )
}

/// One replica's share of a frozen encoder's batch: its rows of the features and captions.
fn share(whole: &Batch, captions: &[Vec<u32>], rows: std::ops::Range<usize>, device: &Device) -> Batch {
    let BatchInput::Features(features) = &whole.input else {
        unreachable!("a frozen encoder's batch")
    };
    let input = BatchInput::Features(features.clone().narrow(0, rows.start, rows.len())); // [rows, P, E]
    let refs: Vec<&[u32]> = captions[rows].iter().map(Vec::as_slice).collect();
    Batch::new(input, &refs, 0, device)
}

/// The losses of STEPS `step`s from the given weights, and pairs/s over all but the first
/// (which compiles and tunes the kernels).
fn losses_and_speed(
    (config, weights, device): (&ModelConfig, &TensorMap, &Device),
    batch: usize,
    step: Step,
) -> Result<(Vec<f64>, f64)> {
    let mut model = CaptionModel::from_weights(config, weights, device)?;
    freeze_for(&mut model, false);
    let mut optimizers = Optimizers::adam(5.0, false);
    let (mut losses, mut start) = (Vec::new(), Instant::now());
    for k in 0..STEPS {
        let (next, loss) = step(model, &mut optimizers)?;
        model = next;
        losses.push(loss[0]);
        if k == 0 {
            start = Instant::now();
        }
    }
    Ok((
        losses,
        (batch * (STEPS - 1)) as f64 / start.elapsed().as_secs_f64(),
    ))
}
