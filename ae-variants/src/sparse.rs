//! Sparse autoencoder, the seed's "regularized autoencoder": the reconstruction loss plus a
//! sparsity penalty on the code, either `l1` (weight x sum_j |z_j| per image) or `kl` (weight x
//! sum_j KL(rho || rho_hat_j), rho_hat_j the batch's mean activation of code unit j, on a
//! sigmoid code; Ng, "Sparse autoencoder", CS294A notes, 2011).

use crate::backbone::{BuildContext, Recon};
use crate::config::ModelConfig;
use crate::deterministic::{Deterministic, Pass, Penalty, Recipe};
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::activation::Activation;
use ae_core::error::ensure;
use ae_core::metrics::{Metric, NONNEGATIVE};
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Sum of |z_j| over the code, per image.
pub const L1: Metric = Metric::lower("l1", NONNEGATIVE);
/// Sum over code units of KL(rho || the batch's mean activation).
pub const KL_SPARSITY: Metric = Metric::lower("kl_sparsity", NONNEGATIVE);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sparsity {
    L1,
    Kl,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SparseConfig {
    pub loss: Recon,
    pub sparsity: Sparsity,
    /// The penalty's weight in the loss.
    pub sparsity_weight: f64,
    /// rho, the target mean activation of each code unit (`kl`).
    pub target: f64,
}

impl Default for SparseConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            sparsity: Sparsity::L1,
            sparsity_weight: 1e-3,
            target: 0.05,
        }
    }
}

/// sum_j |z_j| of each row.
pub fn l1_per_image(z: &Tensor) -> Result<Tensor> {
    Ok(z.abs()?.sum(1)?)
}

/// sum_j KL(rho || rho_hat_j) with rho_hat_j the mean of column j of `z` (activations in (0, 1));
/// rho_hat is kept 1e-6 away from 0 and 1, where the divergence is infinite.
pub fn kl_sparsity(z: &Tensor, rho: f64) -> Result<Tensor> {
    let q = z.mean(0)?.clamp(1e-6, 1.0 - 1e-6)?;
    let one_minus = q.affine(-1.0, 1.0)?;
    let a = (q.log()?.affine(-rho, rho * rho.ln()))?;
    let b = (one_minus
        .log()?
        .affine(-(1.0 - rho), (1.0 - rho) * (1.0 - rho).ln()))?;
    Ok((a + b)?.sum_all()?)
}

impl Recipe for SparseConfig {
    fn penalties(&self, pass: &Pass, _rng: &mut Rng) -> Result<Vec<Penalty>> {
        let (metric, value) = match self.sparsity {
            Sparsity::L1 => (L1, l1_per_image(pass.code)?),
            Sparsity::Kl => (KL_SPARSITY, kl_sparsity(pass.code, self.target)?),
        };
        Ok(vec![Penalty {
            metric,
            weight: self.sparsity_weight,
            value,
        }])
    }

    /// It draws nothing.
    fn draws_one_kind(&self) -> bool {
        true
    }
}

impl VariantConfig for SparseConfig {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        let w = self.sparsity_weight;
        ensure(w >= 0.0 && w.is_finite(), "model.sparsity_weight", || {
            format!("{w} is not allowed: must be >= 0")
        })?;
        if self.sparsity == Sparsity::Kl {
            ensure(
                model.code_activation == Activation::Sigmoid,
                "model.code_activation",
                || {
                    format!(
                        "`{:?}` is not allowed with `sparsity: kl`: the code must be `sigmoid`, activations in (0, 1) that a target rate applies to",
                        model.code_activation
                    )
                    .to_lowercase()
                },
            )?;
            ensure(
                self.target > 0.0 && self.target < 1.0,
                "model.target",
                || format!("{} is not allowed: a rate in (0, 1)", self.target),
            )?;
        }
        Ok(())
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Deterministic::build(model, ctx, self.loss, self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn penalties_by_hand() -> Result<()> {
        let z = Tensor::new(&[[0.5f64, -1.0], [2.0, 0.0]], &Device::Cpu)?;
        assert_eq!(l1_per_image(&z)?.to_vec1::<f64>()?, vec![1.5, 2.0]);
        // Column means 0.2 and 0.3, rho 0.05:
        // KL(0.05 || 0.2) = 0.05 ln(0.05 / 0.2) + 0.95 ln(0.95 / 0.8) = 0.0939428...
        // KL(0.05 || 0.3) = 0.05 ln(0.05 / 0.3) + 0.95 ln(0.95 / 0.7) = 0.2005249...
        let z = Tensor::new(&[[0.1f64, 0.2], [0.3, 0.4]], &Device::Cpu)?;
        let kl = kl_sparsity(&z, 0.05)?.to_scalar::<f64>()?;
        let want = 0.05 * (0.25f64).ln()
            + 0.95 * (0.95f64 / 0.8).ln()
            + 0.05 * (0.05f64 / 0.3).ln()
            + 0.95 * (0.95f64 / 0.7).ln();
        assert!((kl - want).abs() < 1e-12, "{kl} vs {want}");
        assert!((kl - 0.294_467_7).abs() < 1e-6, "{kl}");
        // At the target rate the divergence is 0.
        let at = Tensor::new(&[[0.05f64], [0.05]], &Device::Cpu)?;
        assert!(kl_sparsity(&at, 0.05)?.to_scalar::<f64>()?.abs() < 1e-12);
        Ok(())
    }
}
