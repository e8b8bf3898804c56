//! torchvision ImageNet state dicts (ResNet-18…152, MobileNetV2) as Glimpse encoders.

use anyhow::{Result, anyhow};
use glimpse_files::shown;
use glimpse_model::TensorMap;

use crate::layout::{Renamed, file_name, note_ignored, root_of, without_module_segments};
use crate::torch_weights::TorchWeights;

/// A torchvision ImageNet state dict → `encoder.*` tensors (its classifier dropped). What was
/// left out is added to `notes`.
pub fn torchvision_encoder(file: TorchWeights, notes: &mut Vec<String>) -> Result<TensorMap> {
    let root = root_of(file.tensors.names(), "conv1.weight")
        .filter(|root| !root.ends_with("layer1.0.") && !root.contains("downsample"))
        .or_else(|| root_of(file.tensors.names(), "features.0.0.weight"))
        .ok_or_else(|| {
            anyhow!(
                "{}: neither `conv1.weight` (ResNet) nor `features.0.0.weight` (MobileNetV2): not a torchvision ImageNet state dict",
                file.path.display()
            )
        })?;
    let mut encoder = TensorMap::new();
    let mut renamed = Renamed::new(&file.path);
    let mut ignored = Vec::new();
    let mut classifier = 0;
    let mut tensors = file.tensors;
    // Only the tensors kept are read (the classifier is not), each once.
    for stored in tensors.names().map(str::to_string).collect::<Vec<_>>() {
        let name = without_module_segments(&stored);
        match name.strip_prefix(&root) {
            Some(rest) if rest.starts_with("fc.") || rest.starts_with("classifier.") => classifier += 1,
            Some(rest) => renamed.insert(&mut encoder, format!("encoder.{rest}"), &stored, &mut tensors)?,
            None => ignored.push(stored),
        }
    }
    if classifier > 0 {
        notes.push(format!(
            "dropped {classifier} ImageNet classifier tensor(s) from {}",
            shown(&file_name(&file.path))
        ));
    }
    note_ignored(notes, &file.path, &ignored, file.skipped.len());
    Ok(encoder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::tests::{BIG_TENSOR_BYTES, big_checkpoint_file, open_big};

    #[test]
    fn only_the_tensors_kept_are_read_each_once() {
        let file = big_checkpoint_file(&[
            "classifier.1.weight",
            "features.0.0.weight",
            "features.1.conv.0.0.weight",
        ]);
        let (encoder, peak) =
            crate::peak_alloc::peak_during(|| torchvision_encoder(open_big(file), &mut Vec::new()).unwrap());
        // The two kept: reading the classifier, or copying one, would take 16 MiB more.
        assert!(
            peak < 2 * BIG_TENSOR_BYTES + (1 << 16),
            "{peak} bytes allocated while renaming"
        );
        assert_eq!(
            encoder.names().collect::<Vec<_>>(),
            [
                "encoder.features.0.0.weight",
                "encoder.features.1.conv.0.0.weight"
            ]
        );
    }
}
