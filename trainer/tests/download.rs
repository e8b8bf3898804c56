//! `glimpse data flickr8k` against a local HTTP server on 127.0.0.1 serving small fixture
//! archives: a clean download unpacks into a folder `glimpse train` reads; a dropped connection
//! is resumed with a Range request; a corrupt file is refused by its SHA-256 and removed; a
//! partial file left by an earlier run is continued; a zip bomb is refused before unpacking.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use glimpse_data::download::{Expected, RemoteFile, fetch_all};
use glimpse_data::{Dataset, LoadOptions, Split};
use sha2::{Digest, Sha256};

/// How the server answers a path.
#[derive(Clone)]
enum Behaviour {
    Serve(Vec<u8>),
    /// The first full request gets half the body and a closed connection.
    DropOnce(Vec<u8>),
}

#[derive(Default)]
struct State {
    files: HashMap<String, Behaviour>,
    /// (path, Range header) of every request.
    requests: Vec<(String, Option<String>)>,
    dropped: bool,
}

fn serve(state: Arc<Mutex<State>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let state = Arc::clone(&state);
            std::thread::spawn(move || answer(stream, &state));
        }
    });
    address
}

fn answer(mut stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some(value) = header
            .strip_prefix("Range: ")
            .or_else(|| header.strip_prefix("range: "))
        {
            range = Some(value.trim().to_string());
        }
    }
    let behaviour = {
        let mut state = state.lock().unwrap();
        state.requests.push((path.clone(), range.clone()));
        state.files.get(&path).cloned()
    };
    let Some(behaviour) = behaviour else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let body = match &behaviour {
        Behaviour::Serve(body) | Behaviour::DropOnce(body) => body.clone(),
    };
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let rest = &body[start.min(body.len())..];
    let status = if start > 0 {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        rest.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let drop_now = matches!(behaviour, Behaviour::DropOnce(_)) && start == 0 && {
        let mut state = state.lock().unwrap();
        !std::mem::replace(&mut state.dropped, true)
    };
    if drop_now {
        let _ = stream.write_all(&rest[..rest.len() / 2]);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = stream.write_all(rest);
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Flickr8k's two archives in miniature (stored entries, the original folder names, and the
/// macOS metadata the real archives carry).
fn archives() -> (Vec<u8>, Vec<u8>) {
    let names: Vec<String> = (0..6).map(|i| format!("{i}000_abc.jpg")).collect();
    let zip = |entries: Vec<(String, Vec<u8>)>| {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut out);
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in entries {
            writer.start_file(name, options).unwrap();
            writer.write_all(&bytes).unwrap();
        }
        writer.finish().unwrap();
        out.into_inner()
    };
    let token: String = names
        .iter()
        .flat_map(|n| (0..5).map(move |k| format!("{n}#{k}\tA dog runs number {k} .\n")))
        .collect();
    let text = zip(vec![
        ("Flickr8k.token.txt".into(), token.into_bytes()),
        (
            "Flickr_8k.trainImages.txt".into(),
            names[..4].join("\n").into_bytes(),
        ),
        ("Flickr_8k.devImages.txt".into(), names[4].clone().into_bytes()),
        ("Flickr_8k.testImages.txt".into(), names[5].clone().into_bytes()),
        ("__MACOSX/._Flickr8k.token.txt".into(), b"junk".to_vec()),
    ]);
    let images = zip(names
        .iter()
        .map(|n| (format!("Flicker8k_Dataset/{n}"), vec![0xFF, 0xD8, 0xFF, 0xE0]))
        .collect());
    (text, images)
}

fn remote(address: &str, path: &str, body: &[u8]) -> RemoteFile {
    RemoteFile {
        path: path.rsplit('/').next().unwrap().to_string(),
        url: format!("{address}{path}"),
        expected: Expected::Sha256(sha256(body)),
        unzip: path.ends_with(".zip"),
    }
}

fn loads(dir: &Path) {
    let data = Dataset::load(dir, &LoadOptions::default()).unwrap();
    assert_eq!(data.split(Split::Train).len(), 4);
    assert_eq!(data.split(Split::Train)[0].tokens.len(), 5);
    assert!(!dir.join("__MACOSX").exists());
}

#[test]
fn downloads_check_unpack_and_resume_a_dropped_connection() {
    let (text, images) = archives();
    let state = Arc::new(Mutex::new(State::default()));
    {
        let mut s = state.lock().unwrap();
        s.files
            .insert("/text/Flickr8k_text.zip".into(), Behaviour::Serve(text.clone()));
        s.files.insert(
            "/drop/Flickr8k_Dataset.zip".into(),
            Behaviour::DropOnce(images.clone()),
        );
    }
    let address = serve(Arc::clone(&state));
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        remote(&address, "/text/Flickr8k_text.zip", &text),
        remote(&address, "/drop/Flickr8k_Dataset.zip", &images),
    ];
    fetch_all(&files, dir.path()).unwrap();
    loads(dir.path());
    let requests = state.lock().unwrap().requests.clone();
    let half = images.len() / 2;
    assert!(
        requests.contains(&(
            "/drop/Flickr8k_Dataset.zip".into(),
            Some(format!("bytes={half}-"))
        )),
        "the dropped download continued where it stopped: {requests:?}"
    );
    assert!(!dir.path().join("Flickr8k_Dataset.zip.part").exists());

    // Everything present and correct: nothing is fetched again.
    let before = state.lock().unwrap().requests.len();
    fetch_all(&files, dir.path()).unwrap();
    assert_eq!(state.lock().unwrap().requests.len(), before);
}

#[test]
fn a_corrupt_file_is_refused_and_removed() {
    let (text, _) = archives();
    let state = Arc::new(Mutex::new(State::default()));
    let mut corrupt = text.clone();
    corrupt[10] ^= 0xFF;
    state
        .lock()
        .unwrap()
        .files
        .insert("/bad/Flickr8k_text.zip".into(), Behaviour::Serve(corrupt));
    let address = serve(Arc::clone(&state));
    let dir = tempfile::tempdir().unwrap();
    let file = RemoteFile {
        url: format!("{address}/bad/Flickr8k_text.zip"),
        ..remote(&address, "/bad/Flickr8k_text.zip", &text)
    };
    let err = format!("{:#}", fetch_all(&[file], dir.path()).unwrap_err());
    assert!(
        err.contains("Flickr8k_text.zip: SHA-256 mismatch") && err.contains(&sha256(&text)),
        "{err}"
    );
    assert!(!dir.path().join("Flickr8k_text.zip").exists());
    assert!(!dir.path().join("Flickr8k_text.zip.part").exists());
    // A missing file is a clear HTTP error, not a hang.
    let missing = remote(&address, "/nope/Flickr8k_text.zip", &text);
    let err = format!("{:#}", fetch_all(&[missing], dir.path()).unwrap_err());
    assert!(err.contains("HTTP 404"), "{err}");
}

#[test]
fn a_partial_file_from_an_earlier_run_is_continued() {
    let (text, _) = archives();
    let state = Arc::new(Mutex::new(State::default()));
    state
        .lock()
        .unwrap()
        .files
        .insert("/t/Flickr8k_text.zip".into(), Behaviour::Serve(text.clone()));
    let address = serve(Arc::clone(&state));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Flickr8k_text.zip.part"), &text[..100]).unwrap();
    fetch_all(&[remote(&address, "/t/Flickr8k_text.zip", &text)], dir.path()).unwrap();
    let requests = state.lock().unwrap().requests.clone();
    assert_eq!(
        requests,
        vec![("/t/Flickr8k_text.zip".into(), Some("bytes=100-".into()))]
    );
    assert_eq!(std::fs::read(dir.path().join("Flickr8k_text.zip")).unwrap(), text);
}

#[test]
fn the_command_records_digests_and_checks_them_later() {
    let (text, images) = archives();
    let state = Arc::new(Mutex::new(State::default()));
    {
        let mut s = state.lock().unwrap();
        s.files
            .insert("/m/Flickr8k_text.zip".into(), Behaviour::Serve(text.clone()));
        s.files
            .insert("/m/Flickr8k_Dataset.zip".into(), Behaviour::Serve(images));
    }
    let address = serve(Arc::clone(&state));
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_glimpse"))
            .args([
                "data",
                "flickr8k",
                dir.path().to_str().unwrap(),
                "--mirror",
                &format!("{address}/m"),
                "--no-weights",
            ])
            .output()
            .unwrap()
    };
    let output = run();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("no published SHA-256; recorded"), "{stderr}");
    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!("{}  Flickr8k_text.zip", sha256(&text))),
        "{sums}"
    );
    loads(dir.path());
    // A later corruption of the local copy is caught against the recorded digest.
    let mut bytes = std::fs::read(dir.path().join("Flickr8k_text.zip")).unwrap();
    bytes[5] ^= 1;
    std::fs::write(dir.path().join("Flickr8k_text.zip"), bytes).unwrap();
    let output = run();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SHA-256 mismatch"));
    // Running again downloads it afresh.
    assert!(run().status.success());
}

/// A zip bomb served as Flickr8k's text archive (20 MB of zeros in 20 KB): `glimpse data`
/// refuses to unpack it instead of filling the disk.
#[test]
fn the_command_refuses_a_zip_bomb() {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("Flickr8k.token.txt", options).unwrap();
    writer.write_all(&vec![0u8; 20 << 20]).unwrap();
    writer.finish().unwrap();
    let bomb = out.into_inner();
    assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
    let state = Arc::new(Mutex::new(State::default()));
    state
        .lock()
        .unwrap()
        .files
        .insert("/m/Flickr8k_text.zip".into(), Behaviour::Serve(bomb));
    let address = serve(Arc::clone(&state));
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args([
            "data",
            "flickr8k",
            dir.path().to_str().unwrap(),
            "--mirror",
            &format!("{address}/m"),
            "--no-weights",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("Flickr8k_text.zip: entry `Flickr8k.token.txt` would expand")
            && stderr.contains("over the 100× limit: a zip bomb? refusing to unpack"),
        "{stderr}"
    );
    assert!(!dir.path().join("Flickr8k.token.txt").exists());
}
