//! Every model of the registry, with its default keys, on the MLP and on the conv backbone:
//! it builds, trains a few steps with finite losses that it names, evaluates in the shared
//! vocabulary first (the metrics `--check` takes it to report), samples images in [0, 1] (or
//! says it has no prior), and its whole training
//! state goes through a checkpoint exactly. A new model gets all of this by its registry line.

mod common;

use ae_core::data::{Batches, DataConfig};
use ae_core::metrics::{BCE, MSE, PSNR};
use ae_core::rng::{Purpose, Streams};
use ae_variants::{checkpoint_state, registry, restore_state};
use candle_core::Tensor;
use candle_nn::Module;

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(candle_core::DType::F64)
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn every_model_trains_evaluates_samples_and_checkpoints_on_both_backbones() {
    let data = common::mnist(DataConfig {
        train_limit: Some(96),
        val_size: 0,
        test_limit: Some(32),
        ..Default::default()
    });
    let names = registry::names();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        for arch in [
            "{arch: mlp, hidden: [32]}",
            "{arch: conv, channels: [4, 8]}",
        ] {
            let yaml = format!("{{variant: {name}, latent_dim: 4, {}", &arch[1..]);
            // A model may refuse a backbone, as `--check` would: naming `model.arch`.
            if let Err(e) = registry::read(serde_saphyr::from_str(&yaml).unwrap()) {
                assert_eq!(e.key, "model.arch", "{yaml}: {e:?}");
                assert!(
                    arch.contains("conv"),
                    "{yaml}: every model trains on the MLP"
                );
                continue;
            }
            let streams = Streams::new(5);
            let mut ae = common::build(&yaml, &data, streams);
            let mut rng = streams.stream(Purpose::Train, 0);
            ae.start_epoch(0);
            for batch in Batches::new(&data, 32, &streams, 0).unwrap() {
                let terms = ae.train_step(&batch.unwrap(), &mut rng).unwrap();
                assert!(!terms.is_empty(), "{yaml}");
                for (m, v) in &terms {
                    assert!(scalar(v).is_finite(), "{yaml}: {m} = {}", scalar(v));
                }
            }
            // The MLP encoder's layers are exposed, and its trace ends where the encoder does.
            let encoder = &ae.backbone().encoder;
            match encoder.mlp() {
                Some(mlp) => {
                    let test = &data.test;
                    let x = &ae.backbone().encoder_input(&test.images, &test.labels);
                    let x = x.as_ref().unwrap();
                    let last = mlp.trace(x).unwrap().pop().unwrap().1;
                    let d = (last - encoder.forward(x).unwrap()).unwrap().abs().unwrap();
                    assert!(scalar(&d) < 1e-6, "{yaml}: trace {}", scalar(&d));
                }
                None => assert!(arch.contains("conv"), "{yaml}"),
            }
            let metrics = ae.evaluate(&data.test, &mut rng).unwrap();
            let first: Vec<_> = metrics.iter().take(3).map(|(m, _)| *m).collect();
            assert_eq!(first, vec![MSE, PSNR, BCE], "{yaml}");
            // What --check takes for the model's validation metrics is what it reports.
            let (model, spec) = registry::read(serde_saphyr::from_str(&yaml).unwrap()).unwrap();
            let listed = ae_variants::vocabulary::of(&model, spec.as_ref()).unwrap();
            let reported: Vec<_> = metrics.iter().map(|(m, _)| *m).collect();
            assert_eq!(listed.held_out, reported, "{yaml}");
            let weights = ae.log_weights(&data.test, 2, &mut rng).unwrap();
            assert_eq!(listed.likelihood, weights.is_some(), "{yaml}");
            for (m, v) in &metrics {
                assert_eq!(v.dims(), &[32], "{yaml}: {m} is per image");
                assert!(scalar(v).is_finite(), "{yaml}: {m}");
            }
            let mut sample_rng = streams.stream(Purpose::Sample, 0);
            let labels = data.test.labels.narrow(0, 0, 6).unwrap();
            if let Some(s) = ae.sample(6, Some(&labels), &mut sample_rng).unwrap() {
                assert_eq!(s.dims(), &[6, 784], "{yaml}");
                let v: Vec<f32> = s.flatten_all().unwrap().to_vec1().unwrap();
                assert!(v.iter().all(|p| (0.0..=1.0).contains(p)), "{yaml}");
            }
            // The state after training, restored into a fresh model, is the same state.
            let saved = checkpoint_state(ae.as_mut()).unwrap();
            let mut fresh = common::build(&yaml, &data, Streams::new(6));
            restore_state(fresh.as_mut(), &saved).unwrap();
            let again = checkpoint_state(fresh.as_mut()).unwrap();
            assert_eq!(saved.len(), again.len(), "{yaml}");
            for (k, t) in &saved {
                let d = (t - &again[k]).unwrap().abs().unwrap();
                assert_eq!(scalar(&d), 0.0, "{yaml}: {k}");
            }
        }
    }
}
