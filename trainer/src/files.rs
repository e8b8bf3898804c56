//! Writing output files so that a crash never leaves half of one.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Write to `path.tmp`, fsync, rename over `path`, fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&tmp).with_context(|| format!("{}", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("{}", tmp.display()))?;
        file.sync_all().with_context(|| format!("{}", tmp.display()))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))?;
    if let Some(dir) = path.parent() {
        // Makes the rename itself durable; not supported everywhere, so best effort.
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
