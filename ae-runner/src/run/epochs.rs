//! The epochs of one run, top to bottom: train, validate, log a row, checkpoint; then the test
//! metrics and the final weights. Stops with [`Diverged`] or [`Interrupted`].

use crate::config::{Experiment, TestWeights};
use crate::results::files::{write_atomic, write_row_csv, MetricsCsv, SECONDS};
use crate::results::plot::write_curves;
use crate::results::report::{self, EPOCH_PICTURES};
use crate::run::board::{basic_rows, Board};
use crate::run::bound::{bound_name, iwae_nll};
use crate::run::checkpoint;
use crate::run::interrupt::{self, Interrupted};
use crate::run::progress::Progress;
use ae_core::data::{Batches, Dataset, Split};
use ae_core::image::grid_png;
use ae_core::metrics::{Sums, MSE};
use ae_core::rng::{Purpose, Streams};
use ae_variants::vae::NEG_ELBO;
use ae_variants::Autoencoder;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::Instant;

/// A loss, metric or weight that is NaN or infinite. Its message follows the word "diverged"
/// (run.json's status, the command line's "run ... diverged").
#[derive(Debug, thiserror::Error)]
#[error(
    "in epoch {epoch}{}: {what} is {value}{}; lower train.optimizer.lr or set train.optimizer.grad_clip",
    step.map(|s| format!(" at step {s}")).unwrap_or_default(),
    if last.is_empty() { String::new() } else { format!(" (the last finished epoch's losses: {last})") }
)]
pub struct Diverged {
    epoch: usize,
    step: Option<usize>,
    what: String,
    value: f64,
    last: String,
}

/// The columns of metrics.csv that every row has, whatever the model (its own terms come
/// between the epoch and the seconds, named by the first row).
const EPOCH: &str = "epoch";
const RATE: &str = "images_per_sec";

/// Gives `<dir>/metrics.csv` a header if the run ended before its first epoch's row (the
/// columns every row has), so that it reads as an empty table rather than an empty file.
pub fn header_if_empty(dir: &Path) -> Result<()> {
    let path = dir.join("metrics.csv");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
        write_atomic(&path, format!("{EPOCH},{SECONDS},{RATE}\n").as_bytes())?;
    }
    Ok(())
}

/// The test metrics of `model`, whose weights are `weights` of epoch `epoch` (None: not
/// recorded), written to test.csv after those two columns and returned.
pub fn write_test(
    model: &dyn Autoencoder,
    data: &Dataset,
    batch: usize,
    streams: &Streams,
    dir: &Path,
    (weights, epoch): (TestWeights, Option<usize>),
) -> Result<Vec<(String, f64)>> {
    let test = evaluate(model, &data.test, batch, streams)?;
    let which = match weights {
        TestWeights::Last => "last",
        TestWeights::Best => "best",
    };
    let mut row = vec![
        ("weights".to_string(), which.to_string()),
        (
            "weights_epoch".to_string(),
            epoch.map(|e| e.to_string()).unwrap_or_default(),
        ),
    ];
    row.extend(test.iter().map(|(k, v)| (k.clone(), fmt(*v))));
    write_row_csv(&dir.join("test.csv"), &row)?;
    Ok(test)
}

/// How training ended: the test metrics and, for a run stopped early, why.
pub struct Trained {
    pub test: Vec<(String, f64)>,
    pub note: Option<String>,
}

/// Per-image means of the variant's metrics over `images`, in fixed-order chunks, with a fresh
/// evaluation stream (so every epoch sees the same noise).
fn evaluate(
    model: &dyn Autoencoder,
    split: &Split,
    batch: usize,
    streams: &Streams,
) -> Result<Vec<(String, f64)>> {
    let mut rng = streams.stream(Purpose::Eval, 0);
    if model.draws_one_kind() {
        rng = rng.ahead(split.images.device());
    }
    let mut sums = Sums::default();
    for b in split.chunks(batch)? {
        sums.add(
            &ae_core::grad::no_grad(|| model.evaluate(&b, &mut rng))?,
            b.len(),
        )?;
    }
    Ok(sums.means()?)
}

/// Stops a run whose values are not finite; `last` are the last finished epoch's losses.
fn check_finite(
    epoch: usize,
    step: Option<usize>,
    values: &[(String, f64)],
    last: &[(String, f64)],
) -> Result<()> {
    match values.iter().find(|(_, v)| !v.is_finite()) {
        Some((what, value)) => Err(Diverged {
            epoch,
            step,
            what: what.clone(),
            value: *value,
            last: last
                .iter()
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
        None => Ok(()),
    }
}

/// The sum of every weight: not finite if any weight is not.
fn weights_sum(model: &dyn Autoencoder) -> Result<(String, f64)> {
    let mut sum = 0f64;
    for v in model.varmap().all_vars() {
        sum += v
            .as_tensor()
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
    }
    Ok(("weights".into(), sum))
}

fn fmt(v: f64) -> String {
    format!("{v:.6}")
}

/// The epochs, the test evaluation and the weights (model.safetensors after the last epoch,
/// best.safetensors after the best monitored one).
#[allow(clippy::too_many_arguments)]
pub fn train(
    exp: &Experiment,
    model: &mut dyn Autoencoder,
    progress: &mut Progress,
    board: &mut Board,
    data: &Dataset,
    streams: &Streams,
    dir: &Path,
    start: usize,
    config: &str,
) -> Result<Trained> {
    let path = dir.join("metrics.csv");
    let mut csv = if start > 0 {
        MetricsCsv::resume(&path, start)?
    } else {
        MetricsCsv::create(&path)?
    };
    let t = &exp.train;
    let mut last: Vec<(String, f64)> = Vec::new();
    let mut done = start;
    let mut note = None;
    let end = if progress.finished_early() {
        note = Some(stopped_early(exp, progress, start));
        start
    } else {
        t.epochs
    };
    progress.apply(model);
    for epoch in start..end {
        let t0 = Instant::now();
        model.start_epoch(epoch);
        // The rates the epoch starts with (a `per: step` schedule moves them within it).
        let lrs = progress.columns();
        let batches = Batches::new(data, t.batch_size, streams, epoch as u64)?;
        let bar = progress_bar(batches.len(), epoch, t.epochs);
        let mut rng = streams.stream(Purpose::Train, epoch as u64);
        if model.draws_one_kind() {
            // On a GPU: the epoch's noise uploaded in a few blocks, not once per step.
            rng = rng.ahead(data.train.images.device());
        }
        let mut sums = Sums::default();
        for (step, batch) in batches.enumerate() {
            let batch = batch?;
            sums.add(&model.train_step(&batch, &mut rng)?, batch.len())?;
            progress.end_step(model);
            if let Some(sig) = interrupt::received() {
                bar.abandon();
                return Err(Interrupted(sig).into());
            }
            if (step + 1) % t.log_every == 0 {
                let means = sums.means()?;
                check_finite(epoch + 1, Some(step + 1), &means, &last)?;
                let first = means
                    .first()
                    .map(|(k, v)| format!("{k} {v:.4}"))
                    .unwrap_or_default();
                let rate = sums.count() as f64 / t0.elapsed().as_secs_f64();
                bar.set_message(format!("{first}  {rate:.0} img/s"));
                board.steps(epoch, step + 1, (sums.count(), &means), &progress.columns());
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_secs = t0.elapsed().as_secs_f64();
        let train_means = sums.means()?;
        check_finite(epoch + 1, None, &train_means, &last)?;
        check_finite(epoch + 1, None, &[weights_sum(model)?], &last)?;
        let val = match &data.val {
            Some(v) => evaluate(model, v, t.eval_batch_size, streams)?,
            None => vec![],
        };
        check_finite(epoch + 1, None, &val, &last)?;
        let bound = val_bound(exp, model, data, streams, epoch + 1)?;
        let test = match t.test_each_epoch {
            true => evaluate(model, &data.test, t.eval_batch_size, streams)?,
            false => vec![],
        };
        let seen = progress.end_epoch(model, epoch + 1, &val);
        let mut row = vec![(EPOCH.to_string(), (epoch + 1).to_string())];
        row.extend(
            train_means
                .iter()
                .map(|(k, v)| (format!("train_{k}"), fmt(*v))),
        );
        row.extend(val.iter().map(|(k, v)| (format!("val_{k}"), fmt(*v))));
        if let Some((name, value)) = &bound {
            // Empty in the epochs between bounds: the column is in every row.
            row.push((format!("val_{name}"), value.map(fmt).unwrap_or_default()));
        }
        row.extend(test.iter().map(|(k, v)| (format!("test_{k}"), fmt(*v))));
        // Rates to full precision: a schedule's small steps would vanish in six digits.
        row.extend(lrs.iter().map(|(k, v)| (k.clone(), format!("{v:e}"))));
        let secs = t0.elapsed().as_secs_f64();
        let rate = data.train.len() as f64 / train_secs;
        row.push((SECONDS.into(), format!("{secs:.3}")));
        row.push((RATE.into(), format!("{rate:.1}")));
        csv.write(&row)?;
        write_curves(dir)?;
        let scalars: Vec<(String, f64)> = [("train", &train_means), ("val", &val), ("test", &test)]
            .into_iter()
            .flat_map(|(split, m)| m.iter().map(move |(k, v)| (format!("{split}_{k}"), *v)))
            .chain(
                bound
                    .iter()
                    .filter_map(|(k, v)| Some((format!("val_{k}"), (*v)?))),
            )
            .chain(lrs.iter().cloned())
            .chain([(SECONDS.to_string(), secs), (RATE.to_string(), rate)])
            .collect();
        // The epoch's pictures, made once for TensorBoard and eval.pictures_every.
        let every = exp.eval.pictures_every;
        let keep = every > 0 && (epoch + 1).is_multiple_of(every);
        let pictures = (board.on() || keep)
            .then(|| ae_core::grad::no_grad(|| basic_rows(model, data, streams)))
            .transpose()?;
        board.epoch(epoch, &scalars, pictures.as_ref(), model, data)?;
        if let Some((rows, _)) = pictures.as_ref().filter(|_| keep) {
            let png = grid_png(rows, data.image_shape, 2)?;
            let name = format!("{EPOCH_PICTURES}{:03}.png", epoch + 1);
            write_atomic(&dir.join(name), &png.bytes)?;
        }
        live_report(dir);
        if seen.is_some_and(|s| s.best) {
            checkpoint::write_weights(&dir.join(checkpoint::BEST), model, epoch + 1)?;
        }
        let stop = seen.is_some_and(|s| s.stop);
        if (epoch + 1) % t.checkpoint_every == 0 || epoch + 1 == t.epochs || stop {
            checkpoint::save(dir, model, progress, epoch + 1, config, t.seed)?;
        }
        let shown: Vec<String> = train_means
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .chain(
                val.iter()
                    .filter(|(k, _)| *k == MSE.name || *k == NEG_ELBO.name)
                    .map(|(k, v)| format!("val {k} {v:.4}")),
            )
            .chain(
                bound
                    .iter()
                    .filter_map(|(k, v)| Some(format!("val {k} {:.4}", (*v)?))),
            )
            .collect();
        tracing::info!(
            "epoch {}/{}: {}  {secs:.1}s  {rate:.0} img/s",
            epoch + 1,
            t.epochs,
            shown.join("  ")
        );
        last = train_means;
        done = epoch + 1;
        if stop {
            let why = stopped_early(exp, progress, done);
            tracing::info!("{why}");
            note = Some(why);
            break;
        }
    }

    checkpoint::write_weights(&dir.join(checkpoint::MODEL), model, done)?;
    let tested = match t.test_weights {
        TestWeights::Last => Some(done),
        TestWeights::Best => {
            let best = dir.join(checkpoint::BEST);
            checkpoint::read_weights(&best, model, data.test.images.device())?
        }
    };
    let test = write_test(
        model,
        data,
        t.eval_batch_size,
        streams,
        dir,
        (t.test_weights, tested),
    )?;
    check_finite(done, None, &test, &last)?;
    Ok(Trained { test, note })
}

/// With `eval.every`: the IWAE bound's name and, in the epochs it is due, its value on the
/// first `eval.every_images` validation images (the same draws every time, so that the curve
/// follows the weights, not the noise).
fn val_bound(
    exp: &Experiment,
    model: &dyn Autoencoder,
    data: &Dataset,
    streams: &Streams,
    epoch: usize,
) -> Result<Option<(String, Option<f64>)>> {
    let e = &exp.eval;
    let Some(val) = data.val.as_ref().filter(|_| e.every > 0) else {
        return Ok(None);
    };
    let name = bound_name(model, e.iwae_k);
    let due = epoch.is_multiple_of(e.every) || epoch == exp.train.epochs;
    if !due {
        return Ok(Some((name, None)));
    }
    let n = match e.every_images {
        0 => val.len(),
        n => n.min(val.len()),
    };
    let value = ae_core::grad::no_grad(|| iwae_nll(model, &val.narrow(0, n)?, e.iwae_k, streams))?;
    Ok(Some((name, value)))
}

/// Rewrites the experiment's report.html, which reloads itself while a run trains. A failure
/// is a warning: the report is a view of files the run has already written.
pub fn live_report(run_dir: &Path) {
    if let Some(exp_dir) = run_dir.parent() {
        if let Err(e) = report::write(exp_dir) {
            tracing::warn!("report.html not rewritten: {e:#}");
        }
    }
}

/// Why a run stopped before `train.epochs`, for the log and run.json.
fn stopped_early(exp: &Experiment, progress: &Progress, done: usize) -> String {
    let t = &exp.train;
    let (patience, min_delta) = t
        .early_stopping
        .as_ref()
        .map_or((0, 0.0), |s| (s.patience, s.min_delta));
    let by = match min_delta {
        0.0 => String::new(),
        d => format!(" by more than {d}"),
    };
    let (metric, best_epoch, best) = progress.best().unwrap_or_default();
    format!(
        "stopped early after epoch {done} of {}: {metric} has not improved{by} for {patience} epochs (best {best:.6} after epoch {best_epoch})",
        t.epochs
    )
}

fn progress_bar(len: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
    bar
}
