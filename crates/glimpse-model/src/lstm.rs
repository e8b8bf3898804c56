//! An LSTM cell with PyTorch's `nn.LSTMCell` semantics (burn has none).
//!
//! ```text
//! gates = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh        split as i, f, g, o
//! c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
//! h' = σ(o) ⊙ tanh(c')
//! ```

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::activation::{sigmoid, tanh};
use crate::params::{ParamSlot, TorchParams, join};

#[derive(Module, Debug)]
pub struct LstmCell {
    /// `weight_ih`, `bias_ih`: input → 4·hidden.
    input: Linear,
    /// `weight_hh`, `bias_hh`: hidden → 4·hidden.
    recurrent: Linear,
    hidden_size: usize,
}

/// The recurrent state `(h, c)`, each `[B, hidden]`.
#[derive(Debug, Clone)]
pub struct LstmState {
    pub h: Tensor<2>,
    pub c: Tensor<2>,
}

impl LstmCell {
    pub fn new(input_size: usize, hidden_size: usize, device: &Device) -> Self {
        LstmCell {
            input: LinearConfig::new(input_size, 4 * hidden_size).init(device),
            recurrent: LinearConfig::new(hidden_size, 4 * hidden_size).init(device),
            hidden_size,
        }
    }

    /// `x` `[B, input]`, state `[B, hidden]` → new state.
    pub fn forward(&self, x: Tensor<2>, state: LstmState) -> LstmState {
        let gates = self.input.forward(x) + self.recurrent.forward(state.h); // [B, 4H]
        let n = self.hidden_size;
        let gate = |k: usize| gates.clone().narrow(1, k * n, n);
        let (i, f, g, o) = (
            sigmoid(gate(0)),
            sigmoid(gate(1)),
            tanh(gate(2)),
            sigmoid(gate(3)),
        );
        let c = f * state.c + i * g;
        let h = o * tanh(c.clone());
        LstmState { h, c }
    }
}

impl TorchParams for LstmCell {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        visit(
            join(prefix, "weight_ih"),
            ParamSlot::LinearWeight(&mut self.input.weight),
        );
        visit(
            join(prefix, "weight_hh"),
            ParamSlot::LinearWeight(&mut self.recurrent.weight),
        );
        if let Some(bias) = &mut self.input.bias {
            visit(join(prefix, "bias_ih"), ParamSlot::Float1(bias));
        }
        if let Some(bias) = &mut self.recurrent.bias {
            visit(join(prefix, "bias_hh"), ParamSlot::Float1(bias));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// One step against values computed by hand from the equations above.
    #[test]
    fn matches_the_pytorch_equations() {
        let device = Device::flex();
        let mut cell = LstmCell::new(1, 1, &device);
        let mut weights = crate::weights::TensorMap::new();
        let t = |shape: Vec<usize>, data: Vec<f32>| crate::weights::HostTensor::new(shape, data).unwrap();
        // gate order i, f, g, o
        weights.insert("weight_ih", t(vec![4, 1], vec![0.5, -0.25, 1.0, 0.75]));
        weights.insert("weight_hh", t(vec![4, 1], vec![0.1, 0.2, -0.3, 0.4]));
        weights.insert("bias_ih", t(vec![4], vec![0.0, 0.1, 0.0, -0.1]));
        weights.insert("bias_hh", t(vec![4], vec![0.05, 0.0, 0.2, 0.0]));
        crate::params::load_params(&mut cell, &weights, &device).unwrap();
        let (x, h, c) = (2.0f32, -1.0f32, 0.5f32);
        let pre = |k: usize, wi: [f32; 4], wh: [f32; 4], bi: [f32; 4], bh: [f32; 4]| {
            wi[k] * x + bi[k] + wh[k] * h + bh[k]
        };
        let args = (
            [0.5, -0.25, 1.0, 0.75],
            [0.1, 0.2, -0.3, 0.4],
            [0.0, 0.1, 0.0, -0.1],
            [0.05, 0.0, 0.2, 0.0],
        );
        let s = |v: f32| 1.0 / (1.0 + (-v).exp());
        let gate = |k| pre(k, args.0, args.1, args.2, args.3);
        let c_new = s(gate(1)) * c + s(gate(0)) * gate(2).tanh();
        let h_new = s(gate(3)) * c_new.tanh();

        let tensor = |v: f32| Tensor::<2>::from_data(TensorData::new(vec![v], [1, 1]), &device);
        let state = cell.forward(
            tensor(x),
            LstmState {
                h: tensor(h),
                c: tensor(c),
            },
        );
        let got_h = state.h.into_data().try_into_vec_as::<f32>().unwrap()[0];
        let got_c = state.c.into_data().try_into_vec_as::<f32>().unwrap()[0];
        assert!(
            (got_h - h_new).abs() < 1e-6 && (got_c - c_new).abs() < 1e-6,
            "{got_h} {got_c}"
        );
    }
}
