//! What a run's folder holds before the run: nothing, a finished run of the same config, a run
//! of another config, or an unfinished one (with or without a checkpoint).

use crate::config::diff::diff;
use crate::results::status::Status;
use crate::run::checkpoint;
use std::path::Path;

/// What a run's folder holds before the run.
pub enum Existing {
    New,
    /// Finished with the same config: nothing to do.
    Done(Status),
    /// Holds a run of another config: the difference.
    Changed(String),
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
    pub fn plan(&self, fresh: bool) -> String {
        match self {
            Existing::New => "to run".to_string(),
            Existing::Done(_) if fresh => "done (will run again: --fresh)".into(),
            Existing::Done(_) => "done".into(),
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

/// The resolved config a run folder holds, without its provenance.
fn stored_config(dir: &Path) -> Option<serde_yaml::Value> {
    let mut v: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("config.yaml")).ok()?).ok()?;
    v.as_mapping_mut()?.remove("provenance");
    Some(v)
}

/// What `dir` holds, against the config about to run there.
pub fn inspect(dir: &Path, resolved: &serde_yaml::Value) -> Existing {
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
        status => match checkpoint::epochs_done(dir) {
            Ok(Some(e)) if same => Existing::Resumable(e),
            Err(why) if same => Existing::Unreadable(why),
            _ => Existing::Unfinished(status.map_or("no run.json".into(), |s| s.status)),
        },
    }
}

/// The changed settings, one indented line each (`  model.hidden: [256, 64] -> [256, 32]`).
fn yaml_diff(old: &serde_yaml::Value, new: &serde_yaml::Value) -> String {
    let lines: Vec<String> = diff(old, new).iter().map(|l| format!("  {l}")).collect();
    lines.join("\n")
}
