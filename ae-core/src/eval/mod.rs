//! The evaluation metrics papers report for autoencoders: the importance-weighted bound on
//! log p(x) (IWAE), AUROC for anomaly detection with reconstruction scores, SSIM for
//! reconstructions, k-nearest-neighbour and linear-probe accuracy for how much of the labels'
//! information the codes keep, PCA to draw codes, and a Gaussian mixture fitted to codes to
//! sample deterministic models. Each is checked against an independent
//! computation (an exact likelihood, a naive loop, pair counting or scikit-learn) in its tests.

pub mod auroc;
pub mod classifier;
pub mod frechet;
pub mod gmm;
pub mod iwae;
pub mod knn;
pub mod pca;
pub mod probe;
pub mod ssim;

pub use auroc::auroc;
pub use knn::knn_accuracy;
pub use probe::{linear_probe, Probe, ProbeConfig};
pub use ssim::ssim_per_image;
