//! The command line's flags and subcommands (clap), and the flags passed on to child processes
//! and Slurm tasks.

use ae_runner::config::{self, Document, Plan};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Train autoencoders from YAML experiment files.
#[derive(Parser)]
#[command(
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct RunArgs {
    /// The experiment file, e.g. experiments/vae.yaml.
    #[arg(required = true)]
    pub experiment: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Validate every run and print the resolved config(s); run nothing.
    #[arg(long)]
    pub check: bool,
    /// List the runs that would run, and which are already done; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run again runs that already finished (their folders are moved aside, never deleted).
    #[arg(long)]
    pub fresh: bool,
    /// Run only the K-th of N disjoint slices of the runs (0-based, K/N); `summarize` merges.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Run J runs at once, as J child processes (shards), each with its share of the cores;
    /// with --shard K/N, the runs of that shard.
    #[arg(long, value_name = "J", default_value_t = 1, value_parser = parse_jobs)]
    pub jobs: usize,
    /// Set by a `--jobs` parent on its children: their ends are the parent's to tell.
    #[arg(long, hide = true)]
    pub as_job: bool,
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("0 processes would run nothing: J must be at least 1".into()),
        Ok(j) => Ok(j),
        Err(_) => Err(format!("`{s}`: expected a number of processes, at least 1")),
    }
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}`: expected K/N with 0 <= K < N, e.g. 0/4");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if k < n {
        Ok((k, n))
    } else {
        Err(bad())
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Rebuild summary.csv, summary.md, the plots and report.html of results/<experiment> from
    /// its run folders.
    Summarize { dir: PathBuf },
    /// One table of several experiments on the metrics they share (writes <to>.md and <to>.csv).
    Compare {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The files' path without extension [default: compare-<a>+<b>... beside the first
        /// experiment, e.g. results/compare-ae+vae].
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
    },
    /// Write results/<experiment>/report.html: the summary, plots and every run's pictures in one
    /// self-contained page.
    Report { dir: PathBuf },
    /// Print the command that shows results/<experiment> in TensorBoard, and whether TensorBoard
    /// is installed (this installs nothing).
    Tensorboard { dir: PathBuf },
    /// Evaluate finished runs again from their saved weights (eval.csv, pictures, run.json),
    /// e.g. --set eval.iwae_k=5000 --set eval.iwae_images=0 for the full IWAE bound.
    Eval(EvalArgs),
    /// Train the classifier that judges the samples of the experiment's runs
    /// (eval.classifier_fd) under --out, where the runs find it; print its folder and test
    /// accuracy (a classifier already there is loaded and measured).
    Classifier(ClassifierArgs),
    /// Write an sbatch job array (one task per shard) and a summarize job for a sweep.
    Slurm(SlurmArgs),
    /// One training step of every run on the CPU and on --device, from the same weights, batch
    /// and noise: the losses and every gradient compared (exit 1 if one is over --tolerance).
    Parity(ParityArgs),
}

#[derive(Args)]
pub struct ParityArgs {
    /// The experiment file whose runs are checked (each run's first step).
    pub experiment: PathBuf,
    /// Override a key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// The device checked against the CPU: cuda | cuda:N | auto | cpu.
    #[arg(long, default_value = "cuda")]
    pub device: String,
    /// The largest relative difference allowed (max |device - cpu| / max |cpu| per tensor).
    #[arg(long, default_value_t = 1e-5)]
    pub tolerance: f64,
}

/// What running an experiment and writing its Slurm scripts share.
#[derive(Args)]
pub struct Common {
    /// Override a key, e.g. --set train.epochs=2 --set model.kl_weight=0.5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Where results go: OUT/<name>/<run>/.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// auto | cpu | cuda | cuda:N (overrides train.device).
    #[arg(long)]
    pub device: Option<String>,
    /// Run again runs that diverged or failed with the same config (from their last checkpoint
    /// if they have one); without it they are reported as they ended.
    #[arg(long)]
    pub retry_failed: bool,
    /// Train finished runs on for more epochs (a larger train.epochs, nothing else changed),
    /// from their last checkpoint; config.yaml's provenance records it.
    #[arg(long = "continue")]
    pub continue_runs: bool,
}

impl Common {
    /// Reads the experiment with the `--set` overrides and expands its runs.
    pub fn plan(&self, experiment: &std::path::Path) -> anyhow::Result<Plan> {
        plan(experiment, &self.sets)
    }

    /// The `--set`, `--device`, `--retry-failed` and `--continue` flags again, for child processes and
    /// Slurm tasks.
    pub fn flags(&self) -> Vec<String> {
        let mut args = Vec::new();
        for s in &self.sets {
            args.extend(["--set".into(), s.clone()]);
        }
        if let Some(d) = &self.device {
            args.extend(["--device".into(), d.clone()]);
        }
        if self.retry_failed {
            args.push("--retry-failed".into());
        }
        if self.continue_runs {
            args.push("--continue".into());
        }
        args
    }
}

#[derive(Args)]
pub struct EvalArgs {
    /// Run folders, e.g. results/vae/seed=0.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Override an eval.* key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub on: Hardware,
}

/// Where the commands that evaluate (`eval`, `classifier`) compute, unless the run says.
#[derive(Args)]
pub struct Hardware {
    /// auto | cpu | cuda | cuda:N (default: the run's train.device).
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads (0: every core; default: the run's train.threads).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
pub struct ClassifierArgs {
    /// The experiment file whose runs' data the classifier is trained on.
    pub experiment: PathBuf,
    /// Override a key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// The output folder the runs write to: the classifier goes to OUT/.classifier/.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    #[command(flatten)]
    pub on: Hardware,
}

#[derive(Args)]
pub struct SlurmArgs {
    pub experiment: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// Array tasks (default: one per run).
    #[arg(long)]
    pub shards: Option<usize>,
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub gpus_per_task: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: u32,
    /// Time limit per task, e.g. 02:00:00.
    #[arg(long)]
    pub time: Option<String>,
}

/// `--set KEY=VALUE` flags as (dotted key, value).
pub fn parse_sets(
    sets: &[String],
) -> anyhow::Result<Vec<(String, ae_runner::results::yaml::Value)>> {
    Ok(sets
        .iter()
        .map(|s| config::parse_set(s))
        .collect::<Result<_, _>>()?)
}

/// The runs of an experiment file with `--set` overrides.
pub fn plan(experiment: &std::path::Path, sets: &[String]) -> anyhow::Result<Plan> {
    Ok(config::plan(&Document::read(
        experiment,
        &parse_sets(sets)?,
    )?)?)
}
