//! Loading the real MNIST files: splits, labels, class filters, binarisation, checksums.

use ae_core::data::source::{self, MNIST};
use ae_core::data::{Batches, Binarize, DataConfig, Dataset};
use ae_core::rng::Streams;
use candle_core::{Device, Tensor};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn repo_mnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")
}

fn load(cfg: DataConfig, seed: u64) -> Dataset {
    let cfg = DataConfig {
        root: Some(repo_mnist()),
        ..cfg
    };
    Dataset::load(&cfg, &Device::Cpu, &Streams::new(seed)).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn full_mnist_splits_and_labels() {
    let ds = load(DataConfig::default(), 0);
    assert_eq!(
        (
            ds.train.len(),
            ds.val.as_ref().unwrap().len(),
            ds.test.len()
        ),
        (55000, 5000, 10000)
    );
    assert_eq!(ds.image_shape, (1, 28, 28));
    // The first training digit of MNIST is a 5, the first test digit a 7.
    assert_eq!(
        ds.train.labels.get(0).unwrap().to_scalar::<u32>().unwrap(),
        5
    );
    assert_eq!(
        ds.test.labels.get(0).unwrap().to_scalar::<u32>().unwrap(),
        7
    );
    let px = values(&ds.test.images);
    assert!(px.iter().all(|v| (0.0..=1.0).contains(v)));
    // Mean MNIST test pixel, as torchvision's normalisation constants have it: about 0.1325.
    let mean = px.iter().map(|&v| v as f64).sum::<f64>() / px.len() as f64;
    assert!((mean - 0.1325).abs() < 0.001, "{mean}");
}

#[test]
fn classes_and_limits() {
    let cfg = DataConfig {
        classes: Some(vec![0, 1]),
        val_size: 0,
        train_limit: Some(1000),
        ..Default::default()
    };
    let ds = load(cfg, 0);
    // The MNIST test set has 980 zeros and 1135 ones.
    assert_eq!(ds.test.len(), 980 + 1135);
    assert_eq!(ds.train.len(), 1000);
    let labels = ds.train.labels.to_vec1::<u32>().unwrap();
    assert!(labels.iter().all(|&l| l <= 1) && labels.contains(&0) && labels.contains(&1));
    // The dataset's classes, whatever data.classes keeps: a model reading the label is built
    // for the every-class evaluation too.
    assert_eq!(ds.classes, 10);
}

#[test]
fn binarisation_fixed_and_dynamic() {
    let base = DataConfig {
        val_size: 100,
        train_limit: Some(200),
        test_limit: Some(300),
        ..Default::default()
    };
    let fixed = load(
        DataConfig {
            binarize: Binarize::Fixed,
            ..base.clone()
        },
        0,
    );
    assert!(values(&fixed.train.images)
        .iter()
        .all(|&v| v == 0.0 || v == 1.0));
    let grey = load(base.clone(), 0);
    // A Bernoulli draw keeps the mean: compare the binarised and grey training means.
    let m = |t: &Tensor| t.mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!((m(&fixed.train.images) - m(&grey.train.images)).abs() < 0.005);

    let dyn_a = load(
        DataConfig {
            binarize: Binarize::Dynamic,
            ..base.clone()
        },
        0,
    );
    let dyn_b = load(
        DataConfig {
            binarize: Binarize::Dynamic,
            ..base
        },
        7,
    );
    // The test set is binarised once with a fixed seed: the same for every run seed.
    assert_eq!(values(&dyn_a.test.images), values(&dyn_b.test.images));
    assert!(values(&dyn_a.test.images)
        .iter()
        .all(|&v| v == 0.0 || v == 1.0));
    // Training batches are drawn afresh every epoch.
    let streams = Streams::new(0);
    let e0: Vec<Tensor> = Batches::new(&dyn_a, 200, &streams, 0)
        .unwrap()
        .map(|b| b.unwrap().images)
        .collect();
    let e0_again: Vec<Tensor> = Batches::new(&dyn_a, 200, &streams, 0)
        .unwrap()
        .map(|b| b.unwrap().images)
        .collect();
    let e1: Vec<Tensor> = Batches::new(&dyn_a, 200, &streams, 1)
        .unwrap()
        .map(|b| b.unwrap().images)
        .collect();
    assert!(values(&e0[0]).iter().all(|&v| v == 0.0 || v == 1.0));
    assert_eq!(values(&e0[0]), values(&e0_again[0]));
    assert_ne!(values(&e0[0]), values(&e1[0]));
}

#[test]
fn batches_cover_the_training_set_once_per_epoch() {
    let ds = load(
        DataConfig {
            val_size: 0,
            train_limit: Some(100),
            test_limit: Some(10),
            ..Default::default()
        },
        0,
    );
    let splits: Vec<_> = Batches::new(&ds, 32, &Streams::new(3), 0)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Every image comes with its own label: (pixel sum, label) pairs are the training set's.
    let pairs = |images: &Tensor, labels: &Tensor| -> Vec<(i64, u32)> {
        let sums = images.sum(1).unwrap().to_vec1::<f32>().unwrap();
        let labels = labels.to_vec1::<u32>().unwrap();
        let mut p: Vec<(i64, u32)> = sums
            .iter()
            .zip(labels)
            .map(|(s, l)| ((s * 1000.0).round() as i64, l))
            .collect();
        p.sort_unstable();
        p
    };
    let mut got: Vec<(i64, u32)> = splits
        .iter()
        .flat_map(|b| pairs(&b.images, &b.labels))
        .collect();
    got.sort_unstable();
    assert_eq!(got, pairs(&ds.train.images, &ds.train.labels));
    let batches: Vec<Tensor> = splits.into_iter().map(|b| b.images).collect();
    assert_eq!(
        batches
            .iter()
            .map(|b| b.dim(0).unwrap())
            .collect::<Vec<_>>(),
        vec![32, 32, 32, 4]
    );
    // Same multiset of images: compare the sum of every pixel.
    let total: f32 = batches
        .iter()
        .map(|b| b.sum_all().unwrap().to_scalar::<f32>().unwrap())
        .sum();
    let want = ds
        .train
        .images
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((total - want).abs() / want < 1e-5);
}

#[test]
fn unpacked_files_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    for f in &MNIST.files {
        let gz = std::fs::read(repo_mnist().join(format!("{}.gz", f.name))).unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .unwrap();
        std::fs::write(dir.path().join(f.name), raw).unwrap();
    }
    let cfg = DataConfig {
        root: Some(dir.path().to_path_buf()),
        val_size: 0,
        train_limit: Some(10),
        test_limit: Some(10),
        ..Default::default()
    };
    assert_eq!(
        Dataset::load(&cfg, &Device::Cpu, &Streams::new(0))
            .unwrap()
            .test
            .len(),
        10
    );
    // One changed pixel byte of the unpacked test images.
    let path = dir.path().join("t10k-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = Dataset::load(&cfg, &Device::Cpu, &Streams::new(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t10k-images-idx3-ubyte") && err.contains("2646ac647ad5339dbf082846283269ea"),
        "{err}"
    );
}

/// Fashion-MNIST from the repository's copy (Debian's recompressed .gz files, accepted by the
/// md5 of their unpacked bytes): 60000 + 10000 images, 6000 of each class, first training
/// item an ankle boot (9), mean training pixel 0.2860 as the usual normalisation constants.
#[test]
fn fashion_mnist_loads_and_is_checked() {
    let cfg = DataConfig {
        dataset: ae_core::data::DatasetName::FashionMnist,
        root: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/fashion-mnist")),
        val_size: 0,
        ..Default::default()
    };
    let ds = Dataset::load(&cfg, &Device::Cpu, &Streams::new(0)).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (60000, 10000));
    let labels = ds.train.labels.to_vec1::<u32>().unwrap();
    assert_eq!(&labels[..5], &[9, 0, 0, 3, 0]);
    assert!((0..10).all(|c| labels.iter().filter(|&&l| l == c).count() == 6000));
    let px = values(&ds.train.images);
    let mean = px.iter().map(|&v| v as f64).sum::<f64>() / px.len() as f64;
    assert!((mean - 0.2860).abs() < 0.0005, "{mean}");
}

/// An IDX file of `dims` holding `data`.
fn idx_file(dims: &[u32], data: &[u8]) -> Vec<u8> {
    ae_core::data::idx::encode(&ae_core::data::idx::IdxArray {
        dims: dims.iter().map(|&d| d as usize).collect(),
        data: data.to_vec(),
    })
}

/// `dataset: idx` reads a user's own folder: here 3-channel 20x24 images, unpacked, with the
/// shape and pixel values as written.
#[test]
fn a_folder_of_idx_files_with_its_own_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (n, t, c, h, w) = (12u32, 4u32, 3u32, 20u32, 24u32);
    let px = |count: u32| -> Vec<u8> { (0..count * c * h * w).map(|i| (i % 251) as u8).collect() };
    let files = [
        ("train-images-idx3-ubyte", idx_file(&[n, c, h, w], &px(n))),
        (
            "train-labels-idx1-ubyte",
            idx_file(&[n], &(0..n).map(|i| (i % 3) as u8).collect::<Vec<_>>()),
        ),
        ("t10k-images-idx3-ubyte", idx_file(&[t, c, h, w], &px(t))),
        ("t10k-labels-idx1-ubyte", idx_file(&[t], &[2, 1, 0, 2])),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let cfg = DataConfig {
        dataset: ae_core::data::DatasetName::Idx,
        root: Some(dir.path().to_path_buf()),
        val_size: 2,
        ..Default::default()
    };
    let ds = Dataset::load(&cfg, &Device::Cpu, &Streams::new(0)).unwrap();
    assert_eq!(ds.image_shape, (3, 20, 24));
    assert_eq!(
        (
            ds.train.len(),
            ds.val.as_ref().unwrap().len(),
            ds.test.len()
        ),
        (10, 2, 4)
    );
    assert_eq!(ds.train.images.dims(), &[10, 3 * 20 * 24]);
    let first = values(&ds.train.images.get(0).unwrap());
    assert_eq!(first[250], 250.0 / 255.0);
    assert_eq!(first[251], 0.0);
    assert_eq!(ds.test.labels.to_vec1::<u32>().unwrap(), vec![2, 1, 0, 2]);
}

/// A .gz packed anew (other compression level, as Debian's Fashion-MNIST) is accepted by the
/// md5 of its unpacked bytes; the same with one pixel changed is refused, naming the sum.
#[test]
fn a_repacked_gz_is_accepted_by_its_contents_only() {
    let file = &MNIST.files[3];
    let gz = std::fs::read(repo_mnist().join(format!("{}.gz", file.name))).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}.gz", file.name));
    let pack = |bytes: &[u8]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
    };
    pack(&raw);
    assert_ne!(std::fs::read(&path).unwrap(), gz);
    assert_eq!(source::read_checked(&path, file).unwrap(), raw);
    raw[100] ^= 1;
    pack(&raw);
    let err = source::read_checked(&path, file).unwrap_err().to_string();
    assert!(err.contains(file.gz_md5.unwrap()), "{err}");
}
