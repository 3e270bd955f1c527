//! `ae-runner EXPERIMENT.yaml`: trains what the file says and writes results/<name>/<run>/.
//! Exit codes: 0 done, 1 a run failed or diverged, 2 the user's mistake (config, flags, data).

use ae_core::{ConfigError, UserError};
use ae_runner::config;
use ae_runner::train::{self, Outcome, RunOptions};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Train autoencoders from a YAML experiment file.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The experiment file, e.g. experiments/vae.yaml.
    experiment: PathBuf,
    /// Override a key, e.g. --set train.epochs=2 --set model.kl_weight=0.5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Where results go: OUT/<name>/<run>/.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// auto | cpu | cuda | cuda:N (overrides train.device).
    #[arg(long)]
    device: Option<String>,
    /// Validate and print the resolved config; run nothing.
    #[arg(long)]
    check: bool,
    /// Move an earlier run of the same name aside and start again.
    #[arg(long)]
    fresh: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
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
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let users = e
                .chain()
                .any(|c| c.is::<UserError>() || c.is::<ConfigError>());
            ExitCode::from(if users { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let sets = cli
        .sets
        .iter()
        .map(|s| config::parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let exp = config::load(&cli.experiment, &sets)?;
    if let Some(d) = &cli.device {
        if !ae_core::device::is_valid_spec(d) {
            return Err(
                UserError(format!("--device {d}: allowed: auto, cpu, cuda, cuda:N")).into(),
            );
        }
    }
    if cli.check {
        print!("{}", serde_yaml::to_string(&exp.resolved())?);
        return Ok(0);
    }
    // candle sizes its matmul thread pool from RAYON_NUM_THREADS when it first runs one; set it
    // before any tensor work (0 keeps candle's default: every core).
    if exp.train.threads > 0 {
        std::env::set_var("RAYON_NUM_THREADS", exp.train.threads.to_string());
    }
    let opts = RunOptions {
        out: cli.out,
        device: cli.device,
        fresh: cli.fresh,
    };
    let print_test = |test: &[(String, f64)]| {
        for (k, v) in test {
            println!("  test {k:<14} {v:.6}");
        }
    };
    match train::run(&exp, &opts)? {
        Outcome::Finished { dir, test } => {
            println!("finished: {}", dir.display());
            println!(
                "  files: config.yaml metrics.csv test.csv model.safetensors reconstructions.png{}",
                if dir.join("samples.png").exists() {
                    " samples.png"
                } else {
                    ""
                }
            );
            print_test(&test);
            Ok(0)
        }
        Outcome::AlreadyDone { dir, test } => {
            println!(
                "already finished with the same config: {} (--fresh runs it again)",
                dir.display()
            );
            print_test(&test);
            Ok(0)
        }
        Outcome::Diverged { dir, message } => {
            eprintln!(
                "error: {message}; what was finished is in {}",
                dir.display()
            );
            Ok(1)
        }
    }
}
