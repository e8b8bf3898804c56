//! Times every input of the committed corpus (or of the named folders, each named after its
//! target) through its target in a release build and prints the slowest, and the process's
//! peak memory: the measured form of README's "any file, within T seconds and M bytes".
//!
//! `cargo run --release -p glimpse-fuzz --example slowest [-- $FUZZ_WORK/corpus/image …]`

use std::path::{Path, PathBuf};
use std::time::Instant;
use std::{env, fs};

use glimpse_fuzz::corpus::Inputs;
use glimpse_fuzz::{Target, corpus};

fn main() {
    let dirs: Vec<PathBuf> = env::args().skip(1).map(PathBuf::from).collect();
    let sets: Vec<(Target, Inputs)> = if dirs.is_empty() {
        Target::ALL
            .iter()
            .map(|&t| (t, corpus::read(t).unwrap()))
            .collect()
    } else {
        dirs.iter().map(|dir| (target_of(dir), files(dir))).collect()
    };
    for (target, inputs) in sets {
        let mut times: Vec<(f64, String)> = inputs
            .into_iter()
            .map(|(name, data)| {
                let started = Instant::now();
                target.run(&data);
                (started.elapsed().as_secs_f64(), name)
            })
            .collect();
        times.sort_by(|a, b| b.0.total_cmp(&a.0));
        let total: f64 = times.iter().map(|t| t.0).sum();
        println!("{} ({} inputs, {total:.1} s in all):", target.name(), times.len());
        for (seconds, name) in times.iter().take(3) {
            println!("  {seconds:8.3} s  {name}");
        }
    }
    println!("peak resident memory: {} MiB", peak_rss_kib() / 1024);
}

fn target_of(dir: &Path) -> Target {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    *Target::ALL
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("{}: not named after a target", dir.display()))
}

fn files(dir: &Path) -> Inputs {
    let mut files: Inputs = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `VmHWM` of /proc/self/status: the most resident memory the process has held.
fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
