//! `ae-runner slurm`: an sbatch job array for a sweep, one task per shard, and a summarize
//! job that runs after all of them whatever their exit.

use crate::results::files::write_atomic;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What the generated scripts ask of the cluster.
pub struct SlurmOptions {
    pub shards: usize,
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: u32,
    pub time: Option<String>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// Writes `<exp_dir>/slurm/{array.sbatch, summarize.sbatch, submit.sh}`; returns submit.sh.
/// `run_args` are the arguments every task passes to ae-runner before `--shard`.
pub fn write_scripts(
    exp_dir: &Path,
    name: &str,
    run_args: &[String],
    opts: &SlurmOptions,
) -> Result<PathBuf> {
    let exp_dir = absolute(exp_dir)?;
    let dir = exp_dir.join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe()?.display().to_string();
    let cwd = std::env::current_dir()?.display().to_string();
    let mut head = format!(
        "#!/bin/bash\n#SBATCH --job-name=aelab-{name}\n#SBATCH --cpus-per-task={}\n",
        opts.cpus_per_task
    );
    if let Some(p) = &opts.partition {
        head.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(t) = &opts.time {
        head.push_str(&format!("#SBATCH --time={t}\n"));
    }
    let args: Vec<String> = run_args.iter().map(|a| quote(a)).collect();
    let mut array = head.clone();
    array.push_str(&format!(
        "#SBATCH --array=0-{}\n#SBATCH --output={}/%A_%a.out\n",
        opts.shards - 1,
        dir.display()
    ));
    if let Some(g) = opts.gpus_per_task {
        array.push_str(&format!("#SBATCH --gpus-per-task={g}\n"));
    }
    // Slurm sends SIGTERM 120 s before the end of the time limit or on preemption.
    array.push_str("#SBATCH --signal=TERM@120\n");
    array.push_str(&format!(
        "set -euo pipefail\ncd {}\nexport AE_THREADS=${{SLURM_CPUS_PER_TASK:-1}}\nexec {} {} --shard \"$SLURM_ARRAY_TASK_ID/{}\"\n",
        quote(&cwd),
        quote(&exe),
        args.join(" "),
        opts.shards
    ));
    let mut summarize = head;
    summarize.push_str(&format!(
        "#SBATCH --output={}/summarize_%j.out\nset -euo pipefail\ncd {}\nexec {} summarize {}\n",
        dir.display(),
        quote(&cwd),
        quote(&exe),
        quote(&exp_dir.display().to_string())
    ));
    let submit = format!(
        "#!/bin/bash\n# Submits the array, then the summary after all its tasks (afterany: also after failures).\nset -euo pipefail\ncd {dir}\narray=$(sbatch --parsable array.sbatch)\nsummary=$(sbatch --parsable --dependency=afterany:\"${{array%%;*}}\" summarize.sbatch)\necho \"array job ${{array%%;*}}, summary job ${{summary%%;*}}\"\n",
        dir = quote(&dir.display().to_string())
    );
    write_atomic(&dir.join("array.sbatch"), array.as_bytes())?;
    write_atomic(&dir.join("summarize.sbatch"), summarize.as_bytes())?;
    let submit_path = dir.join("submit.sh");
    write_atomic(&submit_path, submit.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&submit_path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(submit_path)
}
