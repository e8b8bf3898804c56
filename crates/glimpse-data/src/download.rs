//! `glimpse data flickr8k`: fetches Flickr8k and torchvision's encoder weights from their usual
//! public addresses (or a mirror), resuming partial downloads (with `If-Range`, so a file that
//! changed on the server is fetched whole again), through the proxy the environment names
//! ([`crate::proxy`]), checking digests, and unpacking the archives into the layout
//! `glimpse train --data` reads.
//!
//! Digests: torchvision names its weight files after the first 8 hex digits of their SHA-256
//! and checks that prefix; we check the same. The Flickr8k archives have no published SHA-256
//! (only MD5 sums circulate), so the first download records its SHA-256 in `SHA256SUMS` beside
//! the files and every later download is checked against it; `--sha256 NAME=HEX` pins one.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest as _, Sha256};

use crate::proxy::proxy_for;
pub use crate::unzip::{UnzipLimits, unzip, unzip_with_limits};

const FLICKR8K_BASE: &str = "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k";
const TORCHVISION_BASE: &str = "https://download.pytorch.org/models";
/// How many times a dropped connection is resumed before giving up.
const RETRIES: usize = 3;
const SUMS: &str = "SHA256SUMS";

/// What a file's bytes must hash to.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// The full SHA-256 in hex.
    Sha256(String),
    /// A prefix of the SHA-256 (torchvision's file-name convention).
    Sha256Prefix(String),
    /// Nothing published: trust on first download, recorded in `SHA256SUMS`.
    Recorded,
}

#[derive(Debug, Clone)]
pub struct RemoteFile {
    /// Where it is saved, relative to the destination folder.
    pub path: String,
    pub url: String,
    pub expected: Expected,
    /// Unpack this zip archive into the destination folder after checking it.
    pub unzip: bool,
}

/// Flickr8k's two archives and, with `weights`, torchvision's ResNet-50 and MobileNetV2.
pub fn flickr8k_files(mirror: Option<&str>, weights: bool) -> Vec<RemoteFile> {
    let at = |base: &str, name: &str| format!("{}/{name}", mirror.unwrap_or(base).trim_end_matches('/'));
    let mut files = vec![
        RemoteFile {
            path: "Flickr8k_text.zip".into(),
            url: at(FLICKR8K_BASE, "Flickr8k_text.zip"),
            expected: Expected::Recorded,
            unzip: true,
        },
        RemoteFile {
            path: "Flickr8k_Dataset.zip".into(),
            url: at(FLICKR8K_BASE, "Flickr8k_Dataset.zip"),
            expected: Expected::Recorded,
            unzip: true,
        },
    ];
    if weights {
        for (name, prefix) in [
            ("resnet50-0676ba61.pth", "0676ba61"),
            ("mobilenet_v2-b0353104.pth", "b0353104"),
        ] {
            files.push(RemoteFile {
                path: format!("weights/{name}"),
                url: at(TORCHVISION_BASE, name),
                expected: Expected::Sha256Prefix(prefix.into()),
                unzip: false,
            });
        }
    }
    files
}

/// Downloads (or finds already downloaded), checks and unpacks every file.
pub fn fetch_all(files: &[RemoteFile], dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let mut sums = read_sums(dir)?;
    for file in files {
        let path = fetch(file, dir, &mut sums)?;
        if file.unzip
            && let Err(error) = unzip(&path, dir)
        {
            return Err(unreadable_archive(file, &path, dir, &mut sums, error));
        }
    }
    Ok(())
}

/// An archive that does not unpack. A checksum Glimpse recorded for it (none was published) is
/// forgotten: pinned, a bad file was "already downloaded" on every later run and failed the
/// same way. The error says which file to delete.
fn unreadable_archive(
    file: &RemoteFile,
    path: &Path,
    dir: &Path,
    sums: &mut BTreeMap<String, String>,
    error: anyhow::Error,
) -> anyhow::Error {
    if file.expected == Expected::Recorded
        && sums.remove(&file.path).is_some()
        && let Err(e) = write_sums(dir, sums)
    {
        return e;
    }
    anyhow!(
        "{error:#}; delete {} and run again to download it afresh",
        glimpse_files::shown(path)
    )
}

fn read_sums(dir: &Path) -> Result<BTreeMap<String, String>> {
    let path = dir.join(SUMS);
    let text =
        match glimpse_files::read_regular_to_string(&path, glimpse_files::caps::CONFIG, "checksum list") {
            Ok(text) => text,
            Err(e) if e.is_not_found() => return Ok(BTreeMap::new()),
            Err(e) => return Err(e.into()),
        };
    let mut sums = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (hex, name) = line
            .split_once("  ")
            .ok_or_else(|| anyhow!("{}:{}: expected `SHA256  name`", path.display(), index + 1))?;
        sums.insert(name.trim().to_string(), hex.trim().to_lowercase());
    }
    Ok(sums)
}

fn write_sums(dir: &Path, sums: &BTreeMap<String, String>) -> Result<()> {
    let text: String = sums
        .iter()
        .map(|(name, hex)| format!("{hex}  {name}\n"))
        .collect();
    glimpse_files::write_replacing(&dir.join(SUMS), text.as_bytes())?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let (mut file, _) = glimpse_files::open_regular(path, "download")?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks `path` against what is expected (or recorded); records a first download.
fn verify(file: &RemoteFile, path: &Path, dir: &Path, sums: &mut BTreeMap<String, String>) -> Result<()> {
    let actual = sha256_file(path)?;
    let recorded = sums.get(&file.path).cloned();
    let expected = match (&file.expected, recorded) {
        (Expected::Sha256(hex), _) => Some(hex.to_lowercase()),
        (Expected::Sha256Prefix(prefix), _) => {
            if actual.starts_with(&prefix.to_lowercase()) {
                None
            } else {
                Some(format!("{prefix}…"))
            }
        }
        (Expected::Recorded, Some(hex)) => Some(hex),
        (Expected::Recorded, None) => None,
    };
    if let Some(expected) = expected
        && expected != actual
    {
        bail!(
            "{}: SHA-256 mismatch: expected {expected}, got {actual} (from {}); the file is corrupt or not the published one, so it was removed — run again to download it afresh",
            file.path,
            file.url
        );
    }
    if file.expected == Expected::Recorded && !sums.contains_key(&file.path) {
        eprintln!("{}: no published SHA-256; recorded {actual} in {SUMS}", file.path);
    }
    sums.insert(file.path.clone(), actual);
    write_sums(dir, sums)
}

/// Downloads one file into `dir` unless it is already there and checks out.
pub fn fetch(file: &RemoteFile, dir: &Path, sums: &mut BTreeMap<String, String>) -> Result<PathBuf> {
    let target = dir.join(&file.path);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    if target.is_file() {
        match verify(file, &target, dir, sums) {
            Ok(()) => {
                eprintln!("{}: already downloaded", file.path);
                return Ok(target);
            }
            Err(e) => {
                fs::remove_file(&target)?;
                return Err(e);
            }
        }
    }
    let partial = PathBuf::from(format!("{}.part", target.display()));
    let mut attempt = 0;
    loop {
        match download_into(&file.url, &partial, &file.path) {
            Ok(()) => break,
            Err(DownloadError::Retryable(message)) if attempt < RETRIES => {
                attempt += 1;
                // The message holds the URL, which may be the user's --mirror: escaped.
                let message = glimpse_files::terminal_safe(&message);
                eprintln!("{}: {message}; resuming (try {attempt} of {RETRIES})", file.path);
                std::thread::sleep(Duration::from_millis(200 * attempt as u64));
            }
            Err(DownloadError::Retryable(message)) => bail!(
                "{}: {message}; gave up after {RETRIES} retries; run again to resume from the {} bytes kept in {}",
                file.path,
                fs::metadata(&partial).map(|m| m.len()).unwrap_or(0),
                partial.display()
            ),
            Err(DownloadError::Fatal(error)) => return Err(error),
        }
    }
    if let Err(e) = verify(file, &partial, dir, sums) {
        fs::remove_file(&partial)?;
        let _ = fs::remove_file(validator_path(&partial));
        return Err(e);
    }
    fs::rename(&partial, &target)?;
    let _ = fs::remove_file(validator_path(&partial));
    Ok(target)
}

/// Records the version of the response a partial file starts from (nothing when the server
/// gives none, so the file will not be continued).
fn record_version(partial: &Path, response: &ureq::Response) -> std::result::Result<(), DownloadError> {
    let path = validator_path(partial);
    let version = response
        .header("ETag")
        .or_else(|| response.header("Last-Modified"));
    let written = match version {
        // Created afresh: a link or a FIFO planted at the name is replaced, never written through.
        Some(version) => {
            glimpse_files::create_fresh(&path).and_then(|mut file| file.write_all(version.as_bytes()))
        }
        None => fs::remove_file(&path).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        }),
    };
    written.map_err(|e| DownloadError::Fatal(anyhow!("{}: {e}", path.display())))
}

enum DownloadError {
    /// A dropped connection or a server hiccup: resume.
    Retryable(String),
    Fatal(anyhow::Error),
}

/// The longest version (an `ETag` or a date) read back from beside a partial file.
const MAX_VERSION_BYTES: u64 = 4096;

/// Where the version of a partial file is kept: the `ETag` (or `Last-Modified`) of the response
/// its bytes came from, sent back as `If-Range` so that a file changed on the server since is
/// sent whole instead of appended to.
fn validator_path(partial: &Path) -> PathBuf {
    PathBuf::from(format!("{}.version", partial.display()))
}

/// An agent with timeouts, through the proxy the environment names for `url` ([`proxy_for`]).
fn agent_for(url: &str) -> std::result::Result<ureq::Agent, DownloadError> {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(60));
    if let Some(proxy) = proxy_for(url, |name| std::env::var(name).ok()) {
        if proxy.to_ascii_lowercase().starts_with("socks") {
            return Err(DownloadError::Fatal(anyhow!(
                "proxy `{proxy}` from the environment: SOCKS proxies are not supported; use an HTTP proxy"
            )));
        }
        let parsed = ureq::Proxy::new(&proxy)
            .map_err(|e| DownloadError::Fatal(anyhow!("proxy `{proxy}` from the environment: {e}")))?;
        builder = builder.proxy(parsed);
    }
    Ok(builder.build())
}

fn download_into(url: &str, partial: &Path, label: &str) -> std::result::Result<(), DownloadError> {
    // A version that cannot be read (a FIFO or a device there once hung this or filled memory)
    // is no version.
    let version = glimpse_files::read_regular_to_string(
        &validator_path(partial),
        MAX_VERSION_BYTES,
        "download version",
    )
    .ok();
    // Bytes of unknown version are never continued: without If-Range a changed file would be
    // appended to. Nor are a link's: a fresh download replaces the link, never writes through it.
    let offset = match version {
        Some(_) => fs::symlink_metadata(partial)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len()),
        None => 0,
    };
    let Some(response) = request(url, label, offset, version.as_deref())? else {
        return Ok(());
    };
    // 206: the server continues where we stopped; 200: it sends everything again (the file
    // changed, or the server ignores ranges), whose version is recorded for the next resume.
    let resume = offset > 0 && response.status() == 206;
    let length = content_length(&response, url, label)?;
    let start = if resume { offset } else { 0 };
    let write_error = |e: std::io::Error| DownloadError::Fatal(anyhow!("{}: {e}", partial.display()));
    let mut out = if resume {
        glimpse_files::open_append(partial)
    } else {
        glimpse_files::create_fresh(partial)
    }
    .map_err(write_error)?;
    // Only once the old bytes are gone: a version never labels bytes of another.
    if !resume {
        record_version(partial, &response)?;
    }
    let progress = progress_bar(label, start, length);
    let received = copy_body(response.into_reader(), &mut out, partial, &progress, start)
        .inspect_err(|_| progress.abandon())?;
    out.sync_all().map_err(write_error)?;
    progress.finish_and_clear();
    if start + received == 0 {
        // No archive is empty; kept, its checksum would have been recorded.
        return Err(DownloadError::Fatal(anyhow!("{label}: {url} sent an empty file")));
    }
    if let Some(length) = length
        && received < length
    {
        return Err(DownloadError::Retryable(format!(
            "connection closed after {} of {} bytes",
            start + received,
            start + length
        )));
    }
    Ok(())
}

/// Asks for `url` from byte `offset` on (if the part file's `version` still holds); `None` when
/// the part file already holds everything.
fn request(
    url: &str,
    label: &str,
    offset: u64,
    version: Option<&str>,
) -> std::result::Result<Option<ureq::Response>, DownloadError> {
    let mut request = agent_for(url)?.get(url);
    if let (true, Some(version)) = (offset > 0, version) {
        request = request
            .set("Range", &format!("bytes={offset}-"))
            .set("If-Range", version.trim());
    }
    match request.call() {
        // ureq returns 1xx–3xx as answers: 204, 304 or a redirect it did not follow has no
        // file in its body, which was kept as the download.
        Ok(response) if response.status() == 200 || (offset > 0 && response.status() == 206) => {
            Ok(Some(response))
        }
        Ok(response) => Err(DownloadError::Fatal(anyhow!(
            "{label}: {url} answered HTTP {}, not the file (200{})",
            response.status(),
            if offset > 0 { " or 206" } else { "" }
        ))),
        Err(ureq::Error::Status(416, _)) if offset > 0 => Ok(None),
        Err(ureq::Error::Status(code, _)) if code >= 500 => Err(DownloadError::Retryable(format!(
            "server error {code} from {url}"
        ))),
        Err(ureq::Error::Status(code, _)) => Err(DownloadError::Fatal(anyhow!(
            "{label}: {url} answered HTTP {code}"
        ))),
        Err(ureq::Error::Transport(t)) => Err(DownloadError::Retryable(format!("cannot reach {url}: {t}"))),
    }
}

/// The body's length when the server gives one; one it gives but that is not a number is an
/// error (a body of 0 bytes was accepted as the file under an unreadable length).
fn content_length(
    response: &ureq::Response,
    url: &str,
    label: &str,
) -> std::result::Result<Option<u64>, DownloadError> {
    let Some(value) = response.header("Content-Length") else {
        return Ok(None);
    };
    value.trim().parse().map(Some).map_err(|_| {
        DownloadError::Fatal(anyhow!(
            "{label}: {url} answered with an unreadable Content-Length `{}`",
            glimpse_files::terminal_safe(value)
        ))
    })
}

/// A bar from `start` to the whole length when the server says it, else a spinner.
fn progress_bar(label: &str, start: u64, length: Option<u64>) -> ProgressBar {
    let progress = match length {
        Some(length) => ProgressBar::new(start + length).with_style(
            ProgressStyle::with_template("{prefix} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner(),
    };
    progress.set_prefix(label.to_string());
    progress.set_position(start);
    progress
}

/// Copies the response body into `out`, the file `partial`, which already holds `start` bytes;
/// the bytes copied.
fn copy_body(
    mut reader: impl Read,
    out: &mut fs::File,
    partial: &Path,
    progress: &ProgressBar,
    start: u64,
) -> std::result::Result<u64, DownloadError> {
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = reader.read(&mut buffer).map_err(|e| {
            DownloadError::Retryable(format!(
                "connection dropped after {} bytes ({e})",
                start + received
            ))
        })?;
        if n == 0 {
            return Ok(received);
        }
        out.write_all(&buffer[..n])
            .map_err(|e| DownloadError::Fatal(anyhow!("{}: {e}", partial.display())))?;
        received += n as u64;
        progress.inc(n as u64);
    }
}
