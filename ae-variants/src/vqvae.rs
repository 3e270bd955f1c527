//! Vector-quantised autoencoder, VQ-VAE (van den Oord et al., "Neural Discrete Representation
//! Learning", 2017). The encoder's code of `latent_dim` numbers is read as `latent_dim /
//! embedding_dim` positions of `embedding_dim` each; every position is replaced by its nearest
//! of `codebook_size` shared code vectors, and the decoder sees those, with the gradient passed
//! straight through the rounding (z_e + sg(e - z_e)). Loss: reconstruction +
//! ||sg(z_e) - e||^2 (the codebook; or, with `ema`, no such term and exponential moving
//! averages of the codes assigned, the paper's appendix) + beta ||z_e - sg(e)||^2 (the
//! commitment), each a mean over the code's numbers.
//!
//! It has no prior of its own (the paper fits a PixelCNN over the codes afterwards): its
//! samples are the ex-post mixture's, decoded through the codebook.

use crate::backbone::{recon_metrics, Backbone, BuildContext, Recon};
use crate::config::ModelConfig;
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::activation::Activation;
use ae_core::data::Split;
use ae_core::error::ensure;
use ae_core::metrics::{Metric, Named, LOSS, NONNEGATIVE};
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::{DType, Tensor, Var, D};
use candle_nn::Module;
use serde::{Deserialize, Serialize};

use crate::deterministic::RECON;

/// ||sg(z_e) - e||^2, mean over the code's numbers (not with `ema`).
pub const CODEBOOK: Metric = Metric::lower("codebook", NONNEGATIVE);
/// ||z_e - sg(e)||^2, mean over the code's numbers, unweighted.
pub const COMMITMENT: Metric = Metric::lower("commitment", NONNEGATIVE);
/// exp of the entropy of the batch's code assignments: how many codes it uses, in effect.
pub const PERPLEXITY: Metric = Metric::higher("perplexity", Some((1.0, f64::INFINITY)));
/// The share of the codebook assigned at least once in the batch.
pub const CODES_USED: Metric = Metric::higher("codes_used", Some((0.0, 1.0)));
/// Per image, the mean over positions of ||z_e - e||^2: how far the encoder is from its codes.
pub const QUANTIZATION: Metric = Metric::lower("quantization", NONNEGATIVE);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VqvaeConfig {
    pub loss: Recon,
    /// K, the code vectors.
    pub codebook_size: usize,
    /// The numbers of one code vector; `latent_dim` must be a multiple.
    pub embedding_dim: usize,
    /// beta, the commitment term's weight (the paper's 0.25).
    pub commitment: f64,
    /// Codebook updates by exponential moving averages instead of its loss term.
    pub ema: bool,
    /// gamma, the moving averages' decay (`ema`).
    pub decay: f64,
}

impl Default for VqvaeConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            codebook_size: 512,
            embedding_dim: 4,
            commitment: 0.25,
            ema: false,
            decay: 0.99,
        }
    }
}

impl VariantConfig for VqvaeConfig {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        ensure(self.codebook_size >= 2, "model.codebook_size", || {
            format!("{} is not allowed: at least 2", self.codebook_size)
        })?;
        let d = self.embedding_dim;
        ensure(
            d >= 1 && model.latent_dim.is_multiple_of(d),
            "model.embedding_dim",
            || {
                format!(
                    "{d} is not allowed: it must divide model.latent_dim ({}), the code's \
                     numbers, into positions",
                    model.latent_dim
                )
            },
        )?;
        ensure(
            self.commitment >= 0.0 && self.commitment.is_finite(),
            "model.commitment",
            || format!("{} is not allowed: must be >= 0", self.commitment),
        )?;
        ensure(self.decay > 0.0 && self.decay < 1.0, "model.decay", || {
            format!("{} is not allowed: a decay in (0, 1)", self.decay)
        })?;
        ensure(
            model.code_activation == Activation::None,
            "model.code_activation",
            || {
                "must be `none` for a VQ-VAE: the code is compared with code vectors of any sign"
                    .into()
            },
        )
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Ok(Box::new(Vqvae::new(self, model, ctx)?))
    }
}

/// Laplace smoothing of the moving averages' counts, so that no code divides by zero.
const EPSILON: f64 = 1e-5;

pub struct Vqvae {
    net: Backbone,
    cfg: VqvaeConfig,
    /// [K, D], trained by its loss term or set from the moving averages.
    codebook: Var,
    /// `ema`: the moving averages of each code's assignments [K] and of their sum [K, D].
    counts: Var,
    sums: Var,
}

/// What quantising a batch of codes gives.
struct Quantized {
    /// z_e, [n positions, D].
    ze: Tensor,
    /// The nearest code vector of each row, [n positions, D].
    zq: Tensor,
    /// Each row's code, [n positions] (u32).
    index: Tensor,
}

impl Vqvae {
    fn new(cfg: &VqvaeConfig, model: &ModelConfig, ctx: &BuildContext) -> Result<Self> {
        let (k, d) = (cfg.codebook_size, cfg.embedding_dim);
        let (net, ()) = Backbone::new(model, ctx, model.latent_dim, |vb| {
            let vb = vb.pp("vq");
            for (shape, name) in [
                (&[k, d][..], "codebook"),
                (&[k], "ema_count"),
                (&[k, d], "ema_sum"),
            ] {
                vb.get_with_hints(shape, name, candle_nn::Init::Const(0.0))?;
            }
            Ok(())
        })?;
        let var = |name: &str| {
            net.vars(&[name])
                .pop()
                .map(|(_, v)| v)
                .expect("the VarMap holds what Backbone::new made")
        };
        let (codebook, counts, sums) = (var("vq.codebook"), var("vq.ema_count"), var("vq.ema_sum"));
        // The averages start as one assignment to each code, at the code itself.
        counts.set(&counts.ones_like()?)?;
        sums.set(codebook.as_tensor())?;
        let trained: &[&str] = if cfg.ema {
            &["enc.", "dec."]
        } else {
            &["enc.", "dec.", "vq.codebook"]
        };
        let net = net.with_optimizer("ae", trained, ctx.optimizer.clone())?;
        Ok(Self {
            net,
            cfg: cfg.clone(),
            codebook,
            counts,
            sums,
        })
    }

    /// Each position of `z` [n, latent] to its nearest code vector.
    fn quantize(&self, z: &Tensor) -> Result<Quantized> {
        let ze = z.reshape(((), self.cfg.embedding_dim))?;
        let e = self.codebook.as_tensor();
        // |z|^2 - 2 z.e + |e|^2; the first term is the same for every code.
        let fixed = e.detach();
        let dist = fixed
            .sqr()?
            .sum(1)?
            .unsqueeze(0)?
            .broadcast_sub(&(ze.detach().matmul(&fixed.t()?)? * 2.0)?)?;
        let index = dist.argmin(D::Minus1)?;
        let zq = e.index_select(&index, 0)?;
        Ok(Quantized { ze, zq, index })
    }

    /// The decoder's input: z_e with z_q's values and z_e's gradient.
    fn straight_through(&self, q: &Quantized, n: usize) -> Result<Tensor> {
        let st = (&q.ze + (&q.zq - &q.ze)?.detach())?;
        Ok(st.reshape((n, ()))?)
    }

    /// Perplexity and share of codes used of a batch's assignments, from `counts` (see
    /// [`Self::assigned`]).
    fn usage(&self, counts: &Tensor, index: &Tensor) -> Result<(Tensor, Tensor)> {
        let k = self.cfg.codebook_size;
        let p = (counts / index.dim(0)? as f64)?;
        let entropy = (&p * (&p + 1e-10)?.log()?)?.sum_all()?.neg()?;
        let used = counts.gt(0.0)?.to_dtype(DType::F32)?.sum_all()?;
        Ok((entropy.exp()?, (used / k as f64)?))
    }

    /// How many rows were assigned each code, [K] f32.
    fn assigned(&self, index: &Tensor) -> Result<Tensor> {
        let ones = Tensor::ones(index.dim(0)?, DType::F32, index.device())?;
        let zeros = Tensor::zeros(self.cfg.codebook_size, DType::F32, index.device())?;
        Ok(zeros.index_add(index, &ones, 0)?)
    }

    /// The moving-average update: counts and sums decay towards the batch's (`batch_counts`,
    /// see [`Self::assigned`]), and each code is the mean of what was assigned to it (with
    /// smoothed counts). All on the device: nothing is read back in the training loop.
    fn ema_update(&self, q: &Quantized, batch_counts: &Tensor) -> Result<()> {
        let g = self.cfg.decay;
        let k = self.cfg.codebook_size as f64;
        let zeros = self.sums.as_tensor().zeros_like()?;
        let batch_sums = zeros.index_add(&q.index, &q.ze.detach(), 0)?;
        let counts = ((self.counts.as_tensor() * g)? + (batch_counts * (1.0 - g))?)?;
        let sums = ((self.sums.as_tensor() * g)? + (batch_sums * (1.0 - g))?)?;
        // (counts + eps) x total / (total + K eps), total the sum of the counts.
        let total = counts.sum_all()?;
        let scale = total.broadcast_div(&(&total + k * EPSILON)?)?;
        let smoothed = (&counts + EPSILON)?.broadcast_mul(&scale)?;
        self.codebook
            .set(&sums.broadcast_div(&smoothed.unsqueeze(1)?)?)?;
        self.counts.set(&counts)?;
        self.sums.set(&sums)?;
        Ok(())
    }
}

impl Autoencoder for Vqvae {
    fn backbone(&self) -> &Backbone {
        &self.net
    }

    fn backbone_mut(&mut self) -> &mut Backbone {
        &mut self.net
    }

    fn train_step(&mut self, batch: &Split, _rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let n = x.dim(0)?;
        let q = self.quantize(&self.net.encoder.forward(x)?)?;
        let logits = self.net.decoder.forward(&self.straight_through(&q, n)?)?;
        let recon = self.cfg.loss.loss(&logits, x)?;
        let commitment = (&q.ze - q.zq.detach())?.sqr()?.mean_all()?;
        let mut loss = (&recon + (&commitment * self.cfg.commitment)?)?;
        let mut terms = vec![(RECON, recon.detach())];
        if !self.cfg.ema {
            let codebook = (&q.zq - q.ze.detach())?.sqr()?.mean_all()?;
            loss = (loss + &codebook)?;
            terms.push((CODEBOOK, codebook.detach()));
        }
        terms.push((COMMITMENT, commitment.detach()));
        let counts = self.assigned(&q.index)?;
        let (perplexity, used) = self.usage(&counts, &q.index)?;
        terms.push((PERPLEXITY, perplexity));
        terms.push((CODES_USED, used));
        self.net.step("ae", &loss)?;
        if self.cfg.ema {
            self.ema_update(&q, &counts)?;
        }
        terms.insert(0, (LOSS, loss.detach()));
        Ok(terms)
    }

    fn evaluate(&self, batch: &Split, _rng: &mut Rng) -> Result<Vec<Named>> {
        let x = &batch.images;
        let n = x.dim(0)?;
        let q = self.quantize(&self.net.encoder.forward(x)?)?;
        let mut m = recon_metrics(&self.net.decoder.forward(&q.zq.reshape((n, ()))?)?, x)?;
        let err = (&q.ze - &q.zq)?.sqr()?.reshape((n, ()))?.mean(1)?;
        m.push((QUANTIZATION, err));
        Ok(m)
    }

    /// The quantised code (what the decoder sees).
    fn encode(&self, batch: &Split) -> Result<Tensor> {
        let n = batch.len();
        Ok(self
            .quantize(&self.net.encoder.forward(&batch.images)?)?
            .zq
            .reshape((n, ()))?)
    }

    /// Codes are quantised before decoding, so that any code (an interpolation, a draw of
    /// the ex-post mixture) decodes as the decoder was trained: through the codebook.
    fn decode(&self, z: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        let n = z.dim(0)?;
        let zq = self.quantize(z)?.zq.reshape((n, ()))?;
        Ok(self.net.decoder.forward(&zq)?)
    }

    /// It draws nothing.
    fn draws_one_kind(&self) -> bool {
        true
    }
}
