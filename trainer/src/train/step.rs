//! One optimisation step, shared by `glimpse train` and the training benchmark.

use anyhow::{Result, bail};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use glimpse_model::CaptionModel;
use glimpse_model::decoder::{Decoder, EncodedImages};

use super::loss::caption_loss;

/// What the encoder side of a batch is.
#[derive(Clone)]
pub enum BatchInput {
    /// Cached encoder output `[B, P, E]` (frozen encoder).
    Features(Tensor<3>),
    /// Preprocessed images `[B, 3, H, W]` (fine-tuned encoder).
    Images(Tensor<4>),
}

/// A batch on the device: decoder inputs and what the loss needs.
#[derive(Clone)]
pub struct Batch {
    pub input: BatchInput,
    /// `[B, T]`: `<SOS> words… <EOS>` then padding.
    pub captions: Tensor<2, Int>,
    /// `[B, T-1]`: the words each step must predict.
    pub targets: Tensor<2, Int>,
    /// `[B, T-1]`: 1 for a real word, 0 for padding.
    pub mask: Tensor<2>,
    /// Real words in the batch (Σ mask).
    pub tokens: usize,
    /// `[B, T-1, D]`: the dropout to apply (see [`Decoder::forward_dropped`]); `None` leaves it
    /// to the decoder's own layer.
    pub dropout: Option<Tensor<3>>,
}

impl Batch {
    /// Pads `captions` (each `<SOS> … <EOS>` as ids) with `pad` to the longest one.
    pub fn new(input: BatchInput, captions: &[&[u32]], pad: u32, device: &Device) -> Batch {
        let batch = captions.len();
        let length = captions.iter().map(|c| c.len()).max().unwrap_or(2).max(2);
        let mut ids = vec![pad as i64; batch * length];
        let mut mask = vec![0.0f32; batch * (length - 1)];
        let mut tokens = 0;
        for (row, caption) in captions.iter().enumerate() {
            for (t, &id) in caption.iter().enumerate() {
                ids[row * length + t] = id as i64;
                if t > 0 {
                    mask[row * (length - 1) + t - 1] = 1.0;
                    tokens += 1;
                }
            }
        }
        let targets: Vec<i64> = (0..batch)
            .flat_map(|row| ids[row * length + 1..(row + 1) * length].to_vec())
            .collect();
        Batch {
            input,
            captions: Tensor::from_data(TensorData::new(ids, [batch, length]), device),
            targets: Tensor::from_data(TensorData::new(targets, [batch, length - 1]), device),
            mask: Tensor::from_data(TensorData::new(mask, [batch, length - 1]), device),
            tokens,
            dropout: None,
        }
    }
}

/// Adam for the decoder and, when fine-tuning, a second one for the encoder (its own rate).
pub struct Optimizers {
    pub decoder: ModuleOptimizer,
    pub encoder: Option<ModuleOptimizer>,
}

impl Optimizers {
    /// PyTorch's Adam (ε = 1e-8) with gradients clipped to ±`grad_clip` (0: no clipping).
    pub fn adam(grad_clip: f64, fine_tune: bool) -> Optimizers {
        let make = || {
            AdamConfig::new()
                .with_epsilon(1e-8)
                .with_grad_clipping(
                    (grad_clip > 0.0).then_some(GradientClippingConfig::Value(grad_clip as f32)),
                )
                .init()
        };
        Optimizers {
            decoder: make(),
            encoder: fine_tune.then(make),
        }
    }
}

/// The loss of one step as numbers: (total, cross-entropy, attention term).
pub type StepLoss = [f64; 3];

/// Decoder input from either cached features or images through the encoder.
pub fn encode_input(model: &CaptionModel, input: BatchInput) -> EncodedImages {
    match input {
        BatchInput::Features(features) => model.decoder.prepare(features),
        BatchInput::Images(images) => model.encode(images),
    }
}

/// Teacher forcing with the batch's dropout: (`logits` `[B, T-1, V]`, `alphas` `[B, T-1, P]`).
fn teacher_forced(
    decoder: &Decoder,
    encoded: &EncodedImages,
    captions: Tensor<2, Int>,
    dropout: Option<Tensor<3>>,
) -> (Tensor<3>, Tensor<3>) {
    match dropout {
        Some(keep) => decoder.forward_dropped(encoded, captions, keep),
        None => decoder.forward(encoded, captions),
    }
}

/// Forward (teacher forcing), backward, and one Adam step per optimizer.
pub fn train_step(
    model: CaptionModel,
    optimizers: &mut Optimizers,
    batch: Batch,
    learning_rates: (f64, f64),
    alpha_c: f64,
) -> Result<(CaptionModel, StepLoss)> {
    let encoded = encode_input(&model, batch.input);
    let (logits, alphas) = teacher_forced(&model.decoder, &encoded, batch.captions, batch.dropout); // [B, T-1, V], [B, T-1, P]
    let loss = caption_loss(logits, alphas, batch.targets, batch.mask, batch.tokens, alpha_c);
    let total = loss.total();
    let values = read_scalars(Tensor::cat(
        vec![total.clone(), loss.cross_entropy.clone(), loss.attention.clone()],
        0,
    ))?;
    if !values[0].is_finite() {
        bail!(
            "the loss became {}; lower the learning rates or the gradient clip",
            values[0]
        );
    }
    let mut grads = total.backward();
    let CaptionModel { encoder, decoder } = model;
    let decoder_grads = GradientsParams::from_module(&mut grads, &decoder);
    let decoder = optimizers.decoder.step(learning_rates.0, decoder, decoder_grads);
    let encoder = match &mut optimizers.encoder {
        Some(optim) => {
            let encoder_grads = GradientsParams::from_module(&mut grads, &encoder);
            optim.step(learning_rates.1, encoder, encoder_grads)
        }
        None => encoder,
    };
    Ok((
        CaptionModel { encoder, decoder },
        [values[0], values[1], values[2]],
    ))
}

/// The rows each replica takes of a data-parallel batch of `rows` over `devices`: contiguous
/// shares of this size, so fewer replicas run than there are devices when the batch is small.
pub fn replica_share(rows: usize, devices: usize) -> usize {
    rows.div_ceil(devices.max(1)).max(1)
}

/// The most replicas a step of batches of at most `batch_size` rows runs over `devices`: all of
/// them, or one a row when a batch has fewer rows than there are devices. Not the full batch's
/// count: 65 rows over 64 devices run on 33 (shares of 2), but the 64 rows of a smaller last
/// batch (or of a training set smaller than a batch) run on 64.
pub fn most_replicas(batch_size: usize, devices: usize) -> usize {
    devices.min(batch_size).max(1)
}

/// Data-parallel step: `batches[k]` (built on `devices[k]`) runs on a replica of the model
/// forked to that device, each in its own thread; burn's `step_multi` sums the replicas'
/// gradients and applies one Adam step. Each replica's loss is weighted by its share of the
/// batch's words (cross-entropy) and rows (attention term), so the summed gradient equals the
/// whole batch's on one device.
pub fn train_step_parallel(
    model: CaptionModel,
    optimizers: &mut Optimizers,
    batches: Vec<Batch>,
    devices: &[Device],
    learning_rates: (f64, f64),
    alpha_c: f64,
) -> Result<(CaptionModel, StepLoss)> {
    let totals = Totals {
        tokens: batches.iter().map(|b| b.tokens).sum(),
        rows: batches.iter().map(|b| b.captions.dims()[0]).sum(),
    };
    let fine_tune = optimizers.encoder.is_some();
    let results: Vec<Result<ReplicaGrads>> = std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .into_iter()
            .zip(devices)
            .map(|(batch, device)| {
                let replica = model.clone().fork(device);
                scope.spawn(move || replica_grads(&replica, batch, totals, alpha_c, fine_tune))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a device's training thread panicked")))
            })
            .collect()
    });
    sync_running_statistics(&model);
    let mut decoder_grads = MultiGradientsParams::default();
    let mut encoder_grads = MultiGradientsParams::default();
    let mut losses = [0.0; 3];
    for (result, device) in results.into_iter().zip(devices) {
        let (decoder, encoder, values) = result?;
        decoder_grads.grads.push((decoder, device.clone()));
        if let Some(encoder) = encoder {
            encoder_grads.grads.push((encoder, device.clone()));
        }
        for k in 0..3 {
            losses[k] += values[k];
        }
    }
    if !losses[0].is_finite() {
        bail!(
            "the loss became {}; lower the learning rates or the gradient clip",
            losses[0]
        );
    }
    let CaptionModel { encoder, decoder } = model;
    let decoder = optimizers
        .decoder
        .step_multi(learning_rates.0, decoder, decoder_grads);
    let encoder = match &mut optimizers.encoder {
        Some(optim) => optim.step_multi(learning_rates.1, encoder, encoder_grads),
        None => encoder,
    };
    Ok((CaptionModel { encoder, decoder }, losses))
}

/// Averages the BatchNorm running statistics the replicas left in their threads. burn keeps a
/// thread's update apart until something syncs them (validation did, once an epoch), and until
/// then each step's replicas started again from the last synced value: the statistics followed
/// one step an epoch, and a checkpoint taken between held none of the updates since, so a
/// fine-tuned data-parallel run resumed mid-epoch validated differently. `valid()` syncs every
/// running state in place (the replicas share them with `model`); its copy is not needed.
fn sync_running_statistics(model: &CaptionModel) {
    drop(model.valid());
}

/// Words and rows of a whole data-parallel batch, over which each replica's share is taken.
#[derive(Clone, Copy)]
struct Totals {
    tokens: usize,
    rows: usize,
}

/// One replica's gradients (decoder; encoder when fine-tuning) and its share of the loss.
type ReplicaGrads = (GradientsParams, Option<GradientsParams>, StepLoss);

/// Forward and backward on one replica's share of the batch, its loss weighted by that share
/// of the batch's words (cross-entropy) and rows (attention term).
fn replica_grads(
    replica: &CaptionModel,
    batch: Batch,
    totals: Totals,
    alpha_c: f64,
    fine_tune: bool,
) -> Result<ReplicaGrads> {
    let rows = batch.captions.dims()[0];
    let token_share = batch.tokens as f32 / totals.tokens.max(1) as f32;
    let row_share = rows as f32 / totals.rows.max(1) as f32;
    let encoded = encode_input(replica, batch.input);
    let (logits, alphas) = teacher_forced(&replica.decoder, &encoded, batch.captions, batch.dropout); // [B, T-1, V], [B, T-1, P]
    let loss = caption_loss(logits, alphas, batch.targets, batch.mask, batch.tokens, alpha_c);
    let cross_entropy = loss.cross_entropy * token_share;
    let attention = loss.attention * row_share;
    let total = cross_entropy.clone() + attention.clone();
    let values = read_scalars(Tensor::cat(vec![total.clone(), cross_entropy, attention], 0))?;
    let mut grads = total.backward();
    let decoder = GradientsParams::from_module(&mut grads, &replica.decoder);
    let encoder = fine_tune.then(|| GradientsParams::from_module(&mut grads, &replica.encoder));
    Ok((decoder, encoder, [values[0], values[1], values[2]]))
}

/// A small tensor's values on the host.
pub fn read_scalars(tensor: Tensor<1>) -> Result<Vec<f64>> {
    let values = pollster::block_on(glimpse_model::generate::read_f32(tensor.inner()))?;
    Ok(values.into_iter().map(f64::from).collect())
}
