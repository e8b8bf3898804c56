//! The `.pth` reader against files PyTorch wrote: every dtype, strided and offset views, shared
//! storages, nesting, both containers; and against damaged files.

use std::path::{Path, PathBuf};

use glimpse_import::read_checkpoint;
use glimpse_pth::{Container, PthFile as Checkpoint};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torch/pth")
}

#[test]
fn both_containers_give_pytorchs_values_exactly() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap()).unwrap();
    for (file, container) in [
        ("mixed_zip.pth", Container::Zip),
        ("mixed_legacy.pth", Container::Legacy),
    ] {
        let path = dir().join(file);
        assert_eq!(Checkpoint::open(&path).unwrap().container, container);
        let mut checkpoint = read_checkpoint(&path).unwrap();
        let want = expected["tensors"].as_object().unwrap();
        assert_eq!(
            checkpoint.tensors.names().collect::<Vec<_>>(),
            {
                let mut names: Vec<&str> = want.keys().map(String::as_str).collect();
                names.sort();
                names
            },
            "{file}"
        );
        for (name, want) in want {
            let got = checkpoint.tensors.take(name).unwrap();
            let shape: Vec<usize> = want["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(got.shape, shape, "{file}: {name}");
            let values: Vec<f32> = want["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got.data, values, "{file}: {name}");
        }
        assert_eq!(checkpoint.skipped, vec!["steps".to_string()], "{file}");
        assert_eq!(checkpoint.scalars.get("epoch"), Some(&12.0));
        assert_eq!(checkpoint.scalars.get("lr"), Some(&0.001));
    }
}

#[test]
fn whole_pickled_modules_are_read_as_their_state_dict() {
    // sgrvinod's checkpoint pickles the encoder and decoder modules themselves, plus two Adam
    // optimizers, in the legacy container.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/torch/sgrvinod/BEST_checkpoint_flickr8k.pth.tar");
    let checkpoint = read_checkpoint(&path).unwrap();
    for name in [
        "encoder.resnet.0.weight",
        "encoder.resnet.4.1.bn2.running_var",
        "decoder.attention.full_att.bias",
        "decoder.decode_step.weight_hh",
        "decoder.fc.weight",
    ] {
        assert!(checkpoint.tensors.contains(name), "{name} missing");
    }
    // Optimizer objects are not model weights.
    assert!(
        checkpoint
            .tensors
            .names()
            .all(|n| n.starts_with("encoder.") || n.starts_with("decoder."))
    );
    assert_eq!(checkpoint.scalars.get("epoch"), Some(&7.0));
    assert_eq!(checkpoint.scalars.get("bleu-4"), Some(&0.2312));
}

#[test]
fn damaged_files_are_refused_with_the_reason() {
    let zip = std::fs::read(dir().join("mixed_zip.pth")).unwrap();
    let legacy = std::fs::read(dir().join("mixed_legacy.pth")).unwrap();
    let err = |bytes: Vec<u8>| format!("{:#}", Checkpoint::from_bytes(bytes).unwrap_err());

    assert!(err(zip[..zip.len() - 40].to_vec()).contains("no zip end-of-central-directory"));
    assert!(err(legacy[..legacy.len() - 10].to_vec()).contains("truncated"));
    assert!(err(legacy[..200].to_vec()).contains("ends early"));
    assert!(
        err(b"\x89PNG\r\n\x1a\n not a checkpoint".to_vec()).contains("neither a zip archive nor a pickle")
    );
    // A plain pickle that is not a torch.save stream.
    assert!(err(b"\x80\x02}q\x00.".to_vec()).contains("not a torch.save file"));
    let mut tar = vec![0u8; 600];
    tar[257..262].copy_from_slice(b"ustar");
    assert!(err(tar).contains("tar checkpoint"));
}
