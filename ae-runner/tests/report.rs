//! A tiny sweep end to end leaves report.html; opened in headless Chromium, every picture in it
//! loads (the page's own script counts them) and its summary table names every run. Also
//! `ae-runner report` on its own, and on a folder that is no experiment.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const SWEEP: &str = include_str!("fixtures/tiny-sweep.yaml");

/// The PNG and SVG files directly in `dir`.
fn images_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "png" || x == "svg"))
        .count()
}

/// Whether Chromium is there; without it the test is skipped, except under CI, which installs
/// it (.ci/run).
fn have_chromium() -> bool {
    let found = Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "CI is set but chromium is not installed"
    );
    found
}

/// The DOM of `page` after its scripts ran, from headless Chromium.
fn dump_dom(page: &Path, profile: &Path) -> String {
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium starts");
    assert!(o.status.success(), "chromium: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_sweeps_report_names_every_run_and_every_picture_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tiny.yaml");
    std::fs::write(&file, SWEEP).unwrap();
    let out = tmp.path().join("results");
    let o = ae_runner(&[file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let exp = out.join("tiny");
    let page = exp.join("report.html");
    assert!(
        stdout(&o).contains(&format!("report: {}", page.display())),
        "{}",
        stdout(&o)
    );

    let runs = [
        "kl_weight=0.5,seed=0",
        "kl_weight=0.5,seed=1",
        "kl_weight=2,seed=0",
        "kl_weight=2,seed=1",
    ];
    for run in runs {
        assert!(exp.join(run).join("curves.svg").exists(), "{run}");
    }
    // sweep.svg, rate_distortion.svg; per run curves.svg, reconstructions.png, samples.png and
    // whatever else a run now leaves.
    let expected = images_in(&exp) + runs.iter().map(|r| images_in(&exp.join(r))).sum::<usize>();
    assert!(expected >= 2 + 3 * runs.len(), "{expected}");

    // `report` writes the page again from the folders alone.
    std::fs::remove_file(&page).unwrap();
    let r = ae_runner(&["report", exp.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(page.exists());
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<img ").count(), expected);
    assert!(!html.contains("src=\"http") && !html.contains("<link"));

    for bad in [tmp.path().join("missing"), tmp.path().to_path_buf()] {
        let r = ae_runner(&["report", bad.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
        assert!(stderr(&r).starts_with("error: "), "{}", stderr(&r));
    }

    if !have_chromium() {
        println!("SKIPPED: chromium not installed");
        return;
    }
    let dom = dump_dom(&page, &tmp.path().join("chromium-profile"));
    assert!(
        dom.contains(&format!("{expected} of {expected} images loaded")),
        "expected {expected} images: {}",
        dom.split("image-check")
            .nth(1)
            .unwrap_or(&dom[..dom.len().min(2000)])
    );
    for run in runs {
        assert!(dom.contains(&format!("<td>{run}</td>")), "{run}");
    }
}
