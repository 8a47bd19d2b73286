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
