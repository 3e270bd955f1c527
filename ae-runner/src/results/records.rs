//! The run folders of an experiment, read back from their files alone (run.json, config.yaml),
//! so that a sharded or interrupted sweep is summarised from what is on disk.

use crate::results::files::SECONDS;
use crate::results::naming::show;
use crate::results::status::Status;
use crate::results::yaml;
use ae_core::UserError;
use anyhow::{Context, Result};
use std::path::Path;

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
    /// The mean of metrics.csv's `seconds` over the run's epochs: what one epoch cost, its
    /// validation pass included, without the final test and evaluation that `seconds` counts.
    pub epoch_seconds: Option<f64>,
    pub test: Vec<(String, f64)>,
    pub message: Option<String>,
}

impl RunRecord {
    /// How the run ended, with its message if it has one (`diverged: in epoch 1 ...`).
    pub fn outcome(&self) -> String {
        match &self.message {
            Some(m) => format!("{}: {m}", self.status),
            None => self.status.clone(),
        }
    }
}

/// The runs of one experiment folder, in name order; moved-aside folders are skipped.
fn collect(exp_dir: &Path) -> Result<Vec<RunRecord>> {
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
        let cfg = std::fs::read_to_string(dir.join("config.yaml"))
            .ok()
            .and_then(|s| yaml::parse(&s).ok())
            .unwrap_or_default();
        let values = cfg["provenance"]["sweep_values"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), show(v))).collect())
            .unwrap_or_default();
        runs.push(RunRecord {
            name,
            values,
            status: status.status,
            seconds: status.seconds,
            epoch_seconds: mean_epoch_seconds(&dir),
            test: status.test,
            message: status.message,
        });
    }
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(runs)
}

/// The mean of the `seconds` column of `run_dir`'s metrics.csv; None without a file, a column
/// or an epoch.
fn mean_epoch_seconds(run_dir: &Path) -> Option<f64> {
    let mut r = csv::Reader::from_path(run_dir.join("metrics.csv")).ok()?;
    let col = r.headers().ok()?.iter().position(|h| h == SECONDS)?;
    let xs: Vec<f64> = r
        .records()
        .filter_map(|rec| rec.ok()?.get(col)?.parse().ok())
        .collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The runs of the experiment folder `exp_dir`, for the commands that read one back
/// (`summarize`, `report`, `compare`): a path that is no experiment's folder (missing, a file,
/// a run's own folder, a folder without runs) is the user's mistake, found before anything is
/// written.
pub fn experiment_runs(exp_dir: &Path) -> Result<Vec<RunRecord>> {
    let mistake = |why: String| -> Result<Vec<RunRecord>> {
        Err(UserError(format!(
            "{} {why}; give an experiment's folder (results/<experiment>, e.g. results/vae, holding <run>/run.json)",
            exp_dir.display()
        ))
        .into())
    };
    if !exp_dir.exists() {
        return mistake("does not exist".into());
    }
    if !exp_dir.is_dir() {
        return mistake("is a file, not a results folder".into());
    }
    if exp_dir.join("run.json").exists() {
        let parent = exp_dir.parent().filter(|p| !p.as_os_str().is_empty());
        return mistake(format!(
            "is one run's folder, not an experiment's{}",
            parent
                .map(|p| format!(" (its experiment's is {})", p.display()))
                .unwrap_or_default()
        ));
    }
    let runs = collect(exp_dir)?;
    if runs.is_empty() {
        return mistake("holds no runs (no folder in it has a run.json)".into());
    }
    Ok(runs)
}

/// A dotted key's last part (`model.kl_weight` -> `kl_weight`), as tables and labels show it.
pub fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
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
pub fn metric_names(runs: &[RunRecord]) -> Vec<String> {
    first_seen(runs.iter().flat_map(|r| &r.test).map(|(k, _)| k))
}

/// Swept keys in first-seen order.
pub fn keys(runs: &[RunRecord]) -> Vec<String> {
    first_seen(runs.iter().flat_map(|r| &r.values).map(|(k, _)| k))
}
