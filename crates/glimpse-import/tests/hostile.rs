//! Checkpoints whose tensors have the wrong number of dimensions (issue 14, class 5): a 0-dim
//! or 1-D tensor where the importer or the model expects a 2-D or 4-D one gives an error naming
//! the tensor and its shape, never an indexing panic. The checkpoints are written here: a tiny
//! notebook-layout state dict (ResNet-18 at width 1/8, a decoder of 8), one tensor then bent.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Device;
use glimpse_import::{CheckpointLayout, FreshDecoder, ImportRequest, import, read_checkpoint};
use glimpse_model::config::{EncoderArch, EncoderConfig, PreprocessConfig};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

const WORDS: [&str; 5] = ["<pad>", "<start>", "<end>", "<unk>", "a"];

/// The tiny model's tensors under the notebook's names, with their shapes.
fn notebook_shapes(device: &Device) -> Vec<(String, Vec<usize>)> {
    let decoder = FreshDecoder {
        embed_dim: 8,
        attention_dim: 8,
        decoder_dim: 8,
        ..FreshDecoder::default()
    };
    let encoder = EncoderConfig {
        arch: EncoderArch::Resnet18,
        width_multiplier: 0.125,
        pooled_grid: None,
    };
    let config = decoder.model_config(encoder, PreprocessConfig::default(), WORDS.len());
    let weights = decoder.initial_weights(&config, device).unwrap();
    weights
        .iter()
        .map(|(name, tensor)| (notebook_name(name), tensor.shape.clone()))
        .collect()
}

/// `encoder.conv1.weight` → `encoder.resnet.0.weight` (the notebook keeps ResNet's children
/// in a `Sequential`); decoder names are the notebook's already.
fn notebook_name(canonical: &str) -> String {
    const CHILDREN: [(&str, &str); 6] = [
        ("conv1.", "0."),
        ("bn1.", "1."),
        ("layer1.", "4."),
        ("layer2.", "5."),
        ("layer3.", "6."),
        ("layer4.", "7."),
    ];
    let Some(rest) = canonical.strip_prefix("encoder.") else {
        return canonical.to_string();
    };
    let (from, to) = CHILDREN.iter().find(|(from, _)| rest.starts_with(from)).unwrap();
    format!("encoder.resnet.{to}{}", &rest[from.len()..])
}

/// A state dict pickled as `torch.save` writes it: an `OrderedDict` of tensors, each a
/// contiguous view of one storage `0` of `total` elements, of the class `storage`
/// (`FloatStorage`).
fn state_dict_pickle(tensors: &[(String, Vec<usize>)], total: usize, storage: &str) -> Vec<u8> {
    let mut out = b"\x80\x02ccollections\nOrderedDict\n)R".to_vec();
    let mut offset = 0;
    for (name, shape) in tensors {
        text(&mut out, name);
        out.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        out.push(b'(');
        text(&mut out, "storage");
        out.extend(format!("ctorch\n{storage}\n").as_bytes());
        text(&mut out, "0");
        text(&mut out, "cpu");
        int(&mut out, total);
        out.extend(b"tQ");
        int(&mut out, offset);
        let strides: Vec<usize> = (0..shape.len())
            .map(|i| shape[i + 1..].iter().product())
            .collect();
        ints(&mut out, shape);
        ints(&mut out, &strides);
        out.extend(b"\x89ccollections\nOrderedDict\n)RtRs");
        offset += shape.iter().product::<usize>();
    }
    out.push(b'.');
    out
}

fn text(out: &mut Vec<u8>, text: &str) {
    out.push(b'X');
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(text.as_bytes());
}

fn int(out: &mut Vec<u8>, value: usize) {
    out.push(b'J');
    out.extend((value as i32).to_le_bytes());
}

fn ints(out: &mut Vec<u8>, values: &[usize]) {
    out.push(b'(');
    for &v in values {
        int(out, v);
    }
    out.push(b't');
}

/// Writes the checkpoint of float tensors and its vocabulary; returns their paths.
fn write_checkpoint(case: &str, tensors: &[(String, Vec<usize>)]) -> (PathBuf, PathBuf) {
    write_checkpoint_of(case, tensors, ("FloatStorage", 4))
}

/// Writes the checkpoint of tensors of `storage` (its class and bytes per element) and its
/// vocabulary; returns their paths.
fn write_checkpoint_of(
    case: &str,
    tensors: &[(String, Vec<usize>)],
    storage: (&str, usize),
) -> (PathBuf, PathBuf) {
    let total: usize = tensors.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    zip.start_file("tiny/data.pkl", stored).unwrap();
    zip.write_all(&state_dict_pickle(tensors, total, storage.0))
        .unwrap();
    zip.start_file("tiny/data/0", stored).unwrap();
    zip.write_all(&vec![0u8; total * storage.1]).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    // A folder of this call's own: the tests run in threads of one process, and one of them
    // read the `vocab.json` another was writing (empty: "EOF while parsing").
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("glimpse-import-hostile-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join(format!("{case}.pth"));
    std::fs::write(&checkpoint, bytes).unwrap();
    let vocab = dir.join("vocab.json");
    std::fs::write(&vocab, serde_json::to_string(&WORDS).unwrap()).unwrap();
    (checkpoint, vocab)
}

/// Removes what [`write_checkpoint`] wrote.
fn remove_written(checkpoint: &Path) {
    std::fs::remove_dir_all(checkpoint.parent().unwrap()).unwrap();
}

/// `glimpse import` of `checkpoint` in the notebook's layout with `vocab`.
fn notebook_request(checkpoint: &Path, vocab: PathBuf) -> ImportRequest {
    ImportRequest {
        checkpoint: Some(checkpoint.to_path_buf()),
        vocab: Some(vocab),
        layout: Some(CheckpointLayout::Notebook),
        created: "2026-01-01".into(),
        ..ImportRequest::default()
    }
}

/// Imports the tiny checkpoint with `name` given `shape`; the error's full text, if any.
fn import_with(case: &str, bent: Option<(&str, Vec<usize>)>, device: &Device) -> Result<(), String> {
    let mut tensors = notebook_shapes(device);
    if let Some((name, shape)) = &bent {
        let slot = tensors.iter_mut().find(|(n, _)| n == name);
        slot.unwrap_or_else(|| panic!("no {name}")).1 = shape.clone();
    }
    let (checkpoint, vocab) = write_checkpoint(case, &tensors);
    let result = import(&notebook_request(&checkpoint, vocab), device)
        .map(drop)
        .map_err(|e| format!("{e:#}"));
    remove_written(&checkpoint);
    result
}

#[test]
fn tensors_of_the_wrong_rank_are_named_with_their_shape() {
    let device = Device::flex();
    import_with("good", None, &device).expect("the unbent tiny checkpoint imports");
    let cases: [(&str, Vec<usize>, &str); 6] = [
        // The stem convolution is read for its width (its name in canonical form).
        (
            "encoder.resnet.0.weight",
            vec![8],
            "`encoder.conv1.weight` has shape [8]; expected 4 dimensions",
        ),
        (
            "decoder.embedding.weight",
            vec![5],
            "`decoder.embedding.weight` has shape [5]; expected 2 dimensions",
        ),
        (
            "decoder.attention.U.weight",
            vec![],
            "`decoder.attention.U.weight` has shape []; expected 2 dimensions",
        ),
        (
            "decoder.init_h.weight",
            vec![8],
            "`decoder.init_h.weight` has shape [8]; expected 2 dimensions",
        ),
        (
            "decoder.lstm_cell.weight_ih",
            vec![512],
            "`decoder.lstm_cell.weight_ih` is [512], expected [32, ",
        ),
        (
            "decoder.fcn.weight",
            vec![],
            "`decoder.fcn.weight` is [], expected [5, 8]",
        ),
    ];
    for (name, shape, expected) in cases {
        let err = import_with(name, Some((name, shape)), &device).unwrap_err();
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn a_checkpoint_the_walk_could_not_search_is_refused() {
    // A tuple nested 100 deep: deeper than any model, so its contents are not searched, and
    // an import that might miss tensors is refused rather than left incomplete.
    let mut pickle = b"\x80\x02)".to_vec();
    pickle.extend([0x85; 100]);
    pickle.push(b'.');
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    zip.start_file("deep/data.pkl", stored).unwrap();
    zip.write_all(&pickle).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let path = std::env::temp_dir().join(format!("glimpse-import-deep-{}.pth", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let err = format!("{:#}", read_checkpoint(&path).unwrap_err());
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.contains("refused: part of the object tree was not searched for tensors")
            && err.contains("nested deeper than 64 levels"),
        "{err}"
    );
}

#[test]
fn a_layout_asked_for_against_the_checkpoints_keys_is_refused() {
    // The notebook's keys are all found under sgrvinod's names too: `--layout sgrvinod` made
    // another model of them (relu attention, the notebook's never-trained gate), without a
    // word (hostile round 22).
    let device = Device::flex();
    let (checkpoint, vocab) = write_checkpoint("forced-layout", &notebook_shapes(&device));
    let request = ImportRequest {
        layout: Some(CheckpointLayout::Sgrvinod),
        ..notebook_request(&checkpoint, vocab)
    };
    let result = import(&request, &device).map(drop).map_err(|e| format!("{e:#}"));
    remove_written(&checkpoint);
    let err = result.expect_err("refused");
    assert!(
        err.contains("its keys are the notebook layout's, not the sgrvinod layout's that --layout asks for"),
        "{err}"
    );
}

#[test]
fn keys_outside_the_model_are_noted_in_excerpts() {
    // Four keys of 1,000 bytes (the walk's longest name is 1,024) were quoted whole in the
    // card's notes: a checkpoint's keys fill a note that no one reads past its start.
    let device = Device::flex();
    let mut tensors = notebook_shapes(&device);
    let long: Vec<String> = (0..5).map(|i| format!("extra{i}.{}", "x".repeat(993))).collect();
    tensors.extend(long.iter().map(|name| (name.clone(), vec![1])));
    let (checkpoint, vocab) = write_checkpoint("long-keys", &tensors);
    let imported =
        import(&notebook_request(&checkpoint, vocab), &device).expect("the extra keys are ignored");
    remove_written(&checkpoint);
    let note = imported
        .notes
        .iter()
        .find(|n| n.contains("outside the model"))
        .expect("a note");
    assert!(note.starts_with("ignored 5 tensor(s) of "), "{note}");
    // The file's name only: the note goes on the card a bundle is published with.
    let named = format!("of {} outside", checkpoint.file_name().unwrap().to_str().unwrap());
    assert!(note.contains(&named) && !note.contains('/'), "{note}");
    assert!(note.contains("(1000 bytes in all), …)"), "{note}");
    assert!(note.len() < 600, "{} bytes: {note}", note.len());
}

#[test]
fn a_key_past_the_longest_name_is_named_by_its_start() {
    let device = Device::flex();
    let mut tensors = notebook_shapes(&device);
    tensors.push((format!("extra.{}", "x".repeat(20_000)), vec![1]));
    let (checkpoint, _) = write_checkpoint("too-long-key", &tensors);
    let err = format!("{:#}", read_checkpoint(&checkpoint).unwrap_err());
    remove_written(&checkpoint);
    assert!(err.contains("(extra.xxxx"), "{err}");
    assert!(
        err.contains("…: a name longer than 1024 bytes; not searched)"),
        "{err}"
    );
    assert!(err.len() < 600, "{} bytes: {err}", err.len());
}

#[test]
fn an_integer_tensor_at_a_weights_name_is_named_with_its_dtype() {
    // Left out as `num_batches_tracked` is, an int64 `conv1.weight` was reported as missing, or
    // the layout as unknown from an empty list of keys (hostile round 17).
    let long = ("LongStorage", 8);
    let stem = [("conv1.weight".to_string(), vec![8])];
    let (checkpoint, vocab) = write_checkpoint_of("long", &stem, long);
    let left_out =
        "(integer tensors left out: `conv1.weight` (torch.int64); Glimpse imports float weights only)";
    let as_encoder = ImportRequest {
        encoder: Some(checkpoint.clone()),
        vocab: Some(vocab.clone()),
        created: "2026-01-01".into(),
        ..ImportRequest::default()
    };
    let as_checkpoint = ImportRequest {
        layout: None,
        ..notebook_request(&checkpoint, vocab)
    };
    for (request, expected) in [
        (
            as_encoder,
            "long.pth: neither `conv1.weight` (ResNet) nor `features.0.0.weight`",
        ),
        (
            as_checkpoint,
            "long.pth: holds no float tensor (1 other tensor(s))",
        ),
    ] {
        let err = format!("{:#}", import(&request, &Device::flex()).map(drop).unwrap_err());
        assert!(err.contains(expected) && err.ends_with(left_out), "{err}");
    }
    remove_written(&checkpoint);
    // Many, with a long name: the first four named, the long one cut (a file may hold 2^18
    // tensors of 1 KiB names).
    let long_name = format!("{}.weight", "a".repeat(300));
    let many: Vec<(String, Vec<usize>)> = [
        long_name.as_str(),
        "b.weight",
        "c.bias",
        "d.weight",
        "e.weight",
        "f.weight",
    ]
    .iter()
    .map(|name| (name.to_string(), vec![1]))
    .collect();
    let (checkpoint, vocab) = write_checkpoint_of("many", &many, ("IntStorage", 4));
    let request = ImportRequest {
        layout: None,
        ..notebook_request(&checkpoint, vocab)
    };
    let err = format!("{:#}", import(&request, &Device::flex()).map(drop).unwrap_err());
    let listed = format!(
        "left out: `{}… (307 bytes in all)` (torch.int32), `b.weight` (torch.int32)",
        "a".repeat(80)
    );
    assert!(err.contains(&listed), "{err}");
    assert!(
        err.ends_with("`d.weight` (torch.int32) and 2 more; Glimpse imports float weights only)"),
        "{err}"
    );
    remove_written(&checkpoint);
    // A step counter is left out as before, and named nowhere.
    let counter = [("bn1.num_batches_tracked".to_string(), vec![])];
    let (checkpoint, vocab) = write_checkpoint_of("counter", &counter, long);
    let request = ImportRequest {
        layout: None,
        ..notebook_request(&checkpoint, vocab)
    };
    let err = format!("{:#}", import(&request, &Device::flex()).map(drop).unwrap_err());
    assert!(
        err.ends_with("counter.pth: holds no float tensor (1 other tensor(s))"),
        "{err}"
    );
    remove_written(&checkpoint);
}
