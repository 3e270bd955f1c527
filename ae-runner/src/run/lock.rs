//! `<run folder>.lock`: an OS file lock (flock) that keeps two processes out of one run
//! folder. The kernel releases it when its holder dies, however it dies, so a lock is never
//! stale; it works across the nodes of a cluster on a file system with locks (NFS with lockd,
//! Lustre, GPFS). The file records the holder's host and pid for the message.

use ae_core::UserError;
use anyhow::Result;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Held while a run is written; dropping it removes the file and releases the lock.
pub struct Lock {
    path: PathBuf,
    /// Open for as long as the lock is held: closing it releases the lock.
    _file: File,
}

impl Lock {
    pub fn acquire(run_dir: &Path) -> Result<Lock> {
        let name = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = run_dir.with_file_name(format!("{name}.lock"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| UserError(format!("cannot create {}: {e}", parent.display())))?;
        }
        // The holder unlinks the file before it lets go: a lock taken on a file that is no
        // longer at `path` is retried on the new one.
        for _ in 0..100 {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| UserError(format!("cannot create {}: {e}", path.display())))?;
            // SAFETY: flock on a file descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::EWOULDBLOCK) => {
                        let holder = std::fs::read_to_string(&path).unwrap_or_default();
                        let holder = holder.trim();
                        let holder = if holder.is_empty() { "unknown" } else { holder };
                        UserError(format!(
                            "{} is being written by another ae-runner ({holder}); wait for it, or stop it",
                            run_dir.display()
                        ))
                    }
                    Some(libc::ENOLCK | libc::ENOSYS | libc::EOPNOTSUPP) => UserError(format!(
                        "cannot lock {}: its file system has no file locks ({e}); write results to a local folder or to a file system with locks (NFS needs its lock service)",
                        path.display()
                    )),
                    _ => UserError(format!("cannot lock {}: {e}", path.display())),
                }
                .into());
            }
            let same = std::fs::metadata(&path)
                .ok()
                .zip(file.metadata().ok())
                .is_some_and(|(p, f)| p.ino() == f.ino() && p.dev() == f.dev());
            if !same {
                continue;
            }
            file.set_len(0)?;
            (&file)
                .write_all(format!("host {} pid {}\n", host(), std::process::id()).as_bytes())?;
            return Ok(Lock { path, _file: file });
        }
        Err(UserError(format!("cannot take the lock {}", path.display())).into())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Unlinked while still held, so that no one locks a file about to vanish.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This machine's host name, for the message another process shows.
fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_elsewhere_is_refused_with_its_holder_and_a_free_one_is_taken() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let run = tmp.path().join("seed=0");
        // A holder on another node: its pid means nothing here, its flock is what counts.
        let path = tmp.path().join("seed=0.lock");
        std::fs::write(&path, "host node7 pid 12345\n")?;
        let other = File::open(&path)?;
        // SAFETY: flock on a descriptor this test owns.
        assert_eq!(unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX) }, 0);
        let e = Lock::acquire(&run).err().expect("refused").to_string();
        assert!(e.contains("host node7 pid 12345"), "{e}");
        drop(other);
        // The same file, no longer held (its holder died): taken, and it names this process.
        let lock = Lock::acquire(&run)?;
        let text = std::fs::read_to_string(&path)?;
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(Lock::acquire(&run).is_err());
        drop(lock);
        assert!(!path.exists());
        drop(Lock::acquire(&run)?);
        Ok(())
    }
}
