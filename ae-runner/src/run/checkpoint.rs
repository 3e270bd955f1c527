//! Checkpoints: weights, every optimiser's moments, the schedule's and monitor's state and the
//! epoch, written atomically; and the weight files (model.safetensors, best.safetensors).

use crate::results::files::write_atomic;
use crate::run::progress::Progress;
use ae_core::UserError;
use ae_variants::{checkpoint_state, restore_state, Autoencoder};
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

pub const FILE: &str = "checkpoint.safetensors";
/// The weights after the last epoch trained.
pub const MODEL: &str = "model.safetensors";
/// The weights after the epoch with the best `train.monitor` value.
pub const BEST: &str = "best.safetensors";

/// Saves the whole training state after `epochs_done` epochs (the model's and `progress`),
/// with the run's resolved config and random-stream position in the file's metadata: a kill
/// at any instant leaves the previous checkpoint or this one, never a torn file.
pub fn save(
    dir: &Path,
    model: &mut dyn Autoencoder,
    progress: &Progress,
    epochs_done: usize,
    config: &str,
    seed: u64,
) -> Result<()> {
    let mut state = checkpoint_state(model)?;
    state.extend(progress.state()?);
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
    write_tensors(
        &dir.join(FILE),
        state.iter().map(|(k, v)| (k.as_str(), v)),
        Some(meta),
    )
}

/// Writes the model's weights after `epoch` epochs (model.safetensors, best.safetensors), the
/// epoch in the file's metadata.
pub fn write_weights(path: &Path, model: &dyn Autoencoder, epoch: usize) -> Result<()> {
    let vars = model
        .varmap()
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("the weights' lock was poisoned by a panic"))?;
    write_tensors(
        path,
        vars.iter().map(|(k, v)| (k.as_str(), v.as_tensor())),
        Some(HashMap::from([("epoch".to_string(), epoch.to_string())])),
    )
}

/// Loads a weight file of [`write_weights`] into `model`; returns the epoch it holds (None in
/// files written before it was recorded).
pub fn read_weights(
    path: &Path,
    model: &dyn Autoencoder,
    device: &Device,
) -> Result<Option<usize>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let saved = candle_core::safetensors::load_buffer(&bytes, device)
        .with_context(|| format!("reading {}", path.display()))?;
    ae_variants::load_weights(model, &saved, "").map_err(|e| {
        UserError(format!(
            "{}: {e:#}: the file does not fit the run's config.yaml",
            path.display()
        ))
    })?;
    Ok(epoch_of(&bytes).ok())
}

/// Writes tensors as a safetensors file, atomically and with the permissions every other file
/// of the run gets (safetensors' own writer goes through a temporary file of mode 0600).
pub fn write_tensors<'t>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'t str, &'t Tensor)>,
    meta: Option<HashMap<String, String>>,
) -> Result<()> {
    let bytes = safetensors::serialize(tensors, meta)
        .with_context(|| format!("writing {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// The epochs a checkpoint holds, from its metadata; Err says why it cannot be read.
fn epoch_of(bytes: &[u8]) -> Result<usize, String> {
    use safetensors::SafeTensorError as E;
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| match e {
        E::HeaderTooSmall | E::InvalidHeaderLength | E::MetadataIncompleteBuffer => format!(
            "truncated: its {} bytes are not the size its header gives ({e})",
            bytes.len()
        ),
        e => format!("not a safetensors file ({e})"),
    })?;
    meta.metadata()
        .as_ref()
        .and_then(|m| m.get("epoch")?.parse().ok())
        .ok_or_else(|| "no epoch in its metadata: not a checkpoint of ae-runner".to_string())
}

/// The epochs the checkpoint in `dir` holds, without loading the model: None without one, Err
/// saying why it cannot be read.
pub fn epochs_done(dir: &Path) -> Result<Option<usize>, String> {
    match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => epoch_of(&bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Restores a checkpoint into `model` and `progress`; returns the epochs it holds.
pub fn load(
    dir: &Path,
    model: &mut dyn Autoencoder,
    progress: &mut Progress,
    device: &Device,
) -> Result<usize> {
    let path = dir.join(FILE);
    let unreadable = |e: &dyn std::fmt::Display| {
        UserError(format!(
            "{}: cannot read the checkpoint: {e}",
            path.display()
        ))
    };
    let bytes = std::fs::read(&path).map_err(|e| unreadable(&e))?;
    let epoch = epoch_of(&bytes).map_err(|e| unreadable(&e))?;
    let state: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| unreadable(&e))?;
    restore_state(model, &state)
        .and_then(|()| progress.restore(&state))
        .map_err(|e| {
            UserError(format!(
                "{}: {e:#} (run with --fresh to start over)",
                path.display()
            ))
        })?;
    Ok(epoch)
}
