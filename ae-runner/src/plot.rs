//! Plots of a sweep as SVG, written by hand: each metric against the swept key with error
//! bars over seeds, and for a VAE the rate-distortion picture (KL against reconstruction NLL).

use crate::outputs::write_atomic;
use crate::summary::{num, Group, Stat};
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f",
];
const W: f64 = 360.0;
const H: f64 = 260.0;
const M: (f64, f64, f64, f64) = (58.0, 16.0, 30.0, 44.0); // left, right, top, bottom

/// A point: x and y with their error bars (std over seeds).
#[derive(Clone, Copy)]
struct Point {
    x: f64,
    xerr: f64,
    y: f64,
    yerr: f64,
}

struct Series {
    label: String,
    points: Vec<Point>,
}

struct Panel {
    title: String,
    x_label: String,
    series: Vec<Series>,
    log_x: bool,
    /// Draw lines between points (false: a scatter with labels).
    lines: bool,
    point_labels: Vec<String>,
    /// Ticks at these x values (the swept values) instead of evenly spaced ones.
    x_ticks: Option<Vec<f64>>,
}

fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    (0..=4).map(|i| lo + (hi - lo) * i as f64 / 4.0).collect()
}

/// Draws one panel at (ox, oy).
fn panel(svg: &mut String, p: &Panel, ox: f64, oy: f64) {
    let pts: Vec<Point> = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let fx = |x: f64| if p.log_x { x.log10() } else { x };
    let (mut x0, mut x1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), q| {
        (
            a.min(fx(q.x - q.xerr.min(q.x * 0.5))),
            b.max(fx(q.x + q.xerr)),
        )
    });
    let (mut y0, mut y1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), q| {
        (a.min(q.y - q.yerr), b.max(q.y + q.yerr))
    });
    if x1 - x0 < 1e-12 {
        (x0, x1) = (x0 - 1.0, x1 + 1.0);
    }
    if y1 - y0 < 1e-12 {
        (y0, y1) = (y0 - 1.0, y1 + 1.0);
    }
    let (padx, pady) = ((x1 - x0) * 0.06, (y1 - y0) * 0.08);
    let (x0, x1, y0, y1) = (x0 - padx, x1 + padx, y0 - pady, y1 + pady);
    let (pw, ph) = (W - M.0 - M.1, H - M.2 - M.3);
    let sx = |x: f64| ox + M.0 + (fx(x) - x0) / (x1 - x0) * pw;
    let sy = |y: f64| oy + M.2 + (1.0 - (y - y0) / (y1 - y0)) * ph;
    let _ = write!(
        svg,
        r##"<rect x="{}" y="{}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##,
        ox + M.0,
        oy + M.2
    );
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>"##,
        ox + W / 2.0,
        oy + 18.0,
        p.title
    );
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
        ox + M.0 + pw / 2.0,
        oy + H - 8.0,
        p.x_label
    );
    for t in ticks(y0, y1) {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="9" text-anchor="end">{}</text>"##,
            ox + M.0 - 4.0,
            sy(t) + 3.0,
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
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" font-size="9" text-anchor="middle">{label}</text>"##,
            sx(v),
            oy + M.2 + ph + 12.0
        );
    }
    for (i, s) in p.series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
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
            let _ = write!(
                svg,
                r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="{c}"/>"##,
                sx(q.x),
                sy(q.y - q.yerr),
                sy(q.y + q.yerr)
            );
            if q.xerr > 0.0 {
                let _ = write!(
                    svg,
                    r##"<line x1="{0:.1}" x2="{1:.1}" y1="{2:.1}" y2="{2:.1}" stroke="{c}"/>"##,
                    sx((q.x - q.xerr).max(1e-12)),
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
                    r##"<text x="{:.1}" y="{:.1}" font-size="9">{l}</text>"##,
                    sx(q.x) + 5.0,
                    sy(q.y) - 5.0
                );
            }
        }
        if p.series.len() > 1 {
            let ly = oy + M.2 + 12.0 + 12.0 * i as f64;
            let _ = write!(
                svg,
                r##"<text x="{}" y="{ly}" font-size="9" fill="{c}">{}</text>"##,
                ox + M.0 + 6.0,
                s.label
            );
        }
    }
}

fn write_svg(path: &Path, panels: &[Panel]) -> Result<()> {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"##,
        W * cols as f64,
        H * rows as f64
    );
    for (i, p) in panels.iter().enumerate() {
        panel(&mut svg, p, W * (i % cols) as f64, H * (i / cols) as f64);
    }
    svg.push_str("</svg>\n");
    write_atomic(path, svg.as_bytes())
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
            .map(|(_, (k, v))| format!("{}={v}", k.rsplit('.').next().unwrap_or(k)))
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
    let metrics: Vec<&String> = first.stats.keys().collect();
    let point = |s: &Stat, x: f64| Point {
        x,
        xerr: 0.0,
        y: s.mean,
        yerr: s.std,
    };
    let panels: Vec<Panel> = metrics
        .iter()
        .map(|m| Panel {
            title: format!("test {m}"),
            x_label: x_key.clone(),
            series: labels
                .iter()
                .map(|l| {
                    let mut points: Vec<Point> = groups
                        .iter()
                        .zip(&xs)
                        .filter(|(g, _)| label(g) == *l)
                        .filter_map(|(g, &x)| g.stats.get(*m).map(|s| point(s, x)))
                        .collect();
                    points.sort_by(|a, b| a.x.total_cmp(&b.x));
                    Series {
                        label: l.clone(),
                        points,
                    }
                })
                .filter(|s| !s.points.is_empty())
                .collect(),
            log_x,
            lines: true,
            point_labels: vec![],
            x_ticks: Some(distinct.clone()),
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
                    xerr: kl.std,
                    y: nll.mean,
                    yerr: nll.std,
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
                    .map(|(k, _)| k.rsplit('.').next().unwrap_or(k))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            series: vec![Series {
                label: String::new(),
                points: rd.iter().map(|(p, _)| *p).collect(),
            }],
            log_x: false,
            lines: false,
            point_labels: rd.iter().map(|(_, l)| l.clone()).collect(),
            x_ticks: None,
        };
        write_svg(&exp_dir.join("rate_distortion.svg"), &[panel])?;
    }
    Ok(())
}
