//! Tables over the runs of an experiment (summary.csv, summary.md with mean +- std over seeds)
//! and across experiments (`compare`), rebuilt from the run folders alone.

use crate::outputs::{self, Status};
use crate::sweep::show;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The key whose values are the repeats that tables average over.
pub const SEED_KEY: &str = "train.seed";

/// Swept keys whose values are tasks rather than settings (one digit per one-class run): the
/// table also gets, for each setting of the other keys, the mean over them.
pub const TASK_KEYS: &[&str] = &["data.classes"];

/// One run folder, as read back.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub name: String,
    /// Swept values (dotted key, shown value), in the sweep's order.
    pub values: Vec<(String, String)>,
    pub status: String,
    pub seconds: Option<f64>,
    pub test: Vec<(String, f64)>,
    pub message: Option<String>,
}

/// The runs of one experiment folder, in name order; moved-aside folders are skipped.
pub fn collect(exp_dir: &Path) -> Result<Vec<RunRecord>> {
    let mut runs = Vec::new();
    let entries =
        std::fs::read_dir(exp_dir).with_context(|| format!("reading {}", exp_dir.display()))?;
    for entry in entries {
        let dir = entry?.path();
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !dir.is_dir() || name.contains(".old-") {
            continue;
        }
        let Some(status) = Status::read(&dir) else {
            continue;
        };
        let cfg: serde_yaml::Value = std::fs::read_to_string(dir.join("config.yaml"))
            .ok()
            .and_then(|s| serde_yaml::from_str(&s).ok())
            .unwrap_or_default();
        let values = cfg["provenance"]["sweep_values"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), show(v)))
                    .collect()
            })
            .unwrap_or_default();
        runs.push(RunRecord {
            name,
            values,
            status: status.status,
            seconds: status.seconds,
            test: status.test,
            message: status.message,
        });
    }
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(runs)
}

/// The distinct names, in first-seen order.
fn first_seen<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in names {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

/// Metric names in first-seen order.
fn metric_names(runs: &[RunRecord]) -> Vec<String> {
    first_seen(runs.iter().flat_map(|r| &r.test).map(|(k, _)| k))
}

/// Swept keys in first-seen order.
fn keys(runs: &[RunRecord]) -> Vec<String> {
    first_seen(runs.iter().flat_map(|r| &r.values).map(|(k, _)| k))
}

/// Mean, sample std (n - 1) and n.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

pub fn stat(xs: &[f64]) -> Stat {
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
    let var = if n > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    Stat {
        mean,
        std: var.sqrt(),
        n,
    }
}

/// One row of a grouped table: the values of the non-seed keys and each metric's statistics
/// over the finished runs of the group.
#[derive(Debug, Clone)]
pub struct Group {
    pub values: Vec<(String, String)>,
    pub stats: BTreeMap<String, Stat>,
    pub finished: usize,
    pub runs: usize,
}

/// The non-seed values of a group and its runs.
type Bucket<'a> = (Vec<(String, String)>, Vec<&'a RunRecord>);

/// Groups runs by every swept key but the seed, in first-seen order.
pub fn group(runs: &[RunRecord]) -> Vec<Group> {
    let mut groups: Vec<Bucket> = Vec::new();
    for r in runs {
        let key: Vec<(String, String)> = r
            .values
            .iter()
            .filter(|(k, _)| k != SEED_KEY)
            .cloned()
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let metrics = metric_names(runs);
    groups
        .into_iter()
        .map(|(values, members)| {
            let done: Vec<&&RunRecord> =
                members.iter().filter(|r| r.status == "finished").collect();
            let stats = metrics
                .iter()
                .filter_map(|m| {
                    let xs: Vec<f64> = done
                        .iter()
                        .filter_map(|r| r.test.iter().find(|(k, _)| k == m).map(|(_, v)| *v))
                        .collect();
                    (!xs.is_empty()).then(|| (m.clone(), stat(&xs)))
                })
                .collect();
            Group {
                values,
                stats,
                finished: done.len(),
                runs: members.len(),
            }
        })
        .collect()
}

/// Decimals that show four significant digits of `v` (at least two).
fn decimals(v: f64) -> usize {
    if v == 0.0 || !v.is_finite() {
        return 2;
    }
    (3 - v.abs().log10().floor() as i64).clamp(2, 8) as usize
}

/// A number with four significant digits (at least two decimals).
pub fn num(v: f64) -> String {
    format!("{v:.*}", decimals(v))
}

/// mean ± std, both to the mean's precision.
fn cell(s: Option<&Stat>) -> String {
    match s {
        Some(s) if s.n > 1 => format!(
            "{:.*} ± {:.*}",
            decimals(s.mean),
            s.mean,
            decimals(s.mean),
            s.std
        ),
        Some(s) => num(s.mean),
        None => "".into(),
    }
}

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
    outputs::write_atomic(&exp_dir.join("summary.csv"), &csv.into_inner()?)?;

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
    outputs::write_atomic(&exp_dir.join("summary.md"), md.as_bytes())?;
    crate::plot::write_sweep_plots(exp_dir, &group(&runs))?;
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
    outputs::write_atomic(&to.with_extension("csv"), &csv.into_inner()?)?;
    outputs::write_atomic(
        &to.with_extension("md"),
        format!("Test metrics, mean ± sample std over seeds (n finished runs).\n\n{table}")
            .as_bytes(),
    )?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_by_hand() {
        let s = stat(&[1.0, 2.0, 6.0]);
        assert_eq!(s.mean, 3.0);
        assert!((s.std - 7f64.sqrt()).abs() < 1e-12); // ((4 + 1 + 9) / 2)^0.5
        assert_eq!(stat(&[5.0]).std, 0.0);
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(num(0.0123456), "0.01235");
        assert_eq!(num(108.5531), "108.55");
        assert_eq!(num(3.33333), "3.333");
    }

    fn rec(name: &str, kl: &str, seed: &str, mse: f64, status: &str) -> RunRecord {
        RunRecord {
            name: name.into(),
            values: vec![
                ("model.kl_weight".into(), kl.into()),
                (SEED_KEY.into(), seed.into()),
            ],
            status: status.into(),
            seconds: Some(1.0),
            test: vec![("mse".into(), mse)],
            message: None,
        }
    }

    #[test]
    fn groups_average_over_seeds_and_skip_unfinished_runs() {
        let runs = vec![
            rec("a", "0.5", "0", 1.0, "finished"),
            rec("b", "0.5", "1", 3.0, "finished"),
            rec("c", "2", "0", 10.0, "finished"),
            rec("d", "2", "1", f64::NAN, "diverged"),
        ];
        let g = group(&runs);
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].values,
            vec![("model.kl_weight".to_string(), "0.5".to_string())]
        );
        assert_eq!(
            g[0].stats["mse"],
            Stat {
                mean: 2.0,
                std: 2f64.sqrt(),
                n: 2
            }
        );
        assert_eq!((g[1].finished, g[1].runs), (1, 2));
        assert_eq!(g[1].stats["mse"].mean, 10.0);
    }
}
