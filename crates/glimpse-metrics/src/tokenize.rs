//! Caption tokenisation matching coco-caption's PTB tokenizer on ordinary English captions.
//!
//! coco-caption lowercases, runs Stanford's PTBTokenizer (punctuation split off, clitics such as
//! `'s` and `n't` split from their word) and then drops punctuation tokens. Hyphens and
//! apostrophes inside words stay (`t-shirt`, `o'clock`).

/// The tokens of `text` as coco-caption scores them.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for chunk in text.to_lowercase().split_whitespace() {
        split_chunk(chunk, &mut tokens);
    }
    tokens
}

/// Characters that are never part of a word.
fn is_punctuation(c: char) -> bool {
    !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '’' || c == '&' || c == '/' || c == '+')
}

fn split_chunk(chunk: &str, tokens: &mut Vec<String>) {
    // Punctuation splits words ("dog,cat" → dog cat) and is dropped, as coco-caption drops it.
    for piece in chunk.split(is_punctuation) {
        let piece = piece.replace('’', "'");
        // Leading/trailing quotes and dashes are punctuation; inner ones belong to the word.
        let piece = piece.trim_matches(|c| c == '\'' || c == '-');
        if piece.is_empty() {
            continue;
        }
        split_clitics(piece, tokens);
    }
}

/// PTB splits `n't` and the clitics `'s 'm 'd 'll 're 've` off the word before them.
fn split_clitics(word: &str, tokens: &mut Vec<String>) {
    if let Some(stem) = word.strip_suffix("n't")
        && !stem.is_empty()
    {
        tokens.push(stem.to_string());
        tokens.push("n't".to_string());
        return;
    }
    for clitic in ["'s", "'m", "'d", "'ll", "'re", "'ve"] {
        if let Some(stem) = word.strip_suffix(clitic)
            && !stem.is_empty()
        {
            tokens.push(stem.to_string());
            tokens.push(clitic.to_string());
            return;
        }
    }
    tokens.push(word.to_string());
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    fn t(text: &str) -> Vec<&'static str> {
        tokenize(text).into_iter().map(|s| &*s.leak()).collect()
    }

    #[test]
    fn lowercases_and_drops_punctuation() {
        assert_eq!(t("A dog runs, fast."), ["a", "dog", "runs", "fast"]);
        assert_eq!(t("Two dogs ... play!"), ["two", "dogs", "play"]);
        assert_eq!(t("\"Hello\" (there)"), ["hello", "there"]);
    }

    #[test]
    fn keeps_inner_hyphens_and_splits_clitics() {
        assert_eq!(t("A man's t-shirt"), ["a", "man", "'s", "t-shirt"]);
        assert_eq!(t("It doesn't -- fit"), ["it", "does", "n't", "fit"]);
        assert_eq!(t("they're here"), ["they", "'re", "here"]);
    }

    #[test]
    fn empty_and_blank_give_nothing() {
        assert!(tokenize("").is_empty());
        assert!(tokenize("  . , !").is_empty());
    }
}
