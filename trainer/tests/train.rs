//! `glimpse synth`, `glimpse train` and `glimpse export` end to end, through the binary: the
//! loss goes down, frozen features are computed once and then read from the cache, a run killed
//! with SIGKILL or stopped with Ctrl-C resumes exactly where it stopped (the same losses as an
//! uninterrupted run), unreadable images are skipped and counted, and the exported bundle
//! captions images.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{GLIMPSE, glimpse, ok, synth, tiny_config, train_args};

/// `(step, loss)` rows of a run's `steps.csv`.
/// `metrics.csv`'s epoch, step, losses and BLEU columns (not its timings).
fn validation(run: &Path) -> Vec<String> {
    let metrics = fs::read_to_string(run.join("metrics.csv")).unwrap();
    metrics
        .lines()
        .map(|l| l.split(',').take(8).collect::<Vec<_>>().join(","))
        .collect()
}

fn losses(run: &Path) -> Vec<(u64, String)> {
    fs::read_to_string(run.join("steps.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0].parse().unwrap(), fields[3].to_string())
        })
        .collect()
}

#[test]
fn training_lowers_the_loss_and_reuses_cached_features() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 60, 1);
    let config = tiny_config(dir.path(), serde_json::json!({"epochs": 4}));
    let run = dir.path().join("run");
    let out = ok(&train_args(&data, &run, &config, &[]));
    assert!(
        out.contains("0 cached, 54 computed"),
        "train + val images encoded once:\n{out}"
    );
    let rows = losses(&run);
    assert_eq!(
        rows.len(),
        4 * (48usize * 5).div_ceil(16),
        "4 epochs of 48 train images × 5 captions"
    );
    let mean = |rows: &[(u64, String)]| {
        rows.iter().map(|r| r.1.parse::<f64>().unwrap()).sum::<f64>() / rows.len() as f64
    };
    let (first, last) = (mean(&rows[..5]), mean(&rows[rows.len() - 5..]));
    assert!(last < 0.75 * first, "loss {first:.3} → {last:.3}");
    for file in [
        "metrics.csv",
        "loss.svg",
        "bleu.svg",
        "best.safetensors",
        "last.safetensors",
        "vocab.json",
        "config.json",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let metrics = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 5, "{metrics}");

    // A second run on the same data and encoder reads every feature from the cache.
    let again = dir.path().join("again");
    let out = ok(&train_args(&data, &again, &config, &["--epochs", "1"]));
    assert!(out.contains("54 cached, 0 computed"), "{out}");

    // Export: a bundle `glimpse caption` loads, with its card.
    let bundle = dir.path().join("model.safetensors");
    let out = ok(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
        "--f16",
    ]);
    assert!(out.contains("val_Bleu_4"), "{out}");
    let info = ok(&["info", bundle.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["card"]["decoder_trained"], true);
    assert_eq!(info["card"]["trained_on"], "glimpse synth (seed 1, 60 images)");
    assert!(info["card"]["metrics"]["val_Bleu_4"].as_f64().is_some());
    let image = data.join("Images/synth_000009.jpg");
    let caption = ok(&[
        "caption",
        "--model",
        bundle.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(
        caption.trim().split(' ').count() >= 2,
        "a caption of words: {caption}"
    );

    // The run folder is not overwritten by accident.
    let output = glimpse(&train_args(&data, &run, &config, &[]));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--resume"));
}

/// The steps `steps.csv` holds whole (it is flushed at each checkpoint).
fn steps_logged(run: &Path) -> usize {
    fs::read(run.join("steps.csv"))
        .map(|t| t.iter().filter(|&&b| b == b'\n').count().saturating_sub(1))
        .unwrap_or(0)
}

/// Sends `signal` to process `pid`.
fn send(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) takes plain integers.
    let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(sent, 0, "{}", std::io::Error::last_os_error());
}

/// Starts a run, waits until it has logged more than `steps` steps, then signals it. Returns
/// its exit status and the steps logged when the signal came: the run is stopped (SIGSTOP)
/// while they are counted, so however late this thread wakes, the count is where it ended.
fn interrupt(
    args: &[String],
    run: &Path,
    steps: usize,
    signal: libc::c_int,
) -> (std::process::ExitStatus, usize) {
    let mut child = Command::new(GLIMPSE)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if steps_logged(run) > steps {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the run made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be interrupted"
    );
    send(child.id(), libc::SIGSTOP);
    let logged = steps_logged(run);
    send(child.id(), signal);
    send(child.id(), libc::SIGCONT);
    (child.wait().unwrap(), logged)
}

/// The step `train --resume` said it resumed at.
fn resumed_step(out: &str) -> usize {
    let (_, after) = out.split_once(", step ").unwrap_or_else(|| panic!("{out}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{out}"))
}

#[test]
fn killed_and_interrupted_runs_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 80, 2);
    // Bigger than the tiny config so a step takes long enough to be caught mid-epoch.
    let config = tiny_config(
        dir.path(),
        serde_json::json!({"epochs": 2, "decoder_dim": 256, "attention_dim": 128, "batch_size": 8}),
    );
    let args = |run: &Path| train_args(&data, run, &config, &["--checkpoint-every", "7"]);
    let reference = dir.path().join("reference");
    ok(&args(&reference));
    let expected = losses(&reference);

    // kill -9 mid-epoch: the last checkpoint (a multiple of 7 steps) survives intact.
    let killed = dir.path().join("killed");
    let (status, logged) = interrupt(&args(&killed), &killed, 16, libc::SIGKILL);
    assert!(!status.success());
    let out = ok(&["train", "--resume", killed.to_str().unwrap()]);
    // The checkpoint of the last 7 steps logged, or the one before when it was being written.
    let step = resumed_step(&out);
    assert!(
        step >= 14 && step.is_multiple_of(7) && step <= logged && logged - step <= 7,
        "killed with {logged} steps logged: {out}"
    );
    assert!(
        out.contains(&format!("batch {step}, step {step}")),
        "mid-epoch: {out}"
    );
    assert_eq!(
        losses(&killed),
        expected,
        "every step's loss equals the uninterrupted run's"
    );

    // Ctrl-C: saved at the current step, exit status 130.
    let stopped = dir.path().join("stopped");
    let (status, _) = interrupt(&args(&stopped), &stopped, 30, libc::SIGINT);
    assert_eq!(status.code(), Some(130));
    let out = ok(&["train", "--resume", stopped.to_str().unwrap()]);
    assert!(out.contains("resuming at epoch"), "{out}");
    assert_eq!(losses(&stopped), expected);
    assert_eq!(
        validation(&stopped),
        validation(&reference),
        "same validation losses and BLEU"
    );
}

#[test]
fn ctrl_c_while_the_data_loads_ends_the_run_at_once() {
    // Hostile round 10: the signals only set the flag the training loop reads, so a run loading
    // a large captions file went on for minutes after Ctrl-C and `timeout`'s SIGTERM. Captions of
    // 32,700 one-letter words take long to tokenise: the signal arrives while they load.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(data.join("Images")).unwrap();
    fs::write(data.join("Images/one.png"), b"").unwrap();
    let caption = "a,".repeat(32_700);
    let rows: String = (0..400).map(|_| format!("one.png,{caption}\n")).collect();
    fs::write(data.join("captions.txt"), format!("image,caption\n{rows}")).unwrap();
    let run = dir.path().join("run");
    let mut child = Command::new(GLIMPSE)
        .args([
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The run holds its folder once its signal handlers are in place, before the data loads.
    let started = Instant::now();
    while !run.join(glimpse_files::LOCK_FILE).exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended at once");
        assert!(started.elapsed() < Duration::from_secs(120), "no lock taken");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the load ended before the signal"
    );
    let sent = Instant::now();
    send(child.id(), libc::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    // (Loading those captions takes tens of seconds here; an exit at once takes milliseconds.)
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?} after the signal",
        sent.elapsed()
    );
    assert!(!run.join("last.safetensors").exists());
}

#[test]
fn unreadable_images_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 60, 3);
    fs::write(data.join("Images/synth_000001.jpg"), b"not a jpeg at all").unwrap();
    let config = tiny_config(dir.path(), serde_json::json!({"epochs": 1}));
    let run = dir.path().join("run");
    let output = glimpse(&train_args(&data, &run, &config, &[]));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("53 computed, 1 unreadable"), "{stdout}");
    assert!(stderr.contains("synth_000001.jpg"), "{stderr}");
    let problems = fs::read_to_string(run.join("data-problems.txt")).unwrap();
    assert!(
        problems.contains("synth_000001.jpg") && problems.contains("unreadable image"),
        "{problems}"
    );

    // Past the threshold the run stops and says why (edited images are not read from the cache).
    for k in 2..12 {
        fs::write(data.join(format!("Images/synth_{k:06}.jpg")), b"garbage").unwrap();
    }
    let output = glimpse(&train_args(&data, &dir.path().join("run2"), &config, &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("train images are unreadable (more than 5%, or all)"),
        "{stderr}"
    );

    // Each split on its own, and never emptied, whatever the allowance: a split with no image
    // left trained (or validated) on nothing and exited 0 (review 66).
    let all = tiny_config(
        dir.path(),
        serde_json::json!({"epochs": 1, "max_bad_fraction": 1.0}),
    );
    let train_images = fs::read_to_string(data.join("Flickr_8k.trainImages.txt")).unwrap();
    for image in train_images.lines() {
        fs::write(data.join("Images").join(image), b"garbage").unwrap();
    }
    let output = glimpse(&train_args(&data, &dir.path().join("run4"), &all, &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("train images are unreadable (more than 100%, or all)"),
        "{stderr}"
    );
}

#[test]
fn synthetic_sets_are_deterministic_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    synth(&a, 20, 9);
    synth(&b, 20, 9);
    for file in [
        "captions.txt",
        "synth.json",
        "Flickr_8k.trainImages.txt",
        "Images/synth_000013.jpg",
    ] {
        assert_eq!(
            fs::read(a.join(file)).unwrap(),
            fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }
    let sidecar: serde_json::Value =
        serde_json::from_slice(&fs::read(a.join("synth.json")).unwrap()).unwrap();
    let images = sidecar["images"].as_array().unwrap();
    assert_eq!(images.len(), 20);
    for image in images {
        assert_eq!(image["captions"].as_array().unwrap().len(), 5);
        let objects = image["objects"].as_array().unwrap();
        assert!((1..=3).contains(&objects.len()));
        // Every caption names the first object's colour (the scenes are described fully).
        let colour = objects[0]["color"].as_str().unwrap();
        let captions: Vec<&str> = image["captions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(
            captions.iter().filter(|c| c.contains(colour)).count() >= 4,
            "{captions:?}"
        );
    }
    let output = glimpse(&["synth", a.to_str().unwrap(), "--images", "5"]);
    assert!(!output.status.success(), "refuses a non-empty folder");
    let c = dir.path().join("c");
    synth(&c, 20, 10);
    assert_ne!(
        fs::read(a.join("captions.txt")).unwrap(),
        fs::read(c.join("captions.txt")).unwrap()
    );
}

/// A synth set and a config fine-tuning the encoder's last stage for one epoch.
fn fine_tuning_run() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 30, 4);
    let config = tiny_config(
        dir.path(),
        serde_json::json!({"epochs": 1, "fine_tune_stages": 1, "encoder_lr": 0.01}),
    );
    (dir, data, config)
}

#[test]
fn a_fine_tuning_run_leaves_out_a_photo_that_does_not_decode_and_resumes_past_it() {
    // Read at every step, such a photo stopped the run at its batch, and every resume at the
    // same one (review 66); now each is decoded once before the first step.
    let (dir, data, config) = fine_tuning_run();
    let train_images = fs::read_to_string(data.join("Flickr_8k.trainImages.txt")).unwrap();
    let bad = train_images.lines().next().unwrap();
    fs::write(data.join("Images").join(bad), b"not a jpeg at all").unwrap();
    let run = dir.path().join("run");
    let out = ok(&train_args(&data, &run, &config, &["--max-steps", "1"]));
    assert!(out.contains("1 unreadable"), "{out}");
    let problems = fs::read_to_string(run.join("data-problems.txt")).unwrap();
    assert!(
        problems.contains(bad) && problems.contains("unreadable image"),
        "{problems}"
    );
    let out = ok(&["train", "--resume", run.to_str().unwrap()]);
    assert!(out.contains("resuming at epoch 1, batch 1, step 1"), "{out}");
    assert!(out.contains("done: best validation BLEU-4"), "{out}");
}

#[test]
fn a_resume_within_an_epoch_over_other_readable_photos_starts_the_epoch_again() {
    // A photo that stopped decoding at the same size kept the data's fingerprint, and the
    // epoch went on in the batch order of another train split (hostile round 21).
    let (dir, data, config) = fine_tuning_run();
    let run = dir.path().join("run");
    ok(&train_args(&data, &run, &config, &["--max-steps", "1"]));
    let train_images = fs::read_to_string(data.join("Flickr_8k.trainImages.txt")).unwrap();
    let photo = data.join("Images").join(train_images.lines().next().unwrap());
    let size = fs::metadata(&photo).unwrap().len() as usize;
    fs::write(&photo, vec![0x55; size]).unwrap();
    let output = glimpse(&["train", "--resume", run.to_str().unwrap(), "--max-steps", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(" read, 1 unreadable"), "{stdout}");
    assert!(
        stderr.contains("the train images that can be read are not those of batch 1 of epoch 1"),
        "{stderr}"
    );
    assert!(
        stdout.contains("resuming at epoch 1, batch 0, step 1"),
        "{stdout}"
    );
    let steps = fs::read_to_string(run.join("steps.csv")).unwrap();
    // step, epoch, batch
    let rows: Vec<String> = steps
        .lines()
        .skip(1)
        .map(|row| row.splitn(4, ',').take(3).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(rows, ["1,1,1", "2,1,1"], "{steps}");
}

#[test]
fn fine_tuning_trains_only_the_last_stages_and_resumes() {
    use glimpse::train::checkpoint::Checkpoint;
    let (dir, data, config) = fine_tuning_run();
    let run = dir.path().join("run");
    let out = ok(&train_args(&data, &run, &config, &["--max-steps", "3"]));
    assert!(
        !out.contains("feature cache"),
        "a fine-tuned encoder cannot use cached features:\n{out}"
    );
    let initial = Checkpoint::read(&run.join("last.safetensors")).unwrap();
    assert!(
        initial.encoder_optimizer.is_some(),
        "the encoder has its own optimizer state"
    );
    let out = ok(&["train", "--resume", run.to_str().unwrap()]);
    assert!(out.contains("resuming at epoch 1, batch 3, step 3"), "{out}");
    let trained = Checkpoint::read(&run.join("last.safetensors")).unwrap();
    let changed =
        |name: &str| initial.weights.get(name).unwrap().data != trained.weights.get(name).unwrap().data;
    assert!(
        changed("encoder.layer4.1.conv2.weight"),
        "the last stage is trained"
    );
    assert!(changed("decoder.fcn.weight"));
    assert!(
        !changed("encoder.layer3.1.conv2.weight"),
        "earlier stages stay frozen"
    );
    assert!(!changed("encoder.conv1.weight"));

    // The same run without the interruption has the same losses, and the same validation: a
    // checkpoint held BatchNorm's running statistics one step behind (a step's newest ones stay
    // pending until the next forward), which a resume lost, and validated differently.
    let straight = dir.path().join("straight");
    ok(&train_args(&data, &straight, &config, &[]));
    assert_eq!(losses(&run), losses(&straight));
    assert_eq!(validation(&run), validation(&straight));
}

#[test]
fn data_parallel_training_matches_one_device() {
    // Two replicas (here both on the CPU, the only device this machine has) each take half of
    // every batch; burn's step_multi sums their gradients. Each caption's dropout mask is drawn
    // from (seed, step, its row of the batch), so the losses must follow the one-device run's up
    // to float rounding, and a data-parallel run stopped and resumed must equal one run straight
    // through: the replicas drew from the backend's one random stream in their threads' order
    // before, and two identical runs differed.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 30, 6);
    let config = tiny_config(dir.path(), serde_json::json!({"epochs": 1, "dropout": 0.5}));
    let train = |run: &str, devices: &str, steps: &str| {
        let run = dir.path().join(run);
        let out = ok(&train_args(
            &data,
            &run,
            &config,
            &["--devices", devices, "--max-steps", steps],
        ));
        assert_eq!(out.contains("data-parallel over 2"), devices == "2", "{out}");
        run
    };
    let (one, two) = (train("one", "1", "8"), train("two", "2", "8"));
    let resumed = train("resumed", "2", "4");
    let args = ["--devices", "2", "--max-steps", "8"];
    let out = ok(&[&["train", "--resume", resumed.to_str().unwrap()][..], &args].concat());
    assert!(out.contains("data-parallel over 2"), "{out}");
    let runs = [one, two, resumed].map(|run| losses(&run));
    assert_eq!(runs[0].len(), 8);
    assert_eq!(runs[1], runs[2], "a data-parallel run resumed after 4 steps");
    for ((step, one), (_, two)) in runs[0].iter().zip(&runs[1]) {
        let (one, two): (f64, f64) = (one.parse().unwrap(), two.parse().unwrap());
        // Rounding moves the loss by at most 1.3e-7 of it here; giving the second replica the
        // first one's masks moved the first step's by 7e-6 and the second's by 1.3e-4.
        assert!(
            (one - two).abs() < 1e-6 * one.abs(),
            "step {step}: one device {one}, two {two}"
        );
    }
}

/// A fine-tuned encoder's BatchNorm statistics, updated by each replica in its thread, are
/// averaged after every step: burn kept them apart until validation, so a checkpoint taken
/// mid-epoch held none of the epoch's updates and the resumed run validated differently (63.7445
/// against 63.7447 in an independent check). Two replicas average the same whatever the order.
#[test]
fn a_fine_tuned_data_parallel_run_resumes_to_the_same_validation() {
    let (dir, data, config) = fine_tuning_run();
    let two = ["--devices", "2"];
    let (straight, stopped) = (dir.path().join("straight"), dir.path().join("stopped"));
    ok(&train_args(&data, &straight, &config, &two));
    ok(&train_args(
        &data,
        &stopped,
        &config,
        &[&two[..], &["--max-steps", "3"]].concat(),
    ));
    ok(&[&["train", "--resume", stopped.to_str().unwrap()][..], &two].concat());
    assert_eq!(losses(&stopped), losses(&straight));
    assert_eq!(validation(&stopped), validation(&straight));
}

/// `encoder_int8` trains on the encoder's weights as int8 storage reads them back: the run's
/// encoder is the plain run's (same seed) passed through int8 storage, and `export --int8` then
/// stores it exactly, bit for bit.
#[test]
fn a_run_trained_for_int8_storage_stores_its_encoder_exactly() {
    use glimpse_model::bundle::Bundle;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 30, 2);
    let encoder_of = |file: &Path| {
        let bundle = Bundle::from_bytes(&fs::read(file).unwrap()).unwrap();
        bundle
            .weights
            .iter()
            .filter(|(name, _)| name.starts_with("encoder."))
            .map(|(name, tensor)| (name.to_string(), tensor.clone()))
            .collect::<Vec<_>>()
    };
    let mut exported = Vec::new();
    for (label, int8) in [("plain", false), ("int8", true)] {
        let config = tiny_config(dir.path(), serde_json::json!({"epochs": 1, "encoder_int8": int8}));
        let run = dir.path().join(label);
        ok(&train_args(&data, &run, &config, &[]));
        let [f32_file, int8_file] =
            ["f32", "i8"].map(|s| dir.path().join(format!("{label}-{s}.safetensors")));
        ok(&[
            "export",
            run.to_str().unwrap(),
            "--out",
            f32_file.to_str().unwrap(),
        ]);
        ok(&[
            "export",
            run.to_str().unwrap(),
            "--int8",
            "--out",
            int8_file.to_str().unwrap(),
        ]);
        exported.push((encoder_of(&f32_file), encoder_of(&int8_file)));
    }
    let [(plain, plain_stored), (trained, trained_stored)] = <[_; 2]>::try_from(exported).unwrap();
    assert_eq!(
        trained, trained_stored,
        "int8 storage changed the int8-trained encoder"
    );
    assert_ne!(
        plain, plain_stored,
        "int8 storage is lossless for a plain encoder?"
    );
    assert_eq!(
        trained, plain_stored,
        "the int8 run's encoder is not the plain one rounded"
    );
}
