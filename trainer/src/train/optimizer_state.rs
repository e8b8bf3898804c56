//! A checkpoint's optimizer state checked against the model before burn loads it. Adam's
//! moments are stored per parameter id, and the ids come from the run's seed, so another run's
//! state for tensors of other sizes loaded without complaint and the first step panicked adding
//! tensors of different shapes (and a state tensor without an id panics inside burn's loader).
//! Values are checked too: a NaN or negative second moment, a step count past `i32` (Adam
//! raises β to it as an `i32` after adding one) or past the run's steps, or a first moment too
//! large for its second turned the weights NaN, which training blamed on the learning rate.

use std::collections::HashMap;

use anyhow::{Result, anyhow, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bytes, DType, Tensor};
use burn_pack::{Reader, Scalar};

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

/// Every float parameter's shape, by parameter id.
#[derive(Default)]
struct ParamShapes(HashMap<u64, Vec<usize>>);

impl ModuleVisitor for ParamShapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .insert(param.id.val(), param.lazy_shape().as_slice().to_vec());
    }
}

/// Fails, naming the entry, unless every tensor of the burnpack `bytes` is an F32 state of one of
/// `model`'s parameters with that parameter's shape, every rank entry is its rank, and no step
/// count is past `steps`, the run's. `what` names the state in errors (`last.safetensors:
/// optimizer state`).
pub fn check(bytes: &[u8], model: &impl Module, steps: u64, what: &str) -> Result<()> {
    let mut shapes = ParamShapes::default();
    model.visit(&mut shapes);
    let reader = Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| anyhow!("{what}: not burn's optimizer state: {e}"))?;
    for (name, value) in reader.scalars() {
        let count = match *value {
            Scalar::UInt(n) => Some(n),
            Scalar::Int(n) => u64::try_from(n).ok(),
            _ => None,
        };
        if count.is_none_or(|n| n >= i32::MAX as u64) {
            bail!("{what}: `{name}` is {value:?}, not a count Adam can use");
        }
        if name.ends_with(TIME_SUFFIX) && count.is_some_and(|n| n > steps) {
            bail!("{what}: `{name}` is {value:?}, past the {steps} steps the run has taken");
        }
        let Some(id) = name.strip_suffix(RANK_SUFFIX) else {
            continue;
        };
        let shape = param_shape(&shapes, id, name, what)?;
        if *value != Scalar::UInt(shape.len() as u64) && *value != Scalar::Int(shape.len() as i64) {
            bail!(
                "{what}: `{name}` is {value:?}, but that parameter has rank {}",
                shape.len()
            );
        }
    }
    let tensors = reader
        .into_tensors()
        .map_err(|e| anyhow!("{what}: not burn's optimizer state: {e}"))?;
    let (mut firsts, mut seconds) = (HashMap::new(), HashMap::new());
    for tensor in tensors {
        let name = &tensor.name;
        let id = name.split('.').next().unwrap_or_default();
        if tensor.param_id.map(|p| p.to_string()).as_deref() != Some(id) {
            bail!("{what}: `{name}` is not marked as the state of parameter {id}");
        }
        let shape = param_shape(&shapes, id, name, what)?;
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
    }
    check_moments(&firsts, &seconds, what)
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

/// The shape of the parameter whose id `id` (decimal) is, or an error naming `entry`.
fn param_shape<'s>(shapes: &'s ParamShapes, id: &str, entry: &str, what: &str) -> Result<&'s [usize]> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| shapes.0.get(&id))
        .map(Vec::as_slice)
        .ok_or_else(|| {
            anyhow!("{what}: `{entry}` belongs to no parameter of this model: the state of another model")
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
}
