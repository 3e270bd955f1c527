//! The training state beside the model's: the learning-rate schedule of every optimiser and
//! the monitored validation metric (best epoch, early stopping), kept in the checkpoint so
//! that a resumed run continues both exactly.

use crate::config::Experiment;
use ae_core::schedule::{ScheduleConfig, Scheduler};
use ae_core::stopping::{Monitor, Seen};
use ae_variants::Autoencoder;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;

/// Checkpoint tensors of [`Progress::state`].
const SCHEDULE: &str = "train.schedule";
const MONITOR: &str = "train.monitor";

pub struct Progress {
    scheduler: Scheduler,
    /// The monitored metric's name without `val_`, and what it has seen.
    monitor: Option<(String, Monitor)>,
    /// The optimisers' names, in the order of the scheduler's rates.
    names: Vec<&'static str>,
    /// A constant rate needs no state (checkpoints from before schedules have none).
    constant: bool,
    /// Resumed after the epoch that stopped it early: it trains no more epochs.
    finished_early: bool,
}

impl Progress {
    /// At epoch 0: every optimiser's configured rate is its base rate.
    pub fn new(exp: &Experiment, model: &mut dyn Autoencoder) -> Self {
        let (names, base): (Vec<&'static str>, Vec<f64>) = model
            .optimizers()
            .into_iter()
            .map(|(n, o)| (n, o.lr()))
            .unzip();
        let t = &exp.train;
        let monitor = t.monitor.as_ref().map(|name| {
            let metric = name.strip_prefix("val_").unwrap_or(name).to_string();
            (
                metric,
                Monitor::new(exp.monitor_mode, t.early_stopping.clone()),
            )
        });
        Self {
            scheduler: Scheduler::new(&t.schedule, &base),
            monitor,
            names,
            constant: t.schedule == ScheduleConfig::default(),
            finished_early: false,
        }
    }

    /// Gives every optimiser its rate of now.
    pub fn apply(&self, model: &mut dyn Autoencoder) {
        for ((_, opt), &lr) in model.optimizers().into_iter().zip(self.scheduler.lrs()) {
            opt.set_lr(lr);
        }
    }

    /// After each training batch.
    pub fn end_step(&mut self, model: &mut dyn Autoencoder) {
        if self.scheduler.end_step() {
            self.apply(model);
        }
    }

    /// After epoch `epoch` (from 1) with its validation metrics: what the monitored value
    /// meant (None without a monitor), and the schedule advanced.
    pub fn end_epoch(
        &mut self,
        model: &mut dyn Autoencoder,
        epoch: usize,
        val: &[(String, f64)],
    ) -> Option<Seen> {
        let seen = self.monitor.as_mut().map(|(name, m)| {
            // The config was checked against the model's metrics; a missing one reads as NaN,
            // which never improves.
            let value = val
                .iter()
                .find(|(k, _)| k == name)
                .map_or(f64::NAN, |(_, v)| *v);
            (value, m.see(epoch, value))
        });
        self.scheduler
            .end_epoch(seen.map_or(f64::NAN, |(value, _)| value));
        self.apply(model);
        seen.map(|(_, s)| s)
    }

    /// `lr`, or `lr_<optimiser>` for each where a model has several: the rates now.
    pub fn columns(&self) -> Vec<(String, f64)> {
        let lrs = self.scheduler.lrs();
        match self.names.as_slice() {
            [_] => vec![("lr".into(), lrs[0])],
            names => names
                .iter()
                .zip(lrs)
                .map(|(n, &lr)| (format!("lr_{n}"), lr))
                .collect(),
        }
    }

    /// The monitored metric (`val_<name>`), its best epoch (from 1) and value, once seen.
    pub fn best(&self) -> Option<(String, usize, f64)> {
        let (name, m) = self.monitor.as_ref()?;
        let (epoch, value) = m.best();
        (epoch > 0).then(|| (format!("val_{name}"), epoch, value))
    }

    /// After its checkpoint is restored: a run whose early stopping had spent its patience,
    /// resumed with the same config (killed between that epoch's checkpoint and the end),
    /// trains no more epochs; one `continued` for more epochs trains on, patience spent.
    pub fn resumed(&mut self, continued: bool) {
        let stopped = self.monitor.as_ref().is_some_and(|(_, m)| m.stopped());
        self.finished_early = stopped && !continued;
    }

    /// Whether the run had stopped early before it was resumed ([`Progress::resumed`]).
    pub fn finished_early(&self) -> bool {
        self.finished_early
    }

    /// The checkpoint's tensors of this state.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![(
            SCHEDULE.to_string(),
            Tensor::new(self.scheduler.state().as_slice(), &Device::Cpu)?,
        )];
        if let Some((_, m)) = &self.monitor {
            out.push((
                MONITOR.to_string(),
                Tensor::new(m.state().as_slice(), &Device::Cpu)?,
            ));
        }
        Ok(out)
    }

    /// Restores [`Progress::state`] from a checkpoint's tensors. A checkpoint written before
    /// schedules existed has none: right for a constant rate and no monitor, an error else.
    pub fn restore(&mut self, saved: &HashMap<String, Tensor>) -> Result<()> {
        let read = |key: &str| -> Result<Option<Vec<f64>>> {
            saved
                .get(key)
                .map(|t| t.to_vec1::<f64>())
                .transpose()
                .with_context(|| format!("the checkpoint's `{key}`"))
        };
        match read(SCHEDULE)? {
            Some(s) => self.scheduler.restore(&s).map_err(anyhow::Error::msg)?,
            None => anyhow::ensure!(
                self.constant,
                "the checkpoint has no `{SCHEDULE}`: it was written by an ae-runner without learning-rate schedules"
            ),
        }
        if let Some((_, m)) = &mut self.monitor {
            let s = read(MONITOR)?.with_context(|| {
                format!("the checkpoint has no `{MONITOR}`: it was written without train.monitor")
            })?;
            m.restore(&s).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}
