//! A checkpoint's optimizer state checked against the model before burn loads it. Adam's
//! moments are stored per parameter id (once drawn from the run's seed, now hashed from the
//! parameter's name), so another model's state for tensors of other sizes loaded without
//! complaint and the first step panicked adding tensors of different shapes (and a state tensor
//! without an id panics inside burn's loader).
//! Values are checked too: a NaN or negative second moment, a step count past `i32` (Adam
//! raises β to it as an `i32` after adding one) or other than the run's steps, or a first moment too
//! large for its second turned the weights NaN, which training blamed on the learning rate.
//! And the state must be whole: burn's loader skips what it cannot rebuild, so a state missing
//! a parameter's moments or step count restarted Adam for it, without a word.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Result, anyhow, bail};
use burn::module::Param;
use burn::tensor::{Bytes, DType, Tensor};
use burn_pack::{Reader, Scalar};
use glimpse_model::CaptionModel;
use glimpse_model::error::excerpt_of;
use glimpse_model::params::{ParamSlot, TorchParams};

/// The suffix of burn's per-parameter rank entries (`{id}.__rank`).
const RANK_SUFFIX: &str = ".__rank";
/// The suffix of Adam's per-parameter step counts.
const TIME_SUFFIX: &str = ".time";

/// Adam's moments are averages of the gradients and of their squares, weighted
/// `(1 - β1) β1^k` and `(1 - β2) β2^k` over the steps `k` back, from zero. By Cauchy–Schwarz a
/// first moment's square is at most this times its second moment (52.9 for burn's β1 = 0.9 and
/// β2 = 0.999), here with 1% for rounding: a first moment of 3e38 over a second of 0 passed the
/// other checks, and the first step's update overflowed every weight.
const MOMENT_RATIO: f64 = {
    let (beta_1, beta_2) = (0.9, 0.999);
    let one_minus = 1.0 - beta_1;
    one_minus * one_minus / ((1.0 - beta_2) * (1.0 - beta_1 * beta_1 / beta_2)) * 1.01
};
/// What a first moment's square may pass that bound by: f32 rounds a gradient's square below
/// 1e-42 to 0, so gradients under about 1e-21 leave a first moment over a second of 0. A first
/// moment under 1e-15 moves a weight by at most 1e-7 of the learning rate (ε is 1e-8).
const MOMENT_SLACK: f64 = 1e-30;

/// The part of the model an optimizer trains.
#[derive(Clone, Copy, Debug)]
pub enum Part {
    Decoder,
    Encoder,
}

/// A parameter an optimizer trains: its PyTorch name and burn's shape of it.
struct Trained {
    name: String,
    shape: Vec<usize>,
}

/// The parameters of `part` that receive gradients, by parameter id, in the model's order.
fn trained_params(model: &CaptionModel, part: Part) -> Vec<(u64, Trained)> {
    fn described<const D: usize>(param: &Param<Tensor<D>>) -> (u64, Vec<usize>, bool) {
        let shape = param.lazy_shape().as_slice().to_vec();
        (param.id.val(), shape, param.val().is_require_grad())
    }
    let prefix = match part {
        Part::Decoder => "decoder.",
        Part::Encoder => "encoder.",
    };
    let mut trained = Vec::new();
    // (Visiting needs `&mut`; a clone shares the tensors.)
    model.clone().visit_params("", &mut |name, slot| {
        let (id, shape, receives_gradients) = match slot {
            ParamSlot::Float1(p) => described(p),
            ParamSlot::Float2(p) | ParamSlot::LinearWeight(p) => described(p),
            ParamSlot::Float4(p) => described(p),
            ParamSlot::Running1(_) => return,
        };
        if receives_gradients && name.starts_with(prefix) {
            trained.push((id, Trained { name, shape }));
        }
    });
    trained
}

/// Fails, naming the entry, unless the burnpack `bytes` is the whole Adam state of the
/// parameters of `model`'s `part` that are trained, after `steps` steps (none before the first):
/// for each, F32 moments of its shape, its rank and a step count of `steps`. `what` names the
/// state in errors (`last.safetensors: optimizer state`).
pub fn check(bytes: &[u8], model: &CaptionModel, part: Part, steps: u64, what: &str) -> Result<()> {
    // Entry names come from the file, and its metadata may hold 100 MiB of them.
    check_state(bytes, model, part, steps, what)
        .map_err(|e| anyhow!("{}", excerpt_of(&e.to_string(), MESSAGE_CHARS)))
}

/// The most characters of an error message about the state.
const MESSAGE_CHARS: usize = 400;

/// [`check`], with messages whole.
fn check_state(bytes: &[u8], model: &CaptionModel, part: Part, steps: u64, what: &str) -> Result<()> {
    let trained = trained_params(model, part);
    let by_id: ById = trained.iter().map(|(id, param)| (*id, param)).collect();
    let reader = Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| anyhow!("{what}: not burn's optimizer state: {e}"))?;
    for (name, value) in reader.scalars() {
        check_scalar(name, value, &by_id, steps, what)?;
    }
    let scalars: BTreeSet<String> = reader.scalars().keys().cloned().collect();
    let tensors = reader
        .into_tensors()
        .map_err(|e| anyhow!("{what}: not burn's optimizer state: {e}"))?;
    let (mut firsts, mut seconds) = (HashMap::new(), HashMap::new());
    let mut tensor_names = BTreeSet::new();
    for tensor in tensors {
        let name = &tensor.name;
        let id = name.split('.').next().unwrap_or_default();
        if tensor.param_id.map(|p| p.to_string()).as_deref() != Some(id) {
            bail!("{what}: `{name}` is not marked as the state of parameter {id}");
        }
        let shape = param_shape(&by_id, id, name, what)?;
        if tensor.dtype != DType::F32 || tensor.shape.as_slice() != shape {
            bail!(
                "{what}: `{name}` is {:?} {:?}, but its parameter is F32 {shape:?}: the state of another model",
                tensor.dtype,
                tensor.shape.as_slice()
            );
        }
        let values = check_values(&tensor, what)?;
        if let Some(moment) = name.strip_suffix("moment_1") {
            firsts.insert(moment.to_string(), (name.clone(), values));
        } else if let Some(moment) = name.strip_suffix("moment_2") {
            seconds.insert(moment.to_string(), (name.clone(), values));
        }
        tensor_names.insert(name.clone());
    }
    check_moments(&firsts, &seconds, what)?;
    check_whole(&trained, &tensor_names, &scalars, steps, what)
}

/// A scalar entry: a count Adam can use, a step count of `steps`, a rank of its parameter's.
fn check_scalar(name: &str, value: &Scalar, by_id: &ById, steps: u64, what: &str) -> Result<()> {
    let id = name.split('.').next().unwrap_or_default();
    let shape = param_shape(by_id, id, name, what)?;
    // Only these reach burn: refused at once, a forged state's millions of others are not
    // each checked first.
    let suffix = &name[id.len()..];
    if suffix != format!(".momentum{TIME_SUFFIX}") && suffix != RANK_SUFFIX {
        bail!("{what}: `{name}` is no part of Adam's state");
    }
    let count = match *value {
        Scalar::UInt(n) => Some(n),
        Scalar::Int(n) => u64::try_from(n).ok(),
        _ => None,
    };
    let Some(count) = count.filter(|&n| n < i32::MAX as u64) else {
        bail!("{what}: `{name}` is {value:?}, not a count Adam can use");
    };
    if name.ends_with(TIME_SUFFIX) && count > steps {
        bail!("{what}: `{name}` is {value:?}, past the {steps} steps the run has taken");
    }
    // Every step steps every trained parameter (a failed step ends the run), so a smaller count
    // was edited: it made Adam's next updates larger or smaller (hostile round 18).
    if name.ends_with(TIME_SUFFIX) && count < steps {
        bail!("{what}: `{name}` is {value:?}, but the run has taken {steps} steps, each of every parameter");
    }
    if name.ends_with(RANK_SUFFIX) && count != shape.len() as u64 {
        bail!(
            "{what}: `{name}` is {value:?}, but that parameter has rank {}",
            shape.len()
        );
    }
    Ok(())
}

/// Each trained parameter's moments among the `tensors` and its step count and rank among the
/// `scalars` once a step was taken, and nothing else there; nothing at all before.
fn check_whole(
    trained: &[(u64, Trained)],
    tensors: &BTreeSet<String>,
    scalars: &BTreeSet<String>,
    steps: u64,
    what: &str,
) -> Result<()> {
    // Indices into `present`, `wanted` and `KINDS`.
    const TENSOR: usize = 0;
    const SCALAR: usize = 1;
    const KINDS: [&str; 2] = ["tensor", "scalar"];
    let present = [tensors, scalars];
    let mut wanted = [BTreeSet::new(), BTreeSet::new()];
    for (id, param) in trained.iter().filter(|_| steps > 0) {
        let entries = [
            (TENSOR, format!("{id}.momentum.moment_1")),
            (TENSOR, format!("{id}.momentum.moment_2")),
            (SCALAR, format!("{id}.momentum{TIME_SUFFIX}")),
            (SCALAR, format!("{id}{RANK_SUFFIX}")),
        ];
        for (kind, entry) in entries {
            if !present[kind].contains(&entry) {
                bail!(
                    "{what}: the {} `{entry}`, the state of `{}`, is missing: a damaged state (burn would start Adam again for it)",
                    KINDS[kind],
                    param.name
                );
            }
            wanted[kind].insert(entry);
        }
    }
    let unwanted = tensors
        .difference(&wanted[TENSOR])
        .chain(scalars.difference(&wanted[SCALAR]));
    match (unwanted.into_iter().next(), steps) {
        (Some(entry), 0) => bail!("{what}: `{entry}` is the state of a step, but the run has taken none"),
        (Some(entry), _) => bail!("{what}: `{entry}` is no part of Adam's state"),
        (None, _) => Ok(()),
    }
}

/// Every value finite, and a second moment (a mean of squares) never negative; the values.
fn check_values(tensor: &burn_pack::Tensor, what: &str) -> Result<Vec<f32>> {
    let name = &tensor.name;
    let bytes = tensor.to_bytes().map_err(|e| anyhow!("{what}: `{name}`: {e}"))?;
    let squares = name.ends_with("moment_2");
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    for (index, &value) in values.iter().enumerate() {
        if !value.is_finite() || (squares && value < 0.0) {
            bail!("{what}: `{name}` holds {value} at {index}: a damaged state");
        }
    }
    Ok(values)
}

/// Named moments by the name they share (`{id}.momentum.`).
type Moments = HashMap<String, (String, Vec<f32>)>;

/// Each first moment beside its second, and within [`MOMENT_RATIO`] of it value by value.
fn check_moments(firsts: &Moments, seconds: &Moments, what: &str) -> Result<()> {
    for (moment, (first_name, first)) in firsts {
        let Some((second_name, second)) = seconds.get(moment) else {
            bail!("{what}: `{first_name}` has no second moment beside it");
        };
        let too_large = first
            .iter()
            .zip(second)
            .position(|(&m1, &m2)| f64::from(m1).powi(2) > MOMENT_RATIO * f64::from(m2) + MOMENT_SLACK);
        if let Some(index) = too_large {
            bail!(
                "{what}: `{first_name}` holds {:e} at {index}, more than an average of gradients can be beside `{second_name}`'s {:e}: a damaged state",
                first[index],
                second[index]
            );
        }
    }
    match seconds.iter().find(|(moment, _)| !firsts.contains_key(*moment)) {
        Some((_, (name, _))) => bail!("{what}: `{name}` has no first moment beside it"),
        None => Ok(()),
    }
}

/// The trained parameters by id.
type ById<'t> = HashMap<u64, &'t Trained>;

/// The shape of the trained parameter whose id `id` (decimal) is, or an error naming `entry`.
fn param_shape<'s>(by_id: &ById<'s>, id: &str, entry: &str, what: &str) -> Result<&'s [usize]> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| by_id.get(&id))
        .map(|param| param.shape.as_slice())
        .ok_or_else(|| {
            anyhow!(
                "{what}: `{entry}` belongs to no parameter this optimizer trains: the state of another model"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(first: Vec<f32>, second: Vec<f32>) -> (Moments, Moments) {
        let named = |suffix: &str, values| {
            HashMap::from([(
                "7.momentum.".to_string(),
                (format!("7.momentum.{suffix}"), values),
            )])
        };
        (named("moment_1", first), named("moment_2", second))
    }

    /// Adam's own averages, in f32 as burn keeps them, over gradients of every size (tiny ones
    /// whose squares round to 0 among them) and signs, pass; a first moment no average of
    /// gradients can reach beside its second does not.
    #[test]
    fn the_moments_of_real_gradients_pass_and_impossible_ones_are_named() {
        let (beta_1, beta_2) = (0.9f32, 0.999f32);
        let sizes = [1e-30f32, 1e-22, 1e-12, 1e-3, 1.0, 5.0, 1e6];
        let (mut m1, mut m2) = (vec![0f32; sizes.len() * 2], vec![0f32; sizes.len() * 2]);
        for step in 0..3000u32 {
            for (i, size) in sizes.iter().enumerate() {
                // One parameter steady, one whose gradient flips sign and fades.
                let flips = if step % 3 == 0 { -1.0 } else { 1.0 } * size * 0.999f32.powi(step as i32);
                for (j, g) in [(2 * i, *size), (2 * i + 1, flips)] {
                    m1[j] = beta_1 * m1[j] + (1.0 - beta_1) * g;
                    m2[j] = beta_2 * m2[j] + (1.0 - beta_2) * g * g;
                }
            }
            let (firsts, seconds) = moments(m1.clone(), m2.clone());
            check_moments(&firsts, &seconds, "state").unwrap();
        }
        let (firsts, seconds) = moments(vec![0.5, 3e38], vec![1.0, 0.0]);
        let err = check_moments(&firsts, &seconds, "state").unwrap_err().to_string();
        assert!(err.contains("`7.momentum.moment_1` holds 3e38 at 1"), "{err}");
        let (firsts, _) = moments(vec![0.5], vec![1.0]);
        let err = check_moments(&firsts, &HashMap::new(), "state")
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no second moment"), "{err}");
    }

    /// Before the first step there is no state; after it, every entry of every trained parameter,
    /// each of its kind, and nothing else.
    #[test]
    fn the_state_is_whole_after_a_step_and_empty_before() {
        let trained = [(
            7,
            Trained {
                name: "decoder.fcn.bias".into(),
                shape: vec![5],
            },
        )];
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        let tensors = set(&["7.momentum.moment_1", "7.momentum.moment_2"]);
        let scalars = set(&["7.momentum.time", "7.__rank"]);
        let none = BTreeSet::new();
        check_whole(&trained, &none, &none, 0, "state").unwrap();
        check_whole(&trained, &tensors, &scalars, 3, "state").unwrap();
        let err = check_whole(&trained, &tensors, &scalars, 0, "state")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("is the state of a step, but the run has taken none"),
            "{err}"
        );
        for left_out in tensors.iter().chain(&scalars) {
            let without =
                |names: &BTreeSet<String>| names.iter().filter(|n| *n != left_out).cloned().collect();
            let err = check_whole(&trained, &without(&tensors), &without(&scalars), 3, "state");
            let err = err.unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "`{left_out}`, the state of `decoder.fcn.bias`, is missing"
                )),
                "{err}"
            );
        }
        // A moment given as a scalar (burn reads moments only as tensors) is missing all the same.
        let err = check_whole(
            &trained,
            &set(&["7.momentum.moment_2"]),
            &set(&["7.momentum.moment_1", "7.momentum.time", "7.__rank"]),
            3,
            "state",
        );
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("the tensor `7.momentum.moment_1`")
        );
        let extra = set(&[
            "7.momentum.moment_1",
            "7.momentum.moment_2",
            "7.momentum.velocity",
        ]);
        let err = check_whole(&trained, &extra, &scalars, 3, "state")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("`7.momentum.velocity` is no part of Adam's state"),
            "{err}"
        );
    }
}
