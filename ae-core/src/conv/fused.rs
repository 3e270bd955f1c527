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

use super::window::{Window, KERNEL, TAPS};
use crate::activation::Activation;
use crate::cpu::{add_column_sum, f32_slice, sgemm_here, Mat};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;

/// The column values of a block of images, about 512 KiB: inside a core's L2 cache. Measured
/// on the conv AE (one thread, 10000 images): 64-128K values 3.5-3.7 s, 512K 3.9-4.0 s, 2M
/// 4.3 s, the whole batch of 128 images at once 6.0 s.
const BLOCK_VALUES: usize = 1 << 17;

/// How a layer's batch is cut: `block` images at a time (their columns stay in cache between
/// the gather and the GEMM), and one contiguous group of images for each of `threads`
/// threads, each running its GEMMs alone (a block's are too small to split). A group's weight
/// gradient is summed over its blocks in order, and the groups' in order, so a run gives the
/// same bits whichever thread takes which group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    pub block: usize,
    pub threads: usize,
}

impl Split {
    /// Blocks of about [`BLOCK_VALUES`] column values, on the threads candle is given.
    pub fn of(window: &Window) -> Self {
        Self {
            block: (BLOCK_VALUES / window.cols_len()).max(1),
            threads: candle_core::utils::get_num_threads().max(1),
        }
    }

    /// Images in each group of a batch of `n`.
    fn group(&self, n: usize) -> usize {
        n.div_ceil(self.threads).max(1)
    }
}

/// `act(conv(x, w) + b)`, stride 2, kernel 4, padding 1: x [n, h, w, ci] channels last, weight
/// [co, ci, 4, 4] (candle-nn's Conv2d), bias [co], to [n, ho, wo, co]. The window's large map
/// is the input, its small one the output, its channels the input's.
pub(crate) struct ConvOp {
    pub window: Window,
    pub act: Activation,
    pub split: Split,
}

/// `act(conv_transpose(x, w) + b)`, the transpose of [`ConvOp`]: x [n, hi, wi, ci], weight
/// [ci, co, 4, 4] (candle-nn's ConvTranspose2d), bias [co], to [n, ho, wo, co]. The window's
/// large map is the output, its small one the input, its channels the output's.
pub(crate) struct DeconvOp {
    pub window: Window,
    pub act: Activation,
    pub split: Split,
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
        let (win, taps) = (self.window, self.window.taps());
        let (n, co, ci) = (xl.dims()[0], wl.dims()[0], win.c);
        let [x, w, b] = inputs(
            self.name(),
            [(xs, xl), (ws, wl), (bs, bl)],
            [
                &[n, win.large.0, win.large.1, ci],
                &[co, ci, KERNEL, KERNEL],
                &[co],
            ],
        )?;
        let k = TAPS * ci;
        // [out, in, tap] -> [out, tap, in], the order of a gathered row.
        let wt = swap_last(w, (co, ci, TAPS));
        let sizes = (
            win.large_len(),
            win.small.0 * win.small.1 * co,
            win.cols_len(),
        );
        let y = forward((self.split, self.act), x, b, sizes, |xb, yb, cols| {
            let m = yb.len() / co;
            let cols = &mut cols[..m * k];
            taps.gather(xb, cols);
            sgemm_here(
                yb,
                Mat::rows(cols, k),
                Mat::rows(&wt, k).t(),
                (m, k, co),
                true,
            );
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
        let (win, taps) = (self.window, self.window.taps());
        let (co, ci) = (w.dim(0)?, win.c);
        let k = TAPS * ci;
        let sizes = (
            win.large_len(),
            win.small.0 * win.small.1 * co,
            win.cols_len(),
        );
        let (dx, dw, db) = on_values([x, w, y, dy], |[xv, wv, yv, dyv]| {
            let wt = swap_last(wv, (co, ci, TAPS));
            let wanted = x.track_op();
            let (dx, dwt, db) = backward(
                (self.split, self.act),
                [xv, yv, dyv],
                sizes,
                (co * k, co),
                wanted,
                |b| {
                    let m = b.dz.len() / co;
                    let cols = &mut b.cols[..m * k];
                    taps.gather(b.x, cols);
                    sgemm_here(
                        b.dw,
                        Mat::rows(b.dz, co).t(),
                        Mat::rows(cols, k),
                        (co, m, k),
                        true,
                    );
                    if let Some(dx) = b.dx {
                        let dcols = &mut b.dcols[..m * k];
                        sgemm_here(
                            dcols,
                            Mat::rows(b.dz, co),
                            Mat::rows(&wt, k),
                            (m, co, k),
                            false,
                        );
                        taps.scatter_add(dcols, dx);
                    }
                },
            );
            (dx, swap_last(&dwt, (co, TAPS, ci)), db)
        })?;
        gradients(x, w, (dx, dw, db))
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
        let (win, taps) = (self.window, self.window.taps());
        let (n, ci, co) = (xl.dims()[0], wl.dims()[0], win.c);
        let [x, w, b] = inputs(
            self.name(),
            [(xs, xl), (ws, wl), (bs, bl)],
            [
                &[n, win.small.0, win.small.1, ci],
                &[ci, co, KERNEL, KERNEL],
                &[co],
            ],
        )?;
        let k = TAPS * co;
        // [in, out, tap] -> [in, tap, out]: a row of taps, each a run of channels.
        let wt = swap_last(w, (ci, co, TAPS));
        let sizes = (
            win.small.0 * win.small.1 * ci,
            win.large_len(),
            win.cols_len(),
        );
        let y = forward((self.split, self.act), x, b, sizes, |xb, yb, cols| {
            let m = xb.len() / ci;
            let cols = &mut cols[..m * k];
            sgemm_here(
                cols,
                Mat::rows(xb, ci),
                Mat::rows(&wt, k),
                (m, ci, k),
                false,
            );
            taps.scatter_add(cols, yb);
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
        let (win, taps) = (self.window, self.window.taps());
        let (ci, co) = (w.dim(0)?, win.c);
        let k = TAPS * co;
        let sizes = (
            win.small.0 * win.small.1 * ci,
            win.large_len(),
            win.cols_len(),
        );
        let (dx, dw, db) = on_values([x, w, y, dy], |[xv, wv, yv, dyv]| {
            let wt = swap_last(wv, (ci, co, TAPS));
            let wanted = x.track_op();
            let (dx, dwt, db) = backward(
                (self.split, self.act),
                [xv, yv, dyv],
                sizes,
                (ci * k, co),
                wanted,
                |b| {
                    let m = b.x.len() / ci;
                    let dcols = &mut b.dcols[..m * k];
                    taps.gather(b.dz, dcols);
                    sgemm_here(
                        b.dw,
                        Mat::rows(b.x, ci).t(),
                        Mat::rows(dcols, k),
                        (ci, m, k),
                        true,
                    );
                    if let Some(dx) = b.dx {
                        sgemm_here(
                            dx,
                            Mat::rows(dcols, k),
                            Mat::rows(&wt, k).t(),
                            (m, k, ci),
                            false,
                        );
                    }
                },
            );
            (dx, swap_last(&dwt, (ci, TAPS, co)), db)
        })?;
        gradients(x, w, (dx, dw, db))
    }
}

/// A layer's output: `block(x, y, cols)` fills each block's rows of `y` (already holding the
/// bias) from its rows of `x`, with a scratch buffer for the block's columns; then the
/// activation, while the block is in cache. `sizes`: values of one image's input, output and
/// columns.
fn forward(
    (split, act): (Split, Activation),
    x: &[f32],
    b: &[f32],
    (xn, yn, cn): (usize, usize, usize),
    block: impl Fn(&[f32], &mut [f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let n = x.len() / xn;
    let (g, bn) = (split.group(n), split.block);
    let mut y = Vec::with_capacity(n * yn);
    (0..n * yn / b.len()).for_each(|_| y.extend_from_slice(b));
    x.par_chunks(g * xn)
        .zip(y.par_chunks_mut(g * yn))
        .for_each(|(xg, yg)| {
            let mut cols = vec![0f32; bn * cn];
            for (xb, yb) in xg.chunks(bn * xn).zip(yg.chunks_mut(bn * yn)) {
                block(xb, yb, &mut cols);
                act.forward_slice(yb);
            }
        });
    y
}

/// One block of a backward pass: its inputs, the gradient before the activation `dz`, the
/// group's weight gradient to add to, its rows of the input gradient (when wanted, zeros to
/// fill or add to), and two scratch buffers of a block's columns.
struct Block<'a> {
    x: &'a [f32],
    dz: &'a [f32],
    dw: &'a mut [f32],
    dx: Option<&'a mut [f32]>,
    cols: &'a mut [f32],
    dcols: &'a mut [f32],
}

/// A layer's gradients (input, when `wanted`; weight, in the GEMM's order; bias) from `[x, y,
/// dy]`: per block, `dz = dy * act'(y)` and its column sum, then `block` adds to the weight
/// gradient and fills the input's. `sizes` as in [`forward`]; `lens`: of the weight and bias.
fn backward(
    (split, act): (Split, Activation),
    [x, y, dy]: [&[f32]; 3],
    (xn, yn, cn): (usize, usize, usize),
    (dw_len, db_len): (usize, usize),
    wanted: bool,
    block: impl Fn(Block) + Sync,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = x.len() / xn;
    let (g, bn) = (split.group(n), split.block);
    let mut dx = vec![0f32; if wanted { x.len() } else { 0 }];
    let dx_parts: Vec<Option<&mut [f32]>> = match wanted {
        true => dx.chunks_mut(g * xn).map(Some).collect(),
        false => (0..n.div_ceil(g)).map(|_| None).collect(),
    };
    let parts: Vec<(Vec<f32>, Vec<f32>)> = x
        .par_chunks(g * xn)
        .zip(y.par_chunks(g * yn))
        .zip(dy.par_chunks(g * yn))
        .zip(dx_parts)
        .map(|(((xg, yg), dyg), mut dxg)| {
            let (mut dw, mut db) = (vec![0f32; dw_len], vec![0f32; db_len]);
            let (mut cols, mut dcols) = (vec![0f32; bn * cn], vec![0f32; bn * cn]);
            let mut dz = vec![0f32; bn * yn];
            let blocks = xg
                .chunks(bn * xn)
                .zip(yg.chunks(bn * yn))
                .zip(dyg.chunks(bn * yn));
            for (j, ((xb, yb), dyb)) in blocks.enumerate() {
                let dz = &mut dz[..yb.len()];
                act.backward_slice(yb, dyb, dz);
                add_column_sum(&mut db, dz);
                let dx = dxg
                    .as_deref_mut()
                    .map(|d| &mut d[j * bn * xn..][..xb.len()]);
                block(Block {
                    x: xb,
                    dz,
                    dw: &mut dw,
                    dx,
                    cols: &mut cols,
                    dcols: &mut dcols,
                });
            }
            (dw, db)
        })
        .collect();
    let (mut dw, mut db) = (vec![0f32; dw_len], vec![0f32; db_len]);
    for (pw, pb) in parts {
        dw.iter_mut().zip(pw).for_each(|(s, v)| *s += v);
        db.iter_mut().zip(pb).for_each(|(s, v)| *s += v);
    }
    (dx, dw, db)
}

/// The values of a layer's three inputs, each checked to be contiguous and of the shape the
/// layer was built for.
fn inputs<'a>(
    op: &str,
    given: [(&'a CpuStorage, &Layout); 3],
    dims: [&[usize]; 3],
) -> Result<[&'a [f32]; 3]> {
    let mut out = [&[][..]; 3];
    for (i, ((s, l), dims)) in given.into_iter().zip(dims).enumerate() {
        if l.dims() != dims || !l.is_contiguous() {
            candle_core::bail!("{op}: expected a contiguous {dims:?}, got {:?}", l.dims());
        }
        out[i] = f32_slice(s, l, op)?;
    }
    Ok(out)
}

/// The tensors of a backward pass's gradients, in the shapes of x, the weight and the bias
/// (no input gradient when it came back empty: not wanted).
fn gradients(
    x: &Tensor,
    w: &Tensor,
    (dx, dw, db): (Vec<f32>, Vec<f32>, Vec<f32>),
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let dev = x.device();
    let dx = match dx.is_empty() {
        true => None,
        false => Some(Tensor::from_vec(dx, x.shape(), dev)?),
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
