//! What a run's folder holds before the run: nothing, a finished, diverged or failed run of the
//! same config, a run of another config, or an unfinished one (with or without a checkpoint).

use crate::config::diff::diff;
use crate::results::files::write_atomic;
use crate::results::status::{now, Status};
use crate::results::yaml::{self, Map, Value};
use crate::run::checkpoint;
use std::path::Path;

/// What a run's folder holds before the run.
pub enum Existing {
    New,
    /// Finished with the same config: nothing to do.
    Done(Status),
    /// Diverged or failed with the same config: reported, not run again (runs are
    /// deterministic: a diverged run would diverge again) unless retried.
    Ended(Status),
    /// Holds a run of another config: the difference.
    Changed(String),
    /// Finished after `from` epochs with the same config but a larger `train.epochs`: trained
    /// on from its last checkpoint with `--continue`, else refused like [`Existing::Changed`].
    Longer {
        from: usize,
        diff: String,
    },
    /// Same config, not finished, with a checkpoint after this many epochs: resumed.
    Resumable(usize),
    /// Started and not finished, without a checkpoint: moved aside and run again.
    Unfinished(String),
    /// Same config, not finished, with a checkpoint that cannot be read (why): moved aside and
    /// run again from epoch 0, with a warning.
    Unreadable(String),
}

impl Existing {
    /// What running the config does with this folder, as `--dry-run` lists it.
    pub fn plan(&self, fresh: bool, continue_runs: bool) -> String {
        match self {
            Existing::Longer { from, .. } if fresh => {
                format!("finished after {from} epochs (will run again: --fresh)")
            }
            Existing::Longer { from, .. } if continue_runs => {
                format!("to continue after epoch {from} (--continue)")
            }
            Existing::Longer { from, .. } => {
                format!("finished after {from} epochs (--continue trains it on)")
            }
            Existing::New => "to run".to_string(),
            Existing::Done(_) if fresh => "done (will run again: --fresh)".into(),
            Existing::Done(_) => "done".into(),
            Existing::Ended(s) if fresh => format!("{} (will run again: --fresh)", s.status),
            Existing::Ended(s) => format!("{} (--retry-failed runs it again)", s.status),
            Existing::Changed(_) => "holds a different config (--fresh moves it aside)".into(),
            Existing::Resumable(e) if fresh => {
                format!("to run again from scratch (--fresh; has a checkpoint after epoch {e})")
            }
            Existing::Resumable(e) => format!("to resume after epoch {e}"),
            Existing::Unfinished(s) => format!("to run again (was {s}, no checkpoint)"),
            Existing::Unreadable(why) => format!(
                "to run again from epoch 0, the folder moved aside ({} cannot be read: {why})",
                checkpoint::FILE
            ),
        }
    }
}

/// The statuses of a run that ended without its results.
const ENDED: &[&str] = &["diverged", "failed"];

/// The resolved config a run folder's config.yaml holds, and its provenance (empty if none).
fn read_config(dir: &Path) -> anyhow::Result<(Value, Value)> {
    let path = dir.join("config.yaml");
    let mut config = yaml::parse(&std::fs::read_to_string(&path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let provenance = config
        .as_object_mut()
        .and_then(|m| m.remove("provenance"))
        .unwrap_or_else(|| Value::Object(Map::new()));
    Ok((config, provenance))
}

/// The resolved config a run folder holds, without its provenance.
fn stored_config(dir: &Path) -> Option<Value> {
    let (config, _) = read_config(dir).ok()?;
    config.is_object().then_some(config)
}

/// A resolved config without `log:`, whose keys change no number a run computes: runs that
/// differ only there are the same run.
fn computed(config: &Value) -> Value {
    let mut config = config.clone();
    if let Some(m) = config.as_object_mut() {
        m.remove("log");
    }
    config
}

/// What `dir` holds, against the config about to run there. With `retry_failed`, a diverged
/// or failed run is unfinished like an interrupted one: resumed from its checkpoint, or run
/// again.
pub fn inspect(dir: &Path, resolved: &Value, retry_failed: bool) -> Existing {
    if !dir.exists() {
        return Existing::New;
    }
    let old = stored_config(dir).map(|o| computed(&o));
    let resolved = &computed(resolved);
    if let Some(old) = old.as_ref().filter(|o| *o != resolved) {
        let diff = yaml_diff(old, resolved);
        return match longer(dir, old, resolved) {
            Some(from) => Existing::Longer { from, diff },
            None => Existing::Changed(diff),
        };
    }
    let same = old.is_some();
    match Status::read(dir) {
        Some(s) if s.status == "finished" && same => Existing::Done(s),
        Some(s) if ENDED.contains(&s.status.as_str()) && same && !retry_failed => {
            Existing::Ended(s)
        }
        status => match checkpoint::epochs_done(dir) {
            Ok(Some(e)) if same => Existing::Resumable(e),
            Err(why) if same => Existing::Unreadable(why),
            _ => Existing::Unfinished(status.map_or("no run.json".into(), |s| s.status)),
        },
    }
}

/// The epochs a finished run was trained for, when `new` asks only for more of them and its
/// checkpoint is from its last epoch.
fn longer(dir: &Path, old: &Value, new: &Value) -> Option<usize> {
    let epochs = |v: &Value| v["train"]["epochs"].as_u64();
    let (from, to) = (epochs(old)?, epochs(new)?);
    let mut same = old.clone();
    same["train"]["epochs"] = to.into();
    let finished = Status::read(dir).is_some_and(|s| s.status == "finished");
    let from = usize::try_from(from).ok()?;
    (to > from as u64 && same == *new && finished && checkpoint::epochs_done(dir) == Ok(Some(from)))
        .then_some(from)
}

/// Rewrites config.yaml for a run resumed under `resolved`, when that differs from the config
/// it holds (a finished run continued for more epochs): the new config, with the provenance it
/// had and a `continued` entry (after which epoch, to how many, when, the command). Returns
/// whether it was such a continuation.
pub fn record_continuation(dir: &Path, resolved: &Value, from: usize) -> anyhow::Result<bool> {
    let (stored, mut provenance) = read_config(dir)?;
    if computed(&stored) == computed(resolved) {
        return Ok(false);
    }
    let entry = serde_json::json!({
        "after_epoch": from,
        "epochs": resolved["train"]["epochs"],
        "at": now(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    if let Some(p) = provenance.as_object_mut() {
        let list = p.entry("continued").or_insert_with(|| Value::Array(vec![]));
        if let Some(list) = list.as_array_mut() {
            list.push(entry);
        }
    }
    let mut config = resolved.clone();
    if let Some(m) = config.as_object_mut() {
        m.insert("provenance".into(), provenance);
    }
    write_atomic(&dir.join("config.yaml"), yaml::write(&config).as_bytes())?;
    Ok(true)
}

/// The changed settings, one indented line each (`  model.hidden: [256, 64] -> [256, 32]`).
fn yaml_diff(old: &Value, new: &Value) -> String {
    let lines: Vec<String> = diff(old, new).iter().map(|l| format!("  {l}")).collect();
    lines.join("\n")
}
