//! MLP encoders, decoders and discriminators on candle-nn's `VarBuilder`, with PyTorch's
//! default initialisation drawn from the run's own seeded stream.

use crate::activation::Activation;
use crate::dense::dense_layer;
use crate::rng::Rng;
use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// `torch.nn.Linear`'s default: weight and bias uniform in +-1/sqrt(fan_in).
    Pytorch,
    /// Glorot uniform weights, zero biases.
    XavierUniform,
}

/// A stack of linear layers with an activation between them; `last` is the activation after
/// the final layer (the seed's encoder has a ReLU on its code, a decoder emits logits).
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
    last: Activation,
}

impl Mlp {
    /// Layers `{prefix}.0`, `{prefix}.1`, ... with widths `dims[0] -> dims[1] -> ...`.
    pub fn new(
        vb: VarBuilder,
        dims: &[usize],
        activation: Activation,
        last: Activation,
    ) -> Result<Self> {
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| candle_nn::linear(w[0], w[1], vb.pp(i.to_string())))
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            activation,
            last,
        })
    }

    /// Two times the multiply-adds of one row's forward pass.
    pub fn flops(&self) -> usize {
        self.layers
            .iter()
            .map(|l| 2 * l.weight().dims().iter().product::<usize>())
            .sum()
    }

    /// The forward pass with `hidden(x)` applied to each hidden activation (dropout, say).
    pub fn forward_with(
        &self,
        x: &Tensor,
        mut hidden: impl FnMut(Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            h = if i + 1 == n {
                dense_layer(&h, layer, self.last)?
            } else {
                hidden(dense_layer(&h, layer, self.activation)?)?
            };
        }
        Ok(h)
    }
}

impl Mlp {
    /// The linear layers, first to last, for penalties that need the weights (a Jacobian).
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The activation after layer `i` (0-based): `last` after the final one.
    pub fn activation_at(&self, i: usize) -> Activation {
        if i + 1 == self.layers.len() {
            self.last
        } else {
            self.activation
        }
    }

    /// Each layer's pre-activation and activation on `x`, first to last, computed with plain
    /// candle ops (so that they can be differentiated again, as a Jacobian penalty needs).
    /// The last activation equals [`Module::forward`]'s output.
    pub fn trace(&self, x: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
        let mut h = x.clone();
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let w = crate::grad::param(layer.weight());
            let b = layer.bias().map(crate::grad::param);
            let mut pre = h.matmul(&w.t()?)?;
            if let Some(b) = b {
                pre = pre.broadcast_add(&b)?;
            }
            h = self.activation_at(i).apply(&pre)?;
            out.push((pre, h.clone()));
        }
        Ok(out)
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, Ok)
    }
}

/// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1-p),
/// with the mask drawn from the run's stream.
pub fn dropout(x: &Tensor, p: f32, rng: &mut Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = rng.bernoulli(x.shape(), 1.0 - p, x.device())?;
    x * (keep * (1.0 / (1.0 - p as f64)))?
}

/// The labels `labels` (any integer dtype, [n]) as rows of `classes` f32 indicators, [n,
/// classes], for a model conditioned on the class. Built on the labels' device by comparison
/// with 0..classes, so that no label is read back to the host; a label >= `classes` gives a
/// row of zeros.
pub fn one_hot(labels: &Tensor, classes: usize) -> Result<Tensor> {
    let dev = labels.device();
    let labels = labels.to_dtype(candle_core::DType::U32)?.unsqueeze(1)?;
    let all = Tensor::arange(0u32, classes as u32, dev)?.unsqueeze(0)?;
    labels.broadcast_eq(&all)?.to_dtype(candle_core::DType::F32)
}

/// Re-draws every variable of `varmap` from `rng`, in the order of their sorted names (the
/// map is a HashMap), so that a seed gives the same weights on every run and device.
pub fn initialize(varmap: &VarMap, rng: &mut Rng, init: Init) -> Result<()> {
    let vars = varmap.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let dims = var.dims().to_vec();
        // A bias takes its bound from its layer's weight: [out, in].
        let weight_dims = match name.strip_suffix(".bias") {
            Some(stem) => vars
                .get(&format!("{stem}.weight"))
                .map(|w| w.dims().to_vec())
                .unwrap_or(dims.clone()),
            None => dims.clone(),
        };
        let (fan_out, fan_in) = match weight_dims[..] {
            [o, i] => (o, i),
            [o] => (o, o),
            _ => (weight_dims[0], weight_dims[1..].iter().product()),
        };
        let is_bias = name.ends_with(".bias");
        let t = match init {
            Init::Pytorch => {
                let b = 1.0 / (fan_in as f32).sqrt();
                rng.uniform(dims.as_slice(), -b, b, var.device())?
            }
            Init::XavierUniform if is_bias => {
                Tensor::zeros(dims.as_slice(), var.dtype(), var.device())?
            }
            Init::XavierUniform => {
                let b = (6.0 / (fan_in + fan_out) as f32).sqrt();
                rng.uniform(dims.as_slice(), -b, b, var.device())?
            }
        };
        var.set(&t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_by_hand() -> Result<()> {
        let dev = candle_core::Device::Cpu;
        let labels = Tensor::new(&[2u8, 0, 3, 2], &dev)?;
        let got: Vec<Vec<f32>> = one_hot(&labels, 4)?.to_vec2()?;
        let want = [
            [0., 0., 1., 0.],
            [1., 0., 0., 0.],
            [0., 0., 0., 1.],
            [0., 0., 1., 0.],
        ];
        assert_eq!(got, want);
        // u32 labels, as the data splits hold them, give the same rows.
        let same: Vec<Vec<f32>> =
            one_hot(&labels.to_dtype(candle_core::DType::U32)?, 4)?.to_vec2()?;
        assert_eq!(same, want);
        Ok(())
    }

    #[test]
    fn the_trace_ends_in_the_forward_pass_and_its_pre_activations_are_affine() -> Result<()> {
        let dev = candle_core::Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &dev);
        let mlp = Mlp::new(vb, &[5, 4, 3], Activation::Tanh, Activation::Sigmoid)?;
        initialize(
            &varmap,
            &mut crate::rng::Streams::new(1).stream(crate::rng::Purpose::Init, 0),
            Init::Pytorch,
        )?;
        let x = Tensor::new(
            &[[0.1f32, -0.4, 0.3, 0.9, -1.0], [1.0, 0.0, 0.5, -0.2, 0.1]],
            &dev,
        )?;
        let trace = mlp.trace(&x)?;
        assert_eq!(trace.len(), 2);
        let gap = |a: &Tensor, b: &Tensor| -> Result<f32> {
            (a - b)?.abs()?.max_all()?.to_scalar::<f32>()
        };
        assert!(gap(&trace[1].1, &mlp.forward(&x)?)? < 1e-6);
        // Layer 0 by hand: tanh(x W^T + b).
        let l = &mlp.layers()[0];
        let pre = x
            .matmul(&l.weight().t()?)?
            .broadcast_add(l.bias().unwrap())?;
        assert!(gap(&trace[0].0, &pre)? < 1e-6);
        assert!(gap(&trace[0].1, &pre.tanh()?)? < 1e-6);
        Ok(())
    }
    use crate::rng::{Purpose, Streams};
    use candle_core::{DType, Device};

    fn build(seed: u64) -> Result<(VarMap, Mlp)> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let mlp = Mlp::new(vb.pp("enc"), &[8, 5, 3], Activation::Relu, Activation::None)?;
        initialize(
            &vm,
            &mut Streams::new(seed).stream(Purpose::Init, 0),
            Init::Pytorch,
        )?;
        Ok((vm, mlp))
    }

    #[test]
    fn pytorch_init_is_seeded_and_bounded() -> Result<()> {
        let (a, _) = build(1)?;
        let (b, _) = build(1)?;
        let w = |vm: &VarMap, n: &str| {
            vm.data().lock().unwrap()[n]
                .as_tensor()
                .flatten_all()?
                .to_vec1::<f32>()
        };
        assert_eq!(w(&a, "enc.0.weight")?, w(&b, "enc.0.weight")?);
        let bound = 1.0 / 8f32.sqrt();
        let w0 = w(&a, "enc.0.weight")?;
        assert!(w0.iter().all(|v| v.abs() <= bound));
        assert!(w0.iter().any(|v| v.abs() > 0.5 * bound));
        let b1 = w(&a, "enc.1.bias")?;
        assert!(b1.iter().all(|v| v.abs() <= 1.0 / 5f32.sqrt()));
        Ok(())
    }

    #[test]
    fn no_grad_records_nothing_and_changes_no_value() -> Result<()> {
        let (_vm, mlp) = build(3)?;
        let x = Tensor::new(&[[1f32, -2., 0.5, 0., 3., -1., 2., 1.]], &Device::Cpu)?;
        let tracked = mlp.forward(&x)?;
        let untracked = crate::grad::no_grad(|| mlp.forward(&x))?;
        assert!(tracked.track_op() && !untracked.track_op());
        assert_eq!(tracked.to_vec2::<f32>()?, untracked.to_vec2::<f32>()?);
        // Tracking is back on afterwards.
        assert!(mlp.forward(&x)?.track_op());
        Ok(())
    }

    #[test]
    fn forward_matches_a_hand_computation() -> Result<()> {
        let (vm, mlp) = build(2)?;
        let x = Tensor::new(&[[1f32, -2., 0.5, 0., 3., -1., 2., 1.]], &Device::Cpu)?;
        let get = |n: &str| vm.data().lock().unwrap()[n].as_tensor().clone();
        let (w0, b0, w1, b1) = (
            get("enc.0.weight").to_vec2::<f32>()?,
            get("enc.0.bias").to_vec1::<f32>()?,
            get("enc.1.weight").to_vec2::<f32>()?,
            get("enc.1.bias").to_vec1::<f32>()?,
        );
        let xv = x.to_vec2::<f32>()?[0].clone();
        let h: Vec<f32> = (0..5)
            .map(|o| (b0[o] + (0..8).map(|i| w0[o][i] * xv[i]).sum::<f32>()).max(0.0))
            .collect();
        let y: Vec<f32> = (0..3)
            .map(|o| b1[o] + (0..5).map(|i| w1[o][i] * h[i]).sum::<f32>())
            .collect();
        let got = mlp.forward(&x)?.to_vec2::<f32>()?[0].clone();
        for (g, w) in got.iter().zip(&y) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {y:?}");
        }
        Ok(())
    }
}
