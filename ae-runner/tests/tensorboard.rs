//! The TensorBoard stream of a run: what it holds (read back here), that a run killed
//! mid-epoch and resumed has each step once, that logging changes no number, that `--fresh`
//! moves the stream aside with its run folder; and TensorBoard's own reader and server on it
//! (tests/tensorboard_client.py, with the TensorBoard that scripts/tensorboard-venv.sh installs).

mod common;
use ae_runner::results::tensorboard::proto::{HParams, HParamsPluginData, Kind, What};
use ae_runner::results::tensorboard::writer::read_events;
use common::*;
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// 3 epochs of 24 steps (3000 images, batch 128), a loss logged every 5 steps, after the file.
const SETTINGS: &[&str] = &[
    "--set",
    "train.epochs=3",
    "--set",
    "data.train_limit=3000",
    "--set",
    "data.val_size=500",
    "--set",
    "data.test_limit=500",
    "--set",
    "train.log_every=5",
    "--set",
    "eval.fit_images=500",
    "--set",
    "eval.iwae_images=50",
    "--set",
    "eval.pixels=false",
    "--device",
    "cpu",
];

fn args(out: &Path, extra: &[&'static str]) -> Vec<String> {
    let mut a: Vec<String> = ["experiments/vae.yaml"]
        .iter()
        .chain(SETTINGS)
        .map(|s| s.to_string())
        .collect();
    a.extend(["--out".into(), out.to_str().unwrap().into()]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn run(out: &Path, extra: &[&'static str]) {
    let a = args(out, extra);
    let o = ae_runner(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
}

fn run_dir(out: &Path) -> PathBuf {
    out.join("vae/seed=0")
}

fn stream_dir(out: &Path) -> PathBuf {
    out.join("vae/tensorboard/seed=0")
}

/// Every scalar series of a stream: tag -> [(step, value)], in the order written.
fn scalars(out: &Path) -> BTreeMap<String, Vec<(i64, f32)>> {
    let mut series: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for e in read_events(&stream_dir(out)).unwrap() {
        let Some(What::Summary(s)) = e.what else {
            continue;
        };
        for v in s.value {
            if let Some(Kind::SimpleValue(x)) = v.value {
                series.entry(v.tag).or_default().push((e.step, x));
            }
        }
    }
    series
}

/// metrics.csv without its timing columns.
fn numbers(out: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(run_dir(out).join("metrics.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .zip(&header)
                .filter(|(_, h)| *h != "seconds" && *h != "images_per_sec")
                .map(|(v, _)| v.to_string())
                .collect()
        })
        .collect()
}

fn timing(tag: &str) -> bool {
    tag == "epoch/seconds" || tag == "epoch/images_per_sec"
}

/// Starts the run, kills it (SIGKILL) once its first epoch is in metrics.csv, runs it again.
fn killed_and_resumed(out: &Path) {
    let a = args(out, &[]);
    let (stream, cwd) = (stream_dir(out), root());
    let mut child = spawn(&a.iter().map(String::as_str).collect::<Vec<_>>(), false);
    let metrics = run_dir(out).join("metrics.csv");
    let t0 = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |m| m.lines().count()) < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        assert!(t0.elapsed() < Duration::from_secs(120), "no epoch in 120 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Into the second epoch's steps.
    std::thread::sleep(Duration::from_millis(150));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it was killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Resumed while TensorBoard's server watches the stream, where there is one.
    let bin = env!("CARGO_BIN_EXE_ae-runner");
    let mut live: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"--live", &stream, &cwd, &"--", &bin];
    live.extend(a.iter().map(|s| s as &dyn AsRef<std::ffi::OsStr>));
    if !tensorboard_client(&live) {
        run(out, &[]);
    }
    let status = std::fs::read_to_string(run_dir(out).join("run.json")).unwrap();
    assert!(status.contains("\"resumed\""), "{status}");
}

#[test]
fn a_run_killed_mid_epoch_and_resumed_has_each_step_once_and_tensorboard_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    run(&whole, &[]);
    let want = scalars(&whole);
    // 24 steps an epoch: losses at steps 5, 10, 15, 20 of each; epochs at 24, 48, 72.
    let steps: Vec<i64> = want["step/loss"].iter().map(|s| s.0).collect();
    let logged: Vec<i64> = (0..3)
        .flat_map(|e| [5, 10, 15, 20].map(|s| e * 24 + s))
        .collect();
    assert_eq!(steps, logged);
    let epochs: Vec<i64> = want["train/loss"].iter().map(|s| s.0).collect();
    assert_eq!(epochs, [24, 48, 72]);
    assert_eq!(want["final/mse"].len(), 1);

    let killed = tmp.path().join("killed");
    killed_and_resumed(&killed);
    let got = scalars(&killed);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (tag, series) in &got {
        let steps: Vec<i64> = series.iter().map(|s| s.0).collect();
        let want_steps: Vec<i64> = want[tag].iter().map(|s| s.0).collect();
        assert_eq!(steps, want_steps, "{tag}: each step once");
        if !timing(tag) {
            assert_eq!(series, &want[tag], "{tag}");
        }
    }
    assert_eq!(numbers(&killed), numbers(&whole));
    let files = std::fs::read_dir(stream_dir(&killed)).unwrap().count();
    assert_eq!(files, 1, "one event file after the resume");

    tensorboard_client(&[&run_dir(&whole), &run_dir(&killed)]);
}

/// Runs tests/tensorboard_client.py with `args`, with TensorBoard's Python where there is one
/// (always in CI); whether it ran.
fn tensorboard_client(args: &[&dyn AsRef<std::ffi::OsStr>]) -> bool {
    let Some(python) = client() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must check with TensorBoard: run scripts/tensorboard-venv.sh first"
        );
        eprintln!("TensorBoard's own reader and server not tried: bash scripts/tensorboard-venv.sh installs them");
        return false;
    };
    let mut c = Command::new(&python);
    c.arg(root().join("ae-runner/tests/tensorboard_client.py"));
    for a in args {
        c.arg(a);
    }
    let o = c.output().expect("python starts");
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "TensorBoard's client:\n{text}");
    eprintln!("{text}");
    true
}

/// The Python with TensorBoard: `AELAB_TENSORBOARD_PYTHON`, else the venv that
/// scripts/tensorboard-venv.sh makes.
fn client() -> Option<PathBuf> {
    std::env::var_os("AELAB_TENSORBOARD_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(root().join("target/tensorboard-venv/bin/python")))
        .filter(|p| p.exists())
}

#[test]
fn logging_changes_no_number_and_off_writes_no_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let on = tmp.path().join("on");
    let off = tmp.path().join("off");
    run(&on, &["--set", "train.epochs=2"]);
    run(
        &off,
        &["--set", "train.epochs=2", "--set", "log.tensorboard=false"],
    );
    assert_eq!(numbers(&on), numbers(&off));
    assert_eq!(
        std::fs::read_to_string(run_dir(&on).join("test.csv")).unwrap(),
        std::fs::read_to_string(run_dir(&off).join("test.csv")).unwrap()
    );
    assert!(stream_dir(&on).exists());
    assert!(!off.join("vae/tensorboard").exists());
    // The same run: turning the stream on is not a changed config.
    let o = ae_runner(
        &args(&off, &["--set", "train.epochs=2"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("already") || stderr(&o).contains("already"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    // The command to watch it, or why there is nothing to watch (exit 2).
    let o = ae_runner(&["tensorboard", on.join("vae").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let logdir = format!("--logdir {}", on.join("vae/tensorboard").display());
    assert!(stdout(&o).contains(&logdir), "{}", stdout(&o));
    let o = ae_runner(&["tensorboard", off.join("vae").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("log.tensorboard: false"),
        "{}",
        stderr(&o)
    );
    // --fresh moves the stream aside with the run folder.
    run(&on, &["--set", "train.epochs=2", "--fresh"]);
    let aside = on.join("vae/seed=0.old-1/tensorboard");
    assert_eq!(std::fs::read_dir(&aside).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(stream_dir(&on)).unwrap().count(), 1);
}

#[test]
fn a_sweep_is_one_table_in_the_hparams_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let mut a = vec![
        "experiments/vae-kl-sweep.yaml",
        "--out",
        out.to_str().unwrap(),
    ];
    a.extend_from_slice(SETTINGS);
    a.extend([
        "--set",
        "sweep={model.kl_weight: [0.5, 2]}",
        "--set",
        "train.epochs=1",
        "--set",
        "data.train_limit=1000",
    ]);
    let o = ae_runner(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    let exp = out.join("vae-kl-sweep");
    // The experiment's record: the swept key and the final metrics as the table's columns.
    let records: Vec<HParamsPluginData> = read_events(&exp.join("tensorboard"))
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.what {
            Some(What::Summary(s)) => s.value.into_iter().next(),
            _ => None,
        })
        .map(|v| {
            assert_eq!(v.tag, "_hparams_/experiment");
            let content = v.metadata.unwrap().plugin_data.unwrap().content;
            HParamsPluginData::decode(content.as_slice()).unwrap()
        })
        .collect();
    let [HParamsPluginData {
        data: Some(HParams::Experiment(e)),
        ..
    }] = records.as_slice()
    else {
        panic!("one experiment record: {records:?}")
    };
    let keys: Vec<&str> = e.hparam_infos.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(keys, ["model.kl_weight"]);
    let metrics: Vec<&str> = e
        .metric_infos
        .iter()
        .map(|m| m.name.as_ref().unwrap().tag.as_str())
        .collect();
    assert!(metrics.contains(&"final/neg_elbo"), "{metrics:?}");
    tensorboard_client(&[&"--sweep", &exp]);
}

/// Pictures on disk for those who don't run TensorBoard: the epochs' reconstructions, and a
/// report that is rewritten after every epoch and reloads itself while the run trains.
#[test]
fn epoch_pictures_are_kept_and_the_report_reloads_while_a_run_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let a = args(
        out,
        &["--set", "eval.pictures_every=2", "--set", "train.epochs=8"],
    );
    let mut child = spawn(&a.iter().map(String::as_str).collect::<Vec<_>>(), false);
    let first = run_dir(out).join("reconstructions-epoch-002.png");
    let t0 = Instant::now();
    while !first.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no picture in 120 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let live = std::fs::read_to_string(out.join("vae/report.html")).unwrap();
    // Six epochs to go: still training when the report was read.
    assert!(child.try_wait().unwrap().is_none(), "the run ended first");
    assert!(child.wait().unwrap().success());
    assert!(
        live.contains("<meta http-equiv=\"refresh\""),
        "the report of a training run reloads itself"
    );
    let done = std::fs::read_to_string(out.join("vae/report.html")).unwrap();
    assert!(
        !done.contains("http-equiv=\"refresh\""),
        "a finished one does not"
    );
    assert!(
        done.contains("reconstructions after epoch 8"),
        "the latest epoch's picture"
    );
    let mut kept: Vec<String> = std::fs::read_dir(run_dir(out))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("reconstructions-epoch-"))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [2, 4, 6, 8].map(|e| format!("reconstructions-epoch-00{e}.png"))
    );
    // The last picture is the reconstructions TensorBoard shows for that epoch.
    let shown = read_events(&stream_dir(out))
        .unwrap()
        .into_iter()
        .filter(|e| e.step == 8 * 24)
        .find_map(|e| match e.what {
            Some(What::Summary(s)) => s.value.into_iter().find_map(|v| match v.value {
                Some(Kind::Image(i)) if v.tag == "reconstructions" => Some(i.encoded_image_string),
                _ => None,
            }),
            _ => None,
        })
        .unwrap();
    let on_disk = std::fs::read(run_dir(out).join("reconstructions-epoch-008.png")).unwrap();
    assert!(shown == on_disk);
}
