//! Regularised autoencoder, RAE-L2 (Ghosh et al., "From Variational to Deterministic
//! Autoencoders", ICLR 2020): the VAE's noise replaced by explicit regularisers, a
//! deterministic encoder and decoder trained on the reconstruction loss plus beta x ||z||^2 / 2
//! per image (a compact code space, so that a density fitted to the codes afterwards samples
//! well) plus lambda x the squared L2 norm of the decoder's parameters (a smooth decoder).

use crate::backbone::{BuildContext, Recon};
use crate::config::ModelConfig;
use crate::deterministic::{Deterministic, Pass, Penalty, Recipe};
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::error::ensure;
use ae_core::metrics::{Metric, NONNEGATIVE};
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// ||z||^2 / 2 of each image's code.
pub const CODE_NORM: Metric = Metric::lower("code_norm", NONNEGATIVE);
/// The sum of the squares of every decoder parameter (weights and biases).
pub const DECODER_NORM: Metric = Metric::lower("decoder_norm", NONNEGATIVE);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaeConfig {
    pub loss: Recon,
    /// beta, the weight of ||z||^2 / 2 per image.
    pub code_weight: f64,
    /// lambda, the weight of the decoder's squared parameter norm.
    pub decoder_weight: f64,
}

/// Pythae's RAE_L2 defaults (embedding_weight 1e-4, reg_weight 1e-7) are weights on the
/// per-image squared error; `loss: mse` is that error over 784 pixels, so they are divided by
/// 784 (and rounded). Pythae's reg_weight is Adam's weight decay, the gradient of
/// reg_weight / 2 x ||theta||^2: the weight of this term is half of it.
impl Default for RaeConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            code_weight: 1.28e-7,
            decoder_weight: 6.4e-11,
        }
    }
}

/// ||z||^2 / 2 of each row of `z`.
pub fn code_norm(z: &Tensor) -> Result<Tensor> {
    Ok((z.sqr()?.sum(1)? * 0.5)?)
}

impl Recipe for RaeConfig {
    fn penalties(&self, pass: &Pass, _rng: &mut Rng) -> Result<Vec<Penalty>> {
        let mut decoder = Tensor::zeros((), pass.code.dtype(), pass.code.device())?;
        for (_, v) in pass.net.vars(&["dec."]) {
            decoder = (decoder + v.as_tensor().sqr()?.sum_all()?)?;
        }
        Ok(vec![
            Penalty {
                metric: CODE_NORM,
                weight: self.code_weight,
                value: code_norm(pass.code)?,
            },
            Penalty {
                metric: DECODER_NORM,
                weight: self.decoder_weight,
                value: decoder,
            },
        ])
    }

    /// It draws nothing.
    fn draws_one_kind(&self) -> bool {
        true
    }
}

impl VariantConfig for RaeConfig {
    fn validate(&self, _model: &ModelConfig) -> Result<(), ConfigError> {
        for (key, w) in [
            ("model.code_weight", self.code_weight),
            ("model.decoder_weight", self.decoder_weight),
        ] {
            ensure(w >= 0.0 && w.is_finite(), key, || {
                format!("{w} is not allowed: must be >= 0")
            })?;
        }
        Ok(())
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Deterministic::build(model, ctx, self.loss, self.clone())
    }
}
