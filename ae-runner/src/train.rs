//! One run, top to bottom: data, model, folder, epochs (train, validate, log), test, files.

use crate::checkpoint::{self, Lock};
use crate::config::Experiment;
use crate::interrupt;
use crate::outputs::{self, MetricsCsv, Status};
use crate::{eval, pictures};
use ae_core::data::{chunks, Batches, Binarize, DataConfig, Dataset};
use ae_core::metrics::Sums;
use ae_core::rng::{Purpose, Streams};
use ae_core::UserError;
use ae_variants::{Autoencoder, BuildContext};
use anyhow::Result;
use candle_core::{Device, Tensor};
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
    /// A loss, metric or weight was not finite.
    Diverged {
        message: String,
    },
    /// SIGINT or SIGTERM: stopped after a step; the last checkpoint holds `epochs_done`.
    Interrupted {
        signal: i32,
        epochs_done: usize,
    },
}

/// The experiment's model, freshly initialised from its seed, for images like `data`'s.
pub fn build(
    exp: &Experiment,
    data: &Dataset,
    device: &Device,
    streams: Streams,
) -> Result<Box<dyn Autoencoder>> {
    let ctx = BuildContext {
        device,
        input_dim: data.dim(),
        image_shape: data.image_shape,
        optimizer: &exp.train.optimizer,
        streams,
    };
    exp.spec.build(&exp.model, &ctx)
}

/// candle sizes its matmul thread pool from RAYON_NUM_THREADS when it first runs one: call
/// this before any tensor work. 0 keeps candle's default, every core.
pub fn set_threads(threads: usize) {
    if threads > 0 {
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
}

/// What a run's folder holds before the run.
pub enum Existing {
    New,
    /// Finished with the same config: nothing to do.
    Done(Status),
    /// Holds a run of another config: the difference.
    Changed(String),
    /// Same config, not finished, with a checkpoint after this many epochs: resumed.
    Resumable(usize),
    /// Started and not finished, without a checkpoint: moved aside and run again.
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
    let same = old.as_ref() == Some(resolved);
    match Status::read(dir) {
        Some(s) if s.status == "finished" && same => Existing::Done(s),
        _ if old.is_some() && !same => Existing::Changed(yaml_diff(old.as_ref(), resolved)),
        status => match checkpoint::epochs_done(dir) {
            Some(e) if same => Existing::Resumable(e),
            _ => Existing::Unfinished(status.map_or("no run.json".into(), |s| s.status)),
        },
    }
}

/// Runs `exp` into `dir`: from its checkpoint if `resume`, else from scratch (moving an
/// earlier folder there aside). `values` are the swept values that make this run, recorded in
/// its provenance.
pub fn run(
    exp: &Experiment,
    dir: &Path,
    values: &[(String, serde_yaml::Value)],
    opts: &RunOptions,
    resume: bool,
    cache: &mut DataCache,
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
    let data = cache.get(&exp.data, &device, &streams, exp.train.seed)?;
    tracing::info!(
        "{:?} from {}: {} train, {} validation, {} test images",
        exp.data.dataset,
        data.dir.display(),
        data.train.len(),
        data.val.as_ref().map_or(0, |v| v.len()),
        data.test.len()
    );

    let _lock = Lock::acquire(dir)?;
    let mut model = build(exp, &data, &device, streams)?;
    let params: usize = model
        .varmap()
        .all_vars()
        .iter()
        .map(|v| v.elem_count())
        .sum();
    tracing::info!(
        "{} ({}): {params} parameters, {:.3} MFLOP per image forward (encoder + decoder)",
        exp.model.variant,
        format!("{:?}", exp.model.arch).to_lowercase(),
        model.flops() as f64 / 1e6
    );
    let t0 = Instant::now();
    let resolved = exp.resolved();
    let config = serde_yaml::to_string(&resolved)?;
    let (start, mut status) = if resume {
        let epochs = checkpoint::load(dir, model.as_mut(), &device)?;
        tracing::info!("resuming {} after epoch {epochs}", dir.display());
        let mut s = Status::read(dir).unwrap_or_else(Status::started);
        s.status = "running".into();
        s.resumed.push(outputs::now());
        (epochs, s)
    } else {
        if dir.exists() {
            let aside = outputs::move_aside(dir)?;
            tracing::info!("moved the earlier run to {}", aside.display());
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            UserError(format!(
                "cannot create the run folder {}: {e}",
                dir.display()
            ))
        })?;
        let mut resolved = resolved;
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
        (0, Status::started())
    };
    let earlier = status.seconds.unwrap_or(0.0);
    status.write(dir)?;

    let result =
        train(exp, model.as_mut(), &data, &streams, dir, start, &config).and_then(|mut test| {
            pictures::write_basic(model.as_ref(), &data, &streams, dir)?;
            test.extend(eval::evaluate(
                exp,
                model.as_ref(),
                &device,
                &streams,
                dir,
                cache,
            )?);
            Ok(test)
        });
    status.ended = Some(outputs::now());
    status.seconds = Some(earlier + t0.elapsed().as_secs_f64());
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
        Err(e) if e.is::<Interrupted>() => {
            let signal = e.downcast_ref::<Interrupted>().map_or(0, |i| i.0);
            let epochs_done = checkpoint::epochs_done(dir).unwrap_or(0);
            status.status = "interrupted".into();
            status.message = Some(format!(
                "{} after {epochs_done} checkpointed epochs",
                interrupt::name(signal)
            ));
            status.write(dir)?;
            Ok(Outcome::Interrupted {
                signal,
                epochs_done,
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

/// What one process reuses from run to run of a sweep (or of `ae-runner eval`): the datasets
/// of the last runs (a run's own and the every-class one its evaluation uses), when the data
/// config, device and (with fixed binarisation, which draws from the seed) seed are the same,
/// so the files are read, checked and decoded once; and the raw-pixel classifiers'
/// accuracies, which depend on the data and the evaluation settings only.
#[derive(Default)]
pub struct DataCache {
    datasets: Vec<(DataKey, Dataset)>,
    pixels: Vec<(String, Vec<(String, f64)>)>,
}

type DataKey = (DataConfig, String, Option<u64>);

impl DataCache {
    pub fn get(
        &mut self,
        cfg: &DataConfig,
        device: &Device,
        streams: &Streams,
        seed: u64,
    ) -> Result<Dataset> {
        let key = (
            cfg.clone(),
            ae_core::device::describe(device),
            (cfg.binarize == Binarize::Fixed).then_some(seed),
        );
        if let Some((_, data)) = self.datasets.iter().find(|(k, _)| *k == key) {
            return Ok(data.clone());
        }
        let data = Dataset::load(cfg, device, streams)?;
        if self.datasets.len() == 2 {
            self.datasets.remove(0);
        }
        self.datasets.push((key, data.clone()));
        Ok(data)
    }

    /// The metrics stored under `key`, computed by `compute` the first time.
    pub fn pixel_metrics(
        &mut self,
        key: String,
        compute: impl FnOnce() -> Result<Vec<(String, f64)>>,
    ) -> Result<Vec<(String, f64)>> {
        if let Some((_, v)) = self.pixels.iter().find(|(k, _)| *k == key) {
            return Ok(v.clone());
        }
        let v = compute()?;
        self.pixels.push((key, v.clone()));
        Ok(v)
    }
}

/// A loss, metric or weight that is NaN or infinite.
#[derive(Debug, thiserror::Error)]
#[error(
    "diverged in epoch {epoch}{}: {what} is {value}{}; lower train.optimizer.lr or set train.optimizer.grad_clip",
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

/// Stopped by a signal after a step.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted(pub i32);

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

/// The test metrics of `model`, written to test.csv and returned.
pub fn write_test(
    model: &dyn Autoencoder,
    data: &Dataset,
    batch: usize,
    streams: &Streams,
    dir: &Path,
) -> Result<Vec<(String, f64)>> {
    let test = evaluate(model, &data.test.images, batch, streams)?;
    let row: Vec<(String, String)> = test.iter().map(|(k, v)| (k.clone(), fmt(*v))).collect();
    outputs::write_row_csv(&dir.join("test.csv"), &row)?;
    Ok(test)
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
    if model.draws_one_kind() {
        rng = rng.ahead(images.device());
    }
    let mut sums = Sums::default();
    for x in chunks(images, batch)? {
        let n = x.dim(0)?;
        sums.add(&ae_core::grad::no_grad(|| model.evaluate(&x, &mut rng))?, n)?;
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

/// The epochs, the test evaluation and the weights; returns the test metrics.
fn train(
    exp: &Experiment,
    model: &mut dyn Autoencoder,
    data: &Dataset,
    streams: &Streams,
    dir: &Path,
    start: usize,
    config: &str,
) -> Result<Vec<(String, f64)>> {
    let path = dir.join("metrics.csv");
    let mut csv = if start > 0 {
        MetricsCsv::resume(&path, start)?
    } else {
        MetricsCsv::create(&path)?
    };
    let t = &exp.train;
    let mut last: Vec<(String, f64)> = Vec::new();
    for epoch in start..t.epochs {
        let t0 = Instant::now();
        model.start_epoch(epoch);
        let batches = Batches::new(data, t.batch_size, streams, epoch as u64)?;
        let bar = progress_bar(batches.len(), epoch, t.epochs);
        let mut rng = streams.stream(Purpose::Train, epoch as u64);
        if model.draws_one_kind() {
            // On a GPU: the epoch's noise uploaded in a few blocks, not once per step.
            rng = rng.ahead(data.train.images.device());
        }
        let mut sums = Sums::default();
        for (step, x) in batches.enumerate() {
            let x = x?;
            let n = x.dim(0)?;
            sums.add(&model.train_step(&x, &mut rng)?, n)?;
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
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_secs = t0.elapsed().as_secs_f64();
        let train_means = sums.means()?;
        check_finite(epoch + 1, None, &train_means, &last)?;
        check_finite(epoch + 1, None, &[weights_sum(model)?], &last)?;
        let val = match &data.val {
            Some(v) => evaluate(model, &v.images, t.eval_batch_size, streams)?,
            None => vec![],
        };
        check_finite(epoch + 1, None, &val, &last)?;
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
        crate::plot::write_curves(dir)?;
        if (epoch + 1) % t.checkpoint_every == 0 || epoch + 1 == t.epochs {
            checkpoint::save(dir, model, epoch + 1, config, t.seed)?;
        }
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
        last = train_means;
    }

    let test = write_test(model, data, t.eval_batch_size, streams, dir)?;
    check_finite(t.epochs, None, &test, &last)?;
    let weights = dir.join("model.safetensors");
    model.varmap().save(outputs::tmp_path(&weights))?;
    outputs::sync_rename(&outputs::tmp_path(&weights), &weights)?;
    Ok(test)
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
