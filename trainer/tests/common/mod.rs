//! Helpers shared by the integration tests that drive the `glimpse` binary.
#![allow(dead_code)] // each test file uses its own subset

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const GLIMPSE: &str = env!("CARGO_BIN_EXE_glimpse");

/// Runs `glimpse ARGS`.
pub fn glimpse<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(GLIMPSE).args(args).output().expect("glimpse runs")
}

/// Runs `glimpse ARGS` with the environment variables `env`, failing the test if it has not
/// finished within `seconds` (it is killed then): hostile files must never make it hang.
/// Output goes to files rather than pipes, so a chatty command cannot block on a full pipe.
pub fn glimpse_within<S: AsRef<OsStr>>(seconds: u64, env: &[(&str, &str)], args: &[S]) -> Output {
    let mut command = Command::new(GLIMPSE);
    command.args(args).envs(env.iter().copied());
    within(seconds, command, args)
}

/// [`glimpse_within`] without environment variables, under an address-space limit of
/// `kib` KiB (`ulimit -v`), as the independent campaign runs it.
pub fn glimpse_within_address_space<S: AsRef<OsStr>>(seconds: u64, kib: u64, args: &[S]) -> Output {
    glimpse_within_ulimit(seconds, ("-v", kib), args)
}

/// [`glimpse_within`] without environment variables, under the shell's `ulimit FLAG VALUE`.
pub fn glimpse_within_ulimit<S: AsRef<OsStr>>(
    seconds: u64,
    (flag, value): (&str, u64),
    args: &[S],
) -> Output {
    let mut command = Command::new("sh");
    let script = format!("ulimit {flag} \"$0\" && exec \"$@\"");
    command
        .args(["-c", &script, &value.to_string(), GLIMPSE])
        .args(args);
    within(seconds, command, args)
}

/// Runs `command` (`glimpse ARGS`), killing it and failing the test after `seconds`.
fn within<S: AsRef<OsStr>>(seconds: u64, mut command: Command, args: &[S]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("glimpse runs");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "glimpse {:?} still running after {seconds} s: it hangs",
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy())
                    .collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: fs::read(&out_path).unwrap(),
        stderr: fs::read(&err_path).unwrap(),
    }
}

/// Runs `glimpse ARGS`, requires success, returns stdout.
pub fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    let output = glimpse(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "glimpse {shown:?} failed:\n{stdout}\n{stderr}"
    );
    stdout.into_owned()
}

/// Asserts that a `glimpse` run failed and that its stderr says `needle`.
pub fn fails_saying(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded, expected: {needle}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

/// The PyTorch fixtures (tests/fixtures/torch): the notebook's and sgrvinod's checkpoints.
pub fn torch_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/torch")
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The real files tests/setup-assets.sh fetches.
pub fn assets() -> PathBuf {
    let dir = std::env::var_os("GLIMPSE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.assets"));
    assert!(
        dir.join("mobilenet_v2-b0353104.pth").exists(),
        "test assets missing in {}: run tests/setup-assets.sh (README's test command does)",
        dir.display()
    );
    dir
}

pub fn synth(dir: &Path, images: usize, seed: u64) {
    ok(&[
        "synth",
        dir.to_str().unwrap(),
        "--images",
        &images.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
}

/// A small model on a random frozen ResNet-18 at 64×64 (a 2×2 grid): seconds per epoch.
pub fn tiny_config(dir: &Path, overrides: serde_json::Value) -> PathBuf {
    let mut config = serde_json::json!({"encoder": "resnet18", "input_size": 64, "embed_dim": 32,
        "attention_dim": 32, "decoder_dim": 64, "batch_size": 16, "min_word_count": 1,
        "decoder_lr": 0.003, "seed": 5});
    for (key, value) in overrides.as_object().unwrap() {
        config[key] = value.clone();
    }
    let path = dir.join("config.json");
    fs::write(&path, config.to_string()).unwrap();
    path
}

/// `train --data DATA --out RUN --config CONFIG EXTRA...`.
pub fn train_args(data: &Path, run: &Path, config: &Path, extra: &[&str]) -> Vec<String> {
    let paths = [data, run, config].map(|p| p.to_str().unwrap());
    let fixed = [
        "train", "--data", paths[0], "--out", paths[1], "--config", paths[2],
    ];
    fixed.iter().chain(extra).map(|a| a.to_string()).collect()
}

#[allow(unused_imports)] // not every test binary makes one
pub use glimpse_files::testing::mkfifo;

/// A folder held by another process until dropped: util-linux `flock` takes the same
/// `flock(2)` lock on the folder's lock file that glimpse takes. Held in a child rather than
/// here because every child another test thread spawns while a lock is open here shares it
/// until that child execs, so a lock dropped here may still be held for a moment after.
pub struct HeldByAnotherProcess {
    flock: std::process::Child,
}

impl HeldByAnotherProcess {
    /// Holds `dir`, returning once the lock is taken.
    pub fn new(dir: &Path) -> Self {
        use std::io::BufRead;
        let mut flock = Command::new("flock")
            .arg("--nonblock")
            .arg(dir.join(glimpse_files::LOCK_FILE))
            .args(["-c", "echo held && exec cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("util-linux flock runs");
        let mut said = String::new();
        let stdout = flock.stdout.take().unwrap();
        std::io::BufReader::new(stdout).read_line(&mut said).unwrap();
        assert_eq!(said, "held\n", "flock did not take {}", dir.display());
        HeldByAnotherProcess { flock }
    }
}

impl Drop for HeldByAnotherProcess {
    /// Releases the lock: `cat` ends with its input, and `flock` with it.
    fn drop(&mut self) {
        drop(self.flock.stdin.take());
        let _ = self.flock.wait();
    }
}
