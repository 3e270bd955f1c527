//! Seeded, counter-addressed random streams.
//!
//! candle 0.11 cannot seed its CPU generator, so every draw of a run comes from here. Each
//! purpose (init, shuffle, noise, ...) has its own stream, re-keyed per epoch: adding a draw in
//! one place never shifts another, and the whole state of a run's randomness is (seed, epoch).
//!
//! Draws are made on the host. On a GPU, a stream whose draws are all of one kind (normals, or
//! uniforms and the Bernoulli masks made from them) can be drawn ahead ([`Rng::ahead`]): its
//! values are drawn in growing blocks (64 Ki values, doubling up to 16 Mi) and each block is
//! uploaded once, so a training step takes its noise from memory already on the device instead
//! of uploading its own. The values are the same, in the same order, as drawn one by one.

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
        Rng::new(inner)
    }
}

/// A generator that makes tensors (on the host, then moved to the device).
pub struct Rng {
    inner: ChaCha8Rng,
    ahead: Option<Ahead>,
}

/// What a stream drawn ahead holds: one kind of value, a block of them on the device, and
/// how far the stream has used it.
struct Ahead {
    dev: Device,
    kind: Option<Kind>,
    block: Option<Tensor>,
    pos: usize,
    next_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Normal,
    /// Uniform in [0, 1).
    Unit,
}

impl Kind {
    /// One value, as drawn one by one and as drawn ahead.
    fn sample(self, r: &mut ChaCha8Rng) -> f32 {
        match self {
            Self::Normal => r.sample(StandardNormal),
            Self::Unit => r.random(),
        }
    }
}

const FIRST_BLOCK: usize = 1 << 16;
const MAX_BLOCK: usize = 1 << 24;

impl Rng {
    fn new(inner: ChaCha8Rng) -> Self {
        Self { inner, ahead: None }
    }

    /// This stream drawn ahead onto `dev` when `dev` is a GPU (see the module's notes); on the
    /// CPU it is returned as it is. Only for a stream whose every draw is of one kind:
    /// [`normal`](Self::normal), or [`bernoulli`](Self::bernoulli), [`binarize`](Self::binarize)
    /// and [`uniform`](Self::uniform) on [0, 1); any other draw from it is an error.
    pub fn ahead(self, dev: &Device) -> Self {
        if dev.is_cuda() {
            self.always_ahead(dev)
        } else {
            self
        }
    }

    /// [`ahead`](Self::ahead) on any device (the tests use it on the CPU).
    pub fn always_ahead(mut self, dev: &Device) -> Self {
        self.ahead = Some(Ahead {
            dev: dev.clone(),
            kind: None,
            block: None,
            pos: 0,
            next_len: FIRST_BLOCK,
        });
        self
    }

    /// Uniform in [lo, hi).
    pub fn uniform(
        &mut self,
        shape: impl Into<Shape>,
        lo: f32,
        hi: f32,
        dev: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        if self.ahead.is_some() {
            if (lo, hi) != (0.0, 1.0) {
                candle_core::bail!(
                    "a stream drawn ahead draws uniforms on [0, 1) only, not [{lo}, {hi})"
                );
            }
            return self.take(Kind::Unit, &shape, dev);
        }
        self.draw(shape, dev, |r| lo + (hi - lo) * r.random::<f32>())
    }

    /// Standard normal draws.
    pub fn normal(&mut self, shape: impl Into<Shape>, dev: &Device) -> Result<Tensor> {
        let shape = shape.into();
        if self.ahead.is_some() {
            return self.take(Kind::Normal, &shape, dev);
        }
        self.draw(shape, dev, |r| Kind::Normal.sample(r))
    }

    /// 1.0 with probability `p`, else 0.0.
    pub fn bernoulli(&mut self, shape: impl Into<Shape>, p: f32, dev: &Device) -> Result<Tensor> {
        let shape = shape.into();
        if self.ahead.is_some() {
            // u < p as relu(sign(p - u)): p - u is rounded once (its sign is exact) and no
            // scalar is uploaded, unlike `lt`.
            let u = self.take(Kind::Unit, &shape, dev)?;
            return u.affine(-1.0, p as f64)?.sign()?.relu();
        }
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
        let v: Vec<f32> = (0..shape.elem_count())
            .map(|_| f(&mut self.inner))
            .collect();
        Tensor::from_vec(v, shape, dev)
    }

    /// The next `shape.elem_count()` values of `kind` of a stream drawn ahead, from its blocks
    /// on the device (drawing and uploading the next block when one runs out).
    fn take(&mut self, kind: Kind, shape: &Shape, dev: &Device) -> Result<Tensor> {
        let Some(a) = self.ahead.as_mut() else {
            candle_core::bail!("take from a stream that is not drawn ahead");
        };
        if !a.dev.same_device(dev) {
            candle_core::bail!("a stream drawn ahead onto one device cannot draw for another");
        }
        match a.kind {
            None => a.kind = Some(kind),
            Some(k) if k != kind => candle_core::bail!(
                "a stream drawn ahead draws one kind of value ({k:?}), not {kind:?} as well"
            ),
            Some(_) => {}
        }
        let mut need = shape.elem_count();
        let mut pieces = Vec::new();
        while need > 0 {
            let left = a.block.as_ref().map_or(0, |b| b.elem_count() - a.pos);
            if left == 0 {
                let len = a.next_len.max(need);
                let r = &mut self.inner;
                let v: Vec<f32> = (0..len).map(|_| kind.sample(r)).collect();
                a.block = Some(Tensor::from_vec(v, len, &a.dev)?);
                a.pos = 0;
                a.next_len = (a.next_len * 2).min(MAX_BLOCK);
                continue;
            }
            let n = need.min(left);
            let block = a.block.as_ref().expect("a block was drawn");
            pieces.push(block.narrow(0, a.pos, n)?);
            a.pos += n;
            need -= n;
        }
        let flat = match pieces.len() {
            0 => Tensor::zeros(0, candle_core::DType::F32, &a.dev)?,
            1 => pieces.pop().expect("one piece"),
            _ => Tensor::cat(&pieces, 0)?,
        };
        flat.reshape(shape)
    }

    /// Samples x ~ Bernoulli(probs) elementwise: the binarisation of grey images.
    pub fn binarize(&mut self, probs: &Tensor) -> Result<Tensor> {
        let u = self.uniform(probs.shape(), 0.0, 1.0, probs.device())?;
        u.lt(probs)?.to_dtype(probs.dtype())
    }

    /// A random permutation of 0..n, as u32 indices on the device.
    pub fn permutation(&mut self, n: usize, dev: &Device) -> Result<Tensor> {
        if self.ahead.is_some() {
            candle_core::bail!("a stream drawn ahead cannot draw a permutation");
        }
        let mut idx: Vec<u32> = (0..n as u32).collect();
        idx.shuffle(&mut self.inner);
        Tensor::from_vec(idx, n, dev)
    }

    /// An index in 0..n. Not for a stream drawn ahead (it panics there: a variant that draws
    /// indices must not ask for [`Rng::ahead`]).
    pub fn index(&mut self, n: usize) -> usize {
        assert!(
            self.ahead.is_none(),
            "a stream drawn ahead cannot draw an index"
        );
        self.inner.random_range(0..n)
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

    /// A stream drawn ahead gives the values drawn one by one, in the same order, across
    /// block boundaries and for requests larger than a block; mixing kinds is an error.
    #[test]
    fn drawn_ahead_equals_drawn_one_by_one() -> Result<()> {
        let dev = Device::Cpu;
        let sizes = [(7, 3), (20_000, 3), (1, 1), (200_000, 1), (31, 784), (5, 2)];
        let mut live = Streams::new(5).stream(Purpose::Train, 2);
        let mut ahead = Streams::new(5).stream(Purpose::Train, 2).always_ahead(&dev);
        for shape in sizes {
            let a = live.normal(shape, &dev)?.flatten_all()?.to_vec1::<f32>()?;
            let b = ahead.normal(shape, &dev)?;
            assert_eq!(b.dims(), &[shape.0, shape.1]);
            assert_eq!(a, b.flatten_all()?.to_vec1::<f32>()?);
        }
        assert!(ahead.bernoulli((2, 2), 0.5, &dev).is_err());

        let mut live = Streams::new(5).stream(Purpose::Binarize, 0);
        let mut ahead = Streams::new(5)
            .stream(Purpose::Binarize, 0)
            .always_ahead(&dev);
        let probs = Streams::new(9)
            .stream(Purpose::Eval, 0)
            .uniform((300, 784), 0.0, 1.0, &dev)?;
        for (i, p) in [0.9f32, 0.1, 0.5, 1.0 - 0.3, 0.0, 1.0]
            .into_iter()
            .enumerate()
        {
            let a = live.bernoulli((40 + i, 784), p, &dev)?.to_vec2::<f32>()?;
            let b = ahead.bernoulli((40 + i, 784), p, &dev)?.to_vec2::<f32>()?;
            assert_eq!(a, b, "p = {p}");
        }
        let a = live.binarize(&probs)?.to_vec2::<f32>()?;
        assert_eq!(a, ahead.binarize(&probs)?.to_vec2::<f32>()?);
        let a = live.uniform(1000, 0.0, 1.0, &dev)?.to_vec1::<f32>()?;
        assert_eq!(a, ahead.uniform(1000, 0.0, 1.0, &dev)?.to_vec1::<f32>()?);
        assert!(ahead.normal(3, &dev).is_err());
        assert!(ahead.uniform(3, -1.0, 1.0, &dev).is_err());
        assert!(ahead.permutation(3, &dev).is_err());
        // On the CPU, `ahead` leaves the stream as it is (it draws per call, any kind).
        let mut cpu = Streams::new(5).stream(Purpose::Train, 0).ahead(&dev);
        cpu.normal(2, &dev)?;
        cpu.uniform(2, -1.0, 1.0, &dev)?;
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
