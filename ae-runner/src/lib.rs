//! The runner as a library: config loading, the training loop, the files a run writes. The
//! binary in main.rs is a thin command line over it.

pub mod checkpoint;
pub mod config;
pub mod eval;
pub mod interrupt;
pub mod locate;
pub mod outputs;
pub mod parity;
pub mod pictures;
pub mod plot;
pub mod report;
pub mod slurm;
pub mod summary;
pub mod sweep;
pub mod train;
