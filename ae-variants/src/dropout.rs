//! Dropout autoencoder: dropout on the input (and optionally the hidden layers) in training
//! only; evaluation sees the whole network. "A little dropout works best."

use crate::backbone::{BuildContext, Recon};
use crate::config::ModelConfig;
use crate::deterministic::{Deterministic, Recipe};
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::error::ensure;
use ae_core::layers::dropout;
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropoutConfig {
    pub loss: Recon,
    /// Probability of zeroing each input pixel, in [0, 1).
    pub dropout: f32,
    /// Probability of zeroing each hidden activation, in [0, 1).
    pub hidden_dropout: f32,
}

impl Default for DropoutConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            dropout: 0.1,
            hidden_dropout: 0.0,
        }
    }
}

impl Recipe for DropoutConfig {
    fn train_input(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        Ok(dropout(x, self.dropout, rng)?)
    }

    fn hidden_dropout(&self) -> f32 {
        self.hidden_dropout
    }

    /// Bernoulli masks only (input and hidden).
    fn draws_one_kind(&self) -> bool {
        true
    }
}

impl VariantConfig for DropoutConfig {
    fn validate(&self, _model: &ModelConfig) -> Result<(), ConfigError> {
        for (key, p) in [
            ("model.dropout", self.dropout),
            ("model.hidden_dropout", self.hidden_dropout),
        ] {
            ensure((0.0..1.0).contains(&p), key, || {
                format!("{p} is not allowed: a dropout rate must be in [0, 1)")
            })?;
        }
        Ok(())
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Deterministic::build(model, ctx, self.loss, self.clone())
    }
}
