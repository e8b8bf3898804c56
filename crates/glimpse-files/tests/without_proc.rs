//! A pinned folder keeps its files where `/proc` is hidden, as in some sandboxes (hostile round
//! 15's F3: reaching the folder as `/proc/self/fd/N` lost the protection there). The swap below
//! runs again in a child whose mount namespace has an empty `/proc`; in a test binary of its
//! own, since children started beside the lock tests held their locks a moment too long.
#![cfg(target_os = "linux")]

use std::fs;
use std::io::Write;
use std::process::Command;

use glimpse_files::{PinnedFolder, StagedInFolder, remove_every_staged_leftover};

/// Set in the child, where `/proc` is hidden.
const HIDDEN: &str = "GLIMPSE_TEST_PROC_HIDDEN";

/// Where mount namespaces are forbidden (some containers), set to skip the run without `/proc`.
const NO_NAMESPACES: &str = "GLIMPSE_TEST_NO_NAMESPACES";

/// The cache folder renamed away and replaced by a link to another once pinned: the writes,
/// the reads and the clearing of killed runs' temporary files stay in it.
#[test]
fn a_folder_swapped_for_a_link_keeps_its_files() {
    if std::env::var_os(HIDDEN).is_some() {
        assert!(fs::metadata("/proc/self").is_err(), "/proc is not hidden");
    }
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let planted = elsewhere.path().join(".a.f16.0123456789abcdef.glimpse-tmp");
    fs::write(&planted, b"keep").unwrap();
    fs::write(elsewhere.path().join("b.f16"), b"theirs").unwrap();
    let cache = PinnedFolder::open(root.path()).unwrap().child("cache").unwrap();
    fs::write(root.path().join("cache/b.f16"), b"mine").unwrap();
    let killed = ".b.f16.0123456789abcdef.glimpse-tmp";
    fs::write(root.path().join("cache").join(killed), b"half").unwrap();
    fs::rename(root.path().join("cache"), root.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), root.path().join("cache")).unwrap();

    let mut staged = StagedInFolder::new(&cache, "a.f16").unwrap();
    staged.file().write_all(b"features").unwrap();
    staged.place().unwrap();
    assert_eq!(remove_every_staged_leftover(&cache).unwrap(), 1);
    assert!(!root.path().join("moved").join(killed).exists());
    assert_eq!(
        cache.read_regular("b.f16", 10, "feature cache file").unwrap(),
        b"mine"
    );
    assert_eq!(cache.regular_len("a.f16").unwrap(), Some(8));
    assert_eq!(fs::read(root.path().join("moved/a.f16")).unwrap(), b"features");
    assert_eq!(fs::read(&planted).unwrap(), b"keep");
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 2);
    // Messages name the folder by its own path.
    let error = cache.read_regular("c.f16", 10, "feature cache file").unwrap_err();
    let own = root.path().join("cache/c.f16");
    assert!(
        error.to_string().starts_with(&format!("{}: ", own.display())),
        "{error}"
    );
}

#[test]
fn a_folder_swapped_for_a_link_keeps_its_files_without_proc() {
    if std::env::var_os(HIDDEN).is_some() {
        return;
    }
    if std::env::var_os(NO_NAMESPACES).is_some() {
        eprintln!("{NO_NAMESPACES} is set: the run without /proc is skipped");
        return;
    }
    let hide = r#"mount -t tmpfs none /proc && exec timeout 60 "$@""#;
    let unshare = |flag: &str| {
        let mut command = Command::new("unshare");
        command.args([flag, "sh", "-c", hide, "sh"]).env(HIDDEN, "1");
        command
    };
    // As root `-m` is enough; elsewhere a user namespace (`-r`) may allow the mount.
    let flag = ["-m", "-rm"].into_iter().find(|flag| {
        unshare(flag)
            .arg("true")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(flag) = flag else {
        panic!(
            "`unshare -m` cannot hide /proc here; set {NO_NAMESPACES}=1 where mount namespaces are forbidden"
        );
    };
    let test = std::env::current_exe().unwrap();
    let hidden = unshare(flag)
        .arg(test)
        .args(["--exact", "a_folder_swapped_for_a_link_keeps_its_files"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&hidden.stdout);
    let complained = String::from_utf8_lossy(&hidden.stderr);
    assert!(hidden.status.success(), "{said}{complained}");
    assert!(said.contains("1 passed"), "{said}");
}
