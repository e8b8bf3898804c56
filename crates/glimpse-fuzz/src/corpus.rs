//! The committed corpus: one zip per target, `corpus/<target>.zip`, of named inputs.

use std::io::{Cursor, Read};
use std::path::PathBuf;

use zip::ZipArchive;
use zip::result::ZipResult;

use crate::Target;

/// Where a target's corpus is committed.
pub fn path(target: Target) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(format!("{}.zip", target.name()))
}

/// Named inputs, `(name, bytes)`.
pub type Inputs = Vec<(String, Vec<u8>)>;

/// Every input of a target's corpus in the archive's order.
pub fn read(target: Target) -> ZipResult<Inputs> {
    let bytes = std::fs::read(path(target))?;
    let mut archive = ZipArchive::new(Cursor::new(bytes))?;
    let mut inputs = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let name = entry.name()?.to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        inputs.push((name, data));
    }
    Ok(inputs)
}
