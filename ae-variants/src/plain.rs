//! The plain autoencoder of the seed: encoder -> code -> decoder, one reconstruction loss.

use crate::backbone::{BuildContext, Recon};
use crate::config::ModelConfig;
use crate::deterministic::{Deterministic, Recipe};
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::ConfigError;
use anyhow::Result;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlainConfig {
    /// `mse` (the seed's) or `bce`.
    pub loss: Recon,
}

/// Nothing perturbed.
struct Clean;
impl Recipe for Clean {
    /// It draws nothing.
    fn draws_one_kind(&self) -> bool {
        true
    }
}

impl VariantConfig for PlainConfig {
    fn validate(&self, _model: &ModelConfig) -> Result<(), ConfigError> {
        Ok(())
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Deterministic::build(model, ctx, self.loss, Clean)
    }
}
