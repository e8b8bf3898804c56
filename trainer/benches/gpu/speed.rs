//! Speed on the GPU, shaped as PyTorch's side of the comparison
//! (`tests/fixtures/make_torch_fixtures.py --bench … --device cuda`): caption latency (encoder +
//! 20 greedy words, batch 1) and throughput (a batch of 64), and training throughput.

use anyhow::Result;
use glimpse::backend::Backend;
use glimpse_model::generate::read_f32;
use serde_json::json;

use crate::common::{
    ENCODERS, caption_batch, caption_model, images, median_ms, train_config, train_pairs_per_s,
};
use crate::{Rows, Sizes, gpu};

/// Caption latency at batch 1 and throughput at `sizes.caption_throughput_batch`, both encoders.
/// Greedy words are read back every few steps, as `glimpse caption --backend wgpu` does.
pub fn caption(rows: &Rows, sizes: &Sizes) -> Result<()> {
    let device = gpu()?;
    let readback = Backend::Wgpu.steps_per_readback();
    for (name, arch) in ENCODERS {
        let model = caption_model(arch, &device);
        for batch in [1, sizes.caption_throughput_batch] {
            let repeats = if batch == 1 {
                sizes.caption_repeats
            } else {
                sizes.caption_repeats / 2
            };
            let ms = median_ms(3, repeats, &mut || {
                caption_batch(&model, images(batch, 224, &device), readback)
            });
            // The encoder alone, waited for through a one-number readback (as PyTorch's is
            // through a synchronisation), to tell its share from the decoder's.
            let encoder_ms = median_ms(3, repeats, &mut || {
                let features = model.0.encoder.forward(images(batch, 224, &device)); // [B, P, E]
                pollster::block_on(read_f32(features.sum())).unwrap();
            });
            rows.push(
                json!({"model": name, "batch": batch, "median_ms": ms, "encoder_ms": encoder_ms,
                "images_per_s": batch as f64 * 1000.0 / ms, "repeats": repeats}),
            )?;
        }
    }
    Ok(())
}

/// Training pairs/s for both encoders, frozen (cached features) and fine-tuning the last stage
/// at 224×224, at each of `sizes.train_batches`.
pub fn train(rows: &Rows, sizes: &Sizes) -> Result<()> {
    let device = gpu()?.autodiff();
    for (name, arch) in ENCODERS {
        for mode in ["frozen", "fine-tune last stage"] {
            for batch in sizes.train_batches {
                let fine_tune = mode != "frozen";
                let steps = sizes.train_steps;
                let pairs = train_pairs_per_s(&train_config(arch), fine_tune, batch, (2, steps), &device);
                rows.push(json!({"model": name, "mode": mode, "batch": batch,
                    "pairs_per_s": pairs, "steps": steps}))?;
            }
        }
    }
    Ok(())
}
