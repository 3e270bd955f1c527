//! The pictures of a run, where a person would rather look than read: reconstructions,
//! samples from the prior and from an ex-post density on the codes, interpolations between
//! test images, the decoded grid of a 2-D latent space and a scatter of the test codes.

use crate::results::files::{sync_rename, tmp_path, write_atomic};
use crate::run::board::{basic_rows, grid_rows};
use ae_core::data::{Dataset, Split};
use ae_core::image::write_grid;
use ae_core::rng::Streams;
use ae_variants::Autoencoder;
use anyhow::Result;
use candle_core::{DType, Tensor, D};
use std::path::Path;

/// reconstructions.png (test images and what the model makes of them) and, for variants
/// with a prior, samples.png (8 columns of draws, a row per class for a conditional model):
/// what TensorBoard shows after every epoch.
pub fn write_basic(
    model: &dyn Autoencoder,
    data: &Dataset,
    streams: &Streams,
    dir: &Path,
) -> Result<()> {
    let shape = data.image_shape;
    let (rows, samples) = ae_core::grad::no_grad(|| basic_rows(model, data, streams))?;
    write_png(&dir.join("reconstructions.png"), &rows, shape)?;
    if let Some(s) = samples {
        write_png(&dir.join("samples.png"), &s, shape)?;
    }
    Ok(())
}

/// `images` as a grid of `per_row` columns.
pub fn grid(
    images: &Tensor,
    per_row: usize,
    shape: (usize, usize, usize),
    path: &Path,
) -> Result<()> {
    write_png(path, &grid_rows(images, per_row)?, shape)
}

/// Steps between two images in interpolations.png, ends included.
const STEPS: usize = 10;

/// interpolations.png: one row per pair of test images (image i and image i + pairs), the
/// first image, the decoded codes on the straight line between theirs, the second image. A
/// conditional model decodes the first half of the line with the first image's label and the
/// second half with the second's.
pub fn interpolations(
    model: &dyn Autoencoder,
    split: &Split,
    shape: (usize, usize, usize),
    path: &Path,
) -> Result<()> {
    let pairs = (split.len() / 2).min(8);
    if pairs == 0 {
        return Ok(());
    }
    let a = split.narrow(0, pairs)?;
    let b = split.narrow(pairs, pairs)?;
    let (za, zb) = (model.encode(&a)?, model.encode(&b)?);
    // Every pair's line, [pairs, STEPS, code], decoded in one batch.
    let line = (0..STEPS)
        .map(|s| {
            let t = s as f64 / (STEPS - 1) as f64;
            (&za * (1.0 - t))? + (&zb * t)?
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let z = Tensor::stack(&line, 1)?.reshape((pairs * STEPS, za.dim(1)?))?;
    let halves: Vec<&Tensor> = (0..STEPS)
        .map(|s| if s < STEPS / 2 { &a.labels } else { &b.labels })
        .collect();
    let labels = Tensor::stack(&halves, 1)?.flatten_all()?;
    let decoded = candle_nn::ops::sigmoid(&model.decode(&z, Some(&labels))?)?;
    let decoded = decoded.reshape((pairs, STEPS, ()))?;
    let rows = (0..pairs)
        .map(|p| {
            let ends = (a.images.narrow(0, p, 1)?, b.images.narrow(0, p, 1)?);
            Tensor::cat(&[&ends.0, &decoded.get(p)?, &ends.1], 0)
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    write_png(path, &rows, shape)
}

/// Cells per side of manifold.png.
const GRID: usize = 16;

/// manifold.png, for a 2-D code: the decoder's images over a grid spanning the 2nd to 98th
/// percentile of the test codes on each axis, with the label `label` (a conditional model's
/// grid is of one class).
pub fn manifold(
    model: &dyn Autoencoder,
    codes: &Tensor,
    label: u32,
    shape: (usize, usize, usize),
    path: &Path,
) -> Result<()> {
    let labels = Tensor::full(label, GRID, codes.device())?;
    let span = |axis: usize| -> Result<(f64, f64)> {
        let mut v = codes
            .narrow(1, axis, 1)?
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Ok((at(0.02), at(0.98)))
    };
    let ((x0, x1), (y0, y1)) = (span(0)?, span(1)?);
    let lerp = |lo: f64, hi: f64, i: usize| lo + (hi - lo) * i as f64 / (GRID - 1) as f64;
    let mut rows = Vec::with_capacity(GRID);
    for r in 0..GRID {
        // Top row: the largest second coordinate, as on a plot.
        let y = lerp(y1, y0, r);
        let z: Vec<f32> = (0..GRID)
            .flat_map(|c| [lerp(x0, x1, c) as f32, y as f32])
            .collect();
        let z = Tensor::from_vec(z, (GRID, 2), codes.device())?;
        rows.push(candle_nn::ops::sigmoid(&model.decode(&z, Some(&labels))?)?);
    }
    write_png(path, &rows, shape)
}

/// latent.svg: the test codes (their first two principal components when the code has more
/// than two dimensions), coloured by label.
pub fn latent_scatter(codes: &Tensor, labels: &[u32], path: &Path) -> Result<()> {
    let dim = codes.dim(D::Minus1)?;
    let (points, title) = if dim <= 2 {
        let rows = codes.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let points = rows
            .iter()
            .map(|r| (r[0], r.get(1).copied().unwrap_or(0.0)))
            .collect();
        (points, format!("test codes ({dim}-D)"))
    } else {
        let title = format!("test codes: first 2 principal components of {dim}");
        (ae_core::eval::pca::project_2d(codes)?, title)
    };
    let svg = crate::results::plot::scatter_svg(&points, labels, &title);
    write_atomic(path, svg.as_bytes())
}

/// A grid at twice the size, written atomically.
fn write_png(path: &Path, rows: &[Tensor], shape: (usize, usize, usize)) -> Result<()> {
    let tmp = tmp_path(path);
    write_grid(&tmp, rows, shape, 2)?;
    sync_rename(&tmp, path)
}
