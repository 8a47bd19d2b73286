//! Spiking trials driven by the continuous net's inputs, and the read-out of their rates.
//!
//! The read-out of population `i` is the synaptically filtered, normalised rate
//!
//! `yhat_i(t) = y_i(0) exp(-t / tau_i) + (1 / (N_i f_max)) sum_spikes (1 / tau_i) exp(-(t - t_spike) / tau_i)`,
//!
//! sampled at every continuous time step. The first term carries the initial state the
//! spiking net starts in (no spike before `t = 0` stands for it); it has decayed below 1 % of
//! `y_i(0)` after `4.6 tau_i`.

use iaf_sim::{Simulation, SpikeRecord};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::network::{Converted, InputMode};
use crate::seeds::stream_seed;
use crate::Error;

/// Width of the PSTH bins (ms).
pub const PSTH_BIN_MS: f64 = 10.0;

/// Output of one spiking trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpikingTrial {
    /// Filtered, normalised population rates, shape `(n_steps + 1, n_units)`, row `n` at the
    /// end of continuous step `n` (row 0 is the initial state).
    pub readout: Array2<f64>,
    /// Population rates (Hz) in 10 ms bins, shape `(n_bins, n_units)`.
    pub psth_hz: Array2<f64>,
    /// Every spike, when recording was requested.
    pub spikes: Option<SpikeRecord>,
}

/// Runs one spiking trial with the continuous inputs `inputs` (shape `(n_steps, n_inputs)`,
/// row `n` held over continuous step `n`).
///
/// The synaptic current of population `i` starts at `g sum_j W_ij y_j(0)`, potentials are
/// drawn uniformly from `[V_r, theta)`, and all draws come from `seed`.
///
/// # Errors
/// [`Error::Shape`] when `inputs` has the wrong number of columns, and
/// [`Error::InvalidParameter`] for non-finite inputs or, with Poisson inputs, negative ones.
pub fn run_trial(
    converted: &Converted,
    inputs: ArrayView2<f64>,
    seed: u64,
    record_spikes: bool,
) -> Result<SpikingTrial, Error> {
    let rnn = &converted.rnn;
    let params = &converted.params;
    let n_units = rnn.n_units();
    rnn.validate()?;
    if converted.network.n_populations() != n_units {
        return Err(Error::Shape(format!(
            "the spiking network has {} populations but the continuous net has {n_units} units; convert the net again",
            converted.network.n_populations()
        )));
    }
    check_inputs(converted, inputs)?;
    let n_steps = inputs.nrows();
    let substeps = converted.substeps;

    // Initial state: synaptic currents at their mean, potentials uniform.
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 0));
    let mut sim = Simulation::try_new(&converted.network, stream_seed(seed, 1))?;
    for post in 0..n_units {
        let drive: f64 = (0..n_units)
            .map(|pre| rnn.w[[post, pre]] * rnn.y0[pre])
            .sum();
        sim.set_synaptic_current(post, params.g * drive)?;
    }
    sim.set_potentials_uniform(&mut rng);
    sim.record_spikes(record_spikes);

    // Exact exponential filter of the population spike counts.
    let decay: Vec<f64> = (0..n_units)
        .map(|i| (-params.dt_ms / rnn.config.tau_ms[i]).exp())
        .collect();
    let spike_weight: Vec<f64> = (0..n_units)
        .map(|i| 1.0 / (params.n_neurons as f64 * params.f_max_hz * rnn.config.tau_ms[i] * 1e-3))
        .collect();
    let mut filtered: Vec<f64> = rnn.y0.to_vec();
    let mut readout = Array2::zeros((n_steps + 1, n_units));
    readout.row_mut(0).assign(&rnn.y0);

    let bin_steps = ((PSTH_BIN_MS / params.dt_ms).round() as usize).max(1);
    let n_bins = n_steps * substeps / bin_steps;
    let mut psth_hz = Array2::zeros((n_bins, n_units));
    let bin_scale = 1.0 / (params.n_neurons as f64 * bin_steps as f64 * params.dt_ms * 1e-3);

    let mut sim_step_idx = 0usize;
    for (step_idx, u) in inputs.outer_iter().enumerate() {
        // Inputs held over this continuous step.
        match params.input_mode {
            InputMode::Injected => {
                for post in 0..n_units {
                    let current = params.g * rnn.u.row(post).dot(&u);
                    if !current.is_finite() {
                        return Err(Error::InvalidParameter {
                            name: "inputs",
                            value: u.iter().fold(0.0, |m: f64, v| m.max(v.abs())),
                            expected: "inputs small enough that g U u is finite",
                        });
                    }
                    sim.set_injected_current(post, current)?;
                }
            }
            InputMode::Poisson { .. } => {
                for (source, &value) in u.iter().enumerate() {
                    sim.try_set_poisson_rate(source, params.f_max_hz * value)?;
                }
            }
        }

        // Simulation substeps, filtering and binning the population spike counts.
        for _ in 0..substeps {
            sim.step();
            let counts = sim.population_spike_counts();
            let bin_idx = sim_step_idx / bin_steps;
            for unit_idx in 0..n_units {
                let count = f64::from(counts[unit_idx]);
                filtered[unit_idx] =
                    filtered[unit_idx] * decay[unit_idx] + count * spike_weight[unit_idx];
                if bin_idx < n_bins {
                    psth_hz[[bin_idx, unit_idx]] += count * bin_scale;
                }
            }
            sim_step_idx += 1;
        }
        readout
            .row_mut(step_idx + 1)
            .iter_mut()
            .zip(&filtered)
            .for_each(|(r, f)| *r = *f);
    }
    Ok(SpikingTrial {
        readout,
        psth_hz,
        spikes: record_spikes.then(|| sim.take_spike_record()),
    })
}

pub(crate) fn check_inputs(converted: &Converted, inputs: ArrayView2<f64>) -> Result<(), Error> {
    let n_inputs = converted.rnn.n_inputs();
    if inputs.ncols() != n_inputs {
        return Err(Error::Shape(format!(
            "inputs have {} columns but the network has {n_inputs} inputs",
            inputs.ncols()
        )));
    }
    if let Some(bad) = inputs.iter().find(|v| !v.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "inputs",
            value: *bad,
            expected: "finite input values",
        });
    }
    if let InputMode::Poisson { .. } = converted.params.input_mode {
        if let Some(bad) = inputs.iter().find(|v| **v < 0.0) {
            return Err(Error::InvalidParameter {
                name: "inputs",
                value: *bad,
                expected: "inputs >= 0, because Poisson input populations fire at f_max u",
            });
        }
    }
    Ok(())
}

/// Runs `n_trials` trials in parallel, trial `k` with seed `stream_seed(seed, k)`, so the
/// results depend only on `seed` and not on the thread count. Spikes are recorded for the
/// first `n_recorded` trials.
///
/// # Errors
/// As [`run_trial`].
pub fn run_trials(
    converted: &Converted,
    inputs: ArrayView2<f64>,
    seed: u64,
    n_trials: usize,
    n_recorded: usize,
) -> Result<Vec<SpikingTrial>, Error> {
    (0..n_trials)
        .into_par_iter()
        .map(|trial_idx| {
            run_trial(
                converted,
                inputs,
                stream_seed(seed, trial_idx as u64),
                trial_idx < n_recorded,
            )
        })
        .collect()
}

/// Mean read-out over trials, shape `(n_steps + 1, n_units)`.
///
/// # Errors
/// [`Error::EmptyInput`] when `trials` is empty and [`Error::Shape`] when the read-outs differ
/// in shape.
pub fn mean_readout(trials: &[SpikingTrial]) -> Result<Array2<f64>, Error> {
    mean_over_trials(trials, "read-out", |trial| &trial.readout)
}

/// Mean PSTH over trials (Hz), shape `(n_bins, n_units)`.
///
/// # Errors
/// [`Error::EmptyInput`] when `trials` is empty and [`Error::Shape`] when the PSTHs differ in
/// shape.
pub fn mean_psth_hz(trials: &[SpikingTrial]) -> Result<Array2<f64>, Error> {
    mean_over_trials(trials, "PSTH", |trial| &trial.psth_hz)
}

fn mean_over_trials(
    trials: &[SpikingTrial],
    name: &str,
    field: impl Fn(&SpikingTrial) -> &Array2<f64>,
) -> Result<Array2<f64>, Error> {
    let Some(first) = trials.first() else {
        return Err(Error::EmptyInput {
            name: "the spiking trials",
        });
    };
    let mut mean = field(first).clone();
    for (index, trial) in trials.iter().enumerate().skip(1) {
        let values = field(trial);
        if values.dim() != mean.dim() {
            return Err(Error::Shape(format!(
                "the {name} of trial {index} has shape {:?} but that of trial 0 has {:?}; \
                 pass trials of one network and one input",
                values.dim(),
                mean.dim()
            )));
        }
        mean += values;
    }
    Ok(mean / trials.len() as f64)
}
