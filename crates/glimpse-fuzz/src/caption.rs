//! A caption as coco-caption tokenises it (reference files and typed captions are text from
//! strangers): the scanner of `glimpse_metrics::tokenize`, then the metrics over its tokens.
//!
//! The input is split at its first NUL into a candidate and a reference (bytes read as UTF-8,
//! invalid sequences replaced), both tokenised and scored.

use glimpse_metrics::{Bleu, Cider, RougeL, tokenize};

/// coco-caption's dropped punctuation: no token may be one of these.
const DROPPED: [&str; 13] = [
    "''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";",
];

/// The longest token: what one token rule may see (256 characters), lower-cased (at most three
/// characters each), in UTF-8 (at most four bytes each).
const MAX_TOKEN_BYTES: usize = 256 * 3 * 4;

pub fn run(data: &[u8]) {
    let (candidate, reference) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    let candidate = check_tokens(&String::from_utf8_lossy(candidate));
    let reference = check_tokens(&String::from_utf8_lossy(reference));
    check_scores(&candidate, &reference);
}

/// The tokens of `text`: deterministic, each non-empty, bounded, lower-case, without
/// whitespace but the no-break space the jar writes into `1 1/2`, never dropped punctuation,
/// and no more of them than `text` has characters.
fn check_tokens(text: &str) -> Vec<String> {
    let tokens = tokenize(text);
    assert_eq!(tokens, tokenize(text), "tokenising twice differs");
    assert!(
        tokens.len() <= text.chars().count(),
        "{} tokens from {} characters",
        tokens.len(),
        text.chars().count()
    );
    for token in &tokens {
        assert!(!token.is_empty(), "an empty token");
        assert!(token.len() <= MAX_TOKEN_BYTES, "a token of {} bytes", token.len());
        assert!(
            !DROPPED.contains(&token.as_str()),
            "dropped punctuation kept: {token:?}"
        );
        assert_eq!(token, &token.to_lowercase(), "a token not lower-cased");
        assert!(
            !token.chars().any(|c| c.is_whitespace() && c != '\u{a0}'),
            "whitespace inside {token:?}"
        );
    }
    tokens
}

/// BLEU-1..4 and ROUGE-L in [0, 1], CIDEr-D in [0, 10], all finite, for any tokens.
fn check_scores(candidate: &[String], reference: &[String]) {
    let references = vec![reference.to_vec()];
    let (mut bleu, mut rouge, mut cider) = (Bleu::new(), RougeL::new(), Cider::new());
    bleu.add(candidate, &references);
    rouge.add(candidate, &references);
    cider.add(candidate, &references);
    for score in bleu.scores().corpus {
        assert!((0.0..=1.0).contains(&score), "BLEU {score}");
    }
    let rouge = rouge.corpus();
    assert!((0.0..=1.0).contains(&rouge), "ROUGE-L {rouge}");
    let (cider, _) = cider.scores();
    assert!((0.0..=10.0).contains(&cider), "CIDEr {cider}");
}
