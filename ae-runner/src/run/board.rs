//! A run watched live in TensorBoard (`log.tensorboard`), as the seed watched visdom: its
//! event stream in `<out>/<name>/tensorboard/<run>/`. Every step is the optimiser's global
//! step, so that curves logged within epochs and once per epoch share one axis:
//!
//! - `step/<term>`: each loss term's mean over the last `train.log_every` steps, and the rates;
//! - `train/`, `val/`, `test/<metric>`, `epoch/lr...`, `epoch/images_per_sec` and
//!   `epoch/seconds`: metrics.csv's row of each epoch;
//! - `reconstructions` (test images and what the model makes of them, as the seed showed),
//!   `samples` for models with a prior, and the histogram `codes` of the first test images;
//! - `config` (the resolved config, as text) at step 0, and `final/<metric>` (test.csv and the
//!   evaluation) at the last step.
//!
//! A failed write stops the stream with a warning, not the run: metrics.csv is the record.

use crate::results::files::move_aside;
use crate::results::tensorboard::hparams;
use crate::results::tensorboard::writer::{now, EventWriter, Png};
use ae_core::data::Dataset;
use ae_core::image::{grid_png, GridPng};
use ae_core::rng::{Purpose, Streams};
use ae_variants::Autoencoder;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Test images shown as reconstructions, samples drawn, test images whose codes are binned.
const SHOWN: usize = 16;
const CODED: usize = 1000;
const BUCKETS: usize = 30;

pub struct Board {
    writer: Option<EventWriter>,
    /// Optimiser steps per epoch.
    steps: usize,
    /// The images seen and the loss sums at the last logged step of this epoch.
    last: (usize, Vec<(String, f64)>),
    /// Epochs logged, resumed ones included.
    epochs: usize,
    /// A run of a sweep: a session of the HParams dashboard.
    swept: bool,
    /// Time spent in [`Board::steps`] and [`Board::epoch`], which the run's log reports.
    spent: Duration,
}

/// `<out>/<name>/tensorboard/<run>` for the run folder `<out>/<name>/<run>`.
pub fn folder(run_dir: &Path) -> PathBuf {
    let name = run_dir.file_name().unwrap_or_default();
    run_dir
        .parent()
        .unwrap_or(Path::new("."))
        .join("tensorboard")
        .join(name)
}

/// Moves a run's stream aside with its run folder (into `<aside>/tensorboard`), so that
/// TensorBoard's log folder holds the runs that are there now.
pub fn move_with(run_dir: &Path, aside: Option<&Path>) -> Result<()> {
    let tb = folder(run_dir);
    if !tb.exists() {
        return Ok(());
    }
    let to = match aside {
        Some(a) => a.join("tensorboard"),
        None => return move_aside(&tb).map(|_| ()),
    };
    std::fs::rename(&tb, &to)
        .map_err(|e| anyhow::anyhow!("moving {} to {}: {e}", tb.display(), to.display()))
}

impl Board {
    /// The stream of the run in `run_dir` (none unless `on`), continued after `epochs_done`
    /// epochs of `steps` steps each (events after that step are dropped), or new; `swept`: a
    /// run of a sweep.
    pub fn open(
        run_dir: &Path,
        on: bool,
        steps: usize,
        epochs_done: Option<usize>,
        swept: bool,
    ) -> Self {
        let writer = on.then(|| {
            let dir = folder(run_dir);
            let after = epochs_done.map(|e| (e * steps) as i64);
            EventWriter::open(&dir, after)
                .inspect_err(|e| tracing::warn!("no TensorBoard stream: {e:#}"))
                .ok()
        });
        Self {
            writer: writer.flatten(),
            steps,
            last: (0, vec![]),
            epochs: epochs_done.unwrap_or(0),
            swept,
            spent: Duration::ZERO,
        }
    }

    /// The global step after `step` steps (from 1) of epoch `epoch` (from 0).
    fn at(&self, epoch: usize, step: usize) -> i64 {
        (epoch * self.steps + step) as i64
    }

    /// Runs `f` on the stream, which a failure closes.
    fn write(&mut self, f: impl FnOnce(&mut EventWriter) -> Result<()>) {
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = f(w).and_then(|()| w.flush()) {
                tracing::warn!("TensorBoard stream stopped: {e:#}");
                self.writer = None;
            }
        }
    }

    pub fn config(&mut self, yaml: &str) {
        // Indented: Markdown shows it as code, line by line.
        let text: String = yaml.lines().map(|l| format!("    {l}\n")).collect();
        self.write(|w| w.text(0, "config", &text));
    }

    /// The HParams dashboard's record of the run's swept values.
    pub fn session(&mut self, values: &[(String, String)]) {
        if self.swept {
            self.write(|w| {
                w.hparams(
                    0,
                    hparams::SESSION_START,
                    hparams::session_start(values, now()),
                )
            });
        }
    }

    /// How the run ended, for the HParams dashboard (nothing for an interrupted run: it goes on).
    pub fn ended(&mut self, success: bool) {
        if !self.swept {
            return;
        }
        let at = self.at(self.epochs, 0);
        self.write(|w| {
            w.hparams(
                at,
                hparams::SESSION_END,
                hparams::session_end(success, now()),
            )
        });
    }

    /// After `step` steps of `epoch`: each term's mean since the last call (from `means`, the
    /// epoch's running means over `n` images), and the rates.
    pub fn steps(
        &mut self,
        epoch: usize,
        step: usize,
        (n, means): (usize, &[(String, f64)]),
        lrs: &[(String, f64)],
    ) {
        if self.writer.is_none() {
            return;
        }
        let t0 = Instant::now();
        let totals: Vec<(String, f64)> = means
            .iter()
            .map(|(k, m)| (k.clone(), m * n as f64))
            .collect();
        let (n0, before) = &self.last;
        let since = |k: &str| before.iter().find(|(b, _)| b == k).map_or(0.0, |b| b.1);
        let mut values: Vec<(String, f64)> = totals
            .iter()
            .map(|(k, t)| (format!("step/{k}"), (t - since(k)) / (n - n0).max(1) as f64))
            .collect();
        self.last = (n, totals);
        values.extend(lrs.iter().map(|(k, v)| (format!("step/{k}"), *v)));
        let at = self.at(epoch, step);
        self.write(|w| w.scalars(at, &values));
        self.spent += t0.elapsed();
    }

    /// Whether there is a stream to write.
    pub fn on(&self) -> bool {
        self.writer.is_some()
    }

    /// The end of epoch `epoch` (from 0): its row of metrics.csv (`columns`, by their names
    /// there), the reconstructions and samples ([`basic_rows`], which the caller makes while
    /// the board is [`Board::on`]) and the histogram of codes.
    pub fn epoch(
        &mut self,
        epoch: usize,
        columns: &[(String, f64)],
        pictures: Option<&Pictures>,
        model: &dyn Autoencoder,
        data: &Dataset,
    ) -> Result<()> {
        self.last = (0, vec![]);
        self.epochs = epoch + 1;
        let Some((rows, samples)) = pictures.filter(|_| self.on()) else {
            return Ok(());
        };
        let t0 = Instant::now();
        let at = self.at(epoch + 1, 0);
        let values: Vec<(String, f64)> = columns.iter().map(|(k, v)| (tag(k), *v)).collect();
        let shape = data.image_shape;
        let recon = grid_png(rows, shape, 2)?;
        let samples = samples
            .as_ref()
            .map(|rows| grid_png(rows, shape, 2))
            .transpose()?;
        let n = data.test.len().min(CODED);
        let codes = ae_core::grad::no_grad(|| model.encode(&data.test.narrow(0, n)?))?
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        self.write(|w| {
            w.scalars(at, &values)?;
            w.image(at, "reconstructions", png(recon))?;
            if let Some(s) = samples {
                w.image(at, "samples", png(s))?;
            }
            w.histogram(at, "codes", &codes, BUCKETS)
        });
        self.spent += t0.elapsed();
        Ok(())
    }

    /// The test and evaluation metrics, at the last epoch's step.
    pub fn end(&mut self, metrics: &[(String, f64)]) {
        if let Some(w) = &self.writer {
            tracing::info!(
                "TensorBoard stream {}: {:.3} s spent writing it while training",
                w.path().display(),
                self.spent.as_secs_f64()
            );
        }
        let at = self.at(self.epochs, 0);
        let values: Vec<(String, f64)> = metrics
            .iter()
            .map(|(k, v)| (format!("final/{k}"), *v))
            .collect();
        self.write(|w| w.scalars(at, &values));
    }
}

/// metrics.csv's column name as a tag: `train_recon` -> `train/recon`, `lr` -> `epoch/lr`.
fn tag(column: &str) -> String {
    for split in ["train", "val", "test"] {
        if let Some(rest) = column.strip_prefix(split).and_then(|r| r.strip_prefix('_')) {
            return format!("{split}/{rest}");
        }
    }
    format!("epoch/{column}")
}

fn png(g: GridPng) -> Png {
    Png {
        width: g.width,
        height: g.height,
        channels: g.channels,
        bytes: g.bytes,
    }
}

/// The rows of the reconstructions picture (the first test images, then what the model makes
/// of them) and, for a model with a prior, rows of [`COLUMNS`] samples (a row per class for a
/// conditional model): the same draws every time.
pub fn basic_rows(model: &dyn Autoencoder, data: &Dataset, streams: &Streams) -> Result<Pictures> {
    let first = data.test.narrow(0, data.test.len().min(SHOWN))?;
    let labels = grid_labels(model, data.classes, first.images.device())?;
    let rows = model.display(&first, &mut streams.stream(Purpose::Eval, 1))?;
    let samples = model
        .sample(
            labels.dim(0)?,
            Some(&labels),
            &mut streams.stream(Purpose::Sample, 0),
        )?
        .map(|s| grid_rows(&s, COLUMNS))
        .transpose()?;
    Ok((rows, samples))
}

/// The rows of the reconstructions picture, and the samples' rows for a model with a prior.
pub type Pictures = (Vec<Tensor>, Option<Vec<Tensor>>);

/// `images` cut into rows of `per_row` (a last partial row is left out).
pub fn grid_rows(images: &Tensor, per_row: usize) -> Result<Vec<Tensor>> {
    Ok((0..images.dim(0)? / per_row)
        .map(|r| images.narrow(0, r * per_row, per_row))
        .collect::<candle_core::Result<Vec<_>>>()?)
}

/// Columns of the samples pictures.
pub const COLUMNS: usize = 8;

/// The labels of a samples picture's draws, a label to a row of [`COLUMNS`]: a row per class
/// for a model conditioned on the label, so that row c shows its samples of class c; 8 rows
/// for any other model, which ignores them.
pub fn grid_labels(model: &dyn Autoencoder, classes: usize, device: &Device) -> Result<Tensor> {
    let rows = match model.conditional() {
        true => classes,
        false => COLUMNS,
    };
    class_labels(rows * COLUMNS, COLUMNS, classes, device)
}

/// `n` labels, `per` of each class in turn (0, .., 0, 1, .., 1, ...), cycling through `classes`.
pub fn class_labels(n: usize, per: usize, classes: usize, device: &Device) -> Result<Tensor> {
    let labels: Vec<u32> = (0..n).map(|i| ((i / per) % classes) as u32).collect();
    Ok(Tensor::from_vec(labels, n, device)?)
}
