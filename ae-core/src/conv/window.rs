//! The geometry every conv layer of aelab shares: a kernel-4 window moved in steps of 2 over a
//! map padded by 1, which links each position of a small map to 16 taps of a large one (a
//! convolution reads the large map, its transpose writes it). Maps are channels last, so a tap
//! is a run of `c` contiguous values.

pub(crate) const KERNEL: usize = 4;
pub(crate) const TAPS: usize = KERNEL * KERNEL;

/// The side of a feature map after one stride-2 convolution (kernel 4, padding 1).
pub(crate) fn halve(side: usize) -> usize {
    (side + 2 - KERNEL) / 2 + 1
}

/// A large map of `large` (height, width) under a small one of `small`, `c` channels each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    pub large: (usize, usize),
    pub small: (usize, usize),
    pub c: usize,
}

impl Window {
    /// Values of one image's large map.
    pub fn large_len(&self) -> usize {
        self.large.0 * self.large.1 * self.c
    }

    /// Values of one image's columns: for each small position, its 16 taps of `c` values.
    pub fn cols_len(&self) -> usize {
        self.small.0 * self.small.1 * TAPS * self.c
    }

    /// The table of the window's taps that the fused layers walk for every image.
    pub fn taps(&self) -> Taps {
        let (h, w) = (self.large.0 as isize, self.large.1 as isize);
        let (sh, sw) = self.small;
        let mut at = Vec::with_capacity(sh * sw * TAPS);
        for p in 0..sh * sw {
            let (oy, ox) = ((p / sw) as isize, (p % sw) as isize);
            for t in 0..TAPS {
                let y = 2 * oy + (t / KERNEL) as isize - 1;
                let x = 2 * ox + (t % KERNEL) as isize - 1;
                at.push((0 <= y && y < h && 0 <= x && x < w).then(|| (y * w + x) as u32));
            }
        }
        Taps { window: *self, at }
    }

    /// For the plain-op path: the flat position in the large map padded by 1 on each side of
    /// every (small position, tap), which candle's `index_select` and `index_add` take.
    pub fn padded_index(&self) -> Vec<u32> {
        let wp = self.large.1 + 2;
        let (sh, sw) = self.small;
        let mut idx = Vec::with_capacity(sh * sw * TAPS);
        for oy in 0..sh {
            for ox in 0..sw {
                for ky in 0..KERNEL {
                    for kx in 0..KERNEL {
                        idx.push(((2 * oy + ky) * wp + 2 * ox + kx) as u32);
                    }
                }
            }
        }
        idx
    }
}

/// For every (small position, tap), row-major each, the large position it reads, or None where
/// the window hangs over the padding: computed once per layer call, not per image.
pub(crate) struct Taps {
    window: Window,
    at: Vec<Option<u32>>,
}

impl Taps {
    /// im2col: every image's columns from its large map (zeros over the padding).
    pub fn gather(&self, large: &[f32], cols: &mut [f32]) {
        let (win, c) = (self.window, self.window.c);
        self.check(large.len(), cols.len());
        let images = large
            .chunks(win.large_len())
            .zip(cols.chunks_mut(win.cols_len()));
        for (large, cols) in images {
            for (&tap, out) in self.at.iter().zip(cols.chunks_exact_mut(c)) {
                match tap.map(|a| a as usize) {
                    // One channel (the image) by hand: copy_from_slice would call memcpy for
                    // every value.
                    Some(at) if c == 1 => out[0] = large[at],
                    Some(at) => out.copy_from_slice(&large[at * c..(at + 1) * c]),
                    None => out.fill(0.0),
                }
            }
        }
    }

    /// col2im: every image's columns added onto its large map (the padding's dropped).
    pub fn scatter_add(&self, cols: &[f32], large: &mut [f32]) {
        let (win, c) = (self.window, self.window.c);
        self.check(large.len(), cols.len());
        let images = cols
            .chunks(win.cols_len())
            .zip(large.chunks_mut(win.large_len()));
        for (cols, large) in images {
            for (&tap, from) in self.at.iter().zip(cols.chunks_exact(c)) {
                if let Some(at) = tap.map(|a| a as usize) {
                    let to = &mut large[at * c..(at + 1) * c];
                    to.iter_mut().zip(from).for_each(|(l, f)| *l += f);
                }
            }
        }
    }

    /// Both buffers hold the same whole number of images.
    fn check(&self, large: usize, cols: usize) {
        assert!(
            large.is_multiple_of(self.window.large_len())
                && large / self.window.large_len() * self.window.cols_len() == cols,
            "conv window {:?}: {large} map values do not fit {cols} column values",
            self.window
        );
    }
}
