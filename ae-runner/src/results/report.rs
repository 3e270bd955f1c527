//! report.html: one page per experiment (the summary table, the sweep's plots, and per run
//! its status, tables, learning curves, pictures and config). Every image is inline, so the
//! file can be mailed or archived alone and opened without a network.

use crate::results::files::write_atomic_as;
use crate::results::plot::{self, escape};
use crate::results::records::{experiment_runs, RunRecord};
use crate::results::stats::{group, num};
use crate::results::status::now;
use crate::results::summary::{self, Table};
use anyhow::{Context, Result};
use base64::Engine;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Runs that get a section of their own; beyond that the page would grow without bound, and
/// the summary table still lists every run.
pub const MAX_RUN_SECTIONS: usize = 24;

/// The experiment's plots, in the order shown.
const SWEEP_PLOTS: &[(&str, &str)] = &[
    ("sweep.svg", "Test metrics against the swept value"),
    ("rate_distortion.svg", "Rate and distortion"),
];

/// A run's pictures, in the order shown, with their captions; any other image in the folder
/// follows under its file name.
const KNOWN_IMAGES: &[(&str, &str)] = &[
    ("reconstructions.png", "Test images and reconstructions"),
    ("samples.png", "Samples from the prior"),
    (
        "samples-gmm.png",
        "Samples from a Gaussian mixture fitted to the training codes (ex-post)",
    ),
    ("interpolations.png", "Interpolations in latent space"),
    ("manifold.png", "Decoded 2-D latent grid"),
    ("latent.svg", "Test codes by digit"),
];

/// A run's one-row tables, with their headings.
const TABLES: &[(&str, &str)] = &[("test.csv", "Test metrics"), ("eval.csv", "Evaluation")];

const CURVES: &str = "curves.svg";

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}\
.wide{overflow-x:auto}table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;white-space:nowrap}\
td.num{text-align:right;font-variant-numeric:tabular-nums}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}\
img{max-width:100%}img[src^='data:image/png']{image-rendering:pixelated}figcaption{font-size:13px;color:#555}\
section{border-top:1px solid #ddd;margin-top:1.5em}.meta,.note{color:#555}.bad{color:#b00}\
img.broken{border:3px solid red;min-width:40px;min-height:40px}pre{font-size:12px;background:#f6f6f6;padding:.5em}";

/// Counts the pictures that loaded, so a broken one shows (and a test can read the count).
const SCRIPT: &str = "window.addEventListener('load',function(){var im=document.images,ok=0;\
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;else im[i].className+=' broken';}\
document.getElementById('image-check').textContent=ok+' of '+im.length+' images loaded';});";

/// Seconds between reloads of a report while a run trains.
const RELOAD_SECS: u32 = 10;

/// Writes `<exp_dir>/report.html` and returns its path. A path that is not an experiment
/// folder (no run folders in it) is the user's mistake, and nothing is written.
pub fn write(exp_dir: &Path) -> Result<PathBuf> {
    let runs = experiment_runs(exp_dir)?;
    let path = exp_dir.join("report.html");
    // A temporary file of this process's own: the runs of `--jobs` write it after every epoch.
    let tmp = exp_dir.join(format!("report.html.{}.tmp", std::process::id()));
    write_atomic_as(&path, &tmp, render(exp_dir, &runs)?.as_bytes())?;
    Ok(path)
}

/// The whole page.
fn render(exp_dir: &Path, runs: &[RunRecord]) -> Result<String> {
    let name = exp_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // While a run trains, the page is rewritten after every epoch and reloads itself.
    let running = runs.iter().any(|r| r.status == "running");
    let (reload, live) = match running {
        true => (
            format!("<meta http-equiv=\"refresh\" content=\"{RELOAD_SECS}\">"),
            format!(" A run is training: this page is rewritten after every epoch and reloads itself every {RELOAD_SECS} s."),
        ),
        false => (String::new(), String::new()),
    };
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{reload}<title>{0}</title><style>{STYLE}</style></head><body>\n\
         <h1>{0}</h1>\n<p class=\"meta\">Report made {1} from {2}.{live} <span id=\"image-check\">(images not checked: scripts are off)</span></p>\n",
        escape(&name),
        now(),
        escape(&exp_dir.display().to_string())
    );
    h.push_str("<h2>Summary</h2>\n<p>Test and evaluation metrics: mean ± sample std over seeds; n = finished runs.</p>\n");
    let ((header, rows), note) = summary::grouped_table(runs);
    h.push_str(&html_table(&header, &rows));
    if let Some(note) = note {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(&note));
    }
    h.push_str("<h3>Every run</h3>\n");
    h.push_str(&summary_table(exp_dir, runs)?);
    let bad: Vec<&RunRecord> = runs.iter().filter(|r| r.status != "finished").collect();
    if !bad.is_empty() {
        h.push_str("<p class=\"bad\">Not finished:</p>\n<ul>\n");
        for r in bad {
            let _ = writeln!(
                h,
                "<li><code>{}</code>: {}</li>",
                escape(&r.name),
                escape(&r.outcome())
            );
        }
        h.push_str("</ul>\n");
    }
    let mut plotted = false;
    for (file, caption) in SWEEP_PLOTS {
        let path = exp_dir.join(file);
        if path.exists() {
            h.push_str(&figure(&path, caption)?);
            plotted = true;
        }
    }
    let unplotted: Vec<String> = group(runs)
        .iter()
        .filter(|g| g.finished == 0)
        .map(|g| g.label())
        .collect();
    if plotted && !unplotted.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"note\">Not in the plots (no finished run): {}.</p>",
            escape(&unplotted.join("; "))
        );
    }
    h.push_str("\n<h2>Runs</h2>\n");
    if runs.len() > MAX_RUN_SECTIONS {
        let _ = writeln!(
            h,
            "<p class=\"note\">Only the first {MAX_RUN_SECTIONS} of {} runs (by name) are shown below; the summary table lists them all, and each run's folder holds its files.</p>",
            runs.len()
        );
    }
    for r in runs.iter().take(MAX_RUN_SECTIONS) {
        h.push_str(&run_section(&exp_dir.join(&r.name), r));
    }
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    Ok(h)
}

/// summary.csv as a table, or, before there is one (a sharded sweep not yet summarised), the
/// same rows rebuilt from the run folders.
fn summary_table(exp_dir: &Path, runs: &[RunRecord]) -> Result<String> {
    let (header, rows) = match read_csv(&exp_dir.join("summary.csv"))? {
        Some(t) => t,
        None => summary::table(runs),
    };
    Ok(html_table(&header, &rows))
}

/// One run: status, tables, curves, pictures, config. A file that cannot be read or drawn
/// gets a note in its place, so that the page shows every run whatever its folder holds.
fn run_section(dir: &Path, r: &RunRecord) -> String {
    let mut h = format!("<section>\n<h3>{}</h3>\n", escape(&r.name));
    let class = if r.status == "finished" { "" } else { " bad" };
    let _ = writeln!(
        h,
        "<p class=\"status{class}\">{}{}{}</p>",
        escape(&r.status),
        r.seconds.map(|s| format!(", {s:.1} s")).unwrap_or_default(),
        r.message
            .as_ref()
            .map(|m| format!(": {}", escape(m)))
            .unwrap_or_default()
    );
    for (file, heading) in TABLES {
        let table = read_csv(&dir.join(file)).map(|t| {
            t.map(|(header, rows)| format!("<h4>{heading}</h4>\n{}", html_table(&header, &rows)))
                .unwrap_or_default()
        });
        push_part(&mut h, file, table);
    }
    let curves = dir.join(CURVES);
    let drawn = match curves.exists() {
        true => Ok(true),
        false => plot::write_curves(dir).map(|drawn| drawn.is_some()),
    };
    let fig = drawn.and_then(|drawn| match drawn {
        true => figure(&curves, "Learning curves"),
        false => Ok(String::new()),
    });
    push_part(&mut h, "learning curves", fig);
    match images(dir) {
        Ok(images) => {
            for (path, caption) in images {
                let fig = figure(&path, &caption);
                push_part(&mut h, &caption, fig);
            }
        }
        Err(e) => push_part(&mut h, "pictures", Err(e)),
    }
    let config = dir.join("config.yaml");
    if config.exists() {
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("reading {}", config.display()))
            .map(|text| {
                format!(
                    "<details><summary>config.yaml</summary><pre>{}</pre></details>\n",
                    escape(&text)
                )
            });
        push_part(&mut h, "config.yaml", text);
    }
    h.push_str("</section>\n");
    h
}

/// Appends a part of a run's section, or a note saying why `what` is not shown.
fn push_part(h: &mut String, what: &str, part: Result<String>) {
    match part {
        Ok(part) => h.push_str(&part),
        Err(e) => {
            let _ = writeln!(
                h,
                "<p class=\"bad\">{} not shown: {}</p>",
                escape(what),
                escape(&format!("{e:#}"))
            );
        }
    }
}

/// The run's pictures but its curves: the known ones in their order, the latest of
/// `eval.pictures_every`'s reconstructions, then the others by name.
fn images(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut others: Vec<String> = Vec::new();
    let mut latest: Option<String> = None;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let known = name == CURVES || KNOWN_IMAGES.iter().any(|(k, _)| *k == name);
        if name.starts_with(EPOCH_PICTURES) && name.ends_with(".png") {
            latest = latest.max(Some(name));
        } else if !known && mime(Path::new(&name)).is_some() {
            others.push(name);
        }
    }
    others.sort();
    let known = KNOWN_IMAGES
        .iter()
        .filter(|(file, _)| dir.join(file).exists())
        .map(|(file, caption)| (dir.join(file), caption.to_string()));
    let latest = latest.map(|n| {
        let epoch = n[EPOCH_PICTURES.len()..].trim_end_matches(".png");
        let epoch = epoch.trim_start_matches('0');
        (
            dir.join(&n),
            format!("Test images and reconstructions after epoch {epoch}"),
        )
    });
    Ok(known
        .chain(latest)
        .chain(others.into_iter().map(|n| (dir.join(&n), n)))
        .collect())
}

/// The start of the names of `eval.pictures_every`'s files: `reconstructions-epoch-007.png`.
pub const EPOCH_PICTURES: &str = "reconstructions-epoch-";

/// The media type of the pictures a report shows.
fn mime(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "svg" => Some("image/svg+xml"),
        _ => None,
    }
}

/// A picture inline as a data URI (SVGs too: as <img> they can run no script and clash with no
/// id of the page), with its caption.
fn figure(path: &Path, caption: &str) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mime = mime(path).unwrap_or("application/octet-stream");
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let caption = escape(caption);
    Ok(format!(
        "<figure><img src=\"data:{mime};base64,{data}\" alt=\"{caption}\"><figcaption>{caption}</figcaption></figure>\n"
    ))
}

/// A CSV file's header and rows; None when there is no such file.
fn read_csv(path: &Path) -> Result<Option<Table>> {
    if !path.exists() {
        return Ok(None);
    }
    let read = || -> Result<Table> {
        let mut r = csv::ReaderBuilder::new().flexible(true).from_path(path)?;
        let header = r.headers()?.iter().map(String::from).collect();
        let rows = r
            .records()
            .map(|rec| Ok(rec?.iter().map(String::from).collect()))
            .collect::<Result<_>>()?;
        Ok((header, rows))
    };
    read()
        .map(Some)
        .with_context(|| format!("reading {}", path.display()))
}

fn html_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<div class=\"wide\"><table><tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for c in row {
            h.push_str(&td(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
    h
}

/// A cell: long numbers shortened to four significant digits, the full value on hover.
fn td(v: &str) -> String {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && v.len() > 8 => {
            format!("<td class=\"num\" title=\"{}\">{}</td>", escape(v), num(x))
        }
        Ok(_) => format!("<td class=\"num\">{}</td>", escape(v)),
        Err(_) => format!("<td>{}</td>", escape(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::status::Status;

    /// A run folder with a run.json of `status` and a one-line config.yaml.
    fn fake_run(exp: &Path, name: &str, status: &str, config: &str) -> PathBuf {
        let dir = exp.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Status::started();
        s.status = status.into();
        s.test = vec![("mse".into(), 0.012345678)];
        s.write(&dir).unwrap();
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        dir
    }

    #[test]
    fn text_is_escaped_and_images_are_inline_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let exp = tmp.path().join("x&y");
        let dir = fake_run(
            &exp,
            "a<b>",
            "diverged",
            "note: \"<script>alert(1)</script>\"\n",
        );
        std::fs::write(dir.join("metrics.csv"), "epoch,train_loss\n1,0.5\n2,0.4\n").unwrap();
        let svg = plot::scatter_svg(&[(0.0, 1.0)], &[3], "codes");
        for f in ["zz.svg", "latent.svg", "aa.png"] {
            std::fs::write(dir.join(f), &svg).unwrap();
        }
        std::fs::write(dir.join("samples.png"), b"not really a png").unwrap();
        let html = std::fs::read_to_string(write(&exp).unwrap()).unwrap();
        assert!(html.contains("<h1>x&amp;y</h1>"), "{html}");
        assert!(html.contains("<h3>a&lt;b&gt;</h3>"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(dir.join(CURVES).exists(), "curves.svg regenerated");
        let captions: Vec<&str> = html
            .split("<figcaption>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap())
            .collect();
        assert_eq!(
            captions,
            [
                "Learning curves",
                "Samples from the prior",
                "Test codes by digit",
                "aa.png",
                "zz.svg"
            ]
        );
        assert_eq!(html.matches("src=\"data:image/").count(), 5);
        assert!(!html.contains("src=\"http") && !html.contains("<link"));
    }

    #[test]
    fn more_than_24_runs_get_sections_for_the_first_24_only() {
        let tmp = tempfile::tempdir().unwrap();
        let exp = tmp.path().join("big");
        for i in 0..30 {
            fake_run(&exp, &format!("run-{i:02}"), "finished", "a: 1\n");
        }
        let html = std::fs::read_to_string(write(&exp).unwrap()).unwrap();
        assert_eq!(html.matches("<section>").count(), MAX_RUN_SECTIONS);
        assert!(html.contains("<h3>run-23</h3>") && !html.contains("<h3>run-24</h3>"));
        assert!(html.contains("Only the first 24 of 30 runs"), "{html}");
        // The summary table still lists every run.
        assert!(html.contains("<td>run-29</td>"), "{html}");
    }

    #[test]
    fn a_folder_without_runs_is_the_users_mistake() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in [tmp.path().to_path_buf(), tmp.path().join("missing")] {
            let e = write(&dir).unwrap_err();
            assert!(e.is::<ae_core::UserError>(), "{e:#}");
        }
    }
}
