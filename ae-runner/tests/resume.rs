//! A run killed at random points (SIGKILL) or stopped by SIGTERM/SIGINT and run again ends
//! with the same numbers as an uninterrupted run, with every epoch once in metrics.csv. The
//! runs follow a plateau schedule and early stopping, so that kills land after a cut of the
//! rate and during early stopping's patience: both must come back from the checkpoint.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ARGS: &[&str] = &[
    "experiments/vae.yaml",
    "--set",
    "train.epochs=6",
    "--set",
    "data.train_limit=3000",
    "--set",
    "data.val_size=500",
    "--set",
    "data.test_limit=500",
    // No epoch after the first improves by 1000 nats: the rate is cut after epochs 3 and 5,
    // and early stopping ends the run after epoch 5 of 6.
    "--set",
    "train.monitor=val_neg_elbo",
    "--set",
    "train.schedule={kind: plateau, patience: 1, threshold: 1000, threshold_mode: abs}",
    "--set",
    "train.early_stopping={patience: 4, min_delta: 1000}",
    "--set",
    "train.test_weights=best",
    // The classifiers on raw pixels take most of an evaluation and no part in resuming.
    "--set",
    "eval.pixels=false",
    "--device",
    "cpu",
];

/// The epochs and rates an uninterrupted run of [`ARGS`] has, worked out by hand from
/// ReduceLROnPlateau's and early stopping's rules.
fn epochs_and_rates() -> Vec<(f64, f64)> {
    let cut = 1e-3 * 0.1;
    vec![
        (1.0, 1e-3),
        (2.0, 1e-3),
        (3.0, 1e-3),
        (4.0, cut),
        (5.0, cut),
    ]
}

fn start(out: &Path) -> std::process::Child {
    let mut args = ARGS.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    spawn(&args, true)
}

fn run_dir(out: &Path) -> PathBuf {
    out.join("vae/seed=0")
}

/// metrics.csv without its timing columns, and test.csv.
fn numbers(out: &Path) -> (Vec<Vec<String>>, String) {
    let mut r = csv::Reader::from_path(run_dir(out).join("metrics.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .zip(&header)
                .filter(|(_, h)| *h != "seconds" && *h != "images_per_sec")
                .map(|(v, _)| v.to_string())
                .collect()
        })
        .collect();
    (
        rows,
        std::fs::read_to_string(run_dir(out).join("test.csv")).unwrap(),
    )
}

/// Kills `child` if it still runs (and reaps it); whether it did.
fn kill_if_running(child: &mut std::process::Child) -> bool {
    let running = child.try_wait().unwrap().is_none();
    if running {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    running
}

/// Runs the killed run in `out` to its end with `start`: every epoch of `epochs` once, and the
/// numbers `want` of a run never killed.
fn resumed_equals(
    out: &Path,
    start: impl Fn(&Path) -> std::process::Child,
    want: &(Vec<Vec<String>>, String),
    epochs: &[&str],
) {
    let last = start(out).wait_with_output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    let got = numbers(out);
    let done: Vec<&String> = got.0.iter().map(|r| &r[0]).collect();
    assert_eq!(done, epochs, "each epoch once");
    assert_eq!(&got, want);
}

fn uninterrupted(tmp: &Path) -> (Vec<Vec<String>>, String) {
    let out = tmp.join("whole");
    let o = start(&out).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    numbers(&out)
}

#[test]
fn sigkill_at_random_points_then_resume_gives_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let want = uninterrupted(tmp.path());
    let (header, rows) = read_csv(&run_dir(&tmp.path().join("whole")).join("metrics.csv"));
    let lr = header.iter().position(|h| h == "lr").unwrap();
    let got: Vec<(f64, f64)> = rows.iter().map(|r| (r[0], r[lr])).collect();
    assert_eq!(got, epochs_and_rates());
    let out = tmp.path().join("killed");
    // A fixed pseudo-random sequence of kill times (ms after start).
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut kills = 0;
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_millis(400 + x % 1600);
        let mut child = start(&out);
        let t0 = Instant::now();
        while t0.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        kills += usize::from(kill_if_running(&mut child));
    }
    assert!(
        kills > 0,
        "no run was killed: the runs are faster than the kill times"
    );
    resumed_equals(&out, start, &want, &["1", "2", "3", "4", "5"]);
}

#[test]
fn sigterm_and_sigint_stop_with_a_checkpoint_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let want = uninterrupted(tmp.path());
    let out = tmp.path().join("stopped");
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        // Wait for a checkpoint written by this process (the second one resumes after the
        // first's), so that its signal handler is surely installed, then signal.
        let ckpt = run_dir(&out).join("checkpoint.safetensors");
        let before = std::fs::metadata(&ckpt).and_then(|m| m.modified()).ok();
        let child = start(&out);
        let t0 = Instant::now();
        while std::fs::metadata(&ckpt).and_then(|m| m.modified()).ok() == before
            && t0.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() {
            continue; // it finished before the signal arrived
        }
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert!(err.contains("a second Ctrl-C stops it at once"), "{err}");
        assert!(
            err.contains("run the same command again to resume"),
            "{err}"
        );
        let status = std::fs::read_to_string(run_dir(&out).join("run.json")).unwrap();
        assert!(status.contains("\"interrupted\""), "{status}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let last = start(&out).wait_with_output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert_eq!(numbers(&out), want);
}

/// SIGTERM during the end-of-run IWAE bound (minutes at the protocol's k) stops it; the same
/// command then resumes into the evaluation alone and finishes.
#[test]
fn sigterm_during_the_final_evaluation_stops_it_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let args = [
        "experiments/vae.yaml",
        "--out",
        out,
        "--set",
        "train.epochs=1",
        "--set",
        "data.train_limit=1000",
        "--set",
        "data.val_size=100",
        "--set",
        "data.test_limit=300",
        "--set",
        "eval.iwae_k=2000",
        "--set",
        "eval.iwae_images=300",
        "--set",
        "eval.fit_images=300",
        "--set",
        "eval.pixels=false",
    ];
    let child = spawn(&args, true);
    let weights = run_dir(tmp.path()).join("model.safetensors");
    let t0 = Instant::now();
    while !weights.exists() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(!run_dir(tmp.path()).join("eval.csv").exists());
    let again = ae_runner(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("iwae2000_nll"),
        "{}",
        stdout(&again)
    );
    let (header, rows) = read_csv(&run_dir(tmp.path()).join("metrics.csv"));
    assert_eq!(rows.len(), 1, "{header:?} {rows:?}");
}

/// A finished run asked for more epochs is refused with a pointer to `--continue`, which
/// trains it on from its last checkpoint to the same numbers as a run that was given the
/// longer schedule from the start (Adam's state, the schedule's step count and the random
/// streams are in the checkpoint). The rate warms up per step past the continuation point.
#[test]
fn a_finished_run_continued_for_more_epochs_equals_one_trained_that_long() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &Path, epochs: &str, extra: &[&str]| {
        let mut args = ARGS.to_vec();
        let epochs = format!("train.epochs={epochs}");
        let small = [
            "--set",
            "data.train_limit=1000",
            "--set",
            "eval.iwae_k=0",
            "--set",
            "train.schedule={kind: cosine, t_max: 40, warmup: 10, per: step}",
            "--set",
            "train.early_stopping=null",
            "--set",
            "train.test_weights=last",
        ];
        args.extend(["--out", out.to_str().unwrap(), "--set", &epochs]);
        args.extend(small);
        args.extend(extra);
        ae_runner(&args)
    };
    let whole = tmp.path().join("whole");
    let o = run(&whole, "3", &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    let cont = tmp.path().join("continued");
    let o = run(&cont, "2", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&cont, "3", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("train.epochs: 2 -> 3"), "{err}");
    assert!(err.contains("--continue trains it on"), "{err}");
    let o = run(&cont, "3", &["--dry-run", "--continue"]);
    assert!(
        stdout(&o).contains("to continue after epoch 2"),
        "{}",
        stdout(&o)
    );
    let o = run(&cont, "3", &["--continue"]);
    assert!(o.status.success(), "{}", stderr(&o));

    assert_eq!(numbers(&cont), numbers(&whole));
    let config = std::fs::read_to_string(run_dir(&cont).join("config.yaml")).unwrap();
    let config = ae_runner::results::yaml::parse(&config).unwrap();
    assert_eq!(config["train"]["epochs"].as_u64(), Some(3));
    let continued = &config["provenance"]["continued"][0];
    assert_eq!(continued["after_epoch"].as_u64(), Some(2), "{config}");
    assert_eq!(continued["epochs"].as_u64(), Some(3), "{config}");
    // Continued and done: the same command now has nothing to do.
    let o = run(&cont, "3", &["--continue"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("already finished"), "{}", stdout(&o));
}

/// The same with RMSprop's three state rows per weight (square average, gradient average and
/// momentum buffer, all in the checkpoint): a run SIGKILLed after one epoch and again after
/// three, then resumed, ends with the numbers of a run never killed.
#[test]
fn rmsprop_with_momentum_and_centered_killed_and_resumed_gives_the_same_numbers() {
    let rmsprop = [
        "--set",
        "train.optimizer.kind=rmsprop",
        "--set",
        "train.optimizer.lr=1.0e-4",
        "--set",
        "train.optimizer.momentum=0.9",
        "--set",
        "train.optimizer.centered=true",
        "--set",
        "train.epochs=4",
    ];
    let start = |out: &Path| {
        let mut args = ARGS.to_vec();
        args.extend(rmsprop);
        args.extend(["--out", out.to_str().unwrap()]);
        spawn(&args, true)
    };
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let o = start(&whole).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = numbers(&whole);
    assert_eq!(want.0.len(), 4);

    let out = tmp.path().join("killed");
    let metrics = run_dir(&out).join("metrics.csv");
    let mut kills = 0;
    for epochs in [1, 3] {
        let mut child = start(&out);
        let t0 = Instant::now();
        // metrics.csv: a header and a row per finished epoch.
        let done =
            || std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count().saturating_sub(1));
        while done() < epochs
            && child.try_wait().unwrap().is_none()
            && t0.elapsed() < Duration::from_secs(120)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        kills += usize::from(kill_if_running(&mut child));
    }
    assert!(kills > 0, "no run was killed: each finished first");
    let state = candle_core::safetensors::load(
        run_dir(&out).join("checkpoint.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let (name, rows) = state
        .iter()
        .find(|(k, _)| k.starts_with("optim.vae.") && !k.ends_with(".steps"))
        .unwrap();
    assert_eq!(
        rows.dims()[0],
        3,
        "{name}: square_avg, grad_avg, momentum_buffer"
    );
    resumed_equals(&out, start, &want, &["1", "2", "3", "4"]);
}
