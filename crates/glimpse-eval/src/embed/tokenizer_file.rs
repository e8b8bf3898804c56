//! What a stranger's `tokenizer.json` may ask `tokenizers` to run, checked before it runs.
//!
//! The file is a small program (normalizers, pre-tokenizers, a model, a post-processor) that
//! `tokenizers` runs as given. A hostile round found: an empty `Precompiled` charsmap panicked;
//! 40 chained `Replace`s doubled a text 40 times over (out of memory); a backtracking `Split`
//! took seconds a text and, past fancy-regex's backtrack limit, split nothing, so every text
//! tokenized alike and scored 1.0; 240,000 added tokens took 3 GB to load; and a WordPiece word
//! limit of 10^9 made one long word take hours. Round 12: a BPE subword prefix longer than a
//! merge's second token, and a `Replace` whose pattern matches the empty string, panicked inside
//! `tokenizers`; a 40 MB subword prefix took 0.1 s a word; a `Split` pattern of `""` removed
//! every character; merge dropout made every score change from run to run; 3.3 million
//! vocabulary entries took 1.8 GB before a size check. So only the parts the supported
//! encoders' files are made of (sentence-transformers' BERT parts; CLIP's NFC, `Replace`,
//! `Lowercase`, `Split` and byte-level BPE) are accepted, each within bounds.

use serde_json::Value;

const NORMALIZERS: &[&str] = &[
    "BertNormalizer",
    "NFC",
    "NFD",
    "NFKC",
    "NFKD",
    "Lowercase",
    "Strip",
    "StripAccents",
    "Replace",
];
const PRE_TOKENIZERS: &[&str] = &[
    "BertPreTokenizer",
    "ByteLevel",
    "Whitespace",
    "WhitespaceSplit",
    "Punctuation",
    "Digits",
    "Metaspace",
    "Split",
];
const POST_PROCESSORS: &[&str] = &[
    "BertProcessing",
    "RobertaProcessing",
    "TemplateProcessing",
    "ByteLevel",
];
const MODELS: &[&str] = &["WordPiece", "BPE"];

/// Most parts in one stage, its sequences flattened (CLIP's files have 3 normalizers).
const MAX_PARTS: usize = 8;
/// Most `Replace` normalizers: each lengthens a text by up to its `content` a match, and
/// chained they multiply (CLIP's files have one, which turns whitespace into one space).
const MAX_REPLACES: usize = 1;
const MAX_REPLACE_CONTENT_BYTES: usize = 8;
const MAX_PATTERN_BYTES: usize = 4096;
/// Compiled size of a pattern in the linear-time engine.
const MAX_PATTERN_PROGRAM_BYTES: usize = 1 << 22;
/// Added tokens (BERT's files have 5, CLIP's 2) and the longest one.
const MAX_ADDED_TOKENS: usize = 1024;
const MAX_ADDED_TOKEN_BYTES: usize = 256;
/// WordPiece's longest word: BERT's own 100; its greedy match is quadratic in a word's length.
const MAX_WORDPIECE_CHARS: u64 = 100;
/// The longest subword prefix or end-of-word suffix (BERT's `##`, CLIP's `</w>`): each is
/// copied into every piece looked up.
const MAX_AFFIX_BYTES: usize = 8;
/// Most vocabulary entries and merges (CLIP's files have 49,408 and 48,894, BERT's 30,522
/// entries; multilingual ones a quarter of a million).
const MAX_VOCABULARY: usize = 1 << 19;

/// Checks a parsed `tokenizer.json`; the error says which part and why (without the path,
/// which the caller adds).
pub fn check(file: &Value) -> Result<(), String> {
    let mut replaces = 0;
    for part in stage(&file["normalizer"], "normalizers")? {
        let kind = part_type(part, "normalizer", NORMALIZERS)?;
        if kind == "Replace" {
            replaces += 1;
            check_replace(part, replaces)?;
        }
    }
    for part in stage(&file["pre_tokenizer"], "pretokenizers")? {
        if part_type(part, "pre_tokenizer", PRE_TOKENIZERS)? == "Split" {
            check_pattern(&part["pattern"], "pre_tokenizer Split")?;
        }
    }
    for part in stage(&file["post_processor"], "processors")? {
        part_type(part, "post_processor", POST_PROCESSORS)?;
    }
    check_model(&file["model"])?;
    check_added_tokens(&file["added_tokens"])
}

/// The parts of one stage (`null`: none), its `Sequence`s flattened.
fn stage<'a>(value: &'a Value, list: &str) -> Result<Vec<&'a Value>, String> {
    let mut parts = Vec::new();
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Null => {}
            _ if value["type"] == "Sequence" => match value[list].as_array() {
                Some(items) => pending.extend(items.iter().rev()),
                None => return Err(format!("a Sequence without its `{list}` list")),
            },
            _ => parts.push(value),
        }
        if parts.len() + pending.len() > MAX_PARTS {
            return Err(format!("more than {MAX_PARTS} {list} in a row"));
        }
    }
    Ok(parts)
}

/// A part's `type`, which must be one of `allowed`.
fn part_type<'a>(part: &'a Value, stage: &str, allowed: &[&str]) -> Result<&'a str, String> {
    match part["type"].as_str() {
        Some(kind) if allowed.contains(&kind) => Ok(kind),
        Some(kind) => Err(format!(
            "{stage} type `{}` is not one Glimpse runs (it runs {})",
            kind.escape_debug(),
            allowed.join(", ")
        )),
        None => Err(format!("a {stage} without a `type`")),
    }
}

fn check_replace(part: &Value, count: usize) -> Result<(), String> {
    if count > MAX_REPLACES {
        return Err(format!(
            "more than {MAX_REPLACES} Replace normalizer (chained, they multiply a text's length)"
        ));
    }
    let content = part["content"].as_str().unwrap_or_default();
    if content.len() > MAX_REPLACE_CONTENT_BYTES {
        return Err(format!(
            "a Replace normalizer's content is {} bytes, over {MAX_REPLACE_CONTENT_BYTES}",
            content.len()
        ));
    }
    check_pattern(&part["pattern"], "normalizer Replace")
}

/// A `{"String": …}` or `{"Regex": …}` pattern; a regex must compile in the linear-time engine
/// (no backreferences or look-around, which backtrack).
fn check_pattern(pattern: &Value, whose: &str) -> Result<(), String> {
    let (text, regex) = match (pattern["String"].as_str(), pattern["Regex"].as_str()) {
        (Some(text), None) => (text, false),
        (None, Some(text)) => (text, true),
        _ => return Err(format!("the {whose} pattern is not one String or Regex")),
    };
    if text.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "the {whose} pattern is {} bytes, over {MAX_PATTERN_BYTES}",
            text.len()
        ));
    }
    if !regex {
        return match text.is_empty() {
            true => Err(format!("the {whose} pattern is empty")),
            false => Ok(()),
        };
    }
    let compiled = regex::RegexBuilder::new(text)
        .size_limit(MAX_PATTERN_PROGRAM_BYTES)
        .build()
        .map_err(|e| {
            let reason = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .escape_debug()
                .to_string();
            format!("the {whose} pattern cannot run in linear time ({reason})")
        })?;
    refuse_empty_matches(&compiled, whose)
}

/// Texts where a pattern that can match nothing would: at either end, beside a space, a word, a
/// digit and punctuation.
const EMPTY_MATCH_PROBES: &[&str] = &["", "a", " ", "a b", "x1,y", "é.", "'s"];

/// A pattern that matches the empty string: a `Replace` by one (`^`, `x*`) left the text's
/// alignments inconsistent and the next normalizer panicked; a `Split` by one splits nothing.
fn refuse_empty_matches(pattern: &regex::Regex, whose: &str) -> Result<(), String> {
    let empty = EMPTY_MATCH_PROBES
        .iter()
        .any(|probe| pattern.find_iter(probe).any(|found| found.is_empty()));
    match empty {
        true => Err(format!("the {whose} pattern matches the empty string")),
        false => Ok(()),
    }
}

fn check_model(model: &Value) -> Result<(), String> {
    let kind = part_type(model, "model", MODELS)?;
    let entries = model["vocab"].as_object().map_or(0, |vocab| vocab.len());
    let merges = model["merges"].as_array().map_or(&[][..], Vec::as_slice);
    if entries.max(merges.len()) > MAX_VOCABULARY {
        return Err(format!(
            "the {kind} model holds {entries} vocabulary entries and {} merges, over {MAX_VOCABULARY}",
            merges.len()
        ));
    }
    if kind == "WordPiece" {
        let chars = model["max_input_chars_per_word"].as_u64();
        if chars.is_none_or(|chars| chars > MAX_WORDPIECE_CHARS) {
            return Err(format!(
                "the WordPiece model's max_input_chars_per_word must be at most {MAX_WORDPIECE_CHARS} (BERT's), got {}",
                model["max_input_chars_per_word"]
            ));
        }
        return check_affix(model, "WordPiece", "continuing_subword_prefix").map(|_| ());
    }
    check_bpe(model, merges)
}

/// A BPE model's affixes, its merges against its prefix, and no dropout.
fn check_bpe(model: &Value, merges: &[Value]) -> Result<(), String> {
    check_affix(model, "BPE", "end_of_word_suffix")?;
    let prefix = check_affix(model, "BPE", "continuing_subword_prefix")?;
    if !(model["dropout"].is_null() || model["dropout"].as_f64() == Some(0.0)) {
        return Err(format!(
            "the BPE model's dropout is {}: merges dropped at random would change every score from run to run",
            model["dropout"]
        ));
    }
    // tokenizers cuts the prefix off each merge's second token: a shorter one panicked.
    if !prefix.is_empty() {
        for merge in merges {
            let second = match merge {
                Value::String(pair) => pair.split_once(' ').map(|(_, second)| second),
                Value::Array(pair) => pair.get(1).and_then(Value::as_str),
                _ => None,
            };
            if !second.is_some_and(|second| second.starts_with(prefix)) {
                return Err(format!(
                    "the BPE merge {merge} does not continue with the model's continuing_subword_prefix `{}`",
                    prefix.escape_debug()
                ));
            }
        }
    }
    Ok(())
}

/// The model's `field` (a prefix or suffix, absent or `null` for none), at most
/// [`MAX_AFFIX_BYTES`].
fn check_affix<'a>(model: &'a Value, kind: &str, field: &str) -> Result<&'a str, String> {
    match &model[field] {
        Value::Null => Ok(""),
        Value::String(affix) if affix.len() <= MAX_AFFIX_BYTES => Ok(affix),
        Value::String(affix) => Err(format!(
            "the {kind} model's {field} is {} bytes, over {MAX_AFFIX_BYTES} (BERT's prefix is `##`, CLIP's suffix `</w>`)",
            affix.len()
        )),
        other => Err(format!("the {kind} model's {field} is {other}, not text")),
    }
}

fn check_added_tokens(tokens: &Value) -> Result<(), String> {
    let tokens = match tokens {
        Value::Null => return Ok(()),
        _ => tokens.as_array().ok_or("`added_tokens` is not a list")?,
    };
    if tokens.len() > MAX_ADDED_TOKENS {
        return Err(format!("{} added tokens, over {MAX_ADDED_TOKENS}", tokens.len()));
    }
    let longest = tokens
        .iter()
        .filter_map(|t| t["content"].as_str())
        .map(str::len)
        .max();
    match longest {
        Some(bytes) if bytes > MAX_ADDED_TOKEN_BYTES => Err(format!(
            "an added token of {bytes} bytes, over {MAX_ADDED_TOKEN_BYTES}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The tiny CLIP fixture's parts, as transformers writes them.
    fn clip() -> Value {
        json!({
            "added_tokens": [{"content": "<|startoftext|>"}, {"content": "<|endoftext|>"}],
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}, {"type": "Lowercase"}]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
                 "behavior": "Removed", "invert": true},
                {"type": "ByteLevel", "add_prefix_space": false}]},
            "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 740], "cls": ["<|startoftext|>", 739]},
            "model": {"type": "BPE"}
        })
    }

    /// An edit of a tokenizer file.
    type Edit = fn(&mut Value);

    fn refused(edit: impl Fn(&mut Value)) -> String {
        let mut file = clip();
        edit(&mut file);
        check(&file).unwrap_err()
    }

    #[test]
    fn the_supported_files_parts_pass_and_hostile_ones_are_named() {
        check(&clip()).unwrap();
        // A prefix the merges continue with, CLIP's suffix and no dropout are fine.
        let mut prefixed = clip();
        prefixed["model"] = json!({"type": "BPE", "continuing_subword_prefix": "##",
            "end_of_word_suffix": "</w>", "dropout": null, "merges": ["a ##b", ["c", "##d"]]});
        check(&prefixed).unwrap();
        let cases: [(Edit, &str); 16] = [
            (
                |f| f["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": "AAAAAA=="}),
                "normalizer type `Precompiled` is not one Glimpse runs",
            ),
            (
                |f| {
                    let replace = json!({"type": "Replace", "pattern": {"String": "a"}, "content": "aa"});
                    f["normalizer"] = json!({"type": "Sequence", "normalizers": [replace.clone(), replace]})
                },
                "more than 1 Replace normalizer",
            ),
            (
                |f| f["normalizer"]["normalizers"][1]["content"] = json!("a".repeat(9)),
                "content is 9 bytes, over 8",
            ),
            (
                |f| {
                    f["pre_tokenizer"]["pretokenizers"][0]["pattern"] =
                        json!({"Regex": "(?:(\\w|\\s)*)*\\1!"})
                },
                "the pre_tokenizer Split pattern cannot run in linear time",
            ),
            (
                |f| {
                    f["pre_tokenizer"] =
                        json!({"type": "Sequence", "pretokenizers": vec![json!({"type": "Digits"}); 9]})
                },
                "more than 8 pretokenizers in a row",
            ),
            (
                |f| f["model"] = json!({"type": "WordPiece", "max_input_chars_per_word": 1_000_000_000}),
                "max_input_chars_per_word must be at most 100",
            ),
            (
                |f| f["added_tokens"] = json!(vec![json!({"content": "x"}); 1025]),
                "1025 added tokens, over 1024",
            ),
            (
                |f| f["model"] = json!({"type": "Unigram"}),
                "model type `Unigram` is not one Glimpse runs",
            ),
            // Hostile round 12: these panicked inside tokenizers, ...
            (
                |f| {
                    f["model"] =
                        json!({"type": "BPE", "continuing_subword_prefix": "##", "merges": [["a", "b"]]})
                },
                "the BPE merge [\"a\",\"b\"] does not continue with the model's continuing_subword_prefix `##`",
            ),
            (
                |f| f["normalizer"]["normalizers"][1]["pattern"] = json!({"Regex": "^"}),
                "the normalizer Replace pattern matches the empty string",
            ),
            (
                |f| f["normalizer"]["normalizers"][1]["pattern"] = json!({"String": ""}),
                "the normalizer Replace pattern is empty",
            ),
            // ... made every text tokenize alike, ...
            (
                |f| f["pre_tokenizer"]["pretokenizers"][0]["pattern"] = json!({"Regex": "x*"}),
                "the pre_tokenizer Split pattern matches the empty string",
            ),
            // ... or made scores slow or change from run to run.
            (
                |f| {
                    f["model"] = json!({"type": "WordPiece", "max_input_chars_per_word": 100,
                    "continuing_subword_prefix": "#".repeat(9)})
                },
                "the WordPiece model's continuing_subword_prefix is 9 bytes, over 8",
            ),
            (
                |f| f["model"]["end_of_word_suffix"] = json!(7),
                "the BPE model's end_of_word_suffix is 7, not text",
            ),
            (
                |f| f["model"]["dropout"] = json!(0.5),
                "the BPE model's dropout is 0.5",
            ),
            (
                |f| {
                    let vocab: serde_json::Map<String, Value> =
                        (0..=MAX_VOCABULARY).map(|i| (i.to_string(), json!(i))).collect();
                    f["model"]["vocab"] = Value::Object(vocab);
                },
                "the BPE model holds 524289 vocabulary entries and 0 merges, over 524288",
            ),
        ];
        for (edit, expected) in cases {
            let error = refused(edit);
            assert!(error.contains(expected), "`{expected}` in {error}");
        }
    }
}
