//! The activations of every layer, each written once: a scalar forward and a derivative read
//! off the output, which the fused CPU layers (`dense`, `conv`) use, and the tensor forward in
//! candle ops, which every other device and dtype use.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// Slope of `LeakyRelu` below zero.
const LEAK: f32 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    Tanh,
    /// Slope 0.2, as in most GAN discriminators.
    LeakyRelu,
    /// Outputs in (0, 1), for codes meant to be read as probabilities.
    Sigmoid,
    /// No non-linearity (a linear code).
    None,
}

impl Activation {
    /// The activation as candle ops: the path for CUDA, f64 and anything candle can trace.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Relu => x.relu(),
            Self::Tanh => x.tanh(),
            Self::LeakyRelu => candle_nn::ops::leaky_relu(x, LEAK as f64),
            Self::Sigmoid => candle_nn::ops::sigmoid(x),
            Self::None => Ok(x.clone()),
        }
    }

    /// The derivative at each pre-activation `pre` (whose activation is `out`) as candle ops
    /// that can be differentiated again, for penalties on a Jacobian; None for the identity.
    pub fn derivative(self, pre: &Tensor, out: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(match self {
            Self::Relu => pre.gt(0.0)?.to_dtype(pre.dtype())?,
            Self::Tanh => out.sqr()?.affine(-1.0, 1.0)?,
            Self::LeakyRelu => pre
                .gt(0.0)?
                .to_dtype(pre.dtype())?
                .affine(1.0 - LEAK as f64, LEAK as f64)?,
            Self::Sigmoid => (out * out.affine(-1.0, 1.0)?)?,
            Self::None => return Ok(None),
        }))
    }

    /// The activation of one pre-activation value (tanh without libm, so that a layer's
    /// outputs are activated in SIMD by [`Self::forward_slice`]).
    #[inline(always)]
    pub fn forward(self, x: f32) -> f32 {
        match self {
            Self::Relu => x.max(0.0),
            Self::Tanh => crate::fastmath::tanh(x),
            Self::LeakyRelu => x.max(LEAK * x),
            Self::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Self::None => x,
        }
    }

    /// [`Self::forward`] in place over pre-activations, in the AVX2 build of
    /// [`Self::forward_slice_in`] where the CPU has one.
    pub fn forward_slice(self, y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::fastmath::avx2() {
            #[target_feature(enable = "avx2")]
            fn wide(act: Activation, y: &mut [f32]) {
                act.forward_slice_in(y)
            }
            // SAFETY: the CPU has AVX2.
            return unsafe { wide(self, y) };
        }
        self.forward_slice_in(y)
    }

    /// One loop per kind (the kind matched once, not per element), so that each compiles
    /// to SIMD.
    #[inline(always)]
    fn forward_slice_in(self, y: &mut [f32]) {
        fn each(y: &mut [f32], f: impl Fn(f32) -> f32) {
            y.iter_mut().for_each(|v| *v = f(*v));
        }
        match self {
            Self::Relu => each(y, |x| Self::Relu.forward(x)),
            Self::Tanh => each(y, |x| Self::Tanh.forward(x)),
            Self::LeakyRelu => each(y, |x| Self::LeakyRelu.forward(x)),
            Self::Sigmoid => each(y, |x| Self::Sigmoid.forward(x)),
            Self::None => {}
        }
    }

    /// `dz = dy * act'` at every element, the derivative read off the output `y`: the
    /// backward pass of the fused CPU layers.
    pub fn backward_slice(self, y: &[f32], dy: &[f32], dz: &mut [f32]) {
        match self {
            Self::None => dz.copy_from_slice(dy),
            act => {
                let each = dz.iter_mut().zip(dy).zip(y);
                each.for_each(|((z, &d), &y)| *z = d * act.derivative_from_output(y));
            }
        }
    }

    /// The derivative at the pre-activation whose output is `y`: a backward pass needs only
    /// the output, so the pre-activation need not be kept.
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Self::Relu => f32::from(y > 0.0),
            Self::Tanh => 1.0 - y * y,
            Self::LeakyRelu => {
                if y > 0.0 {
                    1.0
                } else {
                    LEAK
                }
            }
            Self::Sigmoid => y * (1.0 - y),
            Self::None => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    const ALL: [Activation; 5] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::None,
    ];

    /// The scalar forward (the fused layer's) and the tensor forward (everyone else's) agree.
    #[test]
    fn scalar_forward_matches_tensor_forward() -> Result<()> {
        let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.25).collect();
        let t = Tensor::new(xs.as_slice(), &Device::Cpu)?;
        for act in ALL {
            let tensor = act.apply(&t)?.to_vec1::<f32>()?;
            for (x, want) in xs.iter().zip(&tensor) {
                let got = act.forward(*x);
                assert!((got - want).abs() < 1e-6, "{act:?}({x}): {got} vs {want}");
            }
        }
        Ok(())
    }

    /// A layer's outputs activated in place (SIMD, and the AVX2 build where this CPU has
    /// it) are the scalar forward's bits.
    #[test]
    fn slice_forward_is_the_scalar_forward() {
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 3e-3).collect();
        for act in ALL {
            let mut ys = xs.clone();
            act.forward_slice(&mut ys);
            for (x, y) in xs.iter().zip(&ys) {
                assert_eq!(y.to_bits(), act.forward(*x).to_bits(), "{act:?}({x})");
            }
        }
    }

    /// The derivative from the output against central differences of the scalar forward,
    /// away from relu's and leaky relu's kink.
    #[test]
    fn derivative_from_output_matches_finite_differences() {
        let h = 1e-3f64;
        for act in ALL {
            for i in (-30..=30).filter(|i| *i != 0) {
                let x = i as f64 * 0.2;
                let f = |x: f64| act.forward(x as f32) as f64;
                let fd = (f(x + h) - f(x - h)) / (2.0 * h);
                let got = act.derivative_from_output(act.forward(x as f32)) as f64;
                assert!((got - fd).abs() < 2e-3, "{act:?}'({x}): {got} vs {fd}");
            }
        }
    }

    /// The tensor derivative (a Jacobian penalty's) is the fused backward's, from the output.
    #[test]
    fn tensor_derivative_is_the_scalar_one() -> Result<()> {
        let xs: Vec<f64> = (-30..=30).map(|i| i as f64 * 0.2).collect();
        let pre = Tensor::new(xs.as_slice(), &Device::Cpu)?;
        for act in ALL {
            let out = act.apply(&pre)?;
            let got = match act.derivative(&pre, &out)? {
                Some(d) => d.to_vec1::<f64>()?,
                None => vec![1.0; xs.len()],
            };
            for ((x, y), g) in xs.iter().zip(out.to_vec1::<f64>()?).zip(got) {
                let want = act.derivative_from_output(y as f32) as f64;
                assert!((g - want).abs() < 1e-6, "{act:?}'({x}): {g} vs {want}");
            }
        }
        Ok(())
    }

    /// The names a config file uses.
    #[test]
    fn serde_names_are_the_documented_ones() {
        use serde::de::value::{Error, StrDeserializer};
        let names = ["relu", "tanh", "leaky_relu", "sigmoid", "none"];
        for (name, act) in names.into_iter().zip(ALL) {
            let parsed = Activation::deserialize(StrDeserializer::<Error>::new(name));
            assert_eq!(parsed, Ok(act), "{name}");
        }
    }
}
