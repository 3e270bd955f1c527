//! Denoising autoencoder: reconstructs the clean image from a corrupted one, the corruption
//! drawn on the device for every batch.

use crate::backbone::{BuildContext, Recon};
use crate::config::ModelConfig;
use crate::deterministic::{Deterministic, Recipe};
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::error::ensure;
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    /// x + level * N(0, 1), clamped to [0, 1].
    Gaussian,
    /// Each pixel set to 0 with probability level.
    Masking,
    /// Each pixel set to 0 or 1 (even odds) with probability level.
    SaltAndPepper,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenoisingConfig {
    pub loss: Recon,
    pub noise: Noise,
    /// The gaussian std, or the probability of masking / salt-and-pepper.
    pub noise_level: f32,
}

impl Default for DenoisingConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            noise: Noise::Gaussian,
            noise_level: 0.3,
        }
    }
}

impl DenoisingConfig {
    pub fn corrupt(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let (dev, p) = (x.device(), self.noise_level);
        Ok(match self.noise {
            Noise::Gaussian => unit_clamp(&(x + (rng.normal(x.shape(), dev)? * p as f64)?)?)?,
            Noise::Masking => (x * rng.bernoulli(x.shape(), 1.0 - p, dev)?)?,
            Noise::SaltAndPepper => {
                let hit = rng.bernoulli(x.shape(), p, dev)?;
                let salt = rng.bernoulli(x.shape(), 0.5, dev)?;
                ((x * (1.0 - &hit)?)? + (hit * salt)?)?
            }
        })
    }
}

/// `t.clamp(0, 1)`, the same values for |t| < 2^24, without the two scalars `clamp` uploads
/// to a GPU: r = relu(t), then r - relu(r - 1) (r - 1 is exact where it is positive).
fn unit_clamp(t: &Tensor) -> Result<Tensor> {
    let r = t.relu()?;
    Ok((&r - r.affine(1.0, -1.0)?.relu()?)?)
}

impl Recipe for DenoisingConfig {
    fn train_input(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        self.corrupt(x, rng)
    }

    fn eval_corruption(&self, x: &Tensor, rng: &mut Rng) -> Result<Option<Tensor>> {
        Ok(Some(self.corrupt(x, rng)?))
    }

    /// Normals (gaussian), or Bernoulli masks (masking, salt and pepper).
    fn draws_one_kind(&self) -> bool {
        true
    }
}

impl VariantConfig for DenoisingConfig {
    fn validate(&self, _model: &ModelConfig) -> Result<(), ConfigError> {
        let p = self.noise_level;
        match self.noise {
            Noise::Gaussian => ensure(p >= 0.0 && p.is_finite(), "model.noise_level", || {
                format!("{p} is not allowed: a gaussian std must be >= 0")
            }),
            _ => ensure((0.0..=1.0).contains(&p), "model.noise_level", || {
                format!("{p} is not allowed: a probability must be in [0, 1]")
            }),
        }
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Deterministic::build(model, ctx, self.loss, self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ae_core::rng::{Purpose, Streams};
    use candle_core::Device;

    #[test]
    fn corruptions_have_the_expected_statistics() -> Result<()> {
        let x = (Tensor::ones((100, 100), candle_core::DType::F32, &Device::Cpu)? * 0.5)?;
        let mut rng = Streams::new(0).stream(Purpose::Train, 0);
        let mean = |t: Tensor| -> Result<f32> { Ok(t.mean_all()?.to_scalar::<f32>()?) };
        let masking = DenoisingConfig {
            noise: Noise::Masking,
            noise_level: 0.3,
            ..Default::default()
        };
        assert!((mean(masking.corrupt(&x, &mut rng)?)? - 0.35).abs() < 0.01);
        let sp = DenoisingConfig {
            noise: Noise::SaltAndPepper,
            noise_level: 0.4,
            ..Default::default()
        };
        // 60% stay 0.5, 20% become 1, 20% become 0: mean 0.5, and 40% of pixels moved.
        let c = sp.corrupt(&x, &mut rng)?;
        assert!((mean(c.clone())? - 0.5).abs() < 0.01);
        assert!((mean(c.ne(0.5f32)?.to_dtype(candle_core::DType::F32)?)? - 0.4).abs() < 0.02);
        let g = DenoisingConfig {
            noise: Noise::Gaussian,
            noise_level: 0.1,
            ..Default::default()
        };
        let d = (g.corrupt(&x, &mut rng)? - &x)?;
        let std = d.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>()?;
        assert!((std - 0.1).abs() < 0.005, "{std}");
        Ok(())
    }

    #[test]
    fn unit_clamp_is_clamp() -> Result<()> {
        let mut v: Vec<f32> = vec![-3.0, -1e-30, 0.0, 1e-10, 0.25, 0.5, 0.7, 1.0 - 1e-7, 1.0];
        v.extend([1.0 + 1e-7, 1.5, 2.0, 3.3, 1e6, 16_777_215.0]);
        let noise = Streams::new(2)
            .stream(Purpose::Train, 0)
            .normal(10_000, &Device::Cpu)?;
        let t = Tensor::cat(
            &[Tensor::new(v.as_slice(), &Device::Cpu)?, (noise * 2.0)?],
            0,
        )?;
        assert_eq!(
            unit_clamp(&t)?.to_vec1::<f32>()?,
            t.clamp(0f32, 1f32)?.to_vec1::<f32>()?
        );
        Ok(())
    }
}
