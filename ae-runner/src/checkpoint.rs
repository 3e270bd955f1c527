//! Checkpoints (weights, every optimiser's moments, the epoch) written atomically, and the
//! lock that keeps two processes out of one run folder.

use crate::outputs::{sync_rename, tmp_path};
use ae_core::UserError;
use ae_variants::{checkpoint_state, restore_state, Autoencoder};
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const FILE: &str = "checkpoint.safetensors";

/// Saves the model's whole training state after `epochs_done` epochs, with the run's resolved
/// config and random-stream position in the file's metadata: a kill at any instant leaves the
/// previous checkpoint or this one, never a torn file.
pub fn save(
    dir: &Path,
    model: &mut dyn Autoencoder,
    epochs_done: usize,
    config: &str,
    seed: u64,
) -> Result<()> {
    let state = checkpoint_state(model)?;
    let meta = HashMap::from([
        ("format".to_string(), "aelab checkpoint 1".to_string()),
        ("epoch".to_string(), epochs_done.to_string()),
        // Every random stream is keyed by (seed, purpose, epoch): this is the whole RNG state.
        (
            "rng".to_string(),
            format!("chacha8 streams, seed {seed}, next epoch {epochs_done}"),
        ),
        ("config".to_string(), config.to_string()),
    ]);
    let path = dir.join(FILE);
    let tmp = tmp_path(&path);
    safetensors::serialize_to_file(state.iter().map(|(k, v)| (k.as_str(), v)), Some(meta), &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    sync_rename(&tmp, &path)
}

/// The epochs a checkpoint holds, from its metadata.
fn epoch_of(bytes: &[u8]) -> Option<usize> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).ok()?;
    meta.metadata().as_ref()?.get("epoch")?.parse().ok()
}

/// The epochs a checkpoint holds, without loading the model.
pub fn epochs_done(dir: &Path) -> Option<usize> {
    epoch_of(&std::fs::read(dir.join(FILE)).ok()?)
}

/// Restores a checkpoint into `model`; returns the epochs it holds.
pub fn load(dir: &Path, model: &mut dyn Autoencoder, device: &Device) -> Result<usize> {
    let path = dir.join(FILE);
    let unreadable = |e: &dyn std::fmt::Display| {
        UserError(format!(
            "{}: cannot read the checkpoint: {e}",
            path.display()
        ))
    };
    let bytes = std::fs::read(&path).map_err(|e| unreadable(&e))?;
    let epoch = epoch_of(&bytes).ok_or_else(|| unreadable(&"no epoch in its metadata"))?;
    let state: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| unreadable(&e))?;
    restore_state(model, &state).map_err(|e| {
        UserError(format!(
            "{}: {e:#} (run with --fresh to start over)",
            path.display()
        ))
    })?;
    Ok(epoch)
}

/// `<run folder>.lock`, holding the pid of the process writing the run; removed on drop. A
/// lock whose process is gone is taken over.
pub struct Lock(PathBuf);

impl Lock {
    pub fn acquire(run_dir: &Path) -> Result<Lock> {
        let name = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = run_dir.with_file_name(format!("{name}.lock"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| UserError(format!("cannot create {}: {e}", parent.display())))?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    write!(f, "{}", std::process::id())?;
                    return Ok(Lock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid: Option<u32> = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse().ok());
                    if let Some(pid) = pid.filter(|&p| alive(p)) {
                        return Err(UserError(format!(
                            "{} is being written by another ae-runner (pid {pid}); wait for it, or stop it",
                            run_dir.display()
                        ))
                        .into());
                    }
                    tracing::warn!(
                        "taking over the stale lock {} (pid {pid:?} is gone)",
                        path.display()
                    );
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => {
                    return Err(UserError(format!("cannot create {}: {e}", path.display())).into())
                }
            }
        }
        Err(UserError(format!("cannot take the lock {}", path.display())).into())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether a process with this pid runs ae-runner (a recycled pid running something else
/// does not hold the lock).
fn alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("ae-runner"))
}
