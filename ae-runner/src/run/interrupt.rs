//! SIGINT and SIGTERM (Ctrl-C, `kill`, a Slurm preemption). The first sets a flag that the
//! training loop reads after every step and the evaluation between its phases: the run stops
//! cleanly at the last checkpoint instead of dying half-way through writing a file. A second
//! ends the process at once (exit 130 or 143), for the phases no check breaks up (data
//! loading, the classifiers' fits, the report). So that a run ended that way is not left
//! saying "running", the first signal also marks the open run's run.json "interrupted"; the
//! end of a run that does stop cleanly writes it again with what it knows.

use crate::results::files::write_atomic_as;
use crate::results::status::{now, Status};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

static SIGNAL: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();

/// The folder of the run open in this process, if any: the one a signal marks.
static OPEN: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Stopped by a signal after a step.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted(pub i32);

/// Routes SIGINT and SIGTERM to the flag, and a second one to an immediate exit (once per
/// process, before any other thread starts).
pub fn install() -> std::io::Result<()> {
    let flag = SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Before `seen` is set, so that it exits at the second signal, not the first. It
        // exits from the handler itself: nothing the process is doing can delay it.
        let code = i32::from(exit_code(sig));
        signal_hook::flag::register_conditional_shutdown(sig, code, Arc::clone(&seen))?;
        signal_hook::flag::register(sig, Arc::clone(&seen))?;
        signal_hook::flag::register_usize(sig, Arc::clone(flag), sig as usize)?;
    }
    // Printing and writing files are not for signal handlers: a thread does them.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                eprintln!(
                    "{}: the run stops at the next safe point (the end of a training step or of an evaluation phase); a second Ctrl-C stops it at once",
                    name(sig)
                );
                if let Some(dir) = open_run().as_deref() {
                    mark(dir, sig);
                }
            }
        })?;
    Ok(())
}

fn open_run() -> MutexGuard<'static, Option<PathBuf>> {
    OPEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks run.json "interrupted", through a temporary file of its own (the run may be writing
/// run.json's usual one), so that a kill leaves the old file or the new one.
fn mark(dir: &Path, sig: i32) {
    let Some(mut status) = Status::read(dir) else {
        return;
    };
    status.status = "interrupted".into();
    status.message = Some(format!(
        "{}: ended at once by a second signal, or still stopping at the next safe point",
        name(sig)
    ));
    status.ended = Some(now());
    let written = serde_json::to_string_pretty(&status)
        .map_err(anyhow::Error::from)
        .and_then(|json| {
            write_atomic_as(
                &dir.join("run.json"),
                &dir.join("run.json.signal.tmp"),
                json.as_bytes(),
            )
        });
    if let Err(e) = written {
        eprintln!("cannot mark {} interrupted: {e:#}", dir.display());
    }
}

/// The open run's folder, for a signal to mark while this lives: drop it before the run's
/// last write of run.json, which must not be overwritten.
pub struct OpenRun(());

impl OpenRun {
    pub fn register(dir: &Path) -> Self {
        let mut open = open_run();
        *open = Some(dir.to_path_buf());
        // A signal that came while the run was being opened has found no folder to mark.
        if let Some(sig) = received() {
            mark(dir, sig);
        }
        Self(())
    }
}

impl Drop for OpenRun {
    fn drop(&mut self) {
        *open_run() = None;
    }
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    SIGNAL
        .get()
        .map(|f| f.load(Ordering::Relaxed))
        .filter(|&s| s != 0)
        .map(|s| s as i32)
}

/// Err once a signal came: for the points between phases where stopping is safe.
pub fn check() -> Result<(), Interrupted> {
    received().map_or(Ok(()), |sig| Err(Interrupted(sig)))
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
