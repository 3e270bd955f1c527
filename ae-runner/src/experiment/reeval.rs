//! `ae-runner eval RUN_DIR`: a finished run evaluated again from its saved weights.

use crate::config::{plan, Document};
use crate::eval::evaluate;
use crate::results::status::Status;
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
    let weights = dir.join("model.safetensors");
    if !config.is_file() {
        return Err(UserError(format!(
            "{}: not a run folder (no config.yaml)",
            dir.display()
        ))
        .into());
    }
    if !weights.is_file() {
        return Err(UserError(format!(
            "{}: no model.safetensors: the run has not finished",
            dir.display()
        ))
        .into());
    }
    let plan = plan(&Document::read(&config, sets)?)?;
    let exp = &plan.runs[0].exp;
    set_threads(threads.unwrap_or(exp.train.threads));
    let device = cache.device(device.unwrap_or(&exp.train.device))?;
    let streams = Streams::new(exp.train.seed);
    let data = cache.get(&exp.data, &device, &streams, exp.train.seed)?;
    let model = build(exp, &data, &device, streams)?;
    let saved = candle_core::safetensors::load(&weights, &device)?;
    ae_variants::load_weights(model.as_ref(), &saved, "").map_err(|e| {
        UserError(format!(
            "{}: does not fit this run's model: {e}",
            weights.display()
        ))
    })?;
    let batch = exp.train.eval_batch_size;
    let mut metrics = write_test(model.as_ref(), &data, batch, &streams, dir)?;
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
