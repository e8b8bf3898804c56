//! What `glimpse eval` and `glimpse compare` write in their `--out` folder, and the checks that
//! keep those writes off what the command reads and off the other command's report. Both
//! replace files of fixed names: `eval --out E --model E/metrics.json` replaced its own model
//! with its metrics, `compare --out C mine=C/report.html` replaced a caption set with the report,
//! and each command, pointed at the other's folder, replaced its `metrics.json` and
//! `report.html`.

use std::io::Read;
use std::path::Path;

use anyhow::{Result, bail};
use glimpse_data::Sample;
use glimpse_files::{output_over_input, shown};

/// The scores, under coco-caption's names (both commands).
pub const METRICS: &str = "metrics.json";
/// The captions, `{"image": "caption"}` (eval only: what tells its folder from compare's).
pub const CAPTIONS: &str = "captions.json";
/// The self-contained HTML report (both commands).
pub const REPORT: &str = "report.html";
/// What `glimpse eval` writes, in the order written: the captions first, so that an eval folder
/// that holds a `metrics.json` always holds its `captions.json` too, even after a failed write.
pub const EVAL_OUTPUTS: [&str; 3] = [CAPTIONS, METRICS, REPORT];
/// What `glimpse compare` writes.
pub const COMPARE_OUTPUTS: [&str; 2] = [METRICS, REPORT];

/// Who wrote an output folder's files, as their `generator` says: `metrics.json`'s field and
/// `report.html`'s `<meta name="generator">`.
pub const EVAL: &str = "glimpse eval";
pub const COMPARE: &str = "glimpse compare";

/// The head `report.html` starts with, up to and including its generator (an HTML and JSON
/// safe string).
pub(crate) fn report_start(generator: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="generator" content="{generator}">"#
    )
}

/// Refuses to replace a file of `outputs` in `out` that `generator` did not write: a user's
/// `captions.json` (another captioner's results), `metrics.json` or `report.html` was replaced
/// without a word (hostile round 22), as was the other command's. A `captions.json` is eval's
/// when eval's `metrics.json` is beside it (they are written together, the captions first).
pub(crate) fn refuse_replacing_others(generator: &str, out: &Path, outputs: &[&str]) -> Result<()> {
    // (A link is replaced, never followed: replacing it loses nothing of what it names.)
    let file = |name: &str| std::fs::symlink_metadata(out.join(name)).is_ok_and(|m| !m.is_symlink());
    for &name in outputs.iter().filter(|name| file(name)) {
        let writer = match name {
            // (compare writes no captions: beside its metrics, a captions.json is someone's.)
            CAPTIONS => written_by(&out.join(METRICS)).filter(|writer| *writer == EVAL),
            _ => written_by(&out.join(name)),
        };
        if writer == Some(generator) {
            continue;
        }
        let whose = match writer {
            Some(other) => format!("`{other}`'s {name}"),
            None => format!(
                "a {name} that `{generator}` did not write (or one from a glimpse before outputs were marked)"
            ),
        };
        bail!(
            "{}: {whose}, which `{generator}` would replace; move it away or choose another --out",
            shown(&out.join(name))
        );
    }
    Ok(())
}

/// Which command wrote the `metrics.json` or `report.html` at `path`, if one did. A link is no
/// command's: one to an eval's metrics made a user's `captions.json` beside it eval's (hostile
/// round 23).
fn written_by(path: &Path) -> Option<&'static str> {
    if std::fs::symlink_metadata(path).map_or(true, |m| m.is_symlink()) {
        return None;
    }
    let (file, _) = glimpse_files::open_regular(path, "output").ok()?;
    if path.ends_with(REPORT) {
        let longest = [EVAL, COMPARE].map(|g| report_start(g).len()).into_iter().max()?;
        let mut start = Vec::new();
        file.take(longest as u64).read_to_end(&mut start).ok()?;
        return [EVAL, COMPARE]
            .into_iter()
            .find(|g| start.starts_with(report_start(g).as_bytes()));
    }
    let text = glimpse_files::read_regular_to_string(path, glimpse_files::caps::CONFIG, "output").ok()?;
    let generator = serde_json::from_str::<serde_json::Value>(&text).ok()?["generator"].clone();
    [EVAL, COMPARE].into_iter().find(|g| generator == *g)
}

/// Refuses when one of `outputs` in `out` is one of `inputs` (`(what, path)`), by file identity
/// (links and `..` included): the write would replace what `command` reads. Checked before
/// anything is read, since the loss happens only at the end, once the run has succeeded.
pub(crate) fn refuse_outputs_over_inputs(
    command: &str,
    out: &Path,
    outputs: &[&str],
    inputs: &[(&str, &Path)],
) -> Result<()> {
    for name in outputs {
        let output = out.join(name);
        if let Some((what, input)) = output_over_input(&output, inputs) {
            bail!(
                "{} is {what} {}: {command} would write its {name} over what it reads; choose another --out",
                shown(&output),
                shown(input)
            );
        }
    }
    Ok(())
}

/// [`refuse_outputs_over_inputs`] for the split's photos, which both commands read (eval to
/// caption them, both to embed them in the report): a photo named like an output, in the
/// `--out` folder, would be replaced. Costs nothing when `out` holds none of `outputs` yet.
pub(crate) fn refuse_outputs_over_photos(
    command: &str,
    out: &Path,
    outputs: &[&str],
    samples: &[Sample],
) -> Result<()> {
    let photos: Vec<(&str, &Path)> = samples
        .iter()
        .map(|sample| ("the split's photo", sample.path.as_path()))
        .collect();
    refuse_outputs_over_inputs(command, out, outputs, &photos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `generator`'s outputs into `folder`, as it writes them.
    fn outputs_of(folder: &Path, generator: &str) {
        std::fs::create_dir(folder).unwrap();
        let metrics = format!("{{\n  \"Bleu_1\": 0.5,\n  \"generator\": \"{generator}\"\n}}\n");
        std::fs::write(folder.join(METRICS), metrics).unwrap();
        std::fs::write(folder.join(REPORT), report_start(generator) + "<title>t</title>").unwrap();
        if generator == EVAL {
            std::fs::write(folder.join(CAPTIONS), "{\"a.jpg\": \"a dog\"}").unwrap();
        }
    }

    #[test]
    fn each_command_replaces_only_its_own_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let (eval, compare) = (dir.path().join("eval"), dir.path().join("compare"));
        outputs_of(&eval, EVAL);
        outputs_of(&compare, COMPARE);
        assert!(refuse_replacing_others(EVAL, &eval, &EVAL_OUTPUTS).is_ok());
        assert!(refuse_replacing_others(COMPARE, &compare, &COMPARE_OUTPUTS).is_ok());
        assert!(
            refuse_replacing_others(EVAL, dir.path(), &EVAL_OUTPUTS).is_ok(),
            "nothing there"
        );
        let error = refuse_replacing_others(EVAL, &compare, &EVAL_OUTPUTS)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "metrics.json: `glimpse compare`'s metrics.json, which `glimpse eval` would replace"
            ),
            "{error}"
        );
        let error = refuse_replacing_others(COMPARE, &eval, &COMPARE_OUTPUTS)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`glimpse eval`'s metrics.json, which `glimpse compare` would replace"),
            "{error}"
        );
        // Someone's own files of these names (another captioner's captions): kept.
        for (name, theirs) in [
            (CAPTIONS, "{\"a.jpg\": \"vit-gpt2 says: a dog\"}"),
            (METRICS, "{\"visits\": 12345}"),
            (REPORT, "<html><body>my own site</body></html>"),
        ] {
            let mine = dir.path().join(format!("mine-{name}"));
            std::fs::create_dir(&mine).unwrap();
            std::fs::write(mine.join(name), theirs).unwrap();
            let error = refuse_replacing_others(EVAL, &mine, &EVAL_OUTPUTS)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("a {name} that `glimpse eval` did not write")),
                "{error}"
            );
        }
        // Nor beside a link to eval's metrics (hostile round 23).
        #[cfg(unix)]
        {
            let linked = dir.path().join("linked");
            std::fs::create_dir(&linked).unwrap();
            std::fs::write(linked.join(CAPTIONS), "{}").unwrap();
            std::os::unix::fs::symlink(eval.join(METRICS), linked.join(METRICS)).unwrap();
            let error = refuse_replacing_others(EVAL, &linked, &EVAL_OUTPUTS)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("a captions.json that `glimpse eval` did not write"),
                "{error}"
            );
        }
    }

    #[test]
    fn an_output_over_an_input_names_both() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("metrics.json");
        std::fs::write(&model, "weights").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let by_dots = dir.path().join("sub/../metrics.json");
        let inputs = [("the --model bundle", by_dots.as_path())];
        let error = refuse_outputs_over_inputs("eval", dir.path(), &EVAL_OUTPUTS, &inputs)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!(
                "{} is the --model bundle {}",
                shown(&model),
                shown(&by_dots)
            )) && error.contains("eval would write its metrics.json over what it reads"),
            "{error}"
        );
        assert!(refuse_outputs_over_inputs("eval", &dir.path().join("sub"), &EVAL_OUTPUTS, &inputs).is_ok());
    }
}
