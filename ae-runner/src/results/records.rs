//! The run folders of an experiment, read back from their files alone (run.json, config.yaml),
//! so that a sharded or interrupted sweep is summarised from what is on disk.

use crate::results::naming::show;
use crate::results::status::Status;
use crate::results::yaml;
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
pub fn metric_names(runs: &[RunRecord]) -> Vec<String> {
    first_seen(runs.iter().flat_map(|r| &r.test).map(|(k, _)| k))
}

/// Swept keys in first-seen order.
pub fn keys(runs: &[RunRecord]) -> Vec<String> {
    first_seen(runs.iter().flat_map(|r| &r.values).map(|(k, _)| k))
}
