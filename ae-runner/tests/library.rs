//! The experiment logic is a library call: a plan executed in this process, without the binary,
//! telling what happens through events; the second call finds the finished run.

use ae_runner::config::{plan, Document};
use ae_runner::experiment::{execute, jobs::Child, Event, Options};
use std::path::Path;

fn events(opts: &Options, doc: &Document) -> (Vec<String>, u8) {
    let plan = plan(doc).unwrap();
    let child = Child {
        exe: env!("CARGO_BIN_EXE_ae-runner").into(),
        args: vec![],
    };
    let mut seen = Vec::new();
    let ended = execute(&plan, opts, &child, &mut |e| {
        seen.push(match e {
            Event::Starting { name, .. } => format!("starting {name}"),
            Event::AlreadyDone { .. } => "already done".into(),
            Event::AlreadyEnded { status, .. } => format!("already {}", status.status),
            Event::Finished { test, .. } => format!("finished with {} metrics", test.len()),
            Event::Summarized { .. } => "summarized".into(),
            Event::Reported { report } => format!("reported {}", report.is_ok()),
            Event::Diverged { message, .. } => format!("diverged {message}"),
            Event::Failed { error, .. } => format!("failed {error:#}"),
            Event::Interrupted { .. } => "interrupted".into(),
            Event::ShardDone { .. } => "shard done".into(),
        })
    })
    .unwrap();
    (seen, ended.exit_code())
}

#[test]
fn a_sweep_executes_in_process_and_a_second_call_finds_it_done() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "name: lib\ndata: {{root: {}, train_limit: 300, val_size: 100, test_limit: 200}}\n\
         model: {{variant: plain, hidden: [32], latent_dim: 4}}\n\
         train: {{epochs: 1, device: cpu}}\n\
         eval: {{fit_images: 200, knn_k: 3, pictures: false}}\n\
         sweep: {{train.seed: [0, 1]}}\n",
        root.join("data/mnist").display()
    );
    let doc = Document::parse(&tmp.path().join("lib.yaml"), text, &[]).unwrap();
    let opts = Options {
        out: tmp.path().join("results"),
        device: None,
        fresh: false,
        retry_failed: false,
        continue_runs: false,
        shard: None,
        jobs: 1,
        as_job: false,
    };
    let (first, code) = events(&opts, &doc);
    assert_eq!(code, 0, "{first:?}");
    assert_eq!(
        first,
        vec![
            "starting seed=0",
            "finished with 7 metrics",
            "starting seed=1",
            "finished with 7 metrics",
            "summarized",
            "reported true"
        ],
        "{first:?}"
    );
    assert!(opts.out.join("lib/summary.csv").is_file());
    let (second, code) = events(&opts, &doc);
    assert_eq!(code, 0);
    assert_eq!(
        &second[..2],
        &["already done", "already done"],
        "{second:?}"
    );
}
