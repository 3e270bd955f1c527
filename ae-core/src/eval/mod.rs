//! Evaluation metrics that papers report.

pub mod iwae;
pub mod pca;
