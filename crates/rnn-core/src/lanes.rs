//! Floating-point types and kernels for batches kept in SIMD lanes.
//!
//! A batch chunk of `L` trials is stored unit-major with the trials innermost: a state is a
//! slice of `[T; L]`, one lane array per unit. Each unit's update is then a contiguous
//! `L`-wide vector operation that the compiler vectorises, and a weight gradient is a sum of
//! lane-wise products, blocked like a matrix product.
//!
//! Every kernel is `#[inline(always)]` and takes a `FUSED` flag: the callers compile one
//! copy with `a.mul_add(b, c)` inside a `#[target_feature(enable = "avx2,fma")]` function,
//! chosen at run time, and one with `a * b + c` for the baseline target. The read-out
//! network adds a third copy for `avx512f` ([`Kernel`]), whose matrix-vector products and
//! gradient sums are written in intrinsics ([`avx512`]) with the same operations in the same
//! order as the `avx2,fma` copy. The summation order is fixed by the loop structure alone,
//! so a result does not depend on how chunks are spread over threads.

use crate::aligned::AlignedVec;
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
    #[inline(always)]
    fn exp_nonpositive_lanes<const L: usize>(x: &mut [Self; L]) {
        Self::exp_nonpositive_lanes_with::<false, L>(x);
    }
    /// [`Real::exp_nonpositive_lanes`] with its multiply-adds fused into one rounding each
    /// if `FUSED`, which takes about half the operations on a CPU with FMA instructions.
    fn exp_nonpositive_lanes_with<const FUSED: bool, const L: usize>(x: &mut [Self; L]);
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
            fn exp_nonpositive_lanes_with<const FUSED: bool, const L: usize>(
                x: &mut [$t; L],
            ) {
                const SHIFTER: $t = $shifter;
                const LN2_HI: $t = $ln2_hi;
                const LN2_LO: $t = $ln2_lo;
                let madd = <$t as Real>::madd::<FUSED>;
                let mut shifted = [0.0; L];
                let mut r = [0.0; L];
                for lane in 0..L {
                    x[lane] = x[lane].max($lowest);
                    shifted[lane] = madd(x[lane], std::$t::consts::LOG2_E, SHIFTER);
                    let k = shifted[lane] - SHIFTER;
                    r[lane] = madd(-k, LN2_LO, madd(-k, LN2_HI, x[lane]));
                }
                let mut p = [$first; L];
                for coefficient in [$($coefficient),+] {
                    for lane in 0..L {
                        p[lane] = madd(p[lane], r[lane], coefficient);
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
/// finite for every finite `x`. The derivative is `e / (1 + e)^2`. `FUSED` selects the
/// exponential's fused multiply-adds ([`Real::exp_nonpositive_lanes_with`]).
#[inline(always)]
pub(crate) fn logistic_lanes<T: Real, const L: usize, const FUSED: bool>(
    x: &[T; L],
    value: &mut [T; L],
    e: &mut [T; L],
) {
    for lane in 0..L {
        e[lane] = -x[lane].abs();
    }
    T::exp_nonpositive_lanes_with::<FUSED, L>(e);
    for lane in 0..L {
        let denominator = T::ONE + e[lane];
        let numerator = if x[lane] >= T::ZERO { T::ONE } else { e[lane] };
        value[lane] = numerator / denominator;
    }
}

/// An element-wise function of lane arrays with two outputs, applied to whole slices by
/// [`map_flat`].
pub(crate) trait LaneMap<T> {
    fn apply<const B: usize>(x: &[T; B], first: &mut [T; B], second: &mut [T; B]);
}

/// [`logistic_lanes`]: the logistic, then `exp(-|x|)`, with fused multiply-adds if
/// `FUSED`.
pub(crate) struct Logistic<const FUSED: bool>;

impl<T: Real, const FUSED: bool> LaneMap<T> for Logistic<FUSED> {
    #[inline(always)]
    fn apply<const B: usize>(x: &[T; B], value: &mut [T; B], e: &mut [T; B]) {
        logistic_lanes::<T, B, FUSED>(x, value, e);
    }
}

/// [`logistic_slope_lanes`]: the logistic, then its derivative.
pub(crate) struct LogisticSlope;

impl<T: Real> LaneMap<T> for LogisticSlope {
    #[inline(always)]
    fn apply<const B: usize>(x: &[T; B], value: &mut [T; B], slope: &mut [T; B]) {
        logistic_slope_lanes(x, value, slope);
    }
}

/// Applies `F` to every element of `x` and writes its two outputs into `first` and
/// `second`. Each element gets the bits that `F` gives it in an array of any length.
///
/// The elements go through `F`'s stages in blocks of 256 bytes (four 512-bit registers),
/// then 8, 4 and 1 at a time, so that the latency of one register's chain of operations
/// is hidden by the others. One unit's lanes fill only one or two registers.
#[inline(always)]
pub(crate) fn map_flat<T: Real, F: LaneMap<T>>(x: &[T], first: &mut [T], second: &mut [T]) {
    assert_eq!(
        x.len(),
        first.len(),
        "x and first must have the same length"
    );
    assert_eq!(
        x.len(),
        second.len(),
        "x and second must have the same length"
    );
    let done = match std::mem::size_of::<T>() {
        4 => map_blocks::<T, F, 64>(x, first, second, 0),
        _ => map_blocks::<T, F, 32>(x, first, second, 0),
    };
    let done = map_blocks::<T, F, 8>(x, first, second, done);
    let done = map_blocks::<T, F, 4>(x, first, second, done);
    map_blocks::<T, F, 1>(x, first, second, done);
}

/// Runs `F` over the whole blocks of `B` elements from element `start` and returns the
/// first element left.
#[inline(always)]
fn map_blocks<T: Real, F: LaneMap<T>, const B: usize>(
    x: &[T],
    first: &mut [T],
    second: &mut [T],
    start: usize,
) -> usize {
    let whole = (x.len() - start) / B * B;
    let end = start + whole;
    let blocks = x[start..end]
        .chunks_exact(B)
        .zip(first[start..end].chunks_exact_mut(B))
        .zip(second[start..end].chunks_exact_mut(B));
    for ((x_block, first_block), second_block) in blocks {
        F::apply::<B>(
            x_block.try_into().expect("block of B elements"),
            first_block.try_into().expect("block of B elements"),
            second_block.try_into().expect("block of B elements"),
        );
    }
    end
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

/// `out[r] += sum_k w[r * n_cols + k] * input[k]` for every row `r`, lane by lane, or
/// `out[r] = bias[r] + sum_k ...` if `bias` is given.
///
/// `w` is row-major with `out.len()` rows and `n_cols = input.len()` columns. Rows are
/// taken `ROWS` at a time (then 4, then 1) so that each loaded input vector feeds several
/// independent accumulators. Every output sums over `k` in ascending order whatever `ROWS`
/// is, so the row blocking does not change any result bit. A bias is broadcast into the
/// accumulators, which gives the bits of copying it into every lane of `out` first.
#[inline(always)]
pub(crate) fn gemv_lanes_rows<T: Real, const L: usize, const FUSED: bool, const ROWS: usize>(
    w: &[T],
    input: &[[T; L]],
    bias: Option<&[T]>,
    out: &mut [[T; L]],
) {
    let n_rows = out.len();
    debug_assert_eq!(w.len(), n_rows * input.len());
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n_rows, "bias must have one value per row");
    }
    let mut row = gemv_row_blocks::<T, L, FUSED, ROWS>(w, input, bias, out, 0);
    if ROWS > 4 {
        row = gemv_row_blocks::<T, L, FUSED, 4>(w, input, bias, out, row);
    }
    gemv_row_blocks::<T, L, FUSED, 1>(w, input, bias, out, row);
}

/// [`gemv_lanes_rows`] with blocks of 4 rows.
#[inline(always)]
pub(crate) fn gemv_lanes<T: Real, const L: usize, const FUSED: bool>(
    w: &[T],
    input: &[[T; L]],
    out: &mut [[T; L]],
) {
    gemv_lanes_rows::<T, L, FUSED, 4>(w, input, None, out);
}

/// Runs the rows of [`gemv_lanes_rows`] from `first_row` in whole blocks of `ROWS` and
/// returns the first row left over.
#[inline(always)]
fn gemv_row_blocks<T: Real, const L: usize, const FUSED: bool, const ROWS: usize>(
    w: &[T],
    input: &[[T; L]],
    bias: Option<&[T]>,
    out: &mut [[T; L]],
    first_row: usize,
) -> usize {
    let n_cols = input.len();
    let mut row = first_row;
    while row + ROWS <= out.len() {
        // Plain loops in place of `std::array::from_fn`, whose closure calls are not
        // inlined into code compiled for other target features.
        let mut acc = [[T::ZERO; L]; ROWS];
        let mut rows: [&[T]; ROWS] = [&[]; ROWS];
        for (i, (a, weights)) in acc.iter_mut().zip(rows.iter_mut()).enumerate() {
            *a = match bias {
                Some(bias) => [bias[row + i]; L],
                None => out[row + i],
            };
            *weights = &w[(row + i) * n_cols..(row + i + 1) * n_cols];
        }
        for (k, v) in input.iter().enumerate() {
            for (a, weights) in acc.iter_mut().zip(&rows) {
                let weight = weights[k];
                for lane in 0..L {
                    a[lane] = weight.madd::<FUSED>(v[lane], a[lane]);
                }
            }
        }
        out[row..row + ROWS].copy_from_slice(&acc);
        row += ROWS;
    }
    row
}

/// `acc[i * b_width + j][lane] += sum_t a[t][i][lane] * b[t][j][lane]`, the sum over `t`
/// in ascending order, or `=` in place of `+=` if `overwrite`.
///
/// `a` contains `n_steps` rows of `a_width` lane arrays and `b` the same number of rows of
/// `b_width`. This is the lane-wise part of a weight gradient `sum_t a[t] b[t]^T`: each lane
/// keeps its own sum, so no data is transposed, and [`reduce_lanes`] adds the lanes once at
/// the end. A block of `BLOCK` columns of one row keeps `BLOCK` accumulators in registers
/// while `t` runs, so that each loaded `a` vector feeds `BLOCK` multiply-adds.
#[inline(always)]
pub(crate) fn outer_accumulate_lanes<
    T: Real,
    const L: usize,
    const FUSED: bool,
    const BLOCK: usize,
>(
    a: &[[T; L]],
    a_width: usize,
    b: &[[T; L]],
    b_width: usize,
    acc: &mut [[T; L]],
    overwrite: bool,
) {
    if a_width == 0 || b_width == 0 {
        return;
    }
    let n_steps = a.len() / a_width;
    debug_assert_eq!(b.len(), n_steps * b_width);
    debug_assert_eq!(acc.len(), a_width * b_width);
    for i in 0..a_width {
        let row = &mut acc[i * b_width..(i + 1) * b_width];
        let mut j = 0;
        while j + BLOCK <= b_width {
            let sums: &mut [[T; L]; BLOCK] = (&mut row[j..j + BLOCK])
                .try_into()
                .expect("a block of BLOCK lane arrays");
            outer_accumulate_block::<T, L, FUSED, BLOCK>(
                a, a_width, i, b, b_width, j, sums, overwrite,
            );
            j += BLOCK;
        }
        while j < b_width {
            let sums: &mut [[T; L]; 1] = (&mut row[j..j + 1])
                .try_into()
                .expect("a block of one lane array");
            outer_accumulate_block::<T, L, FUSED, 1>(a, a_width, i, b, b_width, j, sums, overwrite);
            j += 1;
        }
    }
}

/// Runs row `i`, columns `j..j + BLOCK` of [`outer_accumulate_lanes`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn outer_accumulate_block<T: Real, const L: usize, const FUSED: bool, const BLOCK: usize>(
    a: &[[T; L]],
    a_width: usize,
    i: usize,
    b: &[[T; L]],
    b_width: usize,
    j: usize,
    acc: &mut [[T; L]; BLOCK],
    overwrite: bool,
) {
    let mut sums = if overwrite {
        [[T::ZERO; L]; BLOCK]
    } else {
        *acc
    };
    for (a_row, b_row) in a.chunks_exact(a_width).zip(b.chunks_exact(b_width)) {
        let a_lanes = &a_row[i];
        let b_lanes: &[[T; L]; BLOCK] = b_row[j..j + BLOCK]
            .try_into()
            .expect("a block of BLOCK lane arrays");
        for (sum, b_lanes) in sums.iter_mut().zip(b_lanes) {
            for lane in 0..L {
                sum[lane] = a_lanes[lane].madd::<FUSED>(b_lanes[lane], sum[lane]);
            }
        }
    }
    *acc = sums;
}

/// Writes `out[t][lane][j] = a[t][j][lane]` for `j < width` and 0 for `width <= j < stride`.
///
/// `a` contains rows of `width` lane arrays and `out` as many blocks of `L` rows of `stride`
/// values: each step's lane arrays become one row per lane.
#[inline(always)]
pub(crate) fn transpose_lanes<T: Real, const L: usize>(
    a: &[[T; L]],
    width: usize,
    out: &mut [T],
    stride: usize,
) {
    debug_assert!(width <= stride);
    debug_assert_eq!(out.len(), a.len() / width * L * stride);
    for (rows, out_step) in a.chunks_exact(width).zip(out.chunks_exact_mut(L * stride)) {
        for (lane, out_row) in out_step.chunks_exact_mut(stride).enumerate() {
            let (values, padding) = out_row.split_at_mut(width);
            for (value, lanes) in values.iter_mut().zip(rows) {
                *value = lanes[lane];
            }
            padding.fill(T::ZERO);
        }
    }
}

/// `c[g][i * stride + j] += sum_t sum_lane a[t][i][g * group + lane] * b_t[t][g * group +
/// lane][j]` for each group `g` of `group` lanes, every step `t` and lane of the group.
///
/// This is the matrix product `C += A B^T` whose inner dimension runs over steps and lanes.
/// `a` contains rows of `a_width` lane arrays. `b_t` is `b` after [`transpose_lanes`], with
/// rows of `stride` values, so that the columns `j` of `C` are contiguous. Each entry
/// of `C` is one chain of multiply-adds over `t` ascending and, within a step, lane
/// ascending, whatever the tiles, so the result does not depend on the vector width. Tiles
/// of `ROWS` rows by one 64-byte column block keep their sums in registers while the
/// steps run.
#[inline(always)]
pub(crate) fn lane_product_accumulate<
    T: Real,
    const L: usize,
    const FUSED: bool,
    const ROWS: usize,
>(
    a: &[[T; L]],
    a_width: usize,
    b_t: &[T],
    stride: usize,
    group: usize,
    c: &mut [T],
) {
    let columns = columns_per_block::<T>();
    let n_steps = a.len() / a_width;
    debug_assert_eq!(stride % columns, 0);
    debug_assert_eq!(b_t.len(), n_steps * L * stride);
    debug_assert_eq!(c.len(), L / group * a_width * stride);
    for (g, c_group) in c.chunks_exact_mut(a_width * stride).enumerate() {
        let lanes = g * group..(g + 1) * group;
        for j in (0..stride).step_by(columns) {
            let mut i = 0;
            while i + ROWS <= a_width {
                lane_product_tile::<T, L, FUSED, ROWS>(
                    a, a_width, b_t, stride, &lanes, c_group, i, j,
                );
                i += ROWS;
            }
            while i < a_width {
                lane_product_tile::<T, L, FUSED, 1>(a, a_width, b_t, stride, &lanes, c_group, i, j);
                i += 1;
            }
        }
    }
}

/// Number of `T` values in 64 bytes: the column block of [`lane_product_accumulate`], to
/// which its row stride is rounded up.
pub(crate) const fn columns_per_block<T>() -> usize {
    64 / std::mem::size_of::<T>()
}

/// Runs rows `i..i + ROWS` and the column block from `j` of [`lane_product_accumulate`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lane_product_tile<T: Real, const L: usize, const FUSED: bool, const ROWS: usize>(
    a: &[[T; L]],
    a_width: usize,
    b_t: &[T],
    stride: usize,
    lanes: &std::ops::Range<usize>,
    c: &mut [T],
    i: usize,
    j: usize,
) {
    // Sixteen columns suffice for both types: f32 blocks have 16 and f64 blocks 8.
    const MAX_COLUMNS: usize = 16;
    let columns = columns_per_block::<T>();
    let mut sums = [[T::ZERO; MAX_COLUMNS]; ROWS];
    for (r, row) in sums.iter_mut().enumerate() {
        let start = (i + r) * stride + j;
        row[..columns].copy_from_slice(&c[start..start + columns]);
    }
    for (t, a_row) in a.chunks_exact(a_width).enumerate() {
        for lane in lanes.clone() {
            let start = (t * L + lane) * stride + j;
            let b_row = &b_t[start..start + columns];
            for (r, row) in sums.iter_mut().enumerate() {
                let weight = a_row[i + r][lane];
                for (sum, &b) in row[..columns].iter_mut().zip(b_row) {
                    *sum = weight.madd::<FUSED>(b, *sum);
                }
            }
        }
    }
    for (r, row) in sums.iter().enumerate() {
        let start = (i + r) * stride + j;
        c[start..start + columns].copy_from_slice(&row[..columns]);
    }
}

/// `acc[i][lane] += sum_t a[t][i][lane]`, the sum over `t` in ascending order, or `=` in
/// place of `+=` if `overwrite`; `a` contains rows of `width` lane arrays.
#[inline(always)]
pub(crate) fn row_accumulate_lanes<T: Real, const L: usize>(
    a: &[[T; L]],
    width: usize,
    acc: &mut [[T; L]],
    overwrite: bool,
) {
    /// Elements summed at a time, 8 registers of 512 bits for `f32`: the partial sums
    /// stay in registers over all rows.
    const CHUNK: usize = 128;
    if width == 0 {
        return;
    }
    debug_assert_eq!(acc.len(), width);
    if overwrite {
        acc.fill([T::ZERO; L]);
    }
    let acc = acc.as_flattened_mut();
    let mut start = 0;
    while start < acc.len() {
        let len = CHUNK.min(acc.len() - start);
        let mut sums = [T::ZERO; CHUNK];
        sums[..len].copy_from_slice(&acc[start..start + len]);
        for row in a.chunks_exact(width) {
            let values = &row.as_flattened()[start..start + len];
            if len == CHUNK {
                for (sum, &value) in sums.iter_mut().zip(values) {
                    *sum += value;
                }
            } else {
                for (sum, &value) in sums[..len].iter_mut().zip(values) {
                    *sum += value;
                }
            }
        }
        acc[start..start + len].copy_from_slice(&sums[..len]);
        start += len;
    }
}

/// `out[k] += acc[k][first] + acc[k][first + 1] + ... + acc[k][end - 1]` for the lane range
/// `lanes = first..end`, added left to right.
#[inline(always)]
pub(crate) fn reduce_lanes<T: Real, const L: usize>(
    acc: &[[T; L]],
    lanes: std::ops::Range<usize>,
    out: &mut [T],
) {
    debug_assert_eq!(acc.len(), out.len());
    for (o, values) in out.iter_mut().zip(acc) {
        *o += values[lanes.clone()]
            .iter()
            .fold(T::ZERO, |sum, &x| sum + x);
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
    a_t: AlignedVec<T>,
    block: AlignedVec<[T; L]>,
    acc: AlignedVec<[T; L]>,
}

impl<T: Copy, const L: usize> Default for OuterScratch<T, L> {
    fn default() -> Self {
        OuterScratch {
            a_t: AlignedVec::new(),
            block: AlignedVec::new(),
            acc: AlignedVec::new(),
        }
    }
}

/// Sets the length of a buffer whose entries the caller overwrites before reading.
#[inline(always)]
pub(crate) fn resize<V: Copy>(buffer: &mut AlignedVec<V>, len: usize, fill: V) {
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

/// Rows per block of [`pack_row_blocks`], the row block of the 512-bit matrix-vector
/// products.
pub(crate) const PACKED_ROWS: usize = 8;

/// Returns the whole blocks of [`PACKED_ROWS`] rows of the row-major `w` (`n_cols` columns)
/// with each block stored column by column: `packed[(block * n_cols + k) * PACKED_ROWS + i]
/// = w[(block * PACKED_ROWS + i) * n_cols + k]`. The rows left over are not copied.
///
/// The weights that one input column meets in a block are then adjacent, so the 512-bit
/// matrix-vector product reads them from one pointer in place of one per row.
pub(crate) fn pack_row_blocks<T: Copy>(w: &[T], n_cols: usize) -> Vec<T> {
    if n_cols == 0 {
        return Vec::new();
    }
    let n_blocks = w.len() / n_cols / PACKED_ROWS;
    let mut packed = w[..n_blocks * PACKED_ROWS * n_cols].to_vec();
    let blocks = w.chunks_exact(PACKED_ROWS * n_cols);
    for (block, packed_block) in blocks.zip(packed.chunks_exact_mut(PACKED_ROWS * n_cols)) {
        for (k, column) in packed_block.chunks_exact_mut(PACKED_ROWS).enumerate() {
            for (i, value) in column.iter_mut().enumerate() {
                *value = block[i * n_cols + k];
            }
        }
    }
    packed
}

/// [`gemv_lanes_rows`], in 512-bit intrinsics if `WIDE` and the CPU has avx512f. The 512-bit
/// copy reads the whole row blocks from `packed` ([`pack_row_blocks`] of `w`) and only the
/// rows left over from `w`; the others ignore `packed`.
#[inline(always)]
pub(crate) fn gemv_lanes_wide<
    T: Real,
    const L: usize,
    const FUSED: bool,
    const WIDE: bool,
    const ROWS: usize,
>(
    w: &[T],
    packed: &[T],
    input: &[[T; L]],
    bias: Option<&[T]>,
    out: &mut [[T; L]],
) {
    if let Some(bias) = bias {
        assert_eq!(bias.len(), out.len(), "bias must have one value per row");
    }
    #[cfg(target_arch = "x86_64")]
    if WIDE && has_avx512f() {
        // SAFETY (both arms): the CPU reports avx512f and `[T; L]` fills the number of
        // registers given (checked just above).
        match avx512::registers::<T, L>() {
            1 => {
                return unsafe { avx512::gemv_lanes_packed::<T, L, 1>(w, packed, input, bias, out) }
            }
            2 => {
                return unsafe { avx512::gemv_lanes_packed::<T, L, 2>(w, packed, input, bias, out) }
            }
            _ => {}
        }
    }
    gemv_lanes_rows::<T, L, FUSED, ROWS>(w, input, bias, out);
}

/// [`outer_accumulate_lanes`], in 512-bit intrinsics if `WIDE` and the CPU has avx512f.
#[inline(always)]
pub(crate) fn outer_accumulate_lanes_wide<
    T: Real,
    const L: usize,
    const FUSED: bool,
    const WIDE: bool,
    const BLOCK: usize,
>(
    a: &[[T; L]],
    a_width: usize,
    b: &[[T; L]],
    b_width: usize,
    acc: &mut [[T; L]],
    overwrite: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if WIDE && has_avx512f() {
        // SAFETY (both arms): the CPU reports avx512f and `[T; L]` fills the number of
        // registers given (checked just above).
        match avx512::registers::<T, L>() {
            1 => {
                return unsafe {
                    avx512::outer_accumulate_lanes::<T, L, 1, BLOCK>(
                        a, a_width, b, b_width, acc, overwrite,
                    )
                }
            }
            2 => {
                return unsafe {
                    avx512::outer_accumulate_lanes::<T, L, 2, BLOCK>(
                        a, a_width, b, b_width, acc, overwrite,
                    )
                }
            }
            _ => {}
        }
    }
    outer_accumulate_lanes::<T, L, FUSED, BLOCK>(a, a_width, b, b_width, acc, overwrite);
}

/// [`transpose_lanes`], in 512-bit intrinsics for `f32` lane arrays of whole registers if
/// `WIDE` and the CPU has avx512f. The result is the same: transposing only moves values.
#[inline(always)]
pub(crate) fn transpose_lanes_wide<T: Real, const L: usize, const WIDE: bool>(
    a: &[[T; L]],
    width: usize,
    out: &mut [T],
    stride: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if WIDE && has_avx512f() && std::mem::size_of::<T>() == 4 && L.is_multiple_of(16) {
        // SAFETY: the CPU reports avx512f, `T` is `f32` and `L` a multiple of 16 (checked
        // just above).
        return unsafe { avx512::transpose_lanes_f32::<T, L>(a, width, out, stride) };
    }
    transpose_lanes(a, width, out, stride);
}

/// [`lane_product_accumulate`], in 512-bit intrinsics if `WIDE` and the CPU has avx512f.
#[inline(always)]
pub(crate) fn lane_product_accumulate_wide<
    T: Real,
    const L: usize,
    const FUSED: bool,
    const WIDE: bool,
    const ROWS: usize,
>(
    a: &[[T; L]],
    a_width: usize,
    b_t: &[T],
    stride: usize,
    group: usize,
    c: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if WIDE && has_avx512f() {
        // SAFETY: the CPU reports avx512f (checked just above).
        return unsafe {
            avx512::lane_product_accumulate::<T, L>(a, a_width, b_t, stride, group, c)
        };
    }
    lane_product_accumulate::<T, L, FUSED, ROWS>(a, a_width, b_t, stride, group, c);
}

/// Instruction set that a copy of the batched kernels is compiled for.
///
/// `Avx2` and `Avx512` run the same operations in the same order with fused multiply-adds,
/// so they give the same bits; only the register width differs. `Portable` rounds each
/// product before adding it, so its results differ in the last bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Baseline target, separate multiply and add.
    Portable,
    /// `avx2` and `fma`: 256-bit registers.
    Avx2,
    /// `avx512f` with `avx2` and `fma`: 512-bit registers.
    Avx512,
}

impl Kernel {
    /// Returns the widest kernel this CPU runs.
    pub(crate) fn detect() -> Kernel {
        [Kernel::Avx512, Kernel::Avx2]
            .into_iter()
            .find(|kernel| kernel.is_supported())
            .unwrap_or(Kernel::Portable)
    }

    /// Returns whether this CPU has the instructions of the kernel.
    pub(crate) fn is_supported(self) -> bool {
        match self {
            Kernel::Portable => true,
            Kernel::Avx2 => has_avx2_fma(),
            Kernel::Avx512 => has_avx2_fma() && has_avx512f(),
        }
    }
}

#[inline(always)]
pub(crate) fn has_avx512f() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        false
    }
}

/// Kernels in explicit 512-bit intrinsics for lane arrays of `64 * REGS` bytes (`[f32; 16]`
/// or `[f64; 8]` in one register, twice as many lanes in two). The compiler's own
/// vectorisation of the generic kernels at this width uses gathers across rows, so these
/// two hot loops are written out. Each lane gets the same fused multiply-adds in the same
/// order as the generic kernels with `FUSED`, so the results are bit-identical to them.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_castpd_ps, _mm512_castps_pd, _mm512_fmadd_pd, _mm512_fmadd_ps,
        _mm512_loadu_ps, _mm512_set1_pd, _mm512_set1_ps, _mm512_setzero_ps, _mm512_shuffle_f32x4,
        _mm512_storeu_ps, _mm512_unpackhi_pd, _mm512_unpackhi_ps, _mm512_unpacklo_pd,
        _mm512_unpacklo_ps,
    };

    use super::Real;

    /// Returns how many 512-bit registers `[T; L]` fills, or 0 unless it fills one or two
    /// exactly.
    pub(crate) const fn registers<T, const L: usize>() -> usize {
        match std::mem::size_of::<[T; L]>() {
            64 => 1,
            128 => 2,
            _ => 0,
        }
    }

    /// Returns whether `T` is `f32` (else `f64`).
    const fn is_single<T>() -> bool {
        std::mem::size_of::<T>() == 4
    }

    /// Loads one lane array into `REGS` registers, which hold `f32` or `f64` lanes as raw
    /// bits.
    #[inline(always)]
    unsafe fn load<T: Real, const L: usize, const REGS: usize>(lanes: &[T; L]) -> [__m512; REGS] {
        debug_assert_eq!(registers::<T, L>(), REGS);
        let base = lanes.as_ptr().cast::<f32>();
        let mut value = [unsafe { _mm512_setzero_ps() }; REGS];
        for (r, register) in value.iter_mut().enumerate() {
            // SAFETY: the array is `64 * REGS` bytes long and the load is unaligned.
            *register = unsafe { _mm512_loadu_ps(base.add(16 * r)) };
        }
        value
    }

    #[inline(always)]
    unsafe fn store<T: Real, const L: usize, const REGS: usize>(
        lanes: &mut [T; L],
        value: [__m512; REGS],
    ) {
        let base = lanes.as_mut_ptr().cast::<f32>();
        for (r, register) in value.iter().enumerate() {
            // SAFETY: the array is `64 * REGS` bytes long and the store is unaligned.
            unsafe { _mm512_storeu_ps(base.add(16 * r), *register) };
        }
    }

    /// Broadcasts one value to every lane.
    #[inline(always)]
    unsafe fn splat<T: Real>(value: T) -> __m512 {
        // SAFETY (both arms): avx512f is enabled by the caller.
        if is_single::<T>() {
            unsafe { _mm512_set1_ps(value.to_f64() as f32) }
        } else {
            unsafe { _mm512_castpd_ps(_mm512_set1_pd(value.to_f64())) }
        }
    }

    /// `a * b + c` lane by lane with one rounding.
    #[inline(always)]
    unsafe fn fmadd<T: Real>(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY (both arms): avx512f is enabled by the caller.
        if is_single::<T>() {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        } else {
            unsafe {
                _mm512_castpd_ps(_mm512_fmadd_pd(
                    _mm512_castps_pd(a),
                    _mm512_castps_pd(b),
                    _mm512_castps_pd(c),
                ))
            }
        }
    }

    /// `a * b + c` for every register of a lane array.
    #[inline(always)]
    unsafe fn fmadd_regs<T: Real, const REGS: usize>(
        a: [__m512; REGS],
        b: [__m512; REGS],
        c: &mut [__m512; REGS],
    ) {
        for r in 0..REGS {
            // SAFETY: avx512f is enabled by the caller.
            c[r] = unsafe { fmadd::<T>(a[r], b[r], c[r]) };
        }
    }

    /// [`super::gemv_lanes_rows`] with `FUSED` and [`super::PACKED_ROWS`]-row blocks, which
    /// are read from `packed` ([`super::pack_row_blocks`] of `w`). Each row sums in the same
    /// order as in `gemv_lanes_rows`, so the bits are the same.
    ///
    /// # Safety
    /// The CPU must support avx512f, and `[T; L]` must fill `REGS` registers
    /// ([`registers`]).
    #[inline(always)]
    pub(crate) unsafe fn gemv_lanes_packed<T: Real, const L: usize, const REGS: usize>(
        w: &[T],
        packed: &[T],
        input: &[[T; L]],
        bias: Option<&[T]>,
        out: &mut [[T; L]],
    ) {
        const ROWS: usize = super::PACKED_ROWS;
        let n_cols = input.len();
        assert_eq!(registers::<T, L>(), REGS, "[T; L] must fill REGS registers");
        assert_eq!(
            w.len(),
            out.len() * n_cols,
            "w must be (out.len(), input.len())"
        );
        assert_eq!(
            packed.len(),
            out.len() / ROWS * ROWS * n_cols,
            "packed must hold the whole row blocks of w"
        );
        let mut row = 0;
        if n_cols > 0 {
            for block in packed.chunks_exact(ROWS * n_cols) {
                // SAFETY: avx512f per the contract; the block holds ROWS * n_cols weights and
                // rows row..row + ROWS exist by the assert on `packed`.
                unsafe {
                    let mut acc = [[_mm512_setzero_ps(); REGS]; ROWS];
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a = initial(bias, out, row + i);
                    }
                    let mut weights = block.as_ptr();
                    for v in input {
                        let v = load::<T, L, REGS>(v);
                        for (i, a) in acc.iter_mut().enumerate() {
                            let weight = splat(*weights.add(i));
                            fmadd_regs::<T, REGS>([weight; REGS], v, a);
                        }
                        weights = weights.add(ROWS);
                    }
                    for (i, a) in acc.iter().enumerate() {
                        store(&mut out[row + i], *a);
                    }
                }
                row += ROWS;
            }
        }
        // SAFETY: forwarded contract; the asserts above bound every row.
        unsafe {
            let row = gemv_row_blocks::<T, L, REGS, 4>(w, input, bias, out, row);
            gemv_row_blocks::<T, L, REGS, 1>(w, input, bias, out, row);
        }
    }

    /// Returns the starting sum of row `row` of a matrix-vector product: its bias in every
    /// lane if `bias` is given, else the row of `out`.
    ///
    /// # Safety
    /// avx512f must be enabled, and `[T; L]` must fill `REGS` registers.
    #[inline(always)]
    unsafe fn initial<T: Real, const L: usize, const REGS: usize>(
        bias: Option<&[T]>,
        out: &[[T; L]],
        row: usize,
    ) -> [__m512; REGS] {
        // SAFETY (both arms): avx512f per the contract.
        match bias {
            Some(bias) => [unsafe { splat(bias[row]) }; REGS],
            None => unsafe { load(&out[row]) },
        }
    }

    /// Runs whole blocks of `ROWS` rows from `first_row` and returns the first row left.
    ///
    /// # Safety
    /// As [`gemv_lanes_rows`], and `w.len() == out.len() * input.len()`.
    #[inline(always)]
    unsafe fn gemv_row_blocks<T: Real, const L: usize, const REGS: usize, const ROWS: usize>(
        w: &[T],
        input: &[[T; L]],
        bias: Option<&[T]>,
        out: &mut [[T; L]],
        first_row: usize,
    ) -> usize {
        let n_cols = input.len();
        let mut row = first_row;
        while row + ROWS <= out.len() {
            // SAFETY: avx512f per the contract; rows row..row + ROWS of `w` exist.
            unsafe {
                // Plain loops in place of `std::array::from_fn`, whose closure calls are not
                // inlined into this 512-bit code.
                let mut acc = [[_mm512_setzero_ps(); REGS]; ROWS];
                let mut rows = [w.as_ptr(); ROWS];
                for (i, (a, weights)) in acc.iter_mut().zip(rows.iter_mut()).enumerate() {
                    *a = initial(bias, out, row + i);
                    *weights = weights.add((row + i) * n_cols);
                }
                for (k, v) in input.iter().enumerate() {
                    let v = load::<T, L, REGS>(v);
                    for (a, weights) in acc.iter_mut().zip(&rows) {
                        let weight = splat(*weights.add(k));
                        fmadd_regs::<T, REGS>([weight; REGS], v, a);
                    }
                }
                for (i, a) in acc.iter().enumerate() {
                    store(&mut out[row + i], *a);
                }
            }
            row += ROWS;
        }
        row
    }

    /// [`super::outer_accumulate_lanes`] with `FUSED`.
    ///
    /// # Safety
    /// The CPU must support avx512f, and `[T; L]` must fill `REGS` registers
    /// ([`registers`]).
    #[inline(always)]
    pub(crate) unsafe fn outer_accumulate_lanes<
        T: Real,
        const L: usize,
        const REGS: usize,
        const BLOCK: usize,
    >(
        a: &[[T; L]],
        a_width: usize,
        b: &[[T; L]],
        b_width: usize,
        acc: &mut [[T; L]],
        overwrite: bool,
    ) {
        if a_width == 0 || b_width == 0 {
            return;
        }
        let n_steps = a.len() / a_width;
        assert_eq!(registers::<T, L>(), REGS, "[T; L] must fill REGS registers");
        assert_eq!(a.len(), n_steps * a_width, "a must be whole rows");
        assert_eq!(b.len(), n_steps * b_width, "b must have as many steps as a");
        assert_eq!(
            acc.len(),
            a_width * b_width,
            "acc must be (a_width, b_width)"
        );
        let shape = [a_width, b_width, n_steps];
        // SAFETY: forwarded contract; the asserts above bound every index.
        unsafe {
            let j = outer_column_blocks::<T, L, REGS, BLOCK>(a, b, acc, shape, overwrite, 0);
            let j = outer_column_blocks::<T, L, REGS, 4>(a, b, acc, shape, overwrite, j);
            outer_column_blocks::<T, L, REGS, 1>(a, b, acc, shape, overwrite, j);
        }
    }

    /// Runs whole blocks of `BLOCK` columns from `first_column`, for every row, and returns
    /// the first column left. `shape` is `[a_width, b_width, n_steps]`. Rows go in pairs,
    /// so that each loaded `b` vector feeds two rows.
    ///
    /// # Safety
    /// As [`outer_accumulate_lanes`], with the lengths it asserts.
    #[inline(always)]
    unsafe fn outer_column_blocks<
        T: Real,
        const L: usize,
        const REGS: usize,
        const BLOCK: usize,
    >(
        a: &[[T; L]],
        b: &[[T; L]],
        acc: &mut [[T; L]],
        shape: [usize; 3],
        overwrite: bool,
        first_column: usize,
    ) -> usize {
        let [a_width, b_width, _] = shape;
        let mut j = first_column;
        while j + BLOCK <= b_width {
            let mut i = 0;
            while i + 2 <= a_width {
                // SAFETY: forwarded contract; i + 2 <= a_width and j + BLOCK <= b_width.
                unsafe { outer_block::<T, L, REGS, 2, BLOCK>(a, b, acc, shape, overwrite, i, j) };
                i += 2;
            }
            if i < a_width {
                // SAFETY: forwarded contract; i < a_width and j + BLOCK <= b_width.
                unsafe { outer_block::<T, L, REGS, 1, BLOCK>(a, b, acc, shape, overwrite, i, j) };
            }
            j += BLOCK;
        }
        j
    }

    /// Runs rows `i..i + ROWS` and columns `j..j + BLOCK` over all steps, with
    /// `ROWS * BLOCK * REGS` accumulators in registers.
    ///
    /// # Safety
    /// As [`outer_column_blocks`], with `i + ROWS <= a_width` and `j + BLOCK <= b_width`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn outer_block<
        T: Real,
        const L: usize,
        const REGS: usize,
        const ROWS: usize,
        const BLOCK: usize,
    >(
        a: &[[T; L]],
        b: &[[T; L]],
        acc: &mut [[T; L]],
        shape: [usize; 3],
        overwrite: bool,
        i: usize,
        j: usize,
    ) {
        let [a_width, b_width, n_steps] = shape;
        // SAFETY: avx512f per the contract; t < n_steps, i + ROWS <= a_width and
        // j + BLOCK <= b_width keep every index inside `a`, `b` and `acc`.
        unsafe {
            let mut sums = [[[_mm512_setzero_ps(); REGS]; BLOCK]; ROWS];
            if !overwrite {
                for (ii, row) in sums.iter_mut().enumerate() {
                    for (jj, sum) in row.iter_mut().enumerate() {
                        *sum = load(acc.get_unchecked((i + ii) * b_width + j + jj));
                    }
                }
            }
            let mut b_lanes = [[_mm512_setzero_ps(); REGS]; BLOCK];
            for t in 0..n_steps {
                let b_row = b.as_ptr().add(t * b_width + j);
                for (jj, lanes) in b_lanes.iter_mut().enumerate() {
                    *lanes = load(&*b_row.add(jj));
                }
                for (ii, row) in sums.iter_mut().enumerate() {
                    let a_lanes = load::<T, L, REGS>(a.get_unchecked(t * a_width + i + ii));
                    for (sum, b_lanes) in row.iter_mut().zip(&b_lanes) {
                        fmadd_regs::<T, REGS>(a_lanes, *b_lanes, sum);
                    }
                }
            }
            for (ii, row) in sums.iter().enumerate() {
                for (jj, sum) in row.iter().enumerate() {
                    store(acc.get_unchecked_mut((i + ii) * b_width + j + jj), *sum);
                }
            }
        }
    }

    /// [`super::transpose_lanes`] for `f32`, 16 units by 16 lanes at a time.
    ///
    /// # Safety
    /// The CPU must support avx512f, `T` must be `f32` and `L` a multiple of 16.
    #[inline(always)]
    pub(crate) unsafe fn transpose_lanes_f32<T: Real, const L: usize>(
        a: &[[T; L]],
        width: usize,
        out: &mut [T],
        stride: usize,
    ) {
        assert!(is_single::<T>(), "T must be f32");
        assert!(L.is_multiple_of(16), "L must fill whole registers");
        assert!(width > 0, "width must be at least 1");
        assert!(width <= stride, "width must not exceed stride");
        assert_eq!(
            out.len(),
            a.len() / width * L * stride,
            "out must be (steps, L, stride)"
        );
        let whole = width / 16 * 16;
        for (rows, out_step) in a.chunks_exact(width).zip(out.chunks_exact_mut(L * stride)) {
            for first in (0..whole).step_by(16) {
                for register in 0..L / 16 {
                    // SAFETY: avx512f per the contract; units first..first + 16 exist because
                    // first + 16 <= whole <= width, lanes 16 * register.. + 16 lie inside
                    // `L`, and each output row has `stride >= width` values.
                    unsafe {
                        let mut block = [_mm512_setzero_ps(); 16];
                        for (unit, values) in block.iter_mut().enumerate() {
                            let lanes = rows[first + unit].as_ptr().cast::<f32>();
                            *values = _mm512_loadu_ps(lanes.add(16 * register));
                        }
                        let block = transpose_16x16(block);
                        for (lane, values) in block.iter().enumerate() {
                            let row = (16 * register + lane) * stride + first;
                            let target = out_step.as_mut_ptr().add(row).cast::<f32>();
                            _mm512_storeu_ps(target, *values);
                        }
                    }
                }
            }
            for (lane, out_row) in out_step.chunks_exact_mut(stride).enumerate() {
                for (value, lanes) in out_row[whole..width].iter_mut().zip(&rows[whole..]) {
                    *value = lanes[lane];
                }
                out_row[width..].fill(T::ZERO);
            }
        }
    }

    /// Returns the transpose of a 16 x 16 `f32` matrix given as 16 row registers, in three
    /// rounds of shuffles: pairs of rows (`unpack*_ps`), groups of four rows
    /// (`unpack*_pd`), and 128-bit blocks across registers (`shuffle_f32x4`).
    #[inline(always)]
    unsafe fn transpose_16x16(rows: [__m512; 16]) -> [__m512; 16] {
        // SAFETY (whole body): avx512f per the caller's contract; only register shuffles.
        unsafe {
            // In 128-bit block k, pairs[2 i] contains rows 2 i and 2 i + 1 interleaved at
            // columns 4 k and 4 k + 1. pairs[2 i + 1] contains them at 4 k + 2 and 4 k + 3.
            let mut pairs = [_mm512_setzero_ps(); 16];
            for i in 0..8 {
                pairs[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
                pairs[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
            }
            // In block k, quads[4 g + m] contains rows 4 g..4 g + 4 at column 4 k + m.
            let mut quads = [_mm512_setzero_ps(); 16];
            for g in 0..4 {
                let low = |i: usize| _mm512_castps_pd(pairs[4 * g + i]);
                let (a, b, c, d) = (low(0), low(2), low(1), low(3));
                quads[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
                quads[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
                quads[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
                quads[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
            }
            // Column 4 k + m gathers block k of quads[m], quads[4 + m], quads[8 + m] and
            // quads[12 + m]. The first shuffles take blocks 0 and 2 (or 1 and 3) of two
            // groups each, and the second ones the even or odd blocks of those.
            let mut columns = [_mm512_setzero_ps(); 16];
            for m in 0..4 {
                let (g0, g1, g2, g3) = (quads[m], quads[4 + m], quads[8 + m], quads[12 + m]);
                let even_01 = _mm512_shuffle_f32x4::<0x88>(g0, g1);
                let odd_01 = _mm512_shuffle_f32x4::<0xdd>(g0, g1);
                let even_23 = _mm512_shuffle_f32x4::<0x88>(g2, g3);
                let odd_23 = _mm512_shuffle_f32x4::<0xdd>(g2, g3);
                columns[m] = _mm512_shuffle_f32x4::<0x88>(even_01, even_23);
                columns[8 + m] = _mm512_shuffle_f32x4::<0xdd>(even_01, even_23);
                columns[4 + m] = _mm512_shuffle_f32x4::<0x88>(odd_01, odd_23);
                columns[12 + m] = _mm512_shuffle_f32x4::<0xdd>(odd_01, odd_23);
            }
            columns
        }
    }

    /// Steps per pass of [`lane_product_accumulate`]: the transposed rows of a tile's
    /// columns for 4 steps (16 lanes by 4 registers: 16 KiB) stay in a 48 KiB L1 cache
    /// while every row tile uses them. 2, 4 and 8 steps measured alike at `n = 100`.
    const PRODUCT_STEPS: usize = 4;

    /// [`super::lane_product_accumulate`] with `FUSED`, in tiles of 6 rows by 4, 2 or 1
    /// registers of columns (24 sums in registers).
    ///
    /// # Safety
    /// The CPU must support avx512f.
    #[inline(always)]
    pub(crate) unsafe fn lane_product_accumulate<T: Real, const L: usize>(
        a: &[[T; L]],
        a_width: usize,
        b_t: &[T],
        stride: usize,
        group: usize,
        c: &mut [T],
    ) {
        let columns = super::columns_per_block::<T>();
        let n_steps = a.len() / a_width;
        assert_eq!(a.len(), n_steps * a_width, "a must be whole rows");
        assert_eq!(stride % columns, 0, "stride must be whole registers");
        assert_eq!(
            b_t.len(),
            n_steps * L * stride,
            "b_t must be (n_steps, L, stride)"
        );
        assert!(group > 0, "group must be at least 1");
        assert!(L.is_multiple_of(group), "group must divide L");
        assert_eq!(
            c.len(),
            L / group * a_width * stride,
            "c must be (L / group, a_width, stride)"
        );
        let shape = [a_width, stride];
        for (g, c_group) in c.chunks_exact_mut(a_width * stride).enumerate() {
            let lanes = g * group..(g + 1) * group;
            for first in (0..n_steps).step_by(PRODUCT_STEPS) {
                let steps = first..(first + PRODUCT_STEPS).min(n_steps);
                let job = ProductBlock {
                    a,
                    b_t,
                    shape,
                    lanes: lanes.clone(),
                    steps,
                };
                // SAFETY: forwarded contract; the asserts above bound every index.
                unsafe {
                    let j = job.column_tiles::<4>(c_group, 0);
                    let j = job.column_tiles::<3>(c_group, j);
                    let j = job.column_tiles::<2>(c_group, j);
                    job.column_tiles::<1>(c_group, j);
                }
            }
        }
    }

    /// The operands of one pass of [`lane_product_accumulate`] over a few steps and one
    /// group of lanes. `shape` is `[a_width, stride]`.
    struct ProductBlock<'a, T, const L: usize> {
        a: &'a [[T; L]],
        b_t: &'a [T],
        shape: [usize; 2],
        lanes: std::ops::Range<usize>,
        steps: std::ops::Range<usize>,
    }

    impl<T: Real, const L: usize> ProductBlock<'_, T, L> {
        /// Runs whole tiles of `VECS` registers of columns from column `first`, for every
        /// row, and returns the first column left.
        ///
        /// # Safety
        /// As [`lane_product_accumulate`], with the lengths it asserts.
        #[inline(always)]
        unsafe fn column_tiles<const VECS: usize>(&self, c: &mut [T], first: usize) -> usize {
            let [a_width, stride] = self.shape;
            let width = VECS * super::columns_per_block::<T>();
            let mut j = first;
            while j + width <= stride {
                let mut i = 0;
                while i + 6 <= a_width {
                    // SAFETY: forwarded contract; i + 6 <= a_width, j + width <= stride.
                    unsafe { self.tile::<6, VECS>(c, i, j) };
                    i += 6;
                }
                while i < a_width {
                    // SAFETY: forwarded contract; i < a_width, j + width <= stride.
                    unsafe { self.tile::<1, VECS>(c, i, j) };
                    i += 1;
                }
                j += width;
            }
            j
        }

        /// Runs rows `i..i + ROWS` and columns `j..j + VECS * columns_per_block` over the
        /// steps and lanes of the pass.
        ///
        /// # Safety
        /// As [`Self::column_tiles`], with `i + ROWS <= a_width` and the columns inside
        /// `stride`.
        #[inline(always)]
        unsafe fn tile<const ROWS: usize, const VECS: usize>(
            &self,
            c: &mut [T],
            i: usize,
            j: usize,
        ) {
            let [a_width, stride] = self.shape;
            let columns = super::columns_per_block::<T>();
            // SAFETY: avx512f per the contract; every index stays inside `a`, `b_t` and `c`
            // by the asserts of `lane_product_accumulate` and the bounds of the caller.
            unsafe {
                let mut sums = [[_mm512_setzero_ps(); VECS]; ROWS];
                for (r, row) in sums.iter_mut().enumerate() {
                    let c_row = c.as_ptr().add((i + r) * stride + j).cast::<f32>();
                    for (v, sum) in row.iter_mut().enumerate() {
                        *sum = _mm512_loadu_ps(c_row.add(16 * v));
                    }
                }
                let mut b = [_mm512_setzero_ps(); VECS];
                for t in self.steps.clone() {
                    let a_row = self.a.as_ptr().add(t * a_width + i).cast::<T>();
                    for lane in self.lanes.clone() {
                        let b_row = self.b_t.as_ptr().add((t * L + lane) * stride + j);
                        for (v, lanes) in b.iter_mut().enumerate() {
                            *lanes = _mm512_loadu_ps(b_row.add(v * columns).cast::<f32>());
                        }
                        for (r, row) in sums.iter_mut().enumerate() {
                            let weight = splat(*a_row.add(r * L + lane));
                            for (sum, lanes) in row.iter_mut().zip(&b) {
                                *sum = fmadd::<T>(weight, *lanes, *sum);
                            }
                        }
                    }
                }
                for (r, row) in sums.iter().enumerate() {
                    let c_row = c.as_mut_ptr().add((i + r) * stride + j).cast::<f32>();
                    for (v, sum) in row.iter().enumerate() {
                        _mm512_storeu_ps(c_row.add(16 * v), *sum);
                    }
                }
            }
        }
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
            let mut fused = [x; 4];
            f64::exp_nonpositive_lanes_with::<true, 4>(&mut fused);
            for fast in [lanes[3], fused[3]] {
                assert!(
                    ((fast - exact) / exact).abs() < 1e-15,
                    "x = {x}: {fast:e} vs {exact:e}"
                );
            }
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
            let mut fused = [x; 8];
            f32::exp_nonpositive_lanes_with::<true, 8>(&mut fused);
            for fast in [f64::from(lanes[5]), f64::from(fused[5])] {
                assert!(
                    ((fast - exact) / exact).abs() < 1e-6,
                    "x = {x}: {fast:e} vs {exact:e}"
                );
            }
        }
    }

    #[test]
    fn logistic_lane_finite_in_tails() {
        let x = [1e300, -1e300, f64::MAX, f64::MIN, 800.0, -800.0];
        let (mut value, mut e) = ([0.0; 6], [0.0; 6]);
        logistic_lanes::<f64, 6, false>(&x, &mut value, &mut e);
        for lane in 0..6 {
            assert!((0.0..=1.0).contains(&value[lane]), "{}", x[lane]);
            assert!(e[lane].is_finite(), "{}", x[lane]);
            assert!(e[lane] >= 0.0, "{}", x[lane]);
        }
        assert_eq!(value[0], 1.0);
        assert!(value[1] < 1e-300);
        let x = [1e30f32, -1e30, f32::MAX, f32::MIN, 100.0, -100.0];
        let (mut value, mut e) = ([0.0; 6], [0.0; 6]);
        logistic_lanes::<f32, 6, true>(&x, &mut value, &mut e);
        for lane in 0..6 {
            assert!((0.0..=1.0).contains(&value[lane]), "{}", x[lane]);
            assert!(e[lane].is_finite(), "{}", x[lane]);
            assert!(e[lane] >= 0.0, "{}", x[lane]);
        }
    }

    /// Checks that `map_flat` gives each element the bits of one-lane `logistic_lanes` and
    /// `logistic_slope_lanes` calls, and a logistic within `tolerance` of the f64 one, for
    /// lengths below, at and above one block, with remainders of 8 and of single elements.
    fn check_map_flat<T: Real, const FUSED: bool>(block: usize, tolerance: f64) {
        for len in [
            0,
            1,
            7,
            8,
            block - 1,
            block,
            block + 5,
            3 * block + 17,
            2 * block + 8,
        ] {
            let x: Vec<T> = (0..len)
                .map(|k| T::from_f64(((k * 37) % 101) as f64 * 0.8 - 40.0))
                .collect();
            let (mut value, mut e) = (vec![T::ZERO; len], vec![T::ZERO; len]);
            map_flat::<T, Logistic<FUSED>>(&x, &mut value, &mut e);
            let (mut slope_value, mut slope) = (vec![T::ZERO; len], vec![T::ZERO; len]);
            map_flat::<T, LogisticSlope>(&x, &mut slope_value, &mut slope);
            for (k, &xk) in x.iter().enumerate() {
                let (mut single, mut single_e) = ([T::ZERO], [T::ZERO]);
                logistic_lanes::<T, 1, FUSED>(&[xk], &mut single, &mut single_e);
                assert!(
                    value[k] == single[0],
                    "len {len}, element {k}: value bits differ"
                );
                assert!(e[k] == single_e[0], "len {len}, element {k}: e bits differ");
                let mut single_slope = [T::ZERO];
                logistic_slope_lanes(&[xk], &mut single, &mut single_slope);
                assert!(
                    slope_value[k] == single[0],
                    "len {len}, element {k}: bits differ"
                );
                assert!(
                    slope[k] == single_slope[0],
                    "len {len}, element {k}: slope bits differ"
                );
                let vk = value[k];
                let exact = 1.0 / (1.0 + (-xk.to_f64()).exp());
                assert!(
                    (vk.to_f64() - exact).abs() <= tolerance * exact,
                    "len {len}, x = {}: {} vs {exact}",
                    xk.to_f64(),
                    vk.to_f64()
                );
            }
        }
    }

    #[test]
    fn map_flat_matches_lane_logistic() {
        // Tolerances: the exponential's relative error (1e-6 for f32, 1e-15 for f64, see
        // the exp tests) plus a rounding of the division.
        check_map_flat::<f32, false>(64, 2e-6);
        check_map_flat::<f64, false>(32, 1e-14);
        check_map_flat::<f32, true>(64, 2e-6);
        check_map_flat::<f64, true>(32, 1e-14);
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
    #[test]
    fn outer_accumulate_matches_plain_loops() {
        // Integer-valued data: every product and sum is exact, so equality is exact. Width
        // 11 runs one block of 8 columns and three single columns.
        const L: usize = 4;
        let (rows, cols, steps) = (3, 11, 5);
        let a: Vec<[f64; L]> = (0..steps * rows)
            .map(|k| std::array::from_fn(|l| ((k * 3 + l) % 5) as f64 - 2.0))
            .collect();
        let b: Vec<[f64; L]> = (0..steps * cols)
            .map(|k| std::array::from_fn(|l| ((k + l * 2) % 4) as f64 - 1.0))
            .collect();

        let mut acc = vec![[7.0; L]; rows * cols];
        outer_accumulate_lanes::<f64, L, true, 8>(&a, rows, &b, cols, &mut acc, true);
        let mut again = acc.clone();
        outer_accumulate_lanes::<f64, L, false, 8>(&a, rows, &b, cols, &mut again, false);
        for i in 0..rows {
            for j in 0..cols {
                for l in 0..L {
                    let expected: f64 = (0..steps)
                        .map(|t| a[t * rows + i][l] * b[t * cols + j][l])
                        .sum();
                    assert_eq!(acc[i * cols + j][l], expected, "({i}, {j}, {l})");
                    assert_eq!(again[i * cols + j][l], 2.0 * expected, "({i}, {j}, {l})");
                }
            }
        }

        let mut sums = vec![1.0; rows * cols];
        reduce_lanes(&acc, 0..L, &mut sums);
        for (sum, lanes) in sums.iter().zip(&acc) {
            assert_eq!(*sum, 1.0 + lanes.iter().sum::<f64>());
        }

        let mut row_sums = vec![[0.5; L]; rows];
        row_accumulate_lanes(&a, rows, &mut row_sums, true);
        for i in 0..rows {
            for l in 0..L {
                let expected: f64 = (0..steps).map(|t| a[t * rows + i][l]).sum();
                assert_eq!(row_sums[i][l], expected, "({i}, {l})");
            }
        }
    }

    #[test]
    fn row_sums_span_register_chunks() {
        // 37 rows of 4 lanes are 148 values: one whole chunk of 128 and a part. Integer
        // values keep every sum exact; the second call adds to the first.
        const L: usize = 4;
        let (rows, steps) = (37, 5);
        let a: Vec<[f64; L]> = (0..steps * rows)
            .map(|k| std::array::from_fn(|l| ((k * 7 + l) % 9) as f64 - 4.0))
            .collect();
        let mut sums = vec![[0.5; L]; rows];
        row_accumulate_lanes(&a, rows, &mut sums, true);
        row_accumulate_lanes(&a, rows, &mut sums, false);
        for i in 0..rows {
            for l in 0..L {
                let column: f64 = (0..steps).map(|t| a[t * rows + i][l]).sum();
                assert_eq!(sums[i][l], 2.0 * column, "({i}, {l})");
            }
        }
    }

    #[test]
    fn lane_product_matches_plain_loops() {
        // Integer-valued data: every product and sum is exact, so equality is exact. Two
        // groups of 2 lanes, 7 rows (one tile of 6 and a single row) and 11 columns padded
        // to a stride of 16; the padding columns must stay 0 plus 0 times the data.
        const L: usize = 4;
        let (rows, cols, steps, group) = (7, 11, 3, 2);
        let stride = 16;
        let a: Vec<[f64; L]> = (0..steps * rows)
            .map(|k| std::array::from_fn(|l| ((k * 3 + l) % 5) as f64 - 2.0))
            .collect();
        let b: Vec<[f64; L]> = (0..steps * cols)
            .map(|k| std::array::from_fn(|l| ((k + l * 2) % 4) as f64 - 1.0))
            .collect();
        let mut b_t = vec![f64::NAN; steps * L * stride];
        transpose_lanes(&b, cols, &mut b_t, stride);
        for t in 0..steps {
            for lane in 0..L {
                let row = &b_t[(t * L + lane) * stride..(t * L + lane + 1) * stride];
                for j in 0..cols {
                    assert_eq!(row[j], b[t * cols + j][lane], "({t}, {lane}, {j})");
                }
                assert!(
                    row[cols..].iter().all(|&v| v == 0.0),
                    "padding ({t}, {lane})"
                );
            }
        }

        let mut c = vec![0.5; L / group * rows * stride];
        lane_product_accumulate::<f64, L, true, 6>(&a, rows, &b_t, stride, group, &mut c);
        for g in 0..L / group {
            for i in 0..rows {
                for j in 0..stride {
                    let mut expected = 0.5;
                    if j < cols {
                        for t in 0..steps {
                            for lane in g * group..(g + 1) * group {
                                expected += a[t * rows + i][lane] * b[t * cols + j][lane];
                            }
                        }
                    }
                    let found = c[(g * rows + i) * stride + j];
                    assert_eq!(found, expected, "({g}, {i}, {j})");
                }
            }
        }
    }

    /// Checks that the 512-bit kernels give the bits of the generic fused kernels on
    /// non-integer data, for row counts and widths that leave every kind of remainder.
    fn avx512_kernels_give_generic_bits<T: Real, const L: usize>() {
        if !(avx512::registers::<T, L>() > 0 && has_avx512f() && has_avx2_fma()) {
            return;
        }
        let value = |k: usize| T::from_f64(((k * 7919) % 1013) as f64 / 1013.0 - 0.5);
        for (rows, cols, steps) in [(13, 21, 9), (8, 8, 1), (3, 2, 4), (21, 1, 3)] {
            let w: Vec<T> = (0..rows * cols).map(value).collect();
            let input: Vec<[T; L]> = (0..cols)
                .map(|k| std::array::from_fn(|l| value(3 * k + l + 5)))
                .collect();
            let start: Vec<[T; L]> = (0..rows)
                .map(|k| std::array::from_fn(|l| value(k + 11 * l)))
                .collect();
            let mut generic = start.clone();
            gemv_lanes_rows::<T, L, true, 8>(&w, &input, None, &mut generic);
            let mut wide = start.clone();
            let packed = pack_row_blocks(&w, cols);
            gemv_lanes_wide::<T, L, true, true, 8>(&w, &packed, &input, None, &mut wide);
            assert_eq!(generic, wide, "gemv {rows} x {cols}");

            // A bias in place of the starting rows gives the bits of copying it in first.
            let bias: Vec<T> = (0..rows).map(|k| value(13 * k + 2)).collect();
            let mut copied: Vec<[T; L]> = bias.iter().map(|&b| [b; L]).collect();
            gemv_lanes_rows::<T, L, true, 8>(&w, &input, None, &mut copied);
            let mut generic = start.clone();
            gemv_lanes_rows::<T, L, true, 8>(&w, &input, Some(&bias), &mut generic);
            assert_eq!(generic, copied, "gemv with bias {rows} x {cols}");
            let mut wide = start.clone();
            gemv_lanes_wide::<T, L, true, true, 8>(&w, &packed, &input, Some(&bias), &mut wide);
            assert_eq!(wide, copied, "wide gemv with bias {rows} x {cols}");

            let a: Vec<[T; L]> = (0..steps * rows)
                .map(|k| std::array::from_fn(|l| value(k + 17 * l)))
                .collect();
            let b: Vec<[T; L]> = (0..steps * cols)
                .map(|k| std::array::from_fn(|l| value(5 * k + l + 1)))
                .collect();
            let start: Vec<[T; L]> = (0..rows * cols)
                .map(|k| std::array::from_fn(|l| value(k + 3 * l)))
                .collect();
            for overwrite in [true, false] {
                let mut generic = start.clone();
                outer_accumulate_lanes::<T, L, true, 8>(
                    &a,
                    rows,
                    &b,
                    cols,
                    &mut generic,
                    overwrite,
                );
                let mut wide = start.clone();
                outer_accumulate_lanes_wide::<T, L, true, true, 8>(
                    &a, rows, &b, cols, &mut wide, overwrite,
                );
                assert_eq!(
                    generic, wide,
                    "outer {rows} x {cols}, overwrite {overwrite}"
                );
            }

            // Widths with and without whole blocks of 16 units, with padding.
            for width in [1usize, 16, 21, 100] {
                let stride = width.next_multiple_of(16);
                let lanes: Vec<[T; L]> = (0..3 * width)
                    .map(|k| std::array::from_fn(|l| value(7 * k + l)))
                    .collect();
                let mut generic = vec![T::ONE; 3 * L * stride];
                transpose_lanes(&lanes, width, &mut generic, stride);
                let mut wide = vec![T::ONE; 3 * L * stride];
                transpose_lanes_wide::<T, L, true>(&lanes, width, &mut wide, stride);
                assert_eq!(generic, wide, "transpose of width {width}");
            }

            // Strides of 1, 2, 4 and 7 registers cover every column tile.
            let block = columns_per_block::<T>();
            for stride in [block, 2 * block, 4 * block, 7 * block] {
                let width = cols.min(stride);
                let b_rows: Vec<[T; L]> = (0..steps * width)
                    .map(|k| std::array::from_fn(|l| value(5 * k + l + 1)))
                    .collect();
                let mut b_t = vec![T::ZERO; steps * L * stride];
                transpose_lanes(&b_rows, width, &mut b_t, stride);
                let group = L / 2;
                let start: Vec<T> = (0..2 * rows * stride).map(|k| value(k + 7)).collect();
                let mut generic = start.clone();
                lane_product_accumulate::<T, L, true, 4>(
                    &a,
                    rows,
                    &b_t,
                    stride,
                    group,
                    &mut generic,
                );
                let mut wide = start.clone();
                lane_product_accumulate_wide::<T, L, true, true, 4>(
                    &a, rows, &b_t, stride, group, &mut wide,
                );
                assert_eq!(generic, wide, "product {rows} x {stride}");
            }
        }
    }

    #[test]
    fn avx512_kernels_match_generic_bits() {
        avx512_kernels_give_generic_bits::<f32, 16>();
        avx512_kernels_give_generic_bits::<f64, 8>();
        avx512_kernels_give_generic_bits::<f32, 32>();
        avx512_kernels_give_generic_bits::<f64, 16>();
    }
}
