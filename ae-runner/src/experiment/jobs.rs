//! `--jobs J`: J child processes, each running shard j/J of the plan (or of the parent's
//! shard) with its share of the cores.

use crate::results::naming::count;
use anyhow::Result;
use std::path::PathBuf;

/// How to start a child: the binary and the arguments that name the experiment (its file,
/// `--out`, `--set`, `--device`); `--fresh` and `--shard` are added here.
#[derive(Debug, Clone)]
pub struct Child {
    pub exe: PathBuf,
    pub args: Vec<String>,
}

/// Starts `jobs` children (each with `--fresh` if `fresh`) that share the runs of `shard`
/// (K/N; all runs without one) and waits for them; returns the worst of their exit codes.
/// The runs i of shard K/N with (i - K) / N = j mod J are those of shard K + N j of N J, so
/// child j runs that shard.
pub fn run(child: &Child, jobs: usize, shard: Option<(usize, usize)>, fresh: bool) -> Result<u8> {
    let (k, n) = shard.unwrap_or((0, 1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_child = (cores / jobs).max(1);
    tracing::info!(
        "{}, {} each",
        count(jobs, "process"),
        count(per_child, "thread")
    );
    let children = (0..jobs)
        .map(|j| {
            let mut c = std::process::Command::new(&child.exe);
            c.args(&child.args);
            if fresh {
                c.arg("--fresh");
            }
            c.args([
                "--shard",
                &format!("{}/{}", k + n * j, n * jobs),
                "--as-job",
            ])
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
