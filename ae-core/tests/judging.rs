//! The classifier that judges samples, trained on a subset of the real MNIST training images,
//! and the Frechet distance in its features: two halves of the test set are near, test images
//! and noise far apart; a saved classifier loads to the same predictions; the random shifts
//! it trains on, against a translation done by hand.

use ae_core::data::{DataConfig, Dataset};
use ae_core::eval::classifier::{rate, shifted, Classifier, FEATURES, SHIFT};
use ae_core::eval::frechet::frechet_distance;
use ae_core::rng::{Purpose, Streams};
use candle_core::{Device, Tensor};
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
        .train(&data.train.images, &data.train.labels, 6, 0)
        .unwrap();
    assert!(losses[5] < losses[0] && losses[5] < 1.0, "{losses:?}");
    let acc = c.accuracy(&data.test.images, &data.test.labels).unwrap();
    assert!(
        acc > 0.85,
        "test accuracy {acc} after 6 epochs on 3000 images"
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

#[test]
fn each_image_is_shifted_by_its_own_offset_with_zeros_where_nothing_moved_in() {
    let (b, c, h, w) = (6, 2, 5, 7);
    let values: Vec<f32> = (1..=b * c * h * w).map(|v| v as f32).collect();
    let x = Tensor::from_vec(values.clone(), (b, c * h * w), &Device::Cpu).unwrap();
    let got: Vec<f32> = shifted(
        &x,
        (c, h, w),
        &mut Streams::new(3).stream(Purpose::Train, 0),
    )
    .unwrap()
    .flatten_all()
    .unwrap()
    .to_vec1()
    .unwrap();
    // The same draws, in the same order: an offset (dy, dx) per image, each in 0..=2 SHIFT.
    let mut rng = Streams::new(3).stream(Purpose::Train, 0);
    let s = SHIFT as isize;
    let mut offsets = Vec::new();
    for i in 0..b {
        let dy = rng.index(2 * SHIFT + 1) as isize - s;
        let dx = rng.index(2 * SHIFT + 1) as isize - s;
        offsets.push((dy, dx));
        for ch in 0..c {
            for r in 0..h {
                for col in 0..w {
                    let (sr, sc) = (r as isize + dy, col as isize + dx);
                    let inside = (0..h as isize).contains(&sr) && (0..w as isize).contains(&sc);
                    let want = if inside {
                        values[((i * c + ch) * h + sr as usize) * w + sc as usize]
                    } else {
                        0.0
                    };
                    assert_eq!(got[((i * c + ch) * h + r) * w + col], want, "image {i}");
                }
            }
        }
    }
    // The draws move the images, differently from one another.
    assert!(offsets.iter().any(|&o| o != (0, 0)), "{offsets:?}");
    assert!(offsets.iter().any(|&o| o != offsets[0]), "{offsets:?}");
}

#[test]
fn the_rate_drops_to_a_tenth_for_the_last_third_of_the_epochs() {
    let rates = |epochs: usize| (0..epochs).map(|e| rate(e, epochs)).collect::<Vec<_>>();
    assert_eq!(rates(1), [1e-3]);
    assert_eq!(rates(2), [1e-3, 1e-3]);
    assert_eq!(rates(3), [1e-3, 1e-3, 1e-4]);
    assert_eq!(rates(6), [1e-3, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4]);
    let ten = rates(10);
    assert_eq!(ten[..7], [1e-3; 7]);
    assert_eq!(ten[7..], [1e-4; 3]);
}
