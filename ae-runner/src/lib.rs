//! The runner as a library, in layers; each module uses only those listed before it:
//!
//! - [`results`]: the files of run and experiment folders, tables, plots, the report (no
//!   tensors; below everything, so that reading results never needs a model);
//! - [`config`]: experiment files, overrides, sweeps, errors with file, line and key;
//! - [`run`]: one run (data, model, epochs, checkpoints, signals, test metrics, run.json);
//! - [`eval`]: the evaluation after training and the pictures;
//! - [`experiment`]: executing a plan (a process, `--jobs`, `--shard`, Slurm, parity,
//!   re-evaluation).
//!
//! The binary in main.rs is a thin command line over [`experiment`] and [`results`].

pub mod config;
pub mod eval;
pub mod experiment;
pub mod results;
pub mod run;
