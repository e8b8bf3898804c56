use burn::tensor::{Device, Tensor, TensorData, activation};

use super::{kernels, sigmoid, tanh};

fn values() -> Vec<f32> {
    let mut values: Vec<f32> = (0..600).map(|i| (i as f32 - 300.0) * 0.07).collect();
    values.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1000.0, -1000.0]);
    values
}

fn read<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().try_to_vec().unwrap()
}

/// Bit-exact, NaN included.
fn assert_same(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.to_bits(), w.to_bits(), "{g} against {w}");
    }
}

#[test]
fn the_cpu_backend_runs_the_kernels() {
    let device = Device::flex();
    let x = Tensor::<1>::from_data(TensorData::new(values(), [606]), &device);
    let want = |f: fn(f32) -> f32| values().into_iter().map(f).collect::<Vec<_>>();
    // `x` stays in use: the kernels must not write over a tensor that is shared.
    assert_same(&read(tanh(x.clone())), &want(kernels::tanh));
    assert_same(&read(sigmoid(x.clone())), &want(kernels::sigmoid));
    assert_same(&read(x), &values());
}

#[test]
fn strided_and_narrowed_tensors_give_the_same_values() {
    let device = Device::flex();
    let x = Tensor::<2>::from_data(TensorData::new(values(), [6, 101]), &device);
    let transposed = read(tanh(x.clone().transpose()));
    assert_same(&transposed, &read(tanh(x.clone()).transpose()));
    let narrowed = read(sigmoid(x.clone().narrow(1, 3, 50)));
    assert_same(&narrowed, &read(sigmoid(x).narrow(1, 3, 50)));
}

#[test]
fn close_to_burns_own_activations() {
    let device = Device::flex();
    let finite: Vec<f32> = values().into_iter().filter(|v| v.is_finite()).collect();
    let x = Tensor::<1>::from_data(TensorData::new(finite.clone(), [finite.len()]), &device);
    for (ours, theirs) in [
        (read(tanh(x.clone())), read(activation::tanh(x.clone()))),
        (read(sigmoid(x.clone())), read(activation::sigmoid(x.clone()))),
    ] {
        for ((o, t), v) in ours.iter().zip(&theirs).zip(&finite) {
            // Below -87, sigmoid gives about 6e-39 for 0 (see kernels::exp).
            assert!(
                (o - t).abs() <= 4.0 * f32::EPSILON * t.abs() + 1e-38,
                "at {v}: {o} against {t}"
            );
        }
    }
}

#[test]
fn other_dtypes_use_burns_ops() {
    let device = Device::flex();
    let x = Tensor::<1>::from_data(TensorData::new(vec![-3.0f64, 0.25, 20.0], [3]), &device)
        .cast(burn::tensor::FloatDType::F64);
    assert_eq!(x.dtype(), burn::tensor::DType::F64);
    assert_eq!(
        tanh(x.clone()).into_data(),
        activation::tanh(x.clone()).into_data()
    );
    assert_eq!(sigmoid(x.clone()).into_data(), activation::sigmoid(x).into_data());
}

/// Gradients from the saved output: `1 − y²` and `y(1 − y)`, as burn's own ops give them.
#[cfg(feature = "autodiff")]
#[test]
fn gradients_match_burns() {
    let device = Device::flex().autodiff();
    let data = TensorData::new(vec![-20.0f32, -2.5, -0.3, 0.0, 0.4, 1.7, 9.0], [7]);
    type Activation = fn(Tensor<1>) -> Tensor<1>;
    let ours_and_theirs: [(Activation, Activation); 2] =
        [(tanh, activation::tanh), (sigmoid, activation::sigmoid)];
    for (ours, theirs) in ours_and_theirs {
        let grad = |f: Activation| {
            let x = Tensor::<1>::from_data(data.clone(), &device).require_grad();
            // A weight per element, so that each gradient is checked on its own.
            let weights = Tensor::<1>::from_data(
                TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [7]),
                &device,
            );
            let grads = (f(x.clone()) * weights).sum().backward();
            read(x.grad(&grads).unwrap())
        };
        let (got, want) = (grad(ours), grad(theirs));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1e-30),
                "{got:?} against {want:?}"
            );
        }
    }
}
