//! Plots as SVG, written by hand (no plotting dependency): a sweep's metrics against the swept
//! key with error bars over seeds, a VAE's rate-distortion picture, a run's learning curves and
//! a scatter of latent codes. Each is a grid of panels drawn by one function, `panel`.

use crate::results::files::write_atomic;
use crate::results::records::leaf;
use crate::results::stats::{num, Group, Stat};
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Ten colours, so that every digit of a latent scatter has its own.
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f",
    "#e377c2", "#bcbd22",
];

/// A panel's size and margins.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// The legend in the right margin (else inside the plot, top left).
    legend_outside: bool,
}

/// The panels of sweeps and learning curves.
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
    /// Ticks at these x values (the swept values, the epochs) instead of evenly spaced ones.
    x_ticks: Option<Vec<f64>>,
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

fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    (0..=4).map(|i| lo + (hi - lo) * i as f64 / 4.0).collect()
}

/// The padded hull of (lo, hi) spans: (0, 1) when there are none, +-1 around a single value.
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

/// Draws one panel at (ox, oy).
fn panel(svg: &mut String, p: &Panel, f: &Frame, ox: f64, oy: f64) {
    let pts = || p.series.iter().flat_map(|s| &s.points);
    let fx = |x: f64| if p.log_x { x.log10() } else { x };
    // On a log axis the error bar is cut at half the value, which stays positive.
    let x_lo = |q: &Point| {
        if p.log_x {
            q.x - q.xerr.min(q.x * 0.5)
        } else {
            q.x - q.xerr
        }
    };
    let (x0, x1) = range(pts().map(|q| (fx(x_lo(q)), fx(q.x + q.xerr))), 0.06);
    let (y0, y1) = range(pts().map(|q| (q.y - q.yerr, q.y + q.yerr)), 0.08);
    let (pw, ph) = (f.w - f.left - f.right, f.h - f.top - f.bottom);
    let sx = |x: f64| ox + f.left + (fx(x) - x0) / (x1 - x0) * pw;
    let sy = |y: f64| oy + f.top + (1.0 - (y - y0) / (y1 - y0)) * ph;
    let (left, bottom) = (ox + f.left, oy + f.top + ph);
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##,
        oy + f.top
    );
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
    for t in ticks(y0, y1) {
        let y = sy(t);
        let _ = write!(
            svg,
            r##"<line x1="{}" x2="{left}" y1="{y:.1}" y2="{y:.1}" stroke="#999"/><text x="{}" y="{:.1}" font-size="9" text-anchor="end">{}</text>"##,
            left - 3.0,
            left - 4.0,
            y + 3.0,
            num(t)
        );
    }
    let xt = p.x_ticks.clone().unwrap_or_else(|| {
        ticks(x0, x1)
            .into_iter()
            .map(|t| if p.log_x { 10f64.powf(t) } else { t })
            .collect()
    });
    for v in xt {
        let label = if p.x_ticks.is_some() {
            format!("{v}")
        } else {
            num(v)
        };
        let x = sx(v);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{bottom}" y2="{}" stroke="#999"/><text x="{x:.1}" y="{}" font-size="9" text-anchor="middle">{label}</text>"##,
            bottom + 3.0,
            bottom + 12.0
        );
    }
    for (i, s) in p.series.iter().enumerate() {
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
                    sx(x_lo(q)),
                    sx(q.x + q.xerr),
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
        if !s.label.is_empty() {
            let (lx, ly) = if f.legend_outside {
                (left + pw + 8.0, oy + f.top + 10.0 + 14.0 * i as f64)
            } else {
                (left + 6.0, oy + f.top + 12.0 + 12.0 * i as f64)
            };
            let _ = write!(
                svg,
                r##"<rect x="{lx}" y="{}" width="7" height="7" fill="{c}"/><text class="legend" x="{}" y="{ly}" font-size="9" fill="{c}">{}</text>"##,
                ly - 7.0,
                lx + 10.0,
                escape(&s.label)
            );
        }
    }
}

/// The panels on a grid of up to three columns, as one SVG document.
fn render(panels: &[Panel], f: &Frame) -> String {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols).max(1);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"##,
        f.w * cols as f64,
        f.h * rows as f64
    );
    for (i, p) in panels.iter().enumerate() {
        panel(
            &mut svg,
            p,
            f,
            f.w * (i % cols) as f64,
            f.h * (i / cols) as f64,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn write_svg(path: &Path, panels: &[Panel]) -> Result<()> {
    write_atomic(path, render(panels, &SMALL).as_bytes())
}

/// The column prefixes of metrics.csv that name a split, in the order their curves are drawn.
const SPLITS: [&str; 3] = ["train", "val", "test"];

/// A run's learning curves from the text of its metrics.csv: one panel per term (`loss`,
/// `mse`, `neg_elbo`, ...) with its train_, val_ and test_ columns against the epoch. None
/// when there is no finished epoch to draw (an empty file: a run before its first epoch).
/// Torn rows (a killed run) are skipped.
pub fn curves_svg(metrics_csv: &str) -> Result<Option<String>> {
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
            SPLITS.contains(&split).then_some((split, term, i))
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
                .filter_map(|(color, split)| {
                    let (_, _, col) = columns.iter().find(|(s, t, _)| s == split && t == term)?;
                    let points: Vec<Point> = rows
                        .iter()
                        .filter(|r| r[*col].is_finite())
                        .map(|r| Point::at(r[epoch_col], r[*col]))
                        .collect();
                    (!points.is_empty()).then(|| Series {
                        label: split.to_string(),
                        color,
                        points,
                    })
                })
                .collect(),
            lines: true,
            x_ticks: Some(epoch_ticks(&epochs)),
            ..Panel::default()
        })
        .filter(|p| !p.series.is_empty())
        .collect();
    Ok((!panels.is_empty()).then(|| render(&panels, &SMALL)))
}

/// Every epoch when there are few, else five whole epochs spread over the run.
fn epoch_ticks(epochs: &[f64]) -> Vec<f64> {
    if epochs.len() <= 8 {
        return epochs.to_vec();
    }
    let (first, last) = (epochs[0], epochs[epochs.len() - 1]);
    let mut t: Vec<f64> = ticks(first, last).into_iter().map(f64::round).collect();
    t.dedup();
    t
}

/// Writes `<run_dir>/curves.svg` from its metrics.csv; None (nothing written) when the run
/// has no metrics.csv or no finished epoch yet.
pub fn write_curves(run_dir: &Path) -> Result<Option<PathBuf>> {
    let metrics = run_dir.join("metrics.csv");
    let text = match std::fs::read_to_string(&metrics) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", metrics.display())),
    };
    let Some(svg) = curves_svg(&text).with_context(|| format!("reading {}", metrics.display()))?
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
    render(&[panel], &SCATTER)
}

/// `sweep.svg` (every metric against the first numeric swept key, one line per value of the
/// other keys) and, when the runs report `kl` and `nll`, `rate_distortion.svg`.
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
            ..Panel::default()
        })
        .filter(|p| !p.series.is_empty())
        .collect();
    if panels.is_empty() {
        return Ok(());
    }
    write_svg(&exp_dir.join("sweep.svg"), &panels)?;

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
            ..Panel::default()
        };
        write_svg(&exp_dir.join("rate_distortion.svg"), &[panel])?;
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
        let svg = curves_svg(csv).unwrap().unwrap();
        assert_eq!(texts(&svg, "title"), ["loss", "mse", "psnr"]);
        // loss: train; mse: train, val, test; psnr: val; 3 epochs each.
        assert_eq!(svg.matches("<circle").count(), 5 * 3);
        assert_eq!(svg.matches("<polyline").count(), 5);
        assert_eq!(
            texts(&svg, "legend"),
            ["train", "train", "val", "test", "val"]
        );
    }

    #[test]
    fn a_sweep_whose_first_setting_diverged_is_still_plotted() {
        let group = |kl: &str, mse: Option<f64>| Group {
            values: vec![("model.kl_weight".into(), kl.into())],
            stats: mse
                .map(|v| ("mse".to_string(), crate::results::stats::stat(&[v])))
                .into_iter()
                .collect(),
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
        let svg = curves_svg(&format!("{header}1,0.5,0.09,1.0,100\n"))
            .unwrap()
            .unwrap();
        assert_eq!(texts(&svg, "title"), ["loss", "mse"]);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(curves_svg(header).unwrap().is_none());
        assert!(curves_svg("").unwrap().is_none(), "before the first epoch");
        assert!(curves_svg("a,b\n1,2\n").is_err(), "no epoch column");
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
}
