//! Evaluation metrics and the device-side sums that avoid a host round-trip per batch.

use candle_core::{Result, Tensor};

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// A loss term or metric: its name in metrics.csv, test.csv and the tables, which way is
/// better, and the values it can take where bounded (for plot axes and monitors). Each model
/// declares its own beside its code; the shared vocabulary is below.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub better: Better,
    pub range: Option<(f64, f64)>,
}

impl Metric {
    pub const fn lower(name: &'static str, range: Option<(f64, f64)>) -> Self {
        Self {
            name,
            better: Better::Lower,
            range,
        }
    }

    pub const fn higher(name: &'static str, range: Option<(f64, f64)>) -> Self {
        Self {
            name,
            better: Better::Higher,
            range,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl AsRef<str> for Metric {
    fn as_ref(&self) -> &str {
        self.name
    }
}

/// A loss term or metric and its value: a device scalar for a loss, one value per image for a
/// metric.
pub type Named = (Metric, Tensor);

/// Values >= 0, and values in [0, 1].
pub const NONNEGATIVE: Option<(f64, f64)> = Some((0.0, f64::INFINITY));
pub const UNIT: Option<(f64, f64)> = Some((0.0, 1.0));

/// Per-pixel squared error of sigmoid(logits) against the image.
pub const MSE: Metric = Metric::lower("mse", UNIT);
/// Peak signal-to-noise ratio, dB, peak 1, per image.
pub const PSNR: Metric = Metric::higher("psnr", None);
/// Binary cross-entropy of the image under the logits, nats per image.
pub const BCE: Metric = Metric::lower("bce", NONNEGATIVE);
/// The whole training objective, where it has several terms.
pub const LOSS: Metric = Metric::lower("loss", None);

/// The smallest per-image MSE PSNR is taken of: a perfect image scores 100 dB, not infinity.
pub const MSE_FLOOR: f64 = 1e-10;

/// Peak signal-to-noise ratio of each image (peak 1): 10 log10(1 / mse_i), in dB.
pub fn psnr_per_image(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let mse = crate::losses::mse_per_image(pred, target)?.clamp(MSE_FLOOR, f64::INFINITY)?;
    mse.log()? * (-10.0 / std::f64::consts::LN_10)
}

/// Named sums of per-image values, kept on the device, read back once.
#[derive(Default)]
pub struct Sums {
    names: Vec<String>,
    sums: Vec<Tensor>,
    count: usize,
}

impl Sums {
    /// Adds one batch of `n` images: each value is a vector with one entry per image, or a
    /// scalar that is the batch's mean (a training loss).
    pub fn add(&mut self, values: &[(impl AsRef<str>, Tensor)], n: usize) -> Result<()> {
        for (name, v) in values {
            let s = if v.rank() == 0 {
                (v.detach() * n as f64)?
            } else {
                v.sum_all()?.detach()
            };
            match self.names.iter().position(|m| m == name.as_ref()) {
                Some(i) => self.sums[i] = (&self.sums[i] + s)?,
                None => {
                    self.names.push(name.as_ref().to_string());
                    self.sums.push(s);
                }
            }
        }
        self.count += n;
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The means per image, in insertion order (one host transfer per name).
    pub fn means(&self) -> Result<Vec<(String, f64)>> {
        let n = self.count.max(1) as f64;
        self.names
            .iter()
            .zip(&self.sums)
            .map(|(name, s)| {
                Ok((
                    name.clone(),
                    s.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? / n,
                ))
            })
            .collect()
    }
}

/// Fraction of rows whose logit sign agrees with the label (real: > 0).
pub fn logit_accuracy(logits: &Tensor, real: bool) -> Result<Tensor> {
    let hit = if real {
        logits.gt(0.0)?
    } else {
        logits.le(0.0)?
    };
    hit.to_dtype(candle_core::DType::F32)?.flatten_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn psnr_by_hand() -> Result<()> {
        let dev = Device::Cpu;
        // mse 0.01 -> 20 dB; mse 0.25 -> 6.0206 dB; identical -> floor (100 dB).
        let p = Tensor::new(&[[0.1f32, 0.1], [0.5, 0.5], [0.3, 0.3]], &dev)?;
        let t = Tensor::new(&[[0.0f32, 0.2], [0.0, 1.0], [0.3, 0.3]], &dev)?;
        let v = psnr_per_image(&p, &t)?.to_vec1::<f32>()?;
        assert!((v[0] - 20.0).abs() < 1e-4, "{v:?}");
        assert!((v[1] - 6.0206).abs() < 1e-3, "{v:?}");
        assert!((v[2] - 100.0).abs() < 1e-3, "{v:?}");
        Ok(())
    }

    #[test]
    fn sums_average_over_images() -> Result<()> {
        let dev = Device::Cpu;
        let mut s = Sums::default();
        s.add(&[("a", Tensor::new(&[1f32, 2., 3.], &dev)?)], 3)?;
        s.add(
            &[
                ("a", Tensor::new(&[6f32], &dev)?),
                ("b", Tensor::new(4f32, &dev)?),
            ],
            1,
        )?;
        let m = s.means()?;
        assert_eq!(m[0], ("a".to_string(), 3.0));
        assert_eq!(m[1], ("b".to_string(), 1.0));
        Ok(())
    }

    #[test]
    fn accuracy_of_logits() -> Result<()> {
        let l = Tensor::new(&[[1f32], [-2.], [0.5]], &Device::Cpu)?;
        assert_eq!(
            logit_accuracy(&l, true)?.to_vec1::<f32>()?,
            vec![1.0, 0.0, 1.0]
        );
        assert_eq!(
            logit_accuracy(&l, false)?.to_vec1::<f32>()?,
            vec![0.0, 1.0, 0.0]
        );
        Ok(())
    }
}
