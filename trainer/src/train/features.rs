//! The frozen-encoder feature cache: each image's encoder output `[P, E]` computed once and
//! kept on disk as f16, reused by every epoch and every later run with the same encoder.
//!
//! The cache lives in the data folder (`.glimpse-cache/features-<fingerprint>/`), or in the run
//! folder where the data folder takes no files, where the fingerprint hashes the encoder's
//! weights and the preprocessing, so a different encoder or input size never reads stale
//! features. On Unix the folder's files are reached relative to its open handle, so a link
//! swapped in for it mid-run sends nothing elsewhere. Files are written atomically; a truncated
//! one (a crash mid-write) has the wrong size and is recomputed, and the temporary files of
//! killed runs are removed by the next run that finds the folder unshared.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::tensor::{Device, Tensor, TensorData};
use glimpse_files::{
    FileError, FileProblem, FolderLock, LockError, PinnedFolder, StagedInFolder, caps, is_link_refused, note,
    read_regular, share_folder, shown,
};
use glimpse_model::preprocess::bytes_to_input;
use glimpse_model::{CaptionModel, ModelConfig, TensorMap};
use half::f16;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use glimpse_data::Sample;

/// How many images go through the encoder together, at most: fewer when the model takes fewer
/// at once (16 of 1024×1024 took 3.7 GB).
const ENCODE_BATCH: usize = 16;

pub struct FeatureCache {
    /// Its files are reached relative to the open folder ([`PinnedFolder`]).
    dir: PinnedFolder,
    /// `P · E` values per image.
    values: usize,
    /// The folder, shared with other runs filling it: the first removed what killed ones left.
    _shared: Option<FolderLock>,
    /// Each image's cache file name, by the image's path, as [`ensure`](Self::ensure) found
    /// it: recomputed at each read, a `chmod` of the photos mid-run (which changes their
    /// status-change time) stopped the run on a missing cache file.
    names: HashMap<PathBuf, String>,
}

/// What [`FeatureCache::ensure`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CacheReport {
    pub hits: usize,
    pub computed: usize,
    /// Images that could not be read or decoded: (name, reason).
    pub failed: Vec<(String, String)>,
}

impl FeatureCache {
    /// The cache for `config`'s encoder holding `encoder_weights`, under `data_root`, or under
    /// `run` when the data folder takes no files (a read-only mount, a shared data set of
    /// another user's: hostile round 13 found no way to train on one with a frozen encoder).
    pub fn open(
        data_root: &Path,
        run: &Path,
        config: &ModelConfig,
        encoder_weights: &TensorMap,
    ) -> Result<FeatureCache> {
        let fingerprint = fingerprint(config, encoder_weights)?;
        let (dir, shared) = match cache_folder(data_root, &fingerprint) {
            Err(e) if is_read_only(&e) => {
                note!("note: {e:#}; the feature cache is kept in the run folder instead, for this run only");
                cache_folder(run, &fingerprint)?
            }
            held => held?,
        };
        Ok(FeatureCache {
            dir,
            values: config.positions() * config.encoder_dim(),
            _shared: shared,
            names: HashMap::new(),
        })
    }

    /// The cache folder's own path, for messages.
    pub fn dir(&self) -> &Path {
        self.dir.shown_path()
    }

    /// The name of an image's cache file, as [`ensure`](Self::ensure) found it.
    fn file_name(&self, sample: &Sample) -> String {
        match self.names.get(&sample.path) {
            Some(name) => name.clone(),
            None => stamped_name(sample),
        }
    }

    /// Fixes the cache file names of `samples` for the run.
    fn name_files(&mut self, samples: &[&Sample]) {
        for sample in samples {
            self.names.insert(sample.path.clone(), stamped_name(sample));
        }
    }

    fn is_cached(&self, sample: &Sample) -> bool {
        // A FIFO, a device, a link or a hard link in the cache folder is never taken for a
        // cached file.
        let len = self.dir.regular_len(&self.file_name(sample));
        len.is_ok_and(|len| len == Some(self.file_bytes()))
    }

    /// Computes the features of every sample not yet cached.
    pub fn ensure(
        &mut self,
        samples: &[&Sample],
        model: &CaptionModel,
        config: &ModelConfig,
        device: &Device,
    ) -> Result<CacheReport> {
        self.name_files(samples);
        let mut report = CacheReport::default();
        let missing: Vec<&Sample> = samples.iter().copied().filter(|s| !self.is_cached(s)).collect();
        report.hits = samples.len() - missing.len();
        if missing.is_empty() {
            return Ok(report);
        }
        let progress = ProgressBar::new(missing.len() as u64).with_style(
            ProgressStyle::with_template("encoding {bar:30} {pos}/{len} images, {per_sec}, eta {eta}")
                .expect("a valid template"),
        );
        let [height, width] = config.preprocess.size.map(|s| s as usize);
        for chunk in missing.chunks(ENCODE_BATCH.min(config.images_at_once(false))) {
            let mut inputs = Vec::new();
            let mut names: Vec<&Sample> = Vec::new();
            for sample in chunk {
                let decoded = read_regular(&sample.path, caps::IMAGE, "image")
                    .map_err(|e| e.problem.to_string())
                    .and_then(|bytes| bytes_to_input(&bytes, &config.preprocess).map_err(|e| e.to_string()));
                match decoded {
                    Ok(input) => {
                        inputs.extend(input);
                        names.push(sample);
                    }
                    Err(reason) => report
                        .failed
                        .push((sample.name.clone(), format!("{}: {reason}", shown(&sample.path)))),
                }
            }
            if !names.is_empty() {
                let images =
                    Tensor::<4>::from_data(TensorData::new(inputs, [names.len(), 3, height, width]), device);
                let features = model.encoder.forward(images); // [B, P, E]
                let values = pollster::block_on(glimpse_model::generate::read_f32(features))?;
                for (sample, row) in names.iter().zip(values.chunks_exact(self.values)) {
                    self.write(sample, row)?;
                    report.computed += 1;
                }
            }
            progress.inc(chunk.len() as u64);
        }
        progress.finish_and_clear();
        Ok(report)
    }

    /// The size of one cache file: `P · E` f16 values.
    fn file_bytes(&self) -> u64 {
        self.values as u64 * 2
    }

    /// Writes `sample`'s features through a [`StagedInFolder`] temporary file (two runs filling one data
    /// folder's cache removed each other's under a fixed name), removed again when the write
    /// fails or the run is interrupted; the error names the file and says the cache is in the
    /// data folder, often on another disk than the run's.
    fn write(&self, sample: &Sample, values: &[f32]) -> Result<()> {
        let name = self.file_name(sample);
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        // The cache is inside the data folder, which may come from anyone: a link planted
        // there is never written through.
        let written = StagedInFolder::new(&self.dir, &name).and_then(|mut staged| {
            staged.file().write_all(&bytes)?;
            staged.place()
        });
        if let Err(e) = written {
            let path = self.dir.shown_path().join(&name);
            anyhow::bail!("{}: cannot write the feature cache: {e}", shown(&path));
        }
        Ok(())
    }

    /// The cached features of `sample`, `[P · E]` as f32.
    pub fn read(&self, sample: &Sample) -> Result<Vec<f32>> {
        let name = self.file_name(sample);
        let path = self.dir.shown_path().join(&name);
        let expected = self.file_bytes();
        // A co-user's link named as a cache file fed any file of the right size that this user
        // can read into training (hostile round 15): one is refused.
        let bytes = self.dir.read_regular(&name, expected, "feature cache file")?;
        if bytes.len() as u64 != expected {
            anyhow::bail!(
                "feature cache {}: {} bytes, expected {expected}; delete it to recompute",
                shown(&path),
                bytes.len(),
            );
        }
        let values: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        // The cache sits in a data folder that may come from anyone: a NaN there surfaced as
        // "the loss became NaN; lower the learning rates", blaming the wrong thing.
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            anyhow::bail!(
                "feature cache {}: value {index} is {}, not a finite number (a damaged file); delete it to recompute",
                shown(&path),
                values[index]
            );
        }
        Ok(values)
    }
}

/// The name of an image's cache file: the image's name plus a hash of the image file's
/// [`stamp`], so an edited or replaced image is encoded again.
fn stamped_name(sample: &Sample) -> String {
    let stamp = fs::metadata(&sample.path).map(|m| stamp(&m)).unwrap_or_default();
    let stamp = glimpse_model::params::stable_id(&stamp);
    format!("{}.{:08x}.f16", cache_stem(&sample.name), stamp as u32)
}

/// What tells an image file's versions apart without reading it: its size and modification
/// time, and on Unix its inode and status-change time, which no one but the system sets. A
/// photo replaced by another of the same size whose modification time was kept (`cp -p`,
/// `touch -r`) resumed from the other's features (hostile round 13).
fn stamp(file: &fs::Metadata) -> String {
    let modified = file
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let stamp = format!("{}:{}", file.len(), modified.map_or(0, |d| d.as_nanos()));
    #[cfg(unix)]
    let stamp = {
        use std::os::unix::fs::MetadataExt;
        format!("{stamp}:{}:{}.{}", file.ino(), file.ctime(), file.ctime_nsec())
    };
    stamp
}

/// The first 8 bytes of a SHA-256 of the encoder, its preprocessing and its weights, in hex.
fn fingerprint(config: &ModelConfig, encoder_weights: &TensorMap) -> Result<String> {
    let mut hash = Sha256::new();
    // The cache files' naming scheme: a folder filled under an old one (where `sub/x.jpg`
    // and `sub__x.jpg` shared a file, and a short name could spell a long one's hash) is
    // never read by this one.
    hash.update(b"names: percent-escaped, long ones %long-<hash>");
    // Held under a shared lock whose first holder removes every temporary file: earlier builds,
    // which take no lock, would lose the files they are writing in a shared folder (the
    // verifier's F2).
    hash.update(b"shared under .glimpse-lock");
    hash.update(serde_json::to_vec(&config.encoder)?);
    hash.update(serde_json::to_vec(&config.preprocess)?);
    for (name, tensor) in encoder_weights.iter() {
        hash.update(name.as_bytes());
        for v in &tensor.data {
            hash.update(v.to_le_bytes());
        }
    }
    Ok(hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `root/.glimpse-cache/features-<fingerprint>/`, made, pinned ([`PinnedFolder`]), shared
/// ([`share_folder`]), and known to take files.
fn cache_folder(root: &Path, fingerprint: &str) -> Result<(PinnedFolder, Option<FolderLock>)> {
    let shown_dir = root
        .join(".glimpse-cache")
        .join(format!("features-{fingerprint}"));
    let making = || format!("creating the feature cache {}", shown(&shown_dir));
    let root = PinnedFolder::open(root).with_context(making)?;
    let dir = cache_child(
        &cache_child(&root, ".glimpse-cache")?,
        &format!("features-{fingerprint}"),
    )?;
    // Held before the probe, so that a run clearing the folder never takes the probe for a
    // killed run's leftover (and never finds it gone half-way: the verifier's F1).
    let shared = share_folder(&dir)?;
    // A folder made by someone else may exist and still refuse files: one is tried.
    StagedInFolder::new(&dir, "probe")
        .map(drop)
        .with_context(making)?;
    Ok((dir, shared))
}

/// The folder `name` in `parent`, made where missing. A link planted there, before or during
/// the run, would send the cache's files outside the data folder (and read them back from
/// there): one found is refused, and on Unix one swapped in later is never followed, as the
/// folder's files are reached relative to its open handle (hostile round 14's F3).
fn cache_child(parent: &PinnedFolder, name: &str) -> Result<PinnedFolder> {
    let folder = parent.shown_path().join(name);
    parent.child(name).map_err(|e| match is_link_refused(&e) {
        true => anyhow!(
            "{}: the feature cache folder is a symbolic link; remove it (the cache is kept only inside the data or run folder)",
            shown(&folder)
        ),
        false => anyhow::Error::new(e).context(format!("creating the feature cache {}", shown(&folder))),
    })
}

/// Whether `error` says that a folder takes no files, rather than that something is wrong.
fn is_read_only(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem};
    let io = error
        .downcast_ref::<std::io::Error>()
        .or_else(|| match error.downcast_ref::<LockError>()? {
            LockError::Io { error, .. } | LockError::Leftovers { error, .. } => Some(error),
            // Its lock file, another user's, is closed to this one.
            LockError::File(FileError {
                problem: FileProblem::Io(error),
                ..
            }) => Some(error),
            _ => None,
        });
    io.is_some_and(|e| matches!(e.kind(), PermissionDenied | ReadOnlyFilesystem))
}

/// The longest image-name part of a cache file name: with the stamp and extension it stays
/// under the 255 bytes most file systems allow in one name.
const MAX_CACHE_STEM: usize = 200;

/// The image's name as part of a cache file name: the name itself (folder separators and `%`
/// percent-escaped, so that no two names share one: `sub/x.jpg` and `sub__x.jpg` did, and one
/// was trained on the other's features) when it is short enough, else a hash of it, so that an
/// image with a 255-byte name is cached like any other instead of stopping the run when its
/// cache file cannot be created. The hash follows a `%` that no escape begins with, so no short
/// name can spell it (`long-name-<hash>` could, and shared a long name's file).
fn cache_stem(name: &str) -> String {
    let flat = name.replace('%', "%25").replace('/', "%2F").replace('\\', "%5C");
    if flat.len() <= MAX_CACHE_STEM {
        return flat;
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("%long-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile round 14's F3 at the cache itself: its folder swapped for a link once opened
    /// gets the files and gives them back, and the link's target gives and gets nothing.
    #[cfg(unix)]
    #[test]
    fn the_cache_folder_swapped_for_a_link_keeps_its_files() {
        let data = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let photo = data.path().join("a.png");
        fs::write(&photo, b"photo").unwrap();
        let sample = Sample {
            name: "a.png".into(),
            path: photo,
            raw: vec![],
            tokens: vec![],
        };
        let (dir, _shared) = cache_folder(data.path(), "0123").unwrap();
        let mut cache = FeatureCache {
            dir,
            values: 4,
            _shared,
            names: HashMap::new(),
        };
        cache.name_files(&[&sample]);
        let name = cache.file_name(&sample);
        let moved = data.path().join(".glimpse-cache");
        fs::rename(&moved, data.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), &moved).unwrap();
        // What a read through the link would find: values of another's.
        fs::create_dir(elsewhere.path().join("features-0123")).unwrap();
        fs::write(elsewhere.path().join("features-0123").join(&name), [0u8; 8]).unwrap();
        let features = [1.0, 2.0, 0.5, -1.0];
        cache.write(&sample, &features).unwrap();
        assert!(cache.is_cached(&sample));
        assert_eq!(cache.read(&sample).unwrap(), features);
        let kept = data.path().join("moved/features-0123").join(&name);
        let encoded: Vec<u8> = features
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        assert_eq!(fs::read(kept).unwrap(), encoded);
        assert_eq!(
            fs::read_dir(elsewhere.path().join("features-0123"))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(cache.dir(), data.path().join(".glimpse-cache/features-0123"));
        // A `chmod` of the photo mid-run changes its status-change time, and with it the name a
        // later run gives its cache file: this run keeps reading the file it wrote.
        std::thread::sleep(std::time::Duration::from_millis(10));
        let mut permissions = fs::metadata(&sample.path).unwrap().permissions();
        permissions.set_readonly(true);
        fs::set_permissions(&sample.path, permissions).unwrap();
        assert_ne!(stamped_name(&sample), name);
        assert_eq!(cache.read(&sample).unwrap(), features);
    }

    #[test]
    fn a_file_replaced_by_one_of_its_size_and_time_gets_another_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.png");
        fs::write(&photo, b"one photo").unwrap();
        let first = fs::metadata(&photo).unwrap();
        let other = dir.path().join("other.png");
        fs::write(&other, b"two photo").unwrap();
        // `cp -p`: another file of the same size, its modification time set to the first's.
        fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(first.modified().unwrap())
            .unwrap();
        fs::rename(&other, &photo).unwrap();
        let second = fs::metadata(&photo).unwrap();
        assert_eq!(
            (first.len(), first.modified().unwrap()),
            (second.len(), second.modified().unwrap())
        );
        assert_ne!(stamp(&first), stamp(&second));
    }

    #[test]
    fn long_image_names_get_short_cache_names() {
        assert_eq!(cache_stem("a/b.jpg"), "a%2Fb.jpg");
        // Names that flattened alike (hostile round 10) and one spelling the escape itself.
        let names = ["sub/x.jpg", "sub__x.jpg", "sub\\x.jpg", "sub%2Fx.jpg"];
        let stems: std::collections::BTreeSet<String> = names.iter().map(|n| cache_stem(n)).collect();
        assert_eq!(stems.len(), names.len(), "{stems:?}");
        let long = format!("{}.jpg", "x".repeat(251));
        let stem = cache_stem(&long);
        assert!(stem.starts_with("%long-") && stem.len() == 38, "{stem}");
        assert_ne!(stem, cache_stem(&format!("{}.jpg", "y".repeat(251))));
        // A short name spelling the hashed form is escaped, so it cannot share the long one's
        // file (verifier of hostile round 10).
        assert_ne!(cache_stem(&stem), stem);
        // The whole file name, stamp and extension included, fits in 255 bytes.
        assert!(format!("{}.{:08x}.f16", cache_stem(&"é".repeat(100)), 0u32).len() <= 255);
    }
}
