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
