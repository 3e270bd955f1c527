//! What a run's folder holds before the run: nothing, a finished, diverged or failed run of the
//! same config, a run of another config, or an unfinished one (with or without a checkpoint).

use crate::config::diff::diff;
use crate::results::status::Status;
use crate::results::yaml::{self, Value};
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
    /// Same config, not finished, with a checkpoint after this many epochs: resumed.
    Resumable(usize),
    /// Started and not finished, without a checkpoint: moved aside and run again.
    Unfinished(String),
}

impl Existing {
    /// What running the config does with this folder, as `--dry-run` lists it.
    pub fn plan(&self, fresh: bool) -> String {
        match self {
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
        }
    }
}

/// The statuses of a run that ended without its results.
const ENDED: &[&str] = &["diverged", "failed"];

/// The resolved config a run folder holds, without its provenance.
fn stored_config(dir: &Path) -> Option<Value> {
    let mut v = yaml::parse(&std::fs::read_to_string(dir.join("config.yaml")).ok()?).ok()?;
    v.as_object_mut()?.remove("provenance");
    Some(v)
}

/// What `dir` holds, against the config about to run there. With `retry_failed`, a diverged
/// or failed run is unfinished like an interrupted one: resumed from its checkpoint, or run
/// again.
pub fn inspect(dir: &Path, resolved: &Value, retry_failed: bool) -> Existing {
    if !dir.exists() {
        return Existing::New;
    }
    let old = stored_config(dir);
    if let Some(old) = old.as_ref().filter(|o| *o != resolved) {
        return Existing::Changed(yaml_diff(old, resolved));
    }
    let same = old.is_some();
    match Status::read(dir) {
        Some(s) if s.status == "finished" && same => Existing::Done(s),
        Some(s) if ENDED.contains(&s.status.as_str()) && same && !retry_failed => {
            Existing::Ended(s)
        }
        status => match checkpoint::epochs_done(dir) {
            Some(e) if same => Existing::Resumable(e),
            _ => Existing::Unfinished(status.map_or("no run.json".into(), |s| s.status)),
        },
    }
}

/// The changed settings, one indented line each (`  model.hidden: [256, 64] -> [256, 32]`).
fn yaml_diff(old: &Value, new: &Value) -> String {
    let lines: Vec<String> = diff(old, new).iter().map(|l| format!("  {l}")).collect();
    lines.join("\n")
}
