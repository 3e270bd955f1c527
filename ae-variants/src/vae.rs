//! Variational autoencoder: a Gaussian encoder with separate mean and log-variance heads (no
//! ReLU on either, unlike the seed), the reparameterisation trick, and
//! loss = reconstruction NLL + kl_weight * KL, in nats per image. With `train_samples: k > 1`
//! it trains on the importance-weighted bound instead (Burda et al. 2016): the negative
//! k-sample bound -log (1/k) sum_j p(x, z_j) / q(z_j|x) per image, from the same log-weights
//! as the IWAE evaluation.

use crate::backbone::{recon_metrics, Backbone, BuildContext};
use crate::config::ModelConfig;
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::activation::Activation;
use ae_core::data::Split;
use ae_core::error::ensure;
use ae_core::eval::iwae::{log_mean_exp, log_normal, log_std_normal};
use ae_core::losses::{bce_with_logits_each, gaussian_kl, gaussian_nll, repeat_rows};
use ae_core::metrics::{Metric, Named, LOSS, NONNEGATIVE};
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::Tensor;

/// The negative ELBO with beta = 1, nats per image (whatever weight training used).
pub const NEG_ELBO: Metric = Metric::lower("neg_elbo", None);
/// -log p(x|z) of one posterior draw (distortion), nats per image.
pub const NLL: Metric = Metric::lower("nll", None);
/// KL(q(z|x) || p(z)) (rate), nats per image.
pub const KL: Metric = Metric::lower("kl", NONNEGATIVE);
/// The negative ELBO of the VAE conditioned on the label (the CVAE), beta = 1: a bound on
/// -log p(x|y), which is below -log p(x) by up to log(classes), so it is not named as the
/// VAE's is.
pub const NEG_ELBO_GIVEN_LABEL: Metric = Metric::lower("neg_elbo_given_label", None);
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The training objective with `train_samples: k > 1`, `iwae<k>_loss`: the negative k-sample
/// bound -log (1/k) sum_j w_j, nats per image, averaged over the batch (the evaluation's
/// `iwae<k>_nll` is the same quantity on test images). Unbounded, as `nll` is (a Gaussian
/// likelihood's density can exceed 1).
pub fn iwae_loss(k: usize) -> Metric {
    // Metric names are `&'static str`: one leaked name per k ever asked for.
    static NAMES: Mutex<BTreeMap<usize, &'static str>> = Mutex::new(BTreeMap::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let name = *names
        .entry(k)
        .or_insert_with(|| Box::leak(format!("iwae{k}_loss").into_boxed_str()));
    Metric::lower(name, None)
}

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
    /// k, the posterior draws per training image: 1 trains on the ELBO (NLL + beta KL); k > 1
    /// on the negative k-sample importance-weighted bound, which has no KL weight or warm-up.
    pub train_samples: usize,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self {
            kl_weight: 1.0,
            warmup_epochs: 0,
            likelihood: Likelihood::Bernoulli,
            sigma: 0.1,
            train_samples: 1,
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
        })?;
        ae_core::error::at_least_one(self.train_samples, "model.train_samples")?;
        // The KL weight and its warm-up scale the KL term of the one-sample ELBO; the k-sample
        // bound has no KL term of its own to weight, so they are refused rather than given an
        // ad hoc meaning.
        let k = self.train_samples;
        let one_sample_only = |what: &str, value: String| {
            format!(
                "{value} is not allowed with model.train_samples = {k}: {what} applies to the \
                 one-sample ELBO only (train_samples: 1); the k-sample bound has no KL term to weight"
            )
        };
        ensure(k == 1 || self.kl_weight == 1.0, "model.kl_weight", || {
            one_sample_only("the KL weight", self.kl_weight.to_string())
        })?;
        ensure(
            k == 1 || self.warmup_epochs == 0,
            "model.warmup_epochs",
            || one_sample_only("the KL warm-up", self.warmup_epochs.to_string()),
        )
    }

    /// The encoder's last layer has 2 x latent_dim outputs: rows [0, d) are the mean head,
    /// rows [d, 2d) the log-variance head (two linear heads on the last hidden layer).
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Ok(Box::new(Vae::new(self, model, ctx, false)?))
    }
}

/// The VAE, and with `conditional` networks the CVAE (crate::cvae): the same objective, each
/// term given the label.
pub struct Vae {
    net: Backbone,
    /// `neg_elbo`, or `neg_elbo_given_label` for the CVAE.
    neg_elbo: Metric,
    cfg: VaeConfig,
    /// The KL weight of the current epoch (after warm-up).
    beta: f64,
    latent: usize,
    /// `iwae<k>_loss` for k = train_samples (logged only when k > 1).
    objective: Metric,
}

impl Vae {
    /// A VAE, or with `conditional` a CVAE: its encoder and decoder read the one-hot label
    /// ([`Backbone::conditional`]).
    pub(crate) fn new(
        cfg: &VaeConfig,
        model: &ModelConfig,
        ctx: &BuildContext,
        conditional: bool,
    ) -> Result<Self> {
        let enc_out = 2 * model.latent_dim;
        let (net, ()) = match conditional {
            true => Backbone::conditional(model, ctx, enc_out, |_| Ok(()))?,
            false => Backbone::new(model, ctx, enc_out, |_| Ok(()))?,
        };
        let net = net.with_optimizer("vae", &["enc.", "dec."], ctx.optimizer.clone())?;
        Ok(Vae {
            net,
            neg_elbo: match conditional {
                true => NEG_ELBO_GIVEN_LABEL,
                false => NEG_ELBO,
            },
            cfg: cfg.clone(),
            beta: cfg.kl_weight,
            latent: model.latent_dim,
            objective: iwae_loss(cfg.train_samples),
        })
    }

    /// q(z|x) (given the label for the CVAE): its mean and log-variance.
    fn posterior(&self, batch: &Split) -> Result<(Tensor, Tensor)> {
        let h = self.net.encode(&batch.images, &batch.labels)?;
        Ok((
            h.narrow(1, 0, self.latent)?,
            h.narrow(1, self.latent, self.latent)?,
        ))
    }

    /// -log p(x|z) per decoding, for `k` consecutive decodings (rows of `logits`) of each
    /// image of `x`.
    fn nll(&self, logits: &Tensor, x: &Tensor, k: usize) -> Result<Tensor> {
        Ok(match self.cfg.likelihood {
            Likelihood::Bernoulli => bce_with_logits_each(logits, x, k)?,
            Likelihood::Gaussian => gaussian_nll(
                &candle_nn::ops::sigmoid(logits)?,
                &repeat_rows(x, k)?,
                self.cfg.sigma,
            )?,
        })
    }

    /// (NLL, KL) per image with one reparameterised draw z = mu + sigma * eps from the
    /// posterior (mu, logvar) of the images of `batch`.
    fn terms(
        &self,
        batch: &Split,
        (mu, logvar): &(Tensor, Tensor),
        rng: &mut Rng,
    ) -> Result<(Tensor, Tensor)> {
        let eps = rng.normal(mu.shape(), mu.device())?;
        let z = (mu + ((logvar * 0.5)?.exp()? * eps)?)?;
        let logits = self.net.decode(&z, Some(&batch.labels))?;
        Ok((
            self.nll(&logits, &batch.images, 1)?,
            gaussian_kl(mu, logvar)?,
        ))
    }

    /// `k` reparameterised draws z_j = mu + sigma * eps_j from the posterior (mu, logvar) of
    /// each image of `batch`: -log p(x|z_j), log p(z_j) and log q(z_j|x), each [n, k]. The
    /// decodings are [n k, dim] rows (each with its image's label), scored against their
    /// image without copying it k times (the CPU's fused BCE and its gradient kernel).
    fn draws(
        &self,
        batch: &Split,
        (mu, logvar): &(Tensor, Tensor),
        k: usize,
        rng: &mut Rng,
    ) -> Result<[Tensor; 3]> {
        let x = &batch.images;
        let n = x.dim(0)?;
        let (mu, logvar) = (mu.unsqueeze(1)?, logvar.unsqueeze(1)?);
        let eps = rng.normal((n, k, self.latent), x.device())?;
        let z = eps
            .broadcast_mul(&(&logvar * 0.5)?.exp()?)?
            .broadcast_add(&mu)?;
        // Each decoding with its image's label, for the CVAE only.
        let labels = match self.net.reads_label() {
            true => Some(
                batch
                    .labels
                    .unsqueeze(1)?
                    .broadcast_as((n, k))?
                    .flatten_all()?,
            ),
            false => None,
        };
        let logits = self.decode(&z.reshape((n * k, self.latent))?, labels.as_ref())?;
        let nll = self.nll(&logits, x, k)?.reshape((n, k))?;
        Ok([nll, log_std_normal(&z)?, log_normal(&z, &mu, &logvar)?])
    }

    /// The negative k-sample bound on `x`, k = train_samples, as a device scalar whose
    /// gradient is -sum_j w~_j grad log w_j per image with the normalised weights w~ (the
    /// softmax inside log_mean_exp), and the terms logged: `loss` = `nll` + `kl` of the
    /// one-sample ELBO (`nll` averaged over the k draws), the bound as `iwae<k>_loss`.
    fn iwae_terms(&self, batch: &Split, rng: &mut Rng) -> Result<(Tensor, Vec<Named>)> {
        let posterior = self.posterior(batch)?;
        let k = self.cfg.train_samples;
        let [nll, log_pz, log_q] = self.draws(batch, &posterior, k, rng)?;
        let bound = log_mean_exp(&log_weight(&nll, &log_pz, &log_q)?)?
            .mean_all()?
            .neg()?;
        let nll = nll.mean_all()?;
        let kl = gaussian_kl(&posterior.0, &posterior.1)?.mean_all()?;
        let terms = vec![
            (LOSS, (&nll + &kl)?.detach()),
            (self.objective, bound.detach()),
            (NLL, nll.detach()),
            (KL, kl.detach()),
        ];
        Ok((bound, terms))
    }
}

/// log w = log p(x|z) + log p(z) - log q(z|x) from the terms of [`Vae::draws`].
fn log_weight(nll: &Tensor, log_pz: &Tensor, log_q: &Tensor) -> Result<Tensor> {
    Ok(((nll.neg()? + log_pz)? - log_q)?)
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

    /// train_samples = 1: the ELBO with one draw and the analytic KL; k > 1: the k-sample
    /// bound, with `loss` (the same measure as `neg_elbo`), `nll` and `kl` still the ELBO's.
    fn train_step(&mut self, batch: &Split, rng: &mut Rng) -> Result<Vec<Named>> {
        if self.cfg.train_samples > 1 {
            let (bound, terms) = self.iwae_terms(batch, rng)?;
            self.net.step("vae", &bound)?;
            return Ok(terms);
        }
        let (nll, kl) = self.terms(batch, &self.posterior(batch)?, rng)?;
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
        let posterior = self.posterior(batch)?;
        let logits = self.decode(&posterior.0, Some(&batch.labels))?;
        let mut m = recon_metrics(&logits, &batch.images)?;
        let (nll, kl) = self.terms(batch, &posterior, rng)?;
        m.push((self.neg_elbo, (&nll + &kl)?));
        m.push((NLL, nll));
        m.push((KL, kl));
        Ok(m)
    }

    fn encode(&self, batch: &Split) -> Result<Tensor> {
        Ok(self.posterior(batch)?.0)
    }

    fn log_weights(&self, batch: &Split, k: usize, rng: &mut Rng) -> Result<Option<Tensor>> {
        let [nll, log_pz, log_q] = self.draws(batch, &self.posterior(batch)?, k, rng)?;
        Ok(Some(log_weight(&nll, &log_pz, &log_q)?))
    }

    /// Decoded N(0, I) draws; the CVAE's with the labels of `condition`, one per draw.
    fn sample(&self, n: usize, c: Option<&Tensor>, rng: &mut Rng) -> Result<Option<Tensor>> {
        let z = rng.normal((n, self.latent), &self.net.device())?;
        Ok(Some(candle_nn::ops::sigmoid(&self.decode(&z, c)?)?))
    }

    /// Normals only (reparameterisation).
    fn draws_one_kind(&self) -> bool {
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! The k-sample objective of a tiny VAE (6 pixels, tanh, latent 2) against the same bound
    //! computed here in plain f64 from the model's weights and the same draws. The CVAE's
    //! tests (crate::cvae) use the same arithmetic with the label appended.
    use super::*;
    use ae_core::optim::OptimizerConfig;
    use ae_core::rng::{Purpose, Streams};
    use candle_core::Device;
    use candle_nn::Module;
    use std::collections::BTreeMap;

    pub(crate) const N: usize = 3;
    const DIM: usize = 6;
    pub(crate) const LATENT: usize = 2;
    /// The classes of the tiny CVAE.
    pub(crate) const CLASSES: usize = 3;
    const LN_2PI: f64 = 1.837_877_066_409_345_5;

    fn tiny(cfg: VaeConfig) -> Vae {
        tiny_of(cfg, false)
    }

    /// The tiny VAE, or with `conditional` the tiny CVAE of [`CLASSES`] classes.
    pub(crate) fn tiny_of(cfg: VaeConfig, conditional: bool) -> Vae {
        let model = ModelConfig::from_value(
            serde_json::json!({"variant": "vae", "hidden": [5], "latent_dim": LATENT,
                "activation": "tanh"}),
            &["vae"],
        )
        .unwrap();
        let opt = OptimizerConfig::default();
        let ctx = BuildContext {
            device: &Device::Cpu,
            input_dim: DIM,
            image_shape: (1, 2, 3),
            classes: CLASSES,
            optimizer: &opt,
            streams: Streams::new(7),
        };
        Vae::new(&cfg, &model, &ctx, conditional).unwrap()
    }

    pub(crate) fn images() -> Tensor {
        let v: Vec<f32> = (0..N * DIM)
            .map(|i| ((i * 7 + 3) % 11) as f32 / 10.0)
            .collect();
        Tensor::from_vec(v, (N, DIM), &Device::Cpu).unwrap()
    }

    /// [`images`] with `labels`.
    pub(crate) fn batch(labels: &[u32]) -> Split {
        Split {
            images: images(),
            labels: Tensor::new(labels, &Device::Cpu).unwrap(),
        }
    }

    /// Every weight in f64, by name: (values, dims).
    pub(crate) type Params = BTreeMap<String, (Vec<f64>, Vec<usize>)>;

    pub(crate) fn params(vae: &Vae) -> Params {
        vae.net
            .vars(&["enc.", "dec."])
            .into_iter()
            .map(|(name, v)| {
                let t = v.as_tensor();
                let vals = t.flatten_all().unwrap().to_dtype(candle_core::DType::F64);
                (name, (vals.unwrap().to_vec1().unwrap(), t.dims().to_vec()))
            })
            .collect()
    }

    /// `prefix`.0, `prefix`.1, ...: y = W h + b, tanh between layers, none after the last.
    pub(crate) fn mlp(p: &Params, prefix: &str, x: &[f64]) -> Vec<f64> {
        let mut h = x.to_vec();
        let mut i = 0;
        while let Some((w, dims)) = p.get(&format!("{prefix}.{i}.weight")) {
            let b = &p[&format!("{prefix}.{i}.bias")].0;
            let (out, inp) = (dims[0], dims[1]);
            assert_eq!(inp, h.len());
            let y: Vec<f64> = (0..out)
                .map(|o| b[o] + (0..inp).map(|j| w[o * inp + j] * h[j]).sum::<f64>())
                .collect();
            i += 1;
            let last = !p.contains_key(&format!("{prefix}.{i}.weight"));
            h = if last {
                y
            } else {
                y.iter().map(|v| v.tanh()).collect()
            };
        }
        h
    }

    /// log w_ij = log p(x_i|z_ij) + log p(z_ij) - log q(z_ij|x_i), z_ij = mu_i + sigma_i eps_ij.
    fn hand_log_weights(
        p: &Params,
        cfg: &VaeConfig,
        x: &[Vec<f64>],
        eps: &[Vec<Vec<f64>>],
    ) -> Vec<Vec<f64>> {
        let unconditioned = vec![Vec::new(); x.len()];
        hand_log_weights_given(p, cfg, x, &unconditioned, eps)
    }

    /// [`hand_log_weights`] given the one-hot label `y_i` of each image, appended to the
    /// encoder's input and to the code (empty rows: the VAE).
    pub(crate) fn hand_log_weights_given(
        p: &Params,
        cfg: &VaeConfig,
        x: &[Vec<f64>],
        y: &[Vec<f64>],
        eps: &[Vec<Vec<f64>>],
    ) -> Vec<Vec<f64>> {
        x.iter()
            .zip(y)
            .zip(eps)
            .map(|((x, y), eps)| {
                let h = mlp(p, "enc", &[x.as_slice(), y].concat());
                let (mu, lv) = h.split_at(LATENT);
                eps.iter()
                    .map(|e| {
                        let z: Vec<f64> = (0..LATENT)
                            .map(|d| mu[d] + (0.5 * lv[d]).exp() * e[d])
                            .collect();
                        let l = mlp(p, "dec", &[z.as_slice(), y].concat());
                        let log_px: f64 = match cfg.likelihood {
                            Likelihood::Bernoulli => l
                                .iter()
                                .zip(x)
                                .map(|(&l, &t)| t * l - (l.max(0.0) + (-l.abs()).exp().ln_1p()))
                                .sum(),
                            Likelihood::Gaussian => {
                                let s = cfg.sigma;
                                l.iter()
                                    .zip(x)
                                    .map(|(&l, &t)| {
                                        let m = 1.0 / (1.0 + (-l).exp());
                                        -(m - t).powi(2) / (2.0 * s * s) - s.ln() - 0.5 * LN_2PI
                                    })
                                    .sum()
                            }
                        };
                        let log_pz: f64 = z.iter().map(|v| -0.5 * (v * v + LN_2PI)).sum();
                        let log_q: f64 = (0..LATENT)
                            .map(|d| -0.5 * ((z[d] - mu[d]).powi(2) / lv[d].exp() + lv[d] + LN_2PI))
                            .sum();
                        log_px + log_pz - log_q
                    })
                    .collect()
            })
            .collect()
    }

    /// -(1/n) sum_i log (1/k) sum_j exp(lw_ij), by the max shift.
    pub(crate) fn hand_bound(lw: &[Vec<f64>]) -> f64 {
        let per: Vec<f64> = lw
            .iter()
            .map(|w| {
                let m = w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                m + (w.iter().map(|v| (v - m).exp()).sum::<f64>() / w.len() as f64).ln()
            })
            .collect();
        -per.iter().sum::<f64>() / per.len() as f64
    }

    pub(crate) fn stream() -> Rng {
        Streams::new(11).stream(Purpose::Train, 0)
    }

    /// The normals `draws` takes first from [`stream`], as [n][k][latent] f64.
    pub(crate) fn eps(k: usize) -> Vec<Vec<Vec<f64>>> {
        let e = stream().normal((N, k, LATENT), &Device::Cpu).unwrap();
        e.to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_vec3()
            .unwrap()
    }

    pub(crate) fn rows(t: &Tensor) -> Vec<Vec<f64>> {
        t.to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_vec2()
            .unwrap()
    }

    pub(crate) fn term(terms: &[Named], m: Metric) -> f64 {
        let (_, v) = terms.iter().find(|(n, _)| *n == m).unwrap();
        v.to_scalar::<f32>().unwrap() as f64
    }

    pub(crate) fn cfg(k: usize, likelihood: Likelihood) -> VaeConfig {
        VaeConfig {
            train_samples: k,
            likelihood,
            sigma: 0.3,
            ..Default::default()
        }
    }

    #[test]
    fn the_k_sample_loss_is_the_bound_of_its_log_weights_by_hand() {
        let x = images();
        for likelihood in [Likelihood::Bernoulli, Likelihood::Gaussian] {
            let k = 5;
            let cfg = cfg(k, likelihood);
            let mut vae = tiny(cfg.clone());
            let p = params(&vae);
            let want_lw = hand_log_weights(&p, &cfg, &rows(&x), &eps(k));
            let want = hand_bound(&want_lw);
            // The log-weights read back, from the same draws.
            let batch = Split {
                images: x.clone(),
                labels: Tensor::zeros(N, candle_core::DType::U8, &Device::Cpu).unwrap(),
            };
            let lw = rows(&vae.log_weights(&batch, k, &mut stream()).unwrap().unwrap());
            for (got, want) in lw.iter().flatten().zip(want_lw.iter().flatten()) {
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{likelihood:?}: log-weight {got} vs {want}"
                );
            }
            let terms = vae.train_step(&batch, &mut stream()).unwrap();
            let got = term(&terms, iwae_loss(k));
            assert_eq!(terms[1].0.name, "iwae5_loss");
            assert!(
                (got - want).abs() <= 1e-5 * want.abs(),
                "{likelihood:?}: loss {got} vs {want} by hand"
            );
            // log mean exp >= mean: the bound is below the average of -log w over the draws.
            let mean_neg_lw = -want_lw.iter().flatten().sum::<f64>() / (N * k) as f64;
            assert!(want <= mean_neg_lw, "{want} vs {mean_neg_lw}");
            // The step moved the weights.
            assert_ne!(params(&vae), p);
        }
    }

    /// d loss / d theta by candle against central differences of the f64 bound with the draws
    /// held fixed, for weights of every layer (both heads of the encoder).
    #[test]
    fn the_gradient_of_the_k_sample_loss_matches_finite_differences() {
        let (k, b) = (4, batch(&[0; N]));
        for likelihood in [Likelihood::Bernoulli, Likelihood::Gaussian] {
            let cfg = cfg(k, likelihood);
            let vae = tiny(cfg.clone());
            let p = params(&vae);
            let (xs, eps) = (rows(&b.images), eps(k));
            let (bound, _) = vae.iwae_terms(&b, &mut stream()).unwrap();
            let grads = bound.backward().unwrap();
            let vars: BTreeMap<String, candle_core::Var> =
                vae.net.vars(&["enc.", "dec."]).into_iter().collect();
            let mut checked = 0;
            for (name, (vals, _)) in &p {
                let g = grads.get(vars[name].as_tensor()).unwrap();
                let g: Vec<f64> = g
                    .flatten_all()
                    .unwrap()
                    .to_dtype(candle_core::DType::F64)
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let scale = g.iter().fold(0f64, |a, v| a.max(v.abs()));
                // Every 3rd entry of each tensor, and its last.
                for i in (0..vals.len()).step_by(3).chain([vals.len() - 1]) {
                    let h = 1e-5;
                    let at = |d: f64| {
                        let mut q = p.clone();
                        q.get_mut(name).unwrap().0[i] += d;
                        hand_bound(&hand_log_weights(&q, &cfg, &xs, &eps))
                    };
                    let fd = (at(h) - at(-h)) / (2.0 * h);
                    assert!(
                        (g[i] - fd).abs() <= 1e-4 * scale.max(1e-2),
                        "{likelihood:?} {name}[{i}]: candle {} vs differences {fd} (scale {scale})",
                        g[i]
                    );
                    checked += 1;
                }
            }
            assert!(checked > 20, "{checked}");
        }
    }

    /// The gradient of log (1/k) sum_j w_j is sum_j w~_j grad log w_j: the loss's gradient
    /// equals that of -(1/n) sum_ij w~_ij log w_ij with the normalised weights held constant.
    #[test]
    fn the_gradient_is_the_normalised_weight_average() {
        let (k, b) = (6, batch(&[0; N]));
        let vae = tiny(cfg(k, Likelihood::Bernoulli));
        let (bound, _) = vae.iwae_terms(&b, &mut stream()).unwrap();
        let lw = vae.log_weights(&b, k, &mut stream()).unwrap().unwrap();
        let w = candle_nn::ops::softmax_last_dim(&lw.detach()).unwrap();
        let surrogate = ((lw * w).unwrap().sum_all().unwrap() * (-1.0 / N as f64)).unwrap();
        let (a, b) = (bound.backward().unwrap(), surrogate.backward().unwrap());
        for (name, v) in vae.net.vars(&["enc.", "dec."]) {
            let (ga, gb) = (a.get(v.as_tensor()).unwrap(), b.get(v.as_tensor()).unwrap());
            let scale = gb
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let diff = (ga - gb).unwrap().abs().unwrap().max_all().unwrap();
            let diff = diff.to_scalar::<f32>().unwrap();
            assert!(
                diff <= 1e-5 * scale.max(1e-3),
                "{name}: {diff} (scale {scale})"
            );
        }
    }

    /// train_samples: 1 is the ELBO as before: one draw, the analytic KL, bit for bit.
    #[test]
    fn one_sample_is_the_elbo_bit_for_bit() {
        let x = images();
        let batch = Split {
            images: x.clone(),
            labels: Tensor::zeros(N, candle_core::DType::U8, &Device::Cpu).unwrap(),
        };
        let mut vae = tiny(cfg(1, Likelihood::Bernoulli));
        let (mu, logvar) = vae.posterior(&batch).unwrap();
        let e = stream().normal(mu.shape(), &Device::Cpu).unwrap();
        let z = (&mu + ((&logvar * 0.5).unwrap().exp().unwrap() * e).unwrap()).unwrap();
        let logits = vae.net.decoder.forward(&z).unwrap();
        let nll = ae_core::losses::bce_with_logits(&logits, &x)
            .unwrap()
            .mean_all()
            .unwrap();
        let kl = gaussian_kl(&mu, &logvar).unwrap().mean_all().unwrap();
        let want = (&nll + &kl).unwrap().to_scalar::<f32>().unwrap();
        let terms = vae.train_step(&batch, &mut stream()).unwrap();
        let names: Vec<&str> = terms.iter().map(|(m, _)| m.name).collect();
        assert_eq!(names, ["loss", "nll", "kl"]);
        assert_eq!(terms[0].1.to_scalar::<f32>().unwrap(), want);
    }

    #[test]
    fn train_samples_is_checked() {
        let model =
            ModelConfig::from_value(serde_json::json!({"variant": "vae"}), &["vae"]).unwrap();
        let err = |cfg: VaeConfig| cfg.validate(&model).unwrap_err().to_string();
        assert!(err(cfg(0, Likelihood::Bernoulli)).contains("model.train_samples"));
        let beta = VaeConfig {
            kl_weight: 0.5,
            ..cfg(5, Likelihood::Bernoulli)
        };
        assert!(err(beta).contains("model.kl_weight"));
        let warm = VaeConfig {
            warmup_epochs: 3,
            ..cfg(5, Likelihood::Bernoulli)
        };
        assert!(err(warm).contains("model.warmup_epochs"));
        // Both are fine with one sample, and k > 1 with the defaults.
        let ok = VaeConfig {
            kl_weight: 0.5,
            warmup_epochs: 3,
            ..cfg(1, Likelihood::Bernoulli)
        };
        ok.validate(&model).unwrap();
        cfg(50, Likelihood::Bernoulli).validate(&model).unwrap();
        assert_eq!(iwae_loss(50).name, "iwae50_loss");
        assert!(std::ptr::eq(iwae_loss(50).name, iwae_loss(50).name));
    }
}
