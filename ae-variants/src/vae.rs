//! Variational autoencoder: a Gaussian encoder with separate mean and log-variance heads (no
//! ReLU on either, unlike the seed), the reparameterisation trick, and
//! loss = reconstruction NLL + kl_weight * KL, in nats per image.

use crate::backbone::{recon_metrics, Backbone, BuildContext};
use crate::config::ModelConfig;
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::activation::Activation;
use ae_core::data::Split;
use ae_core::error::ensure;
use ae_core::eval::iwae::{log_normal, log_std_normal};
use ae_core::losses::{bce_with_logits, gaussian_kl, gaussian_nll};
use ae_core::metrics::{Metric, Named, LOSS, NONNEGATIVE};
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::Module;

/// The negative ELBO with beta = 1, nats per image (whatever weight training used).
pub const NEG_ELBO: Metric = Metric::lower("neg_elbo", None);
/// -log p(x|z) of one posterior draw (distortion), nats per image.
pub const NLL: Metric = Metric::lower("nll", None);
/// KL(q(z|x) || p(z)) (rate), nats per image.
pub const KL: Metric = Metric::lower("kl", NONNEGATIVE);
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Likelihood {
    /// p(x|z) = Bernoulli(sigmoid(logits)).
    Bernoulli,
    /// p(x|z) = N(sigmoid(logits), sigma^2 I), sigma fixed.
    Gaussian,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaeConfig {
    /// beta: the weight of the KL term in the training loss (the reported ELBO uses 1).
    pub kl_weight: f64,
    /// Epochs over which the KL weight rises linearly to kl_weight: epoch e (from 0) uses
    /// kl_weight * min(1, (e + 1) / (warmup_epochs + 1)).
    pub warmup_epochs: usize,
    pub likelihood: Likelihood,
    /// The fixed sigma of the gaussian likelihood.
    pub sigma: f64,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self {
            kl_weight: 1.0,
            warmup_epochs: 0,
            likelihood: Likelihood::Bernoulli,
            sigma: 0.1,
        }
    }
}

impl VariantConfig for VaeConfig {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        ensure(
            model.code_activation == Activation::None,
            "model.code_activation",
            || {
                "must be `none` for a VAE: its mean and log-variance heads are linear (a ReLU would force mu, sigma >= 0)".into()
            },
        )?;
        ensure(
            self.kl_weight >= 0.0 && self.kl_weight.is_finite(),
            "model.kl_weight",
            || format!("{} is not allowed: must be >= 0", self.kl_weight),
        )?;
        ensure(self.sigma > 0.0, "model.sigma", || {
            format!("{} is not allowed: must be > 0", self.sigma)
        })
    }

    /// The encoder's last layer has 2 x latent_dim outputs: rows [0, d) are the mean head,
    /// rows [d, 2d) the log-variance head (two linear heads on the last hidden layer).
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        let (net, ()) = Backbone::new(model, ctx, 2 * model.latent_dim, |_| Ok(()))?;
        let net = net.with_optimizer("vae", &["enc.", "dec."], ctx.optimizer.clone())?;
        Ok(Box::new(Vae {
            net,
            cfg: self.clone(),
            beta: self.kl_weight,
            latent: model.latent_dim,
        }))
    }
}

pub struct Vae {
    net: Backbone,
    cfg: VaeConfig,
    /// The KL weight of the current epoch (after warm-up).
    beta: f64,
    latent: usize,
}

impl Vae {
    fn posterior(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.net.encoder.forward(x)?;
        Ok((
            h.narrow(1, 0, self.latent)?,
            h.narrow(1, self.latent, self.latent)?,
        ))
    }

    /// -log p(x|z) per image.
    fn nll(&self, logits: &Tensor, x: &Tensor) -> Result<Tensor> {
        Ok(match self.cfg.likelihood {
            Likelihood::Bernoulli => bce_with_logits(logits, x)?,
            Likelihood::Gaussian => {
                gaussian_nll(&candle_nn::ops::sigmoid(logits)?, x, self.cfg.sigma)?
            }
        })
    }

    /// (NLL, KL) per image with one reparameterised draw z = mu + sigma * eps from the
    /// posterior (mu, logvar) of `x`.
    fn terms(
        &self,
        x: &Tensor,
        (mu, logvar): &(Tensor, Tensor),
        rng: &mut Rng,
    ) -> Result<(Tensor, Tensor)> {
        let eps = rng.normal(mu.shape(), mu.device())?;
        let z = (mu + ((logvar * 0.5)?.exp()? * eps)?)?;
        Ok((
            self.nll(&self.net.decoder.forward(&z)?, x)?,
            gaussian_kl(mu, logvar)?,
        ))
    }
}

impl Autoencoder for Vae {
    fn backbone(&self) -> &Backbone {
        &self.net
    }

    fn backbone_mut(&mut self) -> &mut Backbone {
        &mut self.net
    }

    fn start_epoch(&mut self, epoch: usize) {
        let ramp = ((epoch + 1) as f64 / (self.cfg.warmup_epochs + 1) as f64).min(1.0);
        self.beta = self.cfg.kl_weight * ramp;
    }

    fn train_step(&mut self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let (nll, kl) = self.terms(x, &self.posterior(x)?, rng)?;
        let (nll, kl) = (nll.mean_all()?, kl.mean_all()?);
        let loss = (&nll + (&kl * self.beta)?)?;
        self.net.step("vae", &loss)?;
        Ok(vec![
            (LOSS, loss.detach()),
            (NLL, nll.detach()),
            (KL, kl.detach()),
        ])
    }

    /// Reconstruction metrics decode z = mu; `neg_elbo` (beta = 1), its `nll` (distortion)
    /// and `kl` (rate) use a sampled z.
    fn evaluate(&self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let posterior = self.posterior(x)?;
        let mut m = recon_metrics(&self.decode(&posterior.0)?, x)?;
        let (nll, kl) = self.terms(x, &posterior, rng)?;
        m.push((NEG_ELBO, (&nll + &kl)?));
        m.push((NLL, nll));
        m.push((KL, kl));
        Ok(m)
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.posterior(x)?.0)
    }

    fn log_weights(&self, x: &Tensor, k: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let (n, dim) = x.dims2()?;
        let (mu, logvar) = self.posterior(x)?;
        let (mu, logvar) = (mu.unsqueeze(1)?, logvar.unsqueeze(1)?);
        let eps = rng.normal((n, k, self.latent), x.device())?;
        let z = eps
            .broadcast_mul(&(&logvar * 0.5)?.exp()?)?
            .broadcast_add(&mu)?;
        let logits = self
            .decode(&z.reshape((n * k, self.latent))?)?
            .reshape((n, k, dim))?;
        let log_px_z = self
            .nll(&logits, &x.unsqueeze(1)?.broadcast_as((n, k, dim))?)?
            .neg()?;
        let log_q = log_normal(&z, &mu, &logvar)?;
        Ok(Some(((log_px_z + log_std_normal(&z)?)? - log_q)?))
    }

    fn sample(&self, n: usize, _: Option<&Tensor>, rng: &mut Rng) -> Result<Option<Tensor>> {
        let z = rng.normal((n, self.latent), &self.net.device())?;
        Ok(Some(candle_nn::ops::sigmoid(&self.decode(&z)?)?))
    }

    /// Normals only (reparameterisation).
    fn draws_one_kind(&self) -> bool {
        true
    }
}
