//! `glimpse score`: how probable a bundle finds a given caption for an image, word by word,
//! and where it would look for each word (teacher forcing, as in training).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use glimpse::backend::Backend;
use glimpse_eval::captioning::{load_captioner, read_image_checked};
use glimpse_files::{note, shown, terminal_safe};
use glimpse_model::generate::caption_words;
use glimpse_model::preprocess::image_to_input;
use glimpse_model::{GenerateOptions, ScoredCaption, ScoredWord};
use serde::Serialize;

use super::Exit;

/// `glimpse score`.
#[derive(Args)]
#[command(
    after_help = "Example:\n  glimpse score --model model.safetensors dog.jpg --caption \"a dog runs on the grass\""
)]
pub struct ScoreArgs {
    /// The `.safetensors` weight bundle.
    #[arg(long)]
    model: PathBuf,
    /// The image file (JPEG, PNG, WebP, GIF, BMP).
    image: PathBuf,
    /// The caption to score, split into words as training captions are (lowercased,
    /// punctuation dropped); words the vocabulary lacks are read as <UNK>.
    #[arg(long)]
    caption: String,
    /// Also list the K most probable words at every position (at most 50).
    #[arg(long, value_name = "K", default_value_t = 0)]
    alternatives: usize,
    /// One JSON object: the scored words (probability, rank, attention, entropy, alternatives),
    /// the end token, the total log-probability, notes, and the model's own caption.
    #[arg(long)]
    json: bool,
    /// Compute backend (each is a cargo feature; flex is built by default).
    #[arg(long, value_enum, default_value_t = Backend::first_built())]
    backend: Backend,
}

/// The `--json` output.
#[derive(Serialize)]
struct ScoreRecord<'a> {
    image: String,
    /// The words as typed, after splitting.
    typed: &'a [String],
    #[serde(flatten)]
    scored: &'a ScoredCaption,
    /// The model's own greedy caption and its log-probability, for comparison.
    model_caption: String,
    model_log_prob: f64,
    backend: &'static str,
}

pub fn run(args: ScoreArgs) -> Result<Exit> {
    let typed = caption_words(&args.caption)?;
    // Before the model loads and the photo is encoded, as `caption` checks them.
    glimpse_model::generate::explore::check_words_to_score(&typed)?;
    glimpse_model::generate::explore::check_alternatives(args.alternatives)?;
    let captioner = load_captioner(&args.model, &args.backend.device()?)?;
    let preprocess = &captioner.config.preprocess;
    let decoded = read_image_checked(&args.image, preprocess.max_pixels)
        .with_context(|| format!("{}: cannot score", shown(&args.image)))?;
    if let Some(warning) = &decoded.warning {
        note!("warning: {}: {warning}", shown(&args.image));
    }
    let encoded = captioner.encode_inputs(&[image_to_input(&decoded.image, preprocess)])?;
    let scored = pollster::block_on(captioner.score_encoded(&encoded, &typed, args.alternatives))?;
    let own = pollster::block_on(captioner.decode_encoded(&encoded, GenerateOptions::default()))?.remove(0);
    let out = &mut glimpse_files::console::output();
    if args.json {
        let record = ScoreRecord {
            image: glimpse_files::path_text(&args.image).into_owned(),
            typed: &typed,
            scored: &scored,
            model_caption: own.text(),
            model_log_prob: own.log_prob,
            backend: args.backend.name(),
        };
        writeln!(out, "{}", super::json_line(&record)?)?;
    } else {
        print_table(&typed, &scored, out)?;
        writeln!(out, "log-probability {:.3}", scored.log_prob)?;
        let own_text = own.text();
        let own_text = terminal_safe(&own_text);
        writeln!(out, "the model's own caption: {own_text} ({:.3})", own.log_prob)?;
        for note in &scored.notes {
            note!("note: {}", terminal_safe(note));
        }
    }
    Ok(Exit::Done)
}

/// One row per word and one for the end token: probability, rank, attention entropy and the
/// alternatives when asked for.
fn print_table(typed: &[String], scored: &ScoredCaption, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "     {:<16} {:>7} {:>6} {:>8}",
        "word", "prob", "rank", "entropy"
    )?;
    let rows = scored.words.iter().zip(typed.iter().map(String::as_str));
    for (position, (word, typed)) in rows.enumerate() {
        let label = if word.word == typed {
            word.word.clone()
        } else {
            format!("{typed} ({})", word.word)
        };
        print_row(&format!("{:>3}", position + 1), &label, word, out)?;
    }
    print_row("   ", &scored.end.word, &scored.end, out)
}

fn print_row(position: &str, label: &str, word: &ScoredWord, out: &mut impl Write) -> Result<()> {
    let alternatives: Vec<String> = word
        .alternatives
        .iter()
        .map(|a| format!("{} {:.3}", terminal_safe(&a.word), a.prob))
        .collect();
    writeln!(
        out,
        "{position}  {:<16} {:>7.4} {:>6} {:>8.3}  {}",
        terminal_safe(label),
        word.prob,
        word.rank,
        word.entropy,
        alternatives.join(", ")
    )?;
    Ok(())
}
