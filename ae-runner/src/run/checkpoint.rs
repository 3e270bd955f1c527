//! Checkpoints: weights, every optimiser's moments and the epoch, written atomically.

use crate::results::files::{sync_rename, tmp_path};
use ae_core::UserError;
use ae_variants::{checkpoint_state, restore_state, Autoencoder};
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

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
