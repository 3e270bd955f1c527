//! Helpers for the command-line tests: run the real binary from the workspace root.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// ae-runner with `args`, from the workspace root (where data/mnist is), logging warnings only.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ae-runner"));
    c.args(args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .env_remove("AE_DATA_DIR");
    c
}

/// ae-runner started in the background, its output discarded (stderr kept if `keep_stderr`).
pub fn spawn(args: &[&str], keep_stderr: bool) -> Child {
    command(args)
        .stdout(Stdio::null())
        .stderr(if keep_stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("ae-runner starts")
}

/// Runs ae-runner with `args` to the end.
pub fn ae_runner(args: &[&str]) -> Output {
    command(args).output().expect("ae-runner starts")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The overrides that make a run small: 2 epochs, 512 training images, the evaluation's
/// classifiers fit on 500 images, the IWAE bound on 100, the judging classifier on 1000.
pub const SMALL: &[&str] = &[
    "--set",
    "eval.fit_images=500",
    // For the files that judge samples: a classifier of 1000 images, 200 samples.
    "--set",
    "eval.classifier_images=1000",
    "--set",
    "eval.fd_samples=200",
    "--set",
    "eval.iwae_images=100",
    "--set",
    "train.epochs=2",
    "--set",
    "data.train_limit=512",
    "--set",
    "data.val_size=500",
    "--set",
    "data.test_limit=500",
    "--device",
    "cpu",
];

/// Runs `file` small ([`SMALL`], then `extra`) into the results folder `out`.
pub fn run_small(file: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![file, "--out", out.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    ae_runner(&args)
}

/// Reads a CSV into (header, rows of numbers).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    (header, rows)
}
