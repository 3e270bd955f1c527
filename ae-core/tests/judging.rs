//! The classifier that judges samples, trained on a subset of the real MNIST training images,
//! and the Frechet distance in its features: two halves of the test set are near, test images
//! and noise far apart; a saved classifier loads to the same predictions.

use ae_core::data::{DataConfig, Dataset};
use ae_core::eval::classifier::{Classifier, FEATURES};
use ae_core::eval::frechet::frechet_distance;
use ae_core::rng::{Purpose, Streams};
use candle_core::Device;
use std::path::Path;

fn mnist() -> Dataset {
    let cfg = DataConfig {
        root: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")),
        train_limit: Some(3000),
        val_size: 0,
        test_limit: Some(2000),
        ..Default::default()
    };
    Dataset::load(&cfg, &Device::Cpu, &Streams::new(0)).unwrap()
}

#[test]
fn the_classifier_learns_and_its_features_tell_digits_from_noise() {
    let data = mnist();
    let mut c = Classifier::new(data.image_shape, 10, 0, &Device::Cpu).unwrap();
    let losses = c
        .train(&data.train.images, &data.train.labels, 3, 0)
        .unwrap();
    assert!(losses[2] < losses[0] && losses[2] < 1.0, "{losses:?}");
    let acc = c.accuracy(&data.test.images, &data.test.labels).unwrap();
    assert!(
        acc > 0.85,
        "test accuracy {acc} after 3 epochs on 3000 images"
    );

    let test = &data.test.images;
    let features = c.features(test).unwrap();
    assert_eq!(features.dims(), &[2000, FEATURES]);
    let (a, b) = (
        features.narrow(0, 0, 1000).unwrap(),
        features.narrow(0, 1000, 1000).unwrap(),
    );
    let halves = frechet_distance(&a, &b).unwrap();
    let noise = Streams::new(1)
        .stream(Purpose::Sample, 0)
        .uniform(test.shape(), 0.0, 1.0, &Device::Cpu)
        .unwrap();
    let to_noise =
        frechet_distance(&a, &c.features(&noise.narrow(0, 0, 1000).unwrap()).unwrap()).unwrap();
    assert!(
        halves >= 0.0 && to_noise > 20.0 * halves,
        "halves {halves}, noise {to_noise}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    c.save(&path).unwrap();
    let again = Classifier::load(&path, data.image_shape, 10, &Device::Cpu).unwrap();
    let (p, q): (Vec<u32>, Vec<u32>) = (
        c.predict(test).unwrap().to_vec1().unwrap(),
        again.predict(test).unwrap().to_vec1().unwrap(),
    );
    assert_eq!(p, q);
}

/// Training records its gradients also when started inside `no_grad`, as the evaluation
/// starts it: the same losses either way.
#[test]
fn training_inside_no_grad_learns_the_same() {
    let data = mnist();
    let (x, y) = (
        data.train.images.narrow(0, 0, 512).unwrap(),
        data.train.labels.narrow(0, 0, 512).unwrap(),
    );
    let losses = |quiet: bool| {
        let mut c = Classifier::new(data.image_shape, 10, 0, &Device::Cpu).unwrap();
        match quiet {
            true => ae_core::grad::no_grad(|| c.train(&x, &y, 2, 0)).unwrap(),
            false => c.train(&x, &y, 2, 0).unwrap(),
        }
    };
    let (plain, inside) = (losses(false), losses(true));
    assert_eq!(plain, inside);
    assert!(plain[1] < plain[0], "{plain:?}");
}
