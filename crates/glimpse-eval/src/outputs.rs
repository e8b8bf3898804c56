//! What `glimpse eval` and `glimpse compare` write in their `--out` folder, and the checks that
//! keep those writes off what the command reads and off the other command's report. Both
//! replace files of fixed names: `eval --out E --model E/metrics.json` replaced its own model
//! with its metrics, `compare --out C mine=C/report.html` replaced a caption set with the report,
//! and each command, pointed at the other's folder, replaced its `metrics.json` and
//! `report.html`.

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

/// `glimpse eval --out DIR` then `glimpse compare --out DIR mine=DIR/captions.json` replaced
/// eval's `metrics.json` and `report.html` (same names, other contents) without a word: a folder
/// holding eval's `captions.json`, which compare never writes, is refused.
pub(crate) fn refuse_eval_folder(out: &Path) -> Result<()> {
    if holds(out, CAPTIONS) {
        bail!(
            "--out {} holds `glimpse eval`'s outputs ({CAPTIONS}): compare would replace their \
             {METRICS} and {REPORT}; choose another folder",
            shown(out)
        );
    }
    Ok(())
}

/// The reverse of [`refuse_eval_folder`]: `glimpse eval --out` into a compare folder replaced
/// compare's `metrics.json` and `report.html` without a word. A folder holding either of them
/// but not eval's `captions.json` is compare's (eval writes its captions first); an eval folder
/// is eval's own, and re-running eval into it replaces its outputs by design.
pub(crate) fn refuse_compare_folder(out: &Path) -> Result<()> {
    let found: Vec<&str> = COMPARE_OUTPUTS
        .into_iter()
        .filter(|name| holds(out, name))
        .collect();
    if !found.is_empty() && !holds(out, CAPTIONS) {
        bail!(
            "--out {} holds `glimpse compare`'s outputs ({}, no {CAPTIONS}): eval would replace \
             them; choose another folder",
            shown(out),
            found.join(", ")
        );
    }
    Ok(())
}

/// Whether `folder` has an entry `name` of any kind (a link, even a dangling one, counts).
fn holds(folder: &Path, name: &str) -> bool {
    std::fs::symlink_metadata(folder.join(name)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_refuses_the_others_folder_and_accepts_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let (eval, compare) = (dir.path().join("eval"), dir.path().join("compare"));
        for (folder, names) in [(&eval, &EVAL_OUTPUTS[..]), (&compare, &COMPARE_OUTPUTS[..])] {
            std::fs::create_dir(folder).unwrap();
            for name in names {
                std::fs::write(folder.join(name), "{}").unwrap();
            }
        }
        assert!(refuse_compare_folder(&eval).is_ok() && refuse_eval_folder(&compare).is_ok());
        assert!(
            refuse_compare_folder(dir.path()).is_ok(),
            "an empty folder is no one's"
        );
        let error = refuse_compare_folder(&compare).unwrap_err().to_string();
        assert!(
            error.contains("holds `glimpse compare`'s outputs (metrics.json, report.html, no captions.json)"),
            "{error}"
        );
        assert!(refuse_eval_folder(&eval).is_err());
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
