//! Forward simulation and exact backpropagation through time over flat buffers.
//!
//! A [`Kernel`] copies the parameters of an [`Rnn`] into contiguous row-major vectors once
//! per call. Each trial then runs on three buffers of its thread's [`Workspace`]:
//!
//! - the states `y`, `(n_steps + 1) * n`;
//! - a per-step buffer, `n_steps * n`, that contains the input drive `b + U u[t]`, then the
//!   scaled slopes `a_i phi'(x_i[t])`, then the deltas `dL/dx_i[t]`;
//! - the state adjoints `dL/dy`, `(n_steps + 1) * n`.
//!
//! Nothing is allocated per time step.
//!
//! [`Rnn::simulate`] runs here. The per-trial loss and gradient are the reference against which
//! the tests check the lane-batched engine that training uses.

#![cfg_attr(not(test), allow(dead_code))]

use std::cell::RefCell;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, CowArray, Ix2};

use crate::activation::logistic_and_derivative;
use crate::rnn::standard_slice;
use crate::{Activation, Rnn, Trial};

/// A trial's arrays in contiguous row-major form.
pub(crate) struct TrialData<'a> {
    n_steps: usize,
    inputs: CowArray<'a, f64, Ix2>,
    targets: CowArray<'a, f64, Ix2>,
    weights: CowArray<'a, f64, Ix2>,
}

impl<'a> TrialData<'a> {
    pub(crate) fn new(trial: &'a Trial) -> TrialData<'a> {
        TrialData {
            n_steps: trial.n_steps(),
            inputs: trial.inputs.as_standard_layout(),
            targets: trial.targets.as_standard_layout(),
            weights: trial.weights.as_standard_layout(),
        }
    }
}

/// Loss and unscaled gradient of one trial, as flat row-major buffers.
pub(crate) struct TrialGradient {
    pub(crate) loss: f64,
    pub(crate) w: Vec<f64>,
    pub(crate) u: Vec<f64>,
    pub(crate) b: Vec<f64>,
    pub(crate) y0: Vec<f64>,
    pub(crate) tau_ms: Vec<f64>,
}

impl TrialGradient {
    pub(crate) fn zeros(n: usize, m: usize) -> TrialGradient {
        TrialGradient {
            loss: 0.0,
            w: vec![0.0; n * n],
            u: vec![0.0; n * m],
            b: vec![0.0; n],
            y0: vec![0.0; n],
            tau_ms: vec![0.0; n],
        }
    }

    pub(crate) fn add(&mut self, other: &TrialGradient) {
        self.loss += other.loss;
        for (sum, part) in [
            (&mut self.w, &other.w),
            (&mut self.u, &other.u),
            (&mut self.b, &other.b),
            (&mut self.y0, &other.y0),
            (&mut self.tau_ms, &other.tau_ms),
        ] {
            for (s, p) in sum.iter_mut().zip(part) {
                *s += p;
            }
        }
    }
}

/// The parameters of a network in flat buffers, shared read-only by all trials of a call.
pub(crate) struct Kernel<'a> {
    pub(crate) n: usize,
    pub(crate) m: usize,
    /// `a_i = dt / tau_i`.
    rate: Vec<f64>,
    /// `1 - a_i`.
    leak: Vec<f64>,
    /// Recurrent weights, row-major `(post, pre)`.
    w: Vec<f64>,
    /// Input weights, row-major `(unit, input)`.
    u: Vec<f64>,
    b: Vec<f64>,
    y0: Vec<f64>,
    /// For each postsynaptic unit, the range of presynaptic units that covers every allowed
    /// or non-zero connection; the loops skip the columns outside it.
    spans: Vec<(usize, usize)>,
    /// Delay of each connection in steps, row-major; `None` if all delays are 0.
    delays: Option<Vec<usize>>,
    activation: &'a Activation,
}

impl<'a> Kernel<'a> {
    /// Copies the parameters of a network whose shapes have been checked.
    pub(crate) fn new(rnn: &'a Rnn) -> Kernel<'a> {
        let config = &rnn.config;
        let n = config.n_units;
        let rate: Vec<f64> = config.tau_ms.iter().map(|tau| config.dt_ms / tau).collect();
        let leak = rate.iter().map(|a| 1.0 - a).collect();

        // Presynaptic span of each row: allowed connections and any non-zero weight.
        let spans = (0..n)
            .map(|post| {
                let used: Vec<usize> = (0..n)
                    .filter(|&pre| {
                        config.connection_allowed(post, pre) || rnn.w[[post, pre]] != 0.0
                    })
                    .collect();
                match (used.first(), used.last()) {
                    (Some(&first), Some(&last)) => (first, last + 1),
                    _ => (0, 0),
                }
            })
            .collect();

        let delays = if config.has_delays() {
            config
                .delay_steps
                .as_ref()
                .map(|d| d.as_standard_layout().iter().copied().collect())
        } else {
            None
        };

        Kernel {
            n,
            m: config.n_inputs,
            rate,
            leak,
            w: rnn.w.as_standard_layout().iter().copied().collect(),
            u: rnn.u.as_standard_layout().iter().copied().collect(),
            b: rnn.b.to_vec(),
            y0: rnn.y0.to_vec(),
            spans,
            delays,
            activation: &config.activation,
        }
    }

    /// Simulates one trial and returns the flat states `y` and pre-activations `x`.
    pub(crate) fn simulate(&self, inputs: &[f64], n_steps: usize) -> (Vec<f64>, Vec<f64>) {
        let mut y = vec![0.0; (n_steps + 1) * self.n];
        let mut slopes = vec![0.0; n_steps * self.n];
        let mut x = vec![0.0; n_steps * self.n];
        self.forward(inputs, n_steps, &mut y, &mut slopes, Some(&mut x));
        (y, x)
    }

    pub(crate) fn trial_gradient(&self, trial: &TrialData) -> TrialGradient {
        with_workspace(|workspace| {
            let n_steps = trial.n_steps;
            let (y, slopes, adjoint) = workspace.buffers(n_steps, self.n, true);
            self.forward(standard_slice(&trial.inputs), n_steps, y, slopes, None);
            let mut gradient = TrialGradient::zeros(self.n, self.m);
            gradient.loss = self.loss_terms(trial, y, Some(adjoint));
            self.backward(trial, y, slopes, adjoint, &mut gradient);
            gradient
        })
    }

    /// Runs the Euler map, dispatching once on the activation so the step loop is
    /// monomorphised.
    fn forward(
        &self,
        inputs: &[f64],
        n_steps: usize,
        y: &mut [f64],
        slopes: &mut [f64],
        pre_activations: Option<&mut [f64]>,
    ) {
        match self.activation {
            Activation::Logistic => self.forward_with(
                logistic_and_derivative,
                inputs,
                n_steps,
                y,
                slopes,
                pre_activations,
            ),
            Activation::Tabulated(table) => self.forward_with(
                |x| table.value_and_derivative(x),
                inputs,
                n_steps,
                y,
                slopes,
                pre_activations,
            ),
        }
    }

    /// Fills `y` (row 0 = `y0`) and `slopes[t, i] = a_i phi'(x_i[t])`, and `x` if requested.
    fn forward_with<F: Fn(f64) -> (f64, f64)>(
        &self,
        phi: F,
        inputs: &[f64],
        n_steps: usize,
        y: &mut [f64],
        slopes: &mut [f64],
        mut pre_activations: Option<&mut [f64]>,
    ) {
        let n = self.n;
        self.input_drive(inputs, n_steps, slopes);
        y[..n].copy_from_slice(&self.y0);
        for t in 0..n_steps {
            let (past, future) = y.split_at_mut((t + 1) * n);
            let x_now = &mut slopes[t * n..(t + 1) * n];

            // x_i[t] = (b_i + U_i . u[t]) + sum_j W_ij y_j[t - D_ij]
            match &self.delays {
                None => self.add_recurrent_input(&past[t * n..], x_now),
                Some(delays) => self.add_delayed_recurrent_input(delays, past, t, x_now),
            }
            if let Some(x_out) = pre_activations.as_deref_mut() {
                x_out[t * n..(t + 1) * n].copy_from_slice(x_now);
            }

            // y_i[t + 1] = (1 - a_i) y_i[t] + a_i phi(x_i[t]); x_i[t] is replaced by its slope.
            let y_now = &past[t * n..];
            let rates = self.leak.iter().zip(&self.rate);
            for (((x, y_next), &y_i), (&leak, &rate)) in x_now
                .iter_mut()
                .zip(future.iter_mut())
                .zip(y_now)
                .zip(rates)
            {
                let (value, derivative) = phi(*x);
                *y_next = leak * y_i + rate * value;
                *x = rate * derivative;
            }
        }
    }

    /// Writes the input drive `b_i + sum_k U_ik u_k[t]` of every step into `drive`, shape
    /// `(n_steps, n)`, with one matrix product.
    fn input_drive(&self, inputs: &[f64], n_steps: usize, drive: &mut [f64]) {
        let (n, m) = (self.n, self.m);
        for row in drive.chunks_exact_mut(n) {
            row.copy_from_slice(&self.b);
        }
        if m == 0 || n_steps == 0 {
            return;
        }
        let inputs = ArrayView2::from_shape((n_steps, m), inputs).expect("n_steps * m inputs");
        let u = ArrayView2::from_shape((n, m), &self.u[..]).expect("n * m input weights");
        let mut drive = ArrayViewMut2::from_shape((n_steps, n), drive).expect("n_steps * n");
        general_mat_mul(1.0, &inputs, &u.t(), 1.0, &mut drive);
    }

    /// `x_i += sum_j W_ij y_j` over the presynaptic span of each unit.
    #[inline]
    fn add_recurrent_input(&self, y_now: &[f64], x_now: &mut [f64]) {
        let n = self.n;
        for (i, (x, &(lo, hi))) in x_now.iter_mut().zip(&self.spans).enumerate() {
            *x += dot(&self.w[i * n + lo..i * n + hi], &y_now[lo..hi]);
        }
    }

    /// `x_i += sum_j W_ij y_j[max(t - D_ij, 0)]`, reading the states of rows `0..=t`.
    #[inline]
    fn add_delayed_recurrent_input(
        &self,
        delays: &[usize],
        past: &[f64],
        t: usize,
        x_now: &mut [f64],
    ) {
        let n = self.n;
        for (i, (x, &(lo, hi))) in x_now.iter_mut().zip(&self.spans).enumerate() {
            let w_row = &self.w[i * n + lo..i * n + hi];
            let d_row = &delays[i * n + lo..i * n + hi];
            let mut sum = 0.0;
            for (k, (&w_ij, &delay)) in w_row.iter().zip(d_row).enumerate() {
                sum += w_ij * past[t.saturating_sub(delay) * n + lo + k];
            }
            *x += sum;
        }
    }

    /// Returns the trial loss and, if `adjoint` is given, writes its direct gradient
    /// `2 weights (y - targets)` into rows 1..=n_steps.
    fn loss_terms(&self, trial: &TrialData, y: &[f64], adjoint: Option<&mut [f64]>) -> f64 {
        let n = self.n;
        let targets = standard_slice(&trial.targets);
        let weights = standard_slice(&trial.weights);
        let states = &y[n..];
        let mut loss = 0.0;
        match adjoint {
            None => {
                for ((&weight, &target), &state) in weights.iter().zip(targets).zip(states) {
                    if weight != 0.0 {
                        let residual = state - target;
                        loss += weight * residual * residual;
                    }
                }
            }
            Some(adjoint) => {
                let direct = &mut adjoint[n..];
                for (((&weight, &target), &state), g) in
                    weights.iter().zip(targets).zip(states).zip(direct)
                {
                    if weight != 0.0 {
                        let residual = state - target;
                        loss += weight * residual * residual;
                        *g = 2.0 * weight * residual;
                    }
                }
            }
        }
        loss
    }

    /// Propagates the state adjoints backwards in time and accumulates the gradient.
    ///
    /// On entry `adjoint` contains the direct loss gradient of each state and `slopes` the
    /// factors `a_i phi'(x_i[t])`. On exit `slopes` contains `delta[t, i] = dL/dx_i[t]`.
    /// Step `t` is processed once the adjoint of `y[t + 1]` is complete, which is the case
    /// because `y[t + 1]` only feeds steps `t + 1` and later. The weight gradients are then matrix
    /// products of the stored deltas with the states and inputs.
    fn backward(
        &self,
        trial: &TrialData,
        y: &[f64],
        slopes: &mut [f64],
        adjoint: &mut [f64],
        gradient: &mut TrialGradient,
    ) {
        let n = self.n;
        let n_steps = trial.n_steps;
        for t in (0..n_steps).rev() {
            let (earlier, later) = adjoint.split_at_mut((t + 1) * n);
            let next = &later[..n];
            let delta = &mut slopes[t * n..(t + 1) * n];

            // delta_i = g_i[t + 1] a_i phi'(x_i[t]); leak term of y_i[t].
            let g_now = &mut earlier[t * n..];
            for (((d, g), &g_next), &leak) in delta.iter_mut().zip(g_now).zip(next).zip(&self.leak)
            {
                *d *= g_next;
                *g += leak * g_next;
            }

            // Adjoints of the states that step t read: g_j[t - D_ij] += W_ij delta_i.
            match &self.delays {
                None => self.add_transposed(delta, &mut earlier[t * n..]),
                Some(delays) => self.add_delayed_transposed(delays, delta, earlier, t),
            }
        }
        gradient.y0.copy_from_slice(&adjoint[..n]);
        self.weight_gradients(trial, y, slopes, gradient);
    }

    /// `g_j += sum_i W_ij delta_i` over the presynaptic span of each unit.
    #[inline]
    fn add_transposed(&self, delta: &[f64], g_now: &mut [f64]) {
        let n = self.n;
        for (i, (&d, &(lo, hi))) in delta.iter().zip(&self.spans).enumerate() {
            if d != 0.0 {
                axpy(d, &self.w[i * n + lo..i * n + hi], &mut g_now[lo..hi]);
            }
        }
    }

    /// `g_j[max(t - D_ij, 0)] += W_ij delta_i` over the flat adjoint rows `0..=t`.
    #[inline]
    fn add_delayed_transposed(
        &self,
        delays: &[usize],
        delta: &[f64],
        earlier: &mut [f64],
        t: usize,
    ) {
        let n = self.n;
        for (i, (&d, &(lo, hi))) in delta.iter().zip(&self.spans).enumerate() {
            if d == 0.0 {
                continue;
            }
            let w_row = &self.w[i * n + lo..i * n + hi];
            let d_row = &delays[i * n + lo..i * n + hi];
            for (k, (&w_ij, &delay)) in w_row.iter().zip(d_row).enumerate() {
                earlier[t.saturating_sub(delay) * n + lo + k] += d * w_ij;
            }
        }
    }

    /// Computes `dL/db = sum_t delta[t]`, `dL/dU = delta^T inputs` and
    /// `dL/dW_ij = sum_t delta_i[t] y_j[max(t - D_ij, 0)]`.
    fn weight_gradients(
        &self,
        trial: &TrialData,
        y: &[f64],
        deltas: &[f64],
        gradient: &mut TrialGradient,
    ) {
        let (n, m) = (self.n, self.m);
        let n_steps = trial.n_steps;
        if n_steps == 0 {
            return;
        }
        for delta in deltas.chunks_exact(n) {
            for (gb, &d) in gradient.b.iter_mut().zip(delta) {
                *gb += d;
            }
        }
        let deltas = ArrayView2::from_shape((n_steps, n), deltas).expect("n_steps * n deltas");
        let inputs = ArrayView2::from_shape((n_steps, m), standard_slice(&trial.inputs))
            .expect("n_steps * m inputs");
        let mut gu = ArrayViewMut2::from_shape((n, m), &mut gradient.u[..]).expect("n * m");
        general_mat_mul(1.0, &deltas.t(), &inputs, 0.0, &mut gu);

        let states = ArrayView2::from_shape((n_steps + 1, n), y).expect("(n_steps + 1) * n");
        let mut gw = ArrayViewMut2::from_shape((n, n), &mut gradient.w[..]).expect("n * n");
        let Some(delays) = &self.delays else {
            let read = states.slice(s![..n_steps, ..]);
            general_mat_mul(1.0, &deltas.t(), &read, 0.0, &mut gw);
            return;
        };

        // With delays: one product per distinct delay d, using the states shifted by d
        // (states before time 0 equal y0), kept for the connections with that delay.
        let mut distinct: Vec<usize> = delays.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let mut shifted = Array2::zeros((n, n));
        for delay in distinct {
            let lag = delay.min(n_steps);
            let late = deltas.slice(s![lag.., ..]);
            let read = states.slice(s![..n_steps - lag, ..]);
            general_mat_mul(1.0, &late.t(), &read, 0.0, &mut shifted);
            for t in 0..lag {
                for i in 0..n {
                    for j in 0..n {
                        shifted[[i, j]] += deltas[[t, i]] * states[[0, j]];
                    }
                }
            }
            for (k, _) in delays.iter().enumerate().filter(|&(_, &d)| d == delay) {
                gw[[k / n, k % n]] = shifted[[k / n, k % n]];
            }
        }
    }
}

/// Per-thread buffers reused across trials and calls, so that steady-state training does
/// not allocate (and fault in) megabytes of fresh memory per trial.
///
/// NOTE: each thread keeps the buffers of the longest trial it has run, about
/// `3 (n_steps + 1) n_units` f64 (2.8 MB for 28 units and 4200 steps), until it exits.
#[derive(Default)]
struct Workspace {
    y: Vec<f64>,
    slopes: Vec<f64>,
    adjoint: Vec<f64>,
}

impl Workspace {
    /// Returns the states, slopes and (zeroed if `zero_adjoint`) adjoint buffers.
    fn buffers(
        &mut self,
        n_steps: usize,
        n: usize,
        zero_adjoint: bool,
    ) -> (&mut [f64], &mut [f64], &mut [f64]) {
        // y and slopes are overwritten in full by the forward pass.
        self.y.resize((n_steps + 1) * n, 0.0);
        self.slopes.resize(n_steps * n, 0.0);
        if zero_adjoint {
            self.adjoint.clear();
            self.adjoint.resize((n_steps + 1) * n, 0.0);
        }
        (
            &mut self.y[..(n_steps + 1) * n],
            &mut self.slopes[..n_steps * n],
            &mut self.adjoint[..],
        )
    }
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
}

/// Runs `f` with this thread's workspace (or a fresh one if it is already in use).
fn with_workspace<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    WORKSPACE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut workspace) => f(&mut workspace),
        Err(_) => f(&mut Workspace::default()),
    })
}

/// Dot product with four accumulators in a fixed order (deterministic, vectorisable).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let chunks_a = a.chunks_exact(4);
    let chunks_b = b.chunks_exact(4);
    let tail: f64 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0; 4];
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..4 {
            acc[lane] += ca[lane] * cb[lane];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `out += alpha * x`.
#[inline]
fn axpy(alpha: f64, x: &[f64], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += alpha * v;
    }
}
