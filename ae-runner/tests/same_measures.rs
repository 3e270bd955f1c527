//! The learning curves draw a training term and a held-out metric in one panel only where
//! they are one measure (results/plot.rs `same_measures`). This checks it on the models: for
//! the variants trained on clean images, the training `recon` of a batch, taken before the
//! step, is the mean over the batch of the per-image `mse` or `bce` that evaluation reports;
//! for the denoising and dropout variants it is not (their training input is corrupted).

use ae_core::data::Split;
use ae_core::optim::OptimizerConfig;
use ae_core::rng::{Purpose, Streams};
use ae_runner::results::plot::CLEAN_INPUT_VARIANTS;
use ae_variants::{registry, BuildContext};
use candle_core::{DType, Device, Tensor};

/// The training `recon` and the evaluation `loss` metric of one batch, by the same weights
/// (the training term is taken before its step).
fn train_and_eval(model_yaml: &str, loss: &str) -> (f64, f64) {
    let dev = Device::Cpu;
    let streams = Streams::new(3);
    let (model, spec) = registry::read(serde_saphyr::from_str(model_yaml).unwrap()).unwrap();
    let opt = OptimizerConfig::default();
    let ctx = BuildContext {
        device: &dev,
        input_dim: 784,
        image_shape: (1, 28, 28),
        classes: 10,
        optimizer: &opt,
        streams,
    };
    let mut ae = spec.build(&model, &ctx).unwrap();
    let mut rng = streams.stream(Purpose::Train, 0);
    // Images of two halves, one bright and one dark, in a different place in each.
    let px: Vec<f32> = (0..16 * 784)
        .map(|i| f32::from(u8::from((i % 784 + 37 * (i / 784)) % 784 < 392)))
        .collect();
    let images = Tensor::from_vec(px, (16, 784), &dev).unwrap();
    let batch = Split {
        images,
        labels: Tensor::zeros(16, DType::U32, &dev).unwrap(),
    };
    // Trained a little first, so that the output depends on the input.
    ae.start_epoch(0);
    for _ in 0..100 {
        ae.train_step(&batch, &mut rng).unwrap();
    }
    let metrics = ae
        .evaluate(&batch, &mut streams.stream(Purpose::Eval, 0))
        .unwrap();
    let (_, per_image) = metrics.iter().find(|(m, _)| m.name == loss).unwrap();
    let eval = per_image.mean_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    let terms = ae.train_step(&batch, &mut rng).unwrap();
    let (_, recon) = terms.iter().find(|(m, _)| m.name == "recon").unwrap();
    (recon.to_scalar::<f32>().unwrap() as f64, eval)
}

#[test]
fn a_clean_input_models_training_recon_is_its_held_out_mse_or_bce() {
    for variant in CLEAN_INPUT_VARIANTS {
        for loss in ["mse", "bce"] {
            let (train, eval) =
                train_and_eval(&format!("{{variant: {variant}, loss: {loss}}}"), loss);
            assert!(
                (train - eval).abs() <= 1e-5 * eval.abs(),
                "{variant} {loss}: train {train}, eval {eval}"
            );
        }
    }
}

#[test]
fn a_corrupted_input_models_training_recon_is_not() {
    for model in [
        "{variant: denoising, loss: mse, noise: masking, noise_level: 0.5}",
        "{variant: dropout, loss: mse, dropout: 0.5}",
    ] {
        let (train, eval) = train_and_eval(model, "mse");
        assert!(
            (train - eval).abs() > 1e-3 * eval.abs(),
            "{model}: train {train}, eval {eval}"
        );
    }
}
