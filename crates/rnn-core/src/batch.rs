//! Batch loss and gradient of an [`Rnn`] with the trials of a chunk kept in SIMD lanes.
//!
//! A batch is cut into chunks of [`LANES`] trials in batch order. Each chunk is padded to its
//! longest trial with zero inputs and zero error weights. The padded steps come after the
//! trial's scored steps, so their adjoints are exactly 0 and they add nothing to the
//! gradient. Chunks run in parallel and their results are summed in chunk order, so the
//! result does not depend on the number of threads.

use rayon::prelude::*;

use crate::aligned::AlignedVec;
use crate::engine::TrialGradient;
use crate::lanes::{
    gemv_lanes, has_avx2_fma, map_flat, outer_sum_lanes, resize, row_sum_lanes,
    with_thread_buffers, LogisticSlope, OuterScratch,
};
use crate::{Activation, Perturbation, Real, Rnn, Trial};

/// Trials per chunk. Four `f64` lanes fill one AVX2 register, and small batches (8 wrist
/// trials) still give one chunk per core on two cores.
pub(crate) const LANES: usize = 4;

type Lanes = [f64; LANES];

/// Parameters in flat row-major buffers.
pub(crate) struct BatchKernel<'a> {
    n: usize,
    m: usize,
    rate: Vec<f64>,
    leak: Vec<f64>,
    tau_ms: Vec<f64>,
    w: Vec<f64>,
    w_t: Vec<f64>,
    u: Vec<f64>,
    b: Vec<f64>,
    y0: Vec<f64>,
    /// Row-major delays, or `None` if every delay is 0.
    delays: Option<Vec<usize>>,
    /// Rows grouped by delay, if the delays are equal along every row (one delay per
    /// postsynaptic unit). The steps then use one matrix-vector product per group.
    row_groups: Option<Vec<RowGroup>>,
    activation: &'a Activation,
}

/// The rows whose connections all have one delay.
struct RowGroup {
    delay: usize,
    rows: Vec<usize>,
    /// `W` restricted to these rows, row-major `(rows.len(), n)`.
    w: Vec<f64>,
    /// Its transpose, row-major `(n, rows.len())`.
    w_t: Vec<f64>,
}

/// Groups the rows by delay if every row's delays are equal.
fn row_groups(n: usize, w: &[f64], delays: &[usize]) -> Option<Vec<RowGroup>> {
    let uniform = delays
        .chunks_exact(n)
        .all(|row| row.iter().all(|&d| d == row[0]));
    if !uniform {
        return None;
    }
    let mut distinct: Vec<usize> = delays.chunks_exact(n).map(|row| row[0]).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let groups = distinct
        .into_iter()
        .map(|delay| {
            let rows: Vec<usize> = (0..n).filter(|&i| delays[i * n] == delay).collect();
            let w_rows: Vec<f64> = rows
                .iter()
                .flat_map(|&i| w[i * n..(i + 1) * n].iter().copied())
                .collect();
            let w_t = (0..n)
                .flat_map(|j| rows.iter().map(move |&i| w[i * n + j]))
                .collect();
            RowGroup {
                delay,
                rows,
                w: w_rows,
                w_t,
            }
        })
        .collect();
    Some(groups)
}

/// Per-thread buffers of one chunk.
#[derive(Default)]
struct ChunkBuffers {
    inputs: AlignedVec<Lanes>,
    /// Whether the chunk carries perturbations. The two buffers below are valid only then.
    perturbed: bool,
    /// Drive offset of each unit, `n` lane arrays.
    drive_offsets: AlignedVec<Lanes>,
    /// State noise of every step, `n_steps * n` lane arrays, zero in padded steps.
    state_noise: AlignedVec<Lanes>,
    states: AlignedVec<Lanes>,
    /// Scaled slopes `a_i phi'(x_i[t])`, replaced by the deltas `dL/dx_i[t]`.
    slopes: AlignedVec<Lanes>,
    /// Activations `phi(x_i[t])` and derivatives `phi'(x_i[t])` of one step, `n` lane
    /// arrays each.
    values: AlignedVec<Lanes>,
    derivatives: AlignedVec<Lanes>,
    adjoint: AlignedVec<Lanes>,
    /// Deltas of the rows that have a given delay, and the matching shifted states.
    selected_deltas: AlignedVec<Lanes>,
    shifted_states: AlignedVec<Lanes>,
    products: AlignedVec<f64>,
    /// Pre-activations or deltas of one row group.
    group_lanes: AlignedVec<Lanes>,
    outer: OuterScratch<f64, LANES>,
}

impl<'a> BatchKernel<'a> {
    /// Copies the parameters of a network whose shapes have been checked.
    pub(crate) fn new(rnn: &'a Rnn) -> BatchKernel<'a> {
        let config = &rnn.config;
        let rate: Vec<f64> = config.tau_ms.iter().map(|tau| config.dt_ms / tau).collect();
        let leak = rate.iter().map(|a| 1.0 - a).collect();
        let flat = |a: &ndarray::Array2<f64>| a.as_standard_layout().iter().copied().collect();
        let delays = if config.has_delays() {
            config.delay_steps.as_ref().map(|d| {
                d.as_standard_layout()
                    .iter()
                    .copied()
                    .collect::<Vec<usize>>()
            })
        } else {
            None
        };
        let w: Vec<f64> = flat(&rnn.w);
        let row_groups = delays
            .as_ref()
            .and_then(|d| row_groups(config.n_units, &w, d));
        BatchKernel {
            n: config.n_units,
            m: config.n_inputs,
            rate,
            leak,
            tau_ms: config.tau_ms.clone(),
            w,
            w_t: flat(&rnn.w.t().to_owned()),
            u: flat(&rnn.u),
            b: rnn.b.to_vec(),
            y0: rnn.y0.to_vec(),
            delays,
            row_groups,
            activation: &config.activation,
        }
    }

    /// Returns the summed loss and, if `with_gradient`, the summed gradient of `trials`
    /// (not yet divided by the number of trials), with `perturbations[k]` applied to trial
    /// `k` if given.
    pub(crate) fn batch(
        &self,
        trials: &[Trial],
        perturbations: Option<&[Perturbation]>,
        with_gradient: bool,
    ) -> TrialGradient {
        let fused = has_avx2_fma();
        let parts: Vec<TrialGradient> = trials
            .par_chunks(LANES)
            .enumerate()
            .map(|(index, chunk)| {
                let start = index * LANES;
                let chunk_perturbations = perturbations.map(|all| &all[start..start + chunk.len()]);
                with_thread_buffers(|buffers: &mut ChunkBuffers| {
                    self.pack_perturbations(chunk_perturbations, chunk.len(), buffers);
                    self.run_chunk(chunk, with_gradient, fused, buffers)
                })
            })
            .collect();
        let mut total = TrialGradient::zeros(self.n, self.m);
        for part in &parts {
            total.add(part);
        }
        total
    }

    fn run_chunk(
        &self,
        chunk: &[Trial],
        with_gradient: bool,
        fused: bool,
        buffers: &mut ChunkBuffers,
    ) -> TrialGradient {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if fused {
            // SAFETY: `fused` is true only if the CPU reports avx2 and fma.
            return unsafe { self.run_chunk_avx2(chunk, with_gradient, buffers) };
        }
        let _ = fused;
        self.run_chunk_with::<false>(chunk, with_gradient, buffers)
    }

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_chunk_avx2(
        &self,
        chunk: &[Trial],
        with_gradient: bool,
        buffers: &mut ChunkBuffers,
    ) -> TrialGradient {
        self.run_chunk_with::<true>(chunk, with_gradient, buffers)
    }

    #[inline(always)]
    fn run_chunk_with<const FUSED: bool>(
        &self,
        chunk: &[Trial],
        with_gradient: bool,
        buffers: &mut ChunkBuffers,
    ) -> TrialGradient {
        let n_steps = chunk.iter().map(Trial::n_steps).max().unwrap_or(0);
        self.pack(chunk, n_steps, buffers);
        self.forward::<FUSED>(n_steps, buffers);
        let mut result = TrialGradient::zeros(self.n, self.m);
        result.loss = self.loss_terms(chunk, n_steps, with_gradient, buffers);
        if with_gradient {
            self.backward::<FUSED>(n_steps, buffers, &mut result);
        }
        result
    }

    /// Copies the perturbations of a chunk into lane layout, padding the state noise with
    /// zeros to the chunk's longest trial.
    fn pack_perturbations(
        &self,
        perturbations: Option<&[Perturbation]>,
        chunk_len: usize,
        buffers: &mut ChunkBuffers,
    ) {
        let Some(perturbations) = perturbations else {
            buffers.perturbed = false;
            return;
        };
        debug_assert_eq!(perturbations.len(), chunk_len);
        let n = self.n;
        buffers.perturbed = true;
        buffers.drive_offsets.clear();
        buffers.drive_offsets.resize(n, [0.0; LANES]);
        let n_steps = perturbations
            .iter()
            .filter_map(|p| p.state_noise.as_ref().map(|noise| noise.nrows()))
            .max()
            .unwrap_or(0);
        buffers.state_noise.clear();
        buffers.state_noise.resize(n_steps * n, [0.0; LANES]);
        for (lane, perturbation) in perturbations.iter().enumerate() {
            for (slot, &offset) in buffers
                .drive_offsets
                .iter_mut()
                .zip(&perturbation.drive_offset)
            {
                slot[lane] = offset;
            }
            if let Some(noise) = &perturbation.state_noise {
                for (slot, &value) in buffers.state_noise.iter_mut().zip(noise.iter()) {
                    slot[lane] = value;
                }
            }
        }
    }

    /// Copies the inputs into lane layout, padding with zeros.
    #[inline(always)]
    fn pack(&self, chunk: &[Trial], n_steps: usize, buffers: &mut ChunkBuffers) {
        let inputs = &mut buffers.inputs;
        inputs.clear();
        inputs.resize(n_steps * self.m, [0.0; LANES]);
        for (lane, trial) in chunk.iter().enumerate() {
            let array = trial.inputs.as_standard_layout();
            let values = array.as_slice().expect("standard layout is contiguous");
            for (slot, &value) in inputs.iter_mut().zip(values) {
                slot[lane] = value;
            }
        }
    }

    /// Fills the states (row 0 = `y0`) and the scaled slopes.
    #[inline(always)]
    fn forward<const FUSED: bool>(&self, n_steps: usize, buffers: &mut ChunkBuffers) {
        let (n, m) = (self.n, self.m);
        let ChunkBuffers {
            inputs,
            perturbed,
            drive_offsets,
            state_noise,
            states,
            slopes,
            values,
            derivatives,
            group_lanes,
            ..
        } = buffers;
        let perturbed = *perturbed;
        resize(states, (n_steps + 1) * n, [0.0; LANES]);
        resize(slopes, n_steps * n, [0.0; LANES]);
        resize(values, n, [0.0; LANES]);
        resize(derivatives, n, [0.0; LANES]);
        for (y, &y0) in states[..n].iter_mut().zip(&self.y0) {
            *y = [y0; LANES];
        }
        for t in 0..n_steps {
            let (past, future) = states.split_at_mut((t + 1) * n);
            let x = &mut slopes[t * n..(t + 1) * n];

            // x_i[t] = (b_i + U_i . u[t]) + sum_j W_ij y_j[t - D_ij]
            for (x_i, &b) in x.iter_mut().zip(&self.b) {
                *x_i = [b; LANES];
            }
            if perturbed {
                for (x_i, offset) in x.iter_mut().zip(drive_offsets.iter()) {
                    for lane in 0..LANES {
                        x_i[lane] += offset[lane];
                    }
                }
            }
            gemv_lanes::<f64, LANES, FUSED>(&self.u, &inputs[t * m..(t + 1) * m], x);
            match (&self.delays, &self.row_groups) {
                (None, _) => gemv_lanes::<f64, LANES, FUSED>(&self.w, &past[t * n..], x),
                (Some(_), Some(groups)) => {
                    for group in groups {
                        let source = t.saturating_sub(group.delay) * n;
                        resize(group_lanes, group.rows.len(), [0.0; LANES]);
                        for (g, &i) in group_lanes.iter_mut().zip(&group.rows) {
                            *g = x[i];
                        }
                        let read = &past[source..source + n];
                        gemv_lanes::<f64, LANES, FUSED>(&group.w, read, group_lanes);
                        for (g, &i) in group_lanes.iter().zip(&group.rows) {
                            x[i] = *g;
                        }
                    }
                }
                (Some(delays), None) => self.add_delayed_input::<FUSED>(delays, past, t, x),
            }

            // y_i[t + 1] = (1 - a_i) y_i[t] + a_i phi(x_i[t]); x_i[t] becomes a_i phi'(x_i[t]).
            let now = &past[t * n..];
            match self.activation {
                Activation::Logistic => map_flat::<f64, LogisticSlope>(
                    x.as_flattened(),
                    values.as_flattened_mut(),
                    derivatives.as_flattened_mut(),
                ),
                Activation::Tabulated(table) => {
                    let outputs = values.iter_mut().zip(derivatives.iter_mut());
                    for (x_i, (value, derivative)) in x.iter().zip(outputs) {
                        for lane in 0..LANES {
                            (value[lane], derivative[lane]) = table.value_and_derivative(x_i[lane]);
                        }
                    }
                }
            }
            for i in 0..n {
                let (rate, leak) = (self.rate[i], self.leak[i]);
                for lane in 0..LANES {
                    future[i][lane] = leak * now[i][lane] + rate * values[i][lane];
                    x[i][lane] = rate * derivatives[i][lane];
                }
            }
            if let Some(noise) = perturbed
                .then(|| state_noise.get(t * n..(t + 1) * n))
                .flatten()
            {
                for (y, e) in future[..n].iter_mut().zip(noise) {
                    for lane in 0..LANES {
                        y[lane] += e[lane];
                    }
                }
            }
        }
    }

    /// `x_i += sum_j W_ij y_j[max(t - D_ij, 0)]`, reading the state rows `0..=t`.
    #[inline(always)]
    fn add_delayed_input<const FUSED: bool>(
        &self,
        delays: &[usize],
        past: &[Lanes],
        t: usize,
        x: &mut [Lanes],
    ) {
        let n = self.n;
        for (i, x_i) in x.iter_mut().enumerate() {
            let mut acc = *x_i;
            for j in 0..n {
                let weight = self.w[i * n + j];
                let y = &past[t.saturating_sub(delays[i * n + j]) * n + j];
                for lane in 0..LANES {
                    acc[lane] = weight.madd::<FUSED>(y[lane], acc[lane]);
                }
            }
            *x_i = acc;
        }
    }

    /// Returns the weighted squared error of the chunk and, if `with_gradient`, writes its
    /// direct gradient `2 weight (y - target)` into adjoint rows `1..=n_steps`. Each lane's
    /// sum runs over its trial's steps and units in row-major order.
    #[inline(always)]
    fn loss_terms(
        &self,
        chunk: &[Trial],
        n_steps: usize,
        with_gradient: bool,
        buffers: &mut ChunkBuffers,
    ) -> f64 {
        let n = self.n;
        let ChunkBuffers {
            states, adjoint, ..
        } = buffers;
        if with_gradient {
            adjoint.clear();
            adjoint.resize((n_steps + 1) * n, [0.0; LANES]);
        }
        let mut loss = [0.0; LANES];
        let layouts: Vec<_> = chunk
            .iter()
            .map(|trial| {
                (
                    trial.targets.as_standard_layout(),
                    trial.weights.as_standard_layout(),
                )
            })
            .collect();
        let lanes: Vec<(&[f64], &[f64])> = layouts
            .iter()
            .map(|(targets, weights)| {
                let contiguous = "standard layout is contiguous";
                (
                    targets.as_slice().expect(contiguous),
                    weights.as_slice().expect(contiguous),
                )
            })
            .collect();
        // Entries in the outer loop and trials in the inner one, so that the lanes' loss sums
        // are independent chains of additions. Each lane still adds its entries in order, and
        // a trial shorter than the chunk's longest has no entries in the padded steps.
        for k in 0..n_steps * n {
            let state = &states[n + k];
            for (lane, &(targets, weights)) in lanes.iter().enumerate() {
                let Some(&weight) = weights.get(k) else {
                    continue;
                };
                // Unscored entries are skipped, so their targets may be NaN.
                if weight != 0.0 {
                    let residual = state[lane] - targets[k];
                    loss[lane] += weight * residual * residual;
                    if with_gradient {
                        adjoint[n + k][lane] = 2.0 * weight * residual;
                    }
                }
            }
        }
        loss.iter().sum()
    }

    /// Propagates the adjoints backwards in time and accumulates the gradient.
    #[inline(always)]
    fn backward<const FUSED: bool>(
        &self,
        n_steps: usize,
        buffers: &mut ChunkBuffers,
        result: &mut TrialGradient,
    ) {
        let n = self.n;
        {
            let ChunkBuffers {
                perturbed,
                state_noise,
                states,
                slopes,
                adjoint,
                group_lanes,
                ..
            } = &mut *buffers;
            let perturbed = *perturbed;
            let mut tau_sums = vec![[0.0; LANES]; n];
            for t in (0..n_steps).rev() {
                let (earlier, later) = adjoint.split_at_mut((t + 1) * n);
                let next = &later[..n];
                let delta = &mut slopes[t * n..(t + 1) * n];

                // dL/dtau_i gathers g_i[t + 1] (y_i[t + 1] - y_i[t] - e_i[t]), see below, where
                // e is the state noise.
                let (y_now, y_next) = (&states[t * n..(t + 1) * n], &states[(t + 1) * n..]);
                let noise = perturbed
                    .then(|| state_noise.get(t * n..(t + 1) * n))
                    .flatten();
                for i in 0..n {
                    for lane in 0..LANES {
                        let mut change = y_next[i][lane] - y_now[i][lane];
                        if let Some(noise) = noise {
                            change -= noise[i][lane];
                        }
                        tau_sums[i][lane] = next[i][lane].madd::<FUSED>(change, tau_sums[i][lane]);
                    }
                }

                // delta_i = g_i[t + 1] a_i phi'(x_i[t]); leak term of y_i[t].
                let now = &mut earlier[t * n..];
                for i in 0..n {
                    let leak = self.leak[i];
                    for lane in 0..LANES {
                        delta[i][lane] *= next[i][lane];
                        now[i][lane] = leak.madd::<FUSED>(next[i][lane], now[i][lane]);
                    }
                }

                // g_j[t - D_ij] += W_ij delta_i
                match (&self.delays, &self.row_groups) {
                    (None, _) => gemv_lanes::<f64, LANES, FUSED>(&self.w_t, delta, now),
                    (Some(_), Some(groups)) => {
                        for group in groups {
                            let target = t.saturating_sub(group.delay) * n;
                            resize(group_lanes, group.rows.len(), [0.0; LANES]);
                            for (g, &i) in group_lanes.iter_mut().zip(&group.rows) {
                                *g = delta[i];
                            }
                            let write = &mut earlier[target..target + n];
                            gemv_lanes::<f64, LANES, FUSED>(&group.w_t, group_lanes, write);
                        }
                    }
                    (Some(delays), None) => {
                        self.add_delayed_transposed::<FUSED>(delays, delta, earlier, t)
                    }
                }
            }
            for (g, lanes) in result.y0.iter_mut().zip(&adjoint[..n]) {
                *g = lanes.iter().sum();
            }

            // y[t + 1] = y[t] + a (phi(x[t]) - y[t]) + e[t] with a = dt / tau, so
            // dy[t + 1] / dtau = -(a / tau) (phi - y[t]) = -(y[t + 1] - y[t] - e[t]) / tau.
            for ((g, lanes), tau) in result.tau_ms.iter_mut().zip(&tau_sums).zip(&self.tau_ms) {
                *g = -lanes.iter().sum::<f64>() / tau;
            }
        }
        self.weight_gradients::<FUSED>(n_steps, buffers, result);
    }

    /// `g_j[max(t - D_ij, 0)] += W_ij delta_i` over the adjoint rows `0..=t`.
    #[inline(always)]
    fn add_delayed_transposed<const FUSED: bool>(
        &self,
        delays: &[usize],
        delta: &[Lanes],
        earlier: &mut [Lanes],
        t: usize,
    ) {
        let n = self.n;
        for (i, d) in delta.iter().enumerate() {
            for j in 0..n {
                let weight = self.w[i * n + j];
                let g = &mut earlier[t.saturating_sub(delays[i * n + j]) * n + j];
                for lane in 0..LANES {
                    g[lane] = weight.madd::<FUSED>(d[lane], g[lane]);
                }
            }
        }
    }

    /// `dL/db = sum_t delta[t]`, `dL/dU = sum_t delta[t] u[t]^T` and
    /// `dL/dW_ij = sum_t delta_i[t] y_j[max(t - D_ij, 0)]`.
    #[inline(always)]
    fn weight_gradients<const FUSED: bool>(
        &self,
        n_steps: usize,
        buffers: &mut ChunkBuffers,
        result: &mut TrialGradient,
    ) {
        let (n, m) = (self.n, self.m);
        let ChunkBuffers {
            inputs,
            states,
            slopes: deltas,
            selected_deltas,
            shifted_states,
            products,
            outer,
            ..
        } = buffers;
        row_sum_lanes::<f64, LANES>(deltas, n, &mut result.b);
        outer_sum_lanes::<f64, LANES, FUSED>(deltas, n, inputs, m, &mut result.u, outer);
        let Some(delays) = &self.delays else {
            let read = &states[..n_steps * n];
            outer_sum_lanes::<f64, LANES, FUSED>(deltas, n, read, n, &mut result.w, outer);
            return;
        };

        // One product per distinct delay d, over the rows that have a connection with
        // delay d, against the states shifted by d (states before time 0 equal y0).
        let mut distinct = delays.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for delay in distinct {
            let rows: Vec<usize> = (0..n)
                .filter(|&i| delays[i * n..(i + 1) * n].contains(&delay))
                .collect();
            let width = rows.len();
            resize(selected_deltas, n_steps * width, [0.0; LANES]);
            resize(shifted_states, n_steps * n, [0.0; LANES]);
            for t in 0..n_steps {
                for (k, &i) in rows.iter().enumerate() {
                    selected_deltas[t * width + k] = deltas[t * n + i];
                }
                let source = t.saturating_sub(delay);
                shifted_states[t * n..(t + 1) * n]
                    .copy_from_slice(&states[source * n..(source + 1) * n]);
            }
            products.clear();
            products.resize(width * n, 0.0);
            outer_sum_lanes::<f64, LANES, FUSED>(
                selected_deltas,
                width,
                shifted_states,
                n,
                products,
                outer,
            );
            for (k, &i) in rows.iter().enumerate() {
                for j in 0..n {
                    if delays[i * n + j] == delay {
                        result.w[i * n + j] = products[k * n + j];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::engine::{Kernel, TrialData};
    use crate::{RnnConfig, Sign};

    #[derive(Clone, Copy, Debug)]
    enum Delays {
        None,
        PerConnection,
        PerRow,
    }

    /// Builds a masked, signed network with delays 0-3 and per-unit tau, and trials of
    /// unequal length, so that chunks are padded.
    fn case(seed: u64, delays: Delays) -> (Rnn, Vec<Trial>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (n, m) = (6, 2);
        let mut config = RnnConfig::new(n, m);
        config.tau_ms = (0..n).map(|_| rng.random_range(2.0..30.0)).collect();
        config.mask = Some(Array2::from_shape_fn((n, n), |_| rng.random_bool(0.7)));
        config.signs = Some([Sign::Excitatory, Sign::Inhibitory, Sign::Free].repeat(2));
        match delays {
            Delays::None => {}
            Delays::PerConnection => {
                config.delay_steps =
                    Some(Array2::from_shape_fn((n, n), |_| rng.random_range(0..4)));
            }
            Delays::PerRow => {
                let row: Vec<usize> = (0..n).map(|_| rng.random_range(0..4)).collect();
                config.delay_steps = Some(Array2::from_shape_fn((n, n), |(i, _)| row[i]));
            }
        }
        config.init_weight_scale = 4.0;
        let rnn = Rnn::new_using(config, &mut rng).unwrap();
        let trials = (0..7)
            .map(|k| {
                let n_steps = 20 + 3 * k;
                Trial {
                    inputs: Array2::from_shape_fn((n_steps, m), |_| rng.random_range(-1.0..1.0)),
                    targets: Array2::from_shape_fn((n_steps, n), |_| rng.random_range(0.0..1.0)),
                    weights: Array2::from_shape_fn((n_steps, n), |_| rng.random_range(0.0..0.1)),
                }
            })
            .collect();
        (rnn, trials)
    }

    #[test]
    fn batch_matches_per_trial_engine() {
        // Only the summation order and the exponential (within a few ulp) differ, on losses
        // and gradients of order 1 summed over about 200 terms, so 1e-12 relative to the
        // largest entry.
        for delays in [Delays::None, Delays::PerConnection, Delays::PerRow] {
            let (rnn, trials) = case(3, delays);
            let kernel = Kernel::new(&rnn);
            let mut reference = TrialGradient::zeros(6, 2);
            for trial in &trials {
                reference.add(&kernel.trial_gradient(&TrialData::new(trial)));
            }
            let batch = BatchKernel::new(&rnn).batch(&trials, None, true);
            assert!((batch.loss - reference.loss).abs() < 1e-12 * reference.loss);
            for (name, fast, slow) in [
                ("w", &batch.w, &reference.w),
                ("u", &batch.u, &reference.u),
                ("b", &batch.b, &reference.b),
                ("y0", &batch.y0, &reference.y0),
            ] {
                let scale = slow.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                for (k, (f, s)) in fast.iter().zip(slow).enumerate() {
                    assert!(
                        (f - s).abs() <= 1e-12 * scale,
                        "{name}[{k}] delays {delays:?}: {f:e} vs {s:e}"
                    );
                }
            }
        }
    }
}
