//! Wasserstein autoencoder, WAE-MMD (Tolstikhin et al., "Wasserstein Auto-Encoders", ICLR
//! 2018): a deterministic encoder and decoder, the reconstruction loss plus lambda x the
//! maximum mean discrepancy between the batch's codes and as many draws from the N(0, I)
//! prior. The MMD is the authors' (`wae.py`, `mmd_penalty`): the inverse multiquadric kernel
//! k(x, y) = C / (C + |x - y|^2), summed over C = 2 d_z sigma^2 x {0.1, 0.2, 0.5, 1, 2, 5, 10}
//! (sigma^2 = 1, the prior's variance), in the unbiased U-statistic form.

use crate::backbone::{BuildContext, Recon};
use crate::config::ModelConfig;
use crate::deterministic::{Deterministic, Pass, Penalty, Recipe};
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::error::ensure;
use ae_core::metrics::Metric;
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// The batch's MMD estimate between codes and prior draws (a U-statistic: it can be < 0).
pub const MMD: Metric = Metric::lower("mmd", None);

/// The scales of the kernel's C, as the authors' code sums them.
const SCALES: [f64; 7] = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WaeConfig {
    pub loss: Recon,
    /// lambda, the MMD's weight in the loss. The authors' MNIST runs use 10 on a
    /// reconstruction cost of 0.05 x the per-image squared error, which is 0.05 x 784 = 39.2
    /// times the per-pixel MSE of `loss: mse`: 10 / 39.2 = 0.255 here.
    pub mmd_weight: f64,
}

impl Default for WaeConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            mmd_weight: 0.25,
        }
    }
}

/// |a_i - b_j|^2 for every pair of rows, [n, m].
fn sq_distances(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (na, nb) = (
        a.sqr()?.sum_keepdim(D::Minus1)?,
        b.sqr()?.sum_keepdim(D::Minus1)?,
    );
    let ab = a.matmul(&b.t()?)?;
    Ok(na.broadcast_add(&nb.t()?)?.broadcast_sub(&(ab * 2.0)?)?)
}

/// sum over the scales of C / (C + d) for each element of `d`.
fn imq(d: &Tensor, c_base: f64) -> Result<Tensor> {
    let mut sum = d.zeros_like()?;
    for s in SCALES {
        let c = c_base * s;
        sum = (sum + (d + c)?.recip()?.affine(c, 0.0)?)?;
    }
    Ok(sum)
}

/// The unbiased MMD^2 estimate between the rows of `q` (codes) and `p` (prior draws), both
/// [n, d_z], n >= 2: the within-sample kernel sums without their diagonals over n (n - 1),
/// minus twice the cross sum over n^2.
pub fn mmd_imq(q: &Tensor, p: &Tensor) -> Result<Tensor> {
    let (n, dz) = q.dims2()?;
    let c_base = 2.0 * dz as f64;
    // k(x, x) = 1 at every scale: each diagonal adds SCALES.len() x n.
    let diag = (SCALES.len() * n) as f64;
    let within = (imq(&sq_distances(q, q)?, c_base)?.sum_all()?
        + imq(&sq_distances(p, p)?, c_base)?.sum_all()?)?;
    let within = within.affine(
        1.0 / (n * (n - 1)) as f64,
        -2.0 * diag / (n * (n - 1)) as f64,
    )?;
    let cross = imq(&sq_distances(q, p)?, c_base)?.sum_all()?;
    Ok((within - cross.affine(2.0 / (n * n) as f64, 0.0)?)?)
}

impl Recipe for WaeConfig {
    /// The MMD of the batch's codes against fresh prior draws: a scalar for the batch, so it
    /// is logged in training and not among the per-image evaluation metrics.
    fn penalties(&self, pass: &Pass, rng: &mut Rng) -> Result<Vec<Penalty>> {
        let z = pass.code;
        if z.dim(0)? < 2 {
            return Ok(Vec::new());
        }
        let prior = rng.normal(z.shape(), z.device())?.to_dtype(z.dtype())?;
        Ok(vec![Penalty {
            metric: MMD,
            weight: self.mmd_weight,
            value: mmd_imq(z, &prior)?,
        }])
    }

    /// Normals only (the prior draws).
    fn draws_one_kind(&self) -> bool {
        true
    }

    /// Decoded prior draws are the WAE's samples.
    fn samples_the_prior(&self) -> bool {
        true
    }
}

impl VariantConfig for WaeConfig {
    fn validate(&self, _model: &ModelConfig) -> Result<(), ConfigError> {
        let w = self.mmd_weight;
        ensure(w >= 0.0 && w.is_finite(), "model.mmd_weight", || {
            format!("{w} is not allowed: must be >= 0")
        })
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Deterministic::build(model, ctx, self.loss, self.clone())
    }
}

#[cfg(test)]
mod tests {
    //! The estimator against the same sums written out in f64 loops.
    use super::*;
    use candle_core::Device;

    fn hand_mmd(q: &[Vec<f64>], p: &[Vec<f64>]) -> f64 {
        let (n, dz) = (q.len(), q[0].len());
        let k = |a: &[f64], b: &[f64]| {
            let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
            SCALES
                .iter()
                .map(|s| {
                    let c = 2.0 * dz as f64 * s;
                    c / (c + d)
                })
                .sum::<f64>()
        };
        let (mut qq, mut pp, mut qp) = (0.0, 0.0, 0.0);
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    qq += k(&q[i], &q[j]);
                    pp += k(&p[i], &p[j]);
                }
                qp += k(&q[i], &p[j]);
            }
        }
        let n = n as f64;
        (qq + pp) / (n * (n - 1.0)) - 2.0 * qp / (n * n)
    }

    #[test]
    fn mmd_matches_the_sums_by_hand() -> Result<()> {
        let dev = Device::Cpu;
        let q: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                (0..3)
                    .map(|j| ((i * 3 + j) as f64 * 0.7).sin() * 2.0)
                    .collect()
            })
            .collect();
        let p: Vec<Vec<f64>> = (0..5)
            .map(|i| (0..3).map(|j| ((i * 5 + j) as f64 * 1.3).cos()).collect())
            .collect();
        let t = |v: &[Vec<f64>]| Tensor::new(v.to_vec(), &dev);
        let got = mmd_imq(&t(&q)?, &t(&p)?)?.to_scalar::<f64>()?;
        let want = hand_mmd(&q, &p);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert!(want.abs() > 0.1, "a test that can tell: {want}");
        // Two samples of N(0, I) against each other, and one shifted by 1 in every
        // coordinate: about 0, and well above.
        let mut rng = ae_core::rng::Streams::new(2).stream(ae_core::rng::Purpose::Sample, 0);
        let a = rng
            .normal((400, 8), &dev)?
            .to_dtype(candle_core::DType::F64)?;
        let b = rng
            .normal((400, 8), &dev)?
            .to_dtype(candle_core::DType::F64)?;
        let near = mmd_imq(&a, &b)?.to_scalar::<f64>()?;
        let far = mmd_imq(&(&a + 1.0)?, &b)?.to_scalar::<f64>()?;
        assert!(near.abs() < 0.02 && far > 0.3, "same {near}, shifted {far}");
        Ok(())
    }
}
