//! Seeded, counter-addressed random streams.
//!
//! candle 0.11 cannot seed its CPU generator, so every draw of a run comes from here. Each
//! purpose (init, shuffle, noise, ...) has its own stream, re-keyed per epoch: adding a draw in
//! one place never shifts another, and the whole state of a run's randomness is (seed, epoch).

use candle_core::{Device, Result, Shape, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// What a stream is used for; each has its own ChaCha stream id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Init = 1,
    Shuffle = 2,
    /// The variant's training noise: corruption, dropout masks, reparameterisation, prior draws.
    Train = 3,
    Binarize = 4,
    /// Noise used while evaluating (fixed per run, so every epoch sees the same corruption).
    Eval = 5,
    /// Prior draws for the samples picture.
    Sample = 6,
}

/// The run's seed; hands out one generator per (purpose, epoch).
#[derive(Clone, Copy, Debug)]
pub struct Streams {
    seed: u64,
}

impl Streams {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    pub fn stream(&self, purpose: Purpose, epoch: u64) -> Rng {
        let mut inner = ChaCha8Rng::seed_from_u64(self.seed);
        inner.set_stream(((purpose as u64) << 40) | epoch);
        Rng(inner)
    }
}

/// A generator that makes tensors (on the host, then moved to the device).
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// Uniform in [lo, hi).
    pub fn uniform(
        &mut self,
        shape: impl Into<Shape>,
        lo: f32,
        hi: f32,
        dev: &Device,
    ) -> Result<Tensor> {
        self.draw(shape, dev, |r| lo + (hi - lo) * r.random::<f32>())
    }

    /// Standard normal draws.
    pub fn normal(&mut self, shape: impl Into<Shape>, dev: &Device) -> Result<Tensor> {
        self.draw(shape, dev, |r| r.sample(StandardNormal))
    }

    /// 1.0 with probability `p`, else 0.0.
    pub fn bernoulli(&mut self, shape: impl Into<Shape>, p: f32, dev: &Device) -> Result<Tensor> {
        self.draw(shape, dev, |r| f32::from(r.random::<f32>() < p))
    }

    /// One draw of `f` per element, in order, made on the host and moved to `dev`.
    fn draw(
        &mut self,
        shape: impl Into<Shape>,
        dev: &Device,
        mut f: impl FnMut(&mut ChaCha8Rng) -> f32,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let v: Vec<f32> = (0..shape.elem_count()).map(|_| f(&mut self.0)).collect();
        Tensor::from_vec(v, shape, dev)
    }

    /// Samples x ~ Bernoulli(probs) elementwise: the binarisation of grey images.
    pub fn binarize(&mut self, probs: &Tensor) -> Result<Tensor> {
        let u = self.uniform(probs.shape(), 0.0, 1.0, probs.device())?;
        u.lt(probs)?.to_dtype(probs.dtype())
    }

    /// A random permutation of 0..n, as u32 indices on the device.
    pub fn permutation(&mut self, n: usize, dev: &Device) -> Result<Tensor> {
        let mut idx: Vec<u32> = (0..n as u32).collect();
        idx.shuffle(&mut self.0);
        Tensor::from_vec(idx, n, dev)
    }

    /// An index in 0..n.
    pub fn index(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_purposes_are_independent() -> Result<()> {
        let dev = Device::Cpu;
        let a = Streams::new(7)
            .stream(Purpose::Train, 3)
            .normal(100, &dev)?
            .to_vec1::<f32>()?;
        let b = Streams::new(7)
            .stream(Purpose::Train, 3)
            .normal(100, &dev)?
            .to_vec1::<f32>()?;
        let c = Streams::new(7)
            .stream(Purpose::Train, 4)
            .normal(100, &dev)?
            .to_vec1::<f32>()?;
        let d = Streams::new(7)
            .stream(Purpose::Eval, 3)
            .normal(100, &dev)?
            .to_vec1::<f32>()?;
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        Ok(())
    }

    #[test]
    fn normal_draws_have_unit_moments() -> Result<()> {
        let v = Streams::new(1)
            .stream(Purpose::Train, 0)
            .normal(100_000, &Device::Cpu)?
            .to_vec1::<f32>()?;
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        Ok(())
    }

    #[test]
    fn permutation_is_a_permutation() -> Result<()> {
        let mut p = Streams::new(3)
            .stream(Purpose::Shuffle, 0)
            .permutation(1000, &Device::Cpu)?
            .to_vec1::<u32>()?;
        assert_ne!(p, (0..1000).collect::<Vec<u32>>());
        p.sort();
        assert_eq!(p, (0..1000).collect::<Vec<u32>>());
        Ok(())
    }
}
