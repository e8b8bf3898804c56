//! The one mapping between a model's burn parameters and their PyTorch state-dict names.
//!
//! Every module lists its tensors once, in [`TorchParams::visit_params`]; loading, exporting and
//! the list of expected shapes all walk that same list, so they cannot disagree.

use burn::module::{Param, ParamId, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Embedding, Linear};
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, NamedShape, Result, ShapeMismatch, WeightsMismatch};
use crate::weights::{HostTensor, TensorMap};

/// A parameter or buffer, as the visitor sees it.
pub enum ParamSlot<'a> {
    Float1(&'a mut Param<Tensor<1>>),
    Float2(&'a mut Param<Tensor<2>>),
    /// burn's `Linear` keeps `[in, out]`; PyTorch keeps `[out, in]`.
    LinearWeight(&'a mut Param<Tensor<2>>),
    Float4(&'a mut Param<Tensor<4>>),
    /// A BatchNorm running statistic (a buffer, not trained).
    Running1(&'a mut RunningState<Tensor<1>>),
}

/// A model part that knows the PyTorch names of its tensors.
pub trait TorchParams {
    /// Calls `visit` with every tensor's full name (`prefix` + its own) and slot.
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>));
}

/// `prefix` and `name` joined with a dot (no dot for an empty prefix).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl ParamSlot<'_> {
    /// The shape PyTorch gives this tensor.
    pub fn torch_shape(&self) -> Vec<usize> {
        match self {
            ParamSlot::Float1(p) => p.lazy_shape().to_vec(),
            ParamSlot::Float2(p) => p.lazy_shape().to_vec(),
            ParamSlot::LinearWeight(p) => {
                let dims = p.lazy_shape().to_vec();
                vec![dims[1], dims[0]]
            }
            ParamSlot::Float4(p) => p.lazy_shape().to_vec(),
            ParamSlot::Running1(r) => r.value_sync().shape().to_vec(),
        }
    }

    /// Replaces the value with `tensor` (already checked to have [`Self::torch_shape`]).
    ///
    /// The parameter's id is derived from its name, so that state keyed by id (an optimizer's
    /// moments) finds its parameter again when a checkpoint is loaded in another process.
    fn assign(self, name: &str, tensor: HostTensor, device: &Device) {
        match self {
            ParamSlot::Float1(p) => *p = named_param(name, upload::<1>(tensor, device)),
            ParamSlot::Float2(p) => *p = named_param(name, upload::<2>(tensor, device)),
            ParamSlot::LinearWeight(p) => {
                let transposed = transpose_2d(&tensor);
                drop(tensor);
                *p = named_param(name, upload::<2>(transposed, device));
            }
            ParamSlot::Float4(p) => *p = named_param(name, upload::<4>(tensor, device)),
            ParamSlot::Running1(r) => {
                *r = RunningState::with_id(ParamId::from(stable_id(name)), upload::<1>(tensor, device))
            }
        }
    }

    /// The current value, flattened in PyTorch's layout once read back.
    fn value(&self) -> Tensor<1> {
        match self {
            ParamSlot::Float1(p) => p.val(),
            ParamSlot::Float2(p) => p.val().reshape([-1]),
            // [in, out] → [out, in]
            ParamSlot::LinearWeight(p) => p.val().transpose().reshape([-1]),
            ParamSlot::Float4(p) => p.val().reshape([-1]),
            // With this thread's last update: a training step leaves BatchNorm's newest statistics
            // pending until the next forward, and a checkpoint read with `value()` held them one
            // step behind (a fine-tuned run resumed mid-epoch validated differently).
            ParamSlot::Running1(r) => r.value_sync(),
        }
    }
}

/// A trainable parameter whose id is a hash (FNV-1a) of its PyTorch name.
fn named_param<const D: usize>(name: &str, value: Tensor<D>) -> Param<Tensor<D>> {
    let (_, value, mapper) = Param::from_tensor(value).consume();
    Param::from_mapped_value(ParamId::from(stable_id(name)), value, mapper)
}

/// FNV-1a, 64 bit: stable across processes, platforms and releases.
pub fn stable_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn upload<const D: usize>(tensor: HostTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(tensor.data, tensor.shape), device)
}

fn transpose_2d(tensor: &HostTensor) -> HostTensor {
    let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
    let mut data = vec![0.0; tensor.data.len()];
    for r in 0..rows {
        for c in 0..cols {
            data[c * rows + r] = tensor.data[r * cols + c];
        }
    }
    HostTensor {
        shape: vec![cols, rows],
        data,
    }
}

/// Every tensor the module expects, with its PyTorch shape, in visiting order.
pub fn expected_shapes(module: &mut impl TorchParams) -> Vec<NamedShape> {
    let mut out = Vec::new();
    module.visit_params("", &mut |name, slot| {
        out.push(NamedShape {
            name,
            shape: slot.torch_shape(),
        });
    });
    out
}

/// Copies the tensors of `weights` into the module's parameters.
///
/// All-or-nothing: every expected tensor must be present with its shape and no other tensor may
/// be left over, otherwise nothing is assigned and the error lists every problem.
pub fn load_params(module: &mut impl TorchParams, weights: &TensorMap, device: &Device) -> Result<()> {
    check_fits(module, weights)?;
    module.visit_params("", &mut |name, slot| {
        let tensor = weights.get(&name).expect("checked above").clone();
        slot.assign(&name, tensor, device);
    });
    Ok(())
}

/// [`load_params`], moving each tensor out of `weights` as it is assigned: the weights are never
/// held twice (the browser's WebAssembly memory never shrinks, so a second copy would stay).
pub fn load_params_moving(
    module: &mut impl TorchParams,
    mut weights: TensorMap,
    device: &Device,
) -> Result<()> {
    check_fits(module, &weights)?;
    module.visit_params("", &mut |name, slot| {
        let tensor = weights.remove(&name).expect("checked above");
        slot.assign(&name, tensor, device);
    });
    Ok(())
}

/// Every tensor `module` expects is in `weights` with its shape, and nothing else is; else an
/// error listing every problem.
fn check_fits(module: &mut impl TorchParams, weights: &TensorMap) -> Result<()> {
    let expected = expected_shapes(module);
    let mut mismatch = WeightsMismatch::default();
    for NamedShape { name, shape } in &expected {
        match weights.get(name) {
            None => mismatch.missing.push(NamedShape {
                name: name.clone(),
                shape: shape.clone(),
            }),
            Some(tensor) if &tensor.shape != shape => mismatch.wrong_shape.push(ShapeMismatch {
                name: name.clone(),
                expected: shape.clone(),
                actual: tensor.shape.clone(),
            }),
            Some(_) => {}
        }
    }
    let known: std::collections::HashSet<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    for (name, tensor) in weights.iter() {
        if !known.contains(name) {
            mismatch.unexpected.push(NamedShape {
                name: name.to_string(),
                shape: tensor.shape.clone(),
            });
        }
    }
    if !mismatch.is_empty() {
        return Err(Error::Weights(mismatch));
    }
    Ok(())
}

/// Sets which parameters receive gradients: those whose PyTorch name `trainable` accepts.
/// (Buffers such as BatchNorm running statistics never do.)
pub fn set_trainable(module: &mut impl TorchParams, trainable: &dyn Fn(&str) -> bool) {
    module.visit_params("", &mut |name, slot| {
        let grad = trainable(&name);
        match slot {
            ParamSlot::Float1(p) => *p = p.clone().set_require_grad(grad),
            ParamSlot::Float2(p) | ParamSlot::LinearWeight(p) => *p = p.clone().set_require_grad(grad),
            ParamSlot::Float4(p) => *p = p.clone().set_require_grad(grad),
            ParamSlot::Running1(_) => {}
        }
    });
}

/// Reads every parameter back to the host under its PyTorch name and shape.
///
/// Async because browsers only allow asynchronous readback.
pub async fn export_params(module: &mut impl TorchParams) -> Result<TensorMap> {
    let mut pending = Vec::new();
    module.visit_params("", &mut |name, slot| {
        pending.push((name, slot.torch_shape(), slot.value()));
    });
    let mut out = TensorMap::new();
    for (name, shape, tensor) in pending {
        let data = tensor
            .into_data_async()
            .await
            .map_err(|e| Error::Backend(format!("reading `{name}`: {e:?}")))?;
        let data = data
            .try_into_vec_as::<f32>()
            .map_err(|e| Error::Backend(format!("reading `{name}`: {e:?}")))?;
        out.insert(name, HostTensor::new(shape, data)?);
    }
    Ok(out)
}

impl TorchParams for Linear {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        visit(join(prefix, "weight"), ParamSlot::LinearWeight(&mut self.weight));
        if let Some(bias) = &mut self.bias {
            visit(join(prefix, "bias"), ParamSlot::Float1(bias));
        }
    }
}

impl TorchParams for Conv2d {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        visit(join(prefix, "weight"), ParamSlot::Float4(&mut self.weight));
        if let Some(bias) = &mut self.bias {
            visit(join(prefix, "bias"), ParamSlot::Float1(bias));
        }
    }
}

impl TorchParams for BatchNorm {
    /// `num_batches_tracked` is training bookkeeping that inference never reads; it is not kept.
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        visit(join(prefix, "weight"), ParamSlot::Float1(&mut self.gamma));
        visit(join(prefix, "bias"), ParamSlot::Float1(&mut self.beta));
        visit(
            join(prefix, "running_mean"),
            ParamSlot::Running1(&mut self.running_mean),
        );
        visit(
            join(prefix, "running_var"),
            ParamSlot::Running1(&mut self.running_var),
        );
    }
}

impl TorchParams for Embedding {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        visit(join(prefix, "weight"), ParamSlot::Float2(&mut self.weight));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;

    #[test]
    fn linear_weights_are_transposed_both_ways() {
        let device = Device::flex();
        let mut linear = LinearConfig::new(3, 2).init(&device);
        let mut weights = TensorMap::new();
        // PyTorch [out=2, in=3]
        let w = HostTensor::new(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        weights.insert("weight", w.clone());
        weights.insert("bias", HostTensor::new(vec![2], vec![0.5, -0.5]).unwrap());
        load_params(&mut linear, &weights, &device).unwrap();
        // y = x W^T + b for x = [1, 0, 0] picks W's first column.
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0], [1, 3]), &device);
        let y = linear.forward(x).into_data().try_into_vec_as::<f32>().unwrap();
        assert_eq!(y, vec![1.5, 3.5]);
        let back = pollster::block_on(export_params(&mut linear)).unwrap();
        assert_eq!(back, weights);
    }

    #[test]
    fn every_problem_is_reported_at_once_and_nothing_is_assigned() {
        let device = Device::flex();
        let mut linear = LinearConfig::new(3, 2).init(&device);
        let before = linear.weight.val().into_data();
        let mut weights = TensorMap::new();
        weights.insert("weight", HostTensor::new(vec![3, 2], vec![0.0; 6]).unwrap());
        weights.insert("extra", HostTensor::new(vec![1], vec![0.0]).unwrap());
        let err = load_params(&mut linear, &weights, &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing tensor(s): `bias` [2]"), "{err}");
        assert!(err.contains("unexpected tensor(s): `extra` [1]"), "{err}");
        assert!(err.contains("`weight` is [3, 2], expected [2, 3]"), "{err}");
        assert_eq!(linear.weight.val().into_data(), before);
    }
}
