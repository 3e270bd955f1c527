//! Conditional VAE (Sohn et al. 2015) in its common simplified form: the one-hot label is
//! appended to the encoder's input and to the code, and the prior is N(0, I) whatever the
//! label. loss = -log p(x|z, y) + kl_weight * KL(q(z|x, y) || N(0, I)), the negative ELBO of
//! log p(x|y) (or its k-sample bound with `train_samples: k > 1`): the VAE's objective with
//! each term given the label, so it is the VAE (crate::vae) on a conditional backbone, with
//! the VAE's keys. Its samples are decoded N(0, I) draws with the label asked for; its bounds
//! are named as bounds on -log p(x|y) (`neg_elbo_given_label`, and the runner's
//! `iwae<k>_nll_given_label`), since they are not comparable with the VAE's on -log p(x).

use crate::backbone::BuildContext;
use crate::config::ModelConfig;
use crate::seam::{Autoencoder, VariantConfig};
use crate::vae::{Vae, VaeConfig};
use ae_core::ConfigError;
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// The VAE's keys, read and checked as the VAE reads them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CvaeConfig(pub VaeConfig);

impl VariantConfig for CvaeConfig {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        self.0.validate(model)
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Ok(Box::new(Vae::new(&self.0, model, ctx, true)?))
    }
}

#[cfg(test)]
mod tests {
    //! The tiny CVAE of crate::vae's tests (6 pixels, 3 classes, latent 2): its losses, bound
    //! and samples against the same sums in f64 from its weights, the labels' one-hot rows
    //! appended to the encoder's input and to the code.
    use crate::seam::Autoencoder;
    use crate::vae::tests::*;
    use crate::vae::{iwae_loss, Likelihood, NEG_ELBO_GIVEN_LABEL};
    use ae_core::rng::{Purpose, Streams};
    use candle_core::{DType, Device, Tensor};

    const LABELS: [u32; N] = [2, 0, 1];

    fn one_hots(labels: &[u32]) -> Vec<Vec<f64>> {
        labels
            .iter()
            .map(|&l| {
                (0..CLASSES)
                    .map(|c| f64::from(u8::from(c == l as usize)))
                    .collect()
            })
            .collect()
    }

    fn softplus(l: f64) -> f64 {
        l.max(0.0) + (-l.abs()).exp().ln_1p()
    }

    /// loss = mean over images of BCE(x, dec([z, y])) + KL(N(mu, e^lv) || N(0, I)), with
    /// (mu, lv) = enc([x, y]) and z = mu + e^(lv/2) eps: the loss the step reports, and the
    /// per-image `neg_elbo_given_label` of the same draws.
    #[test]
    fn the_loss_is_the_negative_conditional_elbo_by_hand() {
        let b = batch(&LABELS);
        let mut cvae = tiny_of(cfg(1, Likelihood::Bernoulli), true);
        assert!(cvae.conditional());
        let p = params(&cvae);
        let (x, y, eps) = (rows(&b.images), one_hots(&LABELS), eps(1));
        let per_image: Vec<f64> = (0..N)
            .map(|i| {
                let h = mlp(&p, "enc", &[x[i].as_slice(), &y[i]].concat());
                let (mu, lv) = h.split_at(LATENT);
                let z: Vec<f64> = (0..LATENT)
                    .map(|d| mu[d] + (0.5 * lv[d]).exp() * eps[i][0][d])
                    .collect();
                let l = mlp(&p, "dec", &[z.as_slice(), &y[i]].concat());
                let nll: f64 = l.iter().zip(&x[i]).map(|(l, t)| softplus(*l) - t * l).sum();
                let kl: f64 = (0..LATENT)
                    .map(|d| -0.5 * (1.0 + lv[d] - mu[d] * mu[d] - lv[d].exp()))
                    .sum();
                nll + kl
            })
            .collect();
        let evaluated = cvae.evaluate(&b, &mut stream()).unwrap();
        let names: Vec<&str> = evaluated.iter().map(|(m, _)| m.name).collect();
        assert_eq!(
            names,
            ["mse", "psnr", "bce", "neg_elbo_given_label", "nll", "kl"]
        );
        let (_, got) = evaluated
            .iter()
            .find(|(m, _)| *m == NEG_ELBO_GIVEN_LABEL)
            .unwrap();
        for (got, want) in rows(&got.unsqueeze(1).unwrap()).iter().zip(&per_image) {
            assert!(
                (got[0] - want).abs() <= 1e-5 * want.abs(),
                "{got:?} vs {want}"
            );
        }
        let want = per_image.iter().sum::<f64>() / N as f64;
        let got = term(
            &cvae.train_step(&b, &mut stream()).unwrap(),
            ae_core::metrics::LOSS,
        );
        assert!(
            (got - want).abs() <= 1e-5 * want,
            "loss {got} vs {want} by hand"
        );
        assert_ne!(params(&cvae), p, "the step moved the weights");
    }

    /// The k-sample bound on log p(x|y): the log-weights and the training loss by hand.
    #[test]
    fn the_k_sample_bound_is_given_the_label_by_hand() {
        let (k, b) = (5, batch(&LABELS));
        let cfg = cfg(k, Likelihood::Gaussian);
        let mut cvae = tiny_of(cfg.clone(), true);
        let p = params(&cvae);
        let want_lw =
            hand_log_weights_given(&p, &cfg, &rows(&b.images), &one_hots(&LABELS), &eps(k));
        let lw = rows(&cvae.log_weights(&b, k, &mut stream()).unwrap().unwrap());
        for (got, want) in lw.iter().flatten().zip(want_lw.iter().flatten()) {
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
        let want = hand_bound(&want_lw);
        let got = term(&cvae.train_step(&b, &mut stream()).unwrap(), iwae_loss(k));
        assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} vs {want}");
    }

    /// Samples are sigmoid(dec([z, y])) of N(0, I) draws z with the label asked for; without
    /// labels the CVAE refuses rather than guess one.
    #[test]
    fn samples_decode_prior_draws_with_the_label_asked_for() {
        let cvae = tiny_of(cfg(1, Likelihood::Bernoulli), true);
        let p = params(&cvae);
        let labels = Tensor::new(&LABELS, &Device::Cpu).unwrap();
        let rng = || Streams::new(2).stream(Purpose::Sample, 0);
        let s = cvae.sample(N, Some(&labels), &mut rng()).unwrap().unwrap();
        let z = rows(&rng().normal((N, LATENT), &Device::Cpu).unwrap());
        for ((got, z), y) in rows(&s).iter().zip(&z).zip(one_hots(&LABELS)) {
            let l = mlp(&p, "dec", &[z.as_slice(), &y].concat());
            for (g, l) in got.iter().zip(l) {
                let want = 1.0 / (1.0 + (-l).exp());
                assert!((g - want).abs() < 1e-6, "{g} vs {want}");
            }
        }
        let err = cvae.sample(N, None, &mut rng()).unwrap_err().to_string();
        assert!(err.contains("with its label"), "{err}");
        // Any integer labels: u8 ones give the same images.
        let u8s = labels.to_dtype(DType::U8).unwrap();
        let again = cvae.sample(N, Some(&u8s), &mut rng()).unwrap().unwrap();
        assert_eq!(rows(&again), rows(&s));
    }
}
