//! The f32 slices behind candle CPU storage, as aelab's custom ops read and write them, and
//! when their element-wise passes are worth splitting across the thread pool.

use candle_core::{CpuStorage, Layout, Result};

/// The elements of a contiguous f32 tensor; `op` names the caller in the error.
pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op}: expected a contiguous f32 tensor"),
    }
}

/// [`f32_slice`], writable.
pub(crate) fn f32_slice_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
    op: &str,
) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("{op}: expected a contiguous f32 tensor"),
    }
}

/// Whether a pass over `len` elements goes to the thread pool (gemm's and candle's, sized by
/// `train.threads`): with one thread, or a batch's few thousand elements, the split costs more
/// than it saves; the IWAE bound's k = 5000 decodings of an image are millions.
pub(crate) fn parallel(len: usize) -> bool {
    len >= 1 << 16 && candle_core::utils::get_num_threads() > 1
}

/// A read-only f32 matrix for [`sgemm`]: its elements from the first on, and the distance
/// between consecutive rows and between consecutive columns (a transpose swaps the two).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub row: usize,
    pub col: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row: cols,
            col: 1,
        }
    }

    /// The transpose of [`Self::rows`].
    pub fn t(self) -> Self {
        Self {
            row: self.col,
            col: self.row,
            ..self
        }
    }

    /// A rank-2 candle layout's view of `data` (the storage from its start).
    pub fn strided(data: &'a [f32], l: &candle_core::Layout) -> Self {
        let s = l.stride();
        Self {
            data: &data[l.start_offset()..],
            row: s[0],
            col: s[1],
        }
    }

    /// Whether an `r` x `c` matrix with these strides lies inside `data`.
    fn holds(&self, r: usize, c: usize) -> bool {
        let last = || {
            (r - 1)
                .checked_mul(self.row)?
                .checked_add((c - 1).checked_mul(self.col)?)
        };
        r == 0 || c == 0 || last().is_some_and(|i| i < self.data.len())
    }
}

/// `dst = a b` (or `dst += a b` when `accumulate`) for `a`: m x k, `b`: k x n and `dst`: a
/// row-major m x n, with the GEMM candle uses on the CPU, on the threads candle is given
/// (candle's rule: one thread runs it inline, more go to its pool).
pub(crate) fn sgemm(dst: &mut [f32], a: Mat, b: Mat, mkn: (usize, usize, usize), accumulate: bool) {
    let parallelism = match candle_core::utils::get_num_threads() {
        1 => gemm::Parallelism::None,
        t => gemm::Parallelism::Rayon(t),
    };
    gemm_on(parallelism, dst, a, b, mkn, accumulate)
}

/// [`sgemm`] on the calling thread alone, for callers that share the work out themselves.
pub(crate) fn sgemm_here(
    dst: &mut [f32],
    a: Mat,
    b: Mat,
    mkn: (usize, usize, usize),
    accumulate: bool,
) {
    gemm_on(gemm::Parallelism::None, dst, a, b, mkn, accumulate)
}

fn gemm_on(
    parallelism: gemm::Parallelism,
    dst: &mut [f32],
    a: Mat,
    b: Mat,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(
        m.checked_mul(n).is_some_and(|mn| dst.len() >= mn) && a.holds(m, k) && b.holds(k, n),
        "sgemm: {m}x{k} by {k}x{n} does not fit its buffers"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assert above keeps every element the strides reach inside its slice.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col as isize,
            a.row as isize,
            b.data.as_ptr(),
            b.col as isize,
            b.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Adds the sums over the rows of a row-major matrix of `sum.len()` columns to `sum`, row by
/// row (candle's `sum(0)` walks columns with a stride).
pub(crate) fn add_column_sum(sum: &mut [f32], v: &[f32]) {
    for row in v.chunks_exact(sum.len()) {
        sum.iter_mut().zip(row).for_each(|(s, r)| *s += r);
    }
}
