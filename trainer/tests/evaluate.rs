//! `glimpse eval` and `glimpse compare` end to end on a small trained model: metrics under
//! coco-caption's names equal glimpse-metrics on the written captions, grounding is reported
//! on synthetic data, CLIPScore and RefCLIPScore are written (with the tiny random CLIP) and agree
//! between eval and compare, the report is one self-contained HTML file, caption sets that do not
//! cover the split are refused with the missing images named, and neither command writes over
//! what it reads or over the other's report.

use std::fs;
use std::path::Path;
use std::process::Command;

use glimpse_data::{Dataset, LoadOptions, Split};
use glimpse_eval::score::score_captions;
use glimpse_metrics::tokenize;

mod common;

use common::{GLIMPSE, fails_saying, glimpse, glimpse_within_ulimit, ok, synth, text, train_args};
use glimpse_files::caps;

fn trained_model(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("data");
    synth(&data, 60, 8);
    let config = dir.join("config.json");
    fs::write(
        &config,
        r#"{"encoder": "resnet18", "input_size": 64, "embed_dim": 32, "attention_dim": 32, "decoder_dim": 64,
            "batch_size": 16, "min_word_count": 1, "decoder_lr": 0.003, "epochs": 3, "seed": 2}"#,
    )
    .unwrap();
    let run = dir.join("run");
    ok(&train_args(&data, &run, &config, &[]));
    let bundle = dir.join("model.safetensors");
    ok(&["export", run.to_str().unwrap(), "--out", bundle.to_str().unwrap()]);
    (data, bundle)
}

#[test]
fn eval_and_compare_score_write_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let (data, bundle) = trained_model(dir.path());
    let out = dir.path().join("eval");
    // The tiny random CLIP of glimpse-eval's tests/clip.rs: figures without meaning, but the whole path.
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/clip/tiny");
    ok(&[
        "eval",
        "--model",
        bundle.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--out",
        out.to_str().unwrap(),
        "--clip",
        clip.to_str().unwrap(),
    ]);
    let metrics: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for key in ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"] {
        assert!(metrics[key].as_f64().is_some(), "{key} missing: {metrics}");
    }
    assert_eq!(metrics["images"], 6);
    for key in ["CLIPScore", "RefCLIPScore"] {
        let v = metrics[key].as_f64().unwrap();
        assert!((0.0..=2.5).contains(&v), "{key} = {v}");
        assert_eq!(metrics["clip"][key], metrics[key]);
    }
    assert_eq!(metrics["clip"]["images_scored"], 6);
    assert_eq!(
        metrics["clip"]["similarity"]["histogram_max"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        6
    );
    let grounding = &metrics["grounding"];
    for key in [
        "pointing_game",
        "pointing_game_uniform",
        "attention_mass_in_box",
        "attention_mass_uniform",
    ] {
        let v = grounding[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }

    // The written captions, scored independently, give the written metrics.
    let captions: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&fs::read_to_string(out.join("captions.json")).unwrap()).unwrap();
    let dataset = Dataset::load(&data, &LoadOptions::default()).unwrap();
    let test = dataset.split(Split::Test);
    assert_eq!(captions.len(), test.len());
    let tokens: Vec<Vec<String>> = test.iter().map(|s| tokenize(&captions[&s.name])).collect();
    let pairs: Vec<(&[String], &[Vec<String>])> = tokens
        .iter()
        .zip(test)
        .map(|(t, s)| (t.as_slice(), s.tokens.as_slice()))
        .collect();
    let scores = score_captions(&pairs);
    for (key, value) in &scores.corpus {
        assert!((metrics[key].as_f64().unwrap() - value).abs() < 1e-12, "{key}");
    }

    // The report stands alone: no external resources, every image embedded.
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<table")
            && html.contains("Attention grounding")
            && html.contains("data:image/jpeg;base64,")
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("<script"),
        "self-contained and static"
    );

    // compare: ours against a constant captioner, side by side.
    let constant: std::collections::BTreeMap<&String, &str> =
        captions.keys().map(|k| (k, "a red circle")).collect();
    let constant_file = dir.path().join("constant.json");
    fs::write(&constant_file, serde_json::to_string(&constant).unwrap()).unwrap();
    let compared = dir.path().join("compare");
    let printed = ok(&[
        "compare",
        "--data",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--out",
        compared.to_str().unwrap(),
        &format!("glimpse={}", out.join("captions.json").display()),
        &format!("constant={}", constant_file.display()),
        "--clip",
        clip.to_str().unwrap(),
    ]);
    let table: serde_json::Value = serde_json::from_str(&printed).unwrap();
    // Two sets of one name would be one column (the last): refused. `--limit 0` scores nothing.
    let twice = format!("x={}", constant_file.display());
    let data_arg = data.to_str().unwrap();
    fails_saying(
        &glimpse(&["compare", "--data", data_arg, "--split", "test", &twice, &twice]),
        "two caption sets are named `x`",
    );
    // Into eval's folder, compare replaced eval's metrics.json and report.html silently.
    let eval_metrics = fs::read(out.join("metrics.json")).unwrap();
    let out_arg = out.to_str().unwrap();
    fails_saying(
        &glimpse(&[
            "compare", "--data", data_arg, "--split", "test", "--out", out_arg, &twice,
        ]),
        "metrics.json: `glimpse eval`'s metrics.json, which `glimpse compare` would replace",
    );
    assert_eq!(fs::read(out.join("metrics.json")).unwrap(), eval_metrics);
    fails_saying(
        &glimpse(&[
            "eval",
            "--model",
            bundle.to_str().unwrap(),
            "--data",
            data_arg,
            "--limit",
            "0",
        ]),
        "--limit 0 leaves nothing to score",
    );
    // A FIFO where a report goes once made eval hang; a link there is replaced, not followed.
    let trap = dir.path().join("trap");
    fs::create_dir(&trap).unwrap();
    let outside = dir.path().join("outside.txt");
    fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, trap.join("metrics.json")).unwrap();
    common::mkfifo(&trap.join("captions.json"));
    let (bundle_arg, trap_arg) = (bundle.to_str().unwrap(), trap.to_str().unwrap());
    fails_saying(
        &glimpse(&[
            "eval", "--model", bundle_arg, "--data", data_arg, "--limit", "2", "--out", trap_arg,
        ]),
        "captions.json: exists and is not a regular file; not replaced",
    );
    assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
    // (CIDEr sums in hash order, so the last bit may differ between runs.)
    assert!((table["glimpse"]["CIDEr"].as_f64().unwrap() - metrics["CIDEr"].as_f64().unwrap()).abs() < 1e-12);
    assert!(table["constant"]["Bleu_1"].as_f64().is_some());
    // The same captions of the same photos score the same CLIPScore in eval and compare.
    for key in ["CLIPScore", "RefCLIPScore"] {
        assert!(
            (table["glimpse"][key].as_f64().unwrap() - metrics[key].as_f64().unwrap()).abs() < 1e-9,
            "{key}"
        );
    }
    assert!(table["constant"]["clip_similarity_mean_max"].as_f64().is_some());
    // The second set is scored against the split's vectors the first computed (they were
    // computed again for every set): the same scores as the set compared alone.
    let alone = ok(&[
        "compare",
        "--data",
        data.to_str().unwrap(),
        "--split",
        "test",
        &format!("constant={}", constant_file.display()),
        "--clip",
        clip.to_str().unwrap(),
    ]);
    let alone: serde_json::Value = serde_json::from_str(&alone).unwrap();
    for key in [
        "CLIPScore",
        "RefCLIPScore",
        "clip_similarity_mean_max",
        "clip_similarity_mean_mean",
    ] {
        let (kept, fresh) = (table["constant"][key].as_f64(), alone["constant"][key].as_f64());
        assert!(
            (kept.unwrap() - fresh.unwrap()).abs() < 1e-9,
            "{key}: {kept:?} {fresh:?}"
        );
    }
    let html = fs::read_to_string(compared.join("report.html")).unwrap();
    assert!(html.contains(">glimpse<") || html.contains("glimpse</td>"));
    assert!(html.contains("constant") && html.contains("RefCLIPScore"));

    // A set missing images is refused, naming them.
    let mut partial = constant.clone();
    let dropped = partial.keys().next().copied().unwrap().clone();
    partial.remove(&dropped);
    fs::write(&constant_file, serde_json::to_string(&partial).unwrap()).unwrap();
    let output = Command::new(GLIMPSE)
        .args([
            "compare",
            "--data",
            data.to_str().unwrap(),
            &format!("constant={}", constant_file.display()),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no caption for 1 of the 6 images") && stderr.contains(dropped.as_str()),
        "{stderr}"
    );

    // A caption file past its cap (scoring keeps every word with its n-grams: a 66 MB file of
    // distinct words once took 2.5 GB) is refused before it is read.
    fs::File::create(&constant_file)
        .unwrap()
        .set_len(caps::CAPTIONS + 1)
        .unwrap();
    let set = format!("constant={}", constant_file.display());
    fails_saying(
        &glimpse(&["compare", "--data", data.to_str().unwrap(), &set]),
        &format!(
            "caption file is over {}, the most Glimpse reads",
            caps::human(caps::CAPTIONS)
        ),
    );

    // A split none of whose photos can be read has nothing to score: an error, not zeros.
    for entry in fs::read_dir(data.join("Images")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_str().unwrap().ends_with("9.jpg") {
            let bytes = fs::read(&path).unwrap();
            fs::write(&path, &bytes[..100]).unwrap();
        }
    }
    fails_saying(
        &glimpse(&[
            "eval",
            "--model",
            bundle.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ]),
        "none of the 6 images of the test split could be read (first: ",
    );
}

// Neither command writes over what it reads, nor over the other's report (F6 of hostile round
// 43): each case is refused before anything is read, the file left as it was.

/// The default bundle (a real model, so that eval would succeed and write without the checks).
fn default_bundle() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models/default.safetensors")
}

/// `glimpse eval` of two test photos of `data` into `out`.
fn eval_into(model: &Path, data: &Path, out: &Path) -> std::process::Output {
    let [model, data, out] = [model, data, out].map(|p| p.to_str().unwrap().to_string());
    glimpse(&[
        "eval", "--model", &model, "--data", &data, "--limit", "2", "--out", &out,
    ])
}

#[test]
fn an_eval_that_cannot_write_its_report_leaves_the_earlier_outputs_whole() {
    // Hostile round 13: `eval --out` into an earlier eval's folder on a full disk wrote the new
    // `captions.json` and `metrics.json`, failed on `report.html`, and left the three mixed. A
    // file-size limit that the report (hundreds of KB: it embeds the photos) passes and the
    // others fit under stands for the full disk; the second eval scores other photos.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 30, 4);
    let out = dir.path().join("eval");
    let outputs = ["captions.json", "metrics.json", "report.html"];
    let written = || outputs.map(|name| fs::read(out.join(name)).unwrap());
    assert!(eval_into(&default_bundle(), &data, &out).status.success());
    let before = written();
    let bundle = default_bundle();
    let [model, data, out_arg] = [&bundle, &data, &out].map(|p| p.to_str().unwrap());
    let args = [
        "eval", "--model", model, "--data", data, "--limit", "3", "--out", out_arg,
    ];
    let blocks_of_32_kib = 64;
    let failed = glimpse_within_ulimit(300, ("-f", blocks_of_32_kib), &args);
    assert!(!failed.status.success(), "the report fits under the limit");
    assert!(
        text(&failed.stderr).contains("report.html: File too large"),
        "{}",
        text(&failed.stderr)
    );
    assert!(written() == before, "the earlier outputs are kept, all three");
    assert_eq!(fs::read_dir(&out).unwrap().count(), 3, "no temporary file left");
    assert!(glimpse(&args).status.success());
    assert!(written()[0] != before[0], "the captions of three photos, not two");
}

/// `glimpse compare` of the caption set `set` (NAME=FILE) into `out`.
fn compare_into(data: &Path, out: &Path, set: &str) -> std::process::Output {
    let [data, out] = [data, out].map(|p| p.to_str().unwrap().to_string());
    glimpse(&["compare", "--data", &data, "--out", &out, set])
}

/// A synth set in `dir/data`, and a caption set covering its test split written to `file`
/// (returned as its text).
fn data_and_captions(dir: &Path, file: &Path) -> (std::path::PathBuf, String) {
    let data = dir.join("data");
    synth(&data, 30, 4);
    let dataset = Dataset::load(&data, &LoadOptions::default()).unwrap();
    let captions: std::collections::BTreeMap<&str, &str> = dataset
        .split(Split::Test)
        .iter()
        .map(|s| (s.name.as_str(), "a red circle"))
        .collect();
    let captions = serde_json::to_string(&captions).unwrap();
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(file, &captions).unwrap();
    (data, captions)
}

/// Verifier of hostile round 10: `captions.json` kept a name's U+202E, C1 controls and U+200F
/// raw (which a terminal obeys on `cat`), where `metrics.json` escaped them. Both escape them
/// now, and the JSON still reads back as the name.
#[test]
fn eval_writes_invisible_characters_of_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_captions(dir.path(), &dir.path().join("x/captions.json"));
    let dataset = Dataset::load(&data, &LoadOptions::default()).unwrap();
    let name = dataset.split(Split::Test)[0].name.clone();
    let evil = format!("a\u{202e}c1\u{9b}31m\u{200f}{name}"); // sorted first, so captioned
    fs::rename(data.join("Images").join(&name), data.join("Images").join(&evil)).unwrap();
    for file in ["captions.txt", "Flickr_8k.testImages.txt", "synth.json"] {
        let text = fs::read_to_string(data.join(file)).unwrap();
        fs::write(data.join(file), text.replace(&name, &evil)).unwrap();
    }
    let out = dir.path().join("e");
    let run = eval_into(&default_bundle(), &data, &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let captions = fs::read_to_string(out.join("captions.json")).unwrap();
    assert!(
        captions.contains(&format!("\"a\\u202ec1\\u009b31m\\u200f{name}\": ")),
        "{captions}"
    );
    assert!(
        !captions.contains(['\u{202e}', '\u{9b}', '\u{200f}']),
        "{captions}"
    );
    let read: std::collections::BTreeMap<String, String> = serde_json::from_str(&captions).unwrap();
    assert!(read.contains_key(&evil));
}

/// `eval --model E/metrics.json --out E` replaced its model with its metrics; here the model is
/// reached through a link. Run again into its own folder, eval replaces its outputs.
#[test]
fn eval_refuses_to_write_over_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (data, _) = data_and_captions(dir.path(), &path("x/captions.json"));
    fs::create_dir(path("e")).unwrap();
    fs::copy(default_bundle(), path("e/metrics.json")).unwrap();
    std::os::unix::fs::symlink(path("e/metrics.json"), path("model.safetensors")).unwrap();
    fails_saying(
        &eval_into(&path("model.safetensors"), &data, &path("e")),
        &format!(
            "{} is the --model bundle {}: eval would write its metrics.json over what it reads",
            path("e/metrics.json").display(),
            path("model.safetensors").display()
        ),
    );
    assert_eq!(
        fs::read(path("e/metrics.json")).unwrap(),
        fs::read(default_bundle()).unwrap()
    );
    for _ in 0..2 {
        let run = eval_into(&default_bundle(), &data, &path("again"));
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
}

/// `compare --out C mine=C/report.html` replaced the caption set with the report.
#[test]
fn compare_refuses_to_write_over_a_caption_set() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("c/report.html");
    let (data, captions) = data_and_captions(dir.path(), &report);
    fails_saying(
        &compare_into(
            &data,
            &dir.path().join("c"),
            &format!("mine={}", report.display()),
        ),
        &format!(
            "{0} is the caption set `mine` {0}: compare would write its report.html over what it reads",
            report.display()
        ),
    );
    assert_eq!(fs::read_to_string(&report).unwrap(), captions);
}

/// The reverse of compare refusing eval's folder: `eval --out` into a compare folder replaced
/// compare's `metrics.json` and `report.html` without a word; and a user's own `captions.json`
/// (another captioner's results) too (hostile round 22). Its own outputs it replaces.
#[test]
fn eval_replaces_only_its_own_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("x/captions.json");
    let (data, _) = data_and_captions(dir.path(), &set);
    let compared = dir.path().join("k");
    let run = compare_into(&data, &compared, &format!("mine={}", set.display()));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let outputs = || ["metrics.json", "report.html"].map(|name| fs::read(compared.join(name)).unwrap());
    let kept = outputs();
    fails_saying(
        &eval_into(&default_bundle(), &data, &compared),
        "metrics.json: `glimpse compare`'s metrics.json, which `glimpse eval` would replace",
    );
    assert_eq!(outputs(), kept);
    assert!(!compared.join("captions.json").exists());

    let mine = dir.path().join("mine");
    fs::create_dir(&mine).unwrap();
    let theirs = "{\"synth_000009.jpg\": \"vit-gpt2 says: a red square\"}";
    fs::write(mine.join("captions.json"), theirs).unwrap();
    fails_saying(
        &eval_into(&default_bundle(), &data, &mine),
        "captions.json: a captions.json that `glimpse eval` did not write",
    );
    assert_eq!(fs::read_to_string(mine.join("captions.json")).unwrap(), theirs);
    let evaluated = dir.path().join("e");
    for _ in 0..2 {
        let run = eval_into(&default_bundle(), &data, &evaluated);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
}

/// Problems within the 5% allowance change the scores (a reference left out, a photo
/// missing): `compare` and `eval` dropped them without a word, where `train` notes them.
#[test]
fn compare_notes_the_datas_problems_as_train_does() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("x/captions.json");
    let (data, _) = data_and_captions(dir.path(), &set);
    let mut rows = fs::read_to_string(data.join("captions.txt")).unwrap();
    rows.push_str("a row without a comma\n");
    fs::write(data.join("captions.txt"), rows).unwrap();
    let run = compare_into(&data, &dir.path().join("c"), &format!("mine={}", set.display()));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("data: 1 problems, 1 unreadable rows (skipped):")
            && stderr.contains("captions.txt:")
            && stderr.contains("no comma"),
        "{stderr}"
    );
}
