//! [`abandon_staged`] ends the process's staging for good, so it runs in a test binary of its
//! own.

use std::io::Write;

use glimpse_files::{Staged, abandon_staged, write_atomically};

#[test]
fn abandoning_removes_every_temporary_file_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = ["model.safetensors", "vocab.json"].map(|name| dir.path().join(name));
    let mut staged = outputs.each_ref().map(|output| Staged::beside(output).unwrap());
    staged[0].file().write_all(b"half a bundle").unwrap();
    let paths = staged.each_ref().map(|s| s.path().to_path_buf());
    abandon_staged();
    assert!(paths.iter().all(|path| !path.exists()));
    // Dropped afterwards (the interrupted writer), nothing is disturbed.
    drop(staged);
    let refused = write_atomically(&outputs[0], b"bundle").unwrap_err();
    assert_eq!(refused.error.kind(), std::io::ErrorKind::Interrupted);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
