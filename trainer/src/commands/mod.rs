//! One module per subcommand, each with its clap arguments and a `run` that calls the libraries
//! (as cargo's `src/bin/cargo/commands/` does).

pub mod caption;
pub mod compare;
pub mod completions;
pub mod data;
pub mod eval;
pub mod export;
pub mod import;
pub mod info;
pub mod man;
pub mod score;
pub mod synth;
pub mod train;

use anyhow::{Result, bail};
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use glimpse::export::Which;
use glimpse_data::Split;
use glimpse_import::CheckpointLayout;
use glimpse_model::bundle::MAX_CARD_TEXT_BYTES;
use glimpse_model::{Decoding, GenerateOptions, StorageType};

/// How a command ended.
pub enum Exit {
    Done,
    /// Stopped by Ctrl-C after saving its state (exit status 130).
    Interrupted,
}

/// How captions are decoded: the same flags for `caption` and `eval`.
#[derive(Args)]
pub struct DecodingArgs {
    /// Beam width; 1 decodes greedily.
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Most words per caption, the end token included.
    #[arg(long, default_value_t = GenerateOptions::default().max_len)]
    max_len: usize,
    /// Beam search ranks by log_prob / length^PENALTY (0 = plain sum; at most 10).
    #[arg(long, default_value_t = 0.0, value_parser = length_penalty)]
    length_penalty: f64,
}

/// `--length-penalty`: a number within 0..=[`MAX_LENGTH_PENALTY`], refused as the user typed
/// it (`-1e300` was shown as a number of 300 digits).
fn length_penalty(text: &str) -> std::result::Result<f64, String> {
    use glimpse_model::generate::MAX_LENGTH_PENALTY;
    match text.parse::<f64>() {
        Ok(penalty) if (0.0..=MAX_LENGTH_PENALTY).contains(&penalty) => Ok(penalty),
        _ => Err(format!(
            "`{text}` is not a number within 0..={MAX_LENGTH_PENALTY}"
        )),
    }
}

impl DecodingArgs {
    /// The options these flags ask for, checked.
    pub fn options(&self) -> Result<GenerateOptions> {
        let options = GenerateOptions {
            decoding: Decoding::from_beam(self.beam, self.length_penalty)?,
            max_len: self.max_len,
        };
        options.validate()?;
        Ok(options)
    }
}

/// A library enum offered on the command line: its values, each with its name and help.
pub trait Choice: Copy + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn help(self) -> Option<&'static str> {
        None
    }
}

/// Parses a [`Choice`]; `--help` lists its values as clap's `ValueEnum` would.
pub fn choice<T: Choice>() -> impl TypedValueParser<Value = T> {
    let values = T::ALL.iter().map(|&value| {
        let possible = PossibleValue::new(value.name());
        match value.help() {
            Some(help) => possible.help(help),
            None => possible,
        }
    });
    PossibleValuesParser::new(values).try_map(|name| {
        T::ALL
            .iter()
            .copied()
            .find(|value| value.name() == name)
            .ok_or_else(|| format!("`{name}` is not one of the listed values"))
    })
}

impl Choice for Split {
    const ALL: &'static [Split] = &Split::ALL;
    fn name(self) -> &'static str {
        Split::name(self)
    }
}

impl Choice for CheckpointLayout {
    const ALL: &'static [CheckpointLayout] = &CheckpointLayout::ALL;
    fn name(self) -> &'static str {
        CheckpointLayout::name(self)
    }
}

impl Choice for glimpse_eval::colormap::Colormap {
    const ALL: &'static [Self] = &Self::ALL;
    fn name(self) -> &'static str {
        glimpse_eval::colormap::Colormap::name(self)
    }
}

impl Choice for Which {
    const ALL: &'static [Which] = &Which::ALL;
    fn name(self) -> &'static str {
        Which::name(self)
    }
    fn help(self) -> Option<&'static str> {
        Some(Which::help(self))
    }
}

/// How a written bundle stores its tensors (computation is f32 whichever is chosen).
#[derive(Args, Debug, Clone, Copy)]
pub struct StorageArgs {
    /// Store tensors as f16 (half the size).
    #[arg(long, conflicts_with_all = ["int8", "int8_decoder"])]
    f16: bool,
    /// Store weights as int8 with a scale per output channel, the rest as f16 (about a quarter
    /// of the size; captions can change unless the model was trained for it, `encoder_int8`:
    /// README's "Smaller bundles" has what it costs the page's model).
    #[arg(long, conflicts_with = "int8_decoder")]
    int8: bool,
    /// Store the decoder's weights as --int8 does and the encoder's as f16 (the decoder takes
    /// int8 almost for free; an encoder not trained for int8 does not).
    #[arg(long)]
    int8_decoder: bool,
}

impl StorageArgs {
    pub fn storage(self) -> StorageType {
        match (self.f16, self.int8, self.int8_decoder) {
            (_, _, true) => StorageType::Int8Decoder,
            (_, true, false) => StorageType::Int8,
            (true, false, false) => StorageType::F16,
            (false, false, false) => StorageType::F32,
        }
    }
}

/// Most images decoded together (`--batch`): the encoder's activations grow with the batch.
pub const MAX_BATCH: u64 = 64;

/// The variable that stands for `--text-encoder` (eval, compare).
pub const TEXT_ENCODER_VARIABLE: &str = "GLIMPSE_TEXT_ENCODER";
/// The variable that stands for `--clip` (eval, compare).
pub const CLIP_VARIABLE: &str = "GLIMPSE_CLIP";

/// Unsets those variables where they are set but empty, as some shells clear one
/// (`GLIMPSE_CLIP=`): such a command failed with "a value is required for '--clip'", a flag
/// never given. Called first in `main`, before any thread starts.
pub fn unset_empty_flag_variables() {
    for name in [TEXT_ENCODER_VARIABLE, CLIP_VARIABLE] {
        if std::env::var_os(name).is_some_and(|value| value.is_empty()) {
            // SAFETY: no other thread runs yet, so none reads the environment meanwhile.
            unsafe { std::env::remove_var(name) };
        }
    }
}

/// The variables rayon, and so the CPU backend, sizes its thread pool by (the second is its
/// older name, still read).
pub const THREADS_VARIABLES: [&str; 2] = ["RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS"];
/// Most threads a core the pool may have: more only wait for the cores (hostile round 13: 1,000
/// made one caption take 9.5 s instead of 0.1, and 2,000 never finished its first).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// Refuses a thread count in [`THREADS_VARIABLES`] past [`MAX_THREADS_PER_CORE`] threads a
/// core (at least 16 in all), before the pool is made. Values rayon ignores (`0`, not a
/// number) are left to it.
pub fn check_thread_variable() -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let most = (cores * MAX_THREADS_PER_CORE).max(16);
    for name in THREADS_VARIABLES {
        let Some(asked) = std::env::var(name)
            .ok()
            .and_then(|value| value.trim().parse::<u64>().ok())
        else {
            continue;
        };
        if asked > most as u64 {
            let cores = if cores == 1 {
                "1 core".to_string()
            } else {
                format!("{cores} cores")
            };
            bail!(
                "{name}={asked} asks for more threads than the {most} that {cores} can use \
                 ({MAX_THREADS_PER_CORE} a core); lower it or unset it"
            );
        }
    }
    Ok(())
}

/// A model card's text from the command line (`--name`, `--description`, `--trained-on`), within
/// [`MAX_CARD_TEXT_BYTES`]: refused by its flag and length before any file is read, not quoted
/// whole as clap quotes a value it refuses.
#[derive(Clone)]
pub struct CardText;

impl TypedValueParser for CardText {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<String, clap::Error> {
        let text = clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)?;
        if text.len() <= MAX_CARD_TEXT_BYTES {
            return Ok(text);
        }
        let flag = arg.map_or_else(|| "a model card's text".into(), |arg| format!("`{arg}`"));
        let message = format!(
            "{flag} is {} bytes, over the model card's limit of {MAX_CARD_TEXT_BYTES}\n",
            text.len()
        );
        Err(clap::Error::raw(clap::error::ErrorKind::ValueValidation, message).with_cmd(cmd))
    }
}

/// `--batch`: 1 to [`MAX_BATCH`].
pub fn batch_size() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=MAX_BATCH)
}

/// `value` as one line of JSON for the terminal (DEL and C1 escaped, see `terminal_safe_json`).
pub fn json_line(value: &impl serde::Serialize) -> Result<String> {
    Ok(glimpse_files::terminal_safe_json(serde_json::to_string(value)?))
}

/// `value` as indented JSON for the terminal.
pub fn json_pretty(value: &impl serde::Serialize) -> Result<String> {
    Ok(glimpse_files::terminal_safe_json(serde_json::to_string_pretty(
        value,
    )?))
}
