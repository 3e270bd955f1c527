//! Sweeps end to end on real MNIST: every run, the summary tables and plots, --dry-run, a
//! re-run that completes only what is missing, `summarize`, `compare`, and a diverging run
//! that is recorded while the sweep goes on.

mod common;
use common::*;
use std::path::Path;

const SWEEP: &str = include_str!("fixtures/tiny-sweep.yaml");

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_sweep_runs_every_combination_and_summarises_over_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "tiny.yaml", SWEEP);
    let out = tmp.path().join("results");
    let outs = out.to_str().unwrap();
    let o = ae_runner(&[&file, "--out", outs]);
    assert!(o.status.success(), "{}", stderr(&o));
    let exp = out.join("tiny");
    for run in [
        "kl_weight=0.5,seed=0",
        "kl_weight=0.5,seed=1",
        "kl_weight=2,seed=0",
        "kl_weight=2,seed=1",
    ] {
        assert!(exp.join(run).join("test.csv").exists(), "{run}");
    }
    let (header, rows) = read_csv(&exp.join("summary.csv"));
    assert_eq!(rows.len(), 4);
    for col in [
        "run",
        "model.kl_weight",
        "train.seed",
        "status",
        "seconds",
        "epoch_seconds",
        "mse",
        "neg_elbo",
        "kl",
        "nll",
    ] {
        assert!(header.iter().any(|h| h == col), "{col} not in {header:?}");
    }
    // The mean in summary.md is the mean of the two seeds' values in summary.csv.
    let neg = header.iter().position(|h| h == "neg_elbo").unwrap();
    let kl = header.iter().position(|h| h == "model.kl_weight").unwrap();
    let want = (rows[0][neg] + rows[1][neg]) / 2.0;
    assert_eq!(rows[0][kl], 0.5);
    let md = std::fs::read_to_string(exp.join("summary.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| 0.5 |"))
        .unwrap_or_else(|| panic!("{md}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let hdr: Vec<&str> = md
        .lines()
        .find(|l| l.starts_with("| kl_weight"))
        .unwrap()
        .split('|')
        .map(str::trim)
        .collect();
    let got: f64 = cells[hdr.iter().position(|h| *h == "neg_elbo").unwrap()]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (got - want).abs() < 0.01 * want.abs().max(1.0),
        "{got} vs {want}"
    );
    assert_eq!(cells[hdr.iter().position(|h| *h == "n").unwrap()], "2");
    // Seconds per epoch: each run's is the mean of its metrics.csv's, the table's their mean.
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let per_epoch = |run: &str| {
        let (h, epochs) = read_csv(&exp.join(run).join("metrics.csv"));
        let s = h.iter().position(|c| c == "seconds").unwrap();
        epochs.iter().map(|e| e[s]).sum::<f64>() / epochs.len() as f64
    };
    let secs = [
        per_epoch("kl_weight=0.5,seed=0"),
        per_epoch("kl_weight=0.5,seed=1"),
    ];
    for (row, want) in rows.iter().zip(secs) {
        assert!((row[col("epoch_seconds")] - want).abs() < 0.0006, "{row:?}");
    }
    assert!(hdr.contains(&"s/epoch"), "{md}");
    let shown = cells[hdr.iter().position(|h| *h == "s/epoch").unwrap()];
    let (mean, _) = shown.split_once(" ± ").unwrap_or_else(|| panic!("{shown}"));
    let want = (secs[0] + secs[1]) / 2.0;
    let mean: f64 = mean.parse().unwrap();
    assert!(
        (mean - want).abs() <= 0.005 * want + 0.0005,
        "{shown} vs {want}"
    );
    for svg in ["sweep.svg", "rate_distortion.svg"] {
        let s = std::fs::read_to_string(exp.join(svg)).unwrap();
        assert!(s.starts_with("<svg") && s.contains("<circle"), "{svg}");
    }

    // Nothing left to do; then one run looks killed (its status still `running`).
    let dry = ae_runner(&[&file, "--out", outs, "--dry-run"]);
    assert_eq!(stdout(&dry).matches(" done").count(), 4, "{}", stdout(&dry));
    assert!(
        stdout(&dry).starts_with("4 runs of tiny in "),
        "{}",
        stdout(&dry)
    );
    let one = ae_runner(&[&file, "--out", outs, "--dry-run", "--shard", "3/4"]);
    assert!(
        stdout(&one).starts_with("1 run of tiny (shard 3/4 of 4) in "),
        "{}",
        stdout(&one)
    );
    let killed = exp.join("kl_weight=2,seed=1/run.json");
    let status = std::fs::read_to_string(&killed)
        .unwrap()
        .replace("\"finished\"", "\"running\"");
    std::fs::write(&killed, status).unwrap();
    let dry = ae_runner(&[&file, "--out", outs, "--dry-run"]);
    assert!(
        stdout(&dry).contains("to resume after epoch 1"),
        "{}",
        stdout(&dry)
    );
    // Without its checkpoint, the unfinished run is moved aside and run again.
    std::fs::remove_file(exp.join("kl_weight=2,seed=1/checkpoint.safetensors")).unwrap();
    let dry = ae_runner(&[&file, "--out", outs, "--dry-run"]);
    assert!(
        stdout(&dry).contains("to run again (was running, no checkpoint)"),
        "{}",
        stdout(&dry)
    );
    let again = ae_runner(&[&file, "--out", outs]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stdout(&again).matches("already finished").count(),
        3,
        "{}",
        stdout(&again)
    );
    assert!(exp.join("kl_weight=2,seed=1.old-1").exists());
    let (_, epochs) = read_csv(&exp.join("kl_weight=2,seed=1/metrics.csv"));
    assert_eq!(epochs.len(), 1);

    // summarize rebuilds the same tables from the folders.
    let before = std::fs::read_to_string(exp.join("summary.csv")).unwrap();
    std::fs::remove_file(exp.join("summary.csv")).unwrap();
    std::fs::remove_file(exp.join("summary.md")).unwrap();
    let s = ae_runner(&["summarize", exp.to_str().unwrap()]);
    assert!(s.status.success(), "{}", stderr(&s));
    assert_eq!(
        std::fs::read_to_string(exp.join("summary.csv")).unwrap(),
        before
    );
    assert!(exp.join("summary.md").exists());

    // compare: two experiments side by side on their shared metrics.
    let other_text = SWEEP
        .replace("name: tiny", "name: other")
        .replace("variant: vae", "variant: plain")
        .replace("  model.kl_weight: [0.5, 2]\n", "");
    let other_file = write(tmp.path(), "other.yaml", &other_text);
    assert!(ae_runner(&[&other_file, "--out", outs]).status.success());
    let to = tmp.path().join("cmp");
    let c = ae_runner(&[
        "compare",
        exp.to_str().unwrap(),
        out.join("other").to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(c.status.success(), "{}", stderr(&c));
    let table = std::fs::read_to_string(to.with_extension("md")).unwrap();
    assert!(
        table.contains("| experiment | runs | n | mse | psnr | bce |"),
        "{table}"
    );
    assert!(!table.contains("neg_elbo"), "only shared metrics: {table}");
    assert_eq!(table.lines().filter(|l| l.starts_with("| tiny")).count(), 2);
    assert_eq!(
        table.lines().filter(|l| l.starts_with("| other")).count(),
        1
    );
    let (_, crows) = read_csv(&to.with_extension("csv"));
    assert_eq!(crows.len(), 3);
}

#[test]
fn a_diverging_run_is_recorded_and_the_sweep_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let text = SWEEP.replace(
        "  train.seed: [0, 1]\n",
        "cases:\n  - { train.optimizer.lr: 1.0e-3 }\n  - { train.optimizer.lr: 10 }\n",
    );
    let file = write(tmp.path(), "div.yaml", &text);
    let out = tmp.path().join("results");
    let o = ae_runner(&[&file, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("diverged in epoch 1"), "{err}");
    assert!(err.contains("2 of 4 runs failed or diverged"), "{err}");
    let (header, rows) = read_csv(&out.join("tiny/summary.csv"));
    assert_eq!(rows.len(), 4);
    let csv = std::fs::read_to_string(out.join("tiny/summary.csv")).unwrap();
    assert_eq!(csv.matches(",finished,").count(), 2, "{csv}");
    assert_eq!(csv.matches(",diverged,").count(), 2, "{csv}");
    assert!(header.contains(&"status".to_string()));
    let md = std::fs::read_to_string(out.join("tiny/summary.md")).unwrap();
    assert!(
        md.contains("Not finished") && md.contains("diverged: in epoch 1"),
        "{md}"
    );
    assert!(!md.contains("diverged: diverged"), "{md}");
}

/// summary.csv without its timing columns.
fn summary_without_seconds(exp: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(exp.join("summary.csv")).unwrap();
    let timing: Vec<usize> = r
        .headers()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, h)| *h == "seconds" || *h == "epoch_seconds")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(timing.len(), 2);
    r.records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .enumerate()
                .filter(|(i, _)| !timing.contains(i))
                .map(|(_, v)| v.to_string())
                .collect()
        })
        .collect()
}

#[test]
fn shards_and_jobs_give_the_same_table_as_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "tiny.yaml", SWEEP);
    let dir = |n: &str| tmp.path().join(n);
    let run = |out: &str, extra: &[&str]| {
        let o = dir(out);
        let mut args = vec![file.as_str(), "--out", o.to_str().unwrap()];
        args.extend_from_slice(extra);
        let r = command(&args).env("RUST_LOG", "info").output().unwrap();
        assert!(r.status.success(), "{extra:?}: {}", stderr(&r));
        r
    };
    let hints = |o: &std::process::Output| stdout(o).matches("after every shard").count();
    let w = run("whole", &[]);
    // One process, one device: said once, not once per run.
    assert_eq!(
        stderr(&w).matches("INFO device cpu").count(),
        1,
        "{}",
        stderr(&w)
    );
    let s0 = run("sharded", &["--shard", "0/2"]);
    assert_eq!(hints(&s0), 1, "{}", stdout(&s0));
    assert!(
        !dir("sharded/tiny/summary.csv").exists(),
        "a shard wrote the summary"
    );
    run("sharded", &["--shard", "1/2"]);
    // Four run folders, the folder of their TensorBoard streams and the live report.
    let mut entries: Vec<String> = std::fs::read_dir(dir("sharded/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "tensorboard" && n != "report.html")
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert!(dir("sharded/tiny/report.html").exists());
    assert_eq!(
        std::fs::read_dir(dir("sharded/tiny/tensorboard"))
            .unwrap()
            .count(),
        4
    );
    let s = ae_runner(&["summarize", dir("sharded/tiny").to_str().unwrap()]);
    assert!(s.status.success());
    // The children are shards: none of them tells the user to summarise.
    let j = run("jobs", &["--jobs", "2"]);
    assert_eq!(hints(&j), 0, "{}", stdout(&j));
    // A shard's runs in two processes (each shard has two runs): then one hint, from the
    // parent, and no summary until `summarize`.
    for k in ["0/2", "1/2"] {
        let o = run("jobs-sharded", &["--shard", k, "--jobs", "2"]);
        assert!(
            stderr(&o).contains("2 processes, 1 thread each"),
            "{}",
            stderr(&o)
        );
        assert_eq!(hints(&o), 1, "{}", stdout(&o));
    }
    assert!(!dir("jobs-sharded/tiny/summary.csv").exists());
    let s = ae_runner(&["summarize", dir("jobs-sharded/tiny").to_str().unwrap()]);
    assert!(s.status.success());
    let whole = summary_without_seconds(&dir("whole/tiny"));
    assert_eq!(whole.len(), 4);
    assert_eq!(summary_without_seconds(&dir("sharded/tiny")), whole);
    assert_eq!(summary_without_seconds(&dir("jobs/tiny")), whole);
    assert_eq!(summary_without_seconds(&dir("jobs-sharded/tiny")), whole);
}

#[test]
fn the_thread_count_does_not_change_the_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let test_csv = |threads: &str| {
        let out = tmp.path().join(format!("t{threads}"));
        let mut args = vec![
            "experiments/vae.yaml",
            "--out",
            out.to_str().unwrap(),
            "--set",
        ];
        let t = format!("train.threads={threads}");
        args.push(&t);
        args.extend_from_slice(SMALL);
        let o = ae_runner(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(out.join("vae/seed=0/test.csv")).unwrap()
    };
    assert_eq!(test_csv("1"), test_csv("2"));
}

#[test]
fn bad_shards_are_refused() {
    for bad in ["2/2", "x/2", "1"] {
        let o = ae_runner(&["experiments/vae.yaml", "--shard", bad, "--dry-run"]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("K/N"), "{}", stderr(&o));
    }
}

#[test]
fn a_sweep_killed_with_sigkill_completes_only_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(
        tmp.path(),
        "tiny.yaml",
        &SWEEP.replace("epochs: 1", "epochs: 3"),
    );
    let out = tmp.path().join("results");
    let mut child = spawn(&[&file, "--out", out.to_str().unwrap()], false);
    let first = out.join("tiny/kl_weight=0.5,seed=0/run.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_to_string(&first)
        .unwrap_or_default()
        .contains("\"finished\"")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done_before: Vec<String> = [
        "kl_weight=0.5,seed=0",
        "kl_weight=0.5,seed=1",
        "kl_weight=2,seed=0",
        "kl_weight=2,seed=1",
    ]
    .iter()
    .filter(|r| {
        std::fs::read_to_string(out.join("tiny").join(r).join("run.json"))
            .unwrap_or_default()
            .contains("\"finished\"")
    })
    .map(|r| r.to_string())
    .collect();
    assert!(
        !done_before.is_empty() && done_before.len() < 4,
        "{done_before:?}"
    );
    let again = ae_runner(&[&file, "--out", out.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stdout(&again).matches("already finished").count(),
        done_before.len(),
        "{}",
        stdout(&again)
    );
    let (_, rows) = read_csv(&out.join("tiny/summary.csv"));
    assert_eq!(rows.len(), 4);
    let csv = std::fs::read_to_string(out.join("tiny/summary.csv")).unwrap();
    assert_eq!(csv.matches(",finished,").count(), 4, "{csv}");
}

/// A two-run sweep (`lr=0.001`, `lr=1000000.0`) whose second run diverges in its first epoch.
fn diverging_sweep(dir: &Path) -> String {
    let text = SWEEP.replace(
        "  model.kl_weight: [0.5, 2]\n  train.seed: [0, 1]\n",
        "  train.optimizer.lr: [1.0e-3, 1.0e6]\n",
    );
    assert_ne!(text, SWEEP);
    write(dir, "div.yaml", &text)
}

#[test]
fn a_run_that_diverges_in_its_first_epoch_costs_the_experiment_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = diverging_sweep(tmp.path());
    let out = tmp.path().join("results");
    let o = ae_runner(&[&file, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("no report"), "{}", stderr(&o));
    let exp = out.join("tiny");
    let bad = exp.join("lr=1000000.0");
    // No epoch finished, and metrics.csv still reads as a (empty) table.
    let metrics = std::fs::read_to_string(bad.join("metrics.csv")).unwrap();
    assert_eq!(metrics, "epoch,seconds,images_per_sec\n");
    let summary = std::fs::read_to_string(exp.join("summary.csv")).unwrap();
    assert!(summary.contains("lr=0.001,") && summary.contains(",finished,"));
    assert!(summary.contains("lr=1000000.0,") && summary.contains(",diverged,"));
    let html = std::fs::read_to_string(exp.join("report.html")).unwrap();
    for shown in [
        "<h3>lr=0.001</h3>",
        "<h3>lr=1000000.0</h3>",
        "Not finished",
        "diverged, ",
        ": in epoch 1: loss is NaN",
        "Not in the plots (no finished run): lr=1000000.0.",
    ] {
        assert!(html.contains(shown), "{shown} not in the report");
    }
    // A folder from before: a 0-byte metrics.csv; and a test.csv that is not text.
    std::fs::write(bad.join("metrics.csv"), "").unwrap();
    std::fs::write(bad.join("test.csv"), b"mse\n\xff\xfe\n").unwrap();
    let r = ae_runner(&["report", exp.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    let html = std::fs::read_to_string(exp.join("report.html")).unwrap();
    assert!(html.contains("<h3>lr=1000000.0</h3>") && html.contains("test.csv not shown"));
}

#[test]
fn a_rerun_reports_a_diverged_run_instead_of_running_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let file = diverging_sweep(tmp.path());
    let out = tmp.path().join("results");
    let outs = out.to_str().unwrap();
    assert_eq!(ae_runner(&[&file, "--out", outs]).status.code(), Some(1));
    let exp = out.join("tiny");
    let aside = exp.join("lr=1000000.0.old-1");

    let again = ae_runner(&[&file, "--out", outs]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(!aside.exists(), "the diverged run ran again");
    let err = stderr(&again);
    assert!(
        err.contains(
            "lr=1000000.0 diverged with the same config (--retry-failed runs it again): in epoch 1"
        ),
        "{err}"
    );
    assert!(stdout(&again).contains("already finished"));
    assert!(exp.join("report.html").exists());
    let dry = stdout(&ae_runner(&[&file, "--out", outs, "--dry-run"]));
    assert!(
        dry.contains("diverged (--retry-failed runs it again)"),
        "{dry}"
    );

    // Asked to, it runs again (no checkpoint: from scratch, the old folder moved aside).
    let dry = stdout(&ae_runner(&[
        &file,
        "--out",
        outs,
        "--dry-run",
        "--retry-failed",
    ]));
    assert!(
        dry.contains("to run again (was diverged, no checkpoint)"),
        "{dry}"
    );
    let retry = ae_runner(&[&file, "--out", outs, "--retry-failed"]);
    assert_eq!(retry.status.code(), Some(1), "{}", stderr(&retry));
    assert!(aside.exists() && !exp.join("lr=0.001.old-1").exists());
    assert!(stderr(&retry).contains("diverged in epoch 1"));
}

/// A finished run folder as a run leaves it (run.json, config.yaml), without training.
fn fake_run(exp: &Path, seed: u64, metric: &str, value: f64) {
    let dir = exp.join(format!("seed={seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    let status = format!(
        r#"{{"status": "finished", "started": "2025-01-01T00:00:00Z", "ended": null,
            "seconds": 1.0, "message": null, "test": [["{metric}", {value}]]}}"#
    );
    std::fs::write(dir.join("run.json"), status).unwrap();
    let config = format!("provenance:\n  sweep_values:\n    train.seed: {seed}\n");
    std::fs::write(dir.join("config.yaml"), config).unwrap();
}

/// Every file under `dir`, for checking that nothing was written.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn summarize_and_report_refuse_a_folder_without_runs_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    fake_run(&results.join("a"), 0, "mse", 0.1);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let tables = tmp.path().join("tables");
    std::fs::create_dir(&tables).unwrap();
    std::fs::write(tables.join("summary.csv"), "run,status\nseed=0,finished\n").unwrap();
    let before = files(tmp.path());
    for (command, dir, why) in [
        ("summarize", tmp.path().to_path_buf(), "holds no runs"),
        ("summarize", results.clone(), "holds no runs"),
        ("summarize", empty.clone(), "holds no runs"),
        ("summarize", results.join("a/seed=0"), "is one run's folder"),
        ("summarize", tmp.path().join("missing"), "does not exist"),
        ("report", tables.clone(), "holds no runs"),
        ("report", results.join("a/seed=0"), "is one run's folder"),
    ] {
        let o = ae_runner(&[command, dir.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{command} {}: {err}",
            dir.display()
        );
        assert!(
            err.contains(&format!("{} {why}", dir.display())),
            "{command}: {err}"
        );
        assert_eq!(
            files(tmp.path()),
            before,
            "{command} {} wrote",
            dir.display()
        );
    }
    assert!(
        ae_runner(&["summarize", results.join("a").to_str().unwrap()])
            .status
            .success()
    );
}

#[test]
fn compare_refuses_mistakes_keeps_each_comparison_and_shows_no_spread_for_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let (a, b, c) = (results.join("a"), results.join("b"), results.join("c"));
    fake_run(&a, 0, "mse", 0.1);
    fake_run(&a, 1, "mse", 0.3);
    fake_run(&b, 0, "mse", 0.2);
    fake_run(&c, 0, "kl", 5.0);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let before = files(tmp.path());
    for (args, why) in [
        (vec![s(&a.join("seed=0")), s(&b)], "is one run's folder"),
        (
            vec![s(&a), s(&tmp.path().join("missing"))],
            "does not exist",
        ),
        (vec![s(&a), s(&a)], "is given twice"),
        (vec![s(&a), s(&c)], "share no test metric"),
        (
            vec![s(&a), s(&b), "--to".into(), s(&results)],
            "is a folder",
        ),
    ] {
        let mut cmd = vec!["compare"];
        cmd.extend(args.iter().map(String::as_str));
        let o = ae_runner(&cmd);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
        assert_eq!(files(tmp.path()), before, "{args:?} wrote");
    }

    // Beside the experiments, named after them: another comparison gets its own files.
    let o = ae_runner(&["compare", &s(&a), &s(&b)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("replacing"), "{}", stdout(&o));
    let ab = results.join("compare-a+b.csv");
    let (header, rows) = read_csv(&ab);
    assert_eq!(header, ["experiment", "runs", "n", "mse_mean", "mse_std"]);
    assert_eq!(rows.len(), 2);
    assert!((rows[0][4] - 0.02f64.sqrt()).abs() < 1e-9, "{rows:?}");
    // One run: n = 1 and no std (not 0).
    let text = std::fs::read_to_string(&ab).unwrap();
    assert!(text.contains("\nb,all,1,0.2,\n"), "{text}");
    let md = std::fs::read_to_string(results.join("compare-a+b.md")).unwrap();
    assert!(md.contains("| b | all | 1 | 0.2000 |"), "{md}");
    assert!(md.contains("| a | all | 2 | 0.2000 ± 0.1414 |"), "{md}");
    let o = ae_runner(&["compare", &s(&b), &s(&a)]);
    assert!(o.status.success() && results.join("compare-b+a.md").exists());
    assert_eq!(std::fs::read_to_string(&ab).unwrap(), text, "kept");
    // The same comparison again says that it replaces its files.
    let o = ae_runner(&["compare", &s(&a), &s(&b)]);
    assert!(
        stdout(&o).contains("(replacing the earlier ones)"),
        "{}",
        stdout(&o)
    );
}
