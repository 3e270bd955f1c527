//! The step as candle tensor ops, for variables that the fused CPU pass does not take (another
//! device or dtype): the operations of rules.rs in the same order. A number times a tensor is
//! candle's `affine`, which casts the number to the tensor's dtype as torch does; a division
//! by a number divides by a one-element tensor, since candle's `tensor / number` multiplies by
//! the reciprocal.

use super::rules::Step;
use candle_core::{Result, Tensor, Var};

/// One step of `var` given its gradient `g`, replacing its state `rows`.
pub(super) fn step(step: &Step, var: &Var, g: &Tensor, rows: &mut [Tensor]) -> Result<()> {
    let mut w = var.as_tensor().clone();
    let grad = |scale: f32, l2: Option<f32>| -> Result<Tensor> {
        let g = (g * scale as f64)?;
        match l2 {
            Some(wd) => g + (&w * wd as f64)?,
            None => Ok(g),
        }
    };
    let new_w = match step {
        Step::Adam(c) => {
            let g = grad(c.grad_scale, c.l2)?;
            if let Some(d) = c.decay {
                w = (w * d as f64)?;
            }
            let m = lerp(&rows[0], &g, c.w1)?;
            let v = ((&rows[1] * c.beta2 as f64)? + ((&g * c.w2 as f64)? * &g)?)?;
            let denom = (div(&v.sqrt()?, c.bias2_sqrt)? + c.eps as f64)?;
            let w = (w + ((&m * c.neg_step as f64)? / denom)?)?;
            rows[0] = m;
            rows[1] = v;
            w
        }
        Step::Sgd(c) => {
            let mut g = grad(c.grad_scale, c.l2)?;
            if let Some(mo) = c.momentum {
                let b = if mo.first {
                    g.clone()
                } else {
                    ((&rows[0] * mo.momentum as f64)? + (&g * mo.keep as f64)?)?
                };
                g = if mo.nesterov {
                    (g + (&b * mo.momentum as f64)?)?
                } else {
                    b.clone()
                };
                rows[0] = b;
            }
            (w + (g * c.neg_lr as f64)?)?
        }
        Step::RmsProp(c) => {
            let g = grad(c.grad_scale, c.l2)?;
            let sq = ((&rows[0] * c.alpha as f64)? + ((&g * c.w as f64)? * &g)?)?;
            let avg = if c.centered {
                let ga = lerp(&rows[1], &g, c.w)?;
                let avg = (&sq + (ga.neg()? * &ga)?)?.sqrt()?;
                rows[1] = ga;
                avg
            } else {
                sq.sqrt()?
            };
            let avg = (avg + c.eps as f64)?;
            rows[0] = sq;
            match c.momentum {
                Some(mo) => {
                    let last = rows.len() - 1;
                    let b = ((&rows[last] * mo as f64)? + (g / avg)?)?;
                    let w = (w + (&b * c.neg_lr as f64)?)?;
                    rows[last] = b;
                    w
                }
                None => (w + ((g * c.neg_lr as f64)? / avg)?)?,
            }
        }
    };
    var.set(&new_w)
}

/// rules.rs's `lerp`, on tensors.
fn lerp(start: &Tensor, end: &Tensor, weight: f32) -> Result<Tensor> {
    let d = (end - start)?;
    if weight.abs() < 0.5 {
        start + (d * weight as f64)?
    } else {
        end - (d * (1.0 - weight) as f64)?
    }
}

/// `x / c`, a true division.
fn div(x: &Tensor, c: f32) -> Result<Tensor> {
    let c = Tensor::new(c, x.device())?.to_dtype(x.dtype())?;
    x.broadcast_div(&c)
}
