//! The Hugging Face-style `README.md` written beside every bundle `export` and `import` make:
//! YAML front matter a model hub reads (license, tags, datasets, base model, metrics with their
//! values), then what the model is, how it was trained and how to use it — all from the bundle's
//! own `glimpse.card` and config, so the two never disagree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use glimpse_files::{caps, is_escaped, number_text, read_regular, rounded_text, shown, terminal_safe};
use glimpse_model::Bundle;

use glimpse_files::write_together_durably;

/// The first line of every card Glimpse writes: a README.md that lacks it is someone else's and
/// is never overwritten.
const MARKER: &str = "<!-- model card written by glimpse from";

/// How a card's `encoder_weights` starts for an encoder that no pretrained file started: such a
/// model has no `base_model`.
pub const RANDOM_ENCODER: &str = "random weights";

/// Writes `bytes`, the stored `bundle`, at `bundle_path` and its card where [`card_path`] says,
/// neither replaced unless both can be written (the bundle went first, and a failed card write
/// left an older card beside it: review 66). Returns where the card went.
pub fn write_bundle_with_card(bundle_path: &Path, bytes: &[u8], bundle: &Bundle) -> Result<PathBuf> {
    let path = card_path(bundle_path)?;
    let card = model_card(bundle, &file_name(bundle_path));
    write_together_durably(&[(bundle_path, bytes), (&path, card.as_bytes())])?;
    Ok(path)
}

/// Where the card of the bundle at `bundle_path` goes: `README.md` in its folder, or, when that
/// holds a README.md Glimpse did not write for this bundle, `<stem>.README.md`. Each is replaced
/// only when absent or this bundle's own card; anything else there (another bundle's card,
/// someone's notes, a file that cannot be read) is kept, and with both taken nothing is
/// written (someone's `m.README.md` was replaced: review 66). Commands ask before writing.
pub fn card_path(bundle_path: &Path) -> Result<PathBuf> {
    let [readme, own_name] = card_paths(bundle_path);
    // (Its card replaced it, the command reporting both written: hostile round 21; in any
    // case, as a case-insensitive file system would: review 68.)
    if file_name(bundle_path).eq_ignore_ascii_case(&file_name(&readme)) {
        bail!(
            "{}: a bundle cannot be named README.md, where its model card goes; choose another name",
            shown(bundle_path)
        );
    }
    let own = format!("{MARKER} {} -->", marker_name(&file_name(bundle_path)));
    for path in [&readme, &own_name] {
        // (A regular file of at most a config's size: a FIFO there hung `export`.)
        let ours = match read_regular(path, caps::CONFIG, "model card") {
            Ok(bytes) => bytes.starts_with(own.as_bytes()),
            Err(e) => e.is_not_found(),
        };
        if ours {
            return Ok(path.clone());
        }
    }
    bail!(
        "{} and {} are not this bundle's model card: both kept, and no card written; move one away",
        shown(&readme),
        shown(&own_name)
    )
}

fn file_name(bundle_path: &Path) -> String {
    bundle_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where [`write_bundle_with_card`] may write the card of the bundle at `bundle_path`: `README.md` in
/// its folder, or `<stem>.README.md` there (so a command checks both against what it reads).
pub fn card_paths(bundle_path: &Path) -> [PathBuf; 2] {
    let folder = bundle_path.parent().unwrap_or(Path::new("."));
    let stem = bundle_path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    [folder.join("README.md"), folder.join(format!("{stem}.README.md"))]
}

/// The bundle's file name as the marker comment holds it (one line, no `--`, no `<>&`): the
/// form cards written before Markdown was escaped hold, so they are still recognised. Controls
/// and hidden characters escaped (`cat README.md` obeyed a name's terminal escapes: hostile
/// round 22).
fn marker_name(file_name: &str) -> String {
    let entities = terminal_safe(&one_line(file_name))
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    entities.replace("--", "- -")
}

/// A YAML string: JSON's quoting is valid YAML, with the characters YAML parsers refuse in a
/// quoted scalar (DEL, C1 controls, line and paragraph separators) escaped too, and those that
/// reorder or hide text (a name's U+202E stayed raw in the front matter).
fn yaml(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into());
    quoted
        .chars()
        .map(|c| match c {
            c if is_escaped(c) && u32::from(c) > 0xFFFF => format!("\\U{:08x}", u32::from(c)),
            c if is_escaped(c) => format!("\\u{:04x}", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

/// A metric's value as YAML reads it (`.nan` and `.inf` for what JSON cannot hold).
fn yaml_number(value: f64) -> String {
    match value {
        v if v.is_nan() => ".nan".into(),
        v if v.is_infinite() => if v > 0.0 { ".inf" } else { "-.inf" }.into(),
        v => number_text(v),
    }
}

/// Card text for Markdown, on one line: HTML's `& < >` as entities, the punctuation that makes
/// Markdown's links, images, emphasis, code, headings and tables backslash-escaped, what would start a
/// heading, list or quote escaped at the start, and invisible characters shown as `\u{..}`. A
/// stranger's description once added a fake "## Metrics" table, `javascript:` links and
/// remote images to the exported README.md.
fn markdown(text: &str) -> String {
    let one_line = terminal_safe(&one_line(text)).into_owned();
    // What would make the line a list item or a setext underline (`- x`, `+ x`, `= x`, `1. x`,
    // `1) x`): the first character, or the `.` or `)` ending leading digits.
    let digits = one_line.bytes().take_while(u8::is_ascii_digit).count();
    let starts_a_block = |index: usize, c: char| {
        (index == 0 && matches!(c, '-' | '+' | '='))
            || (matches!(c, '.' | ')') && digits > 0 && index == digits)
    };
    let mut out = String::with_capacity(one_line.len() + 8);
    for (index, c) in one_line.char_indices() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // With `[` and `]` escaped, `(`, `)` and `!` can make no link or image.
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ if starts_a_block(index, c) => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `text` with every run of whitespace, line breaks included, made one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The card of `bundle`, stored as `file_name`.
pub fn model_card(bundle: &Bundle, file_name: &str) -> String {
    let mut out = format!("{MARKER} {} -->\n", marker_name(file_name));
    front_matter(&mut out, bundle);
    body(&mut out, bundle, file_name);
    out
}

fn front_matter(out: &mut String, bundle: &Bundle) {
    let card = &bundle.card;
    let arch = bundle.config.encoder.arch.name();
    out.push_str("---\nlicense: other\nlibrary_name: glimpse\npipeline_tag: image-to-text\n");
    out.push_str("tags:\n  - image-captioning\n  - show-attend-and-tell\n  - attention\n  - safetensors\n");
    let _ = writeln!(out, "  - {arch}");
    if !card.trained_on.is_empty() {
        let _ = writeln!(out, "datasets:\n  - {}", yaml(&card.trained_on));
    }
    // (A random encoder was carded as fine-tuned from torchvision's: hostile round 24.)
    if !card.encoder_weights.starts_with(RANDOM_ENCODER) {
        let _ = writeln!(out, "base_model: {}", yaml(&format!("torchvision/{arch}")));
    }
    if card.metrics.is_empty() {
        out.push_str("---\n\n");
        return;
    }
    let _ = writeln!(out, "model-index:\n  - name: {}\n    results:", yaml(&card.name));
    out.push_str("      - task:\n          type: image-to-text\n          name: Image captioning\n");
    let dataset = if card.trained_on.is_empty() {
        "unknown"
    } else {
        &card.trained_on
    };
    let _ = writeln!(
        out,
        "        dataset:\n          name: {}\n          type: {}",
        yaml(dataset),
        yaml(dataset)
    );
    out.push_str("        metrics:\n");
    for (name, value) in &card.metrics {
        let kind = name
            .trim_start_matches("val_")
            .split('_')
            .next()
            .unwrap_or(name)
            .to_lowercase();
        let _ = writeln!(
            out,
            "          - type: {}\n            name: {}\n            value: {}",
            yaml(&kind),
            yaml(name),
            yaml_number(*value)
        );
    }
    out.push_str("---\n\n");
}

fn body(out: &mut String, bundle: &Bundle, file_name: &str) {
    let (card, config) = (&bundle.card, &bundle.config);
    let [rows, cols] = config.grid();
    let name = if card.name.is_empty() {
        "(unnamed model)"
    } else {
        &card.name
    };
    let _ = writeln!(out, "# {}\n\n{}\n", markdown(name), markdown(&card.description));
    if !card.decoder_trained {
        out.push_str("**Its decoder was never trained: its captions are meaningless word sequences.**\n\n");
    }
    let _ = writeln!(
        out,
        "## Model\n\n\"Show, Attend and Tell\": a torchvision {} encoder (width ×{}, encoder weights: {}), \
         Bahdanau attention ({}, over a {rows}×{cols} grid) and an LSTM decoder (embeddings {}, hidden {}), \
         {} words. One `.safetensors` file with PyTorch's tensor names; its config, vocabulary and this \
         card are in its metadata.\n",
        config.encoder.arch.name(),
        config.encoder.width_multiplier,
        markdown(or_not_stated(&card.encoder_weights)),
        format!("{:?}", config.attention.activation).to_lowercase(),
        config.decoder.embed_dim,
        config.decoder.decoder_dim,
        bundle.vocab.len(),
    );
    let epochs = card.epochs.map_or("not stated".to_string(), |e| e.to_string());
    let _ = writeln!(
        out,
        "## Training\n\n- Data: {}\n- Epochs: {epochs}\n- Written: {}\n- Notes: {}\n",
        markdown(or_not_stated(&card.trained_on)),
        markdown(or_not_stated(&card.created)),
        markdown(or_not_stated(&card.notes)),
    );
    if !card.metrics.is_empty() {
        out.push_str("## Metrics\n\n| metric | value |\n|---|---|\n");
        for (metric, value) in &card.metrics {
            let _ = writeln!(out, "| {} | {} |", markdown(metric), rounded_text(*value, 4));
        }
        out.push('\n');
    }
    // Shown in code spans, where Markdown escapes would show as written.
    let file = terminal_safe(&one_line(file_name)).into_owned();
    let _ = writeln!(
        out,
        "## Use it\n\n- **In the browser**: open Glimpse's page and drop `{file}` on it (photos never \
         leave the device), or serve it beside the page and open `?model={file}`.\n\
         - **On the command line**: `glimpse caption --model {file} photo.jpg` (`--beam 3`, `--json`, \
         `--attention-png DIR`); `glimpse score --model {file} photo.jpg --caption \"…\"`.\n\
         - **In Python**: the tensors load with `safetensors` into the PyTorch notebook's \
         `EncoderDecoder`; Glimpse's README (\"Back to PyTorch\") has the lines.\n\
         \n\
         The license of these weights was not stated when they were exported; the encoder's \
         ImageNet weights, when torchvision's, are BSD-3-Clause."
    );
}

fn or_not_stated(text: &str) -> &str {
    if text.is_empty() { "not stated" } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo model's bundle: a real card with metrics.
    fn demo() -> Bundle {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/models/default.safetensors");
        Bundle::from_bytes(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn an_encoder_no_pretrained_file_started_has_no_base_model() {
        let mut bundle = demo();
        bundle.card.encoder_weights = format!("{RANDOM_ENCODER}, frozen (never trained)");
        let card = model_card(&bundle, "random.safetensors");
        assert!(!card.contains("base_model:"), "{card}");
        assert!(card.contains("random weights, frozen (never trained)"), "{card}");
    }

    #[test]
    fn the_card_carries_front_matter_metrics_and_usage() {
        let bundle = demo();
        let card = model_card(&bundle, "default.safetensors");
        assert!(card.starts_with(MARKER));
        let front = card.split("---\n").nth(1).unwrap();
        assert!(front.contains("library_name: glimpse\n"), "{front}");
        assert!(
            front.contains("datasets:\n  - \"glimpse synth (seed 7, 2000 images)\"\n"),
            "{front}"
        );
        assert!(
            front.contains("base_model: \"torchvision/mobilenet_v2\"\n"),
            "{front}"
        );
        let bleu = bundle.card.metrics["val_Bleu_4"];
        assert!(
            front.contains(&format!("name: \"val_Bleu_4\"\n            value: {bleu}\n")),
            "{front}"
        );
        assert!(card.contains("# glimpse-demo-shapes\n"));
        assert!(card.contains(&format!("| val\\_Bleu\\_4 | {bleu:.4} |")));
        assert!(card.contains("glimpse caption --model default.safetensors photo.jpg"));
    }

    /// An edited bundle's `-1e308` put 309 digits into the card's table and front matter.
    #[test]
    fn huge_metrics_are_written_in_a_few_characters() {
        let mut bundle = demo();
        bundle.card.metrics.insert("x".into(), -1e308);
        let card = model_card(&bundle, "m.safetensors");
        assert!(card.contains("value: -1e308\n"), "{card}");
        assert!(card.contains("| x | -1.0000e308 |"), "{card}");
        assert!(!card.contains("0000000000000000"), "{card}");
    }

    #[test]
    fn card_text_cannot_break_the_yaml_or_inject_html() {
        let mut bundle = demo();
        bundle.card.name = "x\"\n---\nlicense: mit <script>".into();
        bundle.card.trained_on = "shapes\u{85}\u{2028}".into();
        bundle.card.metrics.clear();
        let card = model_card(&bundle, "m.safetensors");
        // The front matter still opens and closes where Glimpse puts it; the name is one line.
        assert_eq!(card.matches("\n---\n").count(), 2, "{card}");
        assert!(!card.contains("<script>"), "{card}");
        assert!(
            card.contains("  - \"shapes\\u0085\\u2028\"\n"),
            "C1 and separators escaped: {card}"
        );
        // Nor a file name's terminal escapes on the marker line (hostile round 22).
        let card = model_card(&bundle, "evil\u{1b}]0;pwned\u{7}\u{202e}.safetensors");
        let marker = card.lines().next().unwrap();
        assert!(!marker.chars().any(is_escaped), "{marker:?}");
        assert!(
            marker.contains("evil\\u{1b}]0;pwned\\u{7}\\u{202e}.safetensors"),
            "{marker:?}"
        );
    }

    #[test]
    fn card_text_cannot_add_markdown() {
        let mut bundle = demo();
        bundle.card.name = "evil\u{202e}gnp.exe".into();
        bundle.card.description = "Fine.\n\n## Metrics\n\n| val_Bleu_4 | 0.9999 |\n|---|---|\n\
            [click](javascript:alert(1)) ![x](http://t.example/p.png) `code` *bold*"
            .into();
        let card = model_card(&bundle, "m.safetensors");
        let body = card.split("\n---\n").nth(2).unwrap();
        assert_eq!(body.matches("## Metrics").count(), 1, "{body}");
        assert!(body.contains("# evil\\\\u{202e}gnp.exe\n"), "{body}");
        assert!(card.contains("  - name: \"evil\\u202egnp.exe\"\n"), "{card}");
        assert!(
            body.contains(
                "Fine. \\#\\# Metrics \\| val\\_Bleu\\_4 \\| 0.9999 \\| \\|---\\|---\\| \
                 \\[click\\](javascript:alert(1)) !\\[x\\](http://t.example/p.png) \\`code\\` \\*bold\\*\n"
            ),
            "{body}"
        );
        // What would start a list or a heading underline at the start of the line.
        assert_eq!(markdown("- a"), "\\- a");
        assert_eq!(markdown("12. a-b 3.5"), "12\\. a-b 3.5");
        assert_eq!(markdown("= x"), "\\= x");
        assert_eq!(markdown("1) x (y)"), "1\\) x (y)");
    }

    #[test]
    fn someone_elses_readme_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = demo();
        let path = dir.path().join("m.safetensors");
        assert_eq!(
            write_bundle_with_card(&path, b"bundle", &bundle).unwrap(),
            dir.path().join("README.md")
        );
        // Glimpse's own card is replaced on the next export…
        assert_eq!(
            write_bundle_with_card(&path, b"bundle", &bundle).unwrap(),
            dir.path().join("README.md")
        );
        // …but another bundle's card is not, nor a README.md written by someone else.
        let other = dir.path().join("other.safetensors");
        assert_eq!(
            write_bundle_with_card(&other, b"bundle", &bundle).unwrap(),
            dir.path().join("other.README.md")
        );
        std::fs::write(dir.path().join("README.md"), "# my project\n").unwrap();
        assert_eq!(
            write_bundle_with_card(&path, b"bundle", &bundle).unwrap(),
            dir.path().join("m.README.md")
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("README.md")).unwrap(),
            "# my project\n"
        );
        // A bundle named as its card is refused, not replaced by it, in any case (as a
        // case-insensitive file system reads the name).
        for name in ["README.md", "readme.md", "ReadMe.MD"] {
            let path = dir.path().join("fresh").join(name);
            let err = format!(
                "{:#}",
                write_bundle_with_card(&path, b"bundle", &bundle).unwrap_err()
            );
            assert!(err.contains("a bundle cannot be named README.md"), "{err}");
        }
        assert!(!dir.path().join("fresh").exists());
        // Nor someone's own notes at the second name: with both taken, nothing is written.
        std::fs::write(dir.path().join("m.README.md"), "my notes\n").unwrap();
        let err = format!(
            "{:#}",
            write_bundle_with_card(&path, b"bundle", &bundle).unwrap_err()
        );
        assert!(
            err.contains("are not this bundle's model card: both kept"),
            "{err}"
        );
        for (name, text) in [("README.md", "# my project\n"), ("m.README.md", "my notes\n")] {
            assert_eq!(std::fs::read_to_string(dir.path().join(name)).unwrap(), text);
        }
    }
}
