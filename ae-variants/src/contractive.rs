//! Contractive autoencoder (Rifai et al., "Contractive Auto-Encoders", ICML 2011): the
//! reconstruction loss plus lambda x ||J_f(x)||_F^2, the squared Frobenius norm of the
//! encoder's Jacobian at each training image, which makes the code insensitive to directions
//! the data does not vary in.
//!
//! The norm is exact for the MLP encoder. With layers h_i = a_i(W_i h_{i-1} + b_i), the
//! Jacobian is J = D_m W_m ... D_1 W_1 (D_i the diagonal of a_i' at the layer's
//! pre-activations). It is built from the code back to the first hidden layer as
//! A = D_m W_m ... W_2 D_1, [d_z, h_1] per image, and ||J||^2 = tr(A K A^T) with
//! K = W_1 W_1^T shared by the batch: d_z x h_1^2 multiply-adds per image instead of
//! d_z x h_1 x 784. Every step is a plain candle op, so the penalty's gradient is autograd's.

use crate::backbone::{BuildContext, Recon};
use crate::config::{Arch, ModelConfig};
use crate::deterministic::{Deterministic, Pass, Penalty, Recipe};
use crate::seam::{Autoencoder, VariantConfig};
use ae_core::error::ensure;
use ae_core::layers::Mlp;
use ae_core::metrics::{Metric, NONNEGATIVE};
use ae_core::rng::Rng;
use ae_core::ConfigError;
use anyhow::{Context, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// ||J_f(x)||_F^2 of each image.
pub const JACOBIAN: Metric = Metric::lower("jacobian", NONNEGATIVE);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContractiveConfig {
    pub loss: Recon,
    /// lambda, the weight of ||J_f(x)||_F^2 per image.
    pub contractive_weight: f64,
}

impl Default for ContractiveConfig {
    fn default() -> Self {
        Self {
            loss: Recon::Mse,
            contractive_weight: 1e-4,
        }
    }
}

/// `a` [n, r, k] with its columns scaled by `d` [n, k] (a layer's derivatives), or `a` itself
/// where the derivative is 1.
fn columns_scaled(a: Tensor, d: Option<Tensor>) -> Result<Tensor> {
    Ok(match d {
        Some(d) => a.broadcast_mul(&d.unsqueeze(1)?)?,
        None => a,
    })
}

/// ||J||_F^2 of `mlp` at each row of `x`, [n].
pub fn jacobian_norm(mlp: &Mlp, x: &Tensor) -> Result<Tensor> {
    let n = x.dim(0)?;
    let trace = mlp.trace(x)?;
    let layers = mlp.layers();
    let m = layers.len();
    let derivative = |i: usize| -> Result<Option<Tensor>> {
        let (pre, out) = &trace[i];
        Ok(mlp.activation_at(i).derivative(pre, out)?)
    };
    let weight = |i: usize| ae_core::grad::param(layers[i].weight());
    let w1 = weight(0);
    if m == 1 {
        // J = D_1 W_1: sum_j d_j^2 ||row j of W_1||^2.
        let rows = w1.sqr()?.sum(1)?;
        return Ok(match derivative(0)? {
            Some(d) => d.sqr()?.broadcast_mul(&rows)?.sum(1)?,
            None => rows.sum_all()?.broadcast_as(n)?.contiguous()?,
        });
    }
    // A = D_m W_m D_{m-1} ... W_2 D_1, [n, d_z, h_1]: the code's rows scaled by D_m, then
    // each layer down to the first hidden one.
    let top = weight(m - 1);
    let (dz, below) = top.dims2()?;
    let mut a = top.unsqueeze(0)?.broadcast_as((n, dz, below))?;
    if let Some(d) = derivative(m - 1)? {
        a = a.broadcast_mul(&d.unsqueeze(2)?)?;
    }
    for i in (1..m - 1).rev() {
        let w = weight(i);
        let (out, inp) = w.dims2()?;
        a = columns_scaled(a, derivative(i)?)?
            .contiguous()?
            .reshape((n * dz, out))?
            .matmul(&w)?
            .reshape((n, dz, inp))?;
    }
    let a = columns_scaled(a, derivative(0)?)?.contiguous()?;
    let h1 = w1.dim(0)?;
    // tr(A K A^T) with K = W_1 W_1^T, the one product of the first layer's width squared.
    let k = w1.matmul(&w1.t()?)?;
    let ak = a.reshape((n * dz, h1))?.matmul(&k)?.reshape((n, dz, h1))?;
    Ok((ak * a)?.sum((1, 2))?)
}

impl Recipe for ContractiveConfig {
    fn penalties(&self, pass: &Pass, _rng: &mut Rng) -> Result<Vec<Penalty>> {
        let mlp = pass
            .net
            .encoder
            .mlp()
            .context("the contractive penalty needs the MLP encoder")?;
        Ok(vec![Penalty {
            metric: JACOBIAN,
            weight: self.contractive_weight,
            value: jacobian_norm(mlp, pass.input)?,
        }])
    }

    /// It draws nothing.
    fn draws_one_kind(&self) -> bool {
        true
    }
}

impl VariantConfig for ContractiveConfig {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        let w = self.contractive_weight;
        ensure(
            w >= 0.0 && w.is_finite(),
            "model.contractive_weight",
            || format!("{w} is not allowed: must be >= 0"),
        )?;
        ensure(model.arch == Arch::Mlp, "model.arch", || {
            "`conv` is not allowed with `variant: contractive`: the exact Jacobian is built \
             through the MLP's layers; allowed: mlp"
                .to_string()
        })
    }

    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        Deterministic::build(model, ctx, self.loss, self.clone())
    }
}

#[cfg(test)]
mod tests {
    //! The exact norm against central differences of the encoder in f64, and its gradient
    //! (autograd's, through the norm's ops) against central differences of the norm.
    use super::*;
    use ae_core::activation::Activation;
    use candle_core::{DType, Device, Var};
    use candle_nn::{Module, VarBuilder, VarMap};

    fn tiny(dims: &[usize], act: Activation, last: Activation) -> (VarMap, Mlp) {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
        let mlp = Mlp::new(vb.pp("enc"), dims, act, last).unwrap();
        // Weights of a scale that keeps tanh and sigmoid away from saturation, biases that
        // put some ReLU units off, drawn from a seeded stream.
        let mut rng = ae_core::rng::Streams::new(3).stream(ae_core::rng::Purpose::Init, 0);
        let data = varmap.data().lock().unwrap();
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            let t = rng.normal(var.shape(), &Device::Cpu).unwrap();
            let t = (t.to_dtype(DType::F64).unwrap() * 0.6).unwrap();
            let t = if name.ends_with("bias") {
                (t - 0.2).unwrap()
            } else {
                t
            };
            var.set(&t).unwrap();
        }
        drop(data);
        (varmap, mlp)
    }

    /// sum over inputs j of |(f(x + h e_j) - f(x - h e_j)) / 2h|^2, for each row of `x`.
    fn by_differences(mlp: &Mlp, x: &[Vec<f64>]) -> Vec<f64> {
        let h = 1e-5;
        let f = |v: &[f64]| -> Vec<f64> {
            let t = Tensor::new(v, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            mlp.forward(&t)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        x.iter()
            .map(|row| {
                (0..row.len())
                    .map(|j| {
                        let (mut up, mut down) = (row.clone(), row.clone());
                        up[j] += h;
                        down[j] -= h;
                        f(&up)
                            .iter()
                            .zip(f(&down))
                            .map(|(a, b)| ((a - b) / (2.0 * h)).powi(2))
                            .sum::<f64>()
                    })
                    .sum()
            })
            .collect()
    }

    fn inputs() -> Vec<Vec<f64>> {
        (0..4)
            .map(|i| (0..6).map(|j| ((i * 6 + j) as f64 * 0.37).sin()).collect())
            .collect()
    }

    #[test]
    fn the_norm_is_the_jacobian_by_finite_differences() -> Result<()> {
        use Activation::*;
        let x = inputs();
        let t = Tensor::new(x.clone(), &Device::Cpu)?;
        for (dims, act, last) in [
            (&[6, 5, 4, 3][..], Tanh, None),
            (&[6, 5, 4, 3][..], Relu, Relu),
            (&[6, 8, 3][..], Sigmoid, Tanh),
            (&[6, 5, 4, 3, 2][..], LeakyRelu, Sigmoid),
            (&[6, 3][..], Tanh, Tanh),
            (&[6, 3][..], Tanh, None),
        ] {
            let (_, mlp) = tiny(dims, act, last);
            let got = jacobian_norm(&mlp, &t)?.to_vec1::<f64>()?;
            let want = by_differences(&mlp, &x);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-6 * w.max(1.0),
                    "{dims:?} {act:?}/{last:?}: {got:?} vs {want:?}"
                );
            }
            assert!(want.iter().sum::<f64>() > 1e-2, "{dims:?}: {want:?}");
        }
        Ok(())
    }

    #[test]
    fn its_gradient_is_the_norms_differences() -> Result<()> {
        let x = Tensor::new(inputs(), &Device::Cpu)?;
        let (varmap, mlp) = tiny(&[6, 5, 4, 3], Activation::Tanh, Activation::Sigmoid);
        let penalty =
            || -> Result<f64> { Ok(jacobian_norm(&mlp, &x)?.sum_all()?.to_scalar::<f64>()?) };
        let grads = jacobian_norm(&mlp, &x)?.sum_all()?.backward()?;
        let vars: Vec<(String, Var)> = varmap
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let h = 1e-6;
        for (name, var) in vars {
            let g = grads
                .get(var.as_tensor())
                .expect("every weight has a gradient");
            let g: Vec<f64> = g.flatten_all()?.to_vec1()?;
            let base: Vec<f64> = var.as_tensor().flatten_all()?.to_vec1()?;
            for e in [0, base.len() / 2, base.len() - 1] {
                let at = |delta: f64| -> Result<f64> {
                    let mut v = base.clone();
                    v[e] += delta;
                    var.set(&Tensor::new(v, &Device::Cpu)?.reshape(var.shape())?)?;
                    penalty()
                };
                let fd = (at(h)? - at(-h)?) / (2.0 * h);
                at(0.0)?;
                assert!(
                    (g[e] - fd).abs() < 1e-6 * fd.abs().max(1.0),
                    "{name}[{e}]: {} vs {fd}",
                    g[e]
                );
            }
        }
        Ok(())
    }
}
