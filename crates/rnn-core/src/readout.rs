//! A continuous-time network in the form common to machine-learning benchmarks: the state is
//! the pre-activation, and a linear read-out maps the rates to the outputs. It is trained on
//! batches of equal-length trials kept in SIMD lanes, in `f32` or `f64`.

use ndarray::{Array1, Array2, ArrayView3};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::adam::Update;
use crate::aligned::AlignedVec;
use crate::error::{all_finite, format_shape};
use crate::lanes::{
    columns_per_block, gemv_lanes_wide, lane_product_accumulate_wide, map_flat,
    outer_accumulate_lanes_wide, pack_row_blocks, reduce_lanes, resize, row_accumulate_lanes,
    transpose_lanes_wide, with_thread_buffers, Kernel, Logistic,
};
use crate::{spin_pool, AdamConfig, Error, Real};

/// A continuous-time recurrent network with a linear read-out of its rates.
///
/// With `r = logistic(x)`, `x[0] = 0` and the input `u[t]` of step `t`:
///
/// ```text
/// x[t + 1] = x[t] + alpha (-x[t] + W r[t] + U u[t] + b)
/// y[t]     = W_out r[t + 1] + b_out
/// L        = mean over steps, trials and outputs of (y[t] - target[t])^2
/// ```
///
/// | field | shape | meaning |
/// |---|---|---|
/// | `alpha` | - | `dt / tau`, in (0, 1] |
/// | `w` | `(n_units, n_units)` = (post, pre) | recurrent weights |
/// | `u` | `(n_units, n_inputs)` | input weights |
/// | `b` | `(n_units)` | biases |
/// | `w_out` | `(n_outputs, n_units)` | read-out weights |
/// | `b_out` | `(n_outputs)` | read-out biases |
///
/// Unlike [`crate::Rnn`], this model scores read-outs instead of units and has no masks,
/// signs or delays; it serves benchmarks against other frameworks, which use this form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "T: Real")]
pub struct ReadoutNet<T: Real> {
    /// `dt / tau`.
    pub alpha: T,
    /// Recurrent weights, shape `(n_units, n_units)` = (post, pre).
    pub w: Array2<T>,
    /// Input weights, shape `(n_units, n_inputs)`.
    pub u: Array2<T>,
    /// Biases, shape `(n_units)`.
    pub b: Array1<T>,
    /// Read-out weights, shape `(n_outputs, n_units)`.
    pub w_out: Array2<T>,
    /// Read-out biases, shape `(n_outputs)`.
    pub b_out: Array1<T>,
}

/// Gradient of the loss of a [`ReadoutNet`], with the shapes of its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "T: Real")]
pub struct ReadoutGradient<T: Real> {
    /// `dL/dW`.
    pub w: Array2<T>,
    /// `dL/dU`.
    pub u: Array2<T>,
    /// `dL/db`.
    pub b: Array1<T>,
    /// `dL/dW_out`.
    pub w_out: Array2<T>,
    /// `dL/db_out`.
    pub b_out: Array1<T>,
}

/// Number of trials per chunk: one chunk is the unit of parallel work, and gradients of
/// chunks are summed in chunk order.
const fn lanes_of<T: Real>() -> usize {
    if std::mem::size_of::<T>() == 4 {
        16
    } else {
        8
    }
}

impl<T: Real> ReadoutNet<T> {
    /// Draws `W ~ N(0, weight_scale^2 / n_units)`, `U ~ N(0, 1)`, `b = 0`,
    /// `W_out ~ N(0, 1 / n_units)` and `b_out = 0`, in that order and row-major, from `f64`
    /// normals rounded to `T`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `n_units = 0`, `n_outputs = 0`, `alpha` outside
    /// (0, 1] or a non-finite or negative `weight_scale`.
    pub fn new_using<R: Rng + ?Sized>(
        n_units: usize,
        n_inputs: usize,
        n_outputs: usize,
        alpha: f64,
        weight_scale: f64,
        rng: &mut R,
    ) -> Result<ReadoutNet<T>, Error> {
        if n_units == 0 {
            return Err(Error::invalid("n_units", 0, "must be >= 1"));
        }
        if n_outputs == 0 {
            return Err(Error::invalid("n_outputs", 0, "must be >= 1"));
        }
        if !(weight_scale.is_finite() && weight_scale >= 0.0) {
            return Err(Error::invalid(
                "weight_scale",
                weight_scale,
                "must be finite and >= 0",
            ));
        }
        let mut normal = |std_dev: f64| {
            let draw: f64 = StandardNormal.sample(rng);
            T::from_f64(std_dev * draw)
        };
        let n = n_units as f64;
        let w =
            Array2::from_shape_simple_fn((n_units, n_units), || normal(weight_scale / n.sqrt()));
        let u = Array2::from_shape_simple_fn((n_units, n_inputs), || normal(1.0));
        let w_out = Array2::from_shape_simple_fn((n_outputs, n_units), || normal(1.0 / n.sqrt()));
        let net = ReadoutNet {
            alpha: T::from_f64(alpha),
            w,
            u,
            b: Array1::from_elem(n_units, T::ZERO),
            w_out,
            b_out: Array1::from_elem(n_outputs, T::ZERO),
        };
        net.validate()?;
        Ok(net)
    }

    /// Returns a copy in precision `U`, each entry rounded to nearest.
    pub fn to_precision<U: Real>(&self) -> ReadoutNet<U> {
        let convert = |v: &T| U::from_f64(v.to_f64());
        ReadoutNet {
            alpha: U::from_f64(self.alpha.to_f64()),
            w: self.w.map(convert),
            u: self.u.map(convert),
            b: self.b.map(convert),
            w_out: self.w_out.map(convert),
            b_out: self.b_out.map(convert),
        }
    }

    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.b.len()
    }

    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.u.ncols()
    }

    /// Number of read-outs.
    pub fn n_outputs(&self) -> usize {
        self.b_out.len()
    }

    /// Checks shapes, finiteness and `alpha`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::NonFinite`] or [`Error::InvalidParameter`] (for
    /// `alpha` outside (0, 1]).
    pub fn validate(&self) -> Result<(), Error> {
        let alpha = self.alpha.to_f64();
        if !(alpha > 0.0 && alpha <= 1.0) {
            return Err(Error::invalid(
                "alpha",
                alpha,
                "must lie in (0, 1], because alpha = dt / tau and the Euler step needs dt <= tau",
            ));
        }
        let (n, m, o) = (self.n_units(), self.n_inputs(), self.n_outputs());
        if n == 0 {
            return Err(Error::invalid("n_units", 0, "must be >= 1 (len(b))"));
        }
        if o == 0 {
            return Err(Error::invalid("n_outputs", 0, "must be >= 1 (len(b_out))"));
        }
        let shapes: [(&str, &[usize], [usize; 2], &str); 3] = [
            ("w", self.w.shape(), [n, n], "(n_units, n_units)"),
            ("u", self.u.shape(), [n, m], "(n_units, n_inputs)"),
            ("w_out", self.w_out.shape(), [o, n], "(n_outputs, n_units)"),
        ];
        for (name, found, expected, meaning) in shapes {
            if found != expected {
                // The sizes come from b, the columns of u and b_out, which may be the
                // arrays in error, so the message names their sources.
                return Err(Error::shape(
                    name,
                    format!(
                        "{} = {meaning}, with n_units = len(b) = {n}, n_inputs = columns \
                         of u = {m} and n_outputs = len(b_out) = {o}",
                        format_shape(&expected)
                    ),
                    found,
                ));
            }
        }
        let all_parameters_finite = all_finite(self.w.view())
            && all_finite(self.u.view())
            && all_finite(self.b.view())
            && all_finite(self.w_out.view())
            && all_finite(self.b_out.view());
        if all_parameters_finite {
            return Ok(());
        }
        let arrays: [(&str, &mut dyn Iterator<Item = &T>); 5] = [
            ("w", &mut self.w.iter()),
            ("u", &mut self.u.iter()),
            ("b", &mut self.b.iter()),
            ("w_out", &mut self.w_out.iter()),
            ("b_out", &mut self.b_out.iter()),
        ];
        for (name, values) in arrays {
            if let Some((index, value)) = values.enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFinite {
                    name: name.into(),
                    index: format!("flat {index}"),
                    value: value.to_f64(),
                });
            }
        }
        Ok(())
    }

    /// Computes the mean squared error of a batch and its exact gradient by
    /// backpropagation through time.
    ///
    /// `inputs` has shape `(n_steps, batch, n_inputs)` and `targets`
    /// `(n_steps, batch, n_outputs)`. The batch is cut into chunks of 16 (`f32`) or 8
    /// (`f64`) trials. They run in parallel on the calling thread and on helper threads, as
    /// many threads in all as the current rayon pool has. Helpers start with the first call
    /// that needs them and live as long as the process. While one caller uses them, a call
    /// from another thread runs its chunks on the current rayon pool.
    ///
    /// A helper polls for the next call for up to 1 ms before it sleeps, and the caller polls
    /// as long for a helper still running a chunk, unless that helper was on the caller's
    /// CPU. Neither polls while the pool has more threads than CPUs: the fewer of the CPUs in
    /// the caller's mask and the process's CPU count read once, which counts a cgroup quota.
    /// On Linux a helper that finds itself on the caller's CPU moves to another CPU of its
    /// mask: it narrows the mask for the move and then sets it back. A mask that another
    /// program sets at that moment can be lost.
    ///
    /// Within a chunk, each trial sums its gradient terms over the steps in its own SIMD
    /// lane, and the lanes are added at the end. Chunk gradients are then summed in chunk
    /// order, so the result is bit-identical for any number of threads. The loss is
    /// accumulated in `f64`.
    ///
    /// The kernel is chosen at run time: AVX-512F, else AVX2 with FMA, else a portable one.
    /// The first two give the same bits. The portable kernel rounds each product before
    /// adding it, so its results differ in the last bits.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for arrays that do not fit the network or each other or have
    /// zero steps, [`Error::EmptyBatch`] for an empty batch, [`Error::NonFinite`] for a NaN or
    /// infinite input or target, [`Error::Overflow`] for a loss or gradient that overflows
    /// although every value it comes from is finite, and any error of
    /// [`ReadoutNet::validate`].
    pub fn loss_and_gradient(
        &self,
        inputs: ArrayView3<T>,
        targets: ArrayView3<T>,
    ) -> Result<(f64, ReadoutGradient<T>), Error> {
        self.validate()?;
        let (n_steps, batch, m) = inputs.dim();
        let o = self.n_outputs();
        if m != self.n_inputs() {
            // The targets' leading axes give the expected steps and trials.
            let (target_steps, target_batch, _) = targets.dim();
            return Err(Error::shape(
                "inputs",
                format!(
                    "({target_steps}, {target_batch}, {}) = (n_steps, batch, n_inputs)",
                    self.n_inputs()
                ),
                inputs.shape(),
            ));
        }
        if targets.dim() != (n_steps, batch, o) {
            return Err(Error::shape(
                "targets",
                format!("({n_steps}, {batch}, {o}) = (n_steps, batch, n_outputs)"),
                targets.shape(),
            ));
        }
        if batch == 0 {
            return Err(Error::EmptyBatch);
        }
        if n_steps == 0 {
            return Err(Error::shape(
                "inputs",
                format!("(n_steps >= 1, {batch}, {m}) = (n_steps, batch, n_inputs)"),
                inputs.shape(),
            ));
        }
        check_finite_3d("inputs", inputs)?;
        check_finite_3d("targets", targets)?;
        let sums = WeightSums::for_units(self.n_units());
        let (loss, gradient) = self.batch_gradient_with(inputs, targets, Kernel::detect(), sums);
        check_overflow(loss, &gradient)?;
        Ok((loss, gradient))
    }

    /// Computes [`ReadoutNet::loss_and_gradient`] on checked arrays with `kernel` (or with
    /// the portable kernel where this CPU lacks its instructions), summing the `W` gradient
    /// in the form `sums`.
    fn batch_gradient_with(
        &self,
        inputs: ArrayView3<T>,
        targets: ArrayView3<T>,
        kernel: Kernel,
        sums: WeightSums,
    ) -> (f64, ReadoutGradient<T>) {
        match lanes_of::<T>() {
            16 => self.batch_gradient::<16, 32>(inputs, targets, kernel, sums),
            _ => self.batch_gradient::<8, 16>(inputs, targets, kernel, sums),
        }
    }

    /// Computes the batch gradient in chunks of `L` trials, the unit of the gradient sums.
    /// With the 512-bit kernel and at least two chunks per thread, two chunks run side by
    /// side in `PAIR = 2 L` lanes, so that each loaded weight feeds twice the work, unless
    /// their per-lane `W` sums would be too large ([`MAX_PAIR_SUMS_BYTES`]). Every lane computes the same values either way, and each chunk's lanes are
    /// added on their own, so the pairing does not change any bit.
    fn batch_gradient<const L: usize, const PAIR: usize>(
        &self,
        inputs: ArrayView3<T>,
        targets: ArrayView3<T>,
        kernel: Kernel,
        sums: WeightSums,
    ) -> (f64, ReadoutGradient<T>) {
        let (n_steps, batch, _) = inputs.dim();
        let params = FlatParams::new(self, sums);
        let scale = T::from_f64(2.0 / (n_steps * batch * params.o) as f64);
        let n_chunks = batch.div_ceil(L);
        let threads = rayon::current_num_threads();
        let pair_sums_bytes = params.n * params.n * std::mem::size_of::<[T; PAIR]>();
        let paired = kernel == Kernel::Avx512
            && n_chunks >= 2 * threads
            && (params.product_stride.is_some() || pair_sums_bytes <= MAX_PAIR_SUMS_BYTES);
        let groups: Vec<Vec<ChunkResult<T>>> = if paired {
            spin_pool::map_indexed(n_chunks.div_ceil(2), threads, |pair| {
                let lanes = pair * PAIR..((pair + 1) * PAIR).min(batch);
                let data = ChunkData::<T, PAIR>::new(inputs, targets, lanes);
                let mut parts = run_chunk::<T, PAIR>(&params, &data, scale, kernel, L);
                // The last pair may hold a single chunk.
                parts.truncate(n_chunks - 2 * pair);
                parts
            })
        } else {
            spin_pool::map_indexed(n_chunks, threads, |chunk| {
                let lanes = chunk * L..((chunk + 1) * L).min(batch);
                let data = ChunkData::<T, L>::new(inputs, targets, lanes);
                run_chunk::<T, L>(&params, &data, scale, kernel, L)
            })
        };
        let parts: Vec<ChunkResult<T>> = groups.into_iter().flatten().collect();

        // Sum in chunk order.
        let mut total = ChunkResult::zeros(&params);
        for part in &parts {
            total.add(part);
        }
        let loss = total.loss / (n_steps * batch * params.o) as f64;
        let (n, m, o) = (params.n, params.m, params.o);
        let gradient = ReadoutGradient {
            w: Array2::from_shape_vec((n, n), total.w).expect("n * n"),
            u: Array2::from_shape_vec((n, m), total.u).expect("n * m"),
            b: Array1::from(total.b),
            w_out: Array2::from_shape_vec((o, n), total.w_out).expect("o * n"),
            b_out: Array1::from(total.b_out),
        };
        (loss, gradient)
    }
}

/// Returns [`Error::Overflow`] for a non-finite loss or the first non-finite gradient entry.
fn check_overflow<T: Real>(loss: f64, gradient: &ReadoutGradient<T>) -> Result<(), Error> {
    let overflow = |quantity: String, value: f64| Error::Overflow {
        quantity,
        value,
        precision: T::NAME,
    };
    if !loss.is_finite() {
        return Err(overflow("loss".to_string(), loss));
    }
    let gradient_finite = all_finite(gradient.w.view())
        && all_finite(gradient.u.view())
        && all_finite(gradient.b.view())
        && all_finite(gradient.w_out.view())
        && all_finite(gradient.b_out.view());
    if gradient_finite {
        return Ok(());
    }
    let matrices = [
        ("w", gradient.w.view()),
        ("u", gradient.u.view()),
        ("w_out", gradient.w_out.view()),
    ];
    for (name, matrix) in matrices {
        if let Some(((row, col), value)) = matrix.indexed_iter().find(|(_, v)| !v.is_finite()) {
            let quantity = format!("gradient.{name}[{row}, {col}]");
            return Err(overflow(quantity, value.to_f64()));
        }
    }
    for (name, vector) in [("b", &gradient.b), ("b_out", &gradient.b_out)] {
        if let Some((index, value)) = vector.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(overflow(
                format!("gradient.{name}[{index}]"),
                value.to_f64(),
            ));
        }
    }
    Ok(())
}

/// Checks that every entry of a `(n_steps, batch, k)` array is finite, naming the first one
/// that is not, because a NaN input would otherwise pass into the lane sums unnoticed.
fn check_finite_3d<T: Real>(name: &str, values: ArrayView3<T>) -> Result<(), Error> {
    if all_finite(values) {
        return Ok(());
    }
    match values.indexed_iter().find(|(_, v)| !v.to_f64().is_finite()) {
        None => Ok(()),
        Some(((step, trial, k), value)) => Err(Error::NonFinite {
            name: name.to_string(),
            index: format!("{step}, {trial}, {k}"),
            value: value.to_f64(),
        }),
    }
}

/// Parameters in flat row-major buffers, with `W` also transposed for the backward pass.
struct FlatParams<T> {
    n: usize,
    m: usize,
    o: usize,
    alpha: T,
    w: Vec<T>,
    w_t: Vec<T>,
    u: Vec<T>,
    b: Vec<T>,
    w_out: Vec<T>,
    w_out_t: Vec<T>,
    b_out: Vec<T>,
    /// `n` zeros, the starting sums of the backward pass's rate adjoints.
    zeros: Vec<T>,
    /// The matrices above in the form of [`pack_row_blocks`], for the 512-bit kernel.
    packed: PackedMatrices<T>,
    /// Row stride of the `W` gradient sums if they form a matrix product
    /// ([`WeightSums::Product`]): `n` rounded up to whole 64-byte blocks.
    product_stride: Option<usize>,
    /// Whether the `U` and `b` gradients come from the same matrix product. The padding
    /// columns of each transposed step then take its `m` inputs and a 1 after the `n`
    /// rates, so the product's columns `n..n + m` are the `U` gradient and column `n + m`
    /// is the `b` gradient. Only when there are inputs and the padding has room, because an extra
    /// block of columns would cost more than the lane-wise sums it replaces.
    product_inputs: bool,
}

impl<T: Real> FlatParams<T> {
    fn new(net: &ReadoutNet<T>, sums: WeightSums) -> FlatParams<T> {
        let flat = |a: &Array2<T>| match a.as_slice() {
            Some(slice) => slice.to_vec(),
            None => a.iter().copied().collect::<Vec<T>>(),
        };
        let (n, m, o) = (net.n_units(), net.n_inputs(), net.n_outputs());
        let w = flat(&net.w);
        let w_t = transpose_flat(&w, n, n);
        let u = flat(&net.u);
        let w_out = flat(&net.w_out);
        let w_out_t = transpose_flat(&w_out, o, n);
        let product_stride =
            (sums == WeightSums::Product).then(|| n.next_multiple_of(columns_per_block::<T>()));
        let packed = PackedMatrices {
            w: pack_row_blocks(&w, n),
            w_t: pack_row_blocks(&w_t, n),
            u: pack_row_blocks(&u, m),
            w_out: pack_row_blocks(&w_out, n),
            w_out_t: pack_row_blocks(&w_out_t, o),
        };
        FlatParams {
            n,
            m,
            o,
            alpha: net.alpha,
            w,
            w_t,
            u,
            b: net.b.to_vec(),
            w_out,
            w_out_t,
            b_out: net.b_out.to_vec(),
            zeros: vec![T::ZERO; n],
            packed,
            product_stride,
            product_inputs: m > 0 && product_stride.is_some_and(|stride| stride > n + m),
        }
    }
}

/// Whole row blocks of the matrices of [`FlatParams`], packed by [`pack_row_blocks`].
struct PackedMatrices<T> {
    w: Vec<T>,
    w_t: Vec<T>,
    u: Vec<T>,
    w_out: Vec<T>,
    w_out_t: Vec<T>,
}

/// Returns the row-major transpose of the row-major `(rows, cols)` matrix `a`.
fn transpose_flat<T: Copy>(a: &[T], rows: usize, cols: usize) -> Vec<T> {
    debug_assert_eq!(a.len(), rows * cols);
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let mut transposed = a.to_vec();
    for (j, column) in transposed.chunks_exact_mut(rows).enumerate() {
        for (value, row) in column.iter_mut().zip(a.chunks_exact(cols)) {
            *value = row[j];
        }
    }
    transposed
}

/// One chunk's inputs and targets in lane layout, with a mask for padded lanes.
struct ChunkData<T, const L: usize> {
    n_steps: usize,
    /// `(n_steps, n_inputs)` lane arrays.
    inputs: AlignedVec<[T; L]>,
    /// `(n_steps, n_outputs)` lane arrays.
    targets: AlignedVec<[T; L]>,
    /// 1 for a real trial, 0 for padding.
    valid: [T; L],
}

impl<T: Real, const L: usize> ChunkData<T, L> {
    fn new(
        inputs: ArrayView3<T>,
        targets: ArrayView3<T>,
        lanes: std::ops::Range<usize>,
    ) -> ChunkData<T, L> {
        let (n_steps, batch, m) = inputs.dim();
        let o = targets.dim().2;
        let pack = |array: &ArrayView3<T>, width: usize| {
            let mut out = AlignedVec::new();
            out.resize(n_steps * width, [T::ZERO; L]);
            if width == 0 {
                return out;
            }
            let steps = out.chunks_exact_mut(width);
            match array.as_slice() {
                // Standard layout: the chunk's trials are consecutive rows, so each step's
                // block is one slice of `lanes.len()` rows to transpose into lane arrays.
                Some(flat) => {
                    for (step, packed) in steps.enumerate() {
                        let first = (step * batch + lanes.start) * width;
                        let block = &flat[first..first + lanes.len() * width];
                        // The usual widths as constants, so that the compiler can unroll the loops.
                        match width {
                            1 => transpose_rows::<T, L, 1>(block, 1, packed),
                            2 => transpose_rows::<T, L, 2>(block, 2, packed),
                            _ => transpose_rows::<T, L, 0>(block, width, packed),
                        }
                    }
                }
                None => {
                    for (step, packed) in array.outer_iter().zip(steps) {
                        for (lane, trial) in lanes.clone().enumerate() {
                            for (slot, &value) in packed.iter_mut().zip(step.row(trial)) {
                                slot[lane] = value;
                            }
                        }
                    }
                }
            }
            out
        };
        let mut valid = [T::ZERO; L];
        for v in valid.iter_mut().take(lanes.len()) {
            *v = T::ONE;
        }
        ChunkData {
            n_steps,
            inputs: pack(&inputs, m),
            targets: pack(&targets, o),
            valid,
        }
    }
}

/// Writes row `lane` of `block` (rows of `width` values, `WIDTH` if it is not 0) into lane
/// `lane` of the `width` lane arrays of `packed`.
#[inline(always)]
fn transpose_rows<T: Copy, const L: usize, const WIDTH: usize>(
    block: &[T],
    width: usize,
    packed: &mut [[T; L]],
) {
    let width = if WIDTH == 0 { width } else { WIDTH };
    for (lane, row) in block.chunks_exact(width).enumerate() {
        for (slot, &value) in packed.iter_mut().zip(row) {
            slot[lane] = value;
        }
    }
}

/// A chunk's loss (sum of squared errors, in f64) and unscaled gradient sums.
struct ChunkResult<T> {
    loss: f64,
    w: Vec<T>,
    u: Vec<T>,
    b: Vec<T>,
    w_out: Vec<T>,
    b_out: Vec<T>,
}

impl<T: Real> ChunkResult<T> {
    fn zeros(p: &FlatParams<T>) -> ChunkResult<T> {
        ChunkResult {
            loss: 0.0,
            w: vec![T::ZERO; p.n * p.n],
            u: vec![T::ZERO; p.n * p.m],
            b: vec![T::ZERO; p.n],
            w_out: vec![T::ZERO; p.o * p.n],
            b_out: vec![T::ZERO; p.o],
        }
    }

    fn add(&mut self, other: &ChunkResult<T>) {
        self.loss += other.loss;
        for (sum, part) in [
            (&mut self.w, &other.w),
            (&mut self.u, &other.u),
            (&mut self.b, &other.b),
            (&mut self.w_out, &other.w_out),
            (&mut self.b_out, &other.b_out),
        ] {
            for (s, &p) in sum.iter_mut().zip(part) {
                *s += p;
            }
        }
    }
}

/// Per-thread buffers of one chunk.
struct ChunkBuffers<T, const L: usize> {
    /// `(n_steps + 1, n)`: `r[0..=n_steps]`.
    rates: AlignedVec<[T; L]>,
    /// `(n_steps, o)`: scaled read-out errors.
    errors: AlignedVec<[T; L]>,
    /// `(min(n_steps, STEP_BLOCK), n)`: gradients of the drive of the steps of one block,
    /// step `t` in row `t % STEP_BLOCK`. The rows are rewritten block after block, so they
    /// stay in cache. With a row for every step, each write would miss the cache.
    deltas: AlignedVec<[T; L]>,
    /// `(n)` each: state, drive, and the two adjoints of the backward pass.
    x: AlignedVec<[T; L]>,
    drive: AlignedVec<[T; L]>,
    adjoint: AlignedVec<[T; L]>,
    rate_adjoint: AlignedVec<[T; L]>,
    /// `(o)`: read-outs of one step.
    outputs: AlignedVec<[T; L]>,
    /// Lane-wise gradient sums of `W` `(n, n)` (unless it is summed as a matrix product),
    /// `U` transposed `(m, n)`, `b` `(n)`, `W_out` `(o, n)` and `b_out` `(o)`, each lane summing over its
    /// own trial.
    sum_w: AlignedVec<[T; L]>,
    sum_u: AlignedVec<[T; L]>,
    sum_b: AlignedVec<[T; L]>,
    sum_w_out: AlignedVec<[T; L]>,
    sum_b_out: AlignedVec<[T; L]>,
    /// With a matrix-product `W` gradient: one block of rates, transposed to
    /// `(STEP_BLOCK, L, stride)`, and the gradient sums `(groups, n, stride)`.
    rates_t: AlignedVec<T>,
    product_w: AlignedVec<T>,
    /// Sum of squared errors of each lane.
    loss: [f64; L],
}

impl<T: Real, const L: usize> Default for ChunkBuffers<T, L> {
    fn default() -> Self {
        ChunkBuffers {
            rates: AlignedVec::new(),
            errors: AlignedVec::new(),
            deltas: AlignedVec::new(),
            x: AlignedVec::new(),
            drive: AlignedVec::new(),
            adjoint: AlignedVec::new(),
            rate_adjoint: AlignedVec::new(),
            outputs: AlignedVec::new(),
            sum_w: AlignedVec::new(),
            sum_u: AlignedVec::new(),
            sum_b: AlignedVec::new(),
            sum_w_out: AlignedVec::new(),
            sum_b_out: AlignedVec::new(),
            rates_t: AlignedVec::new(),
            product_w: AlignedVec::new(),
            loss: [0.0; L],
        }
    }
}

impl<T: Real, const L: usize> ChunkBuffers<T, L> {
    /// Returns the loss and gradient sums of the trials in `lanes`, each sum over the lanes
    /// added left to right.
    fn result(&self, p: &FlatParams<T>, lanes: std::ops::Range<usize>) -> ChunkResult<T> {
        let mut result = ChunkResult::zeros(p);
        result.loss = self.loss[lanes.clone()].iter().sum();
        match p.product_stride {
            Some(stride) => {
                let group = lanes.start / lanes.len();
                let sums = &self.product_w[group * p.n * stride..(group + 1) * p.n * stride];
                for (row, sum_row) in result
                    .w
                    .chunks_exact_mut(p.n)
                    .zip(sums.chunks_exact(stride))
                {
                    row.copy_from_slice(&sum_row[..p.n]);
                }
                if p.product_inputs {
                    let (n, m) = (p.n, p.m);
                    let rows = result.u.chunks_exact_mut(m).zip(&mut result.b);
                    for ((u_row, b), sum_row) in rows.zip(sums.chunks_exact(stride)) {
                        u_row.copy_from_slice(&sum_row[n..n + m]);
                        *b = sum_row[n + m];
                    }
                }
            }
            None => reduce_lanes(&self.sum_w, lanes.clone(), &mut result.w),
        }
        if !p.product_inputs {
            // `sum_u` is `(m, n)`: lane sums of `U^T`.
            for (k, sums) in self.sum_u.chunks_exact(p.n).enumerate() {
                for (i, values) in sums.iter().enumerate() {
                    result.u[i * p.m + k] += values[lanes.clone()]
                        .iter()
                        .fold(T::ZERO, |sum, &x| sum + x);
                }
            }
            reduce_lanes(&self.sum_b, lanes.clone(), &mut result.b);
        }
        reduce_lanes(&self.sum_w_out, lanes.clone(), &mut result.w_out);
        reduce_lanes(&self.sum_b_out, lanes, &mut result.b_out);
        result
    }
}

/// Largest size of the lane-wise `W` gradient sums for which two chunks run side by side.
/// Larger sums, together with a block of steps, no longer fit in a 2 MiB L2 cache, and
/// pairing then measured no faster (`f32`, `n = 100`, where the sums take 1.25 MiB). The
/// matrix-product form ([`WeightSums::Product`]) has no per-lane sums, so it always pairs.
const MAX_PAIR_SUMS_BYTES: usize = 512 * 1024;

/// Steps per block of the weight-gradient sums in the backward pass. A block's deltas and
/// rates (`2 * STEP_BLOCK * n` lane arrays, 400 KiB for `f32`, 16 lanes and `n = 100`) fit
/// in a 2 MiB L2 cache, so they are summed while they are still there.
const STEP_BLOCK: usize = 32;

/// Form of a chunk's `W` gradient sums. The two forms add the same terms in different
/// orders, so they differ in the last bits. The form depends only on the number of units,
/// never on the thread count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WeightSums {
    /// One sum per weight and lane (`n * n * L` values), over the steps; the lanes are added
    /// at the end.
    PerLane,
    /// Each block of rates is transposed to one row per lane, and the gradient is summed as
    /// a matrix product whose inner dimension runs over steps and, within a step, over
    /// lanes, into one `n * stride` array per chunk. It takes about 1/16 of the memory of
    /// the per-lane sums but computes the padding columns of each row too.
    Product,
}

/// Number of units from which [`WeightSums::Product`] is used. In the read-out benchmark
/// (`f32`, one thread, fastest of 800 iterations on the benchmark machine), the product form
/// took 5 % longer at 20 units, where its rows of 32 columns are 38 % padding. The per-lane
/// form took 35 % longer at 100 units, where its sums are too large to pair chunks.
// NOTE: sizes between 20 and 100 units were not measured; 48 is an estimate.
const PRODUCT_MIN_UNITS: usize = 48;

impl WeightSums {
    fn for_units(n: usize) -> WeightSums {
        if n >= PRODUCT_MIN_UNITS {
            WeightSums::Product
        } else {
            WeightSums::PerLane
        }
    }
}

/// Runs one chunk of `L` lanes and returns one result per group of `group` lanes.
fn run_chunk<T: Real, const L: usize>(
    params: &FlatParams<T>,
    data: &ChunkData<T, L>,
    scale: T,
    kernel: Kernel,
    group: usize,
) -> Vec<ChunkResult<T>> {
    with_thread_buffers(|buffers| {
        match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 if kernel.is_supported() => {
                // SAFETY: the CPU reports avx512f, avx2 and fma (`is_supported`).
                unsafe { run_chunk_avx512::<T, L>(params, data, scale, buffers) }
            }
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Kernel::Avx2 if kernel.is_supported() => {
                // SAFETY: the CPU reports avx2 and fma (`is_supported`).
                unsafe { run_chunk_avx2::<T, L>(params, data, scale, buffers) }
            }
            _ => run_chunk_with::<T, L, false, false, 4, 4>(params, data, scale, buffers),
        }
        (0..L / group)
            .map(|g| buffers.result(params, g * group..(g + 1) * group))
            .collect()
    })
}

/// Runs the chunk engine in 256-bit registers. A 16-lane `f32` array (or an 8-lane `f64`
/// one) fills two registers, so 4-row blocks in the matrix-vector products and 4-column
/// blocks in the gradient sums each keep 8 of the 16 registers as accumulators.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_chunk_avx2<T: Real, const L: usize>(
    params: &FlatParams<T>,
    data: &ChunkData<T, L>,
    scale: T,
    buffers: &mut ChunkBuffers<T, L>,
) {
    run_chunk_with::<T, L, true, false, 4, 4>(params, data, scale, buffers)
}

/// Runs the chunk engine in 512-bit registers, one per lane array. Blocks of 8 rows in the
/// matrix-vector products give 8 independent multiply-add chains, enough for two FMA units
/// with a 4-cycle latency. The gradient sums use blocks of 2 rows by 8 columns.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_chunk_avx512<T: Real, const L: usize>(
    params: &FlatParams<T>,
    data: &ChunkData<T, L>,
    scale: T,
    buffers: &mut ChunkBuffers<T, L>,
) {
    // Two registers per lane array take twice the accumulators, so the gradient sums use
    // blocks of 4 columns.
    if crate::lanes::avx512::registers::<T, L>() == 2 {
        run_chunk_with::<T, L, true, true, 8, 4>(params, data, scale, buffers)
    } else {
        run_chunk_with::<T, L, true, true, 8, 8>(params, data, scale, buffers)
    }
}

/// Runs the forward pass, read-out errors and backward pass of one chunk, leaving the
/// lane-wise loss and gradient sums in `buffers`.
///
/// `ROWS` is the row block of the matrix-vector products and `BLOCK` the column block of
/// the weight-gradient sums. Neither changes the order of any sum. `WIDE` selects the
/// 512-bit intrinsics for both.
#[inline(always)]
fn run_chunk_with<
    T: Real,
    const L: usize,
    const FUSED: bool,
    const WIDE: bool,
    const ROWS: usize,
    const BLOCK: usize,
>(
    p: &FlatParams<T>,
    data: &ChunkData<T, L>,
    scale: T,
    buffers: &mut ChunkBuffers<T, L>,
) {
    let (n, o) = (p.n, p.o);
    let n_steps = data.n_steps;
    let zero = [T::ZERO; L];
    resize(&mut buffers.rates, (n_steps + 1) * n, zero);
    resize(&mut buffers.errors, n_steps * o, zero);
    resize(&mut buffers.deltas, n_steps.min(STEP_BLOCK) * n, zero);
    for buffer in [
        &mut buffers.x,
        &mut buffers.drive,
        &mut buffers.adjoint,
        &mut buffers.rate_adjoint,
    ] {
        resize(buffer, n, zero);
    }
    resize(&mut buffers.outputs, o, zero);
    match p.product_stride {
        Some(stride) => {
            resize(&mut buffers.rates_t, STEP_BLOCK * L * stride, T::ZERO);
            resize(
                &mut buffers.product_w,
                L / lanes_of::<T>() * n * stride,
                T::ZERO,
            );
            buffers.product_w.fill(T::ZERO);
        }
        None => resize(&mut buffers.sum_w, n * n, zero),
    }
    resize(&mut buffers.sum_u, n * p.m, zero);
    resize(&mut buffers.sum_b, n, zero);
    resize(&mut buffers.sum_w_out, o * n, zero);
    resize(&mut buffers.sum_b_out, o, zero);

    buffers.loss = forward::<T, L, FUSED, WIDE, ROWS>(p, data, scale, buffers);
    backward::<T, L, FUSED, WIDE, ROWS, BLOCK>(p, data, buffers);
}

/// Runs the forward pass: rates `r[0..=n_steps]` and read-out errors
/// `dy[t] = scale (y[t] - target[t])`. Returns each lane's sum of squared errors.
#[inline(always)]
fn forward<T: Real, const L: usize, const FUSED: bool, const WIDE: bool, const ROWS: usize>(
    p: &FlatParams<T>,
    data: &ChunkData<T, L>,
    scale: T,
    buffers: &mut ChunkBuffers<T, L>,
) -> [f64; L] {
    let (n, m, o) = (p.n, p.m, p.o);
    let alpha = p.alpha;
    let keep = T::ONE - alpha;
    let ChunkBuffers {
        rates,
        errors,
        x,
        drive,
        outputs,
        ..
    } = buffers;
    x.fill([T::ZERO; L]);
    rates[..n].fill([T::from_f64(0.5); L]);
    // One sum per lane, so that the additions do not wait on each other.
    let mut loss = [0.0f64; L];
    for t in 0..data.n_steps {
        // drive = b + U u[t] + W r[t]
        let step_inputs = &data.inputs[t * m..(t + 1) * m];
        gemv_lanes_wide::<T, L, FUSED, WIDE, ROWS>(
            &p.u,
            &p.packed.u,
            step_inputs,
            Some(&p.b),
            drive,
        );
        let (past, future) = rates.split_at_mut((t + 1) * n);
        let r_now = &past[t * n..];
        gemv_lanes_wide::<T, L, FUSED, WIDE, ROWS>(&p.w, &p.packed.w, r_now, None, drive);

        // x[t + 1] = (1 - alpha) x[t] + alpha drive, r[t + 1] = logistic(x[t + 1])
        // Element-wise loops run over flat slices, which the compiler vectorises at any
        // register width.
        for (xi, &d) in x.as_flattened_mut().iter_mut().zip(drive.as_flattened()) {
            *xi = alpha.madd::<FUSED>(d, keep * *xi);
        }
        let r_next = &mut future[..n];
        // The drive is spent, so it takes exp(-|x|).
        map_flat::<T, Logistic<FUSED>>(
            x.as_flattened(),
            r_next.as_flattened_mut(),
            drive.as_flattened_mut(),
        );

        // y[t] = W_out r[t + 1] + b_out
        gemv_lanes_wide::<T, L, FUSED, WIDE, ROWS>(
            &p.w_out,
            &p.packed.w_out,
            r_next,
            Some(&p.b_out),
            outputs,
        );
        let target = &data.targets[t * o..(t + 1) * o];
        let error = &mut errors[t * o..(t + 1) * o];
        for ((y, tg), e) in outputs.iter().zip(target).zip(error.iter_mut()) {
            for lane in 0..L {
                let residual = (y[lane] - tg[lane]) * data.valid[lane];
                loss[lane] += residual.to_f64() * residual.to_f64();
                e[lane] = scale * residual;
            }
        }
    }
    loss
}

/// Runs the backward pass: deltas `d[t] = alpha dL/dx[t + 1]`, the gradient of the drive of
/// step `t`, and the lane-wise gradient sums, added block by block of [`STEP_BLOCK`] steps
/// while the block is in cache.
#[inline(always)]
fn backward<
    T: Real,
    const L: usize,
    const FUSED: bool,
    const WIDE: bool,
    const ROWS: usize,
    const BLOCK: usize,
>(
    p: &FlatParams<T>,
    data: &ChunkData<T, L>,
    buffers: &mut ChunkBuffers<T, L>,
) {
    let (n, m, o) = (p.n, p.m, p.o);
    let n_steps = data.n_steps;
    let alpha = p.alpha;
    let keep = T::ONE - alpha;
    let ChunkBuffers {
        rates,
        errors,
        deltas,
        adjoint,
        rate_adjoint,
        sum_w,
        sum_u,
        sum_b,
        sum_w_out,
        sum_b_out,
        rates_t,
        product_w,
        ..
    } = buffers;
    adjoint.fill([T::ZERO; L]);
    let mut block_end = n_steps;
    for t in (0..n_steps).rev() {
        // dL/dr[t + 1] = W_out^T dy[t] + W^T d[t + 1]
        let step_errors = &errors[t * o..(t + 1) * o];
        gemv_lanes_wide::<T, L, FUSED, WIDE, ROWS>(
            &p.w_out_t,
            &p.packed.w_out_t,
            step_errors,
            Some(&p.zeros),
            rate_adjoint,
        );
        if t + 1 < n_steps {
            let slot = (t + 1) % STEP_BLOCK;
            let later = &deltas[slot * n..(slot + 1) * n];
            gemv_lanes_wide::<T, L, FUSED, WIDE, ROWS>(
                &p.w_t,
                &p.packed.w_t,
                later,
                None,
                rate_adjoint,
            );
        }

        // dL/dx[t + 1] = (1 - alpha) dL/dx[t + 2] + r (1 - r) dL/dr[t + 1]
        let r_now = &rates[(t + 1) * n..(t + 2) * n];
        let slot = t % STEP_BLOCK;
        let delta = &mut deltas[slot * n..(slot + 1) * n];
        for (((g, &gr), &r), d) in adjoint
            .as_flattened_mut()
            .iter_mut()
            .zip(rate_adjoint.as_flattened())
            .zip(r_now.as_flattened())
            .zip(delta.as_flattened_mut())
        {
            let slope = r * (T::ONE - r);
            *g = slope.madd::<FUSED>(gr, keep * *g);
            *d = alpha * *g;
        }

        // Steps t..block_end form a block: add their terms to the gradient sums. The
        // block that ends at n_steps comes first and sets the sums.
        if t % STEP_BLOCK == 0 {
            let first = block_end == n_steps;
            let block_deltas = &deltas[..(block_end - t) * n];
            let block_errors = &errors[t * o..block_end * o];
            let past_rates = &rates[t * n..block_end * n];
            let block_inputs = &data.inputs[t * m..block_end * m];
            let next_rates = &rates[(t + 1) * n..(block_end + 1) * n];
            match p.product_stride {
                Some(stride) => {
                    let block_rates_t = &mut rates_t[..(block_end - t) * L * stride];
                    transpose_lanes_wide::<T, L, WIDE>(past_rates, n, block_rates_t, stride);
                    if p.product_inputs {
                        write_input_columns(block_inputs, m, n, block_rates_t, stride);
                    }
                    lane_product_accumulate_wide::<T, L, FUSED, WIDE, 4>(
                        block_deltas,
                        n,
                        block_rates_t,
                        stride,
                        lanes_of::<T>(),
                        product_w,
                    );
                }
                None => outer_accumulate_lanes_wide::<T, L, FUSED, WIDE, BLOCK>(
                    block_deltas,
                    n,
                    past_rates,
                    n,
                    sum_w,
                    first,
                ),
            }
            if !p.product_inputs {
                // Inputs as rows and deltas as columns, so that the column blocks fill up
                // with a few inputs. The sums are `U^T`'s.
                outer_accumulate_lanes_wide::<T, L, FUSED, WIDE, BLOCK>(
                    block_inputs,
                    m,
                    block_deltas,
                    n,
                    sum_u,
                    first,
                );
                row_accumulate_lanes(block_deltas, n, sum_b, first);
            }
            outer_accumulate_lanes_wide::<T, L, FUSED, WIDE, BLOCK>(
                block_errors,
                o,
                next_rates,
                n,
                sum_w_out,
                first,
            );
            row_accumulate_lanes(block_errors, o, sum_b_out, first);
            block_end = t;
        }
    }
}

/// Writes each step's inputs and a 1 into columns `n..=n + m` of its transposed rows
/// (`(steps, L, stride)`, from [`transpose_lanes_wide`]), for
/// [`FlatParams::product_inputs`].
#[inline(always)]
fn write_input_columns<T: Real, const L: usize>(
    inputs: &[[T; L]],
    m: usize,
    n: usize,
    rows_t: &mut [T],
    stride: usize,
) {
    for (step_inputs, step_rows) in inputs
        .chunks_exact(m)
        .zip(rows_t.chunks_exact_mut(L * stride))
    {
        for (lane, row) in step_rows.chunks_exact_mut(stride).enumerate() {
            let extra = &mut row[n..=n + m];
            for (value, input) in extra.iter_mut().zip(step_inputs) {
                *value = input[lane];
            }
            extra[m] = T::ONE;
        }
    }
}

/// Returns the entries of `array` in logical (row-major) order, borrowed when its memory
/// already has that order.
fn standard_slice<T: Copy>(array: ndarray::ArrayViewD<'_, T>) -> std::borrow::Cow<'_, [T]> {
    match array.to_slice() {
        Some(slice) => std::borrow::Cow::Borrowed(slice),
        None => std::borrow::Cow::Owned(array.iter().copied().collect()),
    }
}

/// Adam for a [`ReadoutNet`], with global gradient-norm clipping; the update follows
/// [`crate::Adam`] and is computed in `f64`, then rounded to `T`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadoutAdam {
    config: AdamConfig,
    step_count: usize,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
}

impl ReadoutAdam {
    /// Creates zero moments shaped like the parameters of `net`.
    ///
    /// # Errors
    /// Any error of [`AdamConfig::validate`].
    pub fn new<T: Real>(config: AdamConfig, net: &ReadoutNet<T>) -> Result<ReadoutAdam, Error> {
        config.validate()?;
        let sizes = [
            net.w.len(),
            net.u.len(),
            net.b.len(),
            net.w_out.len(),
            net.b_out.len(),
        ];
        Ok(ReadoutAdam {
            config,
            step_count: 0,
            m: sizes.iter().map(|&s| vec![0.0; s]).collect(),
            v: sizes.iter().map(|&s| vec![0.0; s]).collect(),
        })
    }

    /// Number of steps taken.
    pub fn step_count(&self) -> usize {
        self.step_count
    }

    /// Clips the gradient to the global norm `clip_norm`, updates the moments and `net`.
    ///
    /// The step is atomic: on error neither `net` nor the optimiser changes.
    ///
    /// # Errors
    /// [`Error::Diverged`], with `iteration` = the step count, naming the first parameter
    /// whose gradient or updated value is non-finite. [`Error::ShapeMismatch`] if `net`
    /// does not have the size of the network the optimiser was created for, or if the
    /// gradient does not have the shapes of `net`. Any error of [`ReadoutNet::validate`].
    pub fn step<T: Real>(
        &mut self,
        net: &mut ReadoutNet<T>,
        gradient: &ReadoutGradient<T>,
    ) -> Result<(), Error> {
        let names = ["w", "u", "b", "w_out", "b_out"];
        net.validate()?;
        let net_shapes = [
            net.w.shape(),
            net.u.shape(),
            net.b.shape(),
            net.w_out.shape(),
            net.b_out.shape(),
        ];
        let gradient_shapes = [
            gradient.w.shape(),
            gradient.u.shape(),
            gradient.b.shape(),
            gradient.w_out.shape(),
            gradient.b_out.shape(),
        ];
        for (((name, net_shape), gradient_shape), m) in names
            .iter()
            .zip(net_shapes)
            .zip(gradient_shapes)
            .zip(&self.m)
        {
            if net_shape.iter().product::<usize>() != m.len() {
                return Err(Error::shape(
                    format!("net.{name}"),
                    format!(
                        "a shape of {} entries, the size of the network this optimiser was \
                         created for",
                        m.len()
                    ),
                    net_shape,
                ));
            }
            if gradient_shape != net_shape {
                return Err(Error::shape(
                    format!("gradient.{name}"),
                    format!("{}, the shape of net.{name}", format_shape(net_shape)),
                    gradient_shape,
                ));
            }
        }
        // Arrays of any memory layout, read in logical (row-major) order.
        let grads: [std::borrow::Cow<[T]>; 5] = [
            standard_slice(gradient.w.view().into_dyn()),
            standard_slice(gradient.u.view().into_dyn()),
            standard_slice(gradient.b.view().into_dyn()),
            standard_slice(gradient.w_out.view().into_dyn()),
            standard_slice(gradient.b_out.view().into_dyn()),
        ];
        let diverged = |parameter: &str| Error::Diverged {
            iteration: self.step_count,
            parameter: parameter.into(),
        };
        for (name, g) in names.iter().zip(&grads) {
            if !all_finite(ndarray::ArrayView1::from(&g[..])) {
                return Err(diverged(name));
            }
        }

        // Global norm, scaled by the largest entry before squaring so it cannot overflow.
        let largest = grads
            .iter()
            .flat_map(|g| g.iter())
            .fold(0.0f64, |a, v| a.max(v.to_f64().abs()));
        let norm = if largest > 0.0 {
            let sum: f64 = grads
                .iter()
                .flat_map(|g| g.iter())
                .map(|v| (v.to_f64() / largest).powi(2))
                .sum();
            largest * sum.sqrt()
        } else {
            0.0
        };
        let clip = if norm > self.config.clip_norm {
            self.config.clip_norm / norm
        } else {
            1.0
        };

        let update = Update::new(&self.config, self.step_count + 1, clip);
        let mut updated = net.clone();
        for matrix in [&mut updated.w, &mut updated.u, &mut updated.w_out] {
            if !matrix.is_standard_layout() {
                *matrix = matrix.as_standard_layout().into_owned();
            }
        }
        for vector in [&mut updated.b, &mut updated.b_out] {
            if !vector.is_standard_layout() {
                *vector = vector.as_standard_layout().into_owned();
            }
        }
        let mut m = self.m.clone();
        let mut v = self.v.clone();
        let params: [&mut [T]; 5] = [
            updated.w.as_slice_mut().expect("standard layout"),
            updated.u.as_slice_mut().expect("standard layout"),
            updated.b.as_slice_mut().expect("standard layout"),
            updated.w_out.as_slice_mut().expect("standard layout"),
            updated.b_out.as_slice_mut().expect("standard layout"),
        ];
        for ((((name, p), g), m), v) in names
            .iter()
            .zip(params)
            .zip(&grads)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            adam_update(update, p, g, m, v);
            if !all_finite(ndarray::ArrayView1::from(&p[..])) {
                return Err(diverged(name));
            }
        }
        *net = updated;
        self.m = m;
        self.v = v;
        self.step_count += 1;
        Ok(())
    }
}

/// Updates the moments `m` and `v` and the parameters `p` with the gradient `g`, in
/// 512-bit registers where the CPU has them. Every entry takes the same operations in the
/// same order either way, so the bits do not depend on the CPU.
fn adam_update<T: Real>(c: Update, p: &mut [T], g: &[T], m: &mut [f64], v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::lanes::has_avx512f() {
        // SAFETY: the CPU reports avx512f.
        return unsafe { adam_update_avx512(c, p, g, m, v) };
    }
    adam_update_with(c, p, g, m, v);
}

/// [`adam_update`] compiled for AVX-512F. The square root and the division of each entry
/// dominate, and one register takes eight of them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn adam_update_avx512<T: Real>(
    c: Update,
    p: &mut [T],
    g: &[T],
    m: &mut [f64],
    v: &mut [f64],
) {
    adam_update_with(c, p, g, m, v);
}

#[inline(always)]
fn adam_update_with<T: Real>(c: Update, p: &mut [T], g: &[T], m: &mut [f64], v: &mut [f64]) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        let mut value = p.to_f64();
        c.apply_one(&mut value, m, v, g.to_f64());
        *p = T::from_f64(value);
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Builds a network of 13 units (one 8-row block, one 4-row block and a single row), 2
    /// inputs and 3 outputs, with random biases. The batch has 37 trials over 70 steps, so
    /// it fills three chunks with padding and three blocks of `STEP_BLOCK` steps. In the
    /// matrix-product form the 3 padding columns of its rows (stride 16) take the inputs
    /// and the 1 of the `U` and `b` gradients.
    fn case<T: Real>() -> (ReadoutNet<T>, Array3<T>, Array3<T>) {
        case_with_units(13)
    }

    /// [`case`] with `n` units.
    fn case_with_units<T: Real>(n: usize) -> (ReadoutNet<T>, Array3<T>, Array3<T>) {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let mut net = ReadoutNet::<f64>::new_using(n, 2, 3, 0.2, 1.5, &mut rng).unwrap();
        net.b.mapv_inplace(|_| rng.random_range(-0.5..0.5));
        net.b_out.mapv_inplace(|_| rng.random_range(-0.5..0.5));
        let inputs =
            Array3::from_shape_simple_fn((70, 37, 2), || T::from_f64(rng.random_range(-1.0..1.0)));
        let targets =
            Array3::from_shape_simple_fn((70, 37, 3), || T::from_f64(rng.random_range(-0.5..0.5)));
        (net.to_precision(), inputs, targets)
    }

    /// Returns the five gradient arrays as slices, in field order.
    fn parameter_slices<T: Real>(gradient: &ReadoutGradient<T>) -> [&[T]; 5] {
        [
            gradient.w.as_slice().unwrap(),
            gradient.u.as_slice().unwrap(),
            gradient.b.as_slice().unwrap(),
            gradient.w_out.as_slice().unwrap(),
            gradient.b_out.as_slice().unwrap(),
        ]
    }

    fn gradient_bits<T: Real>(gradient: &ReadoutGradient<T>) -> Vec<u64> {
        parameter_slices(gradient)
            .into_iter()
            .flatten()
            .map(|v| v.to_f64().to_bits())
            .collect()
    }

    /// Largest absolute difference between two gradients over all parameters, and the
    /// largest absolute entry of the second.
    fn gradient_difference<T: Real>(
        found: &ReadoutGradient<T>,
        reference: &ReadoutGradient<f64>,
    ) -> (f64, f64) {
        let mut difference = 0.0f64;
        let mut scale = 0.0f64;
        for (found, reference) in parameter_slices(found)
            .into_iter()
            .zip(parameter_slices(reference))
        {
            for (f, &r) in found.iter().zip(reference) {
                difference = difference.max((f.to_f64() - r).abs());
                scale = scale.max(r.abs());
            }
        }
        (difference, scale)
    }

    fn avx512_gives_avx2_bits<T: Real>() {
        if !Kernel::Avx512.is_supported() {
            tracing::warn!("no avx512f on this CPU: the 512-bit kernel is not compared");
            return;
        }
        let (net, inputs, targets) = case::<T>();
        for sums in [WeightSums::PerLane, WeightSums::Product] {
            let (loss_2, gradient_2) =
                net.batch_gradient_with(inputs.view(), targets.view(), Kernel::Avx2, sums);
            let (loss_512, gradient_512) =
                net.batch_gradient_with(inputs.view(), targets.view(), Kernel::Avx512, sums);
            assert_eq!(loss_2.to_bits(), loss_512.to_bits(), "{} {sums:?}", T::NAME);
            assert_eq!(
                gradient_bits(&gradient_2),
                gradient_bits(&gradient_512),
                "{} {sums:?}",
                T::NAME
            );
        }
    }

    #[test]
    fn avx512_matches_avx2_bits() {
        avx512_gives_avx2_bits::<f32>();
        avx512_gives_avx2_bits::<f64>();
    }

    #[test]
    fn each_kernel_matches_f64_reference() {
        // The reference is the portable f64 kernel, and the kernels differ from it by
        // rounding only. f64 with or without fused multiply-adds stays within 1e-12 of the
        // largest entry. f32 (unit roundoff 6e-8, grown over 70 steps of a contracting map)
        // stays within 1e-4, the same bound as the f32 against f64 test of the public API.
        let (net, inputs, targets) = case::<f64>();
        let (loss_ref, reference) = net.batch_gradient_with(
            inputs.view(),
            targets.view(),
            Kernel::Portable,
            WeightSums::PerLane,
        );
        let (net_32, inputs_32, targets_32) = case::<f32>();
        let kernels = [Kernel::Portable, Kernel::Avx2, Kernel::Avx512];
        for kernel in kernels.into_iter().filter(|k| k.is_supported()) {
            for sums in [WeightSums::PerLane, WeightSums::Product] {
                let (loss, gradient) =
                    net.batch_gradient_with(inputs.view(), targets.view(), kernel, sums);
                let (difference, scale) = gradient_difference(&gradient, &reference);
                assert!(
                    difference <= 1e-12 * scale,
                    "f64 {kernel:?} {sums:?}: {difference:e}"
                );
                assert!(
                    ((loss - loss_ref) / loss_ref).abs() < 1e-12,
                    "f64 {kernel:?} {sums:?}"
                );

                let (loss, gradient) =
                    net_32.batch_gradient_with(inputs_32.view(), targets_32.view(), kernel, sums);
                let (difference, scale) = gradient_difference(&gradient, &reference);
                assert!(
                    difference <= 1e-4 * scale,
                    "f32 {kernel:?} {sums:?}: {difference:e}"
                );
                assert!(
                    ((loss - loss_ref) / loss_ref).abs() < 1e-5,
                    "f32 {kernel:?} {sums:?}"
                );
            }
        }
    }

    #[test]
    fn weight_sum_forms_agree() {
        // Both forms add the same terms, the per-lane one by lane over the steps and then
        // over the lanes, the product one over steps and lanes in one chain. With the
        // portable f64 kernel they differ by rounding only: 70 steps times 16 lanes of
        // terms give a bound near 1e3 * 1.1e-16 of the summed magnitudes, so a bound of
        // 1e-12 of the largest entry leaves room.
        // With 13 units the product also sums the U and b gradients in the 3 padding
        // columns of stride 16 (`FlatParams::product_inputs`). With 14 units there is no
        // room for them, so both forms give those two the same bits.
        for n in [13, 14] {
            let (net, inputs, targets) = case_with_units::<f64>(n);
            let run = |sums| {
                net.batch_gradient_with(inputs.view(), targets.view(), Kernel::Portable, sums)
            };
            let (loss_lane, per_lane) = run(WeightSums::PerLane);
            let (loss_product, product) = run(WeightSums::Product);
            let params = FlatParams::new(&net, WeightSums::Product);
            assert_eq!(params.product_inputs, n == 13, "n = {n}");
            assert_eq!(loss_lane.to_bits(), loss_product.to_bits(), "n = {n}");
            let (difference, scale) = gradient_difference(&product, &per_lane);
            assert!(difference <= 1e-12 * scale, "n = {n}: {difference:e}");
            if n == 14 {
                assert_eq!(product.u, per_lane.u);
                assert_eq!(product.b, per_lane.b);
            }
            assert_eq!(product.w_out, per_lane.w_out, "n = {n}");
            assert_eq!(product.b_out, per_lane.b_out, "n = {n}");
        }
    }
    fn paired_gives_single_bits<T: Real>() {
        if !Kernel::Avx512.is_supported() {
            return;
        }
        let (net, inputs, targets) = case::<T>();
        let run_on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let sums = [WeightSums::PerLane, WeightSums::Product];
            sums.map(|sums| {
                pool.install(|| {
                    net.batch_gradient_with(inputs.view(), targets.view(), Kernel::Avx512, sums)
                })
            })
        };
        // One thread gets all three chunks and runs them as a pair and a single chunk;
        // eight threads run each chunk on its own.
        let paired = run_on(1);
        let single = run_on(8);
        for ((loss_paired, paired), (loss_single, single)) in paired.iter().zip(&single) {
            assert_eq!(loss_paired.to_bits(), loss_single.to_bits(), "{}", T::NAME);
            assert_eq!(gradient_bits(paired), gradient_bits(single), "{}", T::NAME);
        }
    }

    #[test]
    fn paired_chunks_match_single_bits() {
        paired_gives_single_bits::<f32>();
        paired_gives_single_bits::<f64>();
    }

    #[test]
    fn transpose_flat_small_matrix() {
        // (2, 3) row-major [[1, 2, 3], [4, 5, 6]] becomes (3, 2) [[1, 4], [2, 5], [3, 6]].
        let a = [1, 2, 3, 4, 5, 6];
        assert_eq!(transpose_flat(&a, 2, 3), vec![1, 4, 2, 5, 3, 6]);
        assert_eq!(transpose_flat(&a, 1, 6), a.to_vec());
        assert!(transpose_flat::<i32>(&[], 0, 4).is_empty());
    }

    #[test]
    fn adam_update_bits_do_not_depend_on_cpu() {
        let config = AdamConfig {
            learning_rate: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            clip_norm: 1.0,
        };
        let c = Update::new(&config, 3, 0.37);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // 37 entries leave a remainder after whole 512-bit registers of f32 and f64.
        let g: Vec<f32> = (0..37).map(|_| rng.random_range(-2.0..2.0)).collect();
        let p: Vec<f32> = (0..37).map(|_| rng.random_range(-1.0..1.0)).collect();
        let m: Vec<f64> = (0..37).map(|_| rng.random_range(-0.1..0.1)).collect();
        let v: Vec<f64> = (0..37).map(|_| rng.random_range(0.0..0.01)).collect();

        let (mut p_plain, mut m_plain, mut v_plain) = (p.clone(), m.clone(), v.clone());
        adam_update_with(c, &mut p_plain, &g, &mut m_plain, &mut v_plain);
        let (mut p_fast, mut m_fast, mut v_fast) = (p.clone(), m.clone(), v.clone());
        adam_update(c, &mut p_fast, &g, &mut m_fast, &mut v_fast);

        assert_eq!(p_fast, p_plain);
        assert_eq!(m_fast, m_plain);
        assert_eq!(v_fast, v_plain);

        // The first entry by hand, in the same order of operations.
        let g0 = f64::from(g[0]) * 0.37;
        let m0 = 0.9 * m[0] + (1.0 - 0.9) * g0;
        let v0 = 0.999 * v[0] + (1.0 - 0.999) * g0 * g0;
        let step_size = 0.01 / (1.0 - 0.9f64.powi(3));
        let second_correction = 1.0 / (1.0 - 0.999f64.powi(3));
        let p0 = f64::from(p[0]) - step_size * m0 / ((v0 * second_correction).sqrt() + 1e-8);
        assert_eq!(m_fast[0], m0);
        assert_eq!(v_fast[0], v0);
        assert_eq!(p_fast[0], p0 as f32);
    }
}
