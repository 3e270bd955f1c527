//! Losses, each per image (summed over pixels or latent dims, one value per row) or per pixel,
//! computed from logits in numerically stable forms.

use crate::cpu::{f32_slice, parallel};
use crate::fastmath;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

/// log(1 + exp(x)) without overflow: relu(x) + log(1 + exp(-|x|)).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// Bernoulli negative log-likelihood of `target` (in [0, 1]) under `sigmoid(logits)`, summed
/// over pixels: one value per image, in nats. Equals max(l, 0) - l t + log(1 + exp(-|l|)).
/// On the CPU in f32, with a target that needs no gradient (data), it is one pass forward
/// and one backward ([`BceWithLogits`]) instead of a dozen element-wise ops each way.
pub fn bce_with_logits(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    bce_with_logits_each(logits, target, 1)
}

/// [`bce_with_logits`] of each of `k` consecutive rows of `logits` against one row of
/// `target` ([n k, d] logits, [n, d] targets, [n k] sums): the k decodings of each image in
/// the IWAE objective and bound, without k copies of the image.
pub fn bce_with_logits_each(logits: &Tensor, target: &Tensor, k: usize) -> Result<Tensor> {
    let fits = logits.rank() == 2
        && target.rank() == 2
        && logits.dim(0)? == target.dim(0)? * k
        && logits.dim(1)? == target.dim(1)?;
    let fused = logits.device().is_cpu()
        && [logits.dtype(), target.dtype()] == [DType::F32; 2]
        && fits
        && !target.track_op();
    if fused {
        logits
            .contiguous()?
            .apply_op2(&target.contiguous()?, BceWithLogits { k })
    } else {
        bce_with_logits_ops(logits, &repeat_rows(target, k)?)
    }
}

/// Each row of an [n, d] tensor `k` times in a row, as [n k, d].
pub fn repeat_rows(x: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(x.clone());
    }
    let (n, d) = x.dims2()?;
    x.unsqueeze(1)?
        .broadcast_as((n, k, d))?
        .contiguous()?
        .reshape((n * k, d))
}

/// The same loss from candle's element-wise ops, for every other device and dtype.
fn bce_with_logits_ops(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    (softplus(logits)? - (logits * target)?)?.sum(D::Minus1)
}

/// [`bce_row_in`], in its AVX2 build where the CPU has one.
fn bce_row(l: &[f32], t: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if fastmath::avx2() {
        #[target_feature(enable = "avx2")]
        fn wide(l: &[f32], t: &[f32]) -> f32 {
            bce_row_in(l, t)
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { wide(l, t) };
    }
    bce_row_in(l, t)
}

/// One image's BCE sum, in 64 running sums: a loop over fixed-size blocks, which the
/// compiler turns into SIMD where 8 sums in a chunked loop stayed scalar.
#[inline(always)]
fn bce_row_in(l: &[f32], t: &[f32]) -> f32 {
    const W: usize = 64;
    let term = |l: f32, t: f32| l.max(0.0) - l * t + fastmath::ln_1p_exp_neg(l.abs());
    let mut sums = [0f32; W];
    let (mut lc, mut tc) = (l.chunks_exact(W), t.chunks_exact(W));
    for (l, t) in (&mut lc).zip(&mut tc) {
        for ((s, &l), &t) in sums.iter_mut().zip(l).zip(t) {
            *s += term(l, t);
        }
    }
    let rest = lc.remainder().iter().zip(tc.remainder());
    sums.iter().sum::<f32>() + rest.map(|(&l, &t)| term(l, t)).sum::<f32>()
}

/// [n k, d] logits and [n, d] targets to [n k] sums; the gradient is (sigmoid(l) - t) per
/// pixel. Row r of the logits is scored against row r / k of the targets.
struct BceWithLogits {
    k: usize,
}

impl CustomOp2 for BceWithLogits {
    fn name(&self) -> &'static str {
        "bce-with-logits"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, d) = ll.shape().dims2()?;
        let op = self.name();
        let (l, t) = (f32_slice(ls, ll, op)?, f32_slice(ts, tl, op)?);
        let row = |(r, l): (usize, &[f32])| bce_row(l, &t[r / self.k * d..][..d]);
        let sums = if parallel(l.len()) {
            l.par_chunks_exact(d).enumerate().map(row).collect()
        } else {
            l.chunks_exact(d).enumerate().map(row).collect()
        };
        Ok((CpuStorage::F32(sums), Shape::from(n)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        target: &Tensor,
        _sums: &Tensor,
        dsums: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = BceGrad { k: self.k };
        let dl = logits.apply_op3_no_bwd(target, &dsums.contiguous()?, &grad)?;
        Ok((Some(dl), None))
    }
}

/// d(sum)/d(logit) times the incoming gradient of each row's sum: (sigmoid(l) - t) * g, with
/// [`BceWithLogits`]'s rows.
struct BceGrad {
    k: usize,
}

impl CustomOp3 for BceGrad {
    fn name(&self) -> &'static str {
        "bce-with-logits-grad"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, d) = ll.shape().dims2()?;
        let op = self.name();
        let (l, t, g) = (
            f32_slice(ls, ll, op)?,
            f32_slice(ts, tl, op)?,
            f32_slice(gs, gl, op)?,
        );
        let mut out = Vec::with_capacity(l.len());
        for (r, (l, &g)) in l.chunks_exact(d).zip(g).enumerate() {
            let t = &t[r / self.k * d..][..d];
            out.extend(
                l.iter()
                    .zip(t)
                    .map(|(&l, &t)| (1.0 / (1.0 + (-l).exp()) - t) * g),
            );
        }
        Ok((CpuStorage::F32(out), ll.shape().clone()))
    }
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

    /// The fused loss against candle's ops in value, and its gradient against the hand
    /// formula (sigmoid(l) - t) * dy in f64, with logits up to +-40 and a strided input.
    #[test]
    fn fused_bce_matches_ops_and_hand_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let lv: Vec<f32> = (0..24)
            .map(|i| ((i * 7 % 24) as f32 - 11.5) * 3.5)
            .collect();
        let tv: Vec<f32> = (0..24).map(|i| (i % 5) as f32 / 4.0).collect();
        let l = candle_core::Var::from_vec(lv.clone(), (6, 4), &dev)?;
        let t = Tensor::from_vec(tv.clone(), (4, 6), &dev)?.t()?;
        let tc = t.contiguous()?;
        let fused = bce_with_logits(&l, &t)?;
        let ops = bce_with_logits_ops(&l, &t)?;
        for (a, b) in fused.to_vec1::<f32>()?.iter().zip(ops.to_vec1::<f32>()?) {
            close(*a, b as f64, 1e-6);
        }
        // Row weights 1..6 make each row's incoming gradient different.
        let w = Tensor::arange(1f32, 7., &dev)?;
        let grads = (fused * &w)?.sum_all()?.backward()?;
        let got = grads.get(&l).unwrap().flatten_all()?.to_vec1::<f32>()?;
        let tcv = tc.flatten_all()?.to_vec1::<f32>()?;
        for i in 0..24 {
            let (x, y) = (lv[i] as f64, tcv[i] as f64);
            let want = (1.0 / (1.0 + (-x).exp()) - y) * (i / 4 + 1) as f64;
            close(got[i], want, 1e-6);
        }
        Ok(())
    }

    /// k decodings per image against the image itself: the same sums and gradients as the
    /// image repeated k times (bit for bit: one kernel, one order), and the ops' values, on a
    /// size that takes the thread pool where it has more than one thread.
    #[test]
    fn each_of_k_rows_scores_against_its_image() -> Result<()> {
        let dev = Device::Cpu;
        let (n, k, d) = (3, 100, 300);
        let t = Tensor::rand(0f32, 1., (n, d), &dev)?;
        let l = candle_core::Var::from_tensor(&(Tensor::randn(0f32, 1., (n * k, d), &dev)? * 4.)?)?;
        let rows = repeat_rows(&t, k)?;
        let each = bce_with_logits_each(&l, &t, k)?;
        let once = bce_with_logits(&l, &rows)?;
        assert_eq!(each.to_vec1::<f32>()?, once.to_vec1::<f32>()?);
        let ops = bce_with_logits_ops(&l, &rows)?.to_vec1::<f32>()?;
        for (a, b) in each.to_vec1::<f32>()?.iter().zip(ops) {
            close(*a, b as f64, 1e-6);
        }
        assert_eq!(
            rows.get(k + 1)?.to_vec1::<f32>()?,
            t.get(1)?.to_vec1::<f32>()?
        );
        let w = Tensor::arange(0f32, (n * k) as f32, &dev)?;
        let grad = |y: Tensor| -> Result<Vec<f32>> {
            let g = (y * &w)?.sum_all()?.backward()?;
            g.get(&l).unwrap().flatten_all()?.to_vec1::<f32>()
        };
        assert_eq!(grad(each)?, grad(once)?);
        Ok(())
    }

    /// The AVX2 build of a row's sum (where this CPU has it) gives the baseline's bits.
    #[test]
    fn a_rows_sum_is_the_same_in_either_build() -> Result<()> {
        let dev = Device::Cpu;
        let l = (Tensor::randn(0f32, 1., 3 * 785, &dev)? * 6.)?.to_vec1::<f32>()?;
        let t = Tensor::rand(0f32, 1., 3 * 785, &dev)?.to_vec1::<f32>()?;
        for (l, t) in l.chunks(785).zip(t.chunks(785)) {
            assert_eq!(bce_row(l, t).to_bits(), bce_row_in(l, t).to_bits());
        }
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
