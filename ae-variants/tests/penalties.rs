//! The deterministic models' loss terms against the same sums written out in f64 from the
//! model's own code, reconstruction and weights, on one batch of real MNIST.

mod common;

use ae_core::data::{Batches, DataConfig};
use ae_core::rng::{Purpose, Streams};

fn f64s(t: &candle_core::Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// RAE-L2: loss = MSE + beta x mean ||z||^2 / 2 + lambda x the decoder's squared norm.
#[test]
fn rae_loss_is_its_three_terms_by_hand() {
    let data = common::mnist(DataConfig {
        train_limit: Some(64),
        val_size: 0,
        test_limit: Some(10),
        ..Default::default()
    });
    let streams = Streams::new(2);
    let (beta, lambda) = (0.01, 1e-3);
    let yaml = format!("{{variant: rae, hidden: [32], latent_dim: 5, code_weight: {beta}, decoder_weight: {lambda}}}");
    let mut ae = common::build(&yaml, &data, streams);
    let batch = Batches::new(&data, 32, &streams, 0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let x = f64s(&batch.images);
    let z = ae.encode(&batch.images).unwrap();
    let (n, dz) = z.dims2().unwrap();
    let probs = f64s(&candle_nn::ops::sigmoid(&ae.decode(&z).unwrap()).unwrap());
    let z = f64s(&z);
    let recon = probs
        .iter()
        .zip(&x)
        .map(|(p, x)| (p - x).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    let code = z
        .chunks(dz)
        .map(|r| 0.5 * r.iter().map(|v| v * v).sum::<f64>())
        .sum::<f64>()
        / n as f64;
    let decoder: f64 = ae
        .backbone()
        .vars(&["dec."])
        .iter()
        .map(|(_, v)| f64s(v.as_tensor()).iter().map(|w| w * w).sum::<f64>())
        .sum();
    let mut rng = streams.stream(Purpose::Train, 0);
    let terms = ae.train_step(&batch, &mut rng).unwrap();
    let got: Vec<(&str, f64)> = terms.iter().map(|(m, v)| (m.name, f64s(v)[0])).collect();
    let want = [
        ("loss", recon + beta * code + lambda * decoder),
        ("recon", recon),
        ("code_norm", code),
        ("decoder_norm", decoder),
    ];
    for ((gn, g), (wn, w)) in got.iter().zip(want) {
        assert_eq!(*gn, wn);
        assert!((g - w).abs() < 1e-5 * w.abs(), "{wn}: {g} vs {w}");
    }
    // Each penalty is a share of the loss that the test can see.
    assert!(
        beta * code > 1e-3 * recon && lambda * decoder > 1e-3 * recon,
        "{want:?}"
    );
}

/// Contractive: loss = MSE + lambda x the mean over images of ||J||^2, with the Jacobian of
/// the model's own encoder taken by central differences (f32, so to 1e-3).
#[test]
fn contractive_loss_is_reconstruction_and_the_jacobian_by_differences() {
    use candle_core::Tensor;
    let data = common::mnist(DataConfig {
        train_limit: Some(64),
        val_size: 0,
        test_limit: Some(10),
        ..Default::default()
    });
    let streams = Streams::new(3);
    let lambda = 0.1;
    let yaml = format!(
        "{{variant: contractive, hidden: [32, 16], latent_dim: 5, activation: tanh, contractive_weight: {lambda}}}"
    );
    let mut ae = common::build(&yaml, &data, streams);
    let batch = Batches::new(&data, 4, &streams, 0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let z = ae.encode(&batch.images).unwrap();
    let probs = f64s(&candle_nn::ops::sigmoid(&ae.decode(&z).unwrap()).unwrap());
    let x = f64s(&batch.images);
    let recon = probs
        .iter()
        .zip(&x)
        .map(|(p, x)| (p - x).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    let (n, d) = batch.images.dims2().unwrap();
    let h = 1e-2;
    let eye =
        (Tensor::eye(d, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap() * h).unwrap();
    let mut jacobian = 0.0;
    for i in 0..n {
        let row = batch.images.narrow(0, i, 1).unwrap();
        let up = ae.encode(&row.broadcast_add(&eye).unwrap()).unwrap();
        let down = ae.encode(&row.broadcast_sub(&eye).unwrap()).unwrap();
        let diff = f64s(&(up - down).unwrap());
        jacobian += diff.iter().map(|v| (v / (2.0 * h)).powi(2)).sum::<f64>() / n as f64;
    }
    let mut rng = streams.stream(Purpose::Train, 0);
    let terms = ae.train_step(&batch, &mut rng).unwrap();
    let got: Vec<(&str, f64)> = terms.iter().map(|(m, v)| (m.name, f64s(v)[0])).collect();
    let want = [
        ("loss", recon + lambda * jacobian),
        ("recon", recon),
        ("jacobian", jacobian),
    ];
    for ((gn, g), (wn, w)) in got.iter().zip(want) {
        assert_eq!(*gn, wn);
        assert!((g - w).abs() < 1e-3 * w.abs(), "{wn}: {g} vs {w}");
    }
    assert!(lambda * jacobian > 1e-2 * recon, "{want:?}");
}
