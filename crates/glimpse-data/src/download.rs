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
//!
//! What a mirror may send is bounded (`download/body.rs`): each file has a cap, and a download
//! bringing less than [`StallRule`]'s bytes in its window stops. A folder is held by one run at
//! a time (two runs into one folder replaced each other's partial files).

mod body;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::{Engine as _, prelude::BASE64_STANDARD};
use glimpse_files::caps::human;
use glimpse_files::{hold_folder, note, shown, terminal_safe};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest as _, Sha256};

use crate::proxy::{proxy_credentials, proxy_for, proxy_for_ureq, proxy_shown};
pub use crate::unzip::{InTheWay, UnpackWriteError, UnzipLimits, unzip, unzip_reserving, unzip_with_limits};
pub use body::StallRule;
use body::{BodyError, Meter, copy_body};

const FLICKR8K_BASE: &str = "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k";
const TORCHVISION_BASE: &str = "https://download.pytorch.org/models";
/// How many times a dropped connection is resumed before giving up.
const RETRIES: usize = 3;
const SUMS: &str = "SHA256SUMS";
/// The most bytes `Flickr8k_text.zip` (2.3 MB) may be.
const TEXT_ARCHIVE_CAP: u64 = 64 << 20;
/// The most bytes `Flickr8k_Dataset.zip` (1.1 GB) may be.
const IMAGE_ARCHIVE_CAP: u64 = 4 << 30;

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
    /// The most bytes the file can be (well above its real size): a mirror promising or
    /// sending more is stopped, and its bytes are removed.
    pub max_bytes: u64,
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
            max_bytes: TEXT_ARCHIVE_CAP,
        },
        RemoteFile {
            path: "Flickr8k_Dataset.zip".into(),
            url: at(FLICKR8K_BASE, "Flickr8k_Dataset.zip"),
            expected: Expected::Recorded,
            unzip: true,
            max_bytes: IMAGE_ARCHIVE_CAP,
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
                // (About 100 MB each; `glimpse import` reads no larger weight file.)
                max_bytes: glimpse_files::caps::MODEL,
            });
        }
    }
    files
}

/// Downloads (or finds already downloaded), checks and unpacks every file.
pub fn fetch_all(files: &[RemoteFile], dir: &Path) -> Result<()> {
    fetch_all_with(files, dir, StallRule::default())
}

/// [`fetch_all`] stopping a download that brings less than `stall` allows.
pub fn fetch_all_with(files: &[RemoteFile], dir: &Path, stall: StallRule) -> Result<()> {
    // A FIFO or a device at a download's name was renamed over once the download was done.
    let names: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
    glimpse_files::check_output_folder(dir, &names)?;
    fs::create_dir_all(dir).with_context(|| format!("{}", shown(dir)))?;
    // A second run into the folder replaced the first's partial files under it, and one
    // checked the other's half-written archive.
    let _held = hold_folder(dir)?;
    let mut sums = read_sums(dir)?;
    let owned = owned_paths(files);
    let owned: Vec<&str> = owned.iter().map(String::as_str).collect();
    for file in files {
        let path = fetch(file, dir, &mut sums, stall)?;
        if file.unzip
            && let Err(error) = unzip_reserving(&path, dir, &owned)
        {
            if error
                .chain()
                .any(|cause| cause.is::<UnpackWriteError>() || cause.is::<InTheWay>())
            {
                return Err(error.context(format!(
                    "cannot unpack {} into {}; the archive is kept: make room or fix the folder, and run again",
                    glimpse_files::shown(&path),
                    glimpse_files::shown(dir)
                )));
            }
            return Err(unreadable_archive(file, &path, dir, &mut sums, error));
        }
    }
    Ok(())
}

/// The paths in the folder that a run writes itself, which no archive may hold: each download,
/// its partial file and that file's version, the recorded checksums and the lock. An archive
/// holding the next download was taken for it (and its checksum recorded); one holding its
/// partial file had the download resume from it.
fn owned_paths(files: &[RemoteFile]) -> Vec<String> {
    let mut owned = vec![SUMS.to_string(), glimpse_files::LOCK_FILE.to_string()];
    for file in files {
        let partial = partial_path(Path::new(&file.path));
        for path in [validator_path(&partial), partial] {
            owned.push(path.to_string_lossy().into_owned());
        }
        owned.push(file.path.clone());
    }
    owned
}

/// Where the download to `path` is written until it is whole.
fn partial_path(path: &Path) -> PathBuf {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".part");
    PathBuf::from(partial)
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
    crate::unzip::read_through(&mut file, path, |chunk| hash.update(chunk))?;
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
        note!("{}: no published SHA-256; recorded {actual} in {SUMS}", file.path);
    }
    sums.insert(file.path.clone(), actual);
    write_sums(dir, sums)
}

/// Downloads one file into `dir` unless it is already there and checks out.
pub fn fetch(
    file: &RemoteFile,
    dir: &Path,
    sums: &mut BTreeMap<String, String>,
    stall: StallRule,
) -> Result<PathBuf> {
    let target = dir.join(&file.path);
    if let Some(parent) = Path::new(&file.path).parent() {
        crate::unzip::create_folders(dir, parent, &file.path, "the download")?;
    }
    if target.is_file() {
        return already_there(file, &target, dir, sums);
    }
    let partial = partial_path(&target);
    download_with_retries(file, &partial, stall)?;
    if let Err(e) = verify(file, &partial, dir, sums) {
        remove(&partial)?;
        let _ = fs::remove_file(validator_path(&partial));
        return Err(e);
    }
    fs::rename(&partial, &target)
        .with_context(|| format!("cannot rename {} to {}", shown(&partial), shown(&target)))?;
    let _ = fs::remove_file(validator_path(&partial));
    Ok(target)
}

/// A file from an earlier run: kept if it checks out, else removed (the error says why).
fn already_there(
    file: &RemoteFile,
    target: &Path,
    dir: &Path,
    sums: &mut BTreeMap<String, String>,
) -> Result<PathBuf> {
    match verify(file, target, dir, sums) {
        Ok(()) => {
            note!("{}: already downloaded", file.path);
            Ok(target.to_path_buf())
        }
        Err(e) => {
            remove(target)?;
            Err(e)
        }
    }
}

/// Removes `path`, saying which file could not be removed.
fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).with_context(|| format!("{}: cannot remove", shown(path)))
}

/// Downloads `file` into `partial`, resuming a dropped connection up to [`RETRIES`] times.
fn download_with_retries(file: &RemoteFile, partial: &Path, stall: StallRule) -> Result<()> {
    let mut attempt = 0;
    loop {
        match download_into(file, partial, stall) {
            Ok(()) => return Ok(()),
            Err(DownloadError::Retryable(message)) if attempt < RETRIES => {
                attempt += 1;
                // The message holds the URL, which may be the user's --mirror: escaped.
                let message = glimpse_files::terminal_safe(&message);
                note!("{}: {message}; resuming (try {attempt} of {RETRIES})", file.path);
                std::thread::sleep(Duration::from_millis(200 * attempt as u64));
            }
            Err(DownloadError::Retryable(message)) => match fs::metadata(partial) {
                Ok(kept) => bail!(
                    "{}: {message}; gave up after {RETRIES} retries; run again: it resumes from the {} bytes kept in {} where the server names a version of the file (an ETag or Last-Modified), else starts afresh",
                    file.path,
                    kept.len(),
                    shown(partial)
                ),
                Err(_) => bail!(
                    "{}: {message}; gave up after {RETRIES} retries; run again",
                    file.path
                ),
            },
            Err(DownloadError::Fatal(error)) => return Err(error),
        }
    }
}

/// Records the version of the response a partial file starts from (nothing when the server
/// gives none, so the file will not be continued).
fn record_version(partial: &Path, response: &ureq::Response) -> std::result::Result<(), DownloadError> {
    let path = validator_path(partial);
    let written = match version_of(response) {
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
/// A read waits at most the stall window: nothing in a whole window is a stall.
fn agent_for(url: &str, stall: StallRule) -> std::result::Result<ureq::Agent, DownloadError> {
    let mut builder = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(stall.window);
    if let Some(proxy) = environment_proxy(url)? {
        if proxy.to_ascii_lowercase().starts_with("socks") {
            return Err(unusable_proxy(
                &proxy,
                "SOCKS proxies are not supported; use an HTTP proxy",
            ));
        }
        let decoded = proxy_for_ureq(&proxy).map_err(|why| unusable_proxy(&proxy, why))?;
        // Defensive: ureq 2.12 says only "Malformed proxy", but a message quoting the URL
        // would quote the password.
        let parsed = ureq::Proxy::new(&decoded)
            .map_err(|e| unusable_proxy(&proxy, e.to_string().replace(&decoded, &proxy_shown(&proxy))))?;
        builder = builder.proxy(parsed);
    }
    Ok(builder.build())
}

/// "proxy `…` from the environment: `why`", its password hidden.
fn unusable_proxy(proxy: &str, why: impl std::fmt::Display) -> DownloadError {
    DownloadError::Fatal(anyhow!(
        "proxy `{}` from the environment: {why}",
        terminal_safe(&proxy_shown(proxy))
    ))
}

/// The proxy the environment names for `url` ([`proxy_for`]). A proxy variable that is not
/// UTF-8 is an error: read as unset, it sent downloads around a proxy that may be policy
/// (hostile round 13).
fn environment_proxy(url: &str) -> std::result::Result<Option<String>, DownloadError> {
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"] {
        for name in [name.to_string(), name.to_lowercase()] {
            if std::env::var_os(&name).is_some_and(|value| value.to_str().is_none()) {
                return Err(DownloadError::Fatal(anyhow!(
                    "{name} is not UTF-8 text; fix it or unset it"
                )));
            }
        }
    }
    Ok(proxy_for(url, |name| std::env::var(name).ok()))
}

/// The `Proxy-Authorization` of a plain-http request through the environment's proxy, when that
/// proxy names a user and a password: ureq sends them only in an https request's CONNECT, so an
/// authenticating proxy refused every http download as lacking credentials (hostile round 14).
/// Never for https, where the header would travel through the tunnel to the mirror.
fn proxy_authorization(url: &str) -> std::result::Result<Option<String>, DownloadError> {
    if !url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
    {
        return Ok(None);
    }
    let Some(proxy) = environment_proxy(url)? else {
        return Ok(None);
    };
    let credentials = proxy_credentials(&proxy).map_err(|why| unusable_proxy(&proxy, why))?;
    Ok(credentials.map(|credentials| format!("Basic {}", BASE64_STANDARD.encode(credentials))))
}

/// Why `url` could not be reached, naming the proxy from the environment when one was used (a
/// proxy that refused the connection was reported as the mirror being unreachable), its
/// password hidden wherever it appears.
fn unreachable(url: &str, error: &ureq::Transport) -> String {
    unreachable_through_proxy(url, &error.to_string())
}

/// "cannot reach `url`[ through the proxy …]: `why`", any proxy password in `why` hidden.
fn unreachable_through_proxy(url: &str, why: &str) -> String {
    let why = match environment_proxy(url) {
        Ok(Some(proxy)) => why.replace(&proxy, &proxy_shown(&proxy)),
        _ => why.to_string(),
    };
    format!("cannot reach {url}{}: {why}", via_proxy(url))
}

/// " through the proxy `…` (from the environment)", its password hidden, when one carries the
/// requests for `url`, else nothing: a proxy that took the connection and never answered was
/// reported as the mirror falling silent.
fn via_proxy(url: &str) -> String {
    match environment_proxy(url) {
        Ok(Some(proxy)) => format!(
            " through the proxy `{}` (from the environment)",
            terminal_safe(&proxy_shown(&proxy))
        ),
        _ => String::new(),
    }
}

/// Downloads `file` into `partial`, continuing what it holds when its version still holds.
fn download_into(
    file: &RemoteFile,
    partial: &Path,
    stall: StallRule,
) -> std::result::Result<(), DownloadError> {
    let (offset, version) = partial_state(partial);
    let Some(response) = request(&file.url, &file.path, offset, version.as_deref(), stall)? else {
        return Ok(());
    };
    let job = Job {
        file,
        partial,
        stall,
        source: answered_by(&file.url, response.get_url()),
    };
    // 206: the server continues where we stopped; 200: it sends everything again (the file
    // changed, or the server ignores ranges), whose version is recorded for the next resume.
    let resume = offset > 0 && response.status() == 206;
    if resume {
        job.check_range(&response, offset)?;
    }
    let start = if resume { offset } else { 0 };
    let length = content_length(&response, &job.source, &file.path)?;
    job.check_promise(start, length)?;
    let resumable = resume || (version_of(&response).is_some() && accepts_ranges(&response));
    let mut out = open_partial(partial, resume)?;
    // Only once the old bytes are gone: a version never labels bytes of another.
    if !resume {
        record_version(partial, &response)?;
    }
    let progress = progress_bar(&file.path, start, length);
    let mut meter = Meter::new(stall, file.max_bytes, start);
    let answered = response.get_url().to_string();
    if let Err(error) = copy_body(response.into_reader(), &mut out, &mut meter, &progress) {
        progress.abandon();
        return Err(job.body_failure(error, meter.total, resumable, &answered));
    }
    out.sync_all().map_err(|e| write_error(partial, e))?;
    progress.finish_and_clear();
    job.check_complete(meter.total, start, length)
}

/// How far the partial file from an earlier try gets a download, and the version of its bytes.
fn partial_state(partial: &Path) -> (u64, Option<String>) {
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
    (offset, version)
}

/// The partial file, appended to when the server continues it, else created afresh.
fn open_partial(partial: &Path, resume: bool) -> std::result::Result<fs::File, DownloadError> {
    if resume {
        glimpse_files::open_append(partial)
    } else {
        glimpse_files::create_fresh(partial)
    }
    .map_err(|e| write_error(partial, e))
}

fn write_error(partial: &Path, error: std::io::Error) -> DownloadError {
    DownloadError::Fatal(anyhow!("{}: {error}", shown(partial)))
}

/// The response's version, as [`record_version`] keeps it.
fn version_of(response: &ureq::Response) -> Option<&str> {
    response
        .header("ETag")
        .or_else(|| response.header("Last-Modified"))
}

/// Whether the server says it answers range requests (so a stalled download can continue).
fn accepts_ranges(response: &ureq::Response) -> bool {
    response.header("Accept-Ranges").is_some_and(|units| {
        units
            .split(',')
            .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"))
    })
}

/// One download of a file into its partial file, for the messages that end one.
struct Job<'a> {
    file: &'a RemoteFile,
    partial: &'a Path,
    stall: StallRule,
    /// The URL that answered, for messages ([`answered_by`]).
    source: String,
}

/// `answered`, the URL that answered for `url`, as messages about the answer name it: with
/// where it came from after a redirect (a stall named the first URL, and its proxy, where the
/// host that stalled was reached another way: hostile round 14). Compared as ureq writes URLs
/// (`HTTP://Host:80/x` is `http://host/x`), so a URL never redirected is never said to be.
fn answered_by(url: &str, answered: &str) -> String {
    let written = url::Url::parse(url).map_or_else(|_| url.to_string(), String::from);
    match written == answered {
        true => answered.to_string(),
        false => format!("{answered} (where {url} redirected)"),
    }
}

impl Job<'_> {
    /// A length over the file's cap is refused before a byte is read: whatever the server
    /// would send is not the file.
    fn check_promise(&self, start: u64, length: Option<u64>) -> std::result::Result<(), DownloadError> {
        let Some(whole) = length.map(|length| start.saturating_add(length)) else {
            return Ok(());
        };
        if whole <= self.file.max_bytes {
            return Ok(());
        }
        Err(DownloadError::Fatal(anyhow!(
            "{}: {} promises {whole} bytes, more than {}, the most this file can be: refused before reading ({})",
            self.file.path,
            self.source,
            human(self.file.max_bytes),
            self.discard()
        )))
    }

    /// A 206 answer continues the partial file only if its `Content-Range` starts where the file
    /// ends: one that sent the whole file (or any other part) as the rest had it appended, and
    /// the corrupt archive's checksum recorded (hostile round 11). Else the partial file goes,
    /// and the next try starts afresh.
    fn check_range(&self, response: &ureq::Response, offset: u64) -> std::result::Result<(), DownloadError> {
        let range = response.header("Content-Range").unwrap_or("");
        let start = range
            .trim()
            .strip_prefix("bytes ")
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(start, _)| start.trim().parse::<u64>().ok());
        if start == Some(offset) {
            return Ok(());
        }
        Err(DownloadError::Retryable(format!(
            "{} answered 206 with the range `{}`, not the bytes from {offset} on ({})",
            self.source,
            terminal_safe(range),
            self.discard()
        )))
    }

    /// What a body that stopped short means; `total` bytes of the file arrived from `answered`,
    /// the URL that answered, whose proxy the message names.
    fn body_failure(&self, error: BodyError, total: u64, resumable: bool, answered: &str) -> DownloadError {
        let (label, url) = (&self.file.path, &self.source);
        match error {
            BodyError::Dropped(e) => {
                DownloadError::Retryable(format!("connection dropped after {total} bytes ({e})"))
            }
            BodyError::Write(e) => write_error(self.partial, e),
            // The bytes cannot be the file: nothing of them is worth keeping.
            BodyError::OverCap => DownloadError::Fatal(anyhow!(
                "{label}: {url} sent more than {}, the most this file can be: stopped ({})",
                human(self.file.max_bytes),
                self.discard()
            )),
            BodyError::Stalled { in_window } => {
                let stalled = format!(
                    "stalled: {url}{} sent {in_window} bytes in the last {} s, under the {} a download must bring in that time ({total} bytes in all)",
                    via_proxy(answered),
                    self.stall.window.as_secs_f64(),
                    human(self.stall.min_bytes)
                );
                // A network's pause mid-archive is resumed from the bytes kept, as a dropped
                // connection is; a server that cannot continue has its bytes removed.
                match resumable {
                    true => DownloadError::Retryable(stalled),
                    false => DownloadError::Fatal(anyhow!("{label}: {stalled}; {}", self.after_stall())),
                }
            }
        }
    }

    /// Removes a stalled download's bytes, which a server that cannot continue them cannot use.
    fn after_stall(&self) -> String {
        format!("{}, as this server cannot continue a download", self.discard())
    }

    /// Removes the partial file and its version; what became of them, for a message.
    fn discard(&self) -> String {
        let _ = fs::remove_file(validator_path(self.partial));
        match fs::remove_file(self.partial) {
            Ok(()) => format!("{} removed", shown(self.partial)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "nothing was kept".into(),
            Err(e) => format!("{} could not be removed ({e}); delete it", shown(self.partial)),
        }
    }

    /// A body that ended cleanly: `total` bytes of the file, `length` of them promised after
    /// `start`.
    fn check_complete(
        &self,
        total: u64,
        start: u64,
        length: Option<u64>,
    ) -> std::result::Result<(), DownloadError> {
        if total == 0 {
            // No archive is empty; kept, its checksum would have been recorded.
            return Err(DownloadError::Fatal(anyhow!(
                "{}: {} sent an empty file",
                self.file.path,
                self.source
            )));
        }
        match length {
            // (At most the cap: no overflow.)
            Some(length) if total < start + length => Err(DownloadError::Retryable(format!(
                "connection closed after {total} of {} bytes",
                start + length
            ))),
            _ => Ok(()),
        }
    }
}

/// The most redirects a download follows (as ureq did).
const MAX_REDIRECTS: usize = 5;

/// Asks for `url` from byte `offset` on (if the part file's `version` still holds), following
/// redirects to http and https URLs only; `None` when the part file already holds everything.
/// Redirects are followed here, not by ureq: its own panicked on one to `file:///` (a URL
/// without a host), which any server on the way could send.
fn request(
    url: &str,
    label: &str,
    offset: u64,
    version: Option<&str>,
    stall: StallRule,
) -> std::result::Result<Option<ureq::Response>, DownloadError> {
    let mut current = url.to_string();
    // One window for the answer, redirects and all: a window a hop, five hops dripped their
    // heads for minutes.
    let deadline = std::time::Instant::now() + stall.window;
    for _ in 0..=MAX_REDIRECTS {
        let mut request = agent_for(&current, stall)?.get(&current);
        if let Some(credentials) = proxy_authorization(&current)? {
            request = request.set("Proxy-Authorization", &credentials);
        }
        if let (true, Some(version)) = (offset > 0, version) {
            request = request
                .set("Range", &format!("bytes={offset}-"))
                .set("If-Range", version.trim());
        }
        let answer = answer_within(request, deadline, stall.window, &current)?;
        match &answer {
            // One without a place to go is an answer that is not the file, said below.
            Ok(response)
                if matches!(response.status(), 301 | 302 | 303 | 307 | 308) && response.has("Location") =>
            {
                current = redirect_target(&current, response, label)?;
            }
            _ => return answer_of(answer, &current, label, offset),
        }
    }
    Err(DownloadError::Fatal(anyhow!(
        "{label}: {} redirected more than {MAX_REDIRECTS} times",
        terminal_safe(url)
    )))
}

/// `request`'s answer, or a retryable error when its status line and headers have not all come
/// by `deadline` (a `window` after the first request). ureq bounds each read of them, not all
/// of them (a byte every few seconds kept `glimpse data` for ever), and its whole-request
/// timeout would bound the body's download too: the request runs on a thread of its own, left
/// behind if it does not answer in time.
fn answer_within(
    request: ureq::Request,
    deadline: std::time::Instant,
    window: Duration,
    url: &str,
) -> std::result::Result<std::result::Result<ureq::Response, ureq::Error>, DownloadError> {
    let (sender, answered) = std::sync::mpsc::channel();
    // (A request answered too late finds no one waiting; its answer is dropped.)
    std::thread::spawn(move || {
        let _ = sender.send(request.call());
    });
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    answered.recv_timeout(left).map_err(|_| {
        DownloadError::Retryable(format!(
            "{url}{} sent no whole answer (status line and headers) in {} s",
            via_proxy(url),
            window.as_secs_f64()
        ))
    })
}

/// Where a redirect from `from` leads: its `Location`, resolved against `from`, if it is an
/// http or https URL.
fn redirect_target(
    from: &str,
    response: &ureq::Response,
    label: &str,
) -> std::result::Result<String, DownloadError> {
    let fatal = |why: String| DownloadError::Fatal(anyhow!("{label}: {} {why}", terminal_safe(from)));
    let location = response.header("Location").unwrap_or_default();
    let target = url::Url::parse(from)
        .and_then(|base| base.join(location))
        .map_err(|e| fatal(format!("redirected to `{}`: {e}", terminal_safe(location))))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(fatal(format!(
            "redirected to `{}`, which is not an http or https URL",
            terminal_safe(target.as_str())
        )));
    }
    Ok(target.into())
}

/// What a request's answer gives the download: the response holding the file, `None` when a
/// resumed file is already whole (416), or why not.
fn answer_of(
    answer: std::result::Result<ureq::Response, ureq::Error>,
    url: &str,
    label: &str,
    offset: u64,
) -> std::result::Result<Option<ureq::Response>, DownloadError> {
    match answer {
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
        // Only a proxy asks for its own credentials (it was reported as the mirror's answer).
        Err(ureq::Error::Status(407, _)) => Err(DownloadError::Fatal(anyhow!(
            "{label}: {}",
            unreachable_through_proxy(
                url,
                "it asks for credentials, or refused the ones its URL gives (HTTP 407 Proxy Authentication Required)"
            )
        ))),
        Err(ureq::Error::Status(code, _)) => Err(DownloadError::Fatal(anyhow!(
            "{label}: {url} answered HTTP {code}"
        ))),
        // A URL that cannot name a server does not get better on a retry (`--mirror file:///`).
        Err(ureq::Error::Transport(t))
            if matches!(
                t.kind(),
                ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme
            ) =>
        {
            Err(DownloadError::Fatal(anyhow!("{label}: cannot fetch {url}: {t}")))
        }
        Err(ureq::Error::Transport(t)) => Err(DownloadError::Retryable(unreachable(url, &t))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_redirected_answer_is_said_to_be_one() {
        // ureq writes the URL it asked for normalised: never redirected, it is named alone.
        for url in ["http://m.org/a.zip", "HTTP://M.org:80/a.zip"] {
            assert_eq!(
                answered_by(url, "http://m.org/a.zip"),
                "http://m.org/a.zip",
                "{url}"
            );
        }
        assert_eq!(
            answered_by("http://m.org/a.zip", "http://cdn.org/a.zip"),
            "http://cdn.org/a.zip (where http://m.org/a.zip redirected)"
        );
    }
}
