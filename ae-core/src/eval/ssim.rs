//! Structural similarity, as skimage computes it, with tensor ops so it runs on the device.

use candle_core::{bail, DType, Device, Result, Tensor};

/// The gaussian window's sigma, in pixels.
const SIGMA: f64 = 1.5;
/// The window's radius: scipy truncates skimage's gaussian at 3.5 sigma, int(3.5 * 1.5 + 0.5) = 5.
const RADIUS: usize = 5;
const WINDOW: usize = 2 * RADIUS + 1;
/// (K1 L)^2 and (K2 L)^2 with L = 1: keep the ratios finite on flat, dark windows.
const C1: f64 = 0.01 * 0.01;
const C2: f64 = 0.03 * 0.03;

/// The 1-D gaussian weights, normalised to sum 1; the 2-D window is their outer product.
fn gaussian_weights() -> Vec<f64> {
    let w: Vec<f64> = (0..WINDOW)
        .map(|i| {
            let x = i as f64 - RADIUS as f64;
            (-x * x / (2.0 * SIGMA * SIGMA)).exp()
        })
        .collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|v| v / total).collect()
}

/// The gaussian filter over `len` pixels, valid windows only, as a [len, len - 2 RADIUS]
/// matrix: column j holds the weights at rows j ..= j + 2 RADIUS. Filtering is then one matmul
/// (with candle's CPU conv2d, 1x11 then 11x1, 1000 28x28 images took 2 s, against 0.1 s).
fn band(len: usize, dev: &Device) -> Result<Tensor> {
    let out = len - 2 * RADIUS;
    let mut m = vec![0f64; len * out];
    for (t, g) in gaussian_weights().into_iter().enumerate() {
        for j in 0..out {
            m[(j + t) * out + j] = g;
        }
    }
    Tensor::from_vec(m, (len, out), dev)
}

/// SSIM (Wang et al. 2004) of each image pair: gaussian window 11x11, sigma 1.5, K1 0.01,
/// K2 0.03, data range L = 1, computed over valid windows only (no padding) and averaged per image,
/// as skimage's structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1).
/// `pred`, `target`: [n, c*h*w] f32 tensors (rows of pixels, as the rest of aelab stores images), `shape` = (c, h, w); for c > 1 the per-channel SSIMs are averaged.
/// Returns an [n] tensor on the inputs' device.
pub fn ssim_per_image(
    pred: &Tensor,
    target: &Tensor,
    shape: (usize, usize, usize),
) -> Result<Tensor> {
    let (c, h, w) = shape;
    if h < WINDOW || w < WINDOW {
        bail!("ssim needs images of at least {WINDOW}x{WINDOW} pixels, got {h}x{w}");
    }
    let (n, d) = pred.dims2()?;
    if d != c * h * w || target.dims() != pred.dims() {
        bail!(
            "ssim of {:?} and {:?} images as {shape:?}",
            pred.dims(),
            target.dims()
        );
    }
    // f64: E[x^2] - E[x]^2 in f32 is off by ~1e-7, a relative 1e-4 of C2 on flat windows.
    let x = pred.to_dtype(DType::F64)?.reshape((n * c, h, w))?;
    let y = target.to_dtype(DType::F64)?.reshape((n * c, h, w))?;
    // One pass of the window over all five maps whose local means SSIM needs: along rows, then
    // (transposed, as only the mean over the windows is kept) along columns.
    let maps = Tensor::cat(&[&x, &y, &x.sqr()?, &y.sqr()?, &(&x * &y)?], 0)?;
    let (h_out, w_out) = (h - 2 * RADIUS, w - 2 * RADIUS);
    let means = maps
        .reshape((5 * n * c * h, w))?
        .matmul(&band(w, pred.device())?)?
        .reshape((5 * n * c, h, w_out))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((5 * n * c * w_out, h))?
        .matmul(&band(h, pred.device())?)?
        .reshape((5, n, c * w_out * h_out))?;
    let [mx, my, mxx, myy, mxy] = [0, 1, 2, 3, 4].map(|i| means.get(i));
    let (mx, my, mxx, myy, mxy) = (mx?, my?, mxx?, myy?, mxy?);
    // Population (co)variances, E[xy] - E[x] E[y], as use_sample_covariance=False.
    let (mx_my, mx2, my2) = ((&mx * &my)?, mx.sqr()?, my.sqr()?);
    let (vx, vy, vxy) = ((mxx - &mx2)?, (myy - &my2)?, (mxy - &mx_my)?);
    let num = (((mx_my * 2.0)? + C1)? * ((vxy * 2.0)? + C2)?)?;
    let den = (((mx2 + my2)? + C1)? * ((vx + vy)? + C2)?)?;
    (num / den)?.mean(1)?.to_dtype(pred.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Streams};

    /// SSIM by the definition, in f64: for every valid window, the weighted means, variances and
    /// covariance from a 2-D gaussian (not the separable one) with two-pass variances.
    fn naive_ssim(x: &[f32], y: &[f32], (c, h, w): (usize, usize, usize)) -> f64 {
        let r = RADIUS as isize;
        let mut win = Vec::new();
        for a in -r..=r {
            for b in -r..=r {
                win.push((
                    a,
                    b,
                    (-((a * a + b * b) as f64) / (2.0 * SIGMA * SIGMA)).exp(),
                ));
            }
        }
        let total: f64 = win.iter().map(|t| t.2).sum();
        let (mut sum, mut count) = (0.0, 0.0);
        for ch in 0..c {
            let px = |img: &[f32], i: isize, j: isize| {
                img[ch * h * w + i as usize * w + j as usize] as f64
            };
            for i in r..h as isize - r {
                for j in r..w as isize - r {
                    let mean = |img: &[f32]| {
                        win.iter()
                            .map(|&(a, b, g)| g * px(img, i + a, j + b))
                            .sum::<f64>()
                            / total
                    };
                    let (mx, my) = (mean(x), mean(y));
                    let (mut vx, mut vy, mut vxy) = (0.0, 0.0, 0.0);
                    for &(a, b, g) in &win {
                        let (dx, dy) = (px(x, i + a, j + b) - mx, px(y, i + a, j + b) - my);
                        vx += g * dx * dx / total;
                        vy += g * dy * dy / total;
                        vxy += g * dx * dy / total;
                    }
                    sum += (2.0 * mx * my + C1) * (2.0 * vxy + C2)
                        / ((mx * mx + my * my + C1) * (vx + vy + C2));
                    count += 1.0;
                }
            }
        }
        sum / count
    }

    /// `n` random image pairs: uniform targets and noisy predictions (so SSIMs spread out).
    fn random_pairs(n: usize, shape: (usize, usize, usize), seed: u64) -> Result<(Tensor, Tensor)> {
        let d = shape.0 * shape.1 * shape.2;
        let mut rng = Streams::new(seed).stream(Purpose::Eval, 0);
        let target = rng.uniform((n, d), 0.0, 1.0, &Device::Cpu)?;
        let noise = rng.normal((n, d), &Device::Cpu)?;
        let scale = rng.uniform((n, 1), 0.0, 0.5, &Device::Cpu)?;
        let pred = (&target + noise.broadcast_mul(&scale)?)?.clamp(0f32, 1f32)?;
        Ok((pred, target))
    }

    #[test]
    fn matches_the_naive_definition() -> Result<()> {
        for (shape, seed) in [((1, 28, 28), 1), ((1, 16, 20), 2), ((2, 16, 20), 3)] {
            let (p, t) = random_pairs(4, shape, seed)?;
            let got = ssim_per_image(&p, &t, shape)?.to_vec1::<f32>()?;
            let (pv, tv) = (p.to_vec2::<f32>()?, t.to_vec2::<f32>()?);
            for i in 0..4 {
                let want = naive_ssim(&pv[i], &tv[i], shape);
                assert!(
                    (got[i] as f64 - want).abs() < 1e-6,
                    "{shape:?} image {i}: {} vs {want}",
                    got[i]
                );
            }
        }
        Ok(())
    }

    #[test]
    fn identical_images_score_one() -> Result<()> {
        let (p, _) = random_pairs(3, (1, 28, 28), 4)?;
        for v in ssim_per_image(&p, &p, (1, 28, 28))?.to_vec1::<f32>()? {
            assert!((v - 1.0).abs() < 1e-5, "{v}");
        }
        Ok(())
    }

    #[test]
    fn flat_images_give_the_luminance_term() -> Result<()> {
        // Flat images a and b: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
        // = (0.6 + 1e-4) / (0.61 + 1e-4) = 0.983609... for a = 0.5, b = 0.6.
        let d = 16 * 16;
        let x = Tensor::full(0.5f32, (1, d), &Device::Cpu)?;
        let y = Tensor::full(0.6f32, (1, d), &Device::Cpu)?;
        let v = ssim_per_image(&x, &y, (1, 16, 16))?.to_vec1::<f32>()?[0] as f64;
        assert!((v - 0.6001 / 0.6101).abs() < 1e-6, "{v}");
        Ok(())
    }

    /// The patterns of bench/ssim_reference.py: ((i 7 + j 13 + ch 5) mod 17) / 16 and
    /// ((i^2 + 3 j + ch) mod 11) / 10.
    fn pattern_pair(c: usize, h: usize, w: usize) -> Result<(Tensor, Tensor)> {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for ch in 0..c {
            for i in 0..h {
                for j in 0..w {
                    x.push(((i * 7 + j * 13 + ch * 5) % 17) as f32 / 16.0);
                    y.push(((i * i + 3 * j + ch) % 11) as f32 / 10.0);
                }
            }
        }
        let d = c * h * w;
        Ok((
            Tensor::from_vec(x, (1, d), &Device::Cpu)?,
            Tensor::from_vec(y, (1, d), &Device::Cpu)?,
        ))
    }

    #[test]
    fn matches_skimage() -> Result<()> {
        // Printed by `/tmp/skl/bin/python bench/ssim_reference.py` (scikit-image 0.26.0).
        let cases = [
            ((1, 28, 28), -0.017217053571513073, 0.9757408282537376),
            ((1, 16, 20), 0.12999656981089175, 0.9757406231935628),
            ((3, 16, 20), 0.08196460545231914, 0.9757407576271935),
        ];
        for ((c, h, w), pattern, contrast) in cases {
            let (x, y) = pattern_pair(c, h, w)?;
            let x_contrast = ((&x * 0.8)? + 0.1)?;
            let both = ssim_per_image(
                &Tensor::cat(&[&x, &x], 0)?,
                &Tensor::cat(&[&y, &x_contrast], 0)?,
                (c, h, w),
            )?
            .to_vec1::<f32>()?;
            assert!((both[0] as f64 - pattern).abs() < 1e-6, "{both:?}");
            assert!((both[1] as f64 - contrast).abs() < 1e-6, "{both:?}");
        }
        Ok(())
    }

    #[test]
    fn small_or_mismatched_images_are_errors() -> Result<()> {
        let x = Tensor::zeros((2, 10 * 30), candle_core::DType::F32, &Device::Cpu)?;
        assert!(ssim_per_image(&x, &x, (1, 10, 30)).is_err());
        assert!(ssim_per_image(&x, &x, (1, 30, 10)).is_err());
        assert!(ssim_per_image(&x, &x, (1, 12, 12)).is_err());
        let y = Tensor::zeros((3, 10 * 30), candle_core::DType::F32, &Device::Cpu)?;
        assert!(ssim_per_image(&x, &y, (1, 15, 20)).is_err());
        Ok(())
    }
}
