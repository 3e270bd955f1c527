//! Adam (weight decay 0 by default, as the seed's `torch.optim.Adam`), with its moments kept
//! where a checkpoint can reach them. On the CPU each step is one in-place pass per parameter
//! over weight, gradient and moments, instead of the dozen tensor ops of candle-nn's AdamW:
//! the step is memory-bound, so every extra pass over the moments costs as much as the maths.

use crate::cpu::{f32_slice, f32_slice_mut};
use crate::error::{ensure, ConfigError};
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, Layout, Result, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adam,
}

/// `train.optimizer`: PyTorch's Adam and its defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// L2 penalty added to the gradient, as in `torch.optim.Adam` (not decoupled).
    pub weight_decay: f64,
    /// Clip the global norm of each optimiser's gradients to this value (`clip_grad_norm_`).
    pub grad_clip: Option<f64>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            grad_clip: None,
        }
    }
}

impl OptimizerConfig {
    pub fn validate(&self, key: &str) -> std::result::Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        ensure(self.lr > 0.0 && self.lr.is_finite(), &k("lr"), || {
            format!("{} is not allowed: must be > 0", self.lr)
        })?;
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            ensure((0.0..1.0).contains(&b), &k(name), || {
                format!("{b} is not allowed: must be in [0, 1)")
            })?;
        }
        ensure(self.eps > 0.0, &k("eps"), || {
            format!("{} is not allowed: must be > 0", self.eps)
        })?;
        if let Some(c) = self.grad_clip {
            ensure(c > 0.0 && c.is_finite(), &k("grad_clip"), || {
                format!("{c} is not allowed: must be > 0 (or absent: no clipping)")
            })?;
        }
        ensure(self.weight_decay >= 0.0, &k("weight_decay"), || {
            format!("{} is not allowed: must be >= 0", self.weight_decay)
        })
    }

    /// The same optimiser with another learning rate (the AAE's phases may each have one).
    pub fn with_lr(&self, lr: Option<f64>) -> Self {
        Self {
            lr: lr.unwrap_or(self.lr),
            ..self.clone()
        }
    }
}

/// m and v of one variable, as [m; v]: in host memory beside an f32 CPU variable (updated in
/// the same pass as its weights), as a [2, numel] tensor beside any other.
enum Moments {
    Host(Vec<f32>),
    Device(Tensor),
}

impl Moments {
    fn zeros(v: &Var) -> Result<Self> {
        Ok(if v.device().is_cpu() && v.dtype() == DType::F32 {
            Self::Host(vec![0.0; 2 * v.elem_count()])
        } else {
            Self::Device(Tensor::zeros((2, v.elem_count()), v.dtype(), v.device())?)
        })
    }

    fn to_tensor(&self) -> Result<Tensor> {
        match self {
            Self::Host(mv) => Tensor::from_slice(mv, (2, mv.len() / 2), &Device::Cpu),
            Self::Device(t) => Ok(t.clone()),
        }
    }
}

/// Adam over a fixed list of named variables; `moments[i]` belongs to `vars[i]`.
pub struct Adam {
    names: Vec<String>,
    vars: Vec<Var>,
    moments: Vec<Moments>,
    steps: usize,
    cfg: OptimizerConfig,
}

impl Adam {
    pub fn new(named: Vec<(String, Var)>, cfg: OptimizerConfig) -> Result<Self> {
        let (names, vars): (Vec<String>, Vec<Var>) = named.into_iter().unzip();
        let moments = vars.iter().map(Moments::zeros).collect::<Result<_>>()?;
        Ok(Self {
            names,
            vars,
            moments,
            steps: 0,
            cfg,
        })
    }

    /// Back-propagates `loss` and updates the variables.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let grad_scale = match self.cfg.grad_clip {
            Some(clip) => {
                // One host read per step: the squared norms are summed on the device.
                let squares = self
                    .vars
                    .iter()
                    .filter_map(|v| grads.get(v))
                    .map(|g| g.sqr()?.sum_all());
                let total = squares.reduce(|a, b| a? + b?).transpose()?;
                let sq = match total {
                    Some(t) => t.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?,
                    None => 0.0,
                };
                (clip / (sq.sqrt() + 1e-6)).min(1.0) as f32
            }
            None => 1.0,
        };
        let c = &self.cfg;
        let t = self.steps as i32;
        let update = AdamUpdate {
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            eps: c.eps as f32,
            weight_decay: c.weight_decay as f32,
            step_size: (c.lr / (1.0 - c.beta1.powi(t))) as f32,
            bias2_sqrt: (1.0 - c.beta2.powi(t)).sqrt() as f32,
            grad_scale,
        };
        for (var, mv) in self.vars.iter().zip(&mut self.moments) {
            let Some(g) = grads.get(var) else { continue };
            match mv {
                Moments::Host(mv) => {
                    let op = AdamOp {
                        u: update,
                        mv: RefCell::new(mv),
                    };
                    var.as_tensor().inplace_op2(&g.contiguous()?, &op)?;
                }
                Moments::Device(mv) => update.apply_with_tensor_ops(var, mv, g)?,
            }
        }
        Ok(())
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The rate of the next steps.
    pub fn lr(&self) -> f64 {
        self.cfg.lr
    }

    /// Sets the rate of the next steps (a learning-rate schedule's; the configured one is the
    /// base it scales).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// The optimiser's state for a checkpoint: `<var name>` -> [m; v], and `steps`.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out: Vec<(String, Tensor)> = self
            .names
            .iter()
            .cloned()
            .zip(self.moments.iter().map(Moments::to_tensor))
            .map(|(name, mv)| Ok((name, mv?)))
            .collect::<Result<_>>()?;
        out.push((
            "steps".into(),
            Tensor::new(&[self.steps as i64], &Device::Cpu)?,
        ));
        Ok(out)
    }

    /// Restores what [`Adam::state`] saved, `get(key)` reading a saved tensor.
    pub fn restore(&mut self, get: &dyn Fn(&str) -> Result<Tensor>) -> Result<()> {
        for ((name, mv), var) in self
            .names
            .iter()
            .zip(self.moments.iter_mut())
            .zip(&self.vars)
        {
            let t = get(name)?;
            let want = [2, var.elem_count()];
            if t.dims() != want {
                candle_core::bail!(
                    "optimiser state of {name} has shape {:?}, this model's {want:?}",
                    t.dims()
                );
            }
            let t = t.to_dtype(var.dtype())?;
            match mv {
                Moments::Host(mv) => *mv = t.flatten_all()?.to_vec1()?,
                Moments::Device(mv) => *mv = t.to_device(var.device())?.contiguous()?.copy()?,
            }
        }
        self.steps = get("steps")?.to_vec1::<i64>()?[0] as usize;
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct AdamUpdate {
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    /// lr / (1 - beta1^t)
    step_size: f32,
    /// sqrt(1 - beta2^t)
    bias2_sqrt: f32,
    /// Gradient clipping factor (1: none).
    grad_scale: f32,
}

impl AdamUpdate {
    /// The same arithmetic as the fused CPU ops, for devices without them.
    fn apply_with_tensor_ops(&self, var: &Var, mv: &Tensor, g: &Tensor) -> Result<()> {
        let w = var.as_tensor();
        let g = (g.flatten_all()? * self.grad_scale as f64)?;
        let g = if self.weight_decay > 0.0 {
            (g + (w.flatten_all()? * self.weight_decay as f64)?)?
        } else {
            g
        };
        let m = ((mv.get(0)? * self.beta1 as f64)? + (&g * (1.0 - self.beta1 as f64))?)?;
        let v = ((mv.get(1)? * self.beta2 as f64)? + (g.sqr()? * (1.0 - self.beta2 as f64))?)?;
        let denom = ((v.sqrt()? / self.bias2_sqrt as f64)? + self.eps as f64)?;
        let step = ((&m / denom)? * self.step_size as f64)?.reshape(w.shape())?;
        var.set(&(w - step)?)?;
        mv.slice_set(&Tensor::stack(&[m, v], 0)?, 0, 0)
    }
}

/// One Adam step in place on a weight, given its gradient, with the variable's host moments:
/// g += wd w; m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
/// w <- w - step_size m / (sqrt(v) / sqrt(1 - b2^t) + eps).
struct AdamOp<'a> {
    u: AdamUpdate,
    /// candle hands the op `&self`; the moments are this step's only other mutable state.
    mv: RefCell<&'a mut Vec<f32>>,
}

impl candle_core::InplaceOp2 for AdamOp<'_> {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn cpu_fwd(&self, w: &mut CpuStorage, lw: &Layout, g: &CpuStorage, lg: &Layout) -> Result<()> {
        let u = self.u;
        let (w, g) = (f32_slice_mut(w, lw, "adam")?, f32_slice(g, lg, "adam")?);
        let mut mv = self.mv.borrow_mut();
        if g.len() != w.len() || mv.len() != 2 * w.len() {
            candle_core::bail!(
                "adam: {} weights, {} gradients, {} moments",
                w.len(),
                g.len(),
                mv.len()
            );
        }
        let (m, v) = mv.split_at_mut(w.len());
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { adam_avx512(u, w, g, m, v) };
            return Ok(());
        } else if is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            unsafe { adam_avx2(u, w, g, m, v) };
            return Ok(());
        }
        adam(u, w, g, m, v);
        Ok(())
    }
}

/// The update, element by element; compiled once per vector width below, since a square root
/// and two divisions per element make the step compute-bound at SSE's four lanes.
#[inline(always)]
fn adam(u: AdamUpdate, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
        let g = u.grad_scale * g + u.weight_decay * *w;
        *m = u.beta1 * *m + (1.0 - u.beta1) * g;
        *v = u.beta2 * *v + (1.0 - u.beta2) * g * g;
        *w -= u.step_size * *m / (v.sqrt() / u.bias2_sqrt + u.eps);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn adam_avx512(u: AdamUpdate, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    adam(u, w, g, m, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn adam_avx2(u: AdamUpdate, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    adam(u, w, g, m, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Adam by hand, in f64, on f(w) = sum(c * w^2) with L2 weight decay.
    fn reference(w0: &[f64], c: &[f64], cfg: &OptimizerConfig, steps: usize) -> Vec<f64> {
        let (mut w, mut m, mut v) = (w0.to_vec(), vec![0.0; w0.len()], vec![0.0; w0.len()]);
        for t in 1..=steps {
            let norm = (0..w.len())
                .map(|i| (2.0 * c[i] * w[i]).powi(2))
                .sum::<f64>()
                .sqrt();
            let scale = cfg
                .grad_clip
                .map_or(1.0, |clip| (clip / (norm + 1e-6)).min(1.0));
            for i in 0..w.len() {
                let g = scale * 2.0 * c[i] * w[i] + cfg.weight_decay * w[i];
                m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g;
                v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g * g;
                let mh = m[i] / (1.0 - cfg.beta1.powi(t as i32));
                let vh = v[i] / (1.0 - cfg.beta2.powi(t as i32));
                w[i] -= cfg.lr * mh / (vh.sqrt() + cfg.eps);
            }
        }
        w
    }

    fn run_adam(cfg: &OptimizerConfig, steps: usize) -> Result<Vec<f32>> {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::new(&[[1f32, -2.0, 0.5], [3.0, -0.1, 0.0]], &dev)?)?;
        let ct = Tensor::new(&[[1f32, 0.5, 2.0], [0.1, 3.0, 1.0]], &dev)?;
        let mut opt = Adam::new(vec![("w".into(), var.clone())], cfg.clone())?;
        for _ in 0..steps {
            opt.backward_step(&(var.as_tensor().sqr()? * &ct)?.sum_all()?)?;
        }
        assert_eq!(opt.steps(), steps);
        var.as_tensor().flatten_all()?.to_vec1::<f32>()
    }

    #[test]
    fn matches_adam_by_hand_with_and_without_clipping() -> Result<()> {
        let w0 = [1.0, -2.0, 0.5, 3.0, -0.1, 0.0];
        let c = [1.0, 0.5, 2.0, 0.1, 3.0, 1.0];
        for grad_clip in [None, Some(0.5)] {
            let cfg = OptimizerConfig {
                lr: 0.05,
                weight_decay: 0.1,
                grad_clip,
                ..Default::default()
            };
            let got = run_adam(&cfg, 20)?;
            let want = reference(&w0, &c, &cfg, 20);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() < 1e-5,
                    "{grad_clip:?}: {got:?} vs {want:?}"
                );
            }
        }
        // Clipping changes the trajectory (the gradient norm starts near 8).
        let plain = run_adam(
            &OptimizerConfig {
                lr: 0.05,
                ..Default::default()
            },
            3,
        )?;
        let clipped = run_adam(
            &OptimizerConfig {
                lr: 0.05,
                grad_clip: Some(0.1),
                ..Default::default()
            },
            3,
        )?;
        assert_ne!(plain, clipped);
        Ok(())
    }

    #[test]
    fn state_round_trip_continues_identically() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = OptimizerConfig {
            lr: 0.05,
            ..Default::default()
        };
        let ct = Tensor::new(&[2f32, 0.5, 1.0], &dev)?;
        let loss = |v: &Var| (v.as_tensor().sqr()? * &ct)?.sum_all();
        let a = Var::from_tensor(&Tensor::new(&[1f32, -2.0, 0.5], &dev)?)?;
        let mut opt_a = Adam::new(vec![("w".into(), a.clone())], cfg.clone())?;
        for _ in 0..5 {
            opt_a.backward_step(&loss(&a)?)?;
        }
        let saved: std::collections::HashMap<String, Tensor> = opt_a.state()?.into_iter().collect();
        let b = Var::from_tensor(&a.as_tensor().copy()?)?;
        let mut opt_b = Adam::new(vec![("w".into(), b.clone())], cfg)?;
        opt_b.restore(&|k| {
            saved
                .get(k)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("no {k}")))
        })?;
        assert_eq!(opt_b.steps(), 5);
        for _ in 0..5 {
            opt_a.backward_step(&loss(&a)?)?;
            opt_b.backward_step(&loss(&b)?)?;
        }
        assert_eq!(
            a.as_tensor().to_vec1::<f32>()?,
            b.as_tensor().to_vec1::<f32>()?
        );
        Ok(())
    }

    #[test]
    fn tensor_op_path_matches_the_fused_cpu_path() -> Result<()> {
        let dev = Device::Cpu;
        let w0 = Tensor::new(&[[0.3f32, -1.2], [2.0, 0.0]], &dev)?;
        let g = Tensor::new(&[[0.5f32, -0.1], [1e-3, 4.0]], &dev)?;
        let (fused, ops) = (Var::from_tensor(&w0)?, Var::from_tensor(&w0)?);
        let (mut mv_f, mv_o) = (vec![0f32; 8], Tensor::zeros((2, 4), DType::F32, &dev)?);
        let u = AdamUpdate {
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.01,
            step_size: 0.1,
            bias2_sqrt: 0.1,
            grad_scale: 0.5,
        };
        for _ in 0..3 {
            let op = AdamOp {
                u,
                mv: RefCell::new(&mut mv_f),
            };
            fused.as_tensor().inplace_op2(&g, &op)?;
            u.apply_with_tensor_ops(&ops, &mv_o, &g)?;
        }
        let diff = (fused.as_tensor() - ops.as_tensor())?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-6, "{diff}");
        let mv_o = mv_o.flatten_all()?.to_vec1::<f32>()?;
        let mdiff = mv_f
            .iter()
            .zip(&mv_o)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(mdiff < 1e-6, "{mv_f:?} vs {mv_o:?}");
        Ok(())
    }

    /// Each compiled width of the update that this CPU can run gives the portable loop's
    /// numbers (37 elements: full vectors and a tail).
    #[test]
    fn every_vector_width_matches_the_portable_loop() {
        let u = AdamUpdate {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            step_size: 1e-3,
            bias2_sqrt: 0.05,
            grad_scale: 0.7,
        };
        let f = |i: usize, a: f32| ((i as f32 * a).sin() + 0.1) * 0.5;
        let g: Vec<f32> = (0..37).map(|i| f(i, 1.3)).collect();
        let start = || -> (Vec<f32>, Vec<f32>, Vec<f32>) {
            let w = (0..37).map(|i| f(i, 0.7)).collect();
            let m = (0..37).map(|i| f(i, 2.1) * 0.1).collect();
            let v = (0..37).map(|i| f(i, 0.3).abs() * 0.01).collect();
            (w, m, v)
        };
        let (mut w, mut m, mut v) = start();
        adam(u, &mut w, &g, &mut m, &mut v);
        // The portable loop itself moved every weight.
        assert_eq!(w.iter().zip(start().0).filter(|(a, b)| a != &b).count(), 37);
        #[cfg(target_arch = "x86_64")]
        for feature in ["avx2", "avx512f"] {
            let detected = match feature {
                "avx2" => std::arch::is_x86_feature_detected!("avx2"),
                _ => std::arch::is_x86_feature_detected!("avx512f"),
            };
            if !detected {
                eprintln!("{feature}: not on this CPU, not checked");
                continue;
            }
            let (mut w2, mut m2, mut v2) = start();
            // SAFETY: the feature was detected above.
            unsafe {
                match feature {
                    "avx2" => adam_avx2(u, &mut w2, &g, &mut m2, &mut v2),
                    _ => adam_avx512(u, &mut w2, &g, &mut m2, &mut v2),
                }
            }
            for (a, b) in [(&w, &w2), (&m, &m2), (&v, &v2)] {
                let d = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(d <= 1e-7, "{feature}: differs by {d}");
            }
        }
    }

    #[test]
    fn rejects_impossible_settings() {
        let bad = OptimizerConfig {
            lr: 0.0,
            ..Default::default()
        };
        assert_eq!(
            bad.validate("train.optimizer").unwrap_err().key,
            "train.optimizer.lr"
        );
        let bad = OptimizerConfig {
            beta2: 1.0,
            ..Default::default()
        };
        assert_eq!(
            bad.validate("train.optimizer").unwrap_err().key,
            "train.optimizer.beta2"
        );
    }
}
