//! Executing a plan: every run of an experiment in this process (or a shard of them, or in J
//! child processes), each trained, evaluated and recorded, then the experiment's summary and
//! report. What happens is told through [`Event`]s, which the command line prints.

pub mod jobs;
pub mod judging;
pub mod parity;
pub mod reeval;
pub mod slurm;

use crate::config::{Plan, PlannedRun};
use crate::eval::{self, pictures};
use crate::results::status::Status;
use crate::results::{report, summary};
use crate::run::context::{set_threads, DataCache};
use crate::run::folder::{inspect, Existing};
use crate::run::{Outcome, Run, RunOptions};
use ae_core::{ConfigError, UserError};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// How to execute a plan: the flags of `ae-runner EXPERIMENT.yaml`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Results go to `out/<name>/<run>/`.
    pub out: PathBuf,
    /// Overrides `train.device`.
    pub device: Option<String>,
    /// Run again runs that already finished (their folders are moved aside).
    pub fresh: bool,
    /// Run again runs that diverged or failed with the same config (resumed from their last
    /// checkpoint if they have one); without it they are reported as they ended.
    pub retry_failed: bool,
    /// Train finished runs on from their last checkpoint where only `train.epochs` grew.
    pub continue_runs: bool,
    /// Only the runs i with i mod N = K.
    pub shard: Option<(usize, usize)>,
    /// Child processes, each running one shard (of the shard, with `shard`).
    pub jobs: usize,
    /// This process is a child of a `--jobs` parent, which tells how its shard ended.
    pub as_job: bool,
}

/// What happened, as it happens.
pub enum Event<'a> {
    /// Run `index` (from 1) of `total` starts.
    Starting {
        index: usize,
        total: usize,
        name: &'a str,
    },
    /// Finished earlier with the same config: not run again.
    AlreadyDone {
        dir: &'a Path,
        test: &'a [(String, f64)],
    },
    /// Diverged or failed earlier with the same config: reported, not run again.
    AlreadyEnded { dir: &'a Path, status: &'a Status },
    Finished {
        dir: &'a Path,
        test: &'a [(String, f64)],
    },
    Diverged {
        name: &'a str,
        dir: &'a Path,
        message: &'a str,
    },
    Failed {
        name: &'a str,
        error: &'a anyhow::Error,
    },
    Interrupted {
        signal: i32,
        dir: &'a Path,
        epochs_done: usize,
    },
    /// A shard ends without the experiment's summary (shards would race on it).
    ShardDone {
        shard: (usize, usize),
        exp_dir: &'a Path,
    },
    /// The experiment's tables were written.
    Summarized {
        exp_dir: &'a Path,
        table: &'a str,
        show_table: bool,
    },
    /// report.html was written, or could not be (a warning: `ae-runner report` writes it again).
    Reported { report: &'a Result<PathBuf> },
}

/// How executing a plan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Runs this process (or its children) were given.
    pub runs: usize,
    /// Of them, failed or diverged.
    pub bad: usize,
    /// Stopped by this signal.
    pub signal: Option<i32>,
    /// The worst exit code of child processes (`--jobs`).
    pub children: u8,
}

impl Ended {
    /// 0 all done, 1 a run failed or diverged, 128 + signal when interrupted.
    pub fn exit_code(&self) -> u8 {
        match self.signal {
            Some(s) => crate::run::interrupt::exit_code(s),
            None => u8::from(self.bad > 0).max(self.children),
        }
    }
}

/// The error is the user's (config, flags, data, device): exit code 2.
pub fn is_users(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<UserError>() || c.is::<ConfigError>())
}

/// The runs of `plan` this process runs (a shard's share, or all).
pub fn selected(plan: &Plan, shard: Option<(usize, usize)>) -> Vec<&PlannedRun> {
    match shard {
        Some((k, n)) => plan
            .runs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, r)| r)
            .collect(),
        None => plan.runs.iter().collect(),
    }
}

/// What `--check` can tell of the data without reading it: the headers of every data config's
/// files (named with the run when the plan has several).
pub fn check_data(plan: &Plan) -> Result<()> {
    let mut seen: Vec<&ae_core::data::DataConfig> = Vec::new();
    for r in &plan.runs {
        if seen.contains(&&r.exp.data) {
            continue;
        }
        seen.push(&r.exp.data);
        let checked = r.exp.data.check_headers();
        match plan.runs.len() {
            1 => checked?,
            _ => checked.map_err(|e| e.context(format!("run {}", r.name)))?,
        }
    }
    Ok(())
}

/// What each selected run's folder holds now, beside the run.
pub fn states<'p>(plan: &'p Plan, opts: &Options) -> Vec<(&'p PlannedRun, Existing)> {
    let exp_dir = opts.out.join(&plan.name);
    selected(plan, opts.shard)
        .into_iter()
        .map(|r| {
            let dir = exp_dir.join(&r.name);
            (r, inspect(&dir, &r.exp.resolved(), opts.retry_failed))
        })
        .collect()
}

/// Runs what `plan` and `opts` say, telling `on` what happens. A folder holding another
/// config stops everything before any run (unless `fresh`); the user's mistakes (data,
/// device) stop at the first run that meets them; other failures are counted and the rest
/// run on.
pub fn execute(
    plan: &Plan,
    opts: &Options,
    child: &jobs::Child,
    on: &mut dyn FnMut(Event),
) -> Result<Ended> {
    let exp_dir = opts.out.join(&plan.name);
    // No more processes than runs.
    let runs = selected(plan, opts.shard).len();
    let jobs = opts.jobs.min(runs);
    if jobs > 1 {
        let children = jobs::run(child, jobs, opts.shard, opts.fresh)?;
        end(opts, &exp_dir, true, on)?;
        return Ok(Ended {
            runs,
            bad: 0,
            signal: None,
            children,
        });
    }
    let states = states(plan, opts);
    if !opts.fresh {
        let changed: Vec<String> = states
            .iter()
            .filter_map(|(r, s)| match s {
                Existing::Changed(diff) => {
                    Some(format!("{}:\n{diff}", exp_dir.join(&r.name).display()))
                }
                Existing::Longer { from, diff } if !opts.continue_runs => Some(format!(
                    "{}:\n{diff}\n  (finished after {from} epochs: --continue trains it on from there)",
                    exp_dir.join(&r.name).display()
                )),
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
    set_threads(
        std::env::var("AE_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(plan.runs[0].exp.train.threads),
    );
    let run_opts = RunOptions {
        device: opts.device.clone(),
    };
    let total = states.len();
    let mut ended = Ended {
        runs: total,
        bad: 0,
        signal: None,
        children: 0,
    };
    let mut cache = DataCache::default();
    for (i, (r, state)) in states.iter().enumerate() {
        let dir = exp_dir.join(&r.name);
        match (state, opts.fresh) {
            (Existing::Done(s), false) => {
                on(Event::AlreadyDone {
                    dir: &dir,
                    test: &s.test,
                });
                continue;
            }
            (Existing::Ended(s), false) => {
                ended.bad += 1;
                on(Event::AlreadyEnded {
                    dir: &dir,
                    status: s,
                });
                continue;
            }
            _ => {}
        }
        if total > 1 {
            on(Event::Starting {
                index: i + 1,
                total,
                name: &r.name,
            });
        }
        let resume =
            matches!(state, Existing::Resumable(_) | Existing::Longer { .. }) && !opts.fresh;
        match run_one(r, &dir, &run_opts, resume, &mut cache) {
            Ok(Outcome::Finished { test }) => on(Event::Finished {
                dir: &dir,
                test: &test,
            }),
            Ok(Outcome::Diverged { message }) => {
                ended.bad += 1;
                on(Event::Diverged {
                    name: &r.name,
                    dir: &dir,
                    message: &message,
                });
            }
            Ok(Outcome::Interrupted {
                signal,
                epochs_done,
            }) => {
                on(Event::Interrupted {
                    signal,
                    dir: &dir,
                    epochs_done,
                });
                ended.signal = Some(signal);
                return Ok(ended);
            }
            // The user's mistakes (data, device) hold for every run: stop.
            Err(e) if is_users(&e) => return Err(e),
            Err(e) => {
                ended.bad += 1;
                on(Event::Failed {
                    name: &r.name,
                    error: &e,
                });
            }
        }
    }
    end(opts, &exp_dir, total > 1, on)?;
    Ok(ended)
}

/// After the runs: the experiment's summary and report, or with a shard, the word that it is
/// done (from the process the user started, not from each of its `--jobs` children).
fn end(opts: &Options, exp_dir: &Path, show_table: bool, on: &mut dyn FnMut(Event)) -> Result<()> {
    match opts.shard {
        Some(_) if opts.as_job => {}
        Some(shard) => on(Event::ShardDone { shard, exp_dir }),
        None => finish(exp_dir, show_table, on)?,
    }
    Ok(())
}

/// One run: trained (or resumed), its pictures and evaluation, how it ended in run.json.
pub fn run_one(
    r: &PlannedRun,
    dir: &Path,
    opts: &RunOptions,
    resume: bool,
    cache: &mut DataCache,
) -> Result<Outcome> {
    let mut run = Run::open(&r.exp, dir, &r.values, opts, resume, cache)?;
    let result = run.train().and_then(|mut test| {
        pictures::write_basic(run.model.as_ref(), &run.data, &run.streams, &run.dir)?;
        // Freshly trained weights: evaluations of earlier ones would be stale.
        test.extend(eval::evaluate(
            &r.exp,
            run.model.as_ref(),
            &run.device,
            &run.streams,
            &run.dir,
            cache,
            false,
        )?);
        run.board.end(&test);
        Ok(test)
    });
    run.finish(result)
}

/// The end of an experiment (or of its shards, by `summarize`): its summary tables and plots,
/// then its report.
pub fn finish(exp_dir: &Path, show_table: bool, on: &mut dyn FnMut(Event)) -> Result<()> {
    let table = summary::write(exp_dir)?;
    on(Event::Summarized {
        exp_dir,
        table: &table,
        show_table,
    });
    on(Event::Reported {
        report: &report::write(exp_dir),
    });
    Ok(())
}
