//! Ctrl-C during the evaluation, whose classifiers on raw pixels (fit on every training image)
//! run for many seconds with no training step in them: one Ctrl-C stops the run after the
//! phase it is in, a second one at once; either way the exit code is 130 and run.json says
//! "interrupted". (SIGTERM's clean stop and resume: tests/resume.rs.)

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// How a run that was sent SIGINT ended.
struct Stopped {
    /// None: still running long after the last signal (then killed).
    code: Option<i32>,
    /// From the last signal to the exit.
    after: Duration,
    stderr: String,
    status: String,
}

/// Trains one short epoch, then sends SIGINT after each of `delays` (ms), counted from when
/// the trained weights are written, just before the evaluation starts.
fn interrupt_the_evaluation(out: &Path, delays: &[u64]) -> Stopped {
    let mut args = vec!["experiments/ae.yaml", "--out", out.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(&["--set", "train.epochs=1", "--set", "eval.fit_images=0"]);
    let mut child = spawn(&args, true);
    let dir = out.join("ae/seed=0");
    let t0 = Instant::now();
    while !dir.join("model.safetensors").exists() && t0.elapsed() < Duration::from_secs(120) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before the weights"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        dir.join("model.safetensors").exists(),
        "no weights in 120 s"
    );
    for &ms in delays {
        std::thread::sleep(Duration::from_millis(ms));
        // SAFETY: kill(2) on the child's own pid; it is not reaped before `wait` below.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    }
    let sent = Instant::now();
    let mut code = None;
    while sent.elapsed() < Duration::from_secs(120) {
        if let Some(s) = child.try_wait().unwrap() {
            code = Some(s.code().unwrap_or(-1));
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = sent.elapsed();
    if code.is_none() {
        child.kill().unwrap();
    }
    let o = child.wait_with_output().unwrap();
    Stopped {
        code,
        after,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        status: std::fs::read_to_string(dir.join("run.json")).unwrap_or_default(),
    }
}

#[test]
fn ctrl_c_stops_the_evaluation_at_its_next_phase_and_twice_at_once() {
    let tmp = tempfile::tempdir().unwrap();

    let once = interrupt_the_evaluation(&tmp.path().join("once"), &[0]);
    let err = &once.stderr;
    assert_eq!(once.code, Some(130), "{err}");
    assert!(err.contains("a second Ctrl-C stops it at once"), "{err}");
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    assert!(once.status.contains("\"interrupted\""), "{}", once.status);
    assert!(!tmp.path().join("once/ae/seed=0/eval.csv").exists());

    // Well into the probe on pixels (minutes on every training image), which no check breaks.
    let twice = interrupt_the_evaluation(&tmp.path().join("twice"), &[3000, 500]);
    let err = &twice.stderr;
    assert_eq!(twice.code, Some(130), "{err}");
    assert!(twice.after < Duration::from_secs(10), "{:?}", twice.after);
    assert!(twice.status.contains("\"interrupted\""), "{}", twice.status);
    assert!(!err.contains("panicked"), "{err}");
}
