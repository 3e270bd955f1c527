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
use crate::cpu::{f32_slice, sgemm_here, Mat};
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
        let (win, act) = (self.window, self.act);
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
        let g = group(n, bn);
        // [out, in, tap] -> [out, tap, in], the order of a gathered row.
        let wt = swap_last(w, (co, ci, TAPS));
        let mut y = biased(b, n * l);
        let (xn, yn) = (win.large_len(), l * co);
        x.par_chunks(g * xn)
            .zip(y.par_chunks_mut(g * yn))
            .for_each(|(xg, yg)| {
                let mut cols = vec![0f32; bn * win.cols_len()];
                for (xb, yb) in xg.chunks(bn * xn).zip(yg.chunks_mut(bn * yn)) {
                    let m = yb.len() / co;
                    let cols = &mut cols[..m * k];
                    win.gather(xb, cols);
                    let (a, w) = (Mat::rows(cols, k), Mat::rows(&wt, k).t());
                    sgemm_here(yb, a, w, (m, k, co), true);
                    act.forward_slice(yb);
                }
            });
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
        let (win, act, wants_dx) = (self.window, self.act, x.track_op());
        let (n, co, ci) = (x.dim(0)?, w.dim(0)?, win.c);
        let (k, l, bn) = (TAPS * ci, win.small.0 * win.small.1, block(&win));
        let g = group(n, bn);
        let (xn, zn) = (win.large_len(), l * co);
        let (dx, dw, db) = on_values([x, w, y, dy], |[x, w, y, dy]| {
            let wt = swap_last(w, (co, ci, TAPS));
            let mut dx = vec![0f32; if wants_dx { x.len() } else { 0 }];
            let parts: Vec<(Vec<f32>, Vec<f32>)> = x
                .par_chunks(g * xn)
                .zip(y.par_chunks(g * zn))
                .zip(dy.par_chunks(g * zn))
                .zip(parts_of(&mut dx, g * xn, n.div_ceil(g)))
                .map(|(((xg, yg), dyg), mut dxg)| {
                    let (mut dwt, mut db) = (vec![0f32; co * k], vec![0f32; co]);
                    let mut cols = vec![0f32; bn * win.cols_len()];
                    let mut dcols = vec![0f32; if wants_dx { cols.len() } else { 0 }];
                    let mut dz = vec![0f32; bn * zn];
                    let blocks = xg
                        .chunks(bn * xn)
                        .zip(yg.chunks(bn * zn))
                        .zip(dyg.chunks(bn * zn));
                    for (j, ((xb, yb), dyb)) in blocks.enumerate() {
                        let m = yb.len() / co;
                        let (cols, dz) = (&mut cols[..m * k], &mut dz[..yb.len()]);
                        through(act, yb, dyb, dz);
                        add_column_sum(&mut db, dz);
                        win.gather(xb, cols);
                        let (a, c) = (Mat::rows(dz, co).t(), Mat::rows(cols, k));
                        sgemm_here(&mut dwt, a, c, (co, m, k), true);
                        if let Some(dxg) = dxg.as_deref_mut() {
                            let dcols = &mut dcols[..m * k];
                            let (a, w) = (Mat::rows(dz, co), Mat::rows(&wt, k));
                            sgemm_here(dcols, a, w, (m, co, k), false);
                            win.scatter_add(dcols, &mut dxg[j * bn * xn..][..xb.len()]);
                        }
                    }
                    (dwt, db)
                })
                .collect();
            let (dwt, db) = sum_in_order(parts);
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
        let (win, act) = (self.window, self.act);
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
        let g = group(n, bn);
        // [in, out, tap] -> [in, tap, out]: a row of taps, each a run of channels.
        let wt = swap_last(w, (ci, co, TAPS));
        let mut y = biased(b, n * win.large.0 * win.large.1);
        let (xn, yn) = (p * ci, win.large_len());
        x.par_chunks(g * xn)
            .zip(y.par_chunks_mut(g * yn))
            .for_each(|(xg, yg)| {
                let mut cols = vec![0f32; bn * win.cols_len()];
                for (xb, yb) in xg.chunks(bn * xn).zip(yg.chunks_mut(bn * yn)) {
                    let m = xb.len() / ci;
                    let cols = &mut cols[..m * k];
                    sgemm_here(
                        cols,
                        Mat::rows(xb, ci),
                        Mat::rows(&wt, k),
                        (m, ci, k),
                        false,
                    );
                    win.scatter_add(cols, yb);
                    act.forward_slice(yb);
                }
            });
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
        let (win, act, wants_dx) = (self.window, self.act, x.track_op());
        let (n, ci, co) = (x.dim(0)?, w.dim(0)?, win.c);
        let (k, p, bn) = (TAPS * co, win.small.0 * win.small.1, block(&win));
        let g = group(n, bn);
        let (xn, zn) = (p * ci, win.large_len());
        let (dx, dw, db) = on_values([x, w, y, dy], |[x, w, y, dy]| {
            let wt = swap_last(w, (ci, co, TAPS));
            let mut dx = vec![0f32; if wants_dx { x.len() } else { 0 }];
            let parts: Vec<(Vec<f32>, Vec<f32>)> = x
                .par_chunks(g * xn)
                .zip(y.par_chunks(g * zn))
                .zip(dy.par_chunks(g * zn))
                .zip(parts_of(&mut dx, g * xn, n.div_ceil(g)))
                .map(|(((xg, yg), dyg), mut dxg)| {
                    let (mut dwt, mut db) = (vec![0f32; ci * k], vec![0f32; co]);
                    let mut dcols = vec![0f32; bn * win.cols_len()];
                    let mut dz = vec![0f32; bn * zn];
                    let blocks = xg
                        .chunks(bn * xn)
                        .zip(yg.chunks(bn * zn))
                        .zip(dyg.chunks(bn * zn));
                    for (j, ((xb, yb), dyb)) in blocks.enumerate() {
                        let m = xb.len() / ci;
                        let (dcols, dz) = (&mut dcols[..m * k], &mut dz[..yb.len()]);
                        through(act, yb, dyb, dz);
                        add_column_sum(&mut db, dz);
                        win.gather(dz, dcols);
                        let (a, c) = (Mat::rows(xb, ci).t(), Mat::rows(dcols, k));
                        sgemm_here(&mut dwt, a, c, (ci, m, k), true);
                        if let Some(dxg) = dxg.as_deref_mut() {
                            let dxb = &mut dxg[j * bn * xn..][..xb.len()];
                            let (a, w) = (Mat::rows(dcols, k), Mat::rows(&wt, k).t());
                            sgemm_here(dxb, a, w, (m, k, ci), false);
                        }
                    }
                    (dwt, db)
                })
                .collect();
            let (dwt, db) = sum_in_order(parts);
            (dx, swap_last(&dwt, (ci, TAPS, co)), db)
        })?;
        gradients(x, w, (dx, dw, db), wants_dx)
    }
}

/// Images in each thread's share of a batch of `n`: one contiguous group per thread, a whole
/// number of blocks each. Each group runs its GEMMs on one thread (a block's are too small to
/// split), and its weight gradient is summed over its blocks in order and then over the groups
/// in order, so a run gives the same bits whichever thread takes which group.
fn group(n: usize, bn: usize) -> usize {
    let threads = candle_core::utils::get_num_threads().max(1);
    (n.div_ceil(threads).div_ceil(bn) * bn).max(1)
}

/// `groups` mutable parts of `len` values of the input gradient (the last one shorter), or
/// as many Nones when it is not wanted (`v` empty).
fn parts_of(v: &mut [f32], len: usize, groups: usize) -> Vec<Option<&mut [f32]>> {
    match v.is_empty() {
        true => (0..groups).map(|_| None).collect(),
        false => v.chunks_mut(len).map(Some).collect(),
    }
}

/// The groups' weight and bias gradients added up, the first group first.
fn sum_in_order(parts: Vec<(Vec<f32>, Vec<f32>)>) -> (Vec<f32>, Vec<f32>) {
    let mut parts = parts.into_iter();
    let mut sum = parts.next().expect("a batch of at least one image");
    for (dw, db) in parts {
        sum.0.iter_mut().zip(dw).for_each(|(s, v)| *s += v);
        sum.1.iter_mut().zip(db).for_each(|(s, v)| *s += v);
    }
    sum
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

/// The gradient before the activation, `dy * act'`, read off the activation's output `y`.
fn through(act: Activation, y: &[f32], dy: &[f32], dz: &mut [f32]) {
    match act {
        Activation::None => dz.copy_from_slice(dy),
        act => {
            let each = dz.iter_mut().zip(dy).zip(y);
            each.for_each(|((z, &d), &y)| *z = d * act.derivative_from_output(y));
        }
    }
}

/// Adds the sums over the rows of a row-major matrix of `sum.len()` columns to `sum`.
fn add_column_sum(sum: &mut [f32], v: &[f32]) {
    for row in v.chunks_exact(sum.len()) {
        sum.iter_mut().zip(row).for_each(|(s, r)| *s += r);
    }
}
