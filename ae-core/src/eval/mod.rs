//! The evaluation metrics papers report for autoencoders: AUROC for anomaly detection with
//! reconstruction scores, SSIM for reconstructions, and k-nearest-neighbour and linear-probe
//! accuracy for how much of the labels' information the codes keep. Each is checked against an
//! independent computation (a naive loop, pair counting or scikit-learn) in its tests.

pub mod auroc;
pub mod knn;
pub mod probe;
pub mod ssim;

pub use auroc::auroc;
pub use knn::knn_accuracy;
pub use probe::{linear_probe, Probe, ProbeConfig};
pub use ssim::ssim_per_image;
