//! A model's whole training state as named tensors (weights and every optimiser's moments),
//! for checkpoints, and loading it back.

use crate::seam::Autoencoder;
use anyhow::Result;
use candle_core::Tensor;
use std::collections::HashMap;

/// Everything a checkpoint needs to continue training exactly: `weights.<var>` and
/// `optim.<optimiser>.<var>` (the optimiser's state rows) and `optim.<optimiser>.steps`.
pub fn checkpoint_state(ae: &mut dyn Autoencoder) -> Result<HashMap<String, Tensor>> {
    let mut state: HashMap<String, Tensor> = ae
        .varmap()
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| (format!("weights.{k}"), v.as_tensor().clone()))
        .collect();
    for (name, opt) in ae.optimizers() {
        for (k, t) in opt.state()? {
            state.insert(format!("optim.{name}.{k}"), t);
        }
    }
    Ok(state)
}

/// Loads what [`checkpoint_state`] saved; a checkpoint of another architecture is an error
/// naming the first tensor that does not fit.
pub fn restore_state(ae: &mut dyn Autoencoder, state: &HashMap<String, Tensor>) -> Result<()> {
    load_weights(ae, state, "weights.")?;
    for (name, opt) in ae.optimizers() {
        opt.restore(&|k| get(state, &format!("optim.{name}.{k}")))?;
    }
    Ok(())
}

/// Sets every weight from `state[prefix + name]` (model.safetensors has no prefix).
pub fn load_weights(
    ae: &dyn Autoencoder,
    state: &HashMap<String, Tensor>,
    prefix: &str,
) -> Result<()> {
    for (k, var) in ae.varmap().data().lock().expect("varmap lock").iter() {
        let t = get(state, &format!("{prefix}{k}"))?;
        anyhow::ensure!(
            t.dims() == var.dims(),
            "{prefix}{k} is {:?} in the file, {:?} in this model: it is from another architecture",
            t.dims(),
            var.dims()
        );
        var.set(&t.to_device(var.device())?)?;
    }
    Ok(())
}

fn get(state: &HashMap<String, Tensor>, k: &str) -> candle_core::Result<Tensor> {
    state.get(k).cloned().ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "the file has no `{k}`: it is from another architecture"
        ))
    })
}
