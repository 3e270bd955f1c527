//! `ae-runner EXPERIMENT.yaml`: trains what the file says (every run of its sweep) and writes
//! results/<name>/<run>/ and the experiment's summary tables. A thin shell over the library.
//! Exit codes: 0 done, 1 a run failed or diverged, 2 the user's mistake (config, flags, data).

use ae_core::{ConfigError, UserError};
use ae_runner::config::{self, Document};
use ae_runner::train::{self, Existing, Outcome, RunOptions};
use ae_runner::{report, summary, sweep};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train autoencoders from YAML experiment files.
#[derive(Parser)]
#[command(
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct RunArgs {
    /// The experiment file, e.g. experiments/vae.yaml.
    #[arg(required = true)]
    experiment: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Validate every run and print the resolved config(s); run nothing.
    #[arg(long)]
    check: bool,
    /// List the runs that would run, and which are already done; run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run again runs that already finished (their folders are moved aside, never deleted).
    #[arg(long)]
    fresh: bool,
    /// Run only the K-th of N disjoint slices of the runs (0-based, K/N); `summarize` merges.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Run J runs at once, as J child processes (shards), each with its share of the cores.
    #[arg(long, value_name = "J", default_value_t = 1)]
    jobs: usize,
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
enum Command {
    /// Rebuild summary.csv, summary.md, the plots and report.html of results/<experiment> from
    /// its run folders.
    Summarize { dir: PathBuf },
    /// One table of several experiments on the metrics they share (writes <to>.md and <to>.csv).
    Compare {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long, default_value = "results/compare")]
        to: PathBuf,
    },
    /// Write results/<experiment>/report.html: the summary, plots and every run's pictures in one
    /// self-contained page.
    Report { dir: PathBuf },
    /// Evaluate finished runs again from their saved weights (eval.csv, pictures, run.json),
    /// e.g. --set eval.iwae_k=5000 --set eval.iwae_images=0 for the full IWAE bound.
    Eval(EvalArgs),
    /// Write an sbatch job array (one task per shard) and a summarize job for a sweep.
    Slurm(SlurmArgs),
    /// One training step of every run on the CPU and on --device, from the same weights, batch
    /// and noise: the losses and every gradient compared (exit 1 if one is over --tolerance).
    Parity(ParityArgs),
}

#[derive(Args)]
struct ParityArgs {
    /// The experiment file whose runs are checked (each run's first step).
    experiment: PathBuf,
    /// Override a key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// The device checked against the CPU: cuda | cuda:N | auto | cpu.
    #[arg(long, default_value = "cuda")]
    device: String,
    /// The largest relative difference allowed (max |device - cpu| / max |cpu| per tensor).
    #[arg(long, default_value_t = 1e-5)]
    tolerance: f64,
}

/// What running an experiment and writing its Slurm scripts share.
#[derive(Args)]
struct Common {
    /// Override a key, e.g. --set train.epochs=2 --set model.kl_weight=0.5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Where results go: OUT/<name>/<run>/.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// auto | cpu | cuda | cuda:N (overrides train.device).
    #[arg(long)]
    device: Option<String>,
}

impl Common {
    /// Reads the experiment with the `--set` overrides and expands its runs.
    fn plan(&self, experiment: &std::path::Path) -> anyhow::Result<sweep::Plan> {
        plan(experiment, &self.sets)
    }

    /// The `--set` and `--device` flags again, for child processes and Slurm tasks.
    fn flags(&self) -> Vec<String> {
        let mut args = Vec::new();
        for s in &self.sets {
            args.extend(["--set".into(), s.clone()]);
        }
        if let Some(d) = &self.device {
            args.extend(["--device".into(), d.clone()]);
        }
        args
    }
}

#[derive(Args)]
struct EvalArgs {
    /// Run folders, e.g. results/vae/seed=0.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Override an eval.* key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// auto | cpu | cuda | cuda:N (default: the run's train.device).
    #[arg(long)]
    device: Option<String>,
    /// CPU threads (0: every core; default: the run's train.threads).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct SlurmArgs {
    experiment: PathBuf,
    #[command(flatten)]
    common: Common,
    /// Array tasks (default: one per run).
    #[arg(long)]
    shards: Option<usize>,
    #[arg(long)]
    partition: Option<String>,
    #[arg(long)]
    gpus_per_task: Option<u32>,
    #[arg(long, default_value_t = 1)]
    cpus_per_task: u32,
    /// Time limit per task, e.g. 02:00:00.
    #[arg(long)]
    time: Option<String>,
}

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of stdout goes away
    // (`ae-runner ... --dry-run | head`) instead of failing to print.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Keep freed tensors' memory in the process: glibc hands every block over 128 KiB back to
    // the kernel, which zeroes fresh pages on the next step's allocation of the same size.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc tuning before any allocation-heavy work or thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // Before any work, so that Ctrl-C never lands between a write and its rename.
    if let Err(e) = ae_runner::interrupt::install() {
        eprintln!("error: cannot install the signal handlers: {e}");
        return ExitCode::from(1);
    }
    let result = match cli.command {
        Some(Command::Summarize { dir }) => summarize(&dir),
        Some(Command::Compare { dirs, to }) => compare(&dirs, &to),
        Some(Command::Report { dir }) => write_report(&dir),
        Some(Command::Eval(args)) => eval(args),
        Some(Command::Slurm(args)) => slurm(args),
        Some(Command::Parity(args)) => parity(args),
        None => run(cli.run),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if is_users(&e) { 2 } else { 1 })
        }
    }
}

fn is_users(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<UserError>() || c.is::<ConfigError>())
}

fn summarize(dir: &std::path::Path) -> anyhow::Result<u8> {
    if !dir.is_dir() {
        return Err(UserError(format!("{} is not a results folder", dir.display())).into());
    }
    finish_experiment(dir, true)?;
    Ok(0)
}

fn compare(dirs: &[PathBuf], to: &std::path::Path) -> anyhow::Result<u8> {
    if let Some(d) = dirs.iter().find(|d| !d.is_dir()) {
        return Err(UserError(format!("{} is not a results folder", d.display())).into());
    }
    print!("{}", summary::compare(dirs, to)?);
    println!("written: {}.md, {}.csv", to.display(), to.display());
    Ok(0)
}

fn write_report(dir: &std::path::Path) -> anyhow::Result<u8> {
    println!("report: {}", report::write(dir)?.display());
    Ok(0)
}

/// `--set KEY=VALUE` flags as (dotted key, value).
fn parse_sets(sets: &[String]) -> anyhow::Result<Vec<(String, serde_yaml::Value)>> {
    Ok(sets
        .iter()
        .map(|s| config::parse_set(s))
        .collect::<Result<_, _>>()?)
}

/// The runs of an experiment file with `--set` overrides.
fn plan(experiment: &std::path::Path, sets: &[String]) -> anyhow::Result<sweep::Plan> {
    Ok(sweep::plan(&Document::read(
        experiment,
        &parse_sets(sets)?,
    )?)?)
}

fn eval(a: EvalArgs) -> anyhow::Result<u8> {
    let sets = parse_sets(&a.sets)?;
    // One cache for all the runs: the data are read, and the pixel classifiers fit, once.
    let mut cache = train::DataCache::default();
    for dir in &a.runs {
        let device = a.device.as_deref();
        let metrics = ae_runner::eval::rerun(dir, &sets, device, a.threads, &mut cache)?;
        println!("evaluated: {}", dir.display());
        print_test(&metrics);
    }
    // The experiments' tables and reports show the new numbers.
    let mut exp_dirs: Vec<&std::path::Path> = a.runs.iter().filter_map(|d| d.parent()).collect();
    exp_dirs.dedup();
    for exp_dir in exp_dirs {
        finish_experiment(exp_dir, false)?;
    }
    Ok(0)
}

fn parity(a: ParityArgs) -> anyhow::Result<u8> {
    let plan = plan(&a.experiment, &a.sets)?;
    if let Some(first) = plan.runs.first() {
        train::set_threads(first.exp.train.threads);
    }
    let device = ae_core::device::open(&a.device)?;
    let mut cache = train::DataCache::default();
    let mut worst: Option<(f64, String)> = None;
    println!("| run | compared | max rel. difference |\n|---|---|---|");
    for run in &plan.runs {
        for c in ae_runner::parity::one_step(&run.exp, &device, &mut cache)? {
            println!("| {} | {} | {:.2e} |", run.name, c.what, c.rel);
            // NaN counts as the worst.
            if worst.as_ref().is_none_or(|w| c.rel.is_nan() || c.rel > w.0) {
                worst = Some((c.rel, format!("{} {}", run.name, c.what)));
            }
        }
    }
    let worst = worst.context("nothing to compare: the experiment has no runs")?;
    let ok = worst.0 <= a.tolerance;
    println!(
        "parity {} against cpu: worst {:.2e} ({}), tolerance {:.0e}: {}",
        ae_core::device::describe(&device),
        worst.0,
        worst.1,
        a.tolerance,
        if ok { "pass" } else { "FAIL" }
    );
    Ok(if ok { 0 } else { 1 })
}

fn slurm(a: SlurmArgs) -> anyhow::Result<u8> {
    let plan = a.common.plan(&a.experiment)?;
    let shards = a
        .shards
        .unwrap_or(plan.runs.len())
        .clamp(1, plan.runs.len());
    let abs = |p: &std::path::Path| -> anyhow::Result<String> {
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()?.join(p)
        }
        .display()
        .to_string())
    };
    let mut run_args = vec![abs(&a.experiment)?, "--out".into(), abs(&a.common.out)?];
    run_args.extend(a.common.flags());
    let opts = ae_runner::slurm::SlurmOptions {
        shards,
        partition: a.partition,
        gpus_per_task: a.gpus_per_task,
        cpus_per_task: a.cpus_per_task,
        time: a.time,
    };
    let submit = ae_runner::slurm::write_scripts(
        &a.common.out.join(&plan.name),
        &plan.name,
        &run_args,
        &opts,
    )?;
    println!(
        "{} runs in {shards} array tasks; submit with:\n  bash {}",
        plan.runs.len(),
        submit.display()
    );
    Ok(0)
}

fn run(a: RunArgs) -> anyhow::Result<u8> {
    let path = a.experiment.clone().expect("clap requires it");
    let plan = a.common.plan(&path)?;
    if let Some(d) = &a.common.device {
        if !ae_core::device::is_valid_spec(d) {
            return Err(
                UserError(format!("--device {d}: allowed: auto, cpu, cuda, cuda:N")).into(),
            );
        }
    }
    if a.check {
        for r in &plan.runs {
            if plan.runs.len() > 1 {
                println!("--- # {}", r.name);
            }
            print!("{}", serde_yaml::to_string(&r.exp.resolved())?);
        }
        return Ok(0);
    }
    let exp_dir = a.common.out.join(&plan.name);
    if a.jobs > 1 && a.shard.is_none() && !a.dry_run {
        return run_jobs(&a, &exp_dir);
    }
    let runs: Vec<&sweep::PlannedRun> = match a.shard {
        Some((k, n)) => plan
            .runs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, r)| r)
            .collect(),
        None => plan.runs.iter().collect(),
    };
    let states: Vec<Existing> = runs
        .iter()
        .map(|r| train::inspect(&exp_dir.join(&r.name), &r.exp.resolved()))
        .collect();
    if a.dry_run {
        let of = a
            .shard
            .map(|(k, n)| format!(" (shard {k}/{n} of {})", plan.runs.len()))
            .unwrap_or_default();
        println!(
            "{} runs of {}{of} in {}:",
            runs.len(),
            plan.name,
            exp_dir.display()
        );
        for (r, s) in runs.iter().zip(&states) {
            let what = match s {
                Existing::New => "to run".to_string(),
                Existing::Done(_) if a.fresh => "done (will run again: --fresh)".into(),
                Existing::Done(_) => "done".into(),
                Existing::Changed(_) => "holds a different config (--fresh moves it aside)".into(),
                Existing::Resumable(e) if a.fresh => {
                    format!("to run again from scratch (--fresh; has a checkpoint after epoch {e})")
                }
                Existing::Resumable(e) => format!("to resume after epoch {e}"),
                Existing::Unfinished(s) => format!("to run again (was {s}, no checkpoint)"),
            };
            println!("  {:<40} {what}", r.name);
        }
        return Ok(0);
    }
    if !a.fresh {
        let changed: Vec<String> = runs
            .iter()
            .zip(&states)
            .filter_map(|(r, s)| match s {
                Existing::Changed(diff) => {
                    Some(format!("{}:\n{diff}", exp_dir.join(&r.name).display()))
                }
                _ => None,
            })
            .collect();
        if !changed.is_empty() {
            return Err(UserError(format!(
                "{} run folder(s) hold a different config:\n{}\nrun with --fresh to move them aside and run again",
                changed.len(),
                changed.join("\n")
            ))
            .into());
        }
    }
    // A parent running --jobs gives each child its share of the cores through AE_THREADS.
    train::set_threads(
        std::env::var("AE_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(plan.runs[0].exp.train.threads),
    );
    let opts = RunOptions {
        device: a.common.device.clone(),
    };
    let (n, mut bad) = (runs.len(), 0);
    let mut cache = train::DataCache::default();
    for (i, (r, state)) in runs.iter().zip(&states).enumerate() {
        let dir = exp_dir.join(&r.name);
        if let (Existing::Done(s), false) = (state, a.fresh) {
            println!(
                "already finished with the same config: {} (--fresh runs it again)",
                dir.display()
            );
            print_test(&s.test);
            continue;
        }
        if n > 1 {
            tracing::info!("run {}/{n}: {}", i + 1, r.name);
        }
        let resume = matches!(state, Existing::Resumable(_)) && !a.fresh;
        match train::run(&r.exp, &dir, &r.values, &opts, resume, &mut cache) {
            Ok(Outcome::Finished { test }) => {
                println!("finished: {}", dir.display());
                print_test(&test);
            }
            Ok(Outcome::Diverged { message }) => {
                bad += 1;
                eprintln!(
                    "error: {}: {message}; what was finished is in {}",
                    r.name,
                    dir.display()
                );
            }
            Ok(Outcome::Interrupted {
                signal,
                epochs_done,
            }) => {
                eprintln!(
                    "interrupted by {}: {} holds a checkpoint after epoch {epochs_done}; run the same command again to resume",
                    ae_runner::interrupt::name(signal),
                    dir.display()
                );
                return Ok(ae_runner::interrupt::exit_code(signal));
            }
            // The user's mistakes (data, device) hold for every run: stop.
            Err(e) if is_users(&e) => return Err(e),
            Err(e) => {
                bad += 1;
                eprintln!("error: run {} failed: {e:#}", r.name);
            }
        }
    }
    // Shards never write the summary: they would race on it. `summarize` merges them.
    if let Some((k, total)) = a.shard {
        println!(
            "shard {k}/{total} done; after every shard: ae-runner summarize {}",
            exp_dir.display()
        );
    } else {
        finish_experiment(&exp_dir, n > 1)?;
    }
    if bad > 0 {
        eprintln!(
            "{bad} of {n} runs failed or diverged (see {})",
            exp_dir.join("summary.md").display()
        );
    }
    Ok(u8::from(bad > 0))
}

/// `--jobs J`: J children, each running shard i/J with its share of the cores; then the
/// summary. The exit code is the worst of the children's.
fn run_jobs(a: &RunArgs, exp_dir: &std::path::Path) -> anyhow::Result<u8> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_child = (cores / a.jobs).max(1);
    let exe = std::env::current_exe()?;
    let mut args: Vec<String> = vec![
        a.experiment
            .as_ref()
            .expect("clap requires it")
            .display()
            .to_string(),
        "--out".into(),
        a.common.out.display().to_string(),
    ];
    args.extend(a.common.flags());
    if a.fresh {
        args.push("--fresh".into());
    }
    tracing::info!("{} jobs, {per_child} thread(s) each", a.jobs);
    let children = (0..a.jobs)
        .map(|k| {
            std::process::Command::new(&exe)
                .args(&args)
                .args(["--shard", &format!("{k}/{}", a.jobs)])
                .env("AE_THREADS", per_child.to_string())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut worst = 0u8;
    for mut c in children {
        let code = c.wait()?.code().unwrap_or(1);
        worst = worst.max(u8::try_from(code).unwrap_or(1));
    }
    finish_experiment(exp_dir, true)?;
    Ok(worst)
}

/// The end of an experiment (or of its shards, by `summarize`): its summary (the table printed if `show_table`) and its report.
/// A report that cannot be written is a warning: the runs and the summary are what matter, and
/// `ae-runner report` can write it again.
fn finish_experiment(exp_dir: &std::path::Path, show_table: bool) -> anyhow::Result<()> {
    let table = summary::write(exp_dir)?;
    if show_table {
        print!("{table}");
    }
    println!("summary: {}", exp_dir.join("summary.md").display());
    match report::write(exp_dir) {
        Ok(path) => println!("report: {}", path.display()),
        Err(e) => tracing::warn!("no report: {e:#}"),
    }
    Ok(())
}

fn print_test(test: &[(String, f64)]) {
    for (k, v) in test {
        println!("  test {k:<14} {v:.6}");
    }
}
