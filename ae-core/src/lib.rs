//! What every aelab autoencoder is built from: layers, losses, data, metrics, the optimisers and
//! their learning-rate schedules, seeded random streams and image grids. Nothing here knows about
//! variants or YAML files.

pub mod activation;
pub mod conv;
mod cpu;
pub mod data;
pub mod dense;
pub mod device;
pub mod error;
pub mod eval;
pub mod fastmath;
pub mod grad;
pub mod image;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod optim;
pub mod rng;
pub mod schedule;
pub mod stopping;

pub use error::{ConfigError, UserError};
