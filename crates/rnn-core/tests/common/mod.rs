//! Random networks, trials and activation tables shared by the integration tests.

#![allow(dead_code)]

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rnn_core::{Activation, Perturbation, Rnn, RnnConfig, Sign, TabulatedActivation, Trial};

/// Builds a smooth, monotone table on [-2, 2] in steps of 0.1. It starts flat, so the curve
/// is C1 at the lower end, and continues above 2 with an exponential tail toward 1.3.
pub fn smooth_table() -> TabulatedActivation {
    let x_min = -2.0;
    let dx = 0.1;
    let n = 41;
    let curve = |x: f64| 1.2 / (1.0 + (-1.5 * (x - 0.2)).exp());
    let mut values: Vec<f64> = (0..n).map(|k| curve(x_min + k as f64 * dx)).collect();
    values[0] = values[1];
    TabulatedActivation::new(x_min, dx, values, 1.3).unwrap()
}

/// Sizes of a random test network.
#[derive(Clone, Copy, Debug)]
pub struct CaseSize {
    pub n_units: usize,
    pub n_inputs: usize,
    pub n_steps: usize,
    pub n_trials: usize,
}

/// Segment of the table that `x` falls in: -1 below it, `K - 1` in the tail above it.
pub fn table_segment(table: &TabulatedActivation, x: f64) -> i64 {
    let last = table.values().len() as i64 - 1;
    let position = (x - table.x_min()) / table.dx();
    (position.floor() as i64).clamp(-1, last)
}

/// Builds a random network with random mask, signs, delays, input mask and trained
/// per-unit tau, and a batch of random trials. Weights are larger than the default initialisation so
/// that pre-activations sweep well into both tails of the activation.
pub fn random_case(size: CaseSize, seed: u64, activation: Activation) -> (Rnn, Vec<Trial>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = size.n_units;
    let m = size.n_inputs;

    let mut config = RnnConfig::new(n, m);
    config.activation = activation;
    config.tau_ms = (0..n).map(|_| rng.random_range(1.5..30.0)).collect();
    config.mask = Some(Array2::from_shape_fn((n, n), |_| rng.random_bool(0.75)));
    config.signs = Some(
        (0..n)
            .map(|_| match rng.random_range(0..3) {
                0 => Sign::Excitatory,
                1 => Sign::Inhibitory,
                _ => Sign::Free,
            })
            .collect(),
    );
    config.input_mask = Some(Array2::from_shape_fn((n, m), |_| rng.random_bool(0.8)));
    config.nonnegative_inputs = rng.random_bool(0.3);
    if rng.random_bool(0.6) {
        config.delay_steps = Some(Array2::from_shape_fn((n, n), |_| rng.random_range(0..4)));
    }
    config.init_weight_scale = 2.0 * (n as f64).sqrt();
    config.train_tau = true;
    config.y0_init = rng.random_range(0.05..0.9);

    let mut rnn = Rnn::new_using(config, &mut rng).unwrap();
    rnn.b = Array1::from_shape_fn(n, |_| rng.random_range(-1.5..1.0));
    let upper = rnn.config.activation.upper_bound();
    rnn.y0 = Array1::from_shape_fn(n, |_| rng.random_range(0.02..0.98) * upper);

    let trials = (0..size.n_trials)
        .map(|_| random_trial(&mut rng, size.n_steps, n, m))
        .collect();
    (rnn, trials)
}

/// Draws a trial with inputs in [-1.5, 1.5], targets in [0, 1] and a third of the error
/// weights 0.
pub fn random_trial<R: Rng>(rng: &mut R, n_steps: usize, n: usize, m: usize) -> Trial {
    Trial {
        inputs: Array2::from_shape_fn((n_steps, m), |_| rng.random_range(-1.5..1.5)),
        targets: Array2::from_shape_fn((n_steps, n), |_| rng.random_range(0.0..1.0)),
        weights: Array2::from_shape_fn((n_steps, n), |_| {
            if rng.random_bool(0.33) {
                0.0
            } else {
                rng.random_range(0.0..1.0) / n_steps as f64
            }
        }),
    }
}

/// Draws from N(0, 1).
pub fn normal<R: Rng>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

/// Simulates `y[t + 1] = (1 - a) y[t] + a phi(W y_delayed + U u[t] + b)` with plain indexed
/// loops, written independently of the library's flat-buffer code.
pub fn reference_simulation(rnn: &Rnn, inputs: &Array2<f64>) -> Array2<f64> {
    perturbed_reference_simulation(rnn, inputs, None)
}

/// [`reference_simulation`] with a perturbation: its drive offset added to every
/// pre-activation and its state noise to every new state.
pub fn perturbed_reference_simulation(
    rnn: &Rnn,
    inputs: &Array2<f64>,
    perturbation: Option<&Perturbation>,
) -> Array2<f64> {
    perturbed_reference_run(rnn, inputs, perturbation).0
}

/// Pre-activations `x[t, i]` (drive offset included) of the perturbed run; without a
/// perturbation, those of the library's own simulation.
pub fn perturbed_pre_activations(
    rnn: &Rnn,
    inputs: &Array2<f64>,
    perturbation: Option<&Perturbation>,
) -> Array2<f64> {
    match perturbation {
        None => rnn.simulate_with_pre_activations(inputs.view()).unwrap().1,
        Some(_) => perturbed_reference_run(rnn, inputs, perturbation).1,
    }
}

/// Returns the states and the pre-activations of the reference simulation.
fn perturbed_reference_run(
    rnn: &Rnn,
    inputs: &Array2<f64>,
    perturbation: Option<&Perturbation>,
) -> (Array2<f64>, Array2<f64>) {
    let n = rnn.n_units();
    let n_steps = inputs.nrows();
    let mut y = Array2::zeros((n_steps + 1, n));
    let mut pre_activations = Array2::zeros((n_steps, n));
    y.row_mut(0).assign(&rnn.y0);
    for t in 0..n_steps {
        for i in 0..n {
            let mut x = rnn.b[i];
            for k in 0..rnn.n_inputs() {
                x += rnn.u[[i, k]] * inputs[[t, k]];
            }
            for j in 0..n {
                let delay = rnn.config.delay_steps.as_ref().map_or(0, |d| d[[i, j]]);
                let read = t.saturating_sub(delay);
                x += rnn.w[[i, j]] * y[[read, j]];
            }
            let mut noise = 0.0;
            if let Some(perturbation) = perturbation {
                x += perturbation.drive_offset[i];
                if let Some(state_noise) = &perturbation.state_noise {
                    noise = state_noise[[t, i]];
                }
            }
            pre_activations[[t, i]] = x;
            let a = rnn.config.dt_ms / rnn.config.tau_ms[i];
            y[[t + 1, i]] = (1.0 - a) * y[[t, i]] + a * rnn.config.activation.value(x) + noise;
        }
    }
    (y, pre_activations)
}

/// Draws one perturbation per trial: drive offsets from N(0, 0.5^2) and, in every other
/// trial, state noise from N(0, 0.02^2), large enough to change which table segment a
/// pre-activation falls in.
pub fn random_perturbations(trials: &[Trial], n_units: usize, seed: u64) -> Vec<Perturbation> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    trials
        .iter()
        .enumerate()
        .map(|(k, trial)| {
            let drive_offset = Array1::from_shape_fn(n_units, |_| 0.5 * normal(&mut rng));
            let state_noise = (k % 2 == 0).then(|| {
                Array2::from_shape_fn((trial.n_steps(), n_units), |_| 0.02 * normal(&mut rng))
            });
            Perturbation {
                drive_offset,
                state_noise,
            }
        })
        .collect()
}
