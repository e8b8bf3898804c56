//! The embedding similarity's text encoder against sentence-transformers itself: the real
//! all-MiniLM-L6-v2 weights give the same unit-length embeddings (every component within 1e-4)
//! and the same cosine similarities (within 1e-5) as `SentenceTransformer.encode` in Python
//! (tests/fixtures/make_embedding_fixtures.py), including empty, punctuated, non-ASCII and long
//! inputs.

use std::path::{Path, PathBuf};

use glimpse_eval::embed::minilm::TextEmbedder;
use glimpse_eval::similarity::{TextEncoder, cosine};

fn minilm() -> PathBuf {
    let dir = std::env::var_os("GLIMPSE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.assets"))
        .join("all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "all-MiniLM-L6-v2 missing in {}: run tests/setup-assets.sh (README's test command does)",
        dir.display()
    );
    dir
}

#[test]
fn minilm_embeddings_equal_sentence_transformers() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/embeddings/minilm.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let sentences: Vec<String> = fixture["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let expected: Vec<Vec<f64>> = fixture["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    let embedder = TextEmbedder::load(&minilm()).unwrap();
    let ours = embedder.embed(&sentences).unwrap();
    assert_eq!(ours.len(), sentences.len());
    for (i, (a, b)) in ours.iter().zip(&expected).enumerate() {
        assert_eq!(a.len(), 384);
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - y).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-4,
            "sentence {i} {:?}: largest difference {worst}",
            sentences[i]
        );
    }
    let similarities = fixture["similarities"].as_array().unwrap();
    for i in 0..ours.len() {
        for j in 0..ours.len() {
            let theirs = similarities[i][j].as_f64().unwrap();
            let mine = cosine(&ours[i], &ours[j]);
            assert!(
                (mine - theirs).abs() < 1e-5,
                "similarity {i},{j}: {mine} vs {theirs}"
            );
        }
    }
    // One at a time (no padding) gives the same vectors as the padded batch.
    let single = embedder.embed(&sentences[..1]).unwrap();
    assert!(single[0].iter().zip(&ours[0]).all(|(a, b)| (a - b).abs() < 1e-5));
}

#[test]
fn a_folder_without_the_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = TextEmbedder::load(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("config.json") && err.contains("sentence-transformers"),
        "{err}"
    );
    // There, but a FIFO: named as one, not as missing (hostile round 13).
    glimpse_files::testing::mkfifo(&dir.path().join("config.json"));
    let err = format!("{:#}", TextEmbedder::load(dir.path()).err().unwrap());
    assert!(
        err.contains("config.json") && err.contains("is a named pipe (FIFO), not a regular file"),
        "{err}"
    );
}

/// The real folder with one field of its `config.json` changed (the rest linked, not copied).
fn minilm_with(field: &str, value: serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tokenizer.json", "model.safetensors"] {
        std::os::unix::fs::symlink(minilm().join(name), dir.path().join(name)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(minilm().join("config.json")).unwrap()).unwrap();
    config[field] = value;
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    dir
}

/// A head count of 0 divided by zero inside candle (a panic), and a negative LayerNorm epsilon
/// made every embedding NaN, which the summary then counted as a similarity of -1.
#[test]
fn configs_that_break_the_arithmetic_are_refused_by_field() {
    for (field, value, expected) in [
        (
            "num_attention_heads",
            serde_json::json!(0),
            "not a multiple of num_attention_heads 0",
        ),
        (
            "num_attention_heads",
            serde_json::json!(5),
            "hidden_size 384 is not a multiple",
        ),
        ("layer_norm_eps", serde_json::json!(-1.0), "layer_norm_eps -1"),
        ("layer_norm_eps", serde_json::json!(0.0), "layer_norm_eps 0"),
        // Tables smaller than the tokenizer's ids, the positions a text is cut to, or its token
        // type: "index-select invalid index", naming no file.
        (
            "vocab_size",
            serde_json::json!(100),
            "vocab_size 100 is below the 30522 token ids",
        ),
        (
            "max_position_embeddings",
            serde_json::json!(4),
            "max_position_embeddings 4 is below the 256 tokens",
        ),
        (
            "type_vocab_size",
            serde_json::json!(0),
            "type_vocab_size 0 is below the 1 token types",
        ),
    ] {
        let dir = minilm_with(field, value);
        let err = format!("{:#}", TextEmbedder::load(dir.path()).err().unwrap());
        assert!(
            err.contains("config.json") && err.contains(expected),
            "{field}: {err}"
        );
    }
}

/// An edit of a tokenizer file.
type Edit = fn(&mut serde_json::Value);

/// The real folder with its `tokenizer.json` edited (the rest linked).
fn minilm_with_tokenizer(edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "model.safetensors"] {
        std::os::unix::fs::symlink(minilm().join(name), dir.path().join(name)).unwrap();
    }
    let mut tokenizer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(minilm().join("tokenizer.json")).unwrap()).unwrap();
    edit(&mut tokenizer);
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer.to_string()).unwrap();
    dir
}

/// A stranger's tokenizer.json is a program that tokenizers runs as given: parts that panicked
/// (an empty `Precompiled` charsmap), ran out of memory or ran for hours are refused by name
/// before it runs, and a post-processor's token types outside the model's table (which failed
/// inside candle, naming no file) are refused at load.
#[test]
fn tokenizer_files_that_would_crash_hang_or_misindex_are_refused_by_name() {
    use serde_json::json;
    let cases: [(Edit, &str); 8] = [
        (
            |t| t["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": "AAAAAA=="}),
            "tokenizer.json: normalizer type `Precompiled` is not one Glimpse runs",
        ),
        (
            |t| {
                let split = json!({"type": "Split", "pattern": {"Regex": "(?:(\\w|\\s)*)*\\1!"},
                    "behavior": "Isolated", "invert": false});
                t["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [split]});
            },
            "tokenizer.json: the pre_tokenizer Split pattern cannot run in linear time",
        ),
        (
            |t| t["model"]["max_input_chars_per_word"] = json!(1_000_000_000u64),
            "tokenizer.json: the WordPiece model's max_input_chars_per_word must be at most 100",
        ),
        (
            |t| t["post_processor"]["single"][1]["Sequence"]["type_id"] = json!(7),
            "type_vocab_size 2 is below the 8 token types of",
        ),
        // Hostile round 12: a Replace by `^` before BERT's normalizer panicked in tokenizers;
        // special tokens filling every position, or a Split keeping nothing, scored every
        // caption 1.0.
        (
            |t| {
                let replace = json!({"type": "Replace", "pattern": {"Regex": "^"}, "content": "x"});
                let bert = t["normalizer"].clone();
                t["normalizer"] = json!({"type": "Sequence", "normalizers": [replace, bert]});
            },
            "tokenizer.json: the normalizer Replace pattern matches the empty string",
        ),
        (
            |t| {
                let cls = json!({"SpecialToken": {"id": "[CLS]", "type_id": 0}});
                let mut single = vec![cls; 256];
                single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
                t["post_processor"]["single"] = json!(single);
            },
            "tokenizer.json: the post-processor adds 256 special tokens to a text of at most 256; Glimpse takes at most 8",
        ),
        (
            |t| {
                let split = json!({"type": "Split", "pattern": {"Regex": "[^\\s\\S]"},
                    "behavior": "Removed", "invert": true});
                t["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [split]});
            },
            "tokenizer.json: it gives \"a dog\" and \"red car\" the same tokens",
        ),
        (
            |t| {
                let replace = json!({"type": "Replace", "pattern": {"Regex": "[^\\sw]+"}, "content": "x"});
                let bert = t["normalizer"].clone();
                t["normalizer"] = json!({"type": "Sequence", "normalizers": [replace, bert]});
            },
            "tokenizer.json: it gives \"a dog\" and \"red car\" the same tokens",
        ),
    ];
    for (edit, expected) in cases {
        let dir = minilm_with_tokenizer(edit);
        let err = format!("{:#}", TextEmbedder::load(dir.path()).err().unwrap());
        assert!(err.contains(expected), "`{expected}` in {err}");
    }
}

/// The probe texts every encoder must embed apart lie far apart in the real model's space, far
/// from the bound; a last LayerNorm of zeros (every token its bias, so every text one vector) is
/// refused at load, naming two probes.
#[test]
fn the_real_encoder_keeps_the_probes_apart_and_a_collapsed_one_is_refused() {
    use glimpse_eval::similarity::{MAX_PROBE_COSINE, PROBE_TEXTS};
    let embedder = TextEmbedder::load(&minilm()).unwrap();
    let texts: Vec<String> = PROBE_TEXTS.iter().map(|t| t.to_string()).collect();
    let vectors = embedder.embed(&texts).unwrap();
    let mut closest = 0f64;
    for (i, a) in vectors.iter().enumerate() {
        for b in &vectors[i + 1..] {
            closest = closest.max(cosine(a, b).abs());
        }
    }
    println!("all-MiniLM-L6-v2: the closest probes at |cosine| {closest:.4}");
    // Far from the bound: half of it.
    assert!(closest < MAX_PROBE_COSINE / 2.0, "{closest}");

    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "tokenizer.json"] {
        std::os::unix::fs::symlink(minilm().join(name), dir.path().join(name)).unwrap();
    }
    let device = candle_core::Device::Cpu;
    let mut tensors = candle_core::safetensors::load(minilm().join("model.safetensors"), &device).unwrap();
    let last = "encoder.layer.5.output.LayerNorm.weight";
    let zeros = tensors[last].zeros_like().unwrap();
    tensors.insert(last.to_string(), zeros);
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).unwrap();
    let message = format!("{:#}", TextEmbedder::load(dir.path()).err().unwrap());
    assert!(
        message.contains("it embeds \"a dog\" and \"red car\" in the same direction"),
        "{message}"
    );
}
