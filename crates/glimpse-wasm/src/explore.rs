//! The exploring half of the JavaScript API: reading `prefix`/`alternatives`/`allBeams` and
//! caption text, and writing scored captions and alternatives as JavaScript values.

use glimpse_model::generate::explore::check_length;
use glimpse_model::generate::{MAX_TEXT_BYTES, caption_words};
use glimpse_model::{Alternative, ScoredCaption, ScoredWord, StageTimes};
use js_sys::{Array, Float32Array, JsString, Object};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsError, JsValue};

use crate::convert::{get, set, set_stages, whole};
use crate::to_js;

// TypeScript for `score()` and the alternatives (see convert.rs for the rest).
#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &str = r#"
/** `score()`'s options. Null or missing means the default. */
export interface ScoreOptions {
  /** How many of the most probable words to record at every position, at most 50 (default 0). */
  alternatives?: number | null;
}

/** One of the words the model considered at a position. */
export interface Alternative {
  word: string;
  /** Its vocabulary id. */
  id: number;
  prob: number;
  /** Natural log of `prob`. */
  logProb: number;
}

/** One word of a scored caption. */
export interface ScoredWord {
  /** The vocabulary's word (`<UNK>` for a word it lacks). */
  word: string;
  /** The word as given; null for the end token (`end`). */
  typed: string | null;
  id: number;
  /** Its probability given the photo and the words before it. */
  prob: number;
  logProb: number;
  /** 1 when no word was more probable here. */
  rank: number;
  /** Where the model looked when predicting it: `grid[0] * grid[1]` weights, row-major. */
  attention: Float32Array;
  /** Entropy of `attention` in nats. */
  entropy: number;
  /** The most probable words here, most probable first (empty unless asked for). */
  alternatives: Alternative[];
}

/** What `score()` resolves with. */
export interface ScoreResult {
  words: ScoredWord[];
  /** The end token after the last word: how ready the model is to stop there. */
  end: ScoredWord;
  /** Every word's log-probability summed, the end token's included. */
  logProb: number;
  /** `[rows, columns]` of the attention maps. */
  grid: [number, number];
  /** Words the vocabulary lacks, read as `<UNK>`. */
  notes: string[];
  backend: Backend;
  /** The whole call, in milliseconds. */
  ms: number;
  stages: StageTimes;
}
"#;

/// What `caption()` is asked besides the words: `{ prefix, alternatives, allBeams }`.
pub struct ExploreRequest {
    /// The prefix's words, not yet looked up in the vocabulary.
    pub prefix: Vec<String>,
    pub alternatives: usize,
    pub all_beams: bool,
}

/// `{ prefix = [], alternatives = 0, allBeams = false }`.
pub fn read_explore_request(options: &JsValue) -> Result<ExploreRequest, JsError> {
    let prefix = get(options, "prefix");
    let all_beams = get(options, "allBeams");
    Ok(ExploreRequest {
        prefix: if prefix.is_undefined() || prefix.is_null() {
            Vec::new()
        } else {
            read_words(&prefix, "prefix")?
        },
        alternatives: whole(options, "alternatives", 0)?,
        all_beams: match all_beams.as_bool() {
            Some(all) => all,
            None if all_beams.is_undefined() || all_beams.is_null() => false,
            None => return Err(JsError::new("option `allBeams` must be true or false")),
        },
    })
}

/// Words from a string (split as training captions are) or an array of vocabulary words (kept
/// as they are, so `"<UNK>"` picked from the alternatives stays one word). Their size is checked
/// before they are copied into the module, the words of an array together as a string is: a
/// string of 100 million characters was split whole (2.4 GB of memory the module kept, or a
/// trap) only to be refused by its count of words, and one word of 500 million still trapped.
pub fn read_words(value: &JsValue, what: &str) -> Result<Vec<String>, JsError> {
    if let Some(text) = value.dyn_ref::<JsString>() {
        check_characters(text.length(), what)?;
        return caption_words(&String::from(text)).map_err(to_js);
    }
    if Array::is_array(value) {
        let words = Array::from(value);
        check_length(words.length() as usize).map_err(to_js)?;
        let mut characters = 0u32;
        return words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                let text = word
                    .dyn_ref::<JsString>()
                    .ok_or_else(|| JsError::new(&format!("{what}[{i}] must be a string")))?;
                characters = characters.saturating_add(text.length());
                check_characters(characters, what)?;
                Ok(String::from(text))
            })
            .collect();
    }
    Err(JsError::new(&format!(
        "{what} must be a string or an array of words"
    )))
}

/// A text of at most [`MAX_TEXT_BYTES`] UTF-16 units, each at least one byte of the UTF-8 it
/// becomes.
fn check_characters(units: u32, what: &str) -> Result<(), JsError> {
    if units as usize > MAX_TEXT_BYTES {
        return Err(JsError::new(&format!(
            "{what} is {units} characters long, over the limit of {MAX_TEXT_BYTES}"
        )));
    }
    Ok(())
}

/// `[{ word, id, prob, logProb }]`, most probable first.
pub fn alternatives_to_js(alternatives: &[Alternative]) -> Array {
    alternatives
        .iter()
        .map(|alternative| {
            let out = Object::new();
            set(&out, "word", alternative.word.as_str());
            set(&out, "id", alternative.id);
            set(&out, "prob", alternative.prob);
            set(&out, "logProb", alternative.log_prob);
            JsValue::from(out)
        })
        .collect()
}

/// `{ word, typed, id, prob, logProb, rank, attention: Float32Array, entropy, alternatives }`.
fn scored_word_to_js(word: &ScoredWord, typed: Option<&str>) -> JsValue {
    let out = Object::new();
    set(&out, "word", word.word.as_str());
    set(
        &out,
        "typed",
        typed.map(JsValue::from_str).unwrap_or(JsValue::NULL),
    );
    set(&out, "id", word.id);
    set(&out, "prob", word.prob);
    set(&out, "logProb", word.log_prob);
    set(&out, "rank", word.rank as u32);
    set(&out, "attention", Float32Array::from(word.attention.as_slice()));
    set(&out, "entropy", word.entropy);
    set(&out, "alternatives", alternatives_to_js(&word.alternatives));
    out.into()
}

/// The result of `score()`: `{ words, end, logProb, grid, notes, backend, ms, stages }`.
pub fn scored_to_js(
    scored: &ScoredCaption,
    typed: &[String],
    backend: &str,
    ms: f64,
    stages: StageTimes,
) -> JsValue {
    let out = Object::new();
    let words: Array = scored
        .words
        .iter()
        .zip(typed)
        .map(|(word, typed)| scored_word_to_js(word, Some(typed)))
        .collect();
    set(&out, "words", words);
    set(&out, "end", scored_word_to_js(&scored.end, None));
    set(&out, "logProb", scored.log_prob);
    set(
        &out,
        "grid",
        scored
            .grid
            .iter()
            .map(|&g| JsValue::from(g as u32))
            .collect::<Array>(),
    );
    let notes: Array = scored.notes.iter().map(|n| JsValue::from_str(n)).collect();
    set(&out, "notes", notes);
    set(&out, "backend", backend);
    set(&out, "ms", ms);
    set_stages(&out, stages);
    out.into()
}
