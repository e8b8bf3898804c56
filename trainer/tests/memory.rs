//! Memory tests that each need a process of their own, so this binary runs without the test
//! harness (which would run other tests beside them):
//! - A command's peak memory is read from `wait4`, which also counts the memory this process
//!   holds when it forks (see [`glimpse_peak_memory`]): among the hostile tests, whose other
//!   tests build large inputs in the same process, that was 118–138 MB in 3 of 5 runs, and the
//!   measurement refused to run. It runs first here, while the process is small.
//! - `keep_freed_memory` keeps a large buffer's pages in the process after it is freed, so the
//!   next training step reuses them instead of faulting in fresh zeroed pages (glibc only). The
//!   setting is process-wide, and it applies to the main thread's heap (glibc still maps a
//!   thread's largest buffers on their own).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GLIMPSE: &str = env!("CARGO_BIN_EXE_glimpse");
/// Seconds a command may run before the test calls it a hang.
const PROMPT: u64 = 120;

/// The process's resident memory in bytes (`/proc/self/statm`, second field, in pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf only reads a system parameter.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    scoring_references_of_distinct_words_takes_memory_in_proportion_to_them();
    println!("test scoring_references_of_distinct_words_takes_memory_in_proportion_to_them ... ok");
    a_colour_profile_bomb_is_captioned_in_bounded_memory();
    println!("test a_colour_profile_bomb_is_captioned_in_bounded_memory ... ok");
    a_batch_of_large_photos_is_captioned_holding_one_photo_at_a_time();
    println!("test a_batch_of_large_photos_is_captioned_holding_one_photo_at_a_time ... ok");
    a_freed_large_buffer_stays_resident_for_reuse();
    println!("test a_freed_large_buffer_stays_resident_for_reuse ... ok");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_freed_large_buffer_stays_resident_for_reuse() {
    const SIZE: usize = 256 << 20;
    glimpse::memory::keep_freed_memory();
    let before = resident_bytes();
    let buffer = std::hint::black_box(vec![1u8; SIZE]); // every page written
    let holding = resident_bytes();
    drop(buffer);
    let after = resident_bytes();
    assert!(holding - before >= (SIZE as u64) * 9 / 10, "{before} → {holding}");
    // glibc's default would unmap it here and the resident size would fall back by SIZE.
    assert!(
        after + (16 << 20) >= holding,
        "freed pages went back: {holding} → {after}"
    );
}

/// A Flickr8k-layout folder with one image of `references` references of `words` words each,
/// no two words alike (`b`, `c`, … `ab`, `bb`, …: letters only, so each is one token), written
/// as it is made so that the test process stays small (what it holds counts in its child's peak).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn distinct_word_references(data: &Path, references: usize, words: usize) {
    use std::io::Write as _;
    fs::create_dir_all(data.join("Images")).unwrap();
    fs::write(data.join("Images/a.jpg"), b"").unwrap();
    let mut file = std::io::BufWriter::new(fs::File::create(data.join("Flickr8k.token.txt")).unwrap());
    let mut next = 0usize;
    for i in 0..references {
        write!(file, "a.jpg#{i}\t").unwrap();
        for k in 0..words {
            next += 1;
            let mut n = next;
            while n > 0 {
                file.write_all(&[b'a' + (n % 26) as u8]).unwrap();
                n /= 26;
            }
            file.write_all(if k + 1 == words { b"\n" } else { b" " }).unwrap();
        }
    }
    file.flush().unwrap();
    fs::write(data.join("Flickr_8k.testImages.txt"), "a.jpg\n").unwrap();
    for split in ["train", "dev"] {
        fs::write(data.join(format!("Flickr_8k.{split}Images.txt")), "").unwrap();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn scoring_references_of_distinct_words_takes_memory_in_proportion_to_them() {
    // One image with 20,000 references of 40 words, all 800,000 words distinct (a 5 MB file):
    // scoring them took 486 MB when CIDEr held its n-gram sets and every length's frequencies
    // at once and BLEU interned every word of the set; 129 MB since. (At the dataset's budget of
    // 16 million distinct words `compare` took 9.7 GB; now 2.5 GB, 1.9 GB of it the dataset.)
    const LIMIT: u64 = 250 << 20;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    distinct_word_references(&data, 20_000, 40);
    let captions = dir.path().join("captions.json");
    fs::write(&captions, r#"{"a.jpg": "a dog on the grass"}"#).unwrap();
    let set = format!("x={}", captions.display());
    let args = ["compare", "--data", data.to_str().unwrap(), &set];
    let (stderr, succeeded, peak) = glimpse_peak_memory(PROMPT, LIMIT, &args);
    assert!(succeeded, "{stderr}");
    assert!(peak < LIMIT, "scoring took {} MB", peak >> 20);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_colour_profile_bomb_is_captioned_in_bounded_memory() {
    // A 64×64 PNG whose colour profile inflates to 400 MB (0.4 MB in the file): png inflated it
    // within image's default allocation limit of 512 MiB (568 MB for a 1 GiB one); now within
    // the 64 MiB that reading a header may take, after which the profile is dropped.
    use image::ImageEncoder;
    use image::codecs::png::PngEncoder;
    const LIMIT: u64 = 250 << 20;
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("profile-bomb.png");
    let mut bytes = Vec::new();
    let mut encoder = PngEncoder::new(&mut bytes);
    // Zeroed pages that are only read stay unmapped: the test process does not grow by 400 MB.
    encoder.set_icc_profile(vec![0; 400 << 20]).unwrap();
    let pixels: Vec<u8> = (0..64 * 64 * 3).map(|i| (i % 251) as u8).collect();
    encoder
        .write_image(&pixels, 64, 64, image::ExtendedColorType::Rgb8)
        .unwrap();
    fs::write(&photo, &bytes).unwrap();
    drop(bytes);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models/default.safetensors");
    let args = [
        OsStr::new("caption"),
        OsStr::new("--model"),
        model.as_os_str(),
        photo.as_os_str(),
    ];
    let (stderr, succeeded, peak) = glimpse_peak_memory(PROMPT, LIMIT, &args);
    assert!(succeeded, "{stderr}");
    assert!(peak < LIMIT, "captioning took {} MB", peak >> 20);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_batch_of_large_photos_is_captioned_holding_one_photo_at_a_time() {
    // A batch kept each photo whole until it was captioned: 64 phone photos of 48 MP held
    // 7.9 GB and aborted (hostile round 22). Here 16 of 12 MP (36 MB each decoded, 576 MB held
    // together), with their attention figures, which take each photo at its panel's size.
    const LIMIT: u64 = 300 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = (4000u32, 3000u32);
    let photo = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let first = dir.path().join("photo-0.png");
    photo.save(&first).unwrap();
    drop(photo);
    let mut photos = vec![first.clone()];
    for i in 1..16 {
        let copy = dir.path().join(format!("photo-{i}.png"));
        fs::copy(&first, &copy).unwrap();
        photos.push(copy);
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/models/default.safetensors");
    let figures = dir.path().join("figures");
    let mut args = vec![OsStr::new("caption"), OsStr::new("--model"), model.as_os_str()];
    args.extend([
        OsStr::new("--batch"),
        OsStr::new("16"),
        OsStr::new("--attention-png"),
    ]);
    args.push(figures.as_os_str());
    args.extend(photos.iter().map(|p| p.as_os_str()));
    let (stderr, succeeded, peak) = glimpse_peak_memory(PROMPT, LIMIT, &args);
    assert!(succeeded, "{stderr}");
    assert!(peak < LIMIT, "captioning took {} MB", peak >> 20);
    assert_eq!(fs::read_dir(&figures).unwrap().count(), 16);
}

/// Runs `glimpse ARGS` (stdout discarded) within `seconds` and returns its stderr, whether it
/// succeeded, and its peak resident memory in bytes: `ru_maxrss` from `wait4` for that child.
/// Linux starts an exec'd process's figure at the high-water mark of the memory it replaces:
/// spawned with posix_spawn, that is the test process's whole peak (134 MB, its binary's pages
/// included); forked, only the anonymous pages it copied. So this forks (a `pre_exec` hook does),
/// and checks that those stay under a quarter of `limit`: a figure under `limit` is the child's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glimpse_peak_memory<S: AsRef<OsStr>>(seconds: u64, limit: u64, args: &[S]) -> (String, bool, u64) {
    use std::os::unix::process::CommandExt as _;
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let own = anonymous_resident_bytes();
    assert!(own < limit / 4, "the test process holds {} MB", own >> 20);
    let mut command = Command::new(GLIMPSE);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_path).unwrap());
    // SAFETY: the hook does nothing; its presence makes std fork instead of posix_spawn.
    unsafe { command.pre_exec(|| Ok(())) };
    // Reaped by wait4 below: std's wait does not give the child's rusage.
    #[allow(clippy::zombie_processes)]
    let mut child = command.spawn().expect("glimpse runs");
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value; wait4 fills it when it reaps our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits without blocking for our own child, by the pid Command gave us.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break;
        }
        assert!(reaped == 0 || std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted);
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("glimpse still running after {seconds} s: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let succeeded = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let peak = u64::try_from(usage.ru_maxrss).unwrap() * 1024;
    (fs::read_to_string(&err_path).unwrap(), succeeded, peak)
}

/// This process's anonymous resident memory (`RssAnon` of /proc/self/status), in bytes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn anonymous_resident_bytes() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}
