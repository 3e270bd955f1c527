//! Each kind's update of one element, as torch's single-tensor step computes it in f32, and
//! the scalars of a step, computed as torch computes them: in Python floats (f64), then cast
//! to f32 by the kernel that uses them (`exp_avg.lerp_(grad, 1 - beta1)` casts 1 - beta1, not
//! beta1). The fused CPU loops call the element rules; the tensor-op path follows the same
//! operations in the same order.
//!
//! ATen's element formulas, which fix the order of each rounding:
//! - `a.add(b, alpha=s)`: a + s * b
//! - `a.addcmul(b, c, value=s)`: a + s * b * c, i.e. a + ((s * b) * c)
//! - `a.addcdiv(b, c, value=s)`: a + s * b / c, i.e. a + ((s * b) / c)
//! - `a.lerp(b, w)`: a + w * (b - a) when |w| < 0.5, else b - (b - a) * (1 - w)

use super::{Kind, OptimizerConfig};

/// torch's `lerp` with a scalar weight already cast to f32.
#[inline(always)]
pub fn lerp(start: f32, end: f32, weight: f32) -> f32 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}

/// The scalars of one step of `adam` or `adamw`.
#[derive(Debug, Clone, Copy)]
pub struct Adam {
    /// `clip_grad_norm_`'s factor (1: none).
    pub grad_scale: f32,
    /// adam: `grad = grad.add(param, alpha=weight_decay)`.
    pub l2: Option<f32>,
    /// adamw: `param.mul_(1 - lr * weight_decay)`.
    pub decay: Option<f32>,
    /// 1 - beta1
    pub w1: f32,
    pub beta2: f32,
    /// 1 - beta2
    pub w2: f32,
    /// sqrt(1 - beta2^t)
    pub bias2_sqrt: f32,
    pub eps: f32,
    /// -lr / (1 - beta1^t)
    pub neg_step: f32,
}

/// The scalars of one step of `sgd`.
#[derive(Debug, Clone, Copy)]
pub struct Sgd {
    pub grad_scale: f32,
    pub l2: Option<f32>,
    /// None: momentum 0 (no buffer).
    pub momentum: Option<SgdMomentum>,
    /// -lr
    pub neg_lr: f32,
}

#[derive(Debug, Clone, Copy)]
pub struct SgdMomentum {
    pub momentum: f32,
    /// 1 - dampening
    pub keep: f32,
    /// The first step: torch's buffer starts as the gradient itself.
    pub first: bool,
    pub nesterov: bool,
}

/// The scalars of one step of `rmsprop`.
#[derive(Debug, Clone, Copy)]
pub struct RmsProp {
    pub grad_scale: f32,
    pub l2: Option<f32>,
    pub alpha: f32,
    /// 1 - alpha
    pub w: f32,
    pub centered: bool,
    pub eps: f32,
    /// None: momentum 0 (no buffer).
    pub momentum: Option<f32>,
    /// -lr
    pub neg_lr: f32,
}

/// One step's scalars, of the configured kind.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Adam(Adam),
    Sgd(Sgd),
    RmsProp(RmsProp),
}

impl Step {
    /// Step `t` (from 1) at rate `lr`, after clipping by `grad_scale`.
    pub fn new(cfg: &OptimizerConfig, lr: f64, t: usize, grad_scale: f32) -> Self {
        let wd = cfg.weight_decay;
        let l2 = (wd != 0.0).then_some(wd as f32);
        match cfg.kind {
            Kind::Adam(a) | Kind::AdamW(a) => {
                let decoupled = matches!(cfg.kind, Kind::AdamW(_));
                // torch's step count is a float tensor, read back as a Python float.
                let t = t as f64;
                let bias_correction1 = 1.0 - a.beta1.powf(t);
                let bias_correction2 = 1.0 - a.beta2.powf(t);
                let step_size = lr / bias_correction1;
                Self::Adam(Adam {
                    grad_scale,
                    l2: if decoupled { None } else { l2 },
                    decay: (decoupled && wd != 0.0).then_some((1.0 - lr * wd) as f32),
                    w1: (1.0 - a.beta1) as f32,
                    beta2: a.beta2 as f32,
                    w2: (1.0 - a.beta2) as f32,
                    bias2_sqrt: bias_correction2.powf(0.5) as f32,
                    eps: a.eps as f32,
                    neg_step: -step_size as f32,
                })
            }
            Kind::Sgd(s) => Self::Sgd(Sgd {
                grad_scale,
                l2,
                momentum: (s.momentum != 0.0).then_some(SgdMomentum {
                    momentum: s.momentum as f32,
                    keep: (1.0 - s.dampening) as f32,
                    first: t == 1,
                    nesterov: s.nesterov,
                }),
                neg_lr: -lr as f32,
            }),
            Kind::RmsProp(r) => Self::RmsProp(RmsProp {
                grad_scale,
                l2,
                alpha: r.alpha as f32,
                w: (1.0 - r.alpha) as f32,
                centered: r.centered,
                eps: r.eps as f32,
                momentum: (r.momentum > 0.0).then_some(r.momentum as f32),
                neg_lr: -lr as f32,
            }),
        }
    }
}

impl Adam {
    /// torch's `_single_tensor_adam` on one element (amsgrad off).
    #[inline(always)]
    pub fn update(&self, w: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        let mut g = g * self.grad_scale;
        if let Some(wd) = self.l2 {
            g += wd * *w;
        }
        if let Some(d) = self.decay {
            *w *= d;
        }
        *m = lerp(*m, g, self.w1);
        *v = *v * self.beta2 + self.w2 * g * g;
        let denom = v.sqrt() / self.bias2_sqrt + self.eps;
        *w += self.neg_step * *m / denom;
    }
}

impl Sgd {
    /// torch's `_single_tensor_sgd` on one element; `buf` is there when momentum is.
    #[inline(always)]
    pub fn update(&self, w: &mut f32, g: f32, buf: Option<&mut f32>) {
        let mut g = g * self.grad_scale;
        if let Some(wd) = self.l2 {
            g += wd * *w;
        }
        if let (Some(mo), Some(b)) = (self.momentum, buf) {
            *b = if mo.first {
                g
            } else {
                *b * mo.momentum + mo.keep * g
            };
            g = if mo.nesterov {
                g + mo.momentum * *b
            } else {
                *b
            };
        }
        *w += self.neg_lr * g;
    }
}

impl RmsProp {
    /// torch's `_single_tensor_rmsprop` on one element; `grad_avg` is there when centered,
    /// `buf` when momentum is.
    #[inline(always)]
    pub fn update(
        &self,
        w: &mut f32,
        g: f32,
        square_avg: &mut f32,
        grad_avg: Option<&mut f32>,
        buf: Option<&mut f32>,
    ) {
        let mut g = g * self.grad_scale;
        if let Some(wd) = self.l2 {
            g += wd * *w;
        }
        *square_avg = *square_avg * self.alpha + self.w * g * g;
        let avg = match grad_avg {
            Some(ga) => {
                *ga = lerp(*ga, g, self.w);
                // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                (*square_avg + -*ga * *ga).sqrt()
            }
            None => square_avg.sqrt(),
        } + self.eps;
        match (self.momentum, buf) {
            (Some(mo), Some(b)) => {
                // buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
                *b = *b * mo + g / avg;
                *w += self.neg_lr * *b;
            }
            _ => *w += self.neg_lr * g / avg,
        }
    }
}
