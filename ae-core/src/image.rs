//! Grids of images as PNG: the seed's visdom windows, as files.

use anyhow::{ensure, Context, Result};
use candle_core::Tensor;
use std::io::Write;
use std::path::Path;

/// A grid of images encoded as PNG.
pub struct GridPng {
    pub width: u32,
    pub height: u32,
    /// 1 grey, 3 RGB.
    pub channels: u32,
    pub bytes: Vec<u8>,
}

/// Writes `rows` (each [n, c*h*w], channel-first, values in [0, 1]) as a grid: one row of
/// images per tensor, with a 2-pixel gap, scaled up `scale` times; grey for one channel, RGB
/// for three, the channels' mean otherwise.
pub fn write_grid(
    path: &Path,
    rows: &[Tensor],
    shape: (usize, usize, usize),
    scale: usize,
) -> Result<()> {
    let png = grid_png(rows, shape, scale)?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    // Flushed by hand: BufWriter's flush on drop ignores any error.
    let writing = || format!("writing {}", path.display());
    let mut out = std::io::BufWriter::new(file);
    out.write_all(&png.bytes).with_context(writing)?;
    out.flush().with_context(writing)
}

/// The grid [`write_grid`] writes, as PNG bytes (for TensorBoard's images too).
pub fn grid_png(
    rows: &[Tensor],
    (ch, h, w): (usize, usize, usize),
    scale: usize,
) -> Result<GridPng> {
    ensure!(!rows.is_empty(), "no images to draw");
    let cols = rows[0].dim(0)?;
    let gap = 2;
    let out_ch = if ch == 3 { 3 } else { 1 };
    let (cell_h, cell_w) = (h * scale + gap, w * scale + gap);
    let (width, height) = (cols * cell_w + gap, rows.len() * cell_h + gap);
    let mut px = vec![255u8; width * height * out_ch];
    for (r, t) in rows.iter().enumerate() {
        let imgs = t.clamp(0f32, 1f32)?.to_vec2::<f32>()?;
        for (c, img) in imgs.iter().enumerate().take(cols) {
            ensure!(
                img.len() == ch * h * w,
                "image of {} values, expected {ch}x{h}x{w}",
                img.len(),
            );
            let value = |k: usize, y: usize, x: usize| -> f32 {
                if out_ch == 3 {
                    img[k * h * w + y * w + x]
                } else {
                    (0..ch).map(|k| img[k * h * w + y * w + x]).sum::<f32>() / ch as f32
                }
            };
            for y in 0..h * scale {
                for x in 0..w * scale {
                    let (py, pxx) = (gap + r * cell_h + y, gap + c * cell_w + x);
                    for k in 0..out_ch {
                        let v = value(k, y / scale, x / scale);
                        px[(py * width + pxx) * out_ch + k] = (v * 255.0).round() as u8;
                    }
                }
            }
        }
    }
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
    enc.set_color(if out_ch == 3 {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    enc.set_depth(png::BitDepth::Eight);
    // Finished by hand: the png writer's drop writes the last chunk and ignores any error.
    let mut writer = enc.write_header()?;
    writer.write_image_data(&px)?;
    writer.finish()?;
    Ok(GridPng {
        width: width as u32,
        height: height as u32,
        channels: out_ch as u32,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn writes_a_decodable_png_of_the_right_size() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("ae-core-grid-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("g.png");
        let a = Tensor::new(
            &[[0f32, 1., 1., 0.], [1., 1., 1., 1.], [0., 0., 0., 0.]],
            &Device::Cpu,
        )?;
        write_grid(&path, &[a.clone(), a], (1, 2, 2), 1)?;
        let dec = png::Decoder::new(std::fs::File::open(&path)?);
        let mut reader = dec.read_info()?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf)?;
        assert_eq!((info.width, info.height), (3 * 4 + 2, 2 * 4 + 2));
        // Top-left pixel of the first image is 0 (black), its neighbour 255.
        assert_eq!(buf[2 * info.width as usize + 2], 0);
        assert_eq!(buf[2 * info.width as usize + 3], 255);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// A full disk is an error, not a truncated file reported as written.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_an_error() -> Result<()> {
        let a = Tensor::new(&[[0f32, 1., 1., 0.]], &Device::Cpu)?;
        let err = write_grid(Path::new("/dev/full"), &[a], (1, 2, 2), 1)
            .expect_err("writing to /dev/full succeeded");
        assert!(format!("{err:#}").contains("/dev/full"), "{err:#}");
        Ok(())
    }
}
