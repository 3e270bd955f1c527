//! The deterministic autoencoders (plain, denoising, dropout) are one network trained with a
//! different perturbation; this is that network, generic over the perturbation.

use crate::backbone::{recon_metrics, Backbone, Recon};
use crate::{Autoencoder, BuildContext, ModelConfig, Named};
use ae_core::eval::ssim_per_image;
use ae_core::layers::dropout;
use ae_core::metrics::psnr_per_image;
use ae_core::optim::Adam;
use ae_core::rng::Rng;
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::{Module, VarMap};

/// What a deterministic variant does to its training input and hidden layers.
pub trait Perturbation: 'static {
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
    /// See [`Autoencoder::draws_one_kind`]: of `train_input`, the hidden dropout masks and
    /// `eval_corruption` together.
    fn draws_one_kind(&self) -> bool {
        false
    }
}

/// Encoder, decoder, one Adam, one reconstruction loss and a perturbation.
pub struct Deterministic<P> {
    net: Backbone,
    opt: Adam,
    loss: Recon,
    perturb: P,
    /// (channels, height, width), for SSIM.
    shape: (usize, usize, usize),
}

impl<P: Perturbation> Deterministic<P> {
    pub fn build(
        model: &ModelConfig,
        ctx: &BuildContext,
        loss: Recon,
        perturb: P,
    ) -> Result<Box<dyn Autoencoder>> {
        let (net, ()) = Backbone::new(model, ctx, model.latent_dim, |_| Ok(()))?;
        let opt = Adam::new(net.vars(&["enc.", "dec."]), ctx.optimizer.clone())?;
        Ok(Box::new(Self {
            net,
            opt,
            loss,
            perturb,
            shape: ctx.image_shape,
        }))
    }
}

impl<P: Perturbation> Autoencoder for Deterministic<P> {
    fn train_step(&mut self, x: &Tensor, rng: &mut Rng) -> Result<Vec<Named>> {
        let input = self.perturb.train_input(x, rng)?;
        let p = self.perturb.hidden_dropout();
        // `dropout` with p = 0 draws nothing and returns its input.
        let z = self
            .net
            .encoder
            .forward_with(&input, |h| dropout(&h, p, rng))?;
        let logits = self.net.decoder.forward_with(&z, |h| dropout(&h, p, rng))?;
        let loss = self.loss.loss(&logits, x)?;
        self.opt.backward_step(&loss)?;
        Ok(vec![("recon", loss.detach())])
    }

    fn evaluate(&self, x: &Tensor, rng: &mut Rng) -> Result<Vec<Named>> {
        let mut m = recon_metrics(&self.net.reconstruct_logits(x)?, x)?;
        if let Some(noisy) = self.perturb.eval_corruption(x, rng)? {
            let out = candle_nn::ops::sigmoid(&self.net.reconstruct_logits(&noisy)?)?;
            let (before, after) = (psnr_per_image(&noisy, x)?, psnr_per_image(&out, x)?);
            m.push(("psnr_gain", (&after - &before)?));
            m.push(("psnr_noisy", before));
            m.push(("psnr_denoised", after));
            m.push(("ssim_noisy", ssim_per_image(&noisy, x, self.shape)?));
            m.push(("ssim_denoised", ssim_per_image(&out, x, self.shape)?));
        }
        Ok(m)
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.net.encoder.forward(x)?)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        Ok(self.net.decoder.forward(z)?)
    }

    fn sample(&self, _n: usize, _rng: &mut Rng) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Clean images, then (for denoising) their corruption and its reconstruction, else the
    /// reconstruction of the clean images.
    fn display(&self, x: &Tensor, rng: &mut Rng) -> Result<Vec<Tensor>> {
        let recon = |input: &Tensor| -> Result<Tensor> {
            Ok(candle_nn::ops::sigmoid(
                &self.net.reconstruct_logits(input)?,
            )?)
        };
        Ok(match self.perturb.eval_corruption(x, rng)? {
            Some(noisy) => {
                let out = recon(&noisy)?;
                vec![x.clone(), noisy, out]
            }
            None => vec![x.clone(), recon(x)?],
        })
    }

    fn draws_one_kind(&self) -> bool {
        self.perturb.draws_one_kind()
    }

    fn flops(&self) -> usize {
        self.net.flops()
    }

    fn varmap(&self) -> &VarMap {
        &self.net.varmap
    }

    fn optimizers(&mut self) -> Vec<(&'static str, &mut Adam)> {
        vec![("ae", &mut self.opt)]
    }
}
