//! Which code wrote a checkpoint, told from its keys, and the renames that bring each layout's
//! names to the canonical ones: `encoder.<torchvision name>`, `decoder.<notebook name>`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use glimpse_files::shown;
use glimpse_model::TensorMap;
use glimpse_model::error::excerpt;

use crate::torch_weights::{StoredTensors, TorchWeights};

/// Which code wrote the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointLayout {
    Notebook,
    Sgrvinod,
    Torchvision,
}

impl CheckpointLayout {
    pub const ALL: [CheckpointLayout; 3] = [
        CheckpointLayout::Notebook,
        CheckpointLayout::Sgrvinod,
        CheckpointLayout::Torchvision,
    ];

    /// The name `--layout` takes.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointLayout::Notebook => "notebook",
            CheckpointLayout::Sgrvinod => "sgrvinod",
            CheckpointLayout::Torchvision => "torchvision",
        }
    }

    /// sgrvinod's decoder names → the notebook's (prefixes after `decoder.`); the notebook's
    /// names are the canonical ones.
    fn decoder_renames(self) -> &'static [(&'static str, &'static str)] {
        match self {
            CheckpointLayout::Sgrvinod => &[
                ("attention.encoder_att.", "attention.U."),
                ("attention.decoder_att.", "attention.W."),
                ("attention.full_att.", "attention.A."),
                ("decode_step.", "lstm_cell."),
                ("fc.", "fcn."),
            ],
            CheckpointLayout::Notebook | CheckpointLayout::Torchvision => &[],
        }
    }
}

/// Recognises a layout from characteristic keys anywhere in the checkpoint.
pub fn detect_layout<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Option<CheckpointLayout> {
    let has = |suffix: &str| names.clone().any(|n| n.ends_with(suffix));
    if has("decoder.attention.U.weight") || has("decoder.fcn.weight") {
        Some(CheckpointLayout::Notebook)
    } else if has("decoder.attention.encoder_att.weight") || has("decoder.decode_step.weight_ih") {
        Some(CheckpointLayout::Sgrvinod)
    } else if has("layer1.0.conv1.weight") || has("features.0.0.weight") {
        Some(CheckpointLayout::Torchvision)
    } else {
        None
    }
}

/// Drops DataParallel's `module.` segments.
pub(crate) fn without_module_segments(name: &str) -> String {
    name.split('.')
        .filter(|part| *part != "module")
        .collect::<Vec<_>>()
        .join(".")
}

/// The tensors of one checkpoint under their canonical names, each taken from one stored name
/// only: two that became one (`decoder.init_h.bias` and `module.decoder.init_h.bias`, a
/// DataParallel state dict merged into a plain one) gave whichever sorted later, without a
/// word (hostile round 22).
pub(crate) struct Renamed<'p> {
    path: &'p Path,
    /// Canonical name → the stored name it came from.
    from: HashMap<String, String>,
}

impl<'p> Renamed<'p> {
    pub(crate) fn new(path: &'p Path) -> Renamed<'p> {
        Renamed {
            path,
            from: HashMap::new(),
        }
    }

    /// Reads the tensor stored as `stored` into `map` as `canonical`; refuses a second tensor of
    /// one canonical name before reading it.
    pub(crate) fn insert(
        &mut self,
        map: &mut TensorMap,
        canonical: String,
        stored: &str,
        tensors: &mut StoredTensors,
    ) -> Result<()> {
        if let Some(first) = self.from.insert(canonical.clone(), stored.to_string()) {
            bail!(
                "{}: `{}` and `{}` are both `{}` once renamed (DataParallel's `module.` dropped); \
                 refusing an ambiguous checkpoint: keep one of them",
                shown(self.path),
                excerpt(&first),
                excerpt(stored),
                excerpt(&canonical)
            );
        }
        let tensor = tensors.take(stored)?;
        map.insert(canonical, tensor);
        Ok(())
    }
}

/// The prefix (`""`, `"state_dict."`, `"model."`, …) under which `marker` sits.
pub(crate) fn root_of<'a>(mut names: impl Iterator<Item = &'a str>, marker: &str) -> Option<String> {
    names.find_map(|name| {
        let name = without_module_segments(name);
        name.strip_suffix(marker).map(str::to_string)
    })
}

/// torchvision's ResNet `children()[:-2]` indices → attribute names.
const RESNET_CHILDREN: [(&str, &str); 6] = [
    ("0", "conv1"),
    ("1", "bn1"),
    ("4", "layer1"),
    ("5", "layer2"),
    ("6", "layer3"),
    ("7", "layer4"),
];

/// A captioning checkpoint's tensors under canonical names.
pub(crate) struct CaptionerWeights {
    pub encoder: TensorMap,
    pub decoder: TensorMap,
}

/// Splits a notebook or sgrvinod checkpoint into canonical encoder and decoder tensors.
pub(crate) fn captioner_weights(
    checkpoint: TorchWeights,
    layout: CheckpointLayout,
    notes: &mut Vec<String>,
) -> Result<CaptionerWeights> {
    let root = root_of(checkpoint.tensors.names(), "decoder.embedding.weight").ok_or_else(|| {
        anyhow!(
            "{}: no `decoder.embedding.weight`: not a {layout:?} checkpoint",
            checkpoint.path.display()
        )
    })?;
    if layout == CheckpointLayout::Notebook
        && checkpoint.tensors.names().any(|n| n.contains("decoder.f_beta."))
    {
        notes.push("dropped the notebook's unused `decoder.f_beta`".into());
    }
    let (mut encoder, mut decoder) = (TensorMap::new(), TensorMap::new());
    let mut renamed = Renamed::new(&checkpoint.path);
    let mut ignored = Vec::new();
    let mut tensors = checkpoint.tensors;
    // Only the tensors kept are read, each once: a checkpoint may hold a gigabyte of others.
    for stored in tensors.names().map(str::to_string).collect::<Vec<_>>() {
        let name = without_module_segments(&stored);
        let Some(name) = name.strip_prefix(&root) else {
            ignored.push(stored);
            continue;
        };
        let (map, canonical) = if let Some(rest) = name.strip_prefix("encoder.resnet.") {
            match resnet_child_name(rest) {
                Some(canonical) => (&mut encoder, canonical),
                None => {
                    ignored.push(stored);
                    continue;
                }
            }
        } else if name.starts_with("encoder.features.") {
            // A MobileNetV2 encoder, as `glimpse export --format pth` writes it.
            (&mut encoder, name.to_string())
        } else if let Some(rest) = name.strip_prefix("decoder.") {
            if layout == CheckpointLayout::Notebook && rest.starts_with("f_beta.") {
                continue; // defined but never called by the notebook
            }
            (&mut decoder, decoder_name(layout, rest))
        } else {
            ignored.push(stored);
            continue;
        };
        renamed.insert(map, canonical, &stored, &mut tensors)?;
    }
    note_ignored(notes, &checkpoint.path, &ignored, checkpoint.skipped.len());
    Ok(CaptionerWeights { encoder, decoder })
}

/// A canonical name as the notebook's `EncoderDecoder.state_dict()` has it: a ResNet's attributes
/// become its `nn.Sequential` indices (`encoder.layer1.0.conv1.weight` →
/// `encoder.resnet.4.0.conv1.weight`); MobileNetV2's `encoder.features.*` and the decoder's names
/// are kept (the decoder's canonical names are the notebook's).
pub fn notebook_name(canonical: &str) -> String {
    let Some(rest) = canonical.strip_prefix("encoder.") else {
        return canonical.to_string();
    };
    let (attribute, tail) = rest.split_once('.').unwrap_or((rest, ""));
    match RESNET_CHILDREN.iter().find(|(_, name)| *name == attribute) {
        Some((index, _)) => format!("encoder.resnet.{index}.{tail}"),
        None => canonical.to_string(),
    }
}

/// `encoder.resnet.<index>.<rest>` (the notebook's `Sequential` of ResNet children, `rest` being
/// what follows `encoder.resnet.`) → `encoder.<attribute>.<rest>`; `None` for children the
/// encoder does not use.
fn resnet_child_name(rest: &str) -> Option<String> {
    let (child, tail) = rest.split_once('.').unwrap_or((rest, ""));
    RESNET_CHILDREN
        .iter()
        .find(|(index, _)| *index == child)
        .map(|(_, attribute)| format!("encoder.{attribute}.{tail}"))
}

/// The canonical `decoder.*` name of `rest` (what follows `decoder.`) in `layout`.
fn decoder_name(layout: CheckpointLayout, rest: &str) -> String {
    let renamed = layout
        .decoder_renames()
        .iter()
        .find_map(|(from, to)| rest.strip_prefix(from).map(|tail| format!("{to}{tail}")))
        .unwrap_or_else(|| rest.to_string());
    format!("decoder.{renamed}")
}

/// Notes the tensors of `path` that were left out: outside the model (`ignored`, the first few
/// named) and integer ones (`skipped`).
pub(crate) fn note_ignored(notes: &mut Vec<String>, path: &Path, ignored: &[String], skipped: usize) {
    let path = file_name(path);
    if !ignored.is_empty() {
        // Excerpts: a checkpoint's key may be any length, and the card's notes are capped.
        let listed: Vec<_> = ignored.iter().take(4).map(|name| excerpt(name)).collect();
        notes.push(format!(
            "ignored {} tensor(s) of {} outside the model ({}{})",
            ignored.len(),
            shown(&path),
            listed.join(", "),
            if ignored.len() > listed.len() { ", …" } else { "" }
        ));
    }
    if skipped > 0 {
        notes.push(format!(
            "skipped {skipped} tensor(s) of {} that hold no float weights (step counters such as num_batches_tracked)",
            shown(&path)
        ));
    }
}

/// The file name of `path`, as the notes name a checkpoint: they go on the model card a bundle
/// is published with, which carried the path as typed (a home folder's: hostile round 22).
pub(crate) fn file_name(path: &Path) -> std::path::PathBuf {
    path.file_name().map_or_else(|| path.to_path_buf(), Into::into)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn layouts_are_recognised_by_their_keys() {
        let detect = |keys: &[&str]| detect_layout(keys.iter().copied());
        assert_eq!(
            detect(&["state_dict.decoder.attention.U.weight"]),
            Some(CheckpointLayout::Notebook)
        );
        assert_eq!(
            detect(&["decoder.decode_step.weight_ih"]),
            Some(CheckpointLayout::Sgrvinod)
        );
        assert_eq!(
            detect(&["conv1.weight", "layer1.0.conv1.weight", "fc.weight"]),
            Some(CheckpointLayout::Torchvision)
        );
        assert_eq!(
            detect(&["features.0.0.weight", "classifier.1.weight"]),
            Some(CheckpointLayout::Torchvision)
        );
        assert_eq!(detect(&["bert.embeddings.word_embeddings.weight"]), None);
    }

    /// A checkpoint of the named tensors, each 16 MiB of one value (its index), as a `.pth`
    /// file stores them (uncompressed: reading one allocates only its values), opened.
    pub(crate) fn big_checkpoint(names: &[&str]) -> TorchWeights {
        open_big(big_checkpoint_file(names))
    }

    /// [`big_checkpoint`]'s file, opened by [`open_big`] (inside a measure of what opening
    /// allocates: a regression that read every tensor at opening passed outside one, review 73).
    pub(crate) fn open_big(file: Vec<u8>) -> TorchWeights {
        TorchWeights::from_bytes(Path::new("big.pth"), file).unwrap()
    }

    /// [`big_checkpoint`]'s bytes.
    pub(crate) fn big_checkpoint_file(names: &[&str]) -> Vec<u8> {
        let data: Vec<Vec<f32>> = (0..names.len()).map(|i| vec![i as f32; 1 << 22]).collect();
        let tensors: Vec<_> = names
            .iter()
            .zip(&data)
            .map(|(name, data)| glimpse_pth::NamedTensor {
                name,
                shape: &[1 << 22],
                data,
            })
            .collect();
        glimpse_pth::write_state_dict(&tensors).unwrap()
    }

    /// 16 MiB, one tensor's values.
    pub(crate) const BIG_TENSOR_BYTES: usize = 4 << 22;

    #[test]
    fn only_the_tensors_kept_are_read_each_once() {
        let file = big_checkpoint_file(&[
            "decoder_optimizer.state.0.exp_avg",
            "state_dict.decoder.embedding.weight",
            "state_dict.encoder.resnet.0.weight",
            "state_dict.encoder.resnet.8.weight",
        ]);
        let mut notes = Vec::new();
        let (weights, peak) = crate::peak_alloc::peak_during(|| {
            captioner_weights(open_big(file), CheckpointLayout::Notebook, &mut notes).unwrap()
        });
        // The two kept: reading the two left out, or copying one, would take 16 MiB more.
        assert!(
            peak < 2 * BIG_TENSOR_BYTES + (1 << 16),
            "{peak} bytes allocated while renaming"
        );
        let stem = weights.encoder.get("encoder.conv1.weight").unwrap();
        assert_eq!((stem.numel(), stem.data[0]), (1 << 22, 2.0));
        assert_eq!(
            weights.decoder.iter().map(|(_, t)| t.data[0]).collect::<Vec<_>>(),
            [1.0]
        );
        assert!(
            notes[0].starts_with("ignored 2 tensor(s) of big.pth"),
            "{notes:?}"
        );
    }

    #[test]
    fn module_segments_are_dropped() {
        assert_eq!(
            without_module_segments("module.decoder.fc.weight"),
            "decoder.fc.weight"
        );
        assert_eq!(
            without_module_segments("decoder.module.fc.weight"),
            "decoder.fc.weight"
        );
    }

    /// A tensor stored under two names that become one is refused, naming both: whichever
    /// sorted later was taken, without a word (hostile round 22).
    #[test]
    fn two_tensors_of_one_canonical_name_are_refused() {
        for (layout, names) in [
            (
                CheckpointLayout::Notebook,
                [
                    "decoder.embedding.weight",
                    "decoder.init_h.bias",
                    "module.decoder.init_h.bias",
                ],
            ),
            (
                CheckpointLayout::Notebook,
                [
                    "decoder.embedding.weight",
                    "encoder.resnet.1.bias",
                    "encoder.module.resnet.1.bias",
                ],
            ),
        ] {
            let Err(err) = captioner_weights(big_checkpoint(&names), layout, &mut Vec::new()) else {
                panic!("{names:?} accepted");
            };
            let message = err.to_string();
            assert!(
                message.contains(&format!("`{}` and `{}` are both", names[1], names[2]))
                    || message.contains(&format!("`{}` and `{}` are both", names[2], names[1])),
                "{message}"
            );
        }
        let file = big_checkpoint(&[
            "conv1.weight",
            "layer1.0.conv1.weight",
            "module.layer1.0.conv1.weight",
        ]);
        let err = crate::torchvision::torchvision_encoder(file, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("are both `encoder.layer1.0.conv1.weight` once renamed"),
            "{err}"
        );
    }
}
