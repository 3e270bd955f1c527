//! The encoder and decoder most variants share, their reconstruction loss, and the shared
//! evaluation vocabulary.

use crate::{BuildContext, ModelConfig, Named};
use ae_core::layers::{initialize, Activation, Mlp};
use ae_core::losses::{bce_with_logits, mse_per_image};
use ae_core::metrics::psnr_per_image;
use ae_core::rng::Purpose;
use candle_core::{DType, Result, Tensor, Var};
use candle_nn::{Module, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

/// The reconstruction loss of the deterministic variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Recon {
    /// Mean over batch and pixels of (sigmoid(logits) - x)^2, as `nn.MSELoss` (the seed).
    #[default]
    Mse,
    /// Binary cross-entropy from logits, summed over pixels, mean over the batch.
    Bce,
}

impl Recon {
    pub fn loss(self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        match self {
            Recon::Mse => mse_per_image(&candle_nn::ops::sigmoid(logits)?, target)?.mean_all(),
            Recon::Bce => bce_with_logits(logits, target)?.mean_all(),
        }
    }
}

/// MLP encoder (input -> hidden... -> latent, `code_activation` on the code) and mirrored
/// decoder (latent -> reversed hidden... -> input logits).
pub struct Backbone {
    pub varmap: VarMap,
    pub encoder: Mlp,
    pub decoder: Mlp,
}

impl Backbone {
    /// Builds the encoder (ending in `enc_out` units: the latent size, or twice it for a
    /// Gaussian encoder's two heads) and decoder, then `extra` (more modules in the same
    /// VarMap), and initialises every weight from the run's seed.
    pub fn new<T>(
        model: &ModelConfig,
        ctx: &BuildContext,
        enc_out: usize,
        extra: impl FnOnce(VarBuilder) -> Result<T>,
    ) -> Result<(Self, T)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, ctx.device);
        let mut enc_dims = vec![ctx.input_dim];
        enc_dims.extend(&model.hidden);
        let mut dec_dims: Vec<usize> = enc_dims.iter().rev().copied().collect();
        enc_dims.push(enc_out);
        dec_dims.insert(0, model.latent_dim);
        let encoder = Mlp::new(
            vb.pp("enc"),
            &enc_dims,
            model.activation,
            model.code_activation,
        )?;
        let decoder = Mlp::new(vb.pp("dec"), &dec_dims, model.activation, Activation::None)?;
        let more = extra(vb)?;
        initialize(
            &varmap,
            &mut ctx.streams.stream(Purpose::Init, 0),
            model.init,
        )?;
        Ok((
            Self {
                varmap,
                encoder,
                decoder,
            },
            more,
        ))
    }

    /// The variables whose names start with one of `prefixes`, in name order.
    pub fn vars(&self, prefixes: &[&str]) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let mut named: Vec<_> = data
            .iter()
            .filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)))
            .collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        named
            .into_iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    pub fn device(&self) -> candle_core::Device {
        self.varmap.all_vars()[0].device().clone()
    }

    pub fn reconstruct_logits(&self, x: &Tensor) -> Result<Tensor> {
        self.decoder.forward(&self.encoder.forward(x)?)
    }
}

/// The shared vocabulary of every variant, per image: `mse` (per pixel), `psnr` (dB) and
/// `bce` (nats) of the reconstruction of clean images.
pub fn recon_metrics(logits: &Tensor, x: &Tensor) -> Result<Vec<Named>> {
    let probs = candle_nn::ops::sigmoid(logits)?;
    Ok(vec![
        ("mse", mse_per_image(&probs, x)?),
        ("psnr", psnr_per_image(&probs, x)?),
        ("bce", bce_with_logits(logits, x)?),
    ])
}
