//! `ae-runner eval RUN_DIR`: a finished run evaluated again from its saved weights.

use crate::config::{plan, Document, TestWeights};
use crate::eval::evaluate;
use crate::results::status::Status;
use crate::run::checkpoint;
use crate::run::context::{build, set_threads, DataCache};
use crate::run::epochs::write_test;
use ae_core::rng::Streams;
use ae_core::UserError;
use anyhow::Result;
use std::path::Path;

/// `ae-runner eval RUN_DIR`: evaluates a finished run again from its saved weights with
/// `eval.*` overrides: the test metrics (test.csv) and the evaluation (eval.csv, pictures),
/// both replacing the metrics in run.json (the summary tables read them there). Runs trained
/// before a metric existed get it this way.
pub fn rerun(
    dir: &Path,
    sets: &[(String, crate::results::yaml::Value)],
    device: Option<&str>,
    threads: Option<usize>,
    cache: &mut DataCache,
) -> Result<Vec<(String, f64)>> {
    if let Some((k, _)) = sets.iter().find(|(k, _)| !k.starts_with("eval.")) {
        return Err(UserError(format!(
            "--set {k}: only eval.* keys can change when evaluating a trained run"
        ))
        .into());
    }
    let config = dir.join("config.yaml");
    if !config.is_file() {
        return Err(UserError(format!(
            "{}: not a run folder (no config.yaml)",
            dir.display()
        ))
        .into());
    }
    let plan = plan(&Document::read(&config, sets)?)?;
    let exp = &plan.runs[0].exp;
    // The weights the run's test used.
    let which = exp.train.test_weights;
    let weights = dir.join(match which {
        TestWeights::Last => checkpoint::MODEL,
        TestWeights::Best => checkpoint::BEST,
    });
    if !dir.join(checkpoint::MODEL).is_file() || !weights.is_file() {
        return Err(UserError(format!(
            "{}: no {}: the run has not finished",
            dir.display(),
            weights.file_name().unwrap_or_default().to_string_lossy()
        ))
        .into());
    }
    set_threads(threads.unwrap_or(exp.train.threads));
    let device = cache.device(device.unwrap_or(&exp.train.device))?;
    let streams = Streams::new(exp.train.seed);
    let data = cache.get(&exp.data, &device, &streams, exp.train.seed)?;
    let model = build(exp, &data, &device, streams)?;
    let epoch = checkpoint::read_weights(&weights, model.as_ref(), &device)?;
    let batch = exp.train.eval_batch_size;
    let mut metrics = write_test(model.as_ref(), &data, batch, &streams, dir, (which, epoch))?;
    // Earlier evaluations of the same weights stay beside this one.
    metrics.extend(evaluate(
        exp,
        model.as_ref(),
        &device,
        &streams,
        dir,
        cache,
        true,
    )?);
    if let Some(mut status) = Status::read(dir) {
        status.test = metrics.clone();
        status.write(dir)?;
    }
    Ok(metrics)
}
