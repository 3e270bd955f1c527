//! `--jobs J`: J child processes, each running shard k/J of the plan with its share of the
//! cores.

use anyhow::Result;
use std::path::PathBuf;

/// How to start a child: the binary and the arguments that name the experiment (its file,
/// `--out`, `--set`, `--device`); `--fresh` and `--shard` are added here.
#[derive(Debug, Clone)]
pub struct Child {
    pub exe: PathBuf,
    pub args: Vec<String>,
}

/// Starts `jobs` children (each with `--fresh` if `fresh`) and waits for them; returns the
/// worst of their exit codes.
pub fn run(child: &Child, jobs: usize, fresh: bool) -> Result<u8> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_child = (cores / jobs).max(1);
    tracing::info!("{jobs} jobs, {per_child} thread(s) each");
    let children = (0..jobs)
        .map(|k| {
            let mut c = std::process::Command::new(&child.exe);
            c.args(&child.args);
            if fresh {
                c.arg("--fresh");
            }
            c.args(["--shard", &format!("{k}/{jobs}")])
                .env("AE_THREADS", per_child.to_string())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut worst = 0u8;
    for mut c in children {
        let code = c.wait()?.code().unwrap_or(1);
        worst = worst.max(u8::try_from(code).unwrap_or(1));
    }
    Ok(worst)
}
