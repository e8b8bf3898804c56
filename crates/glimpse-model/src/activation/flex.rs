//! The vectorised kernels as a burn backend extension: on the CPU backend (`Flex`) they run over
//! the tensor's memory in place; under autodiff their gradients come from the saved output,
//! `1 − y²` and `y(1 − y)`, instead of evaluating `tanh` again.

use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;

use super::kernels;

#[cfg(feature = "autodiff")]
use burn::backend::{Autodiff, autodiff::checkpoint::strategy::CheckpointStrategy};

#[backend_extension(Flex, Autodiff: cfg(feature = "autodiff"))]
pub trait VectorActivations: Backend {
    /// `tanh` by [`kernels::tanh`].
    fn vector_tanh(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `sigmoid` by [`kernels::sigmoid`].
    fn vector_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl VectorActivations for Flex {
    fn vector_tanh(x: FlexTensor) -> FlexTensor {
        map_f32(x, kernels::tanh_in_place, Flex::float_tanh)
    }

    fn vector_sigmoid(x: FlexTensor) -> FlexTensor {
        map_f32(x, kernels::sigmoid_in_place, Flex::sigmoid)
    }
}

/// `kernel` over an f32 tensor: in place when the tensor owns its memory and is contiguous,
/// else over a contiguous copy. Other dtypes go to burn's own op, `fallback`.
fn map_f32(x: FlexTensor, kernel: fn(&mut [f32]), fallback: fn(FlexTensor) -> FlexTensor) -> FlexTensor {
    if x.dtype() != DType::F32 {
        return fallback(x);
    }
    let mut x = if x.is_contiguous() { x } else { x.to_contiguous() };
    let Some((start, end)) = x.layout().contiguous_offsets() else {
        return fallback(x); // (not reached: the layout was just made contiguous)
    };
    if let Some(values) = x.try_storage_mut::<f32>() {
        kernel(&mut values[start..end]);
        return x;
    }
    // Shared with another tensor: leave that one as it is.
    let shape = x.layout().shape().clone();
    let mut values = x.storage::<f32>()[start..end].to_vec();
    kernel(&mut values);
    FlexTensor::from_data(TensorData::new(values, shape))
}

#[cfg(feature = "autodiff")]
mod backward {
    use super::*;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};

    /// Which activation, for its gradient from the saved output `y`.
    #[derive(Debug)]
    pub(super) enum Activation {
        Tanh,
        Sigmoid,
    }

    impl<B: Backend> Backward<B, 1> for Activation {
        type State = FloatTensor<B>; // y, the forward output

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [parent] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let Some(parent) = parent else { return };
            let y = ops.state;
            let grad = match self {
                // grad · (1 − y²)
                Activation::Tanh => {
                    let one_minus_y2 =
                        B::float_add_scalar(B::float_neg(B::float_mul(y.clone(), y)), 1.0.into());
                    B::float_mul(grad, one_minus_y2)
                }
                // grad · y(1 − y)
                Activation::Sigmoid => B::sigmoid_backward(y, grad),
            };
            grads.register::<B>(parent.id, grad);
        }
    }

    pub(super) fn run<B: Backend, C: CheckpointStrategy>(
        activation: Activation,
        x: FloatTensor<Autodiff<B, C>>,
        forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    ) -> FloatTensor<Autodiff<B, C>> {
        let (x, node) = x.into_parts();
        match activation.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = forward(x);
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x)),
        }
    }
}

#[cfg(feature = "autodiff")]
impl<B: Backend + VectorActivations, C: CheckpointStrategy> VectorActivations for Autodiff<B, C> {
    fn vector_tanh(x: FloatTensor<Self>) -> FloatTensor<Self> {
        backward::run::<B, C>(backward::Activation::Tanh, x, B::vector_tanh)
    }

    fn vector_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        backward::run::<B, C>(backward::Activation::Sigmoid, x, B::vector_sigmoid)
    }
}
