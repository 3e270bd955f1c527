//! `ae-runner classifier EXPERIMENT.yaml`: the classifier that judges the samples of an
//! experiment's runs (`eval.classifier_fd`), trained ahead of them, so that the runs of a
//! sweep in several processes do not each train it when they first need it.

use crate::config::Plan;
use crate::eval::{data_of, judge};
use crate::run::context::{set_threads, DataCache};
use ae_core::rng::Streams;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The judging classifier of every distinct evaluation data of `plan`'s runs, loaded from
/// under the output folder `out` or trained there now (on `device`, with `threads`, or the
/// first run's `train.device` and `train.threads`): each classifier's folder and test
/// accuracy, once per folder, in the runs' order.
pub fn classifiers(
    plan: &Plan,
    out: &Path,
    device: Option<&str>,
    threads: Option<usize>,
) -> Result<Vec<(PathBuf, f64)>> {
    let mut cache = DataCache::default();
    let mut found: Vec<(PathBuf, f64)> = Vec::new();
    if let Some(first) = plan.runs.first() {
        set_threads(threads.unwrap_or(first.exp.train.threads));
    }
    for run in &plan.runs {
        let exp = &run.exp;
        let device = cache.device(device.unwrap_or(&exp.train.device))?;
        let data_cfg = data_of(exp);
        let streams = Streams::new(exp.train.seed);
        let data = cache.get(&data_cfg, &device, &streams, exp.train.seed)?;
        // Runs that differ only in the model share one.
        if found
            .iter()
            .any(|(d, _)| *d == judge::folder_of(out, exp, &data_cfg, &data))
        {
            continue;
        }
        let (_, dir, acc) = judge::of_experiment(out, exp, &data_cfg, &data)?;
        found.push((dir, acc));
    }
    Ok(found)
}
