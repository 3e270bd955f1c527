//! Training the way papers train, in real runs: the rate of every epoch in metrics.csv against
//! torch's schedules worked by hand, one column per optimiser where a model has several; a run
//! stopped early testing its best weights, which `ae-runner eval` finds again; the IWAE bound
//! on validation images every few epochs.

mod common;
use common::*;
use std::path::Path;

/// A small VAE run (2700 training images: 22 steps of 128 an epoch) with `extra` overrides.
fn run(out: &Path, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        file,
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--set",
        "data.train_limit=2700",
        "--set",
        "data.val_size=300",
        "--set",
        "data.test_limit=300",
        "--set",
        "eval.quick=true",
        "--set",
        "eval.iwae_k=0",
        "--set",
        "eval.pictures=false",
        "--set",
        "train.batch_size=128",
    ];
    args.extend_from_slice(extra);
    let o = ae_runner(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// The column `name` of metrics.csv.
fn column(dir: &Path, name: &str) -> Vec<f64> {
    let (header, rows) = read_csv(&dir.join("metrics.csv"));
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no {name} in {header:?}"));
    rows.iter().map(|r| r[i]).collect()
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * w.abs(), "{got:?} vs {want:?}");
    }
}

#[test]
fn every_epochs_rate_follows_its_schedule() {
    let tmp = tempfile::tempdir().unwrap();
    // StepLR(step_size 2, gamma 0.5) stepped per epoch.
    let out = tmp.path().join("step");
    run(
        &out,
        "experiments/vae.yaml",
        &[
            "--set",
            "train.epochs=5",
            "--set",
            "train.schedule={kind: step, step_size: 2, gamma: 0.5}",
        ],
    );
    let dir = out.join("vae/seed=0");
    close(&column(&dir, "lr"), &[1e-3, 1e-3, 0.5e-3, 0.5e-3, 0.25e-3]);

    // A per-step cosine with a linear warm-up over 10 steps to t_max = 57 steps: each epoch's
    // rate is the one of its first step, 0, 22 and 44, by torch's closed forms (LinearLR,
    // then CosineAnnealingLR from the end of the warm-up).
    let out = tmp.path().join("cosine");
    run(
        &out,
        "experiments/vae.yaml",
        &[
            "--set",
            "train.epochs=3",
            "--set",
            "train.schedule={kind: cosine, t_max: 57, warmup: 10, eta_min: 1.0e-5, per: step}",
        ],
    );
    let dir = out.join("vae/seed=0");
    let (base, eta_min) = (1e-3, 1e-5);
    let cosine = |t: f64| {
        let x = std::f64::consts::PI * (t - 10.0) / 47.0;
        eta_min + (base - eta_min) * (1.0 + x.cos()) / 2.0
    };
    close(
        &column(&dir, "lr"),
        &[base / 3.0, cosine(22.0), cosine(44.0)],
    );

    // The AAE's three optimisers, each scaled from its own base rate.
    let out = tmp.path().join("aae");
    run(
        &out,
        "experiments/adversarial.yaml",
        &[
            "--set",
            "train.epochs=3",
            "--set",
            "model.disc_lr=4.0e-4",
            "--set",
            "train.schedule={kind: exponential, gamma: 0.5}",
        ],
    );
    let dir = std::fs::read_dir(out.join("adversarial"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("metrics.csv").is_file())
        .unwrap();
    let (header, _) = read_csv(&dir.join("metrics.csv"));
    assert!(!header.contains(&"lr".to_string()), "{header:?}");
    close(&column(&dir, "lr_ae"), &[1e-3, 0.5e-3, 0.25e-3]);
    close(&column(&dir, "lr_disc"), &[4e-4, 2e-4, 1e-4]);
    close(&column(&dir, "lr_gen"), &[1e-3, 0.5e-3, 0.25e-3]);
}

/// With min_delta far above any change, no epoch after the first improves: patience 2 stops
/// the run after epoch 3 of 8. The best epoch is the one with the lowest val_neg_elbo, and its
/// weights are the ones tested; `ae-runner eval` tests the same weights again.
#[test]
fn early_stopping_ends_the_run_and_the_best_weights_are_tested() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("early");
    let args = [
        "--set",
        "train.epochs=8",
        "--set",
        "train.monitor=val_neg_elbo",
        "--set",
        "train.early_stopping={patience: 2, min_delta: 1000}",
        "--set",
        "train.test_weights=best",
        "--set",
        "train.optimizer.lr=3.0e-3",
    ];
    run(&out, "experiments/vae.yaml", &args);
    let dir = out.join("vae/seed=0");
    assert_eq!(column(&dir, "epoch"), [1.0, 2.0, 3.0]);
    let val = column(&dir, "val_neg_elbo");
    let best = 1
        + (0..val.len())
            .min_by(|&a, &b| val[a].total_cmp(&val[b]))
            .unwrap();
    let test = std::fs::read_to_string(dir.join("test.csv")).unwrap();
    let row = test.lines().nth(1).unwrap();
    assert!(row.starts_with(&format!("best,{best},")), "{test}");
    let status = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(status.contains("\"finished\""), "{status}");
    assert!(
        status.contains("stopped early after epoch 3 of 8"),
        "{status}"
    );
    for f in [
        "best.safetensors",
        "model.safetensors",
        "checkpoint.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // The same command again: finished, nothing to do.
    let again = run(&out, "experiments/vae.yaml", &args);
    assert!(
        stdout(&again).contains("already finished"),
        "{}",
        stdout(&again)
    );
    // As if killed after the checkpoint of the epoch that stopped it, before the end: the
    // run resumes into its test alone, with no fourth epoch.
    let json = dir.join("run.json");
    let killed = status.replace("\"finished\"", "\"interrupted\"");
    std::fs::write(&json, killed).unwrap();
    std::fs::remove_file(dir.join("test.csv")).unwrap();
    run(&out, "experiments/vae.yaml", &args);
    assert_eq!(column(&dir, "epoch"), [1.0, 2.0, 3.0]);
    assert_eq!(std::fs::read_to_string(dir.join("test.csv")).unwrap(), test);
    let status = std::fs::read_to_string(&json).unwrap();
    assert!(
        status.contains("stopped early after epoch 3 of 8"),
        "{status}"
    );
    // Evaluated again from best.safetensors: the same test metrics.
    let o = ae_runner(&["eval", dir.to_str().unwrap(), "--device", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("test.csv")).unwrap(), test);
}

/// `eval.every: 2` over 3 epochs: the bound in epochs 2 and 3 (the last), empty in epoch 1,
/// and below the one-sample bound (the negative ELBO) of the same epoch, as k = 20 samples
/// tighten it (Burda et al.'s theorem 1; the gap here is over 10 nats, far above the noise of
/// 100 images).
#[test]
fn the_iwae_bound_every_few_epochs_is_tighter_than_the_elbo() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("every");
    run(
        &out,
        "experiments/vae.yaml",
        &[
            "--set",
            "train.epochs=3",
            "--set",
            "eval.every=2",
            "--set",
            "eval.every_images=100",
            "--set",
            "eval.iwae_k=20",
        ],
    );
    let dir = out.join("vae/seed=0");
    let bound = column(&dir, "val_iwae20_nll");
    let elbo = column(&dir, "val_neg_elbo");
    assert!(bound[0].is_nan(), "{bound:?}");
    for e in [1, 2] {
        assert!(bound[e] < elbo[e], "epoch {}: {bound:?} vs {elbo:?}", e + 1);
    }
}
