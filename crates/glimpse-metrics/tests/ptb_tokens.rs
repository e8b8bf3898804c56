//! The tokenizer against coco-caption's own: tests/fixtures/metrics/ptb_tokens.json holds
//! captions with brackets, quotes of every kind, dashes, clitics, numbers, ellipses, slashes,
//! ampersands, abbreviations and non-ASCII letters, each with the tokens pycocoevalcap 1.2's
//! PTBTokenizer (Stanford CoreNLP 3.4.1, run by tests/fixtures/make_metric_fixtures.py) gave.

use glimpse_metrics::tokenize;

#[test]
fn tokens_equal_pycocoevalcap_ptb_tokenizer() {
    let path = std::env::var("PTB_CASES").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/metrics/ptb_tokens.json"
        )
        .to_string()
    });
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 1000, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<&str> = case["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let ours = tokenize(text);
        if ours != expected {
            wrong.push(format!("{text:?}\n   ours {ours:?}\n   jar  {expected:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}
