//! Each variant, built through `parse` as the runner builds it, trains a few steps on a few
//! hundred real MNIST images and its loss falls.

use ae_core::data::{Batches, DataConfig, Dataset};
use ae_core::optim::OptimizerConfig;
use ae_core::rng::{Purpose, Streams};
use ae_variants::{parse, BuildContext, ModelConfig};
use candle_core::Device;
use std::path::Path;

fn mnist(n: usize) -> Dataset {
    let cfg = DataConfig {
        root: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")),
        train_limit: Some(n),
        val_size: 0,
        test_limit: Some(100),
        ..Default::default()
    };
    Dataset::load(&cfg, &Device::Cpu, &Streams::new(0)).unwrap()
}

/// Mean of the first loss term over the first and the last 5 of `steps` steps.
fn first_and_last(model_yaml: &str, steps: usize) -> (f64, f64) {
    let data = mnist(320);
    let model = ModelConfig::from_value(serde_yaml::from_str(model_yaml).unwrap()).unwrap();
    let spec = parse(&model).unwrap();
    let streams = Streams::new(1);
    let opt = OptimizerConfig::default();
    let ctx = BuildContext {
        device: &Device::Cpu,
        input_dim: data.dim(),
        optimizer: &opt,
        streams,
    };
    let mut ae = spec.build(&model, &ctx).unwrap();
    let mut rng = streams.stream(Purpose::Train, 0);
    let mut losses = Vec::new();
    for epoch in 0.. {
        ae.start_epoch(epoch);
        for x in Batches::new(&data, 32, &streams, epoch as u64).unwrap() {
            let terms = ae.train_step(&x.unwrap(), &mut rng).unwrap();
            losses.push(terms[0].1.to_scalar::<f32>().unwrap() as f64);
            if losses.len() == steps {
                let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
                return (mean(&losses[..5]), mean(&losses[steps - 5..]));
            }
        }
    }
    unreachable!()
}

fn assert_falls(name: &str, yaml: &str, factor: f64) {
    let (first, last) = first_and_last(yaml, 40);
    assert!(
        first.is_finite() && last.is_finite(),
        "{name}: {first} -> {last}"
    );
    assert!(
        last < factor * first,
        "{name}: loss {first:.4} -> {last:.4}, expected below {factor} x"
    );
}

#[test]
fn plain_loss_falls() {
    assert_falls("plain", "{variant: plain, code_activation: relu}", 0.7);
}

#[test]
fn plain_bce_loss_falls() {
    assert_falls("plain bce", "{variant: plain, loss: bce}", 0.7);
}

#[test]
fn denoising_loss_falls() {
    assert_falls(
        "denoising",
        "{variant: denoising, noise: salt_and_pepper, noise_level: 0.2}",
        0.7,
    );
}

#[test]
fn dropout_loss_falls() {
    assert_falls(
        "dropout",
        "{variant: dropout, dropout: 0.2, hidden_dropout: 0.1}",
        0.7,
    );
}

#[test]
fn adversarial_reconstruction_loss_falls() {
    assert_falls(
        "adversarial",
        "{variant: adversarial, prior: mixture, latent_dim: 4}",
        0.7,
    );
}

#[test]
fn vae_loss_falls() {
    assert_falls("vae", "{variant: vae, warmup_epochs: 2}", 0.7);
    assert_falls(
        "vae gaussian",
        "{variant: vae, likelihood: gaussian, sigma: 0.3}",
        0.9,
    );
}
