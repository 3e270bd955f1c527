//! Tables over the runs of an experiment (summary.csv, summary.md with mean +- std over seeds)
//! and across experiments (`compare`), rebuilt from the run folders alone.

use crate::results::files::write_atomic;
use crate::results::records::{collect, keys, metric_names, RunRecord, SEED_KEY, TASK_KEYS};
use crate::results::stats::{cell, group, stat, Group};
use anyhow::Result;
use std::path::{Path, PathBuf};

fn leaf(k: &str) -> &str {
    k.rsplit('.').next().unwrap_or(k)
}

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

/// The rows of summary.csv, with its header: run, swept values, status, seconds, test metrics.
pub fn table(runs: &[RunRecord]) -> Table {
    let keys = keys(runs);
    let metrics = metric_names(runs);
    let mut header = vec!["run".to_string()];
    header.extend(keys.iter().cloned());
    header.extend(["status".to_string(), "seconds".to_string()]);
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
/// mean ± std over seeds, then the means over task keys ([`TASK_KEYS`]).
pub fn grouped_table(runs: &[RunRecord]) -> Table {
    let keys = keys(runs);
    let metrics = metric_names(runs);
    let groups = group(runs);
    let group_keys: Vec<&String> = keys.iter().filter(|k| *k != SEED_KEY).collect();
    let mut header: Vec<String> = group_keys.iter().map(|k| leaf(k).to_string()).collect();
    header.push("n".into());
    header.extend(metrics.iter().cloned());
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
            row
        })
        .collect();
    rows.extend(task_means(&groups, &group_keys, &metrics));
    (header, rows)
}

/// Writes summary.csv and summary.md (and the sweep's plots) of `exp_dir`; returns the
/// Markdown table.
pub fn write(exp_dir: &Path) -> Result<String> {
    let runs = collect(exp_dir)?;

    let mut csv = csv::Writer::from_writer(Vec::new());
    let (header, rows) = table(&runs);
    csv.write_record(&header)?;
    for row in &rows {
        csv.write_record(row)?;
    }
    write_atomic(&exp_dir.join("summary.csv"), &csv.into_inner()?)?;

    let (header, rows) = grouped_table(&runs);
    let name = exp_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let table = markdown(&header, &rows);
    let mut md = format!("# {name}\n\nTest metrics at the end of each run: mean ± sample std over seeds; n = finished runs.\n\n{table}");
    let bad: Vec<&RunRecord> = runs.iter().filter(|r| r.status != "finished").collect();
    if !bad.is_empty() {
        md.push_str("\nNot finished:\n\n");
        for r in bad {
            md.push_str(&format!(
                "- `{}`: {}{}\n",
                r.name,
                r.status,
                r.message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    write_atomic(&exp_dir.join("summary.md"), md.as_bytes())?;
    crate::results::plot::write_sweep_plots(exp_dir, &group(&runs))?;
    Ok(table)
}

/// For each task key, one row per setting of the other keys: every metric's mean ± std over
/// the tasks' means (the task column says over how many).
fn task_means(groups: &[Group], group_keys: &[&String], metrics: &[String]) -> Vec<Vec<String>> {
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
            row.extend(metrics.iter().map(|m| {
                let means: Vec<f64> = members
                    .iter()
                    .filter_map(|g| g.stats.get(m).map(|s| s.mean))
                    .collect();
                if means.is_empty() {
                    String::new()
                } else {
                    cell(Some(&stat(&means)))
                }
            }));
            rows.push(row);
        }
    }
    rows
}

/// One table across experiments on the metrics they all have; writes `<to>.md` and `<to>.csv`
/// and returns the Markdown.
pub fn compare(dirs: &[PathBuf], to: &Path) -> Result<String> {
    let mut all: Vec<(String, Vec<Group>, Vec<String>)> = Vec::new();
    for d in dirs {
        let runs = collect(d)?;
        anyhow::ensure!(!runs.is_empty(), "{} holds no runs", d.display());
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        all.push((name, group(&runs), metric_names(&runs)));
    }
    let shared: Vec<String> = all[0]
        .2
        .iter()
        .filter(|m| all.iter().all(|(_, _, ms)| ms.contains(m)))
        .cloned()
        .collect();
    let mut header = vec![
        "experiment".to_string(),
        "runs".to_string(),
        "n".to_string(),
    ];
    header.extend(shared.iter().cloned());
    let mut rows = Vec::new();
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut csv_header = vec![
        "experiment".to_string(),
        "runs".to_string(),
        "n".to_string(),
    ];
    for m in &shared {
        csv_header.push(format!("{m}_mean"));
        csv_header.push(format!("{m}_std"));
    }
    csv.write_record(&csv_header)?;
    for (name, groups, _) in &all {
        for g in groups {
            let label = g
                .values
                .iter()
                .map(|(k, v)| format!("{}={v}", leaf(k)))
                .collect::<Vec<_>>()
                .join(",");
            let label = if label.is_empty() {
                "all".to_string()
            } else {
                label
            };
            let mut row = vec![name.clone(), label.clone(), g.finished.to_string()];
            let mut crow = row.clone();
            for m in &shared {
                row.push(cell(g.stats.get(m)));
                let s = g.stats.get(m);
                crow.push(s.map(|s| s.mean.to_string()).unwrap_or_default());
                crow.push(s.map(|s| s.std.to_string()).unwrap_or_default());
            }
            rows.push(row);
            csv.write_record(&crow)?;
        }
    }
    let table = markdown(&header, &rows);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(&to.with_extension("csv"), &csv.into_inner()?)?;
    write_atomic(
        &to.with_extension("md"),
        format!("Test metrics, mean ± sample std over seeds (n finished runs).\n\n{table}")
            .as_bytes(),
    )?;
    Ok(table)
}
