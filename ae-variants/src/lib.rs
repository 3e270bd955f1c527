//! The models behind one trait. The runner sees [`Autoencoder`] and [`registry::read`]; a new
//! model is one file here and one line in [`registry::VARIANTS`]. Inside the crate, modules use
//! each other by their own paths (seam, backbone, config), never through these re-exports.

pub mod adversarial;
pub mod backbone;
pub mod config;
pub mod contractive;
pub mod cvae;
pub mod denoising;
pub mod deterministic;
pub mod dropout;
pub mod plain;
pub mod rae;
pub mod registry;
pub mod seam;
pub mod sparse;
pub mod state;
pub mod vae;
pub mod vocabulary;
pub mod vqvae;
pub mod wae;

pub use backbone::{Backbone, BuildContext, Net, Recon};
pub use config::{Arch, ModelConfig, COMMON_KEYS};
pub use registry::VARIANTS;
pub use seam::{Autoencoder, Spec, VariantConfig};
pub use state::{checkpoint_state, load_weights, restore_state};
