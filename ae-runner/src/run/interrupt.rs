//! SIGINT and SIGTERM (Ctrl-C, `kill`, a Slurm preemption) set a flag that the training loop
//! reads after every step: the run stops cleanly at the last checkpoint instead of dying
//! half-way through writing a file.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

static SIGNAL: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();

/// Stopped by a signal after a step.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted(pub i32);

/// Routes SIGINT and SIGTERM to the flag (once per process).
pub fn install() -> std::io::Result<()> {
    let flag = SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_usize(sig, Arc::clone(flag), sig as usize)?;
    }
    Ok(())
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    SIGNAL
        .get()
        .map(|f| f.load(Ordering::Relaxed))
        .filter(|&s| s != 0)
        .map(|s| s as i32)
}

/// The exit code for a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(sig: i32) -> u8 {
    (128 + sig).clamp(0, 255) as u8
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
