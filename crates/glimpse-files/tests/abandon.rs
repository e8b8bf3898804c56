//! [`abandon_staged`] ends the process's staging for good, so it runs in a test binary of its
//! own.

use std::io::Write;

use glimpse_files::{PinnedFolder, Staged, StagedInFolder, abandon_staged, write_atomically};

#[cfg(unix)]
#[test]
fn abandoning_removes_every_temporary_file_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = ["model.safetensors", "vocab.json"].map(|name| dir.path().join(name));
    let mut staged = outputs.each_ref().map(|output| Staged::beside(output).unwrap());
    staged[0].file().write_all(b"half a bundle").unwrap();
    let paths = staged.each_ref().map(|s| s.path().to_path_buf());
    // One in a pinned folder (a feature cache's), whose folder was swapped for a link since:
    // removed where it was made.
    let pinned = PinnedFolder::open(dir.path()).unwrap().child("cache").unwrap();
    let mut in_folder = StagedInFolder::new(&pinned, "a.f16").unwrap();
    in_folder.file().write_all(b"features").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::rename(dir.path().join("cache"), elsewhere.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("cache")).unwrap();
    abandon_staged();
    assert!(paths.iter().all(|path| !path.exists()));
    assert_eq!(
        std::fs::read_dir(elsewhere.path().join("moved")).unwrap().count(),
        0
    );
    // Dropped afterwards (the interrupted writer), nothing is disturbed.
    drop((staged, in_folder, pinned));
    std::fs::remove_file(dir.path().join("cache")).unwrap();
    let refused = write_atomically(&outputs[0], b"bundle").unwrap_err();
    assert_eq!(refused.error.kind(), std::io::ErrorKind::Interrupted);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
