//! Convolutional encoders and decoders: stride-2 convolutions (kernel 4, padding 1, each
//! halving the image) then a linear map to the code, and the mirror image: a linear map to the
//! last feature map, then stride-2 transposed convolutions back to the image's logits.
//! Images come and go as rows of pixels, [n, c*h*w], like everywhere else in aelab.
//!
//! The layers are gathers and one matmul (im2col) and one matmul and a scatter-add (col2im),
//! not candle's conv ops: on the CPU those run as direct loops (its transposed convolution,
//! and so the backward pass of every convolution, has no matmul path). On the CPU in f32 each
//! layer is one fused op with its own backward ([`fused`]); elsewhere the same layers are
//! plain candle ops through the window's padded index.

mod fused;
mod window;

use crate::activation::Activation;
use crate::dense::dense_layer;
use crate::grad::param;
use candle_core::{DType, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use fused::{ConvOp, DeconvOp, Split};
use window::{halve, Window, KERNEL, TAPS};

/// How a layer runs: a fused CPU op (f32 on the CPU), or plain candle ops through the
/// window's padded index (elsewhere).
#[derive(Debug, Clone)]
enum Path {
    Fused,
    Plain(Tensor),
}

impl Path {
    fn new(window: &Window, vb: &VarBuilder) -> Result<Self> {
        if vb.device().is_cpu() && vb.dtype() == DType::F32 {
            return Ok(Self::Fused);
        }
        let idx = window.padded_index();
        let len = idx.len();
        Ok(Self::Plain(Tensor::from_vec(idx, len, vb.device())?))
    }
}

/// A stride-2 convolution, kernel 4, padding 1, then an activation, on channels-last maps
/// [n, h, w, c] (weights in candle-nn's Conv2d names and shapes: `weight` [out, in, 4, 4],
/// `bias` [out]): a gather of every window, then one matmul. Channels last make each gathered
/// (and, backward, scattered) element a contiguous run of channels.
#[derive(Debug, Clone)]
struct Conv {
    weight: Tensor,
    bias: Tensor,
    window: Window,
    path: Path,
}

impl Conv {
    fn new(vb: VarBuilder, ci: usize, co: usize, input: (usize, usize)) -> Result<Self> {
        let weight = vb.get((co, ci, KERNEL, KERNEL), "weight")?;
        let bias = vb.get(co, "bias")?;
        let window = Window {
            large: input,
            small: (halve(input.0), halve(input.1)),
            c: ci,
        };
        let path = Path::new(&window, &vb)?;
        Ok(Self {
            weight,
            bias,
            window,
            path,
        })
    }

    fn forward(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let (w, b) = (param(&self.weight), param(&self.bias));
        let Path::Plain(index) = &self.path else {
            let (window, split) = (self.window, Split::of(&self.window));
            let op = ConvOp { window, act, split };
            return x.contiguous()?.apply_op3(&w, &b, op);
        };
        let (n, h, wd, c) = x.dims4()?;
        let co = w.dim(0)?;
        let (sh, sw) = self.window.small;
        let cols = x
            .pad_with_zeros(1, 1, 1)?
            .pad_with_zeros(2, 1, 1)?
            .reshape((n, (h + 2) * (wd + 2), c))?
            .index_select(index, 1)?
            .reshape((n * sh * sw, TAPS * c))?;
        // [out, in, ky, kx] -> [out, ky, kx, in], the order of a gathered row.
        let w = w.permute((0, 2, 3, 1))?.reshape((co, TAPS * c))?;
        let y = cols.matmul(&w.t()?)?.broadcast_add(&b)?;
        act.apply(&y.reshape((n, sh, sw, co))?)
    }
}

/// The transpose of [`Conv`] onto a map of `out`, channels last (candle-nn's ConvTranspose2d
/// names and shapes: `weight` [in, out, 4, 4], `bias` [out]), then an activation: one matmul
/// to every (position, tap), then a scatter-add of the taps onto the padded output, cropped.
#[derive(Debug, Clone)]
struct Deconv {
    weight: Tensor,
    bias: Tensor,
    window: Window,
    path: Path,
}

impl Deconv {
    fn new(
        vb: VarBuilder,
        ci: usize,
        co: usize,
        input: (usize, usize),
        out: (usize, usize),
    ) -> Result<Self> {
        let weight = vb.get((ci, co, KERNEL, KERNEL), "weight")?;
        let bias = vb.get(co, "bias")?;
        let window = Window {
            large: out,
            small: input,
            c: co,
        };
        let path = Path::new(&window, &vb)?;
        Ok(Self {
            weight,
            bias,
            window,
            path,
        })
    }

    fn forward(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let (w, b) = (param(&self.weight), param(&self.bias));
        let Path::Plain(index) = &self.path else {
            let (window, split) = (self.window, Split::of(&self.window));
            let op = DeconvOp { window, act, split };
            return x.contiguous()?.apply_op3(&w, &b, op);
        };
        let (n, hi, wi, ci) = x.dims4()?;
        let co = w.dim(1)?;
        let (h, wd) = self.window.large;
        // [in, out, ky, kx] -> [in, ky, kx, out]: a row of taps, each a run of channels.
        let w = w.permute((0, 2, 3, 1))?.reshape((ci, TAPS * co))?;
        let cols = x
            .reshape((n * hi * wi, ci))?
            .matmul(&w)?
            .reshape((n, hi * wi * TAPS, co))?;
        let y = Tensor::zeros((n, (h + 2) * (wd + 2), co), x.dtype(), x.device())?
            .index_add(index, &cols, 1)?
            .reshape((n, h + 2, wd + 2, co))?
            .narrow(1, 1, h)?
            .narrow(2, 1, wd)?
            .broadcast_add(&b)?;
        act.apply(&y)
    }
}

/// (channels, height, width) of every feature map of the encoder, the image first; an error if
/// the image is too small for that many stride-2 layers.
pub fn feature_maps(
    image: (usize, usize, usize),
    channels: &[usize],
) -> Result<Vec<(usize, usize, usize)>> {
    let mut maps = vec![image];
    for &c in channels {
        let (_, h, w) = *maps.last().expect("starts with the image");
        if h < 2 || w < 2 {
            candle_core::bail!(
                "a {}x{} image is too small for {} stride-2 conv layers (model.channels): each halves it",
                image.1,
                image.2,
                channels.len()
            );
        }
        maps.push((c, halve(h), halve(w)));
    }
    Ok(maps)
}

/// Rows of channel-first pixels [n, c*h*w] as a channels-last map [n, h, w, c].
fn to_channels_last(x: &Tensor, (c, h, w): (usize, usize, usize)) -> Result<Tensor> {
    x.reshape((x.dim(0)?, c, h, w))?.permute((0, 2, 3, 1))
}

/// Conv layers `{prefix}.conv.{i}`, then `{prefix}.out` to `out` units (reading the last map
/// channels last).
#[derive(Debug, Clone)]
pub struct ConvEncoder {
    convs: Vec<Conv>,
    linear: Linear,
    image: (usize, usize, usize),
    activation: Activation,
    last: Activation,
    flops: usize,
}

impl ConvEncoder {
    pub fn new(
        vb: VarBuilder,
        image: (usize, usize, usize),
        channels: &[usize],
        out: usize,
        activation: Activation,
        last: Activation,
    ) -> Result<Self> {
        let maps = feature_maps(image, channels)?;
        let mut flops = 0;
        let mut convs = Vec::with_capacity(channels.len());
        for (i, pair) in maps.windows(2).enumerate() {
            let ((ci, hi, wi), (co, h, w)) = (pair[0], pair[1]);
            convs.push(Conv::new(vb.pp(format!("conv.{i}")), ci, co, (hi, wi))?);
            flops += 2 * ci * TAPS * co * h * w;
        }
        let (c, h, w) = *maps.last().expect("at least the image");
        let linear = candle_nn::linear(c * h * w, out, vb.pp("out"))?;
        flops += 2 * c * h * w * out;
        Ok(Self {
            convs,
            linear,
            image,
            activation,
            last,
            flops,
        })
    }

    /// Multiply-adds times two of one image's forward pass.
    pub fn flops(&self) -> usize {
        self.flops
    }

    /// The forward pass with `hidden` applied to each feature map after its activation.
    pub fn forward_with(
        &self,
        x: &Tensor,
        hidden: &mut dyn FnMut(Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let mut t = to_channels_last(x, self.image)?;
        for conv in &self.convs {
            t = hidden(conv.forward(&t, self.activation)?)?;
        }
        dense_layer(&t.flatten_from(1)?, &self.linear, self.last)
    }
}

/// `{prefix}.in` from the code to the encoder's last feature map, then transposed conv layers
/// `{prefix}.deconv.{i}` back to the image, emitting logits.
#[derive(Debug, Clone)]
pub struct ConvDecoder {
    linear: Linear,
    deconvs: Vec<Deconv>,
    first: (usize, usize, usize),
    activation: Activation,
    flops: usize,
}

impl ConvDecoder {
    /// Mirrors the encoder of `image` with `channels`: every map has the size the encoder's
    /// had (an odd side, such as 7 from 3, gets an output padding of 1).
    pub fn new(
        vb: VarBuilder,
        image: (usize, usize, usize),
        channels: &[usize],
        latent: usize,
        activation: Activation,
    ) -> Result<Self> {
        let maps = feature_maps(image, channels)?;
        let first = *maps.last().expect("at least the image");
        let linear = candle_nn::linear(latent, first.0 * first.1 * first.2, vb.pp("in"))?;
        let mut flops = 2 * latent * first.0 * first.1 * first.2;
        let mut deconvs = Vec::with_capacity(channels.len());
        for (i, pair) in maps.windows(2).rev().enumerate() {
            let ((co, ho, wo), (ci, hi, wi)) = (pair[0], pair[1]);
            let vb = vb.pp(format!("deconv.{i}"));
            deconvs.push(Deconv::new(vb, ci, co, (hi, wi), (ho, wo))?);
            flops += 2 * ci * TAPS * co * hi * wi;
        }
        Ok(Self {
            linear,
            deconvs,
            first,
            activation,
            flops,
        })
    }

    pub fn flops(&self) -> usize {
        self.flops
    }

    pub fn forward_with(
        &self,
        z: &Tensor,
        hidden: &mut dyn FnMut(Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let (c, h, w) = self.first;
        let t = hidden(dense_layer(z, &self.linear, self.activation)?)?;
        let mut t = t.reshape((z.dim(0)?, h, w, c))?;
        let n = self.deconvs.len();
        for (i, deconv) in self.deconvs.iter().enumerate() {
            if i + 1 < n {
                t = hidden(deconv.forward(&t, self.activation)?)?;
            } else {
                t = deconv.forward(&t, Activation::None)?;
            }
        }
        // Back to rows of channel-first pixels.
        t.permute((0, 3, 1, 2))?.flatten_from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_core::{DType, Var};
    use candle_nn::VarMap;

    #[test]
    fn maps_halve_and_the_decoder_mirrors_them() -> Result<()> {
        assert_eq!(
            feature_maps((1, 28, 28), &[32, 64, 128])?,
            vec![(1, 28, 28), (32, 14, 14), (64, 7, 7), (128, 3, 3)]
        );
        assert!(feature_maps((1, 28, 28), &[1, 1, 1, 1, 1, 1]).is_err());
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        for (image, channels) in [((1, 28, 28), vec![8, 16, 32]), ((3, 32, 32), vec![4, 8])] {
            let tag = format!("{}{}", image.0, channels.len());
            let enc = ConvEncoder::new(
                vb.pp(format!("e{tag}")),
                image,
                &channels,
                5,
                Activation::Relu,
                Activation::None,
            )?;
            let dec = ConvDecoder::new(
                vb.pp(format!("d{tag}")),
                image,
                &channels,
                5,
                Activation::Relu,
            )?;
            let x = Tensor::rand(0f32, 1f32, (2, image.0 * image.1 * image.2), &Device::Cpu)?;
            let z = enc.forward_with(&x, &mut Ok)?;
            assert_eq!(z.dims(), &[2, 5]);
            assert_eq!(dec.forward_with(&z, &mut Ok)?.dims(), x.dims());
        }
        Ok(())
    }

    /// The FLOP count of a 1-channel 4x4 image, one conv to 2 channels of 2x2 and a linear map
    /// to 3, by hand: 2 * (1 * 16 * 2 * 4) + 2 * (8 * 3) = 256 + 48.
    #[test]
    fn flops_by_hand() -> Result<()> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let enc = ConvEncoder::new(
            vb.pp("e"),
            (1, 4, 4),
            &[2],
            3,
            Activation::Relu,
            Activation::None,
        )?;
        assert_eq!(enc.flops(), 304);
        // Decoder: linear 3 -> 8 (48), deconv 2 -> 1 channel onto 4x4 from 2x2: 2*2*16*1*4 = 256.
        let dec = ConvDecoder::new(vb.pp("d"), (1, 4, 4), &[2], 3, Activation::Relu)?;
        assert_eq!(dec.flops(), 304);
        Ok(())
    }

    /// Both paths of the layers equal candle's conv2d and conv_transpose2d (padding 1, stride
    /// 2, output padding 0 and 1) followed by the activation, forward and in every gradient:
    /// the plain ops in f64, the fused CPU ops in f32, each with an input that needs no
    /// gradient too.
    #[test]
    fn layers_equal_candles_conv_ops() -> Result<()> {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-5)] {
            let vb = VarBuilder::from_varmap(&vm, dtype, &dev);
            let acts = ALL;
            // 40 images of 28x28 make several blocks of images, and a group for each thread.
            let sizes = [(2, 7, 7), (2, 8, 6), (2, 5, 9), (40, 28, 28)];
            for (k, ((n, h, w), act)) in sizes.into_iter().zip(acts.into_iter().cycle()).enumerate()
            {
                for tracked in [true, false] {
                    let tag = format!("{dtype:?}{k}{tracked}");
                    let (ho, wo) = (halve(h), halve(w));
                    let conv = Conv::new(vb.pp(format!("c{tag}")), 3, 4, (h, w))?;
                    let de = Deconv::new(vb.pp(format!("d{tag}")), 4, 3, (ho, wo), (h, w))?;
                    randomize(&vm)?;
                    let x = Tensor::randn(0f32, 1., (n, 3, h, w), &dev)?.to_dtype(dtype)?;
                    let x = Var::from_tensor(&x)?;
                    let input = if tracked {
                        x.as_tensor().clone()
                    } else {
                        x.detach()
                    };
                    let mine = conv
                        .forward(&input.permute((0, 2, 3, 1))?, act)?
                        .permute((0, 3, 1, 2))?;
                    let theirs = act.apply(
                        &input
                            .conv2d(&conv.weight, 1, 2, 1, 1)?
                            .broadcast_add(&conv.bias.reshape((1, 4, 1, 1))?)?,
                    )?;
                    same_gradients(&mine, &theirs, [&x, &conv.weight, &conv.bias], tol)?;

                    let z = Tensor::randn(0f32, 1., (n, 4, ho, wo), &dev)?.to_dtype(dtype)?;
                    let z = Var::from_tensor(&z)?;
                    let input = if tracked {
                        z.as_tensor().clone()
                    } else {
                        z.detach()
                    };
                    let mine = de
                        .forward(&input.permute((0, 2, 3, 1))?, act)?
                        .permute((0, 3, 1, 2))?;
                    assert_eq!(mine.dims(), &[n, 3, h, w]);
                    // candle wants one output padding for both sides: crop a square one when
                    // they differ.
                    let op = (h - 2 * ho).max(w - 2 * wo);
                    let theirs = act.apply(
                        &input
                            .conv_transpose2d(&de.weight, 1, op, 2, 1)?
                            .narrow(2, 0, h)?
                            .narrow(3, 0, w)?
                            .broadcast_add(&de.bias.reshape((1, 3, 1, 1))?)?,
                    )?;
                    same_gradients(&mine, &theirs, [&z, &de.weight, &de.bias], tol)?;
                }
            }
        }
        Ok(())
    }

    /// The fused ops, called directly, equal candle's conv2d and conv_transpose2d with each
    /// activation however a batch of 7 is cut: one block on one thread, blocks of 3 in groups
    /// for 2 threads (partial blocks and groups), blocks of 2 for 5 threads, one image a
    /// block on 8 (more groups than images make). (A map of sides of unlike parity, such as
    /// 8x7, cannot be checked against candle: the backward pass of its conv2d then fails on
    /// a shape mismatch, its input gradient one column short.)
    #[test]
    fn fused_ops_equal_candles_however_the_batch_is_split() -> Result<()> {
        let dev = Device::Cpu;
        let (n, (h, w), (ci, co)) = (7, (7, 9), (2, 3));
        let (ho, wo) = (halve(h), halve(w));
        let conv_w = Var::randn(0f32, 0.5, (co, ci, 4, 4), &dev)?;
        let deconv_w = Var::randn(0f32, 0.5, (co, ci, 4, 4), &dev)?;
        let bias = Var::randn(0f32, 0.5, ci.max(co), &dev)?;
        let splits = [(100, 1), (3, 2), (2, 5), (1, 8)];
        for ((block, threads), act) in splits.into_iter().flat_map(|s| ALL.map(|a| (s, a))) {
            let split = Split { block, threads };
            let x = Var::randn(0f32, 1., (n, ci, h, w), &dev)?;
            let b = bias.narrow(0, 0, co)?;
            let window = Window {
                large: (h, w),
                small: (ho, wo),
                c: ci,
            };
            let op = ConvOp { window, act, split };
            let mine = x
                .permute((0, 2, 3, 1))?
                .contiguous()?
                .apply_op3(&conv_w, &b, op)?
                .permute((0, 3, 1, 2))?;
            let theirs = act.apply(
                &x.conv2d(&conv_w, 1, 2, 1, 1)?
                    .broadcast_add(&b.reshape((1, co, 1, 1))?)?,
            )?;
            same_gradients(&mine, &theirs, [&x, &conv_w, &bias], 1e-5)?;

            let z = Var::randn(0f32, 1., (n, co, ho, wo), &dev)?;
            let b = bias.narrow(0, 0, ci)?;
            let window = Window {
                large: (h, w),
                small: (ho, wo),
                c: ci,
            };
            let op = DeconvOp { window, act, split };
            let mine = z
                .permute((0, 2, 3, 1))?
                .contiguous()?
                .apply_op3(&deconv_w, &b, op)?
                .permute((0, 3, 1, 2))?;
            let theirs = z
                .conv_transpose2d(&deconv_w, 1, 1, 2, 1)?
                .narrow(2, 0, h)?
                .narrow(3, 0, w)?
                .broadcast_add(&b.reshape((1, ci, 1, 1))?)?;
            same_gradients(&mine, &act.apply(&theirs)?, [&z, &deconv_w, &bias], 1e-5)?;
        }
        Ok(())
    }

    /// A run's bits do not depend on which threads take the groups: one split on a pool of 1
    /// thread and on one of 4 gives the same output and gradients, bit for bit.
    #[test]
    fn a_split_gives_the_same_bits_on_any_pool() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1., (9, 8, 8, 3), &dev)?;
        let w = Var::randn(0f32, 0.5, (4, 3, 4, 4), &dev)?;
        let b = Var::randn(0f32, 0.5, 4, &dev)?;
        let window = Window {
            large: (8, 8),
            small: (4, 4),
            c: 3,
        };
        let split = Split {
            block: 2,
            threads: 3,
        };
        let run = |threads: usize| -> Result<Vec<Vec<f32>>> {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
            pool.expect("a thread pool").install(|| {
                let op = ConvOp {
                    window,
                    act: Activation::Tanh,
                    split,
                };
                let y = x.apply_op3(&w, &b, op)?;
                let g = y.sqr()?.sum_all()?.backward()?;
                let all = [
                    &y,
                    g.get(&x).unwrap(),
                    g.get(&w).unwrap(),
                    g.get(&b).unwrap(),
                ];
                all.iter()
                    .map(|t| t.flatten_all()?.to_vec1::<f32>())
                    .collect()
            })
        };
        assert_eq!(run(1)?, run(4)?);
        Ok(())
    }

    const ALL: [Activation; 5] = [
        Activation::None,
        Activation::Relu,
        Activation::Tanh,
        Activation::LeakyRelu,
        Activation::Sigmoid,
    ];

    /// Equal values, and equal gradients of a weighted sum of squares of them, for each of
    /// `ts` (absent from both where the input was detached).
    fn same_gradients(mine: &Tensor, theirs: &Tensor, ts: [&Tensor; 3], tol: f64) -> Result<()> {
        assert_close(mine, theirs, tol)?;
        let weights =
            Tensor::rand(0.5f32, 1.5, mine.shape(), mine.device())?.to_dtype(mine.dtype())?;
        let loss = |y: &Tensor| y.sqr()?.mul(&weights)?.sum_all()?.backward();
        let (gm, gt) = (loss(mine)?, loss(theirs)?);
        for t in ts {
            match (gm.get(t), gt.get(t)) {
                (Some(a), Some(b)) => assert_close(a, b, tol)?,
                (None, None) => {}
                (a, b) => panic!(
                    "a gradient on one side only: {} {}",
                    a.is_some(),
                    b.is_some()
                ),
            }
        }
        Ok(())
    }

    /// Random values in every variable of `vm` (a VarBuilder's `get` starts conv weights at 0).
    /// Seeded, in sorted name order, so that a test sees the same weights on every run.
    fn randomize(vm: &VarMap) -> Result<()> {
        let mut rng = crate::rng::Streams::new(7).stream(crate::rng::Purpose::Init, 0);
        let vars = vm.data().lock().unwrap();
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let var = &vars[name];
            let t = rng.uniform(var.shape().clone(), -0.8, 0.8, var.device())?;
            var.set(&t.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }

    fn assert_close(a: &Tensor, b: &Tensor, tol: f64) -> Result<()> {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (a.to_dtype(DType::F64)?, b.to_dtype(DType::F64)?);
        let d = (&a - &b)?.abs()?.max_all()?.to_scalar::<f64>()?;
        let s = b.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(d <= tol * (1.0 + s), "differ by {d} (scale {s})");
        Ok(())
    }

    /// Every gradient of an encoder and decoder against central finite differences: the plain
    /// ops in f64, the fused CPU ops in f32 (a coarser step, a looser bound: f32 differences
    /// of a sum of 98 squares are good to about 1%).
    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        for (dtype, h, tol) in [(DType::F64, 1e-5, 1e-6), (DType::F32, 1e-2, 1e-2)] {
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, dtype, &dev);
            let enc = ConvEncoder::new(
                vb.pp("e"),
                (1, 7, 7),
                &[3],
                2,
                Activation::Tanh,
                Activation::None,
            )?;
            let dec = ConvDecoder::new(vb.pp("d"), (1, 7, 7), &[3], 2, Activation::Tanh)?;
            randomize(&vm)?;
            let x = crate::rng::Streams::new(8)
                .stream(crate::rng::Purpose::Init, 0)
                .uniform((2, 49), 0., 1., &dev)?;
            let x = x.to_dtype(dtype)?;
            let loss = || -> Result<Tensor> {
                let y = dec.forward_with(&enc.forward_with(&x, &mut Ok)?, &mut Ok)?;
                (y - &x)?.sqr()?.sum_all()?.to_dtype(DType::F64)
            };
            let grads = loss()?.backward()?;
            let vars: Vec<(String, Var)> = vm
                .data()
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let values = |t: &Tensor| t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>();
            for (name, var) in vars {
                let g = values(
                    grads
                        .get(var.as_tensor())
                        .expect("every weight has a gradient"),
                )?;
                let base = values(var.as_tensor())?;
                let set = |v: Vec<f64>| -> Result<()> {
                    var.set(&Tensor::from_vec(v, var.shape(), &dev)?.to_dtype(dtype)?)
                };
                for i in (0..base.len()).step_by(base.len().div_ceil(5)) {
                    let at = |d: f64| -> Result<f64> {
                        let mut v = base.clone();
                        v[i] += d;
                        set(v)?;
                        loss()?.to_scalar::<f64>()
                    };
                    let numeric = (at(h)? - at(-h)?) / (2.0 * h);
                    set(base.clone())?;
                    assert!(
                        (numeric - g[i]).abs() < tol * (1.0 + numeric.abs()),
                        "{dtype:?} {name}[{i}]: {} vs {numeric}",
                        g[i]
                    );
                }
            }
        }
        Ok(())
    }
}
