//! What a run folder and an experiment folder hold, and the tables, plots and report made
//! from them. Nothing here trains or knows a tensor: it reads and writes files, so it sits
//! below every other layer (the config layer names run folders with [`naming`]).

pub mod bounds;
pub mod evaluations;
pub mod files;
pub mod naming;
pub mod plot;
pub mod provenance;
pub mod records;
pub mod report;
pub mod stats;
pub mod status;
pub mod summary;
pub mod tensorboard;
pub mod yaml;
