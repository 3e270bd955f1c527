//! Losses, each per image (summed over pixels or latent dims, one value per row) or per pixel,
//! computed from logits in numerically stable forms.

use candle_core::{Result, Tensor, D};

/// log(1 + exp(x)) without overflow: relu(x) + log(1 + exp(-|x|)).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// Bernoulli negative log-likelihood of `target` (in [0, 1]) under `sigmoid(logits)`, summed
/// over pixels: one value per image, in nats. Equals max(l, 0) - l t + log(1 + exp(-|l|)).
pub fn bce_with_logits(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    (softplus(logits)? - (logits * target)?)?.sum(D::Minus1)
}

/// Mean squared error of each image, averaged over its pixels: one value per image.
pub fn mse_per_image(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    (pred - target)?.sqr()?.mean(D::Minus1)
}

/// Gaussian negative log-likelihood with a fixed sigma, summed over pixels (nats per image).
pub fn gaussian_nll(mean: &Tensor, target: &Tensor, sigma: f64) -> Result<Tensor> {
    let d = mean.dim(D::Minus1)? as f64;
    let norm = d * (sigma.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln());
    ((mean - target)?.sqr()?.sum(D::Minus1)? * (0.5 / (sigma * sigma)))? + norm
}

/// KL(N(mu, exp(logvar)) || N(0, I)) per image: -1/2 sum(1 + logvar - mu^2 - exp(logvar)).
pub fn gaussian_kl(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let inner = ((logvar + 1.0)? - mu.sqr()?)? - logvar.exp()?;
    inner?.sum(D::Minus1)? * -0.5
}

/// The discriminator's loss: real (prior) logits toward 1, fake (code) logits toward 0; mean
/// over both sets of the binary cross-entropy.
pub fn discriminator_loss(real_logits: &Tensor, fake_logits: &Tensor) -> Result<Tensor> {
    // BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l).
    (softplus(&real_logits.neg()?)?.mean_all()? + softplus(fake_logits)?.mean_all()?)? * 0.5
}

/// The generator's (encoder's) loss: make the discriminator call the codes real.
pub fn generator_loss(fake_logits: &Tensor) -> Result<Tensor> {
    softplus(&fake_logits.neg()?)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn close(a: f32, b: f64, tol: f64) {
        assert!(
            ((a as f64) - b).abs() <= tol * (1.0 + b.abs()),
            "{a} vs {b}"
        );
    }

    #[test]
    fn bce_matches_hand_values_and_survives_large_logits() -> Result<()> {
        let dev = Device::Cpu;
        // logits 0, 2, -1 with targets 1, 0, 0.5.
        let l = Tensor::new(&[[0f32, 2., -1.]], &dev)?;
        let t = Tensor::new(&[[1f32, 0., 0.5]], &dev)?;
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let want = -(sig(0.0).ln())
            - (1.0 - sig(2.0)).ln()
            - 0.5 * sig(-1.0).ln()
            - 0.5 * (1.0 - sig(-1.0)).ln();
        close(bce_with_logits(&l, &t)?.to_vec1::<f32>()?[0], want, 1e-6);
        // sigmoid-then-log overflows here; the stable form gives 200 and 0.
        let big = Tensor::new(&[[200f32], [-200.]], &dev)?;
        let tgt = Tensor::new(&[[0f32], [0.]], &dev)?;
        let v = bce_with_logits(&big, &tgt)?.to_vec1::<f32>()?;
        close(v[0], 200.0, 1e-6);
        close(v[1], 0.0, 1e-6);
        Ok(())
    }

    #[test]
    fn kl_of_known_gaussians() -> Result<()> {
        let dev = Device::Cpu;
        // mu = (1, 0), logvar = (0, ln 2): 1/2 (1) + 1/2 (2 - 1 - ln 2).
        let mu = Tensor::new(&[[1f32, 0.], [0., 0.]], &dev)?;
        let lv = Tensor::new(&[[0f32, 2f32.ln()], [0., 0.]], &dev)?;
        let kl = gaussian_kl(&mu, &lv)?.to_vec1::<f32>()?;
        close(kl[0], 0.5 + 0.5 * (1.0 - 2f64.ln()), 1e-6);
        close(kl[1], 0.0, 1e-7);
        Ok(())
    }

    #[test]
    fn gaussian_nll_matches_the_density() -> Result<()> {
        let dev = Device::Cpu;
        let m = Tensor::new(&[[0.5f32, 0.2]], &dev)?;
        let x = Tensor::new(&[[0.7f32, 0.2]], &dev)?;
        let s: f64 = 0.1;
        let logpdf =
            |d: f64| -0.5 * (d / s).powi(2) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
        let want = -(logpdf(0.2) + logpdf(0.0));
        close(gaussian_nll(&m, &x, s)?.to_vec1::<f32>()?[0], want, 1e-5);
        Ok(())
    }

    #[test]
    fn mse_and_adversarial_losses_by_hand() -> Result<()> {
        let dev = Device::Cpu;
        let p = Tensor::new(&[[0.5f32, 1.0, 0.0, 0.25]], &dev)?;
        let t = Tensor::new(&[[0f32, 1.0, 1.0, 0.25]], &dev)?;
        close(
            mse_per_image(&p, &t)?.to_vec1::<f32>()?[0],
            (0.25 + 1.0) / 4.0,
            1e-7,
        );
        let real = Tensor::new(&[[0f32], [3.]], &dev)?;
        let fake = Tensor::new(&[[-1f32], [0.]], &dev)?;
        let sp = |x: f64| (1.0 + x.exp()).ln();
        let want_d = 0.5 * ((sp(0.0) + sp(-3.0)) / 2.0 + (sp(-1.0) + sp(0.0)) / 2.0);
        close(
            discriminator_loss(&real, &fake)?.to_scalar::<f32>()?,
            want_d,
            1e-6,
        );
        close(
            generator_loss(&fake)?.to_scalar::<f32>()?,
            (sp(1.0) + sp(0.0)) / 2.0,
            1e-6,
        );
        Ok(())
    }
}
