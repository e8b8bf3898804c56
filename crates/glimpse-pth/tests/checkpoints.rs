//! The reader against files PyTorch wrote (the fixtures glimpse-import's tests also use): both
//! containers give PyTorch's values; whole pickled modules; damaged files name their problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use glimpse_pth::{Container, PthError, PthFile};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torch")
}

/// Name → (shape, values).
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Float tensors by name, and the names of the others, as glimpse-import reads them.
fn float_tensors(file: &PthFile) -> (Tensors, Vec<String>) {
    let (found, mut skipped) = file.tensors();
    let mut tensors = BTreeMap::new();
    for found in found {
        if !found.tensor.storage.dtype.is_float() {
            skipped.push(found.name);
            continue;
        }
        let values = file.read_f32(&found.tensor).unwrap();
        tensors.insert(found.name, (found.tensor.shape.clone(), values));
    }
    (tensors, skipped)
}

#[test]
fn both_containers_give_pytorchs_values() {
    let dir = fixtures().join("pth");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let want = expected["tensors"].as_object().unwrap();
    for (name, container) in [
        ("mixed_zip.pth", Container::Zip),
        ("mixed_legacy.pth", Container::Legacy),
    ] {
        let file = PthFile::open(dir.join(name)).unwrap();
        assert_eq!(file.container, container);
        let (tensors, skipped) = float_tensors(&file);
        assert_eq!(
            tensors.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (tensor, want) in want {
            let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).unwrap();
            let values: Vec<f64> = serde_json::from_value(want["values"].clone()).unwrap();
            let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
            assert_eq!(tensors[tensor], (shape, values), "{name}: {tensor}");
        }
        assert_eq!(skipped, ["steps"], "{name}");
        let scalars = file.scalars();
        assert_eq!(
            (scalars.get("epoch"), scalars.get("lr")),
            (Some(&12.0), Some(&0.001))
        );
    }
}

/// Archives exactly as `torch.save` writes them (zip64 end record, 64-byte aligned storages):
/// the notebook's whole model and a decoder-only state dict. Each tensor here owns its storage,
/// so floats + skipped integer tensors = the `data/N` entries Python's zipfile lists (337, 19).
#[test]
fn torch_save_archives_open() {
    for (file, storages, one) in [
        (
            "notebook/attention_model_state.pth",
            337,
            "state_dict.encoder.resnet.0.weight",
        ),
        (
            "notebook/decoder_only.pth",
            19,
            "state_dict.decoder.attention.A.bias",
        ),
    ] {
        let opened = PthFile::open(fixtures().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(opened.container, Container::Zip);
        let (floats, skipped) = float_tensors(&opened);
        assert_eq!(floats.len() + skipped.len(), storages, "{file}");
        assert!(
            floats.contains_key(one),
            "{file}: no {one} in {:?}",
            floats.keys().take(3).collect::<Vec<_>>()
        );
        assert!(
            floats
                .values()
                .all(|(_, values)| values.iter().all(|v| v.is_finite()))
        );
    }
}

#[test]
fn whole_pickled_modules_are_read_as_their_state_dict() {
    let file = PthFile::open(fixtures().join("sgrvinod/BEST_checkpoint_flickr8k.pth.tar")).unwrap();
    assert_eq!(file.container, Container::Legacy);
    let (tensors, _) = float_tensors(&file);
    for name in [
        "encoder.resnet.0.weight",
        "decoder.attention.full_att.bias",
        "decoder.fc.weight",
    ] {
        assert!(tensors.contains_key(name), "{name} missing");
    }
    assert!(
        tensors
            .keys()
            .all(|n| n.starts_with("encoder.") || n.starts_with("decoder."))
    );
    assert_eq!(file.scalars().get("bleu-4"), Some(&0.2312));
}

#[test]
fn damaged_files_name_their_problem() {
    let dir = fixtures().join("pth");
    let zip = std::fs::read(dir.join("mixed_zip.pth")).unwrap();
    let legacy = std::fs::read(dir.join("mixed_legacy.pth")).unwrap();
    let err = |bytes: &[u8]| PthFile::from_bytes(bytes.to_vec()).unwrap_err();

    assert!(matches!(err(&zip[..zip.len() - 40]), PthError::NoZipEnd));
    // The last storage is small: the cut reaches into its element count.
    let truncated = err(&legacy[..legacy.len() - 10]);
    assert!(
        matches!(truncated, PthError::StorageSizeMissing { .. }),
        "{truncated}"
    );
    let truncated = err(&legacy[..legacy.len() - 1]);
    assert!(
        matches!(truncated, PthError::StorageTruncated { .. }),
        "{truncated}"
    );
    let early = err(&legacy[..200]);
    assert!(matches!(early, PthError::Pickle { .. }), "{early}");
    assert!(early.to_string().contains("ends early"), "{early}");
    assert!(matches!(err(b"\x80\x02}q\x00."), PthError::NotTorchSave));

    let missing = PthFile::open(dir.join("no_such_file.pth")).unwrap_err();
    assert!(matches!(missing, PthError::Read { .. }), "{missing}");
    // Special files are refused from the open handle, at once: a FIFO's open blocked for ever
    // when it replaced the file after a check of the path.
    let fifo = std::env::temp_dir().join(format!("glimpse-pth-{}-fifo.pth", std::process::id()));
    glimpse_files::testing::mkfifo(&fifo);
    let special = [
        PthFile::open(&fifo).unwrap_err(),
        PthFile::open("/dev/zero").unwrap_err(),
    ];
    std::fs::remove_file(&fifo).unwrap();
    for refused in special {
        assert!(matches!(refused, PthError::NotAFile { .. }), "{refused}");
    }
    let path = std::env::temp_dir().join(format!("glimpse-pth-{}-damaged.pth", std::process::id()));
    std::fs::write(&path, &zip[..zip.len() - 40]).unwrap();
    let damaged = PthFile::open(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        damaged.to_string().ends_with("not a readable PyTorch checkpoint"),
        "{damaged}"
    );
    assert!(matches!(damaged, PthError::Checkpoint { source, .. } if matches!(*source, PthError::NoZipEnd)));
}
