//! One run: its folder and lock, its data and model, its epochs and checkpoints, its test
//! metrics, and run.json saying how it ended. What is evaluated after training is the layer
//! above's (`eval`), called between [`Run::train`] and [`Run::finish`].

pub mod board;
pub mod bound;
pub mod checkpoint;
pub mod context;
pub mod epochs;
pub mod folder;
pub mod interrupt;
pub mod lock;
pub mod progress;

use crate::config::Experiment;
use crate::results::files::{move_aside, write_atomic};
use crate::results::naming::show;
use crate::results::provenance::provenance;
use crate::results::status::{now, Status};
use crate::results::yaml::{self, Map, Value};
use ae_core::data::Dataset;
use ae_core::rng::Streams;
use ae_core::UserError;
use ae_variants::Autoencoder;
use anyhow::Result;
use board::Board;
use candle_core::Device;
use context::{build, DataCache};
use epochs::{Diverged, Trained};
use interrupt::{Interrupted, OpenRun};
use lock::Lock;
use progress::Progress;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the command line adds to an experiment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides `train.device`.
    pub device: Option<String>,
}

/// How a run ended.
#[derive(Debug)]
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

/// A run folder open for writing, with its model on its device.
pub struct Run<'a> {
    pub exp: &'a Experiment,
    pub dir: PathBuf,
    pub device: Device,
    pub streams: Streams,
    pub data: Dataset,
    pub model: Box<dyn Autoencoder>,
    /// The schedule's and the monitor's state.
    progress: Progress,
    /// The TensorBoard stream.
    pub board: Board,
    status: Status,
    /// Epochs already done (from the checkpoint) and the seconds they took.
    start: usize,
    earlier: f64,
    t0: Instant,
    /// The resolved config, for the checkpoint's metadata.
    config: String,
    /// Until the last write of run.json: a signal marks the run interrupted.
    open: Option<OpenRun>,
    _lock: Lock,
}

impl<'a> Run<'a> {
    /// Opens `dir` for `exp`: from its checkpoint if `resume`, else from scratch (moving an
    /// earlier folder there aside, writing config.yaml with its provenance). `values` are the
    /// swept values that make this run, recorded in its provenance.
    pub fn open(
        exp: &'a Experiment,
        dir: &Path,
        values: &[(String, Value)],
        opts: &RunOptions,
        resume: bool,
        cache: &mut DataCache,
    ) -> Result<Self> {
        let dev_spec = opts
            .device
            .clone()
            .unwrap_or_else(|| exp.train.device.clone());
        let device = cache.device(&dev_spec)?;
        let threads = candle_core::utils::get_num_threads();

        let streams = Streams::new(exp.train.seed);
        let data = cache.get(&exp.data, &device, &streams, exp.train.seed)?;
        tracing::info!(
            "{} from {}: {} train, {} validation, {} test images",
            exp.data.dataset,
            data.dir.display(),
            data.train.len(),
            data.val.as_ref().map_or(0, |v| v.len()),
            data.test.len()
        );

        let lock = Lock::acquire(dir)?;
        let mut model = build(exp, &data, &device, streams)?;
        let mut progress = Progress::new(exp, model.as_mut());
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
        let resolved = exp.resolved();
        let config = yaml::write(&resolved);
        let steps = data.train.len().div_ceil(exp.train.batch_size);
        let tensorboard = exp.log.tensorboard;
        let in_sweep = !values.is_empty();
        let (start, status, board) = if resume {
            let epochs = checkpoint::load(dir, model.as_mut(), &mut progress, &device)?;
            tracing::info!("resuming {} after epoch {epochs}", dir.display());
            progress.resumed(folder::record_continuation(dir, &resolved, epochs)?);
            let mut s = Status::read(dir).unwrap_or_else(Status::started);
            s.status = "running".into();
            s.resumed.push(now());
            (
                epochs,
                s,
                Board::open(dir, tensorboard, steps, Some(epochs), in_sweep),
            )
        } else {
            if dir.exists() {
                let unreadable = checkpoint::epochs_done(dir).err();
                let aside = move_aside(dir)?;
                board::move_with(dir, Some(&aside))?;
                match unreadable {
                    Some(why) => tracing::warn!(
                        "{} cannot be read ({why}): the run is not resumed but starts again from epoch 0; the earlier folder, checkpoint included, is kept as {}",
                        dir.join(checkpoint::FILE).display(),
                        aside.display()
                    ),
                    None => tracing::info!("moved the earlier run to {}", aside.display()),
                }
            }
            board::move_with(dir, None)?;
            std::fs::create_dir_all(dir).map_err(|e| {
                UserError(format!(
                    "cannot create the run folder {}: {e}",
                    dir.display()
                ))
            })?;
            let mut resolved = resolved;
            let mut prov = provenance(&ae_core::device::describe(&device), threads);
            let swept: Map<String, Value> = values.iter().cloned().collect();
            if let Some(p) = prov.as_object_mut() {
                p.insert("sweep_values".into(), Value::Object(swept));
            }
            if let Some(m) = resolved.as_object_mut() {
                m.insert("provenance".into(), prov);
            }
            let written = yaml::write(&resolved);
            write_atomic(&dir.join("config.yaml"), written.as_bytes())?;
            let mut board = Board::open(dir, tensorboard, steps, None, in_sweep);
            board.config(&written);
            let shown: Vec<(String, String)> =
                values.iter().map(|(k, v)| (k.clone(), show(v))).collect();
            board.session(&shown);
            (0, Status::started(), board)
        };
        let earlier = status.seconds.unwrap_or(0.0);
        status.write(dir)?;
        epochs::live_report(dir);
        Ok(Self {
            exp,
            dir: dir.to_path_buf(),
            device,
            streams,
            data,
            model,
            progress,
            board,
            status,
            start,
            earlier,
            t0: Instant::now(),
            config,
            open: Some(OpenRun::register(dir)),
            _lock: lock,
        })
    }

    /// The remaining epochs, the test metrics (test.csv) and the final weights; returns the
    /// test metrics. The model keeps the weights the test used (`train.test_weights`).
    pub fn train(&mut self) -> Result<Vec<(String, f64)>> {
        let Trained { test, note } = epochs::train(
            self.exp,
            self.model.as_mut(),
            &mut self.progress,
            &mut self.board,
            &self.data,
            &self.streams,
            &self.dir,
            self.start,
            &self.config,
        )?;
        // Why a run stopped early stays in run.json beside its status.
        self.status.message = note;
        Ok(test)
    }

    /// Writes how the run ended (`result`: its metrics, or why it stopped) into run.json.
    /// A divergence and a signal are outcomes; any other error is returned.
    pub fn finish(mut self, result: Result<Vec<(String, f64)>>) -> Result<Outcome> {
        drop(self.open.take());
        self.status.ended = Some(now());
        self.status.seconds = Some(self.earlier + self.t0.elapsed().as_secs_f64());
        if let Err(e) = epochs::header_if_empty(&self.dir) {
            // How the run ended matters more: it is still recorded.
            tracing::warn!("{e:#}");
        }
        match &result {
            Ok(_) => self.board.ended(true),
            Err(e) if !e.is::<Interrupted>() => self.board.ended(false),
            Err(_) => {}
        }
        let (status, dir) = (&mut self.status, &self.dir);
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
                let epochs_done = checkpoint::epochs_done(dir).ok().flatten().unwrap_or(0);
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
}
