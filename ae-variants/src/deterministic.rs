//! The deterministic autoencoders (plain, denoising, dropout, sparse) are one network trained
//! with a different [`Recipe`]: what is done to the training input and hidden layers, and what
//! is added to the loss. This is that network, generic over the recipe.

use crate::backbone::{recon_metrics, Backbone, BuildContext, Recon};
use crate::config::ModelConfig;
use crate::seam::Autoencoder;
use ae_core::data::Split;
use ae_core::eval::ssim_per_image;
use ae_core::layers::dropout;
use ae_core::metrics::{psnr_per_image, Metric, Named, LOSS, NONNEGATIVE};
use ae_core::rng::Rng;
use anyhow::Result;
use candle_core::Tensor;

/// The training reconstruction loss (`model.loss`).
pub const RECON: Metric = Metric::lower("recon", NONNEGATIVE);
/// Denoising: the output's PSNR minus the corrupted input's, and both, dB; SSIM of both.
pub const PSNR_GAIN: Metric = Metric::higher("psnr_gain", None);
pub const PSNR_NOISY: Metric = Metric::higher("psnr_noisy", None);
pub const PSNR_DENOISED: Metric = Metric::higher("psnr_denoised", None);
pub const SSIM_NOISY: Metric = Metric::higher("ssim_noisy", Some((-1.0, 1.0)));
pub const SSIM_DENOISED: Metric = Metric::higher("ssim_denoised", Some((-1.0, 1.0)));

/// What a penalty sees of one training or evaluation pass.
pub struct Pass<'a> {
    /// The clean images.
    pub x: &'a Tensor,
    /// What the encoder saw (the perturbed images in training).
    pub input: &'a Tensor,
    /// The code.
    pub code: &'a Tensor,
    /// The networks, for penalties on weights or on the encoder's Jacobian.
    pub net: &'a Backbone,
}

/// An extra term of the loss: `weight` x the mean of `value`, which is one value per image
/// (also reported per image in evaluation) or a scalar for the batch.
pub struct Penalty {
    pub metric: Metric,
    pub weight: f64,
    pub value: Tensor,
}

/// What makes one deterministic autoencoder differ from another.
pub trait Recipe: 'static {
    /// The input the network sees in training; the loss always compares with the clean image.
    fn train_input(&self, x: &Tensor, _rng: &mut Rng) -> Result<Tensor> {
        Ok(x.clone())
    }
    /// Dropout rate on hidden activations in training.
    fn hidden_dropout(&self) -> f32 {
        0.0
    }
    /// A corrupted copy of held-out images to measure denoising on (None: no such metrics).
    fn eval_corruption(&self, _x: &Tensor, _rng: &mut Rng) -> Result<Option<Tensor>> {
        Ok(None)
    }
    /// Terms added to the reconstruction loss: penalties on the code, the input or the
    /// weights, or against draws from a prior (`rng`). None: the loss is the reconstruction
    /// alone.
    fn penalties(&self, _pass: &Pass, _rng: &mut Rng) -> Result<Vec<Penalty>> {
        Ok(Vec::new())
    }
    /// Whether the loss ties the codes to the N(0, I) prior (the WAE), so that decoding its
    /// draws samples the model; the others have no prior to sample from.
    fn samples_the_prior(&self) -> bool {
        false
    }
    /// See [`Autoencoder::draws_one_kind`]: of `train_input`, the hidden dropout masks and
    /// `eval_corruption` together.
    fn draws_one_kind(&self) -> bool {
        false
    }
}

/// Encoder, decoder, one optimiser, one reconstruction loss and a recipe.
pub struct Deterministic<R> {
    net: Backbone,
    loss: Recon,
    recipe: R,
    /// (channels, height, width), for SSIM.
    shape: (usize, usize, usize),
    /// The code's size, for prior draws.
    latent: usize,
}

impl<R: Recipe> Deterministic<R> {
    pub fn build(
        model: &ModelConfig,
        ctx: &BuildContext,
        loss: Recon,
        recipe: R,
    ) -> Result<Box<dyn Autoencoder>> {
        let (net, ()) = Backbone::new(model, ctx, model.latent_dim, |_| Ok(()))?;
        let net = net.with_optimizer("ae", &["enc.", "dec."], ctx.optimizer.clone())?;
        Ok(Box::new(Self {
            net,
            loss,
            recipe,
            shape: ctx.image_shape,
            latent: model.latent_dim,
        }))
    }

    fn reconstruct(&self, input: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::sigmoid(
            &self.net.reconstruct_logits(input)?,
        )?)
    }
}

impl<R: Recipe> Autoencoder for Deterministic<R> {
    fn backbone(&self) -> &Backbone {
        &self.net
    }

    fn backbone_mut(&mut self) -> &mut Backbone {
        &mut self.net
    }

    fn train_step(&mut self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let input = self.recipe.train_input(x, rng)?;
        let p = self.recipe.hidden_dropout();
        // `dropout` with p = 0 draws nothing and returns its input.
        let z = self
            .net
            .encoder
            .forward_with(&input, |h| dropout(&h, p, rng))?;
        let logits = self.net.decoder.forward_with(&z, |h| dropout(&h, p, rng))?;
        let recon = self.loss.loss(&logits, x)?;
        let pass = Pass {
            x,
            input: &input,
            code: &z,
            net: &self.net,
        };
        let penalties = self.recipe.penalties(&pass, rng)?;
        if penalties.is_empty() {
            self.net.step("ae", &recon)?;
            return Ok(vec![(RECON, recon.detach())]);
        }
        let mut loss = recon.clone();
        let mut terms = Vec::with_capacity(penalties.len());
        for p in penalties {
            let term = p.value.mean_all()?;
            loss = (loss + (&term * p.weight)?)?;
            terms.push((p.metric, term.detach()));
        }
        self.net.step("ae", &loss)?;
        let mut out = vec![(LOSS, loss.detach()), (RECON, recon.detach())];
        out.extend(terms);
        Ok(out)
    }

    fn evaluate(&self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let code = self.net.encoder.forward_with(x, Ok)?;
        let mut m = recon_metrics(&self.net.decoder.forward_with(&code, Ok)?, x)?;
        let pass = Pass {
            x,
            input: x,
            code: &code,
            net: &self.net,
        };
        for p in self.recipe.penalties(&pass, rng)? {
            if p.value.rank() == 1 {
                m.push((p.metric, p.value));
            }
        }
        if let Some(noisy) = self.recipe.eval_corruption(x, rng)? {
            let out = self.reconstruct(&noisy)?;
            let (before, after) = (psnr_per_image(&noisy, x)?, psnr_per_image(&out, x)?);
            m.push((PSNR_GAIN, (&after - &before)?));
            m.push((PSNR_NOISY, before));
            m.push((PSNR_DENOISED, after));
            m.push((SSIM_NOISY, ssim_per_image(&noisy, x, self.shape)?));
            m.push((SSIM_DENOISED, ssim_per_image(&out, x, self.shape)?));
        }
        Ok(m)
    }

    /// Clean images, then (for denoising) their corruption and its reconstruction, else the
    /// reconstruction of the clean images.
    fn display(&self, batch: &Split, rng: &mut Rng) -> Result<Vec<Tensor>> {
        let x = &batch.images;
        Ok(match self.recipe.eval_corruption(x, rng)? {
            Some(noisy) => {
                let out = self.reconstruct(&noisy)?;
                vec![x.clone(), noisy, out]
            }
            None => vec![x.clone(), self.reconstruct(x)?],
        })
    }

    fn sample(&self, n: usize, c: Option<&Tensor>, rng: &mut Rng) -> Result<Option<Tensor>> {
        if !self.recipe.samples_the_prior() {
            return Ok(None);
        }
        let z = rng.normal((n, self.latent), &self.net.device())?;
        Ok(Some(candle_nn::ops::sigmoid(&self.decode(&z, c)?)?))
    }

    fn draws_one_kind(&self) -> bool {
        self.recipe.draws_one_kind()
    }
}
