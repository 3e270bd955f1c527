//! `ae-runner EXPERIMENT.yaml`: trains what the file says (every run of its sweep) and writes
//! results/<name>/<run>/ and the experiment's summary tables. A thin shell over the library.
//! Exit codes: 0 done, 1 a run failed or diverged, 2 the user's mistake (config, flags, data).

mod args;

use ae_core::UserError;
use ae_runner::config::Plan;
use ae_runner::experiment::{self, jobs, judging, parity, reeval, slurm, Event, Options};
use ae_runner::results::naming::count;
use ae_runner::results::{report, summary, yaml};
use ae_runner::run::context::DataCache;
use ae_runner::run::interrupt;
use anyhow::Context;
use args::{
    parse_sets, plan, ClassifierArgs, Cli, Command, EvalArgs, ParityArgs, RunArgs, SlurmArgs,
};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

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
    if let Err(e) = interrupt::install() {
        eprintln!("error: cannot install the signal handlers: {e}");
        return ExitCode::from(1);
    }
    let result = match cli.command {
        Some(Command::Summarize { dir }) => summarize(&dir),
        Some(Command::Compare { dirs, to }) => compare(&dirs, to.as_deref()),
        Some(Command::Report { dir }) => write_report(&dir),
        Some(Command::Tensorboard { dir }) => tensorboard(&dir),
        Some(Command::Eval(args)) => eval(args),
        Some(Command::Classifier(args)) => train_classifiers(args),
        Some(Command::Slurm(args)) => write_slurm(args),
        Some(Command::Parity(args)) => check_parity(args),
        None => run(cli.run),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if experiment::is_users(&e) { 2 } else { 1 })
        }
    }
}

fn summarize(dir: &std::path::Path) -> anyhow::Result<u8> {
    experiment::finish(dir, true, &mut print_event)?;
    Ok(0)
}

fn compare(dirs: &[PathBuf], to: Option<&std::path::Path>) -> anyhow::Result<u8> {
    let c = summary::compare(dirs, to)?;
    print!("{}", c.table);
    let replaced = c.replaced.then_some(" (replacing the earlier ones)");
    let replaced = replaced.unwrap_or_default();
    println!("written: {}, {}{replaced}", c.md.display(), c.csv.display());
    Ok(0)
}

fn write_report(dir: &std::path::Path) -> anyhow::Result<u8> {
    println!("report: {}", report::write(dir)?.display());
    Ok(0)
}

/// The TensorBoard command for an experiment's streams, with the TensorBoard it would start:
/// the one on PATH, else the one scripts/tensorboard-venv.sh installs in a checkout.
fn tensorboard(dir: &std::path::Path) -> anyhow::Result<u8> {
    let logdir = dir.join("tensorboard");
    if !logdir.is_dir() {
        return Err(UserError(format!(
            "{} has no TensorBoard streams ({} is missing): its runs ran with log.tensorboard: false, or none has started",
            dir.display(),
            logdir.display()
        ))
        .into());
    }
    let venv = PathBuf::from("target/tensorboard-venv/bin/tensorboard");
    let found = ["tensorboard".into(), venv]
        .into_iter()
        .find_map(|exe: PathBuf| {
            let out = std::process::Command::new(&exe)
                .arg("--version_tb")
                .output()
                .ok()?;
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            out.status.success().then_some((exe, version))
        });
    match found {
        Some((exe, version)) => {
            println!("{} --logdir {}", exe.display(), logdir.display());
            println!("(TensorBoard {version}; open the address it prints)");
        }
        None => {
            println!("tensorboard --logdir {}", logdir.display());
            println!("(TensorBoard is not installed: `pip install tensorboard`, or in a checkout of aelab `bash scripts/tensorboard-venv.sh`, which puts it in target/tensorboard-venv/bin/)");
        }
    }
    Ok(0)
}

fn eval(a: EvalArgs) -> anyhow::Result<u8> {
    let sets = parse_sets(&a.sets)?;
    // One cache for all the runs: the data are read, and the pixel classifiers fit, once.
    let mut cache = DataCache::default();
    for dir in &a.runs {
        let device = a.on.device.as_deref();
        let metrics = reeval::rerun(dir, &sets, device, a.on.threads, &mut cache)?;
        println!("evaluated: {}", dir.display());
        print_test(&metrics);
    }
    // The experiments' tables and reports show the new numbers.
    let mut exp_dirs: Vec<&std::path::Path> = a.runs.iter().filter_map(|d| d.parent()).collect();
    exp_dirs.dedup();
    for exp_dir in exp_dirs {
        experiment::finish(exp_dir, false, &mut print_event)?;
    }
    Ok(0)
}

fn train_classifiers(a: ClassifierArgs) -> anyhow::Result<u8> {
    let plan = plan(&a.experiment, &a.sets)?;
    let found = judging::classifiers(&plan, &a.out, a.on.device.as_deref(), a.on.threads)?;
    for (dir, acc) in found {
        println!("{}: test accuracy {acc:.4}", dir.display());
    }
    Ok(0)
}

fn check_parity(a: ParityArgs) -> anyhow::Result<u8> {
    let report = parity::check(&plan(&a.experiment, &a.sets)?, &a.device)?;
    println!("| run | compared | max rel. difference |\n|---|---|---|");
    for (run, c) in &report.rows {
        println!("| {run} | {} | {:.2e} |", c.what, c.rel);
    }
    let worst = report
        .worst()
        .context("nothing to compare: the experiment has no runs")?;
    let ok = worst.0 <= a.tolerance;
    println!(
        "parity {} against cpu: worst {:.2e} ({}), tolerance {:.0e}: {}",
        report.device,
        worst.0,
        worst.1,
        a.tolerance,
        if ok { "pass" } else { "FAIL" }
    );
    Ok(if ok { 0 } else { 1 })
}

fn write_slurm(a: SlurmArgs) -> anyhow::Result<u8> {
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
    let opts = slurm::SlurmOptions {
        shards,
        partition: a.partition,
        gpus_per_task: a.gpus_per_task,
        cpus_per_task: a.cpus_per_task,
        time: a.time,
    };
    let submit =
        slurm::write_scripts(&a.common.out.join(&plan.name), &plan.name, &run_args, &opts)?;
    println!(
        "{} in {}; submit with:\n  bash {}",
        count(plan.runs.len(), "run"),
        count(shards, "array task"),
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
        experiment::check_data(&plan)?;
        for r in &plan.runs {
            if plan.runs.len() > 1 {
                println!("--- # {}", r.name);
            }
            print!("{}", yaml::write(&r.exp.resolved()));
        }
        return Ok(0);
    }
    let opts = Options {
        out: a.common.out.clone(),
        device: a.common.device.clone(),
        fresh: a.fresh,
        retry_failed: a.common.retry_failed,
        continue_runs: a.common.continue_runs,
        shard: a.shard,
        jobs: a.jobs,
        as_job: a.as_job,
    };
    if a.dry_run {
        print_dry_run(&plan, &opts);
        return Ok(0);
    }
    let mut args = vec![
        path.display().to_string(),
        "--out".into(),
        a.common.out.display().to_string(),
    ];
    args.extend(a.common.flags());
    let child = jobs::Child {
        exe: std::env::current_exe()?,
        args,
    };
    let ended = experiment::execute(&plan, &opts, &child, &mut print_event)?;
    if ended.bad > 0 {
        eprintln!(
            "{} of {} failed or diverged (see {})",
            ended.bad,
            count(ended.runs, "run"),
            opts.out.join(&plan.name).join("summary.md").display()
        );
    }
    Ok(ended.exit_code())
}

/// `--dry-run`: the runs that would run, and what their folders hold.
fn print_dry_run(plan: &Plan, opts: &Options) {
    let states = experiment::states(plan, opts);
    let of = opts
        .shard
        .map(|(k, n)| format!(" (shard {k}/{n} of {})", plan.runs.len()))
        .unwrap_or_default();
    println!(
        "{} of {}{of} in {}:",
        count(states.len(), "run"),
        plan.name,
        opts.out.join(&plan.name).display()
    );
    for (r, s) in &states {
        let what = s.plan(opts.fresh, opts.continue_runs);
        println!("  {:<40} {what}", r.name);
    }
}

fn print_event(e: Event) {
    match e {
        Event::Starting { index, total, name } => tracing::info!("run {index}/{total}: {name}"),
        Event::AlreadyDone { dir, test } => {
            println!(
                "already finished with the same config: {} (--fresh runs it again)",
                dir.display()
            );
            print_test(test);
        }
        Event::AlreadyEnded { dir, status } => eprintln!(
            "not run again: {} {} with the same config (--retry-failed runs it again){}",
            dir.display(),
            status.status,
            status.message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
        ),
        Event::Finished { dir, test } => {
            println!("finished: {}", dir.display());
            print_test(test);
        }
        Event::Diverged { name, dir, message } => eprintln!(
            "error: run {name} diverged {message}; what was finished is in {}",
            dir.display()
        ),
        Event::Failed { name, error } => eprintln!("error: run {name} failed: {error:#}"),
        Event::Interrupted {
            signal,
            dir,
            epochs_done,
        } => eprintln!(
            "interrupted by {}: {} holds a checkpoint after epoch {epochs_done}; run the same command again to resume",
            interrupt::name(signal),
            dir.display()
        ),
        Event::ShardDone {
            shard: (k, total),
            exp_dir,
        } => println!(
            "shard {k}/{total} done; after every shard: ae-runner summarize {}",
            exp_dir.display()
        ),
        Event::Summarized {
            exp_dir,
            table,
            show_table,
        } => {
            if show_table {
                print!("{table}");
            }
            println!("summary: {}", exp_dir.join("summary.md").display());
        }
        Event::Reported { report } => match report {
            Ok(path) => println!("report: {}", path.display()),
            Err(e) => tracing::warn!("no report: {e:#}"),
        },
    }
}

fn print_test(test: &[(String, f64)]) {
    for (k, v) in test {
        println!("  test {k:<14} {v:.6}");
    }
}
