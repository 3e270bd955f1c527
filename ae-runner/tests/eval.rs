//! The evaluation after training and `ae-runner eval`: one-class anomaly AUROC, re-evaluation
//! of a finished run with other settings, and the errors of a bad request.

mod common;
use common::*;

/// The value of `col` in row `row` of eval.csv (one row per evaluation settings); None where
/// the column or the cell is empty.
fn cell(dir: &std::path::Path, row: usize, col: &str) -> Option<f64> {
    let (header, rows) = read_csv(&dir.join("eval.csv"));
    let i = header.iter().position(|h| h == col)?;
    Some(rows[row][i]).filter(|v| !v.is_nan())
}

/// `col` in the latest evaluation.
fn column(dir: &std::path::Path, col: &str) -> Option<f64> {
    let rows = read_csv(&dir.join("eval.csv")).1.len();
    cell(dir, rows - 1, col)
}

/// A plain AE trained on 1s only tells the other digits apart by reconstruction error: the
/// AUROC is well above chance (0.5) after 2 short epochs.
#[test]
fn one_class_run_reports_anomaly_auroc_over_the_whole_test_set() {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["experiments/ae.yaml", "--out", out.path().to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(&["--set", "data.classes=[1]", "--set", "data.val_size=100"]);
    // At the info level, which users see.
    let o = command(&args).env("RUST_LOG", "info").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = out.path().join("ae/seed=0");
    let auroc = column(&dir, "auroc_mse").expect("auroc_mse in eval.csv");
    assert!(auroc > 0.8 && auroc <= 1.0, "auroc_mse {auroc}");
    // The probe sees every class, not only the digit trained on.
    let probe = column(&dir, "probe_acc").unwrap();
    assert!(probe > 0.3, "probe_acc {probe}");
    // Each part of the evaluation is announced and ends with its time and what it found:
    // probe and k-NN on codes, on pixels, the AUROC and the pictures.
    let log = stderr(&o);
    for (i, what) in ["on codes", "on raw pixels", "anomaly AUROC", "pictures"]
        .iter()
        .enumerate()
    {
        let part = format!("evaluation {}/4: ", i + 1);
        let start = log
            .lines()
            .find(|l| l.contains(&part) && l.ends_with("..."));
        assert!(
            start.is_some_and(|l| l.contains(what)),
            "{part}{what}: {log}"
        );
        let done = log.lines().find(|l| l.contains(&format!("{part}done in ")));
        assert!(done.is_some(), "{part}done: {log}");
    }
    assert!(log.contains(": auroc_mse 0."), "{log}");
}

/// `eval.quick` drops the pixel baselines and keeps the sizes the command line sets.
#[test]
fn quick_evaluation_keeps_the_keys_set_and_drops_the_pixel_baselines() {
    let out = tempfile::tempdir().unwrap();
    let quick = ["--set", "eval.quick=true", "--set", "train.epochs=1"];
    let o = run_small("experiments/ae.yaml", out.path(), &quick);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = out.path().join("ae/seed=0");
    assert_eq!(column(&dir, "fit_images"), Some(500.0));
    assert!(column(&dir, "probe_acc").is_some());
    assert!(column(&dir, "pixel_probe_acc").is_none());
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(
        config.contains("quick: true") && config.contains("pixels: false"),
        "{config}"
    );
}

#[test]
fn eval_reruns_a_finished_run_with_other_settings_and_refuses_other_keys() {
    let out = tempfile::tempdir().unwrap();
    let o = run_small("experiments/vae.yaml", out.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = out.path().join("vae/seed=0");
    let dirs = dir.to_str().unwrap();
    let before = column(&dir, "iwae100_nll").expect("iwae100_nll after training");
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();

    let o = ae_runner(&[
        "eval",
        dirs,
        "--set",
        "eval.iwae_k=20",
        "--set",
        "eval.iwae_images=100",
        "--set",
        "eval.pixels=false",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("iwae20_nll"), "{}", stdout(&o));
    let k20 = column(&dir, "iwae20_nll").expect("iwae20_nll after eval");
    assert!(column(&dir, "iwae100_nll").is_none());
    assert!(column(&dir, "pixel_probe_acc").is_none());
    // The evaluation at the end of training is kept, in the row of its settings.
    assert_eq!(read_csv(&dir.join("eval.csv")).1.len(), 2);
    assert_eq!(cell(&dir, 0, "iwae_k"), Some(100.0));
    assert_eq!(cell(&dir, 0, "iwae100_nll"), Some(before));
    assert!(cell(&dir, 0, "pixel_probe_acc").is_some());
    assert_eq!(cell(&dir, 1, "iwae_k"), Some(20.0));
    // The bound tightens with k: on the same 100 images, k = 20 is above k = 100 on average
    // (different draws, so allow a little).
    assert!(k20 > before - 0.5, "k=20 {k20}, k=100 {before}");
    let status = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(
        status.contains("iwae20_nll") && !status.contains("iwae100_nll"),
        "{status}"
    );
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        weights
    );

    let o = ae_runner(&["eval", dirs, "--set", "train.epochs=3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only eval.* keys"), "{}", stderr(&o));
    let o = ae_runner(&["eval", dirs, "--set", "eval.iwae_kk=3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("did you mean `iwae_k`"),
        "{}",
        stderr(&o)
    );
    let missing = out.path().join("nothing-here");
    let o = ae_runner(&["eval", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a run folder"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

/// `eval.classifier_fd`: a VAE's prior samples and its ex-post mixture's samples (and a CVAE's,
/// also against the labels asked for) are judged by
/// the classifier, trained once under the output folder; the next run with the same data
/// loads it (its file is not written again) and finds the same accuracy.
#[test]
fn classifier_fd_judges_samples_with_a_classifier_trained_once() {
    let out = tempfile::tempdir().unwrap();
    let run = |file: &str, more: &[&str]| {
        let mut args = vec![file, "--out", out.path().to_str().unwrap()];
        args.extend_from_slice(SMALL);
        args.extend_from_slice(&[
            "--set",
            "eval.classifier_fd=true",
            "--set",
            "eval.classifier_images=6000",
            "--set",
            "data.train_limit=2500",
        ]);
        args.extend_from_slice(more);
        let o = command(&args).env("RUST_LOG", "info").output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let first = run("experiments/vae.yaml", &[]);
    assert!(first.contains("training the classifier"), "{first}");
    let vae = out.path().join("vae/seed=0");
    let acc = column(&vae, "classifier_acc").unwrap();
    assert!(acc > 0.8 && acc <= 1.0, "classifier_acc {acc}");
    for col in ["classifier_fd", "classifier_fd_gmm"] {
        let fd = column(&vae, col).unwrap_or_else(|| panic!("no {col}"));
        assert!(fd > 0.0 && fd.is_finite(), "{col} {fd}");
    }
    // The coverage's values are tested by hand (eval/judge.rs); here, that both are reported,
    // with the settings they depend on.
    for col in [
        "class_coverage",
        "class_coverage_gmm",
        "fd_samples",
        "classifier_images",
    ] {
        assert!(column(&vae, col).is_some(), "no {col}");
    }
    let saved = std::fs::read_dir(out.path().join(".classifier"))
        .unwrap()
        .map(|e| e.unwrap().path().join("classifier.safetensors"))
        .collect::<Vec<_>>();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let written = std::fs::metadata(&saved[0]).unwrap().modified().unwrap();

    // A deterministic model has only the ex-post samples; the classifier is loaded.
    let second = run("experiments/ae.yaml", &[]);
    assert!(!second.contains("training the classifier"), "{second}");
    assert_eq!(
        std::fs::metadata(&saved[0]).unwrap().modified().unwrap(),
        written
    );
    let ae = out.path().join("ae/seed=0");
    assert_eq!(column(&ae, "classifier_acc"), Some(acc));
    assert!(column(&ae, "classifier_fd").is_none());
    assert!(column(&ae, "classifier_fd_gmm").unwrap() > 0.0);
    // Only a model conditioned on the label is judged against the labels it was asked for.
    for run in [&vae, &ae] {
        assert!(column(run, "sample_label_acc").is_none(), "{run:?}");
        assert!(column(run, "sample_label_acc_gmm").is_none(), "{run:?}");
    }

    // The CVAE's samples, each class as often, after 625 steps (2 epochs of 10000 images in
    // batches of 32; 80 steps leave it ignoring the label): the classifier reads 0.45 of them
    // as the class asked for, well above the 0.1 of labels drawn at random.
    let more = [
        "--set",
        "data.train_limit=10000",
        "--set",
        "train.batch_size=32",
    ];
    run("experiments/cvae.yaml", &more);
    let cvae = out.path().join("cvae/seed=0");
    for col in ["classifier_fd", "class_coverage", "sample_label_acc_gmm"] {
        assert!(column(&cvae, col).is_some(), "no {col}");
    }
    let asked = column(&cvae, "sample_label_acc").unwrap();
    assert!(asked > 0.3 && asked <= 1.0, "sample_label_acc {asked}");
}

/// `ae-runner classifier`: the judging classifier trained ahead of the runs under `--out`,
/// where a run with the same data then loads it instead of training its own.
#[test]
fn the_classifier_command_trains_the_classifier_the_runs_then_load() {
    let out = tempfile::tempdir().unwrap();
    let outs = out.path().to_str().unwrap();
    // Only for runs that judge their samples: ae.yaml's do not.
    let mut cmd = vec!["classifier", "experiments/ae.yaml", "--out", outs];
    cmd.extend_from_slice(SMALL);
    let refused = ae_runner(&cmd);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--set eval.classifier_fd=true"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.path().join(".classifier").exists());
    cmd.extend_from_slice(&["--set", "eval.classifier_fd=true"]);
    let o = ae_runner(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o);
    let (dir, acc) = printed
        .trim()
        .split_once(": test accuracy ")
        .unwrap_or_else(|| panic!("{printed}"));
    let dir = std::path::Path::new(dir);
    assert!(dir.starts_with(out.path().join(".classifier")), "{printed}");
    assert!(dir.join("classifier.safetensors").is_file(), "{printed}");
    let acc: f64 = acc.parse().unwrap();
    assert!(acc > 0.5 && acc <= 1.0, "{printed}");

    let mut args = vec!["experiments/ae.yaml", "--out", outs];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(&["--set", "eval.classifier_fd=true"]);
    let r = command(&args).env("RUST_LOG", "info").output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(
        !stderr(&r).contains("training the classifier"),
        "{}",
        stderr(&r)
    );
    let got = column(&out.path().join("ae/seed=0"), "classifier_acc").unwrap();
    assert!((got - acc).abs() < 6e-5, "{got} vs {acc}");
    // A second call finds the same classifier and writes nothing.
    let file = dir.join("classifier.safetensors");
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();
    let again = ae_runner(&cmd);
    assert_eq!(stdout(&again), printed);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        written
    );
}
