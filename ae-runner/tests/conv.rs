//! Every variant with `model.arch: conv`, from its own experiment file, 2 epochs on 512 real
//! MNIST images; a conv AE on Fashion-MNIST; and one on a user's IDX folder of 3-channel
//! 20x24 images, whose pictures come out in colour.

mod common;
use common::*;
use std::path::Path;

/// Trains `file` with a small conv net; returns the results folder (kept while it lives) and
/// the run's folder.
fn trains(file: &str, extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["--set", "model.arch=conv", "--set", "model.channels=[8,16]"];
    args.extend_from_slice(extra);
    let o = run_small(file, out.path(), &args);
    assert!(o.status.success(), "{file}: {}", stderr(&o));
    let name = Path::new(file).file_stem().unwrap();
    let dir = out.path().join(name).join("seed=0");
    let (header, rows) = read_csv(&dir.join("metrics.csv"));
    assert_eq!(rows.len(), 2, "{file}");
    assert!(
        rows.iter().flatten().all(|v| v.is_finite()),
        "{file}: {header:?} {rows:?}"
    );
    let (th, test) = read_csv(&dir.join("test.csv"));
    let mse = test[0][th.iter().position(|h| h == "mse").unwrap()];
    assert!(mse > 0.0 && mse < 0.25, "{file}: test mse {mse}");
    let cfg = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(cfg.contains("arch: conv"), "{cfg}");
    (out, dir)
}

#[test]
fn every_variant_trains_with_a_conv_encoder_and_decoder() {
    for name in ["ae", "denoising", "dropout", "adversarial", "vae"] {
        let (_out, dir) = trains(&format!("experiments/{name}.yaml"), &[]);
        let weights = candle_core::safetensors::load(
            dir.join("model.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        for k in [
            "enc.conv.0.weight",
            "enc.conv.1.weight",
            "enc.out.weight",
            "dec.in.weight",
            "dec.deconv.1.weight",
        ] {
            assert!(
                weights.contains_key(k),
                "{name}: no {k} in {:?}",
                weights.keys()
            );
        }
    }
}

#[test]
fn a_conv_autoencoder_on_fashion_mnist() {
    trains(
        "experiments/denoising.yaml",
        &["--set", "data.dataset=fashion-mnist"],
    );
}

/// An IDX file of `dims` holding `data`.
fn idx_file(dims: &[u32], data: &[u8]) -> Vec<u8> {
    ae_core::data::idx::encode(&ae_core::data::idx::IdxArray {
        dims: dims.iter().map(|&d| d as usize).collect(),
        data: data.to_vec(),
    })
}

#[test]
fn a_conv_autoencoder_on_a_folder_of_colour_idx_images() {
    let data = tempfile::tempdir().unwrap();
    let (n, c, h, w) = (64u32, 3u32, 20u32, 24u32);
    // Smooth colour gradients, different per image.
    let images = |count: u32| -> Vec<u8> {
        (0..count)
            .flat_map(|i| {
                (0..c * h * w).map(move |p| ((p % (h * w)) * (p / (h * w) + 1) / 4 + 3 * i) as u8)
            })
            .collect()
    };
    let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
    for (name, bytes) in [
        (
            "train-images-idx3-ubyte",
            idx_file(&[n, c, h, w], &images(n)),
        ),
        ("train-labels-idx1-ubyte", idx_file(&[n], &labels)),
        (
            "t10k-images-idx3-ubyte",
            idx_file(&[16, c, h, w], &images(16)),
        ),
        ("t10k-labels-idx1-ubyte", idx_file(&[16], &labels[..16])),
    ] {
        std::fs::write(data.path().join(name), bytes).unwrap();
    }
    let root = format!("data.root={}", data.path().display());
    let (_out, dir) = trains(
        "experiments/ae.yaml",
        &[
            "--set",
            "data.dataset=idx",
            "--set",
            &root,
            "--set",
            "data.val_size=8",
            "--set",
            "data.test_limit=16",
            "--set",
            "eval.fit_images=40",
            "--set",
            "eval.knn_k=3",
        ],
    );
    let info = png::Decoder::new(std::fs::File::open(dir.join("reconstructions.png")).unwrap())
        .read_info()
        .unwrap()
        .info()
        .clone();
    assert_eq!(info.color_type, png::ColorType::Rgb);
}
