//! One training or test trial: inputs, targets and the weight of each squared error.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// A trial of `n_steps` time steps.
///
/// Row `n` of `inputs` drives the step from `y[n]` to `y[n + 1]`, and row `n` of `targets`
/// and `weights` is compared with `y[n + 1]`. The trial loss is
/// `sum_{n, i} weights[n, i] * (y[n + 1, i] - targets[n, i])^2`, so a task normalises its
/// weights (for a plain mean squared error over the scored entries, each scored entry gets
/// `1 / count`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    /// External inputs, shape `(n_steps, n_inputs)`.
    pub inputs: Array2<f64>,
    /// Target activity, shape `(n_steps, n_units)`.
    pub targets: Array2<f64>,
    /// Weight of each squared error, shape `(n_steps, n_units)`; zero where unscored.
    pub weights: Array2<f64>,
}

impl Trial {
    /// Number of time steps.
    pub fn n_steps(&self) -> usize {
        self.inputs.nrows()
    }
}

/// Additive noise in the forward pass of one trial, drawn by the caller.
///
/// With a perturbation, one step of [`crate::Rnn`] becomes
///
/// ```text
/// x_i[t]     = sum_j W_ij y_j[t - D_ij] + sum_k U_ik u_k[t] + b_i + drive_offset_i
/// y_i[t + 1] = (1 - a_i) y_i[t] + a_i phi(x_i[t]) + state_noise[t, i]
/// ```
///
/// Training with random perturbations teaches a network to do its task although its units
/// do not follow `phi` exactly, as when each unit is replaced by a population of spiking
/// neurons. The gradient is the exact gradient of this perturbed map for the given draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Perturbation {
    /// Constant added to each unit's pre-activation at every step, shape `(n_units)`.
    pub drive_offset: ndarray::Array1<f64>,
    /// Noise added to the state after every step, shape `(n_steps, n_units)`, or `None`.
    pub state_noise: Option<Array2<f64>>,
}
