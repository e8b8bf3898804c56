//! The `glimpse` binary end to end: import, caption (text, JSON lines, attention figures), info,
//! and the errors users meet.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

use common::{fails_saying, glimpse, ok, synth, text, tiny_config, torch_fixtures as fixtures, train_args};

/// Imports the notebook fixture into `dir` and returns the bundle path.
fn import_notebook(dir: &Path) -> PathBuf {
    import_notebook_as(dir, "notebook", &[])
}

/// Imports the notebook fixture into `dir/NAME.safetensors` with `extra` flags.
fn import_notebook_as(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let bundle = dir.join(format!("{name}.safetensors"));
    let case = fixtures().join("notebook");
    let [checkpoint, vocab] = ["attention_model_state.pth", "vocab.json"].map(|f| case.join(f));
    let mut args = vec![
        "import",
        "torch",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--vocab",
        vocab.to_str().unwrap(),
        "--trained-on",
        "random weights (test fixture)",
        "--out",
        bundle.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = glimpse(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Notebook layout, resnet50 encoder, 34 words"),
        "{}",
        text(&out.stderr)
    );
    bundle
}

fn expected_words() -> String {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("notebook/expected.json")).unwrap())
            .unwrap();
    let vocab: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("notebook/vocab.json")).unwrap())
            .unwrap();
    let ids = expected["greedy"]["ids"].as_array().unwrap();
    ids[..ids.len() - 1]
        .iter()
        .map(|id| vocab[id.as_u64().unwrap() as usize].clone())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn import_then_caption_as_text_json_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path());
    let image = fixtures().join("notebook/image.png");

    let out = glimpse(&[
        "caption",
        "--model",
        bundle.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), expected_words());

    let figures = dir.path().join("figures");
    let out = glimpse(&[
        "caption",
        "--model",
        bundle.to_str().unwrap(),
        "--json",
        "--beam",
        "3",
        "--attention-png",
        figures.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    for key in [
        "image",
        "caption",
        "tokens",
        "attention",
        "grid",
        "log_prob",
        "backend",
        "ms",
    ] {
        assert!(record.get(key).is_some(), "--json lacks `{key}`: {record}");
    }
    assert_eq!(record["grid"], serde_json::json!([7, 7]));
    assert_eq!(record["backend"], "flex");
    let tokens = record["tokens"].as_array().unwrap();
    let attention = record["attention"].as_array().unwrap();
    assert_eq!(attention.len(), tokens.len());
    assert!(attention.iter().all(|a| a.as_array().unwrap().len() == 49));
    assert!(record["ms"].as_f64().unwrap() > 0.0);

    // One panel per word in a near-square grid, each 224 wide (the photo is 224×224).
    let figure = image::open(figures.join("image.attention.png")).unwrap();
    let n = tokens.len() as u32;
    let cols = (n as f64).sqrt().ceil() as u32;
    let rows = n.div_ceil(cols);
    assert_eq!(
        (figure.width(), figure.height()),
        (cols * 232 + 8, rows * (224 + 28 + 8) + 8)
    );
}

#[test]
fn bad_images_are_reported_and_the_others_still_captioned() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path());
    let good = fixtures().join("notebook/image.png");
    let not_image = dir.path().join("notes.txt");
    std::fs::write(&not_image, "shopping list: milk, eggs").unwrap();
    let truncated = dir.path().join("truncated.png");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    // A valid PNG whose header claims 30000 × 20000 pixels.
    let huge_path = fixtures().join("../images/huge_header.png");
    let missing = dir.path().join("missing.jpg");

    let paths = [&not_image, &good, &truncated, &huge_path, &missing, &good];
    let mut args = vec!["caption", "--json", "--model", bundle.to_str().unwrap()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let out = glimpse(&args);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("4 of 6 image(s) could not be captioned"),
        "{}",
        text(&out.stderr)
    );
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let error = |i: usize| lines[i]["error"].as_str().unwrap_or_default().to_string();
    assert!(error(0).contains("not a recognised image format"), "{}", error(0));
    assert!(error(2).contains("corrupt Png"), "{}", error(2));
    assert!(error(3).contains("over the budget"), "{}", error(3));
    assert!(error(4).contains("cannot read the file"), "{}", error(4));
    assert_eq!(lines[1]["caption"].as_str().unwrap(), expected_words());
    assert_eq!(lines[5]["caption"].as_str().unwrap(), expected_words());

    // Weights whose logits overflow: the batch's photos are named (review 73: "at step 1" of
    // no photo).
    let mut broken = glimpse_model::Bundle::from_bytes(&std::fs::read(&bundle).unwrap()).unwrap();
    let mut bias = broken.weights.get("decoder.fcn.bias").unwrap().clone();
    (bias.data[4], bias.data[5]) = (3.0e38, -3.0e38);
    broken.weights.insert("decoder.fcn.bias", bias);
    let broken_path = dir.path().join("broken.safetensors");
    std::fs::write(
        &broken_path,
        broken.to_bytes(glimpse_model::StorageType::F32).unwrap(),
    )
    .unwrap();
    let copy = dir.path().join("copy.png");
    std::fs::copy(&good, &copy).unwrap();
    let out = glimpse(&[
        "caption",
        "--batch",
        "2",
        "--model",
        broken_path.to_str().unwrap(),
        good.to_str().unwrap(),
        copy.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("captioning {}, {}", good.display(), copy.display()))
            && stderr.contains("the model computed a non-finite value"),
        "{stderr}"
    );
}

#[test]
fn batches_caption_like_single_images() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path());
    let a = fixtures().join("notebook/image.png");
    let b = fixtures().join("sgrvinod/image.png");
    let run = |batch: &str| {
        let out = glimpse(&[
            "caption",
            "--batch",
            batch,
            "--model",
            bundle.to_str().unwrap(),
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let batched = run("2");
    assert_eq!(batched, run("1"));
    assert_eq!(batched.lines().count(), 2);
    assert!(
        batched.lines().all(|l| l.contains('\t')),
        "several images print path<TAB>caption: {batched}"
    );
}

/// `glimpse export BUNDLE --int8` stores a bundle again: weights as int8 (under a third of F32),
/// the same card and config, and it loads and captions. `--int8-decoder` (the encoder as f16)
/// lands between int8 and f16. Two storages at once are refused.
#[test]
fn export_stores_a_bundle_again_as_int8() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path()); // F32
    let int8 = dir.path().join("int8.safetensors");
    let (from, to) = (bundle.to_str().unwrap(), int8.to_str().unwrap());
    let out = glimpse(&["export", from, "--int8", "--out", to]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(
        size(&int8) * 10 < size(&bundle) * 3,
        "{} bytes from {}",
        size(&int8),
        size(&bundle)
    );
    let info = |p: &str| -> Value { serde_json::from_str(&text(&glimpse(&["info", p]).stdout)).unwrap() };
    assert_eq!(info(to), info(from));
    let image = fixtures().join("notebook/image.png");
    let out = glimpse(&["caption", "--json", "--model", to, image.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(record["grid"], serde_json::json!([7, 7]));

    let mixed = dir.path().join("int8-decoder.safetensors");
    let out = glimpse(&["export", from, "--int8-decoder", "--out", mixed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        size(&int8) < size(&mixed) && size(&mixed) < size(&bundle) / 2,
        "int8 {}, int8-decoder {}, f32 {}",
        size(&int8),
        size(&mixed),
        size(&bundle)
    );
    assert_eq!(info(mixed.to_str().unwrap()), info(from));

    for both in [
        ["--int8", "--f16"],
        ["--int8-decoder", "--f16"],
        ["--int8", "--int8-decoder"],
    ] {
        let out = glimpse(&["export", from, both[0], both[1], "--out", to]);
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("cannot be used with"),
            "{both:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn info_shows_card_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path());
    let out = glimpse(&["info", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let info: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(info["config"]["encoder"]["arch"], "resnet50");
    assert_eq!(info["card"]["trained_on"], "random weights (test fixture)");
    assert_eq!(info["card"]["epochs"], 25);
    assert_eq!(info["vocabulary_size"], 34);
    assert_eq!(info["grid"], serde_json::json!([7, 7]));
}

#[test]
fn import_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.safetensors");
    let out = out_path.to_str().unwrap();
    let case = fixtures().join("notebook");
    let checkpoint = case.join("attention_model_state.pth");
    let checkpoint = checkpoint.to_str().unwrap();
    let fail = |args: &[&str]| {
        let result = glimpse(args);
        assert!(!result.status.success(), "{args:?} succeeded");
        text(&result.stderr)
    };
    // The error of `glimpse import torch --checkpoint C --vocab V --out O`.
    let import_torch = |checkpoint: &str, vocab: &Path, out: &str| {
        let paths = [
            "--checkpoint",
            checkpoint,
            "--vocab",
            vocab.to_str().unwrap(),
            "--out",
            out,
        ];
        fail(&[&["import", "torch"][..], &paths].concat())
    };

    let err = fail(&["import", "torch", "--checkpoint", checkpoint, "--out", out]);
    assert!(err.contains("a vocabulary is needed: pass --vocab FILE"), "{err}");

    // `--out` naming an input (through another path) would replace the user's checkpoint.
    let copy = dir.path().join("copy.pth");
    std::fs::copy(checkpoint, &copy).unwrap();
    let vocab = case.join("vocab.json");
    let via_dot = dir.path().join(".").join("copy.pth");
    let (copy, via_dot) = (copy.to_str().unwrap(), via_dot.to_str().unwrap());
    let err = import_torch(copy, &vocab, via_dot);
    assert!(err.contains("is the --checkpoint file"), "{err}");
    assert_eq!(std::fs::read(copy).unwrap(), std::fs::read(checkpoint).unwrap());

    // A device or FIFO as `--out` is not replaced by the bundle (as root, `--out /dev/null`
    // replaced /dev/null with a regular file).
    let fifo = dir.path().join("fifo.safetensors");
    common::mkfifo(&fifo);
    let err = import_torch(checkpoint, &vocab, fifo.to_str().unwrap());
    assert!(
        err.contains("exists and is not a regular file; not replaced"),
        "{err}"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

    let short_vocab = dir.path().join("short.json");
    std::fs::write(&short_vocab, r#"["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a"]"#).unwrap();
    let err = import_torch(checkpoint, &short_vocab, out);
    assert!(
        err.contains("5 words, but the decoder's embedding has 34 rows"),
        "{err}"
    );

    let png = case.join("image.png");
    let err = import_torch(png.to_str().unwrap(), &short_vocab, out);
    assert!(
        err.contains("not a readable PyTorch checkpoint")
            && err.contains("neither a zip archive nor a pickle"),
        "{err}"
    );

    let truncated = dir.path().join("truncated.pth");
    let bytes = std::fs::read(case.join("attention_model_state.pth")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = import_torch(truncated.to_str().unwrap(), &short_vocab, out);
    assert!(err.contains("no zip end-of-central-directory record"), "{err}");

    let vocab = case.join("vocab.json");
    let decoder_only = case.join("decoder_only.pth");
    let err = import_torch(decoder_only.to_str().unwrap(), &vocab, out);
    assert!(
        err.contains("holds no encoder weights; pass the torchvision ImageNet file as --encoder"),
        "{err}"
    );

    let err = fail(&["import", "torch", "--out", out]);
    assert!(err.contains("nothing to import"), "{err}");

    // A card's text past its limit is named by its flag, before anything is read, not quoted
    // whole (round 24 found it named as the card's field, after the checkpoint was read).
    let long = "a".repeat(glimpse_model::bundle::MAX_CARD_TEXT_BYTES + 1);
    for args in [
        &[
            "import",
            "torch",
            "--checkpoint",
            checkpoint,
            "--out",
            out,
            "--trained-on",
            &long,
        ][..],
        &["export", checkpoint, "--out", out, "--name", &long],
        &["export", checkpoint, "--out", out, "--description", &long],
    ] {
        let err = fail(args);
        let flag = args[args.len() - 2];
        assert!(
            err.contains(&format!("error: `{flag} <"))
                && err.contains(">` is 16385 bytes, over the model card's limit of 16384"),
            "{err}"
        );
        assert!(err.len() < 1000, "{err}");
    }
    assert!(
        !out_path.exists(),
        "a failed import must not leave a bundle behind"
    );
}

#[test]
fn bad_bundles_and_backends_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixtures().join("notebook/image.png");
    let not_bundle = dir.path().join("model.safetensors");
    std::fs::write(&not_bundle, b"<html>404 not found</html>").unwrap();
    let out = glimpse(&[
        "caption",
        "--model",
        not_bundle.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot load the model: not a safetensors bundle"),
        "{}",
        text(&out.stderr)
    );

    let bundle = import_notebook(dir.path());
    let out = glimpse(&[
        "caption",
        "--backend",
        "cuda",
        "--model",
        bundle.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("built without the `cuda` backend"),
        "{}",
        text(&out.stderr)
    );
}

/// `GLIMPSE_CLIP=` (how some shells clear a variable) failed with "a value is required for
/// '--clip'", a flag never given: an empty one counts as unset.
#[test]
fn empty_encoder_variables_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    let output = std::process::Command::new(common::GLIMPSE)
        .args(["eval", "--model", missing.to_str().unwrap(), "--data"])
        .arg(dir.path())
        .env("GLIMPSE_CLIP", "")
        .env("GLIMPSE_TEXT_ENCODER", "")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no dataset found"), "{stderr}");
    assert!(!stderr.contains("a value is required"), "{stderr}");
}

/// A folder holding the imported notebook bundle, the bundle, the fixture's image and PyTorch's
/// explore references (`explore.json`).
fn explore_setup() -> (tempfile::TempDir, PathBuf, PathBuf, Value) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path());
    let image = fixtures().join("notebook/image.png");
    let explore =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("notebook/explore.json")).unwrap())
            .unwrap();
    (dir, bundle, image, explore)
}

fn assert_close(label: &str, got: &Value, want: &Value, tolerance: f64) {
    let (got, want) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    assert!((got - want).abs() < tolerance, "{label}: {got} vs PyTorch {want}");
}

/// `glimpse score --json` gives PyTorch's teacher-forced numbers for a typed caption with an
/// unknown word, names that word, and shows the model's own caption; the text table lists the
/// same words.
#[test]
fn score_rates_a_typed_caption_word_by_word() {
    let (_dir, bundle, image, explore) = explore_setup();
    let want = &explore["scores"][2];
    let typed = format!("{}!", want["text"].as_str().unwrap().to_uppercase());
    let args = [
        "score",
        "--model",
        bundle.to_str().unwrap(),
        image.to_str().unwrap(),
        "--caption",
        &typed,
        "--alternatives",
        "3",
    ];
    let out = glimpse(&[&args[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let words = record["words"].as_array().unwrap();
    assert_eq!(words.len(), want["words"].as_array().unwrap().len());
    for (got, want) in words.iter().zip(want["words"].as_array().unwrap()) {
        assert_eq!(got["id"], want["id"]);
        assert_eq!(got["rank"], want["rank"]);
        assert_close("log_prob", &got["log_prob"], &want["log_prob"], 1e-3);
        assert_eq!(got["alternatives"][0]["id"], want["top"]["ids"][0]);
    }
    assert_close("end", &record["end"]["log_prob"], &want["end"]["log_prob"], 1e-3);
    assert_close("total", &record["log_prob"], &want["log_prob"], 1e-3);
    assert_eq!(record["typed"][1], "zebra");
    assert_eq!(record["words"][1]["word"], "<UNK>");
    let notes = record["notes"].to_string();
    assert!(
        notes.contains("\\\"zebra\\\" is not in the vocabulary"),
        "{notes}"
    );
    assert_eq!(record["model_caption"], expected_words());

    let out = glimpse(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("zebra (<UNK>)"), "{table}");
    assert!(
        table.contains(&format!("the model's own caption: {}", expected_words())),
        "{table}"
    );
    assert!(text(&out.stderr).contains("\"zebra\" is not in the vocabulary"));

    // A caption that splits to no words is refused, not scored as its end token alone; too many
    // alternatives before the model is read (review 73).
    let empty = [
        "score",
        "--model",
        "/nonexistent.safetensors",
        args[3],
        "--caption",
        " ",
    ];
    fails_saying(&glimpse(&empty), "the caption to score has no words");
    let missing = [
        "score",
        "--model",
        "/nonexistent.safetensors",
        args[3],
        "--caption",
        "a",
        "--alternatives",
        "51",
    ];
    fails_saying(
        &glimpse(&missing),
        "51 alternatives asked for, at most 50 are recorded",
    );
}

/// `caption --prefix --alternatives --all-beams --json` continues the prefix by beam search and
/// lists every hypothesis with its alternatives, as PyTorch's reference search does.
#[test]
fn caption_continues_a_prefix_and_lists_every_beam() {
    let (_dir, bundle, image, explore) = explore_setup();
    let prefix = &explore["prefix"];
    let words: Vec<&str> = prefix["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let out = glimpse(&[
        "caption",
        "--model",
        bundle.to_str().unwrap(),
        image.to_str().unwrap(),
        "--prefix",
        &words.join(" "),
        "--beam",
        "3",
        "--alternatives",
        "3",
        "--all-beams",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let hypotheses = prefix["beam"]["hypotheses"].as_array().unwrap();
    let beams = record["beams"].as_array().unwrap();
    assert_eq!(beams.len(), hypotheses.len());
    assert_eq!(beams[0]["tokens"], record["tokens"]);
    let vocab: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("notebook/vocab.json")).unwrap())
            .unwrap();
    let words_of = |hypothesis: &Value| -> Vec<String> {
        let ids = hypothesis["ids"].as_array().unwrap();
        let ids = &ids[..ids.len() - hypothesis["finished"].as_bool().unwrap() as usize];
        ids.iter()
            .map(|id| vocab[id.as_u64().unwrap() as usize].clone())
            .collect()
    };
    for (got, want) in beams.iter().zip(hypotheses) {
        let got_words: Vec<String> = serde_json::from_value(got["tokens"].clone()).unwrap();
        assert_eq!(got_words, words_of(want));
        assert_eq!(got_words[..2], words[..]);
        assert_close("log_prob", &got["log_prob"], &want["log_prob"], 1e-3);
        let positions = got["alternatives"].as_array().unwrap();
        assert_eq!(positions.len(), want["alternatives"].as_array().unwrap().len());
    }
    assert_close("score", &beams[1]["score"], &hypotheses[1]["score"], 1e-3);

    let out = glimpse(&[
        "caption",
        "--model",
        bundle.to_str().unwrap(),
        image.to_str().unwrap(),
        "--prefix",
        "a b c d e f g h i j k l m n o p q r s t",
    ]);
    fails_saying(&out, "prefix of 20 words leaves nothing to decode");
    // A text is refused by its size before it is split into words.
    let long = "a ".repeat(40_000);
    let (model, photo) = (bundle.to_str().unwrap(), image.to_str().unwrap());
    let out = glimpse(&["caption", "--model", model, photo, "--prefix", &long]);
    fails_saying(
        &out,
        "--prefix: invalid argument: a caption of 80000 bytes is over the limit of 65536 bytes",
    );
    let out = glimpse(&["score", "--model", model, photo, "--caption", &long]);
    fails_saying(
        &out,
        "invalid argument: a caption of 80000 bytes is over the limit of 65536 bytes",
    );
}

/// Completions and manual pages come from the CLI's own definition, so they know every flag.
#[test]
fn completions_and_man_pages_know_every_command() {
    let out = glimpse(&["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(script.contains("complete -F _glimpse"), "{script}");
    assert!(script.contains("--all-beams") && script.contains("--colormap"));
    let dir = tempfile::tempdir().unwrap();
    let out = glimpse(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for command in [
        "glimpse",
        "glimpse-caption",
        "glimpse-score",
        "glimpse-import-torch",
    ] {
        let page = std::fs::read_to_string(dir.path().join(format!("{command}.1"))).unwrap();
        assert!(page.contains(&format!(".TH {command} 1")), "{command}: {page}");
    }
    let caption = std::fs::read_to_string(dir.path().join("glimpse-caption.1")).unwrap();
    assert!(
        caption.contains("colormap") && caption.contains("Example"),
        "{caption}"
    );
}

/// Scoring needs no train split: `eval` scores a test-only Karpathy file, while `train` refuses
/// it, naming the missing split.
#[test]
fn a_test_only_set_is_scored_but_not_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    let synth_dir = dir.path().join("synth");
    synth(&synth_dir, 20, 3);
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(synth_dir.join("synth.json")).unwrap()).unwrap();
    let images: Vec<Value> = sidecar["images"]
        .as_array()
        .unwrap()
        .iter()
        .take(4)
        .map(|image| {
            let sentences: Vec<Value> = image["captions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| serde_json::json!({ "raw": c }))
                .collect();
            serde_json::json!({"filepath": "Images", "filename": image["file"], "split": "test", "sentences": sentences})
        })
        .collect();
    let data = dir.path().join("test-only");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::symlink(synth_dir.join("Images"), data.join("Images")).unwrap();
    let karpathy = serde_json::json!({"dataset": "shapes", "images": images});
    std::fs::write(data.join("dataset_shapes.json"), karpathy.to_string()).unwrap();

    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models/default.safetensors");
    let report = ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["images"], 4);

    let config = tiny_config(dir.path(), serde_json::json!({"epochs": 1}));
    let out = glimpse(&train_args(&data, &dir.path().join("run"), &config, &[]));
    fails_saying(&out, "the train split has no usable images");
}

/// Output cut short by the reader (`| head -1`) ends the program quietly: no "Broken pipe"
/// error, no panic.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models/default.safetensors");
    let image = fixtures().join("notebook/image.png");
    let images = vec![image.to_str().unwrap(); 40].join(" ");
    let script = format!(
        "{} caption --json --model {} {images} | head -c 1 >/dev/null",
        common::GLIMPSE,
        model.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(text(&out.stderr), "", "the closed pipe was reported");
}

/// A full disk behind standard output (here `/dev/full`) is an error naming standard output,
/// with exit status 1: `println!` panicked (101) after `info`, `export` or `synth` had done
/// their work, `completions` panicked inside clap_complete, and `--help` and `--version`
/// reported success having written nothing (hostile round 13). An error message that standard
/// error cannot take still ends with status 1, not a panic.
#[cfg(unix)]
#[test]
fn a_full_disk_behind_the_output_is_an_error_not_a_panic() {
    use std::process::{Command, Stdio};
    let full = || Stdio::from(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models/default.safetensors");
    let model = model.to_str().unwrap();
    let image = fixtures().join("notebook/image.png");
    let image = image.to_str().unwrap();
    for args in [
        vec!["info", model],
        vec!["--help"],
        vec!["--version"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["caption", "--model", model, image],
    ] {
        let out = Command::new(common::GLIMPSE)
            .args(&args)
            .stdout(full())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("error: cannot write to standard output: No space left on device"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = Command::new(common::GLIMPSE)
        .args(["info", "no-such-model.safetensors"])
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// `RAYON_NUM_THREADS` of 2,000 never finished a caption on 2 cores (hostile round 13): more
/// than 4 threads a core (16 at least) are refused before any work, naming the variable.
#[test]
fn a_thread_pool_far_past_the_cores_is_refused() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models/default.safetensors");
    let info_with = |variable: &str, value: &str| {
        std::process::Command::new(common::GLIMPSE)
            .args(["info", model.to_str().unwrap()])
            .env(variable, value)
            .output()
            .unwrap()
    };
    // Also under rayon's older name, which it still reads (the verifier).
    for (variable, value) in [("RAYON_NUM_THREADS", "100000"), ("RAYON_RS_NUM_CPUS", "2000")] {
        let out = info_with(variable, value);
        assert_eq!(out.status.code(), Some(1));
        let expected = format!("error: {variable}={value} asks for more threads than the ");
        assert!(text(&out.stderr).contains(&expected), "{}", text(&out.stderr));
    }
    let out = info_with("RAYON_NUM_THREADS", "2");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `import` and `export` write a model card beside the bundle (README.md, or STEM.README.md when
/// the folder's README.md is someone else's), with the card's name and the bundle's file name.
#[test]
fn import_and_export_write_a_model_card() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path());
    let card = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(card.contains("\n---\nlicense: other\n"), "{card}");
    assert!(
        card.contains("glimpse caption --model notebook.safetensors photo.jpg"),
        "{card}"
    );
    assert!(card.contains("Data: random weights (test fixture)"), "{card}");

    std::fs::write(dir.path().join("README.md"), "# notes of my own\n").unwrap();
    let copy = dir.path().join("copy.safetensors");
    ok(&[
        "export",
        bundle.to_str().unwrap(),
        "--f16",
        "--out",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("README.md")).unwrap(),
        "# notes of my own\n"
    );
    let card = std::fs::read_to_string(dir.path().join("copy.README.md")).unwrap();
    assert!(
        card.contains("glimpse caption --model copy.safetensors photo.jpg"),
        "{card}"
    );
}

#[test]
fn export_pth_writes_the_notebook_state_dict_and_imports_back_to_the_same_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = import_notebook(dir.path());
    let pth = dir.path().join("back.pth");
    let out = glimpse(&[
        "export",
        bundle.to_str().unwrap(),
        "--format",
        "pth",
        "--out",
        pth.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let vocab = dir.path().join("back.vocab.json");
    assert_eq!(
        std::fs::read_to_string(&vocab).unwrap(),
        glimpse_model::Bundle::from_bytes(&std::fs::read(&bundle).unwrap())
            .unwrap()
            .vocab
            .to_json()
    );

    // The notebook's own file holds every tensor written, under the same name with the same
    // values; what it has beyond them is its unused f_beta and BatchNorm's step counters.
    let read = |path: &Path| {
        let file = glimpse_pth::PthFile::open(path).unwrap();
        let (found, _) = file.tensors();
        let values: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)> = found
            .iter()
            .filter(|t| t.tensor.storage.dtype.is_float())
            .map(|t| {
                (
                    t.name.clone(),
                    (t.tensor.shape.clone(), file.read_f32(&t.tensor).unwrap()),
                )
            })
            .collect();
        values
    };
    let written = read(&pth);
    let original = read(&fixtures().join("notebook/attention_model_state.pth"));
    for (name, tensor) in &written {
        assert_eq!(original.get(name), Some(tensor), "{name}");
    }
    let left: Vec<&String> = original.keys().filter(|n| !written.contains_key(*n)).collect();
    assert!(left.iter().all(|n| n.contains("f_beta")), "{left:?}");

    let again = dir.path().join("again.safetensors");
    let (pth, vocab) = (pth.to_str().unwrap(), vocab.to_str().unwrap());
    let out = glimpse(&[
        "import",
        "torch",
        "--checkpoint",
        pth,
        "--vocab",
        vocab,
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let load = |p: &Path| glimpse_model::Bundle::from_bytes(&std::fs::read(p).unwrap()).unwrap();
    let (first, second) = (load(&bundle), load(&again));
    assert_eq!(
        first.weights.names().collect::<Vec<_>>(),
        second.weights.names().collect::<Vec<_>>()
    );
    for (name, tensor) in first.weights.iter() {
        assert_eq!(second.weights.get(name), Some(tensor), "{name}");
    }
    assert_eq!(first.config, second.config);

    let out = glimpse(&[
        "export",
        bundle.to_str().unwrap(),
        "--format",
        "pth",
        "--f16",
        "--out",
        pth,
    ]);
    fails_saying(&out, "--format pth writes float32");
}

/// A state dict holds neither the input size, the pooling grid, the normalisation nor the
/// gate: the printed command restores the first two, and a model with the others is refused
/// with what it would lose (it came back a different model, its captions changed, in silence).
#[test]
fn export_pth_prints_the_flags_that_restore_the_model_and_refuses_what_none_can() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixtures().join("sgrvinod");
    let [checkpoint, wordmap] = ["BEST_checkpoint_flickr8k.pth.tar", "WORDMAP_flickr8k.json"]
        .map(|name| case.join(name).to_str().unwrap().to_string());
    let import = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "import",
            "torch",
            "--checkpoint",
            &checkpoint,
            "--vocab",
            &wordmap,
        ];
        args.extend(extra);
        args.extend(["--out", out.to_str().unwrap()]);
        let output = glimpse(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
    };
    let export = |bundle: &Path, pth: &Path| {
        let [bundle, pth] = [bundle, pth].map(|p| p.to_str().unwrap().to_string());
        glimpse(&["export", &bundle, "--format", "pth", "--out", &pth])
    };
    // sgrvinod's model is gated, with relu attention: nothing is written.
    let gated = dir.path().join("gated.safetensors");
    import(&gated, &[]);
    let pth = dir.path().join("gated.pth");
    fails_saying(&export(&gated, &pth), "attention.gate true → false");
    assert!(!pth.exists() && !dir.path().join("gated.vocab.json").exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no staged file left"
    ); // and its card

    // The notebook's model at 320 pixels over a 5×5 grid comes back whole with the flags printed.
    let notebook = import_notebook(dir.path());
    let resized = import_notebook_as(dir.path(), "resized", &["--input-size", "320", "--grid", "5x5"]);
    let pth = dir.path().join("resized.pth");
    let out = export(&resized, &pth);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("--out model.safetensors --input-size 320 --grid 5x5"),
        "{}",
        text(&out.stdout)
    );
    let again = dir.path().join("again.safetensors");
    let vocab = dir.path().join("resized.vocab.json");
    let out = glimpse(&[
        "import",
        "torch",
        "--checkpoint",
        pth.to_str().unwrap(),
        "--vocab",
        vocab.to_str().unwrap(),
        "--input-size",
        "320",
        "--grid",
        "5x5",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let load = |p: &Path| glimpse_model::Bundle::from_bytes(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(load(&resized).config, load(&again).config);
    assert_ne!(load(&notebook).config, load(&again).config);
}

#[test]
fn an_opacity_outside_0_to_1_is_refused() {
    for alpha in ["NaN", "1e30", "-0.5"] {
        let out = glimpse(&[
            "caption",
            "--model",
            "m.safetensors",
            &format!("--alpha={alpha}"),
            "x.jpg",
        ]);
        fails_saying(&out, &format!("`{alpha}` is not an opacity from 0 to 1"));
    }
}

#[test]
fn resume_refuses_settings_it_would_not_use() {
    let out = glimpse(&["train", "--resume", "no-such-run", "--epochs", "30"]);
    fails_saying(
        &out,
        "--epochs applies to a new run: --resume continues a run with the config it was started with",
    );
}
