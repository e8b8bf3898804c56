//! torchvision ImageNet state dicts (ResNet-18…152, MobileNetV2) as Glimpse encoders.

use anyhow::{Result, anyhow};
use glimpse_files::shown;
use glimpse_model::TensorMap;

use crate::layout::{Renamed, file_name, note_ignored, root_of, without_module_segments};
use crate::torch_weights::TorchWeights;

/// A torchvision ImageNet state dict → `encoder.*` tensors (its classifier dropped). What was
/// left out is added to `notes`.
pub fn torchvision_encoder(file: TorchWeights, notes: &mut Vec<String>) -> Result<TensorMap> {
    let root = root_of(&file.tensors, "conv1.weight")
        .filter(|root| !root.ends_with("layer1.0.") && !root.contains("downsample"))
        .or_else(|| root_of(&file.tensors, "features.0.0.weight"))
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
    // Tensors are moved, never copied: a state dict may hold a gigabyte of them.
    for (stored, tensor) in file.tensors {
        let name = without_module_segments(&stored);
        match name.strip_prefix(&root) {
            Some(rest) if rest.starts_with("fc.") || rest.starts_with("classifier.") => classifier += 1,
            Some(rest) => renamed.insert(&mut encoder, format!("encoder.{rest}"), &stored, tensor)?,
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
    use crate::layout::tests::big_checkpoint;

    #[test]
    fn tensors_are_moved_not_copied() {
        // (Kept tensors only: a dropped classifier's memory would hide a copy's.)
        let file = big_checkpoint(&["features.0.0.weight", "features.1.conv.0.0.weight"]);
        let (encoder, peak) =
            crate::peak_alloc::peak_during(|| torchvision_encoder(file, &mut Vec::new()).unwrap());
        // Copying would allocate 16 MiB at a time; names take a few hundred bytes.
        assert!(peak < 1 << 16, "{peak} bytes allocated while renaming");
        assert_eq!(
            encoder.names().collect::<Vec<_>>(),
            [
                "encoder.features.0.0.weight",
                "encoder.features.1.conv.0.0.weight"
            ]
        );
    }
}
