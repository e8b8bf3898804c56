//! Fuzz targets for every reader of files from strangers, as plain functions of the input
//! bytes: `fuzz/` runs them under libFuzzer (nightly `cargo fuzz`), and `tests/replay.rs`
//! replays the committed corpus on the stable toolchain, so CI checks every case ever found.
//!
//! A target returns normally whether the reader accepts or refuses the input; it panics only
//! when an invariant breaks (a panic inside a reader, an accepted value that is inconsistent,
//! an error message of unbounded length). libFuzzer adds crashes, timeouts and its memory limit.
//!
//! ```
//! use glimpse_fuzz::Target;
//!
//! // Bytes that are no checkpoint, bundle, image or dataset are refused, never a panic.
//! for target in Target::ALL {
//!     target.run(b"\x80\x02not a file");
//! }
//! ```

mod archive;
pub mod bundle;
pub mod caption;
pub mod corpus;
pub mod dataset;
pub mod image;
pub mod import;
pub mod pth;

pub use archive::notebook_pickle;

use std::fmt::Display;

/// One fuzz target: its name is its corpus folder and its `cargo fuzz` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A `.pth` file's raw bytes: zip or legacy container, pickle, tensor geometry.
    Pth,
    /// A pickle (`data.pkl`) over the notebook checkpoint's real storages, imported to a bundle.
    Import,
    /// A bundle: its raw bytes, or its header with the tensor data filled in.
    Bundle,
    /// An image file decoded and preprocessed as `glimpse caption` and the page do.
    Image,
    /// A dataset folder's caption and split files.
    Dataset,
    /// A candidate and a reference caption, tokenised as coco-caption does and scored.
    Caption,
}

impl Target {
    pub const ALL: [Target; 6] = [
        Target::Pth,
        Target::Import,
        Target::Bundle,
        Target::Image,
        Target::Dataset,
        Target::Caption,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Pth => "pth",
            Target::Import => "import",
            Target::Bundle => "bundle",
            Target::Image => "image",
            Target::Dataset => "dataset",
            Target::Caption => "caption",
        }
    }

    /// Runs the target on one input.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::Pth => pth::run(data),
            Target::Import => import::run(data),
            Target::Bundle => bundle::run(data),
            Target::Image => image::run(data),
            Target::Dataset => dataset::run(data),
            Target::Caption => caption::run(data),
        }
    }
}

/// The longest error message a reader may give: messages quote at most a short prefix of
/// what the file holds, never a whole value.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Checks a refusal's message: bounded, and not empty.
fn check_refusal(error: impl Display) {
    let message = format!("{error:#}");
    assert!(!message.is_empty(), "an error without a message");
    assert!(
        message.len() <= MAX_MESSAGE_BYTES,
        "an error message of {} bytes: {}…",
        message.len(),
        &message[..message.floor_char_boundary(200)]
    );
}
