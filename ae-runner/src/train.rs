//! One run, top to bottom: data, model, folder, epochs (train, validate, log), test, files.

use crate::config::Experiment;
use crate::outputs::{self, MetricsCsv, Status};
use ae_core::data::{chunks, Batches, Dataset};
use ae_core::image::write_grid;
use ae_core::metrics::Sums;
use ae_core::rng::{Purpose, Streams};
use ae_variants::{Autoencoder, BuildContext};
use anyhow::{Context, Result};
use candle_core::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::Instant;

/// What the command line adds to an experiment.
pub struct RunOptions {
    /// Overrides `train.device`.
    pub device: Option<String>,
}

/// How a run ended.
pub enum Outcome {
    Finished {
        test: Vec<(String, f64)>,
    },
    /// A loss or metric was not finite.
    Diverged {
        message: String,
    },
}

/// What a run's folder holds before the run.
pub enum Existing {
    New,
    /// Finished with the same config: nothing to do.
    Done(Status),
    /// Finished with another config: the difference.
    Changed(String),
    /// Started and not finished (killed, failed, diverged): moved aside when run again.
    Unfinished(String),
}

/// The resolved config a run folder holds, without its provenance.
fn stored_config(dir: &Path) -> Option<serde_yaml::Value> {
    let mut v: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("config.yaml")).ok()?).ok()?;
    v.as_mapping_mut()?.remove("provenance");
    Some(v)
}

pub fn inspect(dir: &Path, resolved: &serde_yaml::Value) -> Existing {
    if !dir.exists() {
        return Existing::New;
    }
    let old = stored_config(dir);
    match Status::read(dir) {
        Some(s) if s.status == "finished" && old.as_ref() == Some(resolved) => Existing::Done(s),
        Some(s) if s.status == "finished" => Existing::Changed(yaml_diff(old.as_ref(), resolved)),
        Some(s) => Existing::Unfinished(s.status),
        None => Existing::Unfinished("no run.json".into()),
    }
}

/// Runs `exp` into `dir` (moving an earlier folder there aside). `values` are the swept
/// values that make this run, recorded in its provenance.
pub fn run(
    exp: &Experiment,
    dir: &Path,
    values: &[(String, serde_yaml::Value)],
    opts: &RunOptions,
) -> Result<Outcome> {
    let dev_spec = opts
        .device
        .clone()
        .unwrap_or_else(|| exp.train.device.clone());
    let device = ae_core::device::open(&dev_spec)?;
    let threads = candle_core::utils::get_num_threads();
    tracing::info!(
        "device {} ({} thread{})",
        ae_core::device::describe(&device),
        threads,
        if threads == 1 { "" } else { "s" }
    );

    let streams = Streams::new(exp.train.seed);
    let data = Dataset::load(&exp.data, &device, &streams)?;
    tracing::info!(
        "{:?} from {}: {} train, {} validation, {} test images",
        exp.data.dataset,
        data.dir.display(),
        data.train.len(),
        data.val.as_ref().map_or(0, |v| v.len()),
        data.test.len()
    );

    if dir.exists() {
        let aside = outputs::move_aside(dir)?;
        tracing::info!("moved the earlier run to {}", aside.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut resolved = exp.resolved();
    let mut prov = outputs::provenance(&ae_core::device::describe(&device), threads);
    let swept: serde_yaml::Mapping = values
        .iter()
        .map(|(k, v)| (k.clone().into(), v.clone()))
        .collect();
    if let Some(p) = prov.as_mapping_mut() {
        p.insert("sweep_values".into(), serde_yaml::Value::Mapping(swept));
    }
    if let Some(m) = resolved.as_mapping_mut() {
        m.insert("provenance".into(), prov);
    }
    outputs::write_atomic(
        &dir.join("config.yaml"),
        serde_yaml::to_string(&resolved)?.as_bytes(),
    )?;
    let t0 = Instant::now();
    let mut status = Status {
        status: "running".into(),
        started: outputs::now(),
        ended: None,
        seconds: None,
        message: None,
        test: vec![],
    };
    status.write(dir)?;

    let ctx = BuildContext {
        device: &device,
        input_dim: data.dim(),
        optimizer: &exp.train.optimizer,
        streams,
    };
    let result = exp
        .spec
        .build(&exp.model, &ctx)
        .and_then(|mut model| train(exp, model.as_mut(), &data, &streams, dir));
    status.ended = Some(outputs::now());
    status.seconds = Some(t0.elapsed().as_secs_f64());
    match result {
        Ok(test) => {
            status.status = "finished".into();
            status.test = test.clone();
            status.write(dir)?;
            Ok(Outcome::Finished { test })
        }
        Err(e) if e.is::<Diverged>() => {
            status.status = "diverged".into();
            status.message = Some(e.to_string());
            status.write(dir)?;
            Ok(Outcome::Diverged {
                message: e.to_string(),
            })
        }
        Err(e) => {
            status.status = "failed".into();
            status.message = Some(format!("{e:#}"));
            status.write(dir)?;
            Err(e)
        }
    }
}

/// A loss or metric that is NaN or infinite.
#[derive(Debug, thiserror::Error)]
#[error("diverged in epoch {epoch}: {what} is {value}; try a lower train.optimizer.lr")]
pub struct Diverged {
    epoch: usize,
    what: String,
    value: f64,
}

/// The lines of the new config that differ from the old one's.
fn yaml_diff(old: Option<&serde_yaml::Value>, new: &serde_yaml::Value) -> String {
    let old = old
        .map(|o| serde_yaml::to_string(o).unwrap_or_default())
        .unwrap_or_default();
    let new = serde_yaml::to_string(new).unwrap_or_default();
    let (ol, nl): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut out = Vec::new();
    out.extend(
        ol.iter()
            .filter(|l| !nl.contains(l))
            .map(|l| format!("  - {l}")),
    );
    out.extend(
        nl.iter()
            .filter(|l| !ol.contains(l))
            .map(|l| format!("  + {l}")),
    );
    out.join("\n")
}

/// Per-image means of the variant's metrics over `images`, in fixed-order chunks, with a fresh
/// evaluation stream (so every epoch sees the same noise).
fn evaluate(
    model: &dyn Autoencoder,
    images: &Tensor,
    batch: usize,
    streams: &Streams,
) -> Result<Vec<(String, f64)>> {
    let mut rng = streams.stream(Purpose::Eval, 0);
    let mut sums = Sums::default();
    for x in chunks(images, batch)? {
        let n = x.dim(0)?;
        sums.add(&model.evaluate(&x, &mut rng)?, n)?;
    }
    Ok(sums.means()?)
}

fn check_finite(epoch: usize, values: &[(String, f64)]) -> Result<()> {
    match values.iter().find(|(_, v)| !v.is_finite()) {
        Some((what, value)) => Err(Diverged {
            epoch,
            what: what.clone(),
            value: *value,
        }
        .into()),
        None => Ok(()),
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.6}")
}

/// The epochs, the test evaluation and the files; returns the test metrics.
fn train(
    exp: &Experiment,
    model: &mut dyn Autoencoder,
    data: &Dataset,
    streams: &Streams,
    dir: &Path,
) -> Result<Vec<(String, f64)>> {
    let mut csv = MetricsCsv::create(&dir.join("metrics.csv"))?;
    let t = &exp.train;
    for epoch in 0..t.epochs {
        let t0 = Instant::now();
        model.start_epoch(epoch);
        let batches = Batches::new(data, t.batch_size, streams, epoch as u64)?;
        let bar = progress_bar(batches.len(), epoch, t.epochs);
        let mut rng = streams.stream(Purpose::Train, epoch as u64);
        let mut sums = Sums::default();
        for (step, x) in batches.enumerate() {
            let x = x?;
            let n = x.dim(0)?;
            let terms = model.train_step(&x, &mut rng)?;
            let scaled: Vec<(&str, Tensor)> = terms
                .iter()
                .map(|(k, v)| Ok((*k, (v * n as f64)?)))
                .collect::<Result<_>>()?;
            sums.add(&scaled, n)?;
            if (step + 1) % t.log_every == 0 {
                let first = sums
                    .means()?
                    .first()
                    .map(|(k, v)| format!("{k} {v:.4}"))
                    .unwrap_or_default();
                let rate = sums.count() as f64 / t0.elapsed().as_secs_f64();
                bar.set_message(format!("{first}  {rate:.0} img/s"));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_secs = t0.elapsed().as_secs_f64();
        let train_means = sums.means()?;
        check_finite(epoch + 1, &train_means)?;
        let val = match &data.val {
            Some(v) => evaluate(model, &v.images, t.eval_batch_size, streams)?,
            None => vec![],
        };
        check_finite(epoch + 1, &val)?;
        let test = match t.test_each_epoch {
            true => evaluate(model, &data.test.images, t.eval_batch_size, streams)?,
            false => vec![],
        };
        let mut row = vec![("epoch".to_string(), (epoch + 1).to_string())];
        row.extend(
            train_means
                .iter()
                .map(|(k, v)| (format!("train_{k}"), fmt(*v))),
        );
        row.extend(val.iter().map(|(k, v)| (format!("val_{k}"), fmt(*v))));
        row.extend(test.iter().map(|(k, v)| (format!("test_{k}"), fmt(*v))));
        let secs = t0.elapsed().as_secs_f64();
        let rate = data.train.len() as f64 / train_secs;
        row.push(("seconds".into(), format!("{secs:.3}")));
        row.push(("images_per_sec".into(), format!("{rate:.1}")));
        csv.write(&row)?;
        let shown: Vec<String> = train_means
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .chain(
                val.iter()
                    .filter(|(k, _)| k == "mse" || k == "neg_elbo")
                    .map(|(k, v)| format!("val {k} {v:.4}")),
            )
            .collect();
        tracing::info!(
            "epoch {}/{}: {}  {secs:.1}s  {rate:.0} img/s",
            epoch + 1,
            t.epochs,
            shown.join("  ")
        );
    }

    let test = evaluate(model, &data.test.images, t.eval_batch_size, streams)?;
    check_finite(t.epochs, &test)?;
    let test_row: Vec<(String, String)> = test.iter().map(|(k, v)| (k.clone(), fmt(*v))).collect();
    outputs::write_row_csv(&dir.join("test.csv"), &test_row)?;
    model.varmap().save(dir.join("model.safetensors"))?;
    write_pictures(model, data, streams, dir)?;
    Ok(test)
}

/// reconstructions.png (test images and what the model makes of them) and, for variants
/// with a prior, samples.png (8 x 8 draws).
fn write_pictures(
    model: &dyn Autoencoder,
    data: &Dataset,
    streams: &Streams,
    dir: &Path,
) -> Result<()> {
    let (_, h, w) = data.image_shape;
    let n = data.test.len().min(16);
    let x = data.test.images.narrow(0, 0, n)?;
    let rows = model.display(&x, &mut streams.stream(Purpose::Eval, 1))?;
    write_grid(&dir.join("reconstructions.png"), &rows, (h, w), 2)?;
    if let Some(s) = model.sample(64, &mut streams.stream(Purpose::Sample, 0))? {
        let rows: Vec<Tensor> = (0..8)
            .map(|r| s.narrow(0, r * 8, 8))
            .collect::<candle_core::Result<_>>()?;
        write_grid(&dir.join("samples.png"), &rows, (h, w), 2)?;
    }
    Ok(())
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
