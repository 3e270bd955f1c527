//! Adversarial autoencoder (Makhzani et al. 2015): each batch a reconstruction phase (encoder
//! and decoder), a discriminator phase (prior draws against codes) and a generator phase (the
//! encoder fools the discriminator), each with its own optimiser.

use crate::backbone::{recon_metrics, Backbone, BuildContext, Recon};
use crate::config::ModelConfig;
use crate::deterministic::RECON;
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::activation::Activation;
use ae_core::data::Split;
use ae_core::error::{at_least_one, ensure};
use ae_core::layers::Mlp;
use ae_core::losses::{discriminator_loss, generator_loss};
use ae_core::metrics::{logit_accuracy, Metric, Named, NONNEGATIVE, UNIT};
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::{Device, Tensor};
use candle_nn::Module;

/// The discriminator's loss (prior draws against codes) and the encoder's adversarial loss.
pub const DISC: Metric = Metric::lower("disc", NONNEGATIVE);
pub const GEN: Metric = Metric::lower("gen", NONNEGATIVE);
/// Per image, the mean of the discriminator's hit on one prior draw and on the image's code.
pub const DISC_ACC: Metric = Metric::higher("disc_acc", UNIT);
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prior {
    /// N(0, I).
    Gaussian,
    /// `prior_components` gaussians of std `prior_std`, means on a ring of radius
    /// `prior_radius` in the first two latent dimensions, zero elsewhere.
    Mixture,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialConfig {
    pub loss: Recon,
    pub prior: Prior,
    pub prior_components: usize,
    pub prior_radius: f32,
    pub prior_std: f32,
    /// Hidden widths of the discriminator (an MLP on the code, leaky ReLU).
    pub disc_hidden: Vec<usize>,
    /// Weight of the generator loss.
    pub adv_weight: f64,
    /// Learning rates of the discriminator and generator phases (default: train.optimizer.lr).
    pub disc_lr: Option<f64>,
    pub gen_lr: Option<f64>,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            prior: Prior::Gaussian,
            prior_components: 10,
            prior_radius: 4.0,
            prior_std: 0.5,
            disc_hidden: vec![64, 64],
            adv_weight: 1.0,
            disc_lr: None,
            gen_lr: None,
        }
    }
}

impl AdversarialConfig {
    /// `n` draws from the prior.
    pub fn prior_sample(
        &self,
        n: usize,
        dim: usize,
        rng: &mut Rng,
        dev: &Device,
    ) -> Result<Tensor> {
        let eps = rng.normal((n, dim), dev)?;
        Ok(match self.prior {
            Prior::Gaussian => eps,
            Prior::Mixture => {
                let k = self.prior_components;
                let mut means = vec![0f32; n * dim];
                for row in 0..n {
                    let angle = 2.0 * std::f32::consts::PI * rng.index(k) as f32 / k as f32;
                    means[row * dim] = self.prior_radius * angle.cos();
                    if dim > 1 {
                        means[row * dim + 1] = self.prior_radius * angle.sin();
                    }
                }
                ((eps * self.prior_std as f64)? + Tensor::from_vec(means, (n, dim), dev)?)?
            }
        })
    }
}

impl VariantConfig for AdversarialConfig {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        ensure(
            model.code_activation == Activation::None,
            "model.code_activation",
            || {
                "must be `none` for the adversarial variant: codes must be able to match a prior on all of R^d".into()
            },
        )?;
        at_least_one(self.prior_components, "model.prior_components")?;
        ensure(self.prior_std > 0.0, "model.prior_std", || {
            format!("{} is not allowed: must be > 0", self.prior_std)
        })?;
        ensure(self.adv_weight >= 0.0, "model.adv_weight", || {
            format!("{} is not allowed: must be >= 0", self.adv_weight)
        })?;
        ensure(
            self.disc_hidden.iter().all(|&h| h > 0),
            "model.disc_hidden",
            || "every width must be at least 1".into(),
        )?;
        for (key, lr) in [
            ("model.disc_lr", self.disc_lr),
            ("model.gen_lr", self.gen_lr),
        ] {
            if let Some(lr) = lr {
                ensure(lr > 0.0, key, || {
                    format!("{lr} is not allowed: must be > 0")
                })?;
            }
        }
        Ok(())
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        let mut dims = vec![model.latent_dim];
        dims.extend(&self.disc_hidden);
        dims.push(1);
        let (net, disc) = Backbone::new(model, ctx, model.latent_dim, |vb| {
            Mlp::new(
                vb.pp("disc"),
                &dims,
                Activation::LeakyRelu,
                Activation::None,
            )
        })?;
        let net = net
            .with_optimizer("ae", &["enc.", "dec."], ctx.optimizer.clone())?
            .with_optimizer("disc", &["disc."], ctx.optimizer.with_lr(self.disc_lr))?
            .with_optimizer("gen", &["enc."], ctx.optimizer.with_lr(self.gen_lr))?;
        Ok(Box::new(Adversarial {
            net,
            disc,
            cfg: self.clone(),
            latent: model.latent_dim,
        }))
    }
}

pub struct Adversarial {
    net: Backbone,
    disc: Mlp,
    cfg: AdversarialConfig,
    latent: usize,
}

impl Autoencoder for Adversarial {
    fn backbone(&self) -> &Backbone {
        &self.net
    }

    fn backbone_mut(&mut self) -> &mut Backbone {
        &mut self.net
    }

    fn train_step(&mut self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let n = x.dim(0)?;
        let recon = self.cfg.loss.loss(&self.net.reconstruct_logits(x)?, x)?;
        self.net.step("ae", &recon)?;

        let codes = self.net.encoder.forward(x)?.detach();
        let prior = self.cfg.prior_sample(n, self.latent, rng, x.device())?;
        let disc = discriminator_loss(&self.disc.forward(&prior)?, &self.disc.forward(&codes)?)?;
        self.net.step("disc", &disc)?;

        let gen = (generator_loss(&self.disc.forward(&self.net.encoder.forward(x)?)?)?
            * self.cfg.adv_weight)?;
        self.net.step("gen", &gen)?;
        Ok(vec![
            (RECON, recon.detach()),
            (DISC, disc.detach()),
            (GEN, gen.detach()),
        ])
    }

    /// Adds `disc_acc`: per image, the mean of the discriminator's hit on one prior draw and
    /// on the image's code.
    fn evaluate(&self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let codes = self.net.encoder.forward(x)?;
        let mut m = recon_metrics(&self.net.decoder.forward(&codes)?, x)?;
        let prior = self
            .cfg
            .prior_sample(x.dim(0)?, self.latent, rng, x.device())?;
        let hits = (logit_accuracy(&self.disc.forward(&prior)?, true)?
            + logit_accuracy(&self.disc.forward(&codes)?, false)?)?;
        m.push((DISC_ACC, (hits * 0.5)?));
        Ok(m)
    }

    fn sample(&self, n: usize, c: Option<&Tensor>, rng: &mut Rng) -> Result<Option<Tensor>> {
        let z = self
            .cfg
            .prior_sample(n, self.latent, rng, &self.net.device())?;
        Ok(Some(candle_nn::ops::sigmoid(&self.decode(&z, c)?)?))
    }

    /// The gaussian prior draws normals only; the mixture also draws each row's component.
    fn draws_one_kind(&self) -> bool {
        self.cfg.prior == Prior::Gaussian
    }
}
