//! Paths named inside data files (a Karpathy `filepath`, an image name in `captions.txt`), joined
//! to the folder they belong in without ever leaving it.
//!
//! The check is on the name as written: an absolute path, a Windows drive or root, or a `..`
//! anywhere is refused. Symbolic links inside the folder are followed as the file system
//! follows them: they are placed by the folder's owner (linking a large image folder in is
//! common), while the names checked here travel inside downloaded files.

use std::path::{Component, Path, PathBuf};

use crate::terminal::shown;

/// A name that would lead outside its folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("`{}` is an absolute path; paths in data files must be relative to the data folder", shown(.0))]
    Absolute(PathBuf),
    #[error("`{}` contains `..`; paths in data files must stay inside the data folder", shown(.0))]
    Parent(PathBuf),
    #[error("`{}` names no file", shown(.0))]
    Empty(PathBuf),
}

/// `root` joined with `relative`, when `relative` stays inside `root`.
pub fn confined(root: &Path, relative: &Path) -> Result<PathBuf, PathError> {
    let mut names = 0;
    for component in relative.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => {
                return Err(PathError::Absolute(relative.to_path_buf()));
            }
            Component::ParentDir => return Err(PathError::Parent(relative.to_path_buf())),
            Component::CurDir => {}
            Component::Normal(_) => names += 1,
        }
    }
    if names == 0 {
        return Err(PathError::Empty(relative.to_path_buf()));
    }
    Ok(root.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_stay_inside() {
        let root = Path::new("/data");
        assert_eq!(
            confined(root, Path::new("train2014/a.jpg")).unwrap(),
            Path::new("/data/train2014/a.jpg")
        );
        assert_eq!(
            confined(root, Path::new("./a.jpg")).unwrap(),
            Path::new("/data/./a.jpg")
        );
    }

    #[test]
    fn escapes_are_refused() {
        let root = Path::new("/data");
        assert_eq!(
            confined(root, Path::new("/etc/passwd")).unwrap_err().to_string(),
            "`/etc/passwd` is an absolute path; paths in data files must be relative to the data folder"
        );
        assert_eq!(
            confined(root, Path::new("images/../../secret.jpg")).unwrap_err(),
            PathError::Parent("images/../../secret.jpg".into())
        );
        assert_eq!(
            confined(root, Path::new("..")).unwrap_err(),
            PathError::Parent("..".into())
        );
        assert_eq!(
            confined(root, Path::new("")).unwrap_err(),
            PathError::Empty("".into())
        );
        assert_eq!(
            confined(root, Path::new(".")).unwrap_err(),
            PathError::Empty(".".into())
        );
    }
}
