//! What every model built on an encoder and a decoder has in common: the two networks, their
//! weights, the optimisers over them, the reconstruction loss and the shared evaluation
//! vocabulary. A model's own file holds only what makes it different.

use crate::config::{Arch, ModelConfig};
use ae_core::activation::Activation;
use ae_core::conv::{ConvDecoder, ConvEncoder};
use ae_core::layers::{initialize, one_hot, Mlp};
use ae_core::losses::{bce_with_logits, mse_per_image};
use ae_core::metrics::{psnr_per_image, Named, BCE, MSE, PSNR};
use ae_core::optim::{Optimizer, OptimizerConfig};
use ae_core::rng::{Purpose, Streams};
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{Module, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

/// What building a model needs besides its config.
pub struct BuildContext<'a> {
    pub device: &'a Device,
    /// Pixels per image.
    pub input_dim: usize,
    /// (channels, height, width) of an image, for metrics that need its layout (SSIM).
    pub image_shape: (usize, usize, usize),
    /// The dataset's classes (labels 0 to classes - 1), for a model conditioned on the label.
    pub classes: usize,
    pub optimizer: &'a OptimizerConfig,
    pub streams: Streams,
}

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

/// An encoder or a decoder: an MLP on rows of pixels or a conv net on the image.
pub enum Net {
    Mlp(Mlp),
    ConvEncoder(ConvEncoder),
    ConvDecoder(ConvDecoder),
}

impl Net {
    /// The forward pass with `hidden(x)` applied to each hidden activation (dropout, say).
    pub fn forward_with(
        &self,
        x: &Tensor,
        mut hidden: impl FnMut(Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        match self {
            Net::Mlp(m) => m.forward_with(x, hidden),
            Net::ConvEncoder(c) => c.forward_with(x, &mut hidden),
            Net::ConvDecoder(c) => c.forward_with(x, &mut hidden),
        }
    }

    /// The MLP, for penalties that need its layers (a Jacobian); None for a conv net.
    pub fn mlp(&self) -> Option<&Mlp> {
        match self {
            Net::Mlp(m) => Some(m),
            _ => None,
        }
    }

    /// Two times the multiply-adds of one image's forward pass.
    pub fn flops(&self) -> usize {
        match self {
            Net::Mlp(m) => m.flops(),
            Net::ConvEncoder(c) => c.flops(),
            Net::ConvDecoder(c) => c.flops(),
        }
    }
}

impl Module for Net {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, Ok)
    }
}

/// Encoder (input -> code, `code_activation` on the code, `enc_out` units) and mirrored decoder
/// (code -> input logits), by `model.arch`, and the optimisers over their weights (and any
/// other module's in the same VarMap), by name.
pub struct Backbone {
    pub varmap: VarMap,
    pub encoder: Net,
    pub decoder: Net,
    pub optimizers: Vec<(&'static str, Optimizer)>,
    /// For a backbone conditioned on the label ([`Backbone::conditional`]): the classes, and
    /// how many copies of each one-hot entry the encoder reads (1 on the MLP; the pixels of
    /// one channel on the conv net, which reads the label as constant planes).
    condition: Option<(usize, usize)>,
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
        Self::build(model, ctx, enc_out, 0, extra)
    }

    /// [`Backbone::new`] conditioned on the label (Sohn et al. 2015's simplified form): the
    /// encoder reads the image and its one-hot label of `ctx.classes` (appended to the pixels
    /// on the MLP, as one constant plane per class after the image's channels on the conv
    /// net), the decoder the code with the one-hot label appended.
    pub fn conditional<T>(
        model: &ModelConfig,
        ctx: &BuildContext,
        enc_out: usize,
        extra: impl FnOnce(VarBuilder) -> Result<T>,
    ) -> Result<(Self, T)> {
        Self::build(model, ctx, enc_out, ctx.classes, extra)
    }

    /// The encoder and decoder with `classes` more inputs each (0: unconditional).
    fn build<T>(
        model: &ModelConfig,
        ctx: &BuildContext,
        enc_out: usize,
        classes: usize,
        extra: impl FnOnce(VarBuilder) -> Result<T>,
    ) -> Result<(Self, T)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, ctx.device);
        let (c, h, w) = ctx.image_shape;
        let code_in = model.latent_dim + classes;
        let (encoder, decoder) = match model.arch {
            Arch::Mlp => {
                let mut enc_dims = vec![ctx.input_dim];
                enc_dims.extend(&model.hidden);
                let mut dec_dims: Vec<usize> = enc_dims.iter().rev().copied().collect();
                enc_dims.push(enc_out);
                enc_dims[0] += classes;
                dec_dims.insert(0, code_in);
                let (act, code) = (model.activation, model.code_activation);
                (
                    Net::Mlp(Mlp::new(vb.pp("enc"), &enc_dims, act, code)?),
                    Net::Mlp(Mlp::new(vb.pp("dec"), &dec_dims, act, Activation::None)?),
                )
            }
            Arch::Conv => (
                Net::ConvEncoder(ConvEncoder::new(
                    vb.pp("enc"),
                    (c + classes, h, w),
                    &model.channels,
                    enc_out,
                    model.activation,
                    model.code_activation,
                )?),
                Net::ConvDecoder(ConvDecoder::new(
                    vb.pp("dec"),
                    ctx.image_shape,
                    &model.channels,
                    code_in,
                    model.activation,
                )?),
            ),
        };
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
                optimizers: Vec::new(),
                condition: (classes > 0).then_some(match model.arch {
                    Arch::Mlp => (classes, 1),
                    Arch::Conv => (classes, h * w),
                }),
            },
            more,
        ))
    }

    /// Adds the optimiser `name` over the variables whose names start with one of `prefixes`
    /// (`enc.`, `dec.`, or a module the model added).
    pub fn with_optimizer(
        mut self,
        name: &'static str,
        prefixes: &[&str],
        cfg: OptimizerConfig,
    ) -> Result<Self> {
        let opt = Optimizer::new(self.vars(prefixes), cfg)?;
        self.optimizers.push((name, opt));
        Ok(self)
    }

    /// One step of the optimiser `name` on `loss`.
    pub fn step(&mut self, name: &str, loss: &Tensor) -> Result<()> {
        match self.optimizers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, opt)) => opt.backward_step(loss),
            None => candle_core::bail!("no optimiser `{name}`"),
        }
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

    /// Two times the multiply-adds of one image through the encoder and the decoder.
    pub fn flops(&self) -> usize {
        self.encoder.flops() + self.decoder.flops()
    }

    /// Whether the networks read the label ([`Backbone::conditional`]).
    pub fn reads_label(&self) -> bool {
        self.condition.is_some()
    }

    /// What the encoder reads of images `x` with their `labels`: the images, and for a
    /// conditional backbone their one-hot labels after them (each entry repeated over one
    /// channel's pixels on the conv net).
    pub fn encoder_input(&self, x: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let Some((classes, copies)) = self.condition else {
            return Ok(x.clone());
        };
        let y = one_hot(labels, classes)?;
        let n = y.dim(0)?;
        let y = y.unsqueeze(2)?.broadcast_as((n, classes, copies))?;
        Tensor::cat(&[x, &y.flatten_from(1)?], 1)
    }

    /// The encoder's output for images `x` with their `labels` (read only by a conditional
    /// backbone).
    pub fn encode(&self, x: &Tensor, labels: &Tensor) -> Result<Tensor> {
        self.encoder.forward(&self.encoder_input(x, labels)?)
    }

    /// The decoder's logits for codes `z` with one label per row (`condition`, which a
    /// conditional backbone needs and any other ignores).
    pub fn decode(&self, z: &Tensor, condition: Option<&Tensor>) -> Result<Tensor> {
        let Some((classes, _)) = self.condition else {
            return self.decoder.forward(z);
        };
        let Some(labels) = condition else {
            candle_core::bail!("a model conditioned on the label decodes a code with its label");
        };
        self.decoder
            .forward(&Tensor::cat(&[z, &one_hot(labels, classes)?], 1)?)
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
        (MSE, mse_per_image(&probs, x)?),
        (PSNR, psnr_per_image(&probs, x)?),
        (BCE, bce_with_logits(logits, x)?),
    ])
}
