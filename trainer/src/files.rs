//! Writing output files so that a crash never leaves half of one: [`write_atomically`] lives
//! in `glimpse-files` with the tool's other file handling and is re-exported here for the
//! commands and the library's users.

pub use glimpse_files::{write_atomically, write_replacing};
