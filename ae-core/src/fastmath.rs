//! exp, log(1 + exp(-a)) and tanh in f32 without libm calls, so that a loop over a tensor
//! compiles to SIMD: the IWAE bound's decodings spend most of their time in these per pixel
//! and per hidden unit (libm's log1pf, expm1f and tanhf, one element at a time, were 60% of
//! the k = 5000 bound). Cephes' range reductions and polynomials (as in its expf, logf and
//! tanhf), branch-free; each is checked against f64 on a dense grid below.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that n * LN2_HI is exact for the n that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding it rounds an f32 below 2^22 in magnitude to an integer, kept in the
/// low bits of the sum's mantissa.
const ROUND: f32 = 12_582_912.0;

/// c[0] x^(n-1) + ... + c[n-1] by Horner's rule (unrolled: the coefficients are constants).
#[inline(always)]
fn horner(x: f32, c: &[f32]) -> f32 {
    c.iter().fold(0.0, |acc, &c| acc * x + c)
}

/// e^x, within 1 ulp for x in [-87, 88]; e^-87 below and e^88 above.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = horner(
        r,
        &[
            1.987_569_1e-4,
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            5e-1,
        ],
    );
    let y = p * r * r + r + 1.0;
    // 2^n from the integer in t's mantissa: its bits are 0x4B40_0000 + n.
    let two_n = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
    y * two_n
}

/// ln w for w in [1, 2].
#[inline(always)]
fn ln_1_to_2(w: f32) -> f32 {
    // w = m 2^e with m in [sqrt(1/2), sqrt(2)).
    let high = w > std::f32::consts::SQRT_2;
    let (m, e) = if high { (w * 0.5, 1.0) } else { (w, 0.0) };
    let x = m - 1.0;
    let z = x * x;
    let p = horner(
        x,
        &[
            7.037_683_6e-2,
            -1.151_461e-1,
            1.167_699_9e-1,
            -1.242_014_1e-1,
            1.424_932_3e-1,
            -1.666_805_8e-1,
            2.000_071_4e-1,
            -2.499_999_4e-1,
            3.333_333e-1,
        ],
    );
    let y = p * x * z + e * LN2_LO - 0.5 * z;
    x + y + e * LN2_HI
}

/// log(1 + e^-a) for a >= 0, within 2 ulp: the tail of softplus, which is max(l, 0) + this
/// at |l|.
#[inline(always)]
pub fn ln_1p_exp_neg(a: f32) -> f32 {
    let u = exp(-a);
    let w = 1.0 + u;
    // log1p(u) = ln(w) u / (w - 1), exact in the rounding of w (Goldberg); u itself where w
    // rounds to 1.
    if w == 1.0 {
        u
    } else {
        ln_1_to_2(w) * (u / (w - 1.0))
    }
}

/// tanh x, within 2 ulp.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs().min(10.0);
    let z = x * x;
    let p = horner(
        z,
        &[
            -5.704_988_7e-3,
            2.063_909e-2,
            -5.373_971_6e-2,
            1.333_144_2e-1,
            -3.333_328e-1,
        ],
    );
    let small = p * z * x + x;
    let large = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        large
    }
}

/// Whether kernels can take their AVX2 build: 8 lanes where the x86-64 baseline the crate
/// is compiled for has SSE2's 4. The same operations run lane by lane either way, so the
/// two builds give the same bits.
#[inline]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 400001 evenly spaced points of [lo, hi].
    fn grid(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
        (0..=400_000).map(move |i| lo + (hi - lo) * (i as f32 / 400_000.0))
    }

    /// The largest error relative to the f64 value, in units of f32 epsilon.
    fn worst(f: impl Fn(f32) -> f32, g: impl Fn(f64) -> f64, xs: impl Iterator<Item = f32>) -> f64 {
        xs.map(|x| {
            let want = g(x as f64);
            (f(x) as f64 - want).abs() / want.abs() / f32::EPSILON as f64
        })
        .fold(0.0, f64::max)
    }

    #[test]
    fn exp_is_within_two_ulp() {
        assert!(worst(exp, f64::exp, grid(-87.0, 88.0)) < 2.0);
        assert!(worst(exp, f64::exp, grid(-1.0, 1.0)) < 2.0);
        assert_eq!(exp(-200.0), exp(-87.0));
        assert_eq!(exp(1000.0), exp(88.0));
    }

    #[test]
    fn softplus_tail_is_within_two_ulp() {
        let want = |a: f64| (-a).exp().ln_1p();
        assert!(worst(ln_1p_exp_neg, want, grid(0.0, 30.0)) < 2.0);
        assert!(worst(ln_1p_exp_neg, want, grid(0.0, 80.0)) < 2.0);
        assert!(worst(ln_1p_exp_neg, want, grid(0.0, 0.01)) < 2.0);
    }

    /// libm's tanhf is 1.3 ulp off on the same grid.
    #[test]
    fn tanh_is_within_two_ulp_and_saturates() {
        assert!(worst(tanh, f64::tanh, grid(-10.0, 10.0)) < 2.0);
        assert!(worst(tanh, f64::tanh, grid(-1e-3, 1e-3)) < 2.0);
        assert!(worst(tanh, f64::tanh, grid(0.6, 0.65)) < 2.0);
        assert_eq!((tanh(20.0), tanh(-20.0), tanh(0.0)), (1.0, -1.0, 0.0));
    }
}
