//! Tables over the runs of an experiment (summary.csv, summary.md with mean +- std over seeds)
//! and across experiments (`compare`), rebuilt from the run folders alone.

use crate::results::files::write_atomic;
use crate::results::records::{
    experiment_runs, keys, leaf, metric_names, RunRecord, SEED_KEY, TASK_KEYS,
};
use crate::results::stats::{cell, constants, group, stat, Constant, Group};
use ae_core::UserError;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A Markdown table: header, rows.
fn markdown(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}|\n",
        header.join(" | "),
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    out
}

/// A header and rows of cells.
pub type Table = (Vec<String>, Vec<Vec<String>>);

/// The column of the grouped tables with the runs' seconds per epoch.
const EPOCH_SECONDS: &str = "s/epoch";

/// The rows of summary.csv, with its header: run, swept values, status, seconds (the whole
/// run), epoch_seconds (one epoch, on average), test metrics.
pub fn table(runs: &[RunRecord]) -> Table {
    let keys = keys(runs);
    let metrics = metric_names(runs);
    let mut header = vec!["run".to_string()];
    header.extend(keys.iter().cloned());
    header.extend(["status", "seconds", "epoch_seconds"].map(String::from));
    header.extend(metrics.iter().cloned());
    let rows = runs
        .iter()
        .map(|r| {
            let mut row = vec![r.name.clone()];
            row.extend(keys.iter().map(|k| {
                r.values
                    .iter()
                    .find(|(rk, _)| rk == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            }));
            row.push(r.status.clone());
            row.push(r.seconds.map(|s| format!("{s:.1}")).unwrap_or_default());
            row.push(
                r.epoch_seconds
                    .map(|s| format!("{s:.3}"))
                    .unwrap_or_default(),
            );
            row.extend(metrics.iter().map(|m| {
                r.test
                    .iter()
                    .find(|(k, _)| k == m)
                    .map(|(_, v)| format!("{v}"))
                    .unwrap_or_default()
            }));
            row
        })
        .collect();
    (header, rows)
}

/// summary.md's table: one row per combination of the swept keys but the seed, each metric's
/// mean ± std over seeds and the seconds per epoch, then the means over task keys
/// ([`TASK_KEYS`]); and the line to put under it for the metrics the same in every run, which
/// have no column.
pub fn grouped_table(runs: &[RunRecord]) -> (Table, Option<String>) {
    let keys = keys(runs);
    let groups = group(runs);
    let names = metric_names(runs);
    let same = constants(&groups, &names);
    let metrics: Vec<String> = names
        .into_iter()
        .filter(|m| !same.iter().any(|c| c.name == *m))
        .collect();
    let group_keys: Vec<&String> = keys.iter().filter(|k| *k != SEED_KEY).collect();
    let mut header: Vec<String> = group_keys.iter().map(|k| leaf(k).to_string()).collect();
    header.push("n".into());
    header.extend(metrics.iter().cloned());
    let timed = groups.iter().any(|g| g.epoch_seconds.is_some());
    if timed {
        header.push(EPOCH_SECONDS.into());
    }
    let mut rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let mut row: Vec<String> = group_keys
                .iter()
                .map(|k| {
                    g.values
                        .iter()
                        .find(|(gk, _)| gk == *k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect();
            row.push(if g.finished == g.runs {
                g.runs.to_string()
            } else {
                format!("{} of {}", g.finished, g.runs)
            });
            row.extend(metrics.iter().map(|m| cell(g.stats.get(m))));
            if timed {
                row.push(cell(g.epoch_seconds.as_ref()));
            }
            row
        })
        .collect();
    rows.extend(task_means(&groups, &group_keys, &metrics, timed));
    ((header, rows), constants_note(&same, runs))
}

/// The line under the grouped table that gives the metrics it leaves out, `same` in every
/// run; None when there are none.
fn constants_note(same: &[Constant], runs: &[RunRecord]) -> Option<String> {
    if same.is_empty() {
        return None;
    }
    let finished = runs.iter().filter(|r| r.status == "finished").count();
    let each: Vec<String> = same
        .iter()
        .map(|c| match c.runs == finished {
            true => format!("{} in all {finished} runs", c.show()),
            false => format!("{} in {} of {finished} runs", c.show(), c.runs),
        })
        .collect();
    Some(format!(
        "Not in the table, the same in every finished run that reports it: {}.",
        each.join(", ")
    ))
}

/// Writes summary.csv and summary.md (and the sweep's plots) of `exp_dir`; returns the
/// Markdown table. A folder without runs is the user's mistake, and nothing is written.
pub fn write(exp_dir: &Path) -> Result<String> {
    let runs = experiment_runs(exp_dir)?;

    let mut csv = csv::Writer::from_writer(Vec::new());
    let (header, rows) = table(&runs);
    csv.write_record(&header)?;
    for row in &rows {
        csv.write_record(row)?;
    }
    write_atomic(&exp_dir.join("summary.csv"), &csv.into_inner()?)?;

    let ((header, rows), note) = grouped_table(&runs);
    let name = name_of(exp_dir);
    let table = markdown(&header, &rows);
    let mut md = format!("# {name}\n\nTest metrics at the end of each run: mean ± sample std over seeds; n = finished runs.\n\n{table}");
    if let Some(note) = note {
        md.push_str(&format!("\n{note}\n"));
    }
    let bad: Vec<&RunRecord> = runs.iter().filter(|r| r.status != "finished").collect();
    if !bad.is_empty() {
        md.push_str("\nNot finished:\n\n");
        for r in bad {
            md.push_str(&format!("- `{}`: {}\n", r.name, r.outcome()));
        }
    }
    write_atomic(&exp_dir.join("summary.md"), md.as_bytes())?;
    crate::results::plot::write_sweep_plots(exp_dir, &group(&runs))?;
    crate::results::tensorboard::hparams::write_experiment(exp_dir, &runs)?;
    Ok(table)
}

/// For each task key, one row per setting of the other keys: every metric's mean ± std over
/// the tasks' means (the task column says over how many).
fn task_means(
    groups: &[Group],
    group_keys: &[&String],
    metrics: &[String],
    timed: bool,
) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for task in group_keys
        .iter()
        .filter(|k| TASK_KEYS.contains(&k.as_str()))
    {
        let others = |g: &Group| -> Vec<(String, String)> {
            g.values
                .iter()
                .filter(|(k, _)| k != *task)
                .cloned()
                .collect()
        };
        let mut settings: Vec<Vec<(String, String)>> = Vec::new();
        for g in groups {
            if !settings.contains(&others(g)) {
                settings.push(others(g));
            }
        }
        for setting in settings {
            let members: Vec<&Group> = groups.iter().filter(|g| others(g) == setting).collect();
            let mut row: Vec<String> = group_keys
                .iter()
                .map(|k| match setting.iter().find(|(sk, _)| sk == *k) {
                    Some((_, v)) => v.clone(),
                    None if k == task => format!("mean of {}", members.len()),
                    None => String::new(),
                })
                .collect();
            row.push(
                members
                    .iter()
                    .map(|g| g.finished)
                    .sum::<usize>()
                    .to_string(),
            );
            let over_tasks = |of: &dyn Fn(&Group) -> Option<f64>| {
                let means: Vec<f64> = members.iter().filter_map(|g| of(g)).collect();
                if means.is_empty() {
                    String::new()
                } else {
                    cell(Some(&stat(&means)))
                }
            };
            row.extend(
                metrics
                    .iter()
                    .map(|m| over_tasks(&|g| g.stats.get(m).map(|s| s.mean))),
            );
            if timed {
                row.push(over_tasks(&|g| g.epoch_seconds.as_ref().map(|s| s.mean)));
            }
            rows.push(row);
        }
    }
    rows
}

/// What `compare` wrote.
pub struct Comparison {
    /// The Markdown table.
    pub table: String,
    pub md: PathBuf,
    pub csv: PathBuf,
    /// The files were there before (an earlier comparison) and are replaced.
    pub replaced: bool,
}

/// The longest file name `compare` makes up from the experiments' names.
const MAX_STEM: usize = 200;

/// Where a comparison goes without `--to`: beside the first experiment, named after the
/// experiments compared (`results/compare-ae+vae`), so that comparing other experiments never
/// replaces it.
fn default_stem(first: &Path, names: &[String]) -> PathBuf {
    let mut stem = format!("compare-{}", names.join("+"));
    if stem.len() > MAX_STEM {
        stem = format!("compare-{}+{}-more", names[0], names.len() - 1);
    }
    first.parent().unwrap_or(Path::new(".")).join(stem)
}

/// One table across experiments on the metrics they all have: writes `<to>.md` and
/// `<to>.csv` (by default [`default_stem`]). A folder that is no experiment's, one given twice,
/// experiments without a shared metric, and a `--to` that is a folder are the user's mistakes,
/// found before anything is written.
pub fn compare(dirs: &[PathBuf], to: Option<&Path>) -> Result<Comparison> {
    let mut all: Vec<(String, Vec<Group>, Vec<String>)> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let runs = experiment_runs(d)?;
        let canonical = d.canonicalize().unwrap_or_else(|_| d.clone());
        if seen.contains(&canonical) {
            return Err(UserError(format!("{} is given twice", d.display())).into());
        }
        seen.push(canonical);
        all.push((name_of(d), group(&runs), metric_names(&runs)));
    }
    let names: Vec<String> = all.iter().map(|(n, _, _)| n.clone()).collect();
    // Experiments of the same name from different results folders are told apart by path.
    for ((name, _, _), d) in all.iter_mut().zip(dirs) {
        if names.iter().filter(|n| *n == name).count() > 1 {
            *name = d.display().to_string();
        }
    }
    let shared: Vec<String> = all[0]
        .2
        .iter()
        .filter(|m| all.iter().all(|(_, _, ms)| ms.contains(m)))
        .cloned()
        .collect();
    if shared.is_empty() {
        let each: Vec<String> = all
            .iter()
            .map(|(n, _, ms)| format!("{n}: {}", ms.join(", ")))
            .collect();
        return Err(UserError(format!(
            "the experiments share no test metric to compare ({})",
            each.join("; ")
        ))
        .into());
    }
    let stem = match to {
        Some(to) if to.is_dir() => {
            return Err(UserError(format!(
                "--to {} is a folder: give the path of the files without their extension, e.g. {}",
                to.display(),
                to.join("compare").display()
            ))
            .into())
        }
        // `--to x.md` means x.md and x.csv.
        Some(to) if to.extension().is_some_and(|e| e == "md" || e == "csv") => {
            to.with_extension("")
        }
        Some(to) => to.to_path_buf(),
        None => default_stem(&dirs[0], &names),
    };
    let mut header = vec![
        "experiment".to_string(),
        "runs".to_string(),
        "n".to_string(),
    ];
    let mut csv_header = header.clone();
    header.extend(shared.iter().cloned());
    for m in &shared {
        csv_header.push(format!("{m}_mean"));
        csv_header.push(format!("{m}_std"));
    }
    let mut rows = Vec::new();
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(&csv_header)?;
    for (name, groups, _) in &all {
        for g in groups {
            let mut row = vec![name.clone(), g.label(), g.finished.to_string()];
            let mut crow = row.clone();
            for m in &shared {
                let s = g.stats.get(m);
                row.push(cell(s));
                crow.push(s.map(|s| s.mean.to_string()).unwrap_or_default());
                // Empty for a single run, as in the Markdown: no spread to show.
                crow.push(
                    s.and_then(|s| s.std)
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                );
            }
            rows.push(row);
            csv.write_record(&crow)?;
        }
    }
    let table = markdown(&header, &rows);
    // Appended, not replaced: a name may hold dots (`compare-vae-0.5`).
    let suffixed = |ext: &str| {
        let mut name = stem.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (md, csv_path) = (suffixed(".md"), suffixed(".csv"));
    let replaced = md.exists() || csv_path.exists();
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    write_atomic(&csv_path, &csv.into_inner()?)?;
    let sources: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    write_atomic(
        &md,
        format!(
            "Test metrics of {}: mean ± sample std over seeds (n finished runs; no std for one).\n\n{table}",
            sources.join(", ")
        )
        .as_bytes(),
    )?;
    Ok(Comparison {
        table,
        md,
        csv: csv_path,
        replaced,
    })
}

/// A folder's last component.
fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::status::Status;

    /// A finished run: its kl_weight, its seed and its test metrics.
    type Run<'a> = (&'a str, &'a str, &'a [(&'a str, f64)]);

    /// An experiment folder of finished runs.
    fn experiment(runs: &[Run]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (kl, seed, test) in runs {
            let dir = tmp.path().join(format!("kl_weight={kl},seed={seed}"));
            std::fs::create_dir(&dir).unwrap();
            let config = format!(
                "provenance:\n  sweep_values:\n    model.kl_weight: {kl}\n    train.seed: {seed}\n"
            );
            std::fs::write(dir.join("config.yaml"), config).unwrap();
            Status {
                status: "finished".into(),
                seconds: Some(1.0),
                test: test.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                ..Status::started()
            }
            .write(&dir)
            .unwrap();
        }
        tmp
    }

    #[test]
    fn a_metric_the_same_in_every_run_is_said_once_not_in_a_column() {
        let tmp = experiment(&[
            ("0.5", "0", &[("mse", 0.07), ("pixel_probe_acc", 0.9123)]),
            ("0.5", "1", &[("mse", 0.071), ("pixel_probe_acc", 0.9123)]),
            ("1", "0", &[("mse", 0.08), ("pixel_probe_acc", 0.9123)]),
            ("1", "1", &[("mse", 0.082), ("pixel_probe_acc", 0.9123)]),
        ]);
        let table = write(tmp.path()).unwrap();
        assert!(table.starts_with("| kl_weight | n | mse |\n"), "{table}");
        assert!(!table.contains("± 0.0000"), "{table}");
        let md = std::fs::read_to_string(tmp.path().join("summary.md")).unwrap();
        assert!(md.contains("pixel_probe_acc = 0.9123"), "{md}");
        // summary.csv keeps every run's every value.
        let csv = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
        assert!(
            csv.lines().next().unwrap().ends_with("mse,pixel_probe_acc"),
            "{csv}"
        );
    }

    #[test]
    fn one_run_is_no_sweep_and_keeps_its_columns() {
        let tmp = experiment(&[("1", "0", &[("mse", 0.07), ("probe_acc", 0.9)])]);
        let table = write(tmp.path()).unwrap();
        assert!(table.contains("| mse | probe_acc |"), "{table}");
    }
}
