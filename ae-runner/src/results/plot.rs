//! Plots as SVG: a sweep's metrics against the swept key with error bars over seeds, a VAE's
//! rate-distortion picture, a run's learning curves and a scatter of latent codes. Each is a
//! grid of panels drawn by one function, `panel`.
//!
//! Written by hand rather than with the `plotters` crate: what makes these plots readable is
//! ours to decide either way (ticks at 1, 2 or 5 x 10^k labelled to the step's precision, axes
//! cut at what a metric can take, train and validation of one measure in one panel, metrics the
//! same in every run said once), the output stays a few plain SVG elements that the tests and
//! the report read, and the workspace keeps no plotting dependency (plotters and its backends
//! would be the largest one beside candle, for four kinds of plot).

use crate::results::bounds::{bounds, Range, NONNEGATIVE};
use crate::results::files::write_atomic;
use crate::results::records::leaf;
use crate::results::stats::{constants, Constant, Group, Stat};
use crate::results::yaml::{self, Value};
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Ten colours, so that every digit of a latent scatter has its own.
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f",
    "#e377c2", "#bcbd22",
];

/// A panel's size and margins.
#[derive(Clone, Copy)]
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// The legend in the right margin (else in rows between the title and the plot).
    legend_outside: bool,
}

/// The panels of sweeps and learning curves; their legend rows add to `top` and `h`.
const SMALL: Frame = Frame {
    w: 360.0,
    h: 260.0,
    left: 58.0,
    right: 16.0,
    top: 30.0,
    bottom: 44.0,
    legend_outside: false,
};

/// A scatter: a larger plot, its legend beside it so that it hides no point.
const SCATTER: Frame = Frame {
    w: 460.0,
    h: 420.0,
    left: 58.0,
    right: 52.0,
    top: 30.0,
    bottom: 30.0,
    legend_outside: true,
};

/// The height of one row of a legend above the plot, and of a note under the panels.
const ROW: f64 = 13.0;

/// A point: x and y with their error bars (std over seeds).
#[derive(Clone, Copy)]
struct Point {
    x: f64,
    xerr: f64,
    y: f64,
    yerr: f64,
}

impl Point {
    fn at(x: f64, y: f64) -> Self {
        Self {
            x,
            xerr: 0.0,
            y,
            yerr: 0.0,
        }
    }
}

struct Series {
    /// In the legend; an empty label has no legend entry.
    label: String,
    /// Index into COLORS.
    color: usize,
    points: Vec<Point>,
}

#[derive(Default)]
struct Panel {
    title: String,
    x_label: String,
    series: Vec<Series>,
    log_x: bool,
    /// Draw lines between points (false: a scatter).
    lines: bool,
    point_labels: Vec<String>,
    /// Ticks at these x values (the swept values, the epochs) instead of round steps.
    x_ticks: Option<Vec<f64>>,
    /// The values x and y can take (a metric's range): the axes stop there.
    x_bounds: Option<Range>,
    y_bounds: Option<Range>,
}

/// Text made safe for SVG and HTML markup.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The padded hull of (lo, hi) spans: (0, 1) when there are none, +-1 around a single value.
/// For axes whose ticks are given (epochs, swept values).
fn range(spans: impl Iterator<Item = (f64, f64)>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = spans.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (l, h)| {
        (a.min(l), b.max(h))
    });
    if lo > hi {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// A value axis: its ends and its ticks with their labels.
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

/// The most intervals between ticks on a value axis.
const MAX_INTERVALS: f64 = 7.0;

/// Steps of 1, 2 and 5 x 10^k, increasing, from 10^k.
fn steps_from(k: i32) -> impl Iterator<Item = f64> {
    (k..).flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
}

/// Round steps from the smallest that could cover `span` in MAX_INTERVALS.
fn steps(span: f64) -> impl Iterator<Item = f64> {
    steps_from((span / MAX_INTERVALS).log10().floor() as i32)
}

/// The axis over values from `lo` to `hi` (points and their error bars), whose points alone
/// span `points`: padded, widened to whole steps of 1, 2 or 5 x 10^k, and cut at `bounds`,
/// which may cut error bars and padding but never a point.
fn axis((lo, hi): (f64, f64), points: (f64, f64), bounds: Option<Range>) -> Axis {
    let (b_lo, b_hi) = bounds.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    let (b_lo, b_hi) = (b_lo.min(points.0), b_hi.max(points.1));
    let cut = |v: f64| v.clamp(b_lo, b_hi);
    let (mut lo, mut hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
    if hi - lo <= 1e-12 * hi.abs().max(1.0) {
        let d = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        (lo, hi) = (lo - d, hi + d);
    }
    let pad = 0.05 * (hi - lo);
    let (lo, hi) = (cut(cut(lo) - pad), cut(cut(hi) + pad));
    let step = steps(hi - lo)
        .find(|s| (hi / s - 1e-9).ceil() - (lo / s + 1e-9).floor() <= MAX_INTERVALS)
        .expect("a step as large as the span fits");
    let (k_lo, k_hi) = ((lo / step + 1e-9).floor(), (hi / step - 1e-9).ceil());
    let (lo, hi) = (cut(k_lo * step), cut(k_hi * step));
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    let ticks = ((lo / step - 1e-9).ceil() as i64..=(hi / step + 1e-9).floor() as i64)
        .map(|k| {
            let v = k as f64 * step;
            (v, format!("{v:.decimals$}"))
        })
        .collect();
    Axis { lo, hi, ticks }
}

/// Draws one panel at (ox, oy).
fn panel(svg: &mut String, p: &Panel, f: &Frame, ox: f64, oy: f64) {
    let pts = || p.series.iter().flat_map(|s| &s.points);
    let hull = |v: &mut dyn Iterator<Item = f64>| {
        v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        })
    };
    let fx = |x: f64| if p.log_x { x.log10() } else { x };
    // On a log axis the error bar is cut at half the value, which stays positive.
    let x_lo = |q: &Point| {
        if p.log_x {
            q.x - q.xerr.min(q.x * 0.5)
        } else {
            q.x - q.xerr
        }
    };
    let y_axis = axis(
        hull(&mut pts().flat_map(|q| [q.y - q.yerr, q.y + q.yerr])),
        hull(&mut pts().map(|q| q.y)),
        p.y_bounds,
    );
    let (x0, x1, x_ticks) = match &p.x_ticks {
        Some(given) => {
            let (lo, hi) = range(pts().map(|q| (fx(x_lo(q)), fx(q.x + q.xerr))), 0.06);
            let ticks = given.iter().map(|&v| (v, format!("{v}"))).collect();
            (lo, hi, ticks)
        }
        None => {
            let a = axis(
                hull(&mut pts().flat_map(|q| [x_lo(q), q.x + q.xerr])),
                hull(&mut pts().map(|q| q.x)),
                p.x_bounds,
            );
            (a.lo, a.hi, a.ticks)
        }
    };
    let (y0, y1) = (y_axis.lo, y_axis.hi);
    let (pw, ph) = (f.w - f.left - f.right, f.h - f.top - f.bottom);
    let sx = |x: f64| ox + f.left + (fx(x) - x0) / (x1 - x0) * pw;
    let sy = |y: f64| oy + f.top + (1.0 - (y.clamp(y0, y1) - y0) / (y1 - y0)) * ph;
    let (left, top, bottom) = (ox + f.left, oy + f.top, oy + f.top + ph);
    let _ = write!(
        svg,
        r##"<text class="title" x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>"##,
        ox + f.w / 2.0,
        oy + 18.0,
        escape(&p.title)
    );
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
        left + pw / 2.0,
        oy + f.h - 8.0,
        escape(&p.x_label)
    );
    for (t, label) in &y_axis.ticks {
        let y = sy(*t);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><line x1="{}" x2="{left}" y1="{y:.1}" y2="{y:.1}" stroke="#999"/><text x="{}" y="{:.1}" font-size="9" text-anchor="end">{label}</text>"##,
            left + pw,
            left - 3.0,
            left - 4.0,
            y + 3.0,
        );
    }
    for (v, label) in &x_ticks {
        let x = sx(*v);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{bottom}" y2="{}" stroke="#999"/><text x="{x:.1}" y="{}" font-size="9" text-anchor="middle">{label}</text>"##,
            bottom + 3.0,
            bottom + 12.0
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
    );
    for s in &p.series {
        let c = COLORS[s.color % COLORS.len()];
        if p.lines && s.points.len() > 1 {
            let path: Vec<String> = s
                .points
                .iter()
                .map(|q| format!("{:.1},{:.1}", sx(q.x), sy(q.y)))
                .collect();
            let _ = write!(
                svg,
                r##"<polyline points="{}" fill="none" stroke="{c}" stroke-width="1.5"/>"##,
                path.join(" ")
            );
        }
        for (j, q) in s.points.iter().enumerate() {
            // sy cuts an error bar at the frame: the axis may stop at a metric's bound.
            if q.yerr > 0.0 {
                let _ = write!(
                    svg,
                    r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="{c}"/>"##,
                    sx(q.x),
                    sy(q.y - q.yerr),
                    sy(q.y + q.yerr)
                );
            }
            if q.xerr > 0.0 {
                let _ = write!(
                    svg,
                    r##"<line x1="{0:.1}" x2="{1:.1}" y1="{2:.1}" y2="{2:.1}" stroke="{c}"/>"##,
                    sx(x_lo(q).max(x0)),
                    sx((q.x + q.xerr).min(x1)),
                    sy(q.y)
                );
            }
            let _ = write!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"/>"##,
                sx(q.x),
                sy(q.y)
            );
            if let Some(l) = p.point_labels.get(j) {
                let _ = write!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" font-size="9">{}</text>"##,
                    sx(q.x) + 5.0,
                    sy(q.y) - 5.0,
                    escape(l)
                );
            }
        }
    }
    legend(svg, p, f, ox, oy);
}

/// A legend entry's width: its marker and its label at about 5.5 px a character.
fn entry_width(label: &str) -> f64 {
    30.0 + 5.5 * label.chars().count() as f64
}

/// The rows of a legend above the plot: the indices of the labelled series in each.
fn legend_rows(p: &Panel, f: &Frame) -> Vec<Vec<usize>> {
    let width = f.w - f.left - f.right;
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = f64::INFINITY;
    for (i, s) in p.series.iter().enumerate() {
        if s.label.is_empty() {
            continue;
        }
        let w = entry_width(&s.label);
        if used + w > width {
            rows.push(Vec::new());
            used = 0.0;
        }
        rows.last_mut().expect("a row was pushed").push(i);
        used += w;
    }
    rows
}

/// The legend, in the right margin or in rows above the plot: never on the data.
fn legend(svg: &mut String, p: &Panel, f: &Frame, ox: f64, oy: f64) {
    let left = ox + f.left;
    if f.legend_outside {
        let labelled = p.series.iter().filter(|s| !s.label.is_empty());
        for (i, s) in labelled.enumerate() {
            let c = COLORS[s.color % COLORS.len()];
            let (lx, ly) = (
                left + f.w - f.left - f.right + 8.0,
                oy + f.top + 10.0 + 14.0 * i as f64,
            );
            let _ = write!(
                svg,
                r##"<rect x="{lx}" y="{}" width="7" height="7" fill="{c}"/><text class="legend" x="{}" y="{ly}" font-size="9" fill="{c}">{}</text>"##,
                ly - 7.0,
                lx + 10.0,
                escape(&s.label)
            );
        }
        return;
    }
    for (r, row) in legend_rows(p, f).iter().enumerate() {
        let ly = oy + SMALL.top + ROW * r as f64 + 8.0;
        let mut lx = left;
        for &i in row {
            let s = &p.series[i];
            let c = COLORS[s.color % COLORS.len()];
            let _ = write!(
                svg,
                r##"<path d="M{lx:.1},{0:.1}h16" stroke="{c}" stroke-width="1.5"/><rect x="{1:.1}" y="{2:.1}" width="5" height="5" fill="{c}"/><text class="legend" x="{3:.1}" y="{ly:.1}" font-size="9" fill="{c}">{4}</text>"##,
                ly - 3.0,
                lx + 5.5,
                ly - 5.5,
                lx + 20.0,
                escape(&s.label)
            );
            lx += entry_width(&s.label);
        }
    }
}

/// The panels on a grid of up to three columns, as one SVG document, with `notes` under them
/// (what is not drawn, and why). Legend rows above the plots make every panel taller alike.
fn render(panels: &[Panel], f: &Frame, notes: &[String]) -> String {
    let rows_above = match f.legend_outside {
        true => 0,
        false => panels
            .iter()
            .map(|p| legend_rows(p, f).len())
            .max()
            .unwrap_or(0),
    };
    let f = Frame {
        top: f.top + ROW * rows_above as f64,
        h: f.h + ROW * rows_above as f64,
        ..*f
    };
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols).max(1);
    let notes_h = if notes.is_empty() {
        0.0
    } else {
        ROW * notes.len() as f64 + 8.0
    };
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"##,
        f.w * cols as f64,
        f.h * rows as f64 + notes_h
    );
    for (i, p) in panels.iter().enumerate() {
        panel(
            &mut svg,
            p,
            &f,
            f.w * (i % cols) as f64,
            f.h * (i / cols) as f64,
        );
    }
    for (i, note) in notes.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text class="note" x="8" y="{}" font-size="11">{}</text>"##,
            f.h * rows as f64 + ROW * (i + 1) as f64,
            escape(note)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn write_svg(path: &Path, panels: &[Panel], notes: &[String]) -> Result<()> {
    write_atomic(path, render(panels, &SMALL, notes).as_bytes())
}

/// The column prefixes of metrics.csv that name a split, in the order their curves are drawn,
/// with the names the legend gives them.
const SPLITS: [(&str, &str); 3] = [("train", "train"), ("val", "validation"), ("test", "test")];

/// The variants whose training `recon` is `model.loss` on the clean images, as the held-out
/// `mse` and `bce` are: the batch mean of the per-image MSE over pixels, or of the BCE summed
/// over pixels (ae-runner/tests/same_measures.rs checks it). Not the denoising and dropout
/// variants, whose training loss is on corrupted inputs.
pub const CLEAN_INPUT_VARIANTS: &[&str] = &["plain", "sparse", "adversarial"];

/// The training terms that are the same measure as a held-out metric, by the run's config:
/// (term of the train_ columns, metric of the val_ and test_ columns). Their curves share a
/// panel; metrics.csv keeps its column names.
pub fn same_measures(config: &Value) -> Vec<(&'static str, &'static str)> {
    let model = &config["model"];
    let variant = model["variant"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    if CLEAN_INPUT_VARIANTS.contains(&variant) {
        match model["loss"].as_str().unwrap_or("mse") {
            "mse" => out.push(("recon", "mse")),
            "bce" => out.push(("recon", "bce")),
            _ => {}
        }
    }
    // A VAE's loss is NLL + beta KL: the negative ELBO when beta is 1 from the first epoch
    // (the CVAE's, of log p(x|y)).
    let full_kl = model["kl_weight"].as_f64().unwrap_or(1.0) == 1.0
        && model["warmup_epochs"].as_u64().unwrap_or(0) == 0;
    match variant {
        "vae" if full_kl => out.push(("loss", "neg_elbo")),
        "cvae" if full_kl => out.push(("loss", "neg_elbo_given_label")),
        _ => {}
    }
    out
}

/// A run's learning curves from the text of its metrics.csv: one panel per measure (`loss`,
/// `mse`, `neg_elbo`, ...) with its train_, val_ and test_ columns against the epoch, a
/// training term drawn as the measure `same` pairs it with. None when there is no finished
/// epoch to draw (an empty file: a run before its first epoch). Torn rows (a killed run) are
/// skipped.
pub fn curves_svg(metrics_csv: &str, same: &[(&str, &str)]) -> Result<Option<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(metrics_csv.as_bytes());
    let header: Vec<String> = reader.headers()?.iter().map(String::from).collect();
    if header.is_empty() {
        return Ok(None);
    }
    let epoch_col = header
        .iter()
        .position(|h| h == "epoch")
        .context("metrics.csv has no epoch column")?;
    let rows: Vec<Vec<f64>> = reader
        .records()
        .filter_map(|r| r.ok())
        .filter(|r| r.len() == header.len())
        .map(|r| r.iter().map(|v| v.parse().unwrap_or(f64::NAN)).collect())
        .filter(|r: &Vec<f64>| r[epoch_col].is_finite())
        .collect();
    let columns: Vec<(&str, &str, usize)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let (split, term) = h.split_once('_')?;
            SPLITS.iter().any(|(s, _)| *s == split).then_some(())?;
            let term = match same.iter().find(|(t, _)| split == "train" && *t == term) {
                Some((_, measure)) => measure,
                None => term,
            };
            Some((split, term, i))
        })
        .collect();
    let mut terms: Vec<&str> = Vec::new();
    for (_, term, _) in &columns {
        if !terms.contains(term) {
            terms.push(term);
        }
    }
    let epochs: Vec<f64> = rows.iter().map(|r| r[epoch_col]).collect();
    let panels: Vec<Panel> = terms
        .iter()
        .map(|term| Panel {
            title: term.to_string(),
            x_label: "epoch".into(),
            series: SPLITS
                .iter()
                .enumerate()
                .filter_map(|(color, (split, name))| {
                    let (_, _, col) = columns.iter().find(|(s, t, _)| s == split && t == term)?;
                    let points: Vec<Point> = rows
                        .iter()
                        .filter(|r| r[*col].is_finite())
                        .map(|r| Point::at(r[epoch_col], r[*col]))
                        .collect();
                    (!points.is_empty()).then(|| Series {
                        label: name.to_string(),
                        color,
                        points,
                    })
                })
                .collect(),
            lines: true,
            x_ticks: Some(epoch_ticks(&epochs)),
            y_bounds: bounds(term),
            ..Panel::default()
        })
        .filter(|p| !p.series.is_empty())
        .chain(rate_panel(&header, &rows, epoch_col))
        .collect();
    Ok((!panels.is_empty()).then(|| render(&panels, &SMALL, &[])))
}

/// The learning rate against the epoch, one series per optimiser (`lr`, `lr_<optimiser>`),
/// where a schedule moves it; None for a constant rate.
fn rate_panel(header: &[String], rows: &[Vec<f64>], epoch_col: usize) -> Option<Panel> {
    let cols: Vec<(usize, &str)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| match h.as_str() {
            "lr" => Some((i, "rate")),
            h => h.strip_prefix("lr_").map(|name| (i, name)),
        })
        .collect();
    let first = rows.first()?;
    let moves = cols
        .iter()
        .any(|&(i, _)| rows.iter().any(|r| r[i] != first[i]));
    if !moves {
        return None;
    }
    let epochs: Vec<f64> = rows.iter().map(|r| r[epoch_col]).collect();
    Some(Panel {
        title: "learning rate".into(),
        x_label: "epoch".into(),
        series: cols
            .iter()
            .enumerate()
            .map(|(color, &(i, name))| Series {
                label: name.to_string(),
                color,
                points: rows
                    .iter()
                    .filter(|r| r[i].is_finite())
                    .map(|r| Point::at(r[epoch_col], r[i]))
                    .collect(),
            })
            .collect(),
        lines: true,
        x_ticks: Some(epoch_ticks(&epochs)),
        y_bounds: NONNEGATIVE,
        ..Panel::default()
    })
}

/// The most ticks on an epoch axis.
const MAX_EPOCH_TICKS: f64 = 8.0;

/// Whole epochs at a regular step of 1, 2 or 5 x 10^k: the multiples of the step in the run.
fn epoch_ticks(epochs: &[f64]) -> Vec<f64> {
    let (Some(&first), Some(&last)) = (epochs.first(), epochs.last()) else {
        return Vec::new();
    };
    let step = steps_from(0)
        .find(|s| (last / s).floor() - (first / s).ceil() + 1.0 <= MAX_EPOCH_TICKS)
        .expect("a step as long as the run fits");
    let (lo, hi) = ((first / step).ceil() as i64, (last / step).floor() as i64);
    (lo..=hi).map(|k| k as f64 * step).collect()
}

/// Writes `<run_dir>/curves.svg` from its metrics.csv, pairing training terms with held-out
/// metrics as its config.yaml allows ([`same_measures`]); None (nothing written) when the run
/// has no metrics.csv or no finished epoch yet.
pub fn write_curves(run_dir: &Path) -> Result<Option<PathBuf>> {
    let metrics = run_dir.join("metrics.csv");
    let text = match std::fs::read_to_string(&metrics) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", metrics.display())),
    };
    // Without a readable config, nothing is paired: each term keeps its own panel.
    let config = std::fs::read_to_string(run_dir.join("config.yaml"))
        .ok()
        .and_then(|s| yaml::parse(&s).ok())
        .unwrap_or_default();
    let same = same_measures(&config);
    let Some(svg) =
        curves_svg(&text, &same).with_context(|| format!("reading {}", metrics.display()))?
    else {
        return Ok(None);
    };
    let path = run_dir.join("curves.svg");
    write_atomic(&path, svg.as_bytes())?;
    Ok(Some(path))
}

/// A scatter of 2-D points (e.g. PCA'd latent codes) coloured by their labels (digits), with
/// a legend of the labels. Points beyond the end of `labels`, and non-finite ones, are not
/// drawn.
pub fn scatter_svg(points: &[(f64, f64)], labels: &[u32], title: &str) -> String {
    let mut distinct = labels[..labels.len().min(points.len())].to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let series = distinct
        .iter()
        .map(|&l| Series {
            label: l.to_string(),
            color: l as usize,
            points: points
                .iter()
                .zip(labels)
                .filter(|&(&(x, y), &m)| m == l && x.is_finite() && y.is_finite())
                .map(|(&(x, y), _)| Point::at(x, y))
                .collect(),
        })
        .collect();
    let panel = Panel {
        title: title.into(),
        series,
        ..Panel::default()
    };
    render(&[panel], &SCATTER, &[])
}

/// `sweep.svg` (every metric against the first numeric swept key, one line per value of the
/// other keys; a metric the same in every run is named under the panels instead) and, when
/// the runs report `kl` and `nll`, `rate_distortion.svg`.
pub fn write_sweep_plots(exp_dir: &Path, groups: &[Group]) -> Result<()> {
    let Some(first) = groups.first() else {
        return Ok(());
    };
    let numeric = |i: usize| {
        groups.iter().all(|g| {
            g.values
                .get(i)
                .is_some_and(|(_, v)| v.parse::<f64>().is_ok())
        })
    };
    let Some(xi) = (0..first.values.len()).find(|&i| numeric(i)) else {
        return Ok(());
    };
    let x_key = first.values[xi].0.clone();
    let xs: Vec<f64> = groups
        .iter()
        .map(|g| g.values[xi].1.parse().unwrap_or(0.0))
        .collect();
    let log_x = xs.iter().all(|&x| x > 0.0)
        && xs.iter().cloned().fold(0.0, f64::max) / xs.iter().cloned().fold(f64::MAX, f64::min)
            >= 10.0;
    // Series: groups that agree on every key but x.
    let label = |g: &Group| {
        g.values
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != xi)
            .map(|(_, (k, v))| format!("{}={v}", leaf(k)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut labels: Vec<String> = Vec::new();
    for g in groups {
        if !labels.contains(&label(g)) {
            labels.push(label(g));
        }
    }
    let mut distinct = xs.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    // Every group's metrics: the first one's run may have diverged.
    let metrics: std::collections::BTreeSet<&String> =
        groups.iter().flat_map(|g| g.stats.keys()).collect();
    let names: Vec<String> = metrics.iter().map(|m| m.to_string()).collect();
    let same: Vec<Constant> = constants(groups, &names);
    let metrics: Vec<&String> = metrics
        .into_iter()
        .filter(|m| !same.iter().any(|c| c.name == **m))
        .collect();
    let point = |s: &Stat, x: f64| Point {
        x,
        xerr: 0.0,
        y: s.mean,
        yerr: s.std.unwrap_or(0.0),
    };
    let panels: Vec<Panel> = metrics
        .iter()
        .map(|m| Panel {
            title: format!("test {m}"),
            x_label: x_key.clone(),
            series: labels
                .iter()
                .enumerate()
                .map(|(color, l)| {
                    let mut points: Vec<Point> = groups
                        .iter()
                        .zip(&xs)
                        .filter(|(g, _)| label(g) == *l)
                        .filter_map(|(g, &x)| g.stats.get(*m).map(|s| point(s, x)))
                        .collect();
                    points.sort_by(|a, b| a.x.total_cmp(&b.x));
                    Series {
                        label: l.clone(),
                        color,
                        points,
                    }
                })
                .filter(|s| !s.points.is_empty())
                .collect(),
            log_x,
            lines: true,
            x_ticks: Some(distinct.clone()),
            y_bounds: bounds(m),
            ..Panel::default()
        })
        .filter(|p| !p.series.is_empty())
        .collect();
    if panels.is_empty() {
        return Ok(());
    }
    let notes: Vec<String> = match same.is_empty() {
        true => Vec::new(),
        false => vec![format!(
            "Not plotted, the same in every run: {}.",
            same.iter()
                .map(Constant::show)
                .collect::<Vec<_>>()
                .join(", ")
        )],
    };
    write_svg(&exp_dir.join("sweep.svg"), &panels, &notes)?;

    let rd: Vec<(Point, String)> = groups
        .iter()
        .filter_map(|g| {
            let (kl, nll) = (g.stats.get("kl")?, g.stats.get("nll")?);
            Some((
                Point {
                    x: kl.mean,
                    xerr: kl.std.unwrap_or(0.0),
                    y: nll.mean,
                    yerr: nll.std.unwrap_or(0.0),
                },
                g.values
                    .iter()
                    .map(|(_, v)| v.clone())
                    .collect::<Vec<_>>()
                    .join(","),
            ))
        })
        .collect();
    if rd.len() > 1 {
        let panel = Panel {
            title: "rate-distortion: NLL against KL (test, nats per image)".into(),
            x_label: format!(
                "rate: KL(q(z|x) || p(z))   [labels: {}]",
                first
                    .values
                    .iter()
                    .map(|(k, _)| leaf(k))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            series: vec![Series {
                label: String::new(),
                color: 0,
                points: rd.iter().map(|(p, _)| *p).collect(),
            }],
            point_labels: rd.iter().map(|(_, l)| l.clone()).collect(),
            x_bounds: bounds("kl"),
            y_bounds: bounds("nll"),
            ..Panel::default()
        };
        write_svg(&exp_dir.join("rate_distortion.svg"), &[panel], &[])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts of the elements of `class` in an SVG, in document order.
    fn texts<'a>(svg: &'a str, class: &str) -> Vec<&'a str> {
        svg.split(&format!("class=\"{class}\""))
            .skip(1)
            .map(|s| s.split_once('>').unwrap().1.split('<').next().unwrap())
            .collect()
    }

    #[test]
    fn curves_have_a_panel_per_term_and_a_point_per_epoch_and_split() {
        let csv = "epoch,train_loss,train_mse,val_mse,val_psnr,test_mse,seconds,images_per_sec\n\
                   1,0.5,0.1,0.09,10.0,0.095,1.2,100\n\
                   2,0.4,0.08,0.07,11.0,0.075,1.1,110\n\
                   3,0.3,0.06,0.05,12.0,0.055,1.0,120\n";
        let svg = curves_svg(csv, &[]).unwrap().unwrap();
        assert_eq!(texts(&svg, "title"), ["loss", "mse", "psnr"]);
        // loss: train; mse: train, val, test; psnr: val; 3 epochs each.
        assert_eq!(svg.matches("<circle").count(), 5 * 3);
        assert_eq!(svg.matches("<polyline").count(), 5);
        assert_eq!(
            texts(&svg, "legend"),
            ["train", "train", "validation", "test", "validation"]
        );
    }

    #[test]
    fn a_schedule_gets_a_panel_of_its_rates_and_a_constant_rate_none() {
        let csv = "epoch,train_loss,lr_ae,lr_disc,seconds\n\
                   1,0.5,1e-3,4e-4,1.0\n\
                   2,0.4,5e-4,2e-4,1.0\n\
                   3,0.3,2.5e-4,1e-4,1.0\n";
        let svg = curves_svg(csv, &[]).unwrap().unwrap();
        assert_eq!(texts(&svg, "title"), ["loss", "learning rate"]);
        assert_eq!(texts(&svg, "legend"), ["train", "ae", "disc"]);
        assert_eq!(svg.matches("<polyline").count(), 3);
        let constant = "epoch,train_loss,lr,seconds\n1,0.5,1e-3,1.0\n2,0.4,1e-3,1.0\n";
        let svg = curves_svg(constant, &[]).unwrap().unwrap();
        assert_eq!(texts(&svg, "title"), ["loss"]);
    }

    #[test]
    fn a_sweep_whose_first_setting_diverged_is_still_plotted() {
        let group = |kl: &str, mse: Option<f64>| Group {
            values: vec![("model.kl_weight".into(), kl.into())],
            stats: mse
                .map(|v| ("mse".to_string(), crate::results::stats::stat(&[v])))
                .into_iter()
                .collect(),
            epoch_seconds: None,
            finished: usize::from(mse.is_some()),
            runs: 1,
        };
        let tmp = tempfile::tempdir().unwrap();
        let groups = [
            group("0.1", None),
            group("1", Some(0.5)),
            group("2", Some(0.4)),
        ];
        write_sweep_plots(tmp.path(), &groups).unwrap();
        let svg = std::fs::read_to_string(tmp.path().join("sweep.svg")).unwrap();
        assert_eq!(texts(&svg, "title"), ["test mse"]);
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn one_epoch_still_draws_and_no_epoch_draws_nothing() {
        let header = "epoch,train_loss,val_mse,seconds,images_per_sec\n";
        let svg = curves_svg(&format!("{header}1,0.5,0.09,1.0,100\n"), &[])
            .unwrap()
            .unwrap();
        assert_eq!(texts(&svg, "title"), ["loss", "mse"]);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(curves_svg(header, &[]).unwrap().is_none());
        assert!(
            curves_svg("", &[]).unwrap().is_none(),
            "before the first epoch"
        );
        assert!(curves_svg("a,b\n1,2\n", &[]).is_err(), "no epoch column");
    }

    #[test]
    fn a_scatter_has_a_circle_per_point_and_a_legend_entry_per_label() {
        let points = [(0.0, 1.0), (-2.0, 0.5), (1.5, -1.0), (3.0, 2.0), (0.1, 0.1)];
        let svg = scatter_svg(&points, &[3, 1, 3, 7, 1], "codes <PCA>");
        assert_eq!(svg.matches("<circle").count(), 5);
        assert_eq!(texts(&svg, "legend"), ["1", "3", "7"]);
        assert_eq!(texts(&svg, "title"), ["codes &lt;PCA&gt;"]);
        // Every point inside the frame: a negative x is not clipped.
        let frame_left = SCATTER.left;
        for cx in svg.split("cx=\"").skip(1) {
            let x: f64 = cx.split('"').next().unwrap().parse().unwrap();
            assert!(x > frame_left && x < SCATTER.w - SCATTER.right, "{x}");
        }
        assert_eq!(scatter_svg(&[], &[], "empty").matches("<circle").count(), 0);
    }

    /// The labels of the ticks of the y axis (text-anchor end) or the x axis (middle), in
    /// document order.
    fn tick_labels(svg: &str, anchor: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter(|t| {
                let open = t.split('>').next().unwrap();
                open.contains("font-size=\"9\"")
                    && open.contains(&format!("text-anchor=\"{anchor}\""))
            })
            .map(|t| {
                t.split_once('>')
                    .unwrap()
                    .1
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    fn values(labels: &[String]) -> Vec<f64> {
        labels.iter().map(|l| l.parse().unwrap()).collect()
    }

    /// Ticks every 1, 2 or 5 x 10^k, each label with the step's decimals, covering `lo..hi`.
    fn assert_round(labels: &[String], lo: f64, hi: f64) {
        let v = values(labels);
        assert!((3..=9).contains(&v.len()), "{labels:?}");
        let step = v[1] - v[0];
        let k = step.log10().floor();
        let mantissa = step / 10f64.powf(k);
        assert!(
            [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
            "step {step}: {labels:?}"
        );
        for w in v.windows(2) {
            assert!(((w[1] - w[0]) - step).abs() < step * 1e-6, "{labels:?}");
        }
        let decimals = (-k).max(0.0) as usize;
        for l in labels {
            assert_eq!(
                l.split_once('.').map_or(0, |(_, d)| d.len()),
                decimals,
                "{l} in {labels:?}"
            );
        }
        assert!(
            v[0] <= lo && *v.last().unwrap() >= hi,
            "{labels:?} for {lo}..{hi}"
        );
    }

    #[test]
    fn value_ticks_are_round_steps_labelled_to_their_precision() {
        let csv = "epoch,val_mse\n1,0.0238\n2,0.015\n3,0.0117\n";
        let svg = curves_svg(csv, &[]).unwrap().unwrap();
        let labels = tick_labels(&svg, "end");
        assert_round(&labels, 0.0117, 0.0238);
        assert!(labels.contains(&"0.020".to_string()), "{labels:?}");
        let csv = "epoch,train_loss\n1,206.27\n2,150.1\n3,121.7\n";
        let svg = curves_svg(csv, &[]).unwrap().unwrap();
        assert_round(&tick_labels(&svg, "end"), 121.7, 206.27);
        // A scatter's axes too, negative values included.
        let svg = scatter_svg(&[(-0.05186, 4.725), (0.3, -1.2)], &[0, 1], "codes");
        assert_round(&tick_labels(&svg, "end"), -1.2, 4.725);
        assert_round(&tick_labels(&svg, "middle"), -0.05186, 0.3);
    }

    #[test]
    fn epoch_ticks_are_whole_epochs_at_a_regular_step() {
        let csv = |n: usize| {
            let rows: String = (1..=n)
                .map(|e| format!("{e},{}\n", 1.0 / e as f64))
                .collect();
            format!("epoch,train_loss\n{rows}")
        };
        let x = |n| tick_labels(&curves_svg(&csv(n), &[]).unwrap().unwrap(), "middle");
        assert_eq!(x(3), ["1", "2", "3"]);
        assert_eq!(x(10), ["2", "4", "6", "8", "10"]);
        assert_eq!(x(25), ["5", "10", "15", "20", "25"]);
        assert_eq!(x(1), ["1"]);
    }

    fn group(kl: &str, stats: &[(&str, f64, f64)]) -> Group {
        Group {
            values: vec![("model.kl_weight".into(), kl.into())],
            stats: stats
                .iter()
                .map(|&(m, mean, std)| {
                    let s = Stat {
                        mean,
                        std: Some(std),
                        n: 3,
                    };
                    (m.to_string(), s)
                })
                .collect(),
            epoch_seconds: None,
            finished: 3,
            runs: 3,
        }
    }

    /// The panels of a sweep, one SVG per metric.
    fn sweep(groups: &[Group]) -> String {
        let tmp = tempfile::tempdir().unwrap();
        write_sweep_plots(tmp.path(), groups).unwrap();
        std::fs::read_to_string(tmp.path().join("sweep.svg")).unwrap()
    }

    /// The plot frames' (top, bottom) in document order: the rects with a grey stroke.
    fn frames(svg: &str) -> Vec<(f64, f64)> {
        svg.split("<rect")
            .skip(1)
            .filter(|r| r.contains("fill=\"none\""))
            .map(|r| (attr(r, "y"), attr(r, "y") + attr(r, "height")))
            .collect()
    }

    /// The number in the first ` name="..."` attribute of `element`.
    fn attr(element: &str, name: &str) -> f64 {
        element
            .split(&format!(" {name}=\""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn axes_stay_within_what_the_metric_can_take() {
        // An accuracy near 1 and a KL near 0, with error bars past the ends of their ranges.
        let groups = [
            group("0.5", &[("probe_acc", 0.97, 0.05), ("kl", 0.05, 0.1)]),
            group("1", &[("probe_acc", 0.99, 0.03), ("kl", 0.3, 0.2)]),
            group("2", &[("probe_acc", 0.95, 0.01), ("kl", 1.2, 0.3)]),
        ];
        let svg = sweep(&groups);
        assert_eq!(texts(&svg, "title"), ["test kl", "test probe_acc"]);
        let ys = values(&tick_labels(&svg, "end"));
        let (kl, acc): (Vec<f64>, Vec<f64>) =
            (ys[..ys.len() / 2].to_vec(), ys[ys.len() / 2..].to_vec());
        assert!(kl.iter().all(|&v| v >= 0.0), "kl {kl:?}");
        assert!(
            acc.iter().all(|&v| (0.0..=1.0).contains(&v)),
            "accuracy {acc:?}"
        );
        assert_eq!(*acc.last().unwrap(), 1.0, "{acc:?}");
        // Error bars are cut at the frame: no data is drawn outside it.
        let f = frames(&svg);
        let bars = svg
            .split("<line")
            .skip(1)
            .map(|l| l.split("/>").next().unwrap())
            .filter(|l| !l.contains("stroke=\"#999\"") && !l.contains("stroke=\"#eee\""));
        for bar in bars {
            for end in ["y1", "y2"] {
                let y = attr(bar, end);
                assert!(
                    f.iter().any(|&(t, b)| y >= t - 0.1 && y <= b + 0.1),
                    "{bar} outside {f:?}"
                );
            }
        }
        // A learning curve of KL too.
        let svg = curves_svg("epoch,val_kl\n1,0.4\n2,0.05\n3,0.01\n", &[])
            .unwrap()
            .unwrap();
        assert!(values(&tick_labels(&svg, "end")).iter().all(|&v| v >= 0.0));
    }

    #[test]
    fn a_metric_the_same_in_every_run_gets_no_panel_but_a_note() {
        let groups = [
            group(
                "0.5",
                &[("mse", 0.07, 0.001), ("pixel_probe_acc", 0.9123, 0.0)],
            ),
            group(
                "1",
                &[("mse", 0.08, 0.002), ("pixel_probe_acc", 0.9123, 0.0)],
            ),
        ];
        let svg = sweep(&groups);
        assert_eq!(texts(&svg, "title"), ["test mse"]);
        assert!(svg.contains("pixel_probe_acc = 0.9123"), "{svg}");
    }

    #[test]
    fn the_legend_is_above_the_plot_not_on_its_points() {
        let csv = "epoch,train_loss,val_loss\n1,0.5,0.6\n2,0.4,0.45\n3,0.3,0.35\n";
        let svg = curves_svg(csv, &[]).unwrap().unwrap();
        let (top, _) = frames(&svg)[0];
        for entry in svg.split("class=\"legend\"").skip(1) {
            let y = attr(entry, "y");
            assert!(y < top, "legend at {y}, plot from {top}");
        }
        // No legend marker where a point is: every circle is a point inside the frame.
        for cy in svg.split(" cy=\"").skip(1) {
            let y: f64 = cy.split('"').next().unwrap().parse().unwrap();
            assert!(y > top, "{y}");
        }
        assert_eq!(texts(&svg, "legend"), ["train", "validation"]);
    }

    /// curves.svg of a run folder holding `config` (its model section) and `csv`.
    fn curves_of(model: &str, csv: &str) -> String {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("config.yaml"), format!("model: {model}\n")).unwrap();
        std::fs::write(tmp.path().join("metrics.csv"), csv).unwrap();
        let path = write_curves(tmp.path()).unwrap().unwrap();
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn train_and_validation_of_one_measure_share_a_panel() {
        let csv = "epoch,train_recon,val_mse,val_psnr,val_bce,test_mse\n\
                   1,0.09,0.08,11.0,200.0,0.081\n2,0.07,0.065,12.0,180.0,0.066\n";
        let svg = curves_of("{variant: plain, loss: mse}", csv);
        assert_eq!(texts(&svg, "title"), ["mse", "psnr", "bce"]);
        assert_eq!(
            texts(&svg, "legend"),
            ["train", "validation", "test", "validation", "validation"]
        );
        let csv = "epoch,train_recon,val_mse,val_bce\n1,210.0,0.08,200.0\n2,190.0,0.065,180.0\n";
        let svg = curves_of("{variant: adversarial, loss: bce}", csv);
        assert_eq!(texts(&svg, "title"), ["bce", "mse"]);
        // A denoiser's training loss is on corrupted inputs: not the clean images' MSE.
        let svg = curves_of("{variant: denoising, loss: mse}", csv);
        assert_eq!(texts(&svg, "title"), ["recon", "mse", "bce"]);
        // A VAE's loss is its negative ELBO only with the KL at full weight.
        let csv = "epoch,train_loss,train_nll,train_kl,val_neg_elbo,val_nll,val_kl\n\
                   1,200.0,190.0,10.0,195.0,185.0,10.0\n";
        let elbo = "{variant: vae, kl_weight: 1.0, warmup_epochs: 0}";
        assert_eq!(
            texts(&curves_of(elbo, csv), "title"),
            ["neg_elbo", "nll", "kl"]
        );
        let beta = "{variant: vae, kl_weight: 0.5, warmup_epochs: 0}";
        assert_eq!(
            texts(&curves_of(beta, csv), "title"),
            ["loss", "nll", "kl", "neg_elbo"]
        );
        // The CVAE's, given the label, likewise.
        let csv = csv.replace("val_neg_elbo", "val_neg_elbo_given_label");
        assert_eq!(
            texts(&curves_of("{variant: cvae}", &csv), "title"),
            ["neg_elbo_given_label", "nll", "kl"]
        );
    }
}
