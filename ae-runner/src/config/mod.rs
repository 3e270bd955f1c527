//! Experiment files: YAML -> overrides -> typed, validated config -> the runs of a sweep; every
//! error names the file, the line and the key, and says what is allowed. No tensors here.

pub mod diff;
pub mod document;
pub mod locate;
pub mod schema;
pub mod sweep;

pub use document::{parse_set, Document};
pub use schema::{EvalConfig, Experiment, LogConfig, TestWeights, TrainConfig};
pub use sweep::{plan, Plan, PlannedRun};
