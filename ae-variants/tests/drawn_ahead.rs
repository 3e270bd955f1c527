//! On a GPU the runner draws a variant's training and evaluation streams ahead (one upload per
//! block of noise instead of one per step) when the variant says every draw is of one kind.
//! Here, on the CPU, each variant that says so trains and evaluates with its streams drawn
//! ahead and gives exactly the numbers of the streams drawn step by step; the AAE's mixture
//! prior, which also draws indices, does not say so.

mod common;

use ae_core::data::{Batches, DataConfig, Dataset};
use ae_core::rng::{Purpose, Rng, Streams};
use ae_variants::Autoencoder;
use candle_core::Device;

fn mnist(binarize: &str) -> Dataset {
    let cfg: DataConfig = serde_saphyr::from_str(&format!("binarize: {binarize}")).unwrap();
    common::mnist(DataConfig {
        train_limit: Some(200),
        val_size: 0,
        test_limit: Some(64),
        ..cfg
    })
}

fn build(model_yaml: &str, data: &Dataset) -> Box<dyn Autoencoder> {
    common::build(model_yaml, data, Streams::new(3))
}

/// Every loss of two epochs at batch 48 (the last batch is smaller), then every evaluation
/// metric of the test images, as bits.
fn run(model: &mut dyn Autoencoder, data: &Dataset, ahead: bool) -> Vec<u32> {
    let streams = Streams::new(3);
    let dev = Device::Cpu;
    let stream = |purpose, epoch| -> Rng {
        let rng = streams.stream(purpose, epoch);
        if ahead {
            rng.always_ahead(&dev)
        } else {
            rng
        }
    };
    let mut out = Vec::new();
    for epoch in 0..2 {
        model.start_epoch(epoch);
        let mut rng = stream(Purpose::Train, epoch as u64);
        for x in Batches::new(data, 48, &streams, epoch as u64).unwrap() {
            for (_, t) in model.train_step(&x.unwrap(), &mut rng).unwrap() {
                out.push(t.to_scalar::<f32>().unwrap().to_bits());
            }
        }
    }
    let mut rng = stream(Purpose::Eval, 0);
    for (_, t) in model.evaluate(&data.test, &mut rng).unwrap() {
        out.extend(t.to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()));
    }
    out
}

#[test]
fn variants_drawn_ahead_give_the_same_numbers() {
    let cases = [
        ("{variant: plain}", "none"),
        (
            "{variant: denoising, noise: gaussian, noise_level: 0.5}",
            "none",
        ),
        ("{variant: denoising, noise: masking}", "none"),
        ("{variant: denoising, noise: salt_and_pepper}", "dynamic"),
        (
            "{variant: dropout, dropout: 0.2, hidden_dropout: 0.3}",
            "none",
        ),
        ("{variant: adversarial, prior: gaussian}", "none"),
        ("{variant: vae, kl_weight: 0.5}", "dynamic"),
        ("{variant: vae, arch: conv, channels: [4, 8]}", "none"),
        ("{variant: vae, train_samples: 3}", "dynamic"),
        (
            "{variant: vae, arch: conv, channels: [4, 8], train_samples: 2}",
            "none",
        ),
    ];
    for (yaml, binarize) in cases {
        let data = mnist(binarize);
        let mut step_by_step = build(yaml, &data);
        let mut ahead = build(yaml, &data);
        assert!(ahead.draws_one_kind(), "{yaml}");
        let a = run(step_by_step.as_mut(), &data, false);
        let b = run(ahead.as_mut(), &data, true);
        assert!(a.len() > 10, "{yaml}: {} values", a.len());
        assert_eq!(a, b, "{yaml}");
    }
    let data = mnist("none");
    assert!(!build("{variant: adversarial, prior: mixture}", &data).draws_one_kind());
}
