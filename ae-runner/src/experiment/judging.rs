//! `ae-runner classifier EXPERIMENT.yaml`: the classifier that judges the samples of an
//! experiment's runs (`eval.classifier_fd`), trained ahead of them, so that the runs of a
//! sweep in several processes do not each train it when they first need it.

use crate::config::Plan;
use crate::eval::{data_of, judge};
use crate::run::context::{set_threads, DataCache};
use ae_core::rng::Streams;
use ae_core::UserError;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The judging classifier of every distinct evaluation data of `plan`'s runs that judge their
/// samples (`eval.classifier_fd`), loaded from under the output folder `out` or trained there
/// now (on `device`, with `threads`, or the first such run's `train.device` and
/// `train.threads`): each classifier's folder and test accuracy, once per folder, in the runs'
/// order. A plan without such a run is the user's mistake.
pub fn classifiers(
    plan: &Plan,
    out: &Path,
    device: Option<&str>,
    threads: Option<usize>,
) -> Result<Vec<(PathBuf, f64)>> {
    let judged: Vec<_> = plan
        .runs
        .iter()
        .filter(|r| r.exp.eval.classifier_fd)
        .collect();
    let Some(first) = judged.first() else {
        return Err(UserError(format!(
            "no run of {} sets eval.classifier_fd, so none would use the classifier \
             (add --set eval.classifier_fd=true)",
            plan.name
        ))
        .into());
    };
    set_threads(threads.unwrap_or(first.exp.train.threads));
    let mut cache = DataCache::default();
    let mut found: Vec<(PathBuf, f64)> = Vec::new();
    for run in judged {
        let exp = &run.exp;
        let device = cache.device(device.unwrap_or(&exp.train.device))?;
        let streams = Streams::new(exp.train.seed);
        let data = cache.get(&data_of(exp), &device, &streams, exp.train.seed)?;
        // Runs that differ only in the model share one.
        let dir = judge::folder_of(out, exp, &data);
        if found.iter().any(|(d, _)| *d == dir) {
            continue;
        }
        let (_, _, acc) = judge::of_experiment(out, exp, &data)?;
        found.push((dir, acc));
    }
    Ok(found)
}
