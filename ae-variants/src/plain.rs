//! The plain autoencoder of the seed: encoder -> code -> decoder, one reconstruction loss.

use crate::deterministic::{Deterministic, Perturbation};
use crate::{Autoencoder, BuildContext, ModelConfig, Recon, VariantConfig};
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
impl Perturbation for Clean {
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
