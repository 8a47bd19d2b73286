//! Floating-point types and kernels for batches kept in SIMD lanes.
//!
//! A batch chunk of `L` trials is stored unit-major with the trials innermost: a state is a
//! slice of `[T; L]`, one lane array per unit. Each unit's update is then a contiguous
//! `L`-wide vector operation that the compiler vectorises, and a weight gradient is a sum of
//! lane-wise products, blocked like a matrix product.
//!
//! Every kernel is `#[inline(always)]` and takes a `FUSED` flag: the callers compile one
//! copy with `a.mul_add(b, c)` inside a `#[target_feature(enable = "avx2,fma")]` function,
//! chosen at run time, and one with `a * b + c` for the baseline target. The summation order
//! is fixed by the loop structure alone, so a result does not depend on how chunks are
//! spread over threads.

use std::any::Any;
use std::cell::RefCell;
use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point type the batched engines run in: `f32` or `f64`.
///
/// The trait is sealed; its methods are the few operations the kernels need.
pub trait Real:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + serde::Serialize
    + serde::de::DeserializeOwned
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Name of the type, `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(value: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Returns whether the value is neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// Replaces every lane `x` (which must be <= 0) by `exp(x)`, with stage-by-stage loops
    /// over the lanes that the compiler vectorises; see the implementations for the error.
    fn exp_nonpositive_lanes<const L: usize>(x: &mut [Self; L]);
    /// Larger of two values (`b` if `self` is NaN).
    fn max(self, b: Self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// `self * b + c`, fused into one rounding if `FUSED`.
    fn madd<const FUSED: bool>(self, b: Self, c: Self) -> Self;
}

/// Implements [`Real`] for a float type. `exp_nonpositive_lanes` uses the Cody-Waite
/// reduction `x = k ln 2 + r`, `|r| <= ln(2) / 2`, and a Taylor polynomial for `exp(r)`
/// (coefficients from the highest degree down). Arguments below `$lowest` are raised to it,
/// so that `2^k` stays a normal number.
macro_rules! impl_real {
    ($t:ident, $bits:ty, $shifter:expr, $ln2_hi:expr, $ln2_lo:expr, $lowest:expr,
     $exponent_bias:expr, $mantissa_bits:expr, [$first:expr, $($coefficient:expr),+ $(,)?]) => {
        impl Real for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const NAME: &'static str = stringify!($t);

            #[inline(always)]
            #[allow(clippy::unnecessary_cast)]
            fn from_f64(value: f64) -> $t {
                value as $t
            }

            #[inline(always)]
            #[allow(clippy::unnecessary_cast)]
            fn to_f64(self) -> f64 {
                self as f64
            }

            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }

            #[inline(always)]
            fn exp_nonpositive_lanes<const L: usize>(x: &mut [$t; L]) {
                const SHIFTER: $t = $shifter;
                const LN2_HI: $t = $ln2_hi;
                const LN2_LO: $t = $ln2_lo;
                let mut shifted = [0.0; L];
                let mut r = [0.0; L];
                for lane in 0..L {
                    x[lane] = x[lane].max($lowest);
                    shifted[lane] = x[lane] * std::$t::consts::LOG2_E + SHIFTER;
                    let k = shifted[lane] - SHIFTER;
                    r[lane] = (x[lane] - k * LN2_HI) - k * LN2_LO;
                }
                let mut p = [$first; L];
                for coefficient in [$($coefficient),+] {
                    for lane in 0..L {
                        p[lane] = p[lane] * r[lane] + coefficient;
                    }
                }
                // Adding 1.5 * 2^(mantissa bits) left k as a two's-complement integer in the
                // low bits of `shifted`; shifting it into the exponent field gives 2^k.
                let mut scale: [$bits; L] = [0; L];
                for lane in 0..L {
                    scale[lane] = shifted[lane].to_bits().wrapping_add($exponent_bias) << $mantissa_bits;
                }
                for lane in 0..L {
                    x[lane] = p[lane] * $t::from_bits(scale[lane]);
                }
            }

            #[inline(always)]
            fn max(self, b: $t) -> $t {
                $t::max(self, b)
            }

            #[inline(always)]
            fn abs(self) -> $t {
                $t::abs(self)
            }

            #[inline(always)]
            fn madd<const FUSED: bool>(self, b: $t, c: $t) -> $t {
                if FUSED {
                    self.mul_add(b, c)
                } else {
                    self * b + c
                }
            }
        }
    };
}

// Degree 13: the truncation error 0.347^14 / 14! is below 5e-18. Raising arguments below
// -708 changes only results below 4e-308.
impl_real!(
    f64,
    u64,
    6_755_399_441_055_744.0,
    6.931_471_803_691_238e-1,
    1.908_214_929_270_587_7e-10,
    -708.0,
    1023,
    52,
    [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ]
);

// Degree 7: the truncation error 0.347^8 / 8! is below 6e-9. Raising arguments below -87
// changes only results below 2e-38.
impl_real!(
    f32,
    u32,
    12_582_912.0,
    0.693_145_75,
    1.428_606_8e-6,
    -87.0,
    127,
    23,
    [
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0
    ]
);

/// Writes the logistic `1 / (1 + exp(-x))` of every lane of `x` into `value` and
/// `e = exp(-|x|)` into `e`.
///
/// The exponential only gets non-positive arguments, so it cannot overflow; the value is
/// finite for every finite `x`. The derivative is `e / (1 + e)^2`.
#[inline(always)]
pub(crate) fn logistic_lanes<T: Real, const L: usize>(
    x: &[T; L],
    value: &mut [T; L],
    e: &mut [T; L],
) {
    for lane in 0..L {
        e[lane] = -x[lane].abs();
    }
    T::exp_nonpositive_lanes(e);
    for lane in 0..L {
        let denominator = T::ONE + e[lane];
        let numerator = if x[lane] >= T::ZERO { T::ONE } else { e[lane] };
        value[lane] = numerator / denominator;
    }
}

/// Writes the logistic of every lane of `x` into `value` and its derivative
/// `e / (1 + e)^2`, `e = exp(-|x|)`, into `slope`, with one division per lane.
#[inline(always)]
pub(crate) fn logistic_slope_lanes<T: Real, const L: usize>(
    x: &[T; L],
    value: &mut [T; L],
    slope: &mut [T; L],
) {
    let mut e = [T::ZERO; L];
    for lane in 0..L {
        e[lane] = -x[lane].abs();
    }
    T::exp_nonpositive_lanes(&mut e);
    for lane in 0..L {
        let inverse = T::ONE / (T::ONE + e[lane]);
        let small = e[lane] * inverse;
        value[lane] = if x[lane] >= T::ZERO { inverse } else { small };
        slope[lane] = small * inverse;
    }
}

/// `out[r] += sum_k w[r * n_cols + k] * input[k]` for every row `r`, lane by lane.
///
/// `w` is row-major with `out.len()` rows and `n_cols = input.len()` columns. Rows are
/// taken four at a time so that each loaded input vector feeds four accumulators.
#[inline(always)]
pub(crate) fn gemv_lanes<T: Real, const L: usize, const FUSED: bool>(
    w: &[T],
    input: &[[T; L]],
    out: &mut [[T; L]],
) {
    let n_cols = input.len();
    let n_rows = out.len();
    debug_assert_eq!(w.len(), n_rows * n_cols);
    let mut row = 0;
    while row + 4 <= n_rows {
        let mut acc = [out[row], out[row + 1], out[row + 2], out[row + 3]];
        let rows = [
            &w[row * n_cols..(row + 1) * n_cols],
            &w[(row + 1) * n_cols..(row + 2) * n_cols],
            &w[(row + 2) * n_cols..(row + 3) * n_cols],
            &w[(row + 3) * n_cols..(row + 4) * n_cols],
        ];
        for (k, v) in input.iter().enumerate() {
            for (a, weights) in acc.iter_mut().zip(&rows) {
                let weight = weights[k];
                for lane in 0..L {
                    a[lane] = weight.madd::<FUSED>(v[lane], a[lane]);
                }
            }
        }
        out[row..row + 4].copy_from_slice(&acc);
        row += 4;
    }
    while row < n_rows {
        let mut acc = out[row];
        let weights = &w[row * n_cols..(row + 1) * n_cols];
        for (v, &weight) in input.iter().zip(weights) {
            for lane in 0..L {
                acc[lane] = weight.madd::<FUSED>(v[lane], acc[lane]);
            }
        }
        out[row] = acc;
        row += 1;
    }
}

/// `out[i * b_width + j] += sum_t sum_lane a[t][i][lane] * b[t][j][lane]`.
///
/// `a` contains `n_steps` rows of `a_width` lane arrays, `b` the same number of rows of
/// `b_width`. The sum runs over `k = (t, lane)` in that order, as a matrix product: `a` is
/// transposed to `(a_width, K)` rows, `b` is cut into blocks of `L` columns laid out as
/// `(K)` lane arrays, and each block is one [`gemv_lanes`] call whose lanes are now columns.
#[inline(always)]
pub(crate) fn outer_sum_lanes<T: Real, const L: usize, const FUSED: bool>(
    a: &[[T; L]],
    a_width: usize,
    b: &[[T; L]],
    b_width: usize,
    out: &mut [T],
    scratch: &mut OuterScratch<T, L>,
) {
    if a_width == 0 || b_width == 0 {
        return;
    }
    let n_steps = a.len() / a_width;
    debug_assert_eq!(b.len(), n_steps * b_width);
    debug_assert_eq!(out.len(), a_width * b_width);
    let k_len = n_steps * L;
    let OuterScratch { a_t, block, acc } = scratch;
    resize(a_t, a_width * k_len, T::ZERO);
    resize(block, k_len, [T::ZERO; L]);
    resize(acc, a_width, [T::ZERO; L]);
    for (t, row) in a.chunks_exact(a_width).enumerate() {
        for (i, lanes) in row.iter().enumerate() {
            a_t[i * k_len + t * L..i * k_len + (t + 1) * L].copy_from_slice(lanes);
        }
    }
    for first in (0..b_width).step_by(L) {
        let width = L.min(b_width - first);
        for (t, row) in b.chunks_exact(b_width).enumerate() {
            for lane in 0..L {
                let column = &mut block[t * L + lane];
                for jj in 0..width {
                    column[jj] = row[first + jj][lane];
                }
            }
        }
        acc.fill([T::ZERO; L]);
        gemv_lanes::<T, L, FUSED>(a_t, block, acc);
        for (i, sums) in acc.iter().enumerate() {
            for (o, &sum) in out[i * b_width + first..i * b_width + first + width]
                .iter_mut()
                .zip(sums)
            {
                *o += sum;
            }
        }
    }
}

/// Buffers of [`outer_sum_lanes`], kept between calls. Columns of `block` beyond the
/// current width hold stale values, which only reach accumulator lanes that are discarded.
pub(crate) struct OuterScratch<T, const L: usize> {
    a_t: Vec<T>,
    block: Vec<[T; L]>,
    acc: Vec<[T; L]>,
}

impl<T, const L: usize> Default for OuterScratch<T, L> {
    fn default() -> Self {
        OuterScratch {
            a_t: Vec::new(),
            block: Vec::new(),
            acc: Vec::new(),
        }
    }
}

/// Sets the length of a buffer whose entries the caller overwrites before reading.
#[inline(always)]
pub(crate) fn resize<V: Copy>(buffer: &mut Vec<V>, len: usize, fill: V) {
    buffer.truncate(len);
    buffer.resize(len, fill);
}

/// `out[i] += sum_t sum_lane a[t][i][lane]`, with lane accumulators summed at the end.
#[inline(always)]
pub(crate) fn row_sum_lanes<T: Real, const L: usize>(a: &[[T; L]], width: usize, out: &mut [T]) {
    if width == 0 {
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let mut acc = [T::ZERO; L];
        for row in a.chunks_exact(width) {
            for lane in 0..L {
                acc[lane] += row[i][lane];
            }
        }
        *o += acc.iter().fold(T::ZERO, |sum, &x| sum + x);
    }
}

thread_local! {
    /// The last chunk buffers this thread used, of whichever type.
    static THREAD_BUFFERS: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's buffers of type `B`, kept between calls so that training
/// does not allocate and fault in fresh memory every iteration. The buffers are created
/// if the thread last used another type or if they are already in use.
pub(crate) fn with_thread_buffers<B: Default + 'static, R>(f: impl FnOnce(&mut B) -> R) -> R {
    THREAD_BUFFERS.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return f(&mut B::default());
        };
        if !slot.as_ref().is_some_and(|b| b.is::<B>()) {
            *slot = Some(Box::new(B::default()));
        }
        let buffers = slot
            .as_mut()
            .and_then(|b| b.downcast_mut::<B>())
            .expect("buffers of this type were just stored");
        f(buffers)
    })
}

/// Returns whether this CPU runs the `avx2,fma` copies of the kernels.
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_f64() {
        // Degree-13 Taylor on |r| <= 0.347 plus about 13 roundings in Horner's scheme: the
        // relative error stays within a few ulp, so 1e-15 relative.
        for i in 0..=20_000 {
            let x = -700.0 * i as f64 / 20_000.0;
            let exact = x.exp();
            let mut lanes = [x; 4];
            f64::exp_nonpositive_lanes(&mut lanes);
            let fast = lanes[3];
            assert!(
                ((fast - exact) / exact).abs() < 1e-15,
                "x = {x}: {fast:e} vs {exact:e}"
            );
        }
    }

    #[test]
    fn exp_matches_std_f32() {
        // Degree 7 truncation below 6e-9 plus f32 rounding: 1e-6 relative (about 8 ulp).
        for i in 0..=20_000 {
            let x = -87.0 * i as f32 / 20_000.0;
            let exact = f64::from(x).exp();
            let mut lanes = [x; 8];
            f32::exp_nonpositive_lanes(&mut lanes);
            let fast = f64::from(lanes[5]);
            assert!(
                ((fast - exact) / exact).abs() < 1e-6,
                "x = {x}: {fast:e} vs {exact:e}"
            );
        }
    }

    #[test]
    fn logistic_lane_finite_in_tails() {
        let x = [1e300, -1e300, f64::MAX, f64::MIN, 800.0, -800.0];
        let (mut value, mut e) = ([0.0; 6], [0.0; 6]);
        logistic_lanes(&x, &mut value, &mut e);
        for lane in 0..6 {
            assert!((0.0..=1.0).contains(&value[lane]), "{}", x[lane]);
            assert!(e[lane].is_finite(), "{}", x[lane]);
            assert!(e[lane] >= 0.0, "{}", x[lane]);
        }
        assert_eq!(value[0], 1.0);
        assert!(value[1] < 1e-300);
        let x = [1e30f32, -1e30, f32::MAX, f32::MIN, 100.0, -100.0];
        let (mut value, mut e) = ([0.0; 6], [0.0; 6]);
        logistic_lanes(&x, &mut value, &mut e);
        for lane in 0..6 {
            assert!((0.0..=1.0).contains(&value[lane]), "{}", x[lane]);
            assert!(e[lane].is_finite(), "{}", x[lane]);
            assert!(e[lane] >= 0.0, "{}", x[lane]);
        }
    }

    #[test]
    fn gemv_and_outer_sum_match_plain_loops() {
        // Integer-valued data: every product and sum is exact, so equality is exact.
        const L: usize = 4;
        let (rows, cols, steps) = (7, 5, 3);
        let w: Vec<f64> = (0..rows * cols).map(|k| (k % 7) as f64 - 3.0).collect();
        let input: Vec<[f64; L]> = (0..cols)
            .map(|k| std::array::from_fn(|l| (k + 2 * l) as f64 - 4.0))
            .collect();
        let mut out = vec![[1.0; L]; rows];
        gemv_lanes::<f64, L, false>(&w, &input, &mut out);
        for r in 0..rows {
            for l in 0..L {
                let expected: f64 = 1.0
                    + (0..cols)
                        .map(|k| w[r * cols + k] * input[k][l])
                        .sum::<f64>();
                assert_eq!(out[r][l], expected);
            }
        }

        let a: Vec<[f64; L]> = (0..steps * rows)
            .map(|k| std::array::from_fn(|l| ((k * 3 + l) % 5) as f64 - 2.0))
            .collect();
        let b: Vec<[f64; L]> = (0..steps * cols)
            .map(|k| std::array::from_fn(|l| ((k + l * 2) % 4) as f64 - 1.0))
            .collect();
        let mut sum = vec![0.0; rows * cols];
        let mut scratch = OuterScratch::default();
        outer_sum_lanes::<f64, L, true>(&a, rows, &b, cols, &mut sum, &mut scratch);
        for i in 0..rows {
            for j in 0..cols {
                let mut expected = 0.0;
                for t in 0..steps {
                    for l in 0..L {
                        expected += a[t * rows + i][l] * b[t * cols + j][l];
                    }
                }
                assert_eq!(sum[i * cols + j], expected, "({i}, {j})");
            }
        }
    }
}
