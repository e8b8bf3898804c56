//! Whether two paths name one file, so that an output never replaces one of the command's own
//! inputs (`export RUN --out RUN/last.safetensors` replaced the run's checkpoint, and a figure
//! named like an input photo replaced the photo).

use std::path::Path;
#[cfg(not(unix))]
use std::path::PathBuf;

/// What makes a file itself: its device and inode on Unix (links and `..` lead to the same
/// one), its canonical path elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileId(Id);

#[cfg(unix)]
type Id = (u64, u64);
#[cfg(not(unix))]
type Id = PathBuf;

/// The file `path` names (links followed); `None` when there is none.
pub fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).ok()?;
        Some(FileId((metadata.dev(), metadata.ino())))
    }
    #[cfg(not(unix))]
    {
        path.canonicalize().ok().map(FileId)
    }
}

/// Whether `a` and `b` name the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    file_id(a).is_some_and(|id| file_id(b) == Some(id))
}

/// The first of `inputs` that `output` names, as `(flag, input)`: an output written there would
/// destroy what the command reads.
pub fn output_over_input<'a>(output: &Path, inputs: &[(&'a str, &'a Path)]) -> Option<(&'a str, &'a Path)> {
    let out = file_id(output)?;
    inputs
        .iter()
        .copied()
        .find(|(_, input)| file_id(input).as_ref() == Some(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_by_any_name_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"a").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(same_file(&a, &dir.path().join("sub/../a.png")));
        assert!(!same_file(&a, &b), "equal contents, two files");
        let inputs = [("--image", a.as_path()), ("--other", b.as_path())];
        assert_eq!(output_over_input(&b, &inputs), Some(inputs[1]));
        assert_eq!(output_over_input(&dir.path().join("out.png"), &inputs), None);
        assert!(!same_file(&a, &dir.path().join("missing.png")));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&a, dir.path().join("link.png")).unwrap();
            assert!(same_file(&dir.path().join("link.png"), &a));
        }
        let inputs = [("--vocab", b.as_path()), ("--checkpoint", a.as_path())];
        assert_eq!(
            output_over_input(&a, &inputs),
            Some(("--checkpoint", a.as_path()))
        );
        assert_eq!(output_over_input(&dir.path().join("new.png"), &inputs), None);
    }
}
