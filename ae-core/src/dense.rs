//! `act(x W^T + b)` as one candle op with its own backward, on the CPU in f32.
//!
//! Built from plain candle ops, a linear layer costs a bias broadcast, an activation and, in
//! the backward pass, a gradient for `W^T` that candle accumulates into the weight's gradient
//! through a strided (scalar) add, a mask, a cast and a multiply for the activation, and a
//! product for the input's gradient even when the input is data. Here the forward pass is one
//! GEMM into a bias-filled buffer with the activation applied in place, and the backward pass
//! is the activation's derivative from the output, two GEMMs with contiguous results and a
//! column sum, skipping the input's gradient when nothing upstream wants it. Every MLP of
//! every variant goes through [`dense`]; other devices and dtypes take the same plain ops.

use crate::activation::Activation;
use crate::cpu::{add_column_sum, f32_slice, parallel, sgemm, Mat};
use crate::grad::param;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

/// `act(x W^T + b)` for `x: [n, in]`, `w: [out, in]`, `b: [out]`.
pub fn dense(x: &Tensor, w: &Tensor, b: &Tensor, act: Activation) -> Result<Tensor> {
    let (w, b) = (&param(w), &param(b));
    let fused = x.device().is_cpu()
        && [x.dtype(), w.dtype(), b.dtype()] == [DType::F32; 3]
        && x.rank() == 2;
    if fused {
        x.apply_op3(w, b, Dense(act))
    } else {
        act.apply(&x.broadcast_matmul(&w.t()?)?.broadcast_add(b)?)
    }
}

/// [`dense`] with the weight and bias of a layer made by `candle_nn::linear`.
pub fn dense_layer(x: &Tensor, layer: &candle_nn::Linear, act: Activation) -> Result<Tensor> {
    let Some(b) = layer.bias() else {
        candle_core::bail!("dense_layer: a linear layer without bias")
    };
    dense(x, layer.weight(), b, act)
}

struct Dense(Activation);

/// All the elements of an f32 storage (a layout says which are the tensor's).
fn f32_storage<'a>(s: &'a CpuStorage, what: &str) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => Ok(v),
        _ => candle_core::bail!("dense: {what} is not f32"),
    }
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let ((n, k), (out, k2)) = (xl.shape().dims2()?, wl.shape().dims2()?);
        if k != k2 || bl.shape().dims1()? != out {
            candle_core::bail!(
                "dense: x {:?}, w {:?}, b {:?} do not fit",
                xl.dims(),
                wl.dims(),
                bl.dims()
            );
        }
        let (x, w, b) = (
            Mat::strided(f32_storage(xs, "x")?, xl),
            Mat::strided(f32_storage(ws, "w")?, wl),
            &f32_storage(bs, "b")?[bl.start_offset()..],
        );
        let b_stride = bl.stride()[0];
        let mut y = Vec::with_capacity(n * out);
        for _ in 0..n {
            y.extend((0..out).map(|j| b[j * b_stride]));
        }
        // W^T: its element (i, j) is W[j, i].
        sgemm(&mut y, x, w.t(), (n, k, out), true);
        let act = self.0;
        if parallel(y.len()) {
            y.par_chunks_mut(1 << 14).for_each(|y| act.forward_slice(y));
        } else {
            act.forward_slice(&mut y);
        }
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dz = match self.0 {
            Activation::None => dy,
            act => dy.apply_op2_no_bwd(y, &ActGrad(act))?,
        };
        let dx = if x.track_op() {
            Some(dz.matmul(&w.detach())?)
        } else {
            None
        };
        let dw = dz.t()?.matmul(&x.detach())?;
        let db = dz.apply_op1_no_bwd(&ColumnSum)?;
        Ok((dx, Some(dw), Some(db)))
    }
}

/// `dy * act'(pre-activation)`, the derivative read off the activation's output `y`.
struct ActGrad(Activation);

impl CustomOp2 for ActGrad {
    fn name(&self) -> &'static str {
        "dense-activation-grad"
    }

    fn cpu_fwd(
        &self,
        ds: &CpuStorage,
        dl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (d, y) = (
            f32_slice(ds, dl, self.name())?,
            f32_slice(ys, yl, self.name())?,
        );
        let mut out = vec![0f32; d.len()];
        self.0.backward_slice(y, d, &mut out);
        Ok((CpuStorage::F32(out), dl.shape().clone()))
    }
}

/// The sum over rows of a contiguous [n, d] matrix (candle's `sum(0)` was the slowest part of
/// this layer's backward pass).
struct ColumnSum;

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "dense-column-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, d) = l.shape().dims2()?;
        let x = f32_slice(s, l, self.name())?;
        let mut sum = vec![0f32; d];
        add_column_sum(&mut sum, &x[..n * d]);
        Ok((CpuStorage::F32(sum), Shape::from(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn uniform(shape: &[usize], seed: u64) -> Result<Tensor> {
        // A fixed low-discrepancy fill: no exact zeros, no RNG needed.
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i as f64 * 0.618_034 + seed as f64 * 0.414_214).fract() * 2.0 - 1.0) as f32)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
    }

    /// The fused op against candle's own ops, in value and in every gradient, for each
    /// activation, with a transposed (strided) input and an input that needs no gradient.
    #[test]
    fn matches_plain_candle_ops_in_value_and_gradient() -> Result<()> {
        for act in [
            Activation::Relu,
            Activation::Tanh,
            Activation::LeakyRelu,
            Activation::Sigmoid,
            Activation::None,
        ] {
            for (transposed_x, x_tracks) in [(false, true), (true, true), (false, false)] {
                let x0 = if transposed_x {
                    uniform(&[7, 5], 1)?.t()?
                } else {
                    uniform(&[5, 7], 1)?
                };
                let x = Var::from_tensor(&x0.contiguous()?)?;
                let w = Var::from_tensor(&(uniform(&[4, 7], 2)? * 0.7)?)?;
                let b = Var::from_tensor(&(uniform(&[4], 3)? * 0.3)?)?;
                let input = if x_tracks {
                    // Keep the strided layout of the transposed case.
                    if transposed_x {
                        x.as_tensor().t()?.contiguous()?.t()?
                    } else {
                        x.as_tensor().clone()
                    }
                } else {
                    x0.clone()
                };
                let target = uniform(&[5, 4], 4)?;
                let loss = |y: Tensor| (y - &target)?.sqr()?.sum_all();
                let fused = dense(&input, &w, &b, act)?;
                let plain = act.apply(&input.matmul(&w.t()?)?.broadcast_add(&b)?)?;
                let (gf, gp) = (
                    loss(fused.clone())?.backward()?,
                    loss(plain.clone())?.backward()?,
                );
                let close = |a: &Tensor, b: &Tensor, what: &str| -> Result<()> {
                    let d = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                    assert!(d < 1e-5, "{act:?} {what}: differs by {d}");
                    Ok(())
                };
                close(&fused, &plain, "value")?;
                close(gf.get(&w).unwrap(), gp.get(&w).unwrap(), "dW")?;
                close(gf.get(&b).unwrap(), gp.get(&b).unwrap(), "db")?;
                match (gf.get(&x), gp.get(&x)) {
                    (Some(a), Some(p)) => close(a, p, "dx")?,
                    (None, None) => assert!(!x_tracks),
                    (a, p) => panic!("{act:?}: dx present {} vs {}", a.is_some(), p.is_some()),
                }
            }
        }
        Ok(())
    }

    /// The weight gradient against central differences of the loss, in f32 with a coarse step,
    /// for the smooth activations (relu's kink would need care with the step).
    #[test]
    fn weight_gradient_matches_finite_differences() -> Result<()> {
        let x = uniform(&[3, 4], 5)?;
        let w0 = uniform(&[2, 4], 6)?;
        let b = uniform(&[2], 7)?;
        for act in [Activation::Tanh, Activation::Sigmoid, Activation::None] {
            let loss = |w: &Tensor| -> Result<f32> {
                dense(&x, w, &b, act)?.sqr()?.sum_all()?.to_scalar::<f32>()
            };
            let wv = Var::from_tensor(&w0)?;
            let g = dense(&x, &wv, &b, act)?.sqr()?.sum_all()?.backward()?;
            let g = g.get(&wv).unwrap().flatten_all()?.to_vec1::<f32>()?;
            let base = w0.flatten_all()?.to_vec1::<f32>()?;
            let h = 1e-2f32;
            for (i, gi) in g.iter().enumerate() {
                let at = |d: f32| -> Result<f32> {
                    let mut v = base.clone();
                    v[i] += d;
                    loss(&Tensor::from_vec(v, (2, 4), &Device::Cpu)?)
                };
                let fd = (at(h)? - at(-h)?) / (2.0 * h);
                assert!(
                    (fd - gi).abs() < 2e-3,
                    "{act:?} w[{i}]: {gi} vs finite difference {fd}"
                );
            }
        }
        Ok(())
    }
}
