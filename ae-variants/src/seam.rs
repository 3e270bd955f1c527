//! The seam between the runner and the models: what the runner asks of every model
//! ([`Autoencoder`]), what building one needs ([`BuildContext`]), and what a model's config type
//! implements ([`VariantConfig`]). Nothing here names a model.

use crate::backbone::{Backbone, BuildContext};
use crate::config::ModelConfig;
use ae_core::data::Split;
use ae_core::metrics::Named;
use ae_core::optim::Optimizer;
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What the runner asks of every model. A model built on an encoder and a decoder implements
/// [`Autoencoder::backbone`] and gets encode, decode, flops, weights and optimisers from it.
pub trait Autoencoder {
    /// The encoder, decoder, weights and optimisers.
    fn backbone(&self) -> &Backbone;
    fn backbone_mut(&mut self) -> &mut Backbone;
    /// Called before each epoch (0-based), e.g. for a KL warm-up.
    fn start_epoch(&mut self, _epoch: usize) {}
    /// One optimisation step on a batch (images and their labels). Returns the loss terms as
    /// device scalars, so that the runner reads them back only now and then.
    fn train_step(&mut self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>>;
    /// Per-image metrics on held-out images: the shared `mse`, `psnr`, `bce` on clean images,
    /// then the model's own.
    fn evaluate(&self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>>;
    /// The code of each image of `batch` (the posterior mean for the VAE). The batch, not its
    /// images alone, because a model conditioned on the label (the CVAE) encodes an image with
    /// its label; every other model reads the images only.
    fn encode(&self, batch: &Split) -> Result<Tensor> {
        Ok(self.backbone().encode(&batch.images, &batch.labels)?)
    }
    /// Decoder logits of codes; `condition` (one label per code) as in [`Autoencoder::sample`].
    fn decode(&self, z: &Tensor, condition: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.backbone().decode(z, condition)?)
    }
    /// Whether the model is conditioned on the label: its likelihood is then p(x|y), so its
    /// ELBO and IWAE bound are on -log p(x|y) (named so), and its samples are of the class
    /// asked for.
    fn conditional(&self) -> bool {
        self.backbone().reads_label()
    }
    /// log p(x, z_j) - log q(z_j|x) for k draws z_j ~ q(z|x) of each image of `batch`, as
    /// [n, k], for models with a likelihood (the VAE; given the label, for the CVAE); the IWAE
    /// bound on log p(x) is their log-mean-exp.
    fn log_weights(&self, _batch: &Split, _k: usize, _rng: &mut Rng) -> Result<Option<Tensor>> {
        Ok(None)
    }
    /// `n` draws from the prior, as images in [0, 1], for models that have one; `condition`
    /// (one label per draw) for conditional models, which other models ignore.
    fn sample(
        &self,
        _n: usize,
        _condition: Option<&Tensor>,
        _rng: &mut Rng,
    ) -> Result<Option<Tensor>> {
        Ok(None)
    }
    /// Rows of the reconstructions picture: the images of `batch`, then what the model makes
    /// of them.
    fn display(&self, batch: &Split, _rng: &mut Rng) -> Result<Vec<Tensor>> {
        let code = self.encode(batch)?;
        Ok(vec![
            batch.images.clone(),
            candle_nn::ops::sigmoid(&self.decode(&code, Some(&batch.labels))?)?,
        ])
    }
    /// Whether every draw `train_step` and `evaluate` make from their stream is of one kind
    /// (normals only, or uniforms and Bernoulli masks only), so that the runner may draw those
    /// streams ahead on a GPU ([`Rng::ahead`]: one upload per block, not one per step). The
    /// default, false, is always correct; a model that also draws indices (the AAE's mixture
    /// prior) must keep it.
    fn draws_one_kind(&self) -> bool {
        false
    }
    /// Two times the multiply-adds of one image through the encoder and the decoder.
    fn flops(&self) -> usize {
        self.backbone().flops()
    }
    /// Every weight, for saving.
    fn varmap(&self) -> &VarMap {
        &self.backbone().varmap
    }
    /// The optimisers by name, for checkpoints.
    fn optimizers(&mut self) -> Vec<(&'static str, &mut Optimizer)> {
        self.backbone_mut()
            .optimizers
            .iter_mut()
            .map(|(n, o)| (*n, o))
            .collect()
    }
}

/// A model's own config type: deserialised from the `model:` keys it owns, then validated.
pub trait VariantConfig: Serialize + DeserializeOwned + 'static {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError>;
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>>;
}

/// A parsed, validated model config: its resolved keys and how to build it.
pub trait Spec {
    /// The model's keys with defaults filled in, for the resolved config.
    fn resolved(&self) -> serde_json::Value;
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>>;
}

impl<C: VariantConfig> Spec for C {
    fn resolved(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("variant configs serialise")
    }
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        VariantConfig::build(self, model, ctx)
    }
}
