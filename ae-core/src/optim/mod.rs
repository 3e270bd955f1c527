//! The optimisers of `train.optimizer`: `adam`, `adamw`, `sgd` and `rmsprop`, each following
//! torch.optim's single-tensor update operation for operation in f32 (ae-core/tests/optim.rs
//! checks 200 steps of every kind against torch), with its state kept where a checkpoint can
//! reach it. On the CPU each step is one in-place pass per parameter over weight, gradient and
//! state instead of a dozen tensor ops: the step is memory-bound, so every extra pass over the
//! state costs as much as the maths. Other devices run the same arithmetic as tensor ops.
//!
//! - here: each kind's config, its validation, and [`Optimizer`];
//! - keys.rs: which keys each kind takes, as read from and written to YAML;
//! - rules.rs: a step's scalars as torch computes them, and each kind's update of one element;
//! - fused.rs: the CPU pass, compiled per vector width;
//! - tensor_ops.rs: the same arithmetic as candle tensor ops, for any device.

mod fused;
mod keys;
mod rules;
mod tensor_ops;

pub use keys::KINDS;

use crate::error::{ensure, ConfigError};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};

/// The own keys of `adam` and `adamw` (torch's `betas` as two keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamKeys {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamKeys {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// The own keys of `sgd`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SgdKeys {
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
}

/// The own keys of `rmsprop`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropKeys {
    pub alpha: f64,
    pub eps: f64,
    pub momentum: f64,
    /// Divide by the square root of the gradient's running variance, not of its mean square.
    pub centered: bool,
}

impl Default for RmsPropKeys {
    fn default() -> Self {
        Self {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: false,
        }
    }
}

/// `train.optimizer.kind` with that kind's own keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// torch.optim.Adam: weight decay is an L2 term added to the gradient.
    Adam(AdamKeys),
    /// torch.optim.AdamW: decoupled weight decay (the weights shrink by lr x weight_decay).
    AdamW(AdamKeys),
    /// torch.optim.SGD.
    Sgd(SgdKeys),
    /// torch.optim.RMSprop.
    RmsProp(RmsPropKeys),
}

impl Kind {
    /// The name `train.optimizer.kind` gives it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Adam(_) => "adam",
            Self::AdamW(_) => "adamw",
            Self::Sgd(_) => "sgd",
            Self::RmsProp(_) => "rmsprop",
        }
    }
}

/// `train.optimizer`: the kind, the keys every kind shares and the kind's own, each defaulting
/// to torch's default for that optimizer.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerConfig {
    pub kind: Kind,
    /// The base rate (a learning-rate schedule scales it; see [`Optimizer::set_lr`]).
    pub lr: f64,
    /// adam, sgd, rmsprop: an L2 term added to the gradient; adamw: decoupled.
    pub weight_decay: f64,
    /// Clip the global norm of each optimiser's gradients to this value (`clip_grad_norm_`).
    pub grad_clip: Option<f64>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self::of_kind("adam").expect("adam is a kind")
    }
}

impl OptimizerConfig {
    /// torch's defaults of the kind `name` (one of [`KINDS`]), lr and weight decay included.
    pub fn of_kind(name: &str) -> Option<Self> {
        let (kind, lr, weight_decay) = match name {
            "adam" => (Kind::Adam(AdamKeys::default()), 1e-3, 0.0),
            "adamw" => (Kind::AdamW(AdamKeys::default()), 1e-3, 1e-2),
            "sgd" => (Kind::Sgd(SgdKeys::default()), 1e-3, 0.0),
            "rmsprop" => (Kind::RmsProp(RmsPropKeys::default()), 1e-2, 0.0),
            _ => return None,
        };
        Some(Self {
            kind,
            lr,
            weight_decay,
            grad_clip: None,
        })
    }

    pub fn validate(&self, key: &str) -> std::result::Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let positive = |x: f64, f: &str| {
            ensure(x > 0.0 && x.is_finite(), &k(f), || {
                format!("{x} is not allowed: must be > 0")
            })
        };
        let non_negative = |x: f64, f: &str| {
            ensure(x >= 0.0 && x.is_finite(), &k(f), || {
                format!("{x} is not allowed: must be >= 0")
            })
        };
        let below_one = |x: f64, f: &str| {
            ensure((0.0..1.0).contains(&x), &k(f), || {
                format!("{x} is not allowed: must be in [0, 1)")
            })
        };
        positive(self.lr, "lr")?;
        match self.kind {
            Kind::Adam(a) | Kind::AdamW(a) => {
                below_one(a.beta1, "beta1")?;
                below_one(a.beta2, "beta2")?;
                positive(a.eps, "eps")?;
            }
            Kind::Sgd(s) => {
                non_negative(s.momentum, "momentum")?;
                ensure((0.0..=1.0).contains(&s.dampening), &k("dampening"), || {
                    format!("{} is not allowed: must be in [0, 1]", s.dampening)
                })?;
                ensure(
                    !s.nesterov || (s.momentum > 0.0 && s.dampening == 0.0),
                    &k("nesterov"),
                    || {
                        format!(
                            "true is not allowed with momentum {} and dampening {}: Nesterov \
                             momentum needs momentum > 0 and dampening 0 (as torch's)",
                            s.momentum, s.dampening
                        )
                    },
                )?;
            }
            Kind::RmsProp(r) => {
                below_one(r.alpha, "alpha")?;
                positive(r.eps, "eps")?;
                non_negative(r.momentum, "momentum")?;
            }
        }
        if let Some(c) = self.grad_clip {
            ensure(c > 0.0 && c.is_finite(), &k("grad_clip"), || {
                format!("{c} is not allowed: must be > 0 (or absent: no clipping)")
            })?;
        }
        non_negative(self.weight_decay, "weight_decay")
    }

    /// The same optimiser with another learning rate (the AAE's phases may each have one).
    pub fn with_lr(&self, lr: Option<f64>) -> Self {
        Self {
            lr: lr.unwrap_or(self.lr),
            ..self.clone()
        }
    }

    /// The state each variable keeps, by torch's names, in the order of a checkpoint's rows.
    pub fn state_rows(&self) -> Vec<&'static str> {
        match self.kind {
            Kind::Adam(_) | Kind::AdamW(_) => vec!["exp_avg", "exp_avg_sq"],
            Kind::Sgd(s) if s.momentum != 0.0 => vec!["momentum_buffer"],
            Kind::Sgd(_) => vec![],
            Kind::RmsProp(r) => {
                let mut rows = vec!["square_avg"];
                if r.centered {
                    rows.push("grad_avg");
                }
                if r.momentum > 0.0 {
                    rows.push("momentum_buffer");
                }
                rows
            }
        }
    }
}

/// One variable's state rows: in host memory beside an f32 CPU variable (updated in the same
/// pass as its weights, row after row), as tensors of its shape beside any other.
enum State {
    Host(Vec<f32>),
    Device(Vec<Tensor>),
}

/// An optimiser of any kind over a fixed list of named variables; `state[i]` belongs to
/// `vars[i]`.
pub struct Optimizer {
    names: Vec<String>,
    vars: Vec<Var>,
    state: Vec<State>,
    /// State rows per variable.
    rows: usize,
    steps: usize,
    /// The rate of the next steps.
    lr: f64,
    cfg: OptimizerConfig,
}

impl Optimizer {
    /// The fused pass on f32 CPU variables, tensor ops on any other.
    pub fn new(named: Vec<(String, Var)>, cfg: OptimizerConfig) -> Result<Self> {
        Self::build(named, cfg, true)
    }

    /// Tensor ops on every variable, f32 CPU ones included: to check them against the fused
    /// pass on a machine without another device.
    pub fn with_tensor_ops(named: Vec<(String, Var)>, cfg: OptimizerConfig) -> Result<Self> {
        Self::build(named, cfg, false)
    }

    fn build(named: Vec<(String, Var)>, cfg: OptimizerConfig, fuse: bool) -> Result<Self> {
        let (names, vars): (Vec<String>, Vec<Var>) = named.into_iter().unzip();
        let rows = cfg.state_rows().len();
        let state = vars
            .iter()
            .map(|v| {
                Ok(if fuse && v.device().is_cpu() && v.dtype() == DType::F32 {
                    State::Host(vec![0.0; rows * v.elem_count()])
                } else {
                    State::Device((0..rows).map(|_| v.zeros_like()).collect::<Result<_>>()?)
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            names,
            vars,
            state,
            rows,
            steps: 0,
            lr: cfg.lr,
            cfg,
        })
    }

    pub fn config(&self) -> &OptimizerConfig {
        &self.cfg
    }

    /// The rate of the next steps.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the rate of the next steps (a learning-rate schedule's; the configured `lr` is
    /// the base it scales, and where a run starts).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Back-propagates `loss` and updates the variables.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One step on the gradients in `grads` (a variable without one is left as it is).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let grad_scale = self.clip_scale(grads)?;
        let step = rules::Step::new(&self.cfg, self.lr, self.steps, grad_scale);
        for (var, state) in self.vars.iter().zip(&mut self.state) {
            let Some(g) = grads.get(var) else { continue };
            match state {
                State::Host(buf) => fused::step(&step, var, &g.contiguous()?, buf)?,
                State::Device(rows) => tensor_ops::step(&step, var, g, rows)?,
            }
        }
        Ok(())
    }

    /// The factor of `clip_grad_norm_` (1: no clipping). One host read per step: the squared
    /// norms are summed on the device. As torch: coef = max_norm / (norm + 1e-6) in f32,
    /// clamped to 1 (torch's division of a number by a tensor is a reciprocal and a product).
    fn clip_scale(&self, grads: &GradStore) -> Result<f32> {
        let Some(clip) = self.cfg.grad_clip else {
            return Ok(1.0);
        };
        let squares = self
            .vars
            .iter()
            .filter_map(|v| grads.get(v))
            .map(|g| g.sqr()?.sum_all()?.to_dtype(DType::F32));
        let total = squares.reduce(|a, b| a? + b?).transpose()?;
        let sq = match total {
            Some(t) => t.to_scalar::<f32>()? as f64,
            None => 0.0,
        };
        let norm = sq.sqrt() as f32;
        Ok(((1.0 / (norm + 1e-6f32)) * clip as f32).min(1.0))
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The optimiser's state for a checkpoint: `<var name>` -> its rows
    /// ([`OptimizerConfig::state_rows`], one per row, flattened; none for plain SGD), and
    /// `steps`.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        if self.rows > 0 {
            for (name, state) in self.names.iter().zip(&self.state) {
                let t = match state {
                    State::Host(buf) => {
                        Tensor::from_slice(buf, (self.rows, buf.len() / self.rows), &Device::Cpu)?
                    }
                    State::Device(rows) => {
                        let flat = rows.iter().map(|r| r.flatten_all());
                        Tensor::stack(&flat.collect::<Result<Vec<_>>>()?, 0)?
                    }
                };
                out.push((name.clone(), t));
            }
        }
        out.push((
            "steps".into(),
            Tensor::new(&[self.steps as i64], &Device::Cpu)?,
        ));
        Ok(out)
    }

    /// Restores what [`Optimizer::state`] saved, `get(key)` reading a saved tensor.
    pub fn restore(&mut self, get: &dyn Fn(&str) -> Result<Tensor>) -> Result<()> {
        if self.rows > 0 {
            for ((name, state), var) in self.names.iter().zip(&mut self.state).zip(&self.vars) {
                let t = get(name)?;
                let want = [self.rows, var.elem_count()];
                if t.dims() != want {
                    candle_core::bail!(
                        "optimiser state of {name} has shape {:?}, this model's {want:?} ({}: {})",
                        t.dims(),
                        self.cfg.kind.name(),
                        self.cfg.state_rows().join(", ")
                    );
                }
                let t = t.to_dtype(var.dtype())?;
                match state {
                    State::Host(buf) => *buf = t.flatten_all()?.to_vec1()?,
                    State::Device(rows) => {
                        for (i, row) in rows.iter_mut().enumerate() {
                            let r = t.get(i)?.reshape(var.shape())?;
                            *row = r.to_device(var.device())?.contiguous()?.copy()?;
                        }
                    }
                }
            }
        }
        self.steps = get("steps")?.to_vec1::<i64>()?[0] as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
