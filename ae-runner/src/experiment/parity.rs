//! `ae-runner parity`: one training step on the CPU and on another device from the same
//! weights, batch and noise, compared tensor by tensor, so that a GPU build proves itself
//! against the CPU before its numbers are trusted. The gradients are read from each variable's
//! first optimiser state row, which after one step is (1 - beta1) g for Adam (every shipped
//! experiment's), g for SGD with momentum and (1 - alpha) g^2 for RMSprop; SGD without momentum
//! keeps no state, and only its losses are compared.

use crate::config::{Experiment, Plan};
use crate::run::context::{build, set_threads, DataCache};
use ae_core::data::Batches;
use ae_core::rng::{Purpose, Streams};
use ae_variants::checkpoint_state;
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};

/// One compared quantity: `loss <name>` or `grad <optimiser>.<variable>`.
pub struct Compared {
    pub what: String,
    /// max |device - cpu| / max |cpu| (0 when both are all zeros).
    pub rel: f64,
}

/// max |a - b| over max |b|, in f64, on the host.
pub fn rel_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let host = |t: &Tensor| -> Result<Vec<f64>> {
        Ok(t.to_device(&Device::Cpu)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1()?)
    };
    let (a, b) = (host(a)?, host(b)?);
    anyhow::ensure!(a.len() == b.len(), "{} values against {}", a.len(), b.len());
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    Ok(if diff == 0.0 { 0.0 } else { diff / scale })
}

/// The first step of `exp` on `device` against the same step on the CPU.
pub fn one_step(exp: &Experiment, device: &Device, cache: &mut DataCache) -> Result<Vec<Compared>> {
    let streams = Streams::new(exp.train.seed);
    let data = cache.get(&exp.data, &Device::Cpu, &streams, exp.train.seed)?;
    let x = Batches::new(&data, exp.train.batch_size, &streams, 0)?
        .next()
        .context("the training set is empty")??;
    let step = |dev: &Device| -> Result<_> {
        let mut model = build(exp, &data, dev, streams)?;
        let mut rng = streams.stream(Purpose::Train, 0);
        if model.draws_one_kind() {
            // As training draws it on a GPU.
            rng = rng.ahead(dev);
        }
        let losses = model.train_step(&x.to_device(dev)?, &mut rng)?;
        Ok((losses, checkpoint_state(model.as_mut())?))
    };
    let (cpu_losses, cpu_state) = step(&Device::Cpu)?;
    let (dev_losses, dev_state) = step(device)?;
    let mut out = Vec::new();
    for ((name, c), (_, d)) in cpu_losses.iter().zip(&dev_losses) {
        out.push(Compared {
            what: format!("loss {name}"),
            rel: rel_diff(d, c)?,
        });
    }
    let mut keys: Vec<&String> = cpu_state
        .keys()
        .filter(|k| k.starts_with("optim.") && !k.ends_with(".steps"))
        .collect();
    keys.sort();
    for k in keys {
        let d = dev_state
            .get(k)
            .with_context(|| format!("{k} missing on {device:?}"))?;
        out.push(Compared {
            what: format!("grad {}", &k["optim.".len()..]),
            rel: rel_diff(&d.get(0)?, &cpu_state[k].get(0)?)?,
        });
    }
    Ok(out)
}

/// Every run's first step on `device` against the CPU: one row per run and compared quantity,
/// and the worst (a NaN counts as the worst).
pub struct Report {
    pub rows: Vec<(String, Compared)>,
    pub device: String,
}

impl Report {
    /// The worst relative difference and where it was; None when nothing was compared.
    pub fn worst(&self) -> Option<(f64, String)> {
        let mut worst: Option<(f64, String)> = None;
        for (run, c) in &self.rows {
            if worst.as_ref().is_none_or(|w| c.rel.is_nan() || c.rel > w.0) {
                worst = Some((c.rel, format!("{run} {}", c.what)));
            }
        }
        worst
    }
}

/// [`one_step`] for every run of `plan` on the device `spec`.
pub fn check(plan: &Plan, spec: &str) -> Result<Report> {
    if let Some(first) = plan.runs.first() {
        set_threads(first.exp.train.threads);
    }
    let device = ae_core::device::open(spec)?;
    let mut cache = DataCache::default();
    let mut rows = Vec::new();
    for run in &plan.runs {
        for c in one_step(&run.exp, &device, &mut cache)? {
            rows.push((run.name.clone(), c));
        }
    }
    Ok(Report {
        rows,
        device: ae_core::device::describe(&device),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_difference_by_hand() -> Result<()> {
        let dev = Device::Cpu;
        let b = Tensor::new(&[1f32, -4.0, 2.0], &dev)?;
        let a = Tensor::new(&[1f32, -4.002, 2.001], &dev)?;
        // Largest gap 0.002 (f32 rounding aside) over the largest |b|, 4.
        assert!((rel_diff(&a, &b)? - 5e-4).abs() < 1e-7);
        assert_eq!(rel_diff(&b, &b)?, 0.0);
        let zeros = Tensor::zeros(3, DType::F32, &dev)?;
        assert_eq!(rel_diff(&zeros, &zeros)?, 0.0);
        assert!(rel_diff(&b, &zeros)?.is_infinite());
        Ok(())
    }
}
