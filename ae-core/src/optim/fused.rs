//! The CPU step: one in-place pass per f32 parameter over weight, gradient and the state rows
//! in host memory (a candle `InplaceOp2` over weight and gradient), calling rules.rs for each
//! element. Compiled for AVX-512, AVX2 and plain x86-64 and picked at run time: a square root
//! and two divisions per element make Adam's step compute-bound at SSE's four lanes.

use super::rules::Step;
use crate::cpu::{f32_slice, f32_slice_mut};
use candle_core::{CpuStorage, Layout, Result, Tensor, Var};
use std::cell::RefCell;

/// One step of `var` given its contiguous gradient `g`, with its host state (rows of its
/// size, in [`super::OptimizerConfig::state_rows`]'s order).
pub(super) fn step(step: &Step, var: &Var, g: &Tensor, state: &mut [f32]) -> Result<()> {
    let op = Pass {
        step: *step,
        state: RefCell::new(state),
    };
    var.as_tensor().inplace_op2(g, &op)
}

struct Pass<'a> {
    step: Step,
    /// candle hands the op `&self`; the state is this step's only other mutable data.
    state: RefCell<&'a mut [f32]>,
}

impl candle_core::InplaceOp2 for Pass<'_> {
    fn name(&self) -> &'static str {
        "optimizer-step"
    }

    fn cpu_fwd(&self, w: &mut CpuStorage, lw: &Layout, g: &CpuStorage, lg: &Layout) -> Result<()> {
        let name = self.name();
        let (w, g) = (f32_slice_mut(w, lw, name)?, f32_slice(g, lg, name)?);
        let mut state = self.state.borrow_mut();
        let rows = rows(&self.step);
        if g.len() != w.len() || state.len() != rows * w.len() {
            candle_core::bail!(
                "{name}: {} weights, {} gradients, {} state values ({rows} rows)",
                w.len(),
                g.len(),
                state.len()
            );
        }
        run(&self.step, w, g, &mut state);
        Ok(())
    }
}

/// The state rows a step reads and writes.
fn rows(step: &Step) -> usize {
    match step {
        Step::Adam(_) => 2,
        Step::Sgd(c) => c.momentum.is_some() as usize,
        Step::RmsProp(c) => 1 + c.centered as usize + c.momentum.is_some() as usize,
    }
}

/// The pass, on the widest vectors this CPU has.
fn run(step: &Step, w: &mut [f32], g: &[f32], state: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { pass_avx512(step, w, g, state) };
        return;
    } else if is_x86_feature_detected!("avx2") {
        // SAFETY: as above.
        unsafe { pass_avx2(step, w, g, state) };
        return;
    }
    pass(step, w, g, state)
}

/// The loops over every element, one per kind and set of state rows; compiled once per vector
/// width below.
#[inline(always)]
fn pass(step: &Step, w: &mut [f32], g: &[f32], state: &mut [f32]) {
    let n = w.len();
    let wg = w.iter_mut().zip(g);
    match step {
        Step::Adam(c) => {
            let (m, v) = state.split_at_mut(n);
            for (((w, &g), m), v) in wg.zip(m).zip(v) {
                c.update(w, g, m, v);
            }
        }
        Step::Sgd(c) if c.momentum.is_some() => {
            for ((w, &g), b) in wg.zip(state) {
                c.update(w, g, Some(b));
            }
        }
        Step::Sgd(c) => {
            for (w, &g) in wg {
                c.update(w, g, None);
            }
        }
        Step::RmsProp(c) => {
            let (sq, rest) = state.split_at_mut(n);
            match (c.centered, c.momentum.is_some()) {
                (true, true) => {
                    let (ga, buf) = rest.split_at_mut(n);
                    for ((((w, &g), sq), ga), b) in wg.zip(sq).zip(ga).zip(buf) {
                        c.update(w, g, sq, Some(ga), Some(b));
                    }
                }
                (true, false) => {
                    for (((w, &g), sq), ga) in wg.zip(sq).zip(rest) {
                        c.update(w, g, sq, Some(ga), None);
                    }
                }
                (false, true) => {
                    for (((w, &g), sq), b) in wg.zip(sq).zip(rest) {
                        c.update(w, g, sq, None, Some(b));
                    }
                }
                (false, false) => {
                    for ((w, &g), sq) in wg.zip(sq) {
                        c.update(w, g, sq, None, None);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn pass_avx512(step: &Step, w: &mut [f32], g: &[f32], state: &mut [f32]) {
    pass(step, w, g, state)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pass_avx2(step: &Step, w: &mut [f32], g: &[f32], state: &mut [f32]) {
    pass(step, w, g, state)
}

#[cfg(test)]
mod tests {
    use super::super::tests::every_kind;
    use super::*;

    /// Each compiled width of every kind's pass that this CPU can run gives the portable
    /// loop's numbers (37 elements: full vectors and a tail), on the first step and a later one.
    #[test]
    fn every_vector_width_matches_the_portable_loop() {
        let f = |i: usize, a: f32| ((i as f32 * a).sin() + 0.1) * 0.5;
        let g: Vec<f32> = (0..37).map(|i| f(i, 1.3)).collect();
        for (label, cfg) in every_kind() {
            for t in [1, 7] {
                let step = Step::new(&cfg, cfg.lr * 10.0, t, 0.7);
                let rows = rows(&step);
                let start = || -> (Vec<f32>, Vec<f32>) {
                    let w = (0..37).map(|i| f(i, 0.7)).collect();
                    // Square averages stay positive and above the squared mean.
                    let s = (0..37 * rows)
                        .map(|i| f(i, 2.1).abs() * 0.1 + 0.05 * (i < 37) as u8 as f32)
                        .collect();
                    (w, s)
                };
                let (mut w, mut s) = start();
                pass(&step, &mut w, &g, &mut s);
                let moved = w.iter().zip(start().0).filter(|(a, b)| a != &b).count();
                assert_eq!(moved, 37, "{label}: the portable loop moved every weight");
                #[cfg(target_arch = "x86_64")]
                for feature in ["avx2", "avx512f"] {
                    let detected = match feature {
                        "avx2" => std::arch::is_x86_feature_detected!("avx2"),
                        _ => std::arch::is_x86_feature_detected!("avx512f"),
                    };
                    if !detected {
                        eprintln!("{feature}: not on this CPU, not checked");
                        continue;
                    }
                    let (mut w2, mut s2) = start();
                    // SAFETY: the feature was detected above.
                    unsafe {
                        match feature {
                            "avx2" => pass_avx2(&step, &mut w2, &g, &mut s2),
                            _ => pass_avx512(&step, &mut w2, &g, &mut s2),
                        }
                    }
                    assert_eq!((&w, &s), (&w2, &s2), "{label}, step {t}, {feature}");
                }
            }
        }
    }
}
