//! The conv layers as candle ops with their own backward, on the CPU in f32 (as dense.rs does
//! for the linear layer). Built from plain ops, each layer pads, gathers through an index,
//! broadcasts a bias and applies its activation as separate passes, and its backward pass
//! zero-fills and scatters through `index_add`, crops by padding, and runs the activation's
//! derivative as four more ops: those passes took over half of a conv epoch, the GEMMs under a
//! third. Here a layer is a gather straight from the unpadded map, one GEMM into a bias-filled
//! buffer and the activation in place, taken a block of images at a time so that the columns
//! are still in cache when the GEMM reads them; its backward pass is the activation's
//! derivative, the gather again, and two GEMMs (the input's gradient only when something
//! upstream wants it: not for the image the first layer reads).

use super::window::{Window, TAPS};
use crate::activation::Activation;
use crate::cpu::{f32_slice, parallel, sgemm, Mat};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;

/// The column values of a block of images, about 512 KiB: inside a core's L2 cache. Measured
/// on the conv AE (one thread, 10000 images): 64-128K values 3.5-3.7 s, 512K 3.9-4.0 s, 2M
/// 4.3 s, the whole batch of 128 images at once 6.0 s.
const BLOCK_VALUES: usize = 1 << 17;

/// Images in a block of `window`'s columns.
fn block(window: &Window) -> usize {
    (BLOCK_VALUES / window.cols_len()).max(1)
}

/// `act(conv(x, w) + b)`, stride 2, kernel 4, padding 1: x [n, h, w, ci] channels last, weight
/// [co, ci, 4, 4] (candle-nn's Conv2d), bias [co], to [n, ho, wo, co]. The window's large map
/// is the input, its small one the output, its channels the input's.
pub(crate) struct ConvOp {
    pub window: Window,
    pub act: Activation,
}

/// `act(conv_transpose(x, w) + b)`, the transpose of [`ConvOp`]: x [n, hi, wi, ci], weight
/// [ci, co, 4, 4] (candle-nn's ConvTranspose2d), bias [co], to [n, ho, wo, co]. The window's
/// large map is the output, its small one the input, its channels the output's.
pub(crate) struct DeconvOp {
    pub window: Window,
    pub act: Activation,
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "conv"
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
        let win = self.window;
        let (n, co, ci) = (xl.dims()[0], wl.dims()[0], win.c);
        check(self.name(), xl, &[n, win.large.0, win.large.1, ci])?;
        check(self.name(), wl, &[co, ci, 4, 4])?;
        check(self.name(), bl, &[co])?;
        let (x, w, b) = (
            f32_slice(xs, xl, "conv x")?,
            f32_slice(ws, wl, "conv weight")?,
            f32_slice(bs, bl, "conv bias")?,
        );
        let (k, l, bn) = (TAPS * ci, win.small.0 * win.small.1, block(&win));
        // [out, in, tap] -> [out, tap, in], the order of a gathered row.
        let wt = swap_last(w, (co, ci, TAPS));
        let mut y = biased(b, n * l);
        let mut cols = vec![0f32; bn * win.cols_len()];
        for (xb, yb) in x
            .chunks(bn * win.large_len())
            .zip(y.chunks_mut(bn * l * co))
        {
            let (m, cols) = (yb.len() / co, &mut cols[..yb.len() / co * k]);
            win.gather(xb, cols);
            sgemm(
                yb,
                Mat::rows(cols, k),
                Mat::rows(&wt, k).t(),
                (m, k, co),
                true,
            );
        }
        activate(self.act, &mut y);
        Ok((
            CpuStorage::F32(y),
            Shape::from((n, win.small.0, win.small.1, co)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (win, wants_dx) = (self.window, x.track_op());
        let (co, ci) = (w.dim(0)?, win.c);
        let (k, l, bn) = (TAPS * ci, win.small.0 * win.small.1, block(&win));
        let (dx, dw, db) = on_values([x, w, y, dy], |[x, w, y, dy]| {
            let dz = through(self.act, y, dy);
            let wt = swap_last(w, (co, ci, TAPS));
            let mut dwt = vec![0f32; co * k];
            let mut dx = vec![0f32; if wants_dx { x.len() } else { 0 }];
            let mut cols = vec![0f32; bn * win.cols_len()];
            let mut dcols = vec![0f32; if wants_dx { cols.len() } else { 0 }];
            let (xn, zn) = (bn * win.large_len(), bn * l * co);
            for (i, (xb, zb)) in x.chunks(xn).zip(dz.chunks(zn)).enumerate() {
                let m = zb.len() / co;
                let cols = &mut cols[..m * k];
                win.gather(xb, cols);
                sgemm(
                    &mut dwt,
                    Mat::rows(zb, co).t(),
                    Mat::rows(cols, k),
                    (co, m, k),
                    i > 0,
                );
                if wants_dx {
                    let dcols = &mut dcols[..m * k];
                    sgemm(
                        dcols,
                        Mat::rows(zb, co),
                        Mat::rows(&wt, k),
                        (m, co, k),
                        false,
                    );
                    win.scatter_add(dcols, &mut dx[i * xn..i * xn + xb.len()]);
                }
            }
            let db = column_sum(&dz, co);
            (dx, swap_last(&dwt, (co, TAPS, ci)), db)
        })?;
        gradients(x, w, (dx, dw, db), wants_dx)
    }
}

impl CustomOp3 for DeconvOp {
    fn name(&self) -> &'static str {
        "conv-transpose"
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
        let win = self.window;
        let (n, ci, co) = (xl.dims()[0], wl.dims()[0], win.c);
        check(self.name(), xl, &[n, win.small.0, win.small.1, ci])?;
        check(self.name(), wl, &[ci, co, 4, 4])?;
        check(self.name(), bl, &[co])?;
        let (x, w, b) = (
            f32_slice(xs, xl, "conv-transpose x")?,
            f32_slice(ws, wl, "conv-transpose weight")?,
            f32_slice(bs, bl, "conv-transpose bias")?,
        );
        let (k, p, bn) = (TAPS * co, win.small.0 * win.small.1, block(&win));
        // [in, out, tap] -> [in, tap, out]: a row of taps, each a run of channels.
        let wt = swap_last(w, (ci, co, TAPS));
        let mut y = biased(b, n * win.large.0 * win.large.1);
        let mut cols = vec![0f32; bn * win.cols_len()];
        for (xb, yb) in x
            .chunks(bn * p * ci)
            .zip(y.chunks_mut(bn * win.large_len()))
        {
            let (m, cols) = (xb.len() / ci, &mut cols[..xb.len() / ci * k]);
            sgemm(
                cols,
                Mat::rows(xb, ci),
                Mat::rows(&wt, k),
                (m, ci, k),
                false,
            );
            win.scatter_add(cols, yb);
        }
        activate(self.act, &mut y);
        Ok((
            CpuStorage::F32(y),
            Shape::from((n, win.large.0, win.large.1, co)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (win, wants_dx) = (self.window, x.track_op());
        let (ci, co) = (w.dim(0)?, win.c);
        let (k, p, bn) = (TAPS * co, win.small.0 * win.small.1, block(&win));
        let (dx, dw, db) = on_values([x, w, y, dy], |[x, w, y, dy]| {
            let dz = through(self.act, y, dy);
            let wt = swap_last(w, (ci, co, TAPS));
            let mut dwt = vec![0f32; ci * k];
            let mut dx = vec![0f32; if wants_dx { x.len() } else { 0 }];
            let mut dcols = vec![0f32; bn * win.cols_len()];
            let (xn, zn) = (bn * p * ci, bn * win.large_len());
            for (i, (xb, zb)) in x.chunks(xn).zip(dz.chunks(zn)).enumerate() {
                let m = xb.len() / ci;
                let dcols = &mut dcols[..m * k];
                win.gather(zb, dcols);
                sgemm(
                    &mut dwt,
                    Mat::rows(xb, ci).t(),
                    Mat::rows(dcols, k),
                    (ci, m, k),
                    i > 0,
                );
                if wants_dx {
                    let dxb = &mut dx[i * xn..i * xn + xb.len()];
                    sgemm(
                        dxb,
                        Mat::rows(dcols, k),
                        Mat::rows(&wt, k).t(),
                        (m, k, ci),
                        false,
                    );
                }
            }
            let db = column_sum(&dz, co);
            (dx, swap_last(&dwt, (ci, TAPS, co)), db)
        })?;
        gradients(x, w, (dx, dw, db), wants_dx)
    }
}

/// An error unless a layout is contiguous and of the shape the layer was built for.
fn check(op: &str, l: &Layout, dims: &[usize]) -> Result<()> {
    if l.dims() != dims || !l.is_contiguous() {
        candle_core::bail!("{op}: expected a contiguous {dims:?}, got {:?}", l.dims());
    }
    Ok(())
}

/// The tensors of a backward pass's gradients, in the shapes of x, the weight and the bias.
fn gradients(
    x: &Tensor,
    w: &Tensor,
    (dx, dw, db): (Vec<f32>, Vec<f32>, Vec<f32>),
    wants_dx: bool,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let dev = x.device();
    let dx = match wants_dx {
        true => Some(Tensor::from_vec(dx, x.shape(), dev)?),
        false => None,
    };
    let n = db.len();
    Ok((
        dx,
        Some(Tensor::from_vec(dw, w.shape(), dev)?),
        Some(Tensor::from_vec(db, n, dev)?),
    ))
}

/// `f` on the values of CPU f32 tensors, made contiguous: a backward pass works on slices.
fn on_values<R, const N: usize>(ts: [&Tensor; N], f: impl FnOnce([&[f32]; N]) -> R) -> Result<R> {
    let ts = ts
        .iter()
        .map(|t| t.contiguous())
        .collect::<Result<Vec<_>>>()?;
    let guards: Vec<_> = ts.iter().map(|t| t.storage_and_layout()).collect();
    let mut values = Vec::with_capacity(N);
    for (storage, layout) in &guards {
        match &**storage {
            Storage::Cpu(s) => values.push(f32_slice(s, layout, "conv backward")?),
            _ => candle_core::bail!("conv backward: a tensor off the CPU"),
        }
    }
    Ok(f(values.try_into().expect("one slice per tensor")))
}

/// [a, p, q] -> [a, q, p].
fn swap_last(v: &[f32], (a, p, q): (usize, usize, usize)) -> Vec<f32> {
    let mut out = vec![0f32; a * p * q];
    for (from, to) in v.chunks_exact(p * q).zip(out.chunks_exact_mut(p * q)) {
        for i in 0..p {
            for j in 0..q {
                to[j * p + i] = from[i * q + j];
            }
        }
    }
    out
}

/// `rows` copies of the bias, row after row.
fn biased(b: &[f32], rows: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(rows * b.len());
    (0..rows).for_each(|_| y.extend_from_slice(b));
    y
}

/// The activation in place, across the thread pool for a large batch.
fn activate(act: Activation, y: &mut [f32]) {
    if parallel(y.len()) {
        y.par_chunks_mut(1 << 14).for_each(|y| act.forward_slice(y));
    } else {
        act.forward_slice(y);
    }
}

/// The gradient before the activation, `dy * act'`, read off the activation's output `y`.
fn through(act: Activation, y: &[f32], dy: &[f32]) -> Vec<f32> {
    match act {
        Activation::None => dy.to_vec(),
        act => dy
            .iter()
            .zip(y)
            .map(|(&d, &y)| d * act.derivative_from_output(y))
            .collect(),
    }
}

/// The sum over the rows of a row-major matrix of `d` columns.
fn column_sum(v: &[f32], d: usize) -> Vec<f32> {
    let mut sum = vec![0f32; d];
    for row in v.chunks_exact(d) {
        sum.iter_mut().zip(row).for_each(|(s, r)| *s += r);
    }
    sum
}
