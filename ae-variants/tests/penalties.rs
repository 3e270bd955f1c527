//! The loss terms of the models built on penalties and codebooks against the same sums written
//! out in f64 from the model's own code, reconstruction and weights, on one batch of real MNIST.

mod common;

use ae_core::data::{Batches, DataConfig, Dataset, Split};
use ae_core::rng::{Purpose, Streams};
use ae_variants::Autoencoder;

fn f64s(t: &candle_core::Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The first `train` real training images (no validation split) and 10 test images.
fn mnist(train: usize) -> Dataset {
    common::mnist(DataConfig {
        train_limit: Some(train),
        val_size: 0,
        test_limit: Some(10),
        ..Default::default()
    })
}

/// The first batch of `size` images of epoch 0.
fn first_batch(data: &Dataset, streams: &Streams, size: usize) -> Split {
    Batches::new(data, size, streams, 0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

/// The mean of the squared differences of two equally long lists.
fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

/// The model's variable `name`, flat.
fn var(ae: &dyn Autoencoder, name: &str) -> Vec<f64> {
    f64s(ae.backbone().vars(&[name])[0].1.as_tensor())
}

/// One training step on `batch` logs the terms `want`, in order, each within `tol(value)`.
fn assert_step(
    ae: &mut dyn Autoencoder,
    batch: &Split,
    streams: &Streams,
    want: &[(&str, f64)],
    tol: impl Fn(f64) -> f64,
) {
    let terms = ae
        .train_step(batch, &mut streams.stream(Purpose::Train, 0))
        .unwrap();
    let got: Vec<(&str, f64)> = terms.iter().map(|(m, v)| (m.name, f64s(v)[0])).collect();
    for ((gn, g), (wn, w)) in got.iter().zip(want) {
        assert_eq!(gn, wn);
        assert!((g - w).abs() < tol(*w), "{wn}: {g} vs {w}");
    }
}

/// RAE-L2: loss = MSE + beta x mean ||z||^2 / 2 + lambda x the decoder's squared norm.
#[test]
fn rae_loss_is_its_three_terms_by_hand() {
    let data = mnist(64);
    let streams = Streams::new(2);
    let (beta, lambda) = (0.01, 1e-3);
    let yaml = format!("{{variant: rae, hidden: [32], latent_dim: 5, code_weight: {beta}, decoder_weight: {lambda}}}");
    let mut ae = common::build(&yaml, &data, streams);
    let batch = first_batch(&data, &streams, 32);
    let x = f64s(&batch.images);
    let z = ae.encode(&batch).unwrap();
    let (n, dz) = z.dims2().unwrap();
    let probs = f64s(&candle_nn::ops::sigmoid(&ae.decode(&z, None).unwrap()).unwrap());
    let z = f64s(&z);
    let recon = mse(&probs, &x);
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
    let want = [
        ("loss", recon + beta * code + lambda * decoder),
        ("recon", recon),
        ("code_norm", code),
        ("decoder_norm", decoder),
    ];
    assert_step(ae.as_mut(), &batch, &streams, &want, |w: f64| {
        1e-5 * w.abs()
    });
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
    let data = mnist(64);
    let streams = Streams::new(3);
    let lambda = 0.1;
    let yaml = format!(
        "{{variant: contractive, hidden: [32, 16], latent_dim: 5, activation: tanh, contractive_weight: {lambda}}}"
    );
    let mut ae = common::build(&yaml, &data, streams);
    let batch = first_batch(&data, &streams, 4);
    let z = ae.encode(&batch).unwrap();
    let probs = f64s(&candle_nn::ops::sigmoid(&ae.decode(&z, None).unwrap()).unwrap());
    let x = f64s(&batch.images);
    let recon = mse(&probs, &x);
    let (n, d) = batch.images.dims2().unwrap();
    let h = 1e-2;
    let eye =
        (Tensor::eye(d, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap() * h).unwrap();
    let mut jacobian = 0.0;
    for i in 0..n {
        let row = batch.images.narrow(0, i, 1).unwrap();
        let encode = |x: Tensor| candle_nn::Module::forward(&ae.backbone().encoder, &x).unwrap();
        let up = encode(row.broadcast_add(&eye).unwrap());
        let down = encode(row.broadcast_sub(&eye).unwrap());
        let diff = f64s(&(up - down).unwrap());
        jacobian += diff.iter().map(|v| (v / (2.0 * h)).powi(2)).sum::<f64>() / n as f64;
    }
    let want = [
        ("loss", recon + lambda * jacobian),
        ("recon", recon),
        ("jacobian", jacobian),
    ];
    assert_step(ae.as_mut(), &batch, &streams, &want, |w: f64| {
        1e-3 * w.abs()
    });
    assert!(lambda * jacobian > 1e-2 * recon, "{want:?}");
}

/// The small VQ-VAE of these tests: a 6-number code as 3 positions of 2, 8 code vectors.
const VQVAE: &str =
    "variant: vqvae, hidden: [32], latent_dim: 6, embedding_dim: 2, codebook_size: 8";

/// The nearest code of each `dim`-row of `z` in `codebook`, by hand.
fn nearest(z: &[f64], codebook: &[f64], dim: usize) -> Vec<usize> {
    z.chunks(dim)
        .map(|row| {
            let d = |c: &[f64]| row.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            let codes: Vec<&[f64]> = codebook.chunks(dim).collect();
            (0..codes.len())
                .min_by(|&a, &b| d(codes[a]).total_cmp(&d(codes[b])))
                .unwrap()
        })
        .collect()
}

/// VQ-VAE: loss = MSE of the decoded nearest codes + the codebook term + 0.25 x the
/// commitment (both the mean squared distance from each position to its code), and the
/// batch's perplexity and codes in use, from the model's encoder, codebook and decoder.
#[test]
fn vqvae_loss_is_its_terms_by_hand() {
    let data = mnist(64);
    let streams = Streams::new(4);
    let yaml = &format!("{{{VQVAE}}}");
    let mut ae = common::build(yaml, &data, streams);
    let batch = first_batch(&data, &streams, 32);
    let x = f64s(&batch.images);
    let ze = f64s(&candle_nn::Module::forward(&ae.backbone().encoder, &batch.images).unwrap());
    let codebook = var(ae.as_ref(), "vq.codebook");
    let index = nearest(&ze, &codebook, 2);
    let zq: Vec<f64> = index
        .iter()
        .flat_map(|&i| codebook[2 * i..2 * i + 2].to_vec())
        .collect();
    let zq_t = candle_core::Tensor::new(zq.clone(), &candle_core::Device::Cpu)
        .unwrap()
        .reshape((32, 6))
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap();
    let logits = candle_nn::Module::forward(&ae.backbone().decoder, &zq_t).unwrap();
    let probs = f64s(&candle_nn::ops::sigmoid(&logits).unwrap());
    let recon = mse(&probs, &x);
    let dist = mse(&ze, &zq);
    let mut counts = [0.0; 8];
    index.iter().for_each(|&i| counts[i] += 1.0);
    let m = index.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0.0)
        .map(|c| -(c / m) * (c / m).ln())
        .sum();
    let used = counts.iter().filter(|c| **c > 0.0).count() as f64 / 8.0;
    let want = [
        ("loss", recon + dist + 0.25 * dist),
        ("recon", recon),
        ("codebook", dist),
        ("commitment", dist),
        ("perplexity", entropy.exp()),
        ("codes_used", used),
    ];
    assert_step(ae.as_mut(), &batch, &streams, &want, |w: f64| {
        1e-5 * w.abs().max(1e-3)
    });
    assert!(entropy.exp() > 1.5, "more than one code in use: {want:?}");
}

/// With `ema`, a step sets each code from the decayed averages: counts 1 and sums the code
/// itself at the start, then count_k = 0.99 + 0.01 n_k, sum_k = 0.99 e_k + 0.01 s_k, and
/// e_k = sum_k / smoothed count_k, with the batch's assignments n_k and their sums s_k.
#[test]
fn vqvae_ema_moves_the_codes_to_their_assignments_mean() {
    let data = mnist(64);
    let streams = Streams::new(4);
    let yaml = &format!("{{{VQVAE}, ema: true}}");
    let mut ae = common::build(yaml, &data, streams);
    let batch = first_batch(&data, &streams, 32);
    let ze = f64s(&candle_nn::Module::forward(&ae.backbone().encoder, &batch.images).unwrap());
    let before = var(ae.as_ref(), "vq.codebook");
    let index = nearest(&ze, &before, 2);
    let names: Vec<String> = ae
        .train_step(&batch, &mut streams.stream(Purpose::Train, 0))
        .unwrap()
        .iter()
        .map(|(m, _)| m.name.to_string())
        .collect();
    assert!(!names.contains(&"codebook".to_string()), "{names:?}");
    let after = var(ae.as_ref(), "vq.codebook");
    let (mut n, mut s) = ([0.0; 8], [0.0; 16]);
    for (row, &i) in ze.chunks(2).zip(&index) {
        n[i] += 1.0;
        s[2 * i] += row[0];
        s[2 * i + 1] += row[1];
    }
    let counts: Vec<f64> = n.iter().map(|c| 0.99 + 0.01 * c).collect();
    let total: f64 = counts.iter().sum();
    let mut moved = 0;
    for k in 0..8 {
        let smoothed = (counts[k] + 1e-5) * total / (total + 8.0 * 1e-5);
        for j in 0..2 {
            let want = (0.99 * before[2 * k + j] + 0.01 * s[2 * k + j]) / smoothed;
            let got = after[2 * k + j];
            assert!((got - want).abs() < 1e-5, "code {k}[{j}]: {got} vs {want}");
        }
        moved += usize::from(n[k] > 0.0);
    }
    assert!(moved >= 2, "{n:?}");
}

/// The moving averages are training state: after steps that moved them, a checkpoint
/// restored into a fresh model holds the same averages and codebook.
#[test]
fn vqvae_ema_state_goes_through_a_checkpoint() {
    let data = mnist(96);
    let streams = Streams::new(4);
    let yaml = &format!("{{{VQVAE}, ema: true}}");
    let mut ae = common::build(yaml, &data, streams);
    let mut rng = streams.stream(Purpose::Train, 0);
    for batch in Batches::new(&data, 32, &streams, 0).unwrap() {
        ae.train_step(&batch.unwrap(), &mut rng).unwrap();
    }
    let counts = var(ae.as_ref(), "vq.ema_count");
    assert!(counts.iter().any(|c| (c - 1.0).abs() > 1e-3), "{counts:?}");
    let saved = ae_variants::checkpoint_state(ae.as_mut()).unwrap();
    let mut fresh = common::build(yaml, &data, Streams::new(9));
    ae_variants::restore_state(fresh.as_mut(), &saved).unwrap();
    for name in ["vq.codebook", "vq.ema_count", "vq.ema_sum"] {
        let (a, b) = (var(ae.as_ref(), name), var(fresh.as_ref(), name));
        assert_eq!(a, b, "{name}");
    }
}

/// The codebook learns from its own term only: with plain SGD at rate 1 one step moves code k
/// by minus the codebook term's gradient, 2 / (numbers of the code) x sum over the positions
/// assigned to k of (e_k - z_e), and leaves the codes no position chose where they were. A
/// commitment term leaking into the codebook would move it (1 + beta) times as far.
#[test]
fn vqvae_codebook_moves_by_its_own_terms_gradient_only() {
    let data = mnist(64);
    let streams = Streams::new(4);
    let yaml = &format!("{{{VQVAE}}}");
    let mut sgd = ae_core::optim::OptimizerConfig::of_kind("sgd").unwrap();
    sgd.lr = 1.0;
    let mut ae = common::build_with(yaml, &data, streams, sgd);
    let batch = first_batch(&data, &streams, 32);
    let ze = f64s(&candle_nn::Module::forward(&ae.backbone().encoder, &batch.images).unwrap());
    let before = var(ae.as_ref(), "vq.codebook");
    let index = nearest(&ze, &before, 2);
    let mut grad = [0.0; 16];
    for (row, &k) in ze.chunks(2).zip(&index) {
        for j in 0..2 {
            grad[2 * k + j] += 2.0 * (before[2 * k + j] - row[j]) / ze.len() as f64;
        }
    }
    ae.train_step(&batch, &mut streams.stream(Purpose::Train, 0))
        .unwrap();
    let after = var(ae.as_ref(), "vq.codebook");
    for e in 0..16 {
        let want = before[e] - grad[e];
        assert!(
            (after[e] - want).abs() < 1e-6,
            "codebook[{e}]: {} vs {want}",
            after[e]
        );
    }
    let moved = (0..16).filter(|&e| grad[e].abs() > 1e-4).count();
    assert!(moved >= 4, "{grad:?}");
}
