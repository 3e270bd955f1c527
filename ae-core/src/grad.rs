//! Evaluation without autograd. candle 0.11 records an op's inputs whenever one of them is a
//! variable and has no switch to stop it; aelab's layers read their weights through [`param`],
//! which hands out detached views inside [`no_grad`], so nothing downstream is recorded either
//! and each intermediate is freed as soon as the next op has used it.

use candle_core::Tensor;
use std::cell::Cell;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(true) };
}

/// Runs `f` with aelab's layers recording no gradients (PyTorch's `torch.no_grad`); the
/// previous state comes back afterwards, also when `f` panics.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    set_tracking(false, f)
}

/// Runs `f` with tracking `on`; the previous state comes back afterwards, also on a panic.
fn set_tracking<T>(on: bool, f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TRACKING.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(TRACKING.with(|t| t.replace(on)));
    f()
}

/// Runs `f` with gradients recorded, also inside [`no_grad`]: training that an evaluation
/// starts (the classifier that judges samples) needs them.
pub fn with_grad<T>(f: impl FnOnce() -> T) -> T {
    set_tracking(true, f)
}

/// A layer's parameter as this forward pass should see it: itself, or detached in [`no_grad`].
pub fn param(t: &Tensor) -> Tensor {
    if TRACKING.with(Cell::get) {
        t.clone()
    } else {
        t.detach()
    }
}
