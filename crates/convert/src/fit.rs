//! Method (a): tune the gain, offset and rate scale until the population f-I curve matches
//! the logistic.
//!
//! The objective is `mean_x (F(g x + mu_0) / f_max - logistic(x))^2` over a grid of `x`, where
//! `F` is the simulated population rate. Because `F` depends on `(g, mu_0)` only through the
//! drive `mu = g x + mu_0`, the fit measures `F` once on a fine grid of `mu` (one set of random
//! numbers shared by every evaluation), interpolates it monotonically, and lets Nelder-Mead
//! search `(g, mu_0)`; for each candidate the best `f_max` has the closed form
//! `1 / f_max = sum F L / sum F^2` (clipped to `f_max <= f_max_limit_hz`). The fitted curve is
//! then measured again directly at the grid points with fresh random numbers, and those
//! numbers are the reported errors.

use iaf_sim::NeuronParams;
use rnn_core::{Activation, TabulatedActivation};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use crate::activation::{make_nondecreasing, MAX_GRID_POINTS};
use crate::fi::{measure_fi_curve, FiConfig};
use crate::optimize::nelder_mead;
use crate::seeds::stream_seed;
use crate::{check_positive, Error};

/// Settings of the method (a) fit.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `x_min`, `x_max`, `x_step` | -6, 6, 0.25 | grid on which the curves are compared |
/// | `mu_min`, `mu_max`, `mu_step` | -6, 8, 0.05 | grid of drives on which `F` is measured once |
/// | `f_max_limit_hz` | 150 Hz | upper bound of `f_max` |
/// | `start` | (0.763, 0.994, 95.4 Hz) | starting `(g, mu_0, f_max)` |
/// | `fi` | 200 neurons, 2 s | measurement of each point |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// Lowest compared input.
    pub x_min: f64,
    /// Highest compared input.
    pub x_max: f64,
    /// Spacing of compared inputs.
    pub x_step: f64,
    /// Lowest measured drive.
    pub mu_min: f64,
    /// Highest measured drive.
    pub mu_max: f64,
    /// Spacing of measured drives.
    pub mu_step: f64,
    /// Upper bound of `f_max` (Hz).
    pub f_max_limit_hz: f64,
    /// Starting `(g, mu_0, f_max_hz)`.
    pub start: (f64, f64, f64),
    /// Measurement of each point.
    pub fi: FiConfig,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            x_min: -6.0,
            x_max: 6.0,
            x_step: 0.25,
            mu_min: -6.0,
            mu_max: 8.0,
            mu_step: 0.05,
            f_max_limit_hz: 150.0,
            start: (0.763, 0.994, 95.4),
            fi: FiConfig::default(),
        }
    }
}

impl FitConfig {
    /// Checks the grids, the rate limit, the starting point and the measurement settings.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), Error> {
        check_positive("x_step", self.x_step)?;
        check_positive("mu_step", self.mu_step)?;
        check_positive("f_max_limit_hz", self.f_max_limit_hz)?;
        let lower_ends = [("x_min", self.x_min), ("mu_min", self.mu_min)];
        for (name, min) in lower_ends {
            if !min.is_finite() {
                return Err(Error::InvalidParameter {
                    name,
                    value: min,
                    expected: "a finite grid end",
                });
            }
        }
        let grids = [
            ("x_max", self.x_min, self.x_max),
            ("mu_max", self.mu_min, self.mu_max),
        ];
        for (name, min, max) in grids {
            if !(max.is_finite() && max > min) {
                return Err(Error::InvalidParameter {
                    name,
                    value: max,
                    expected: "a finite value above the grid's lower end",
                });
            }
        }
        let steps = [
            ("x_step", self.x_step, self.x_max - self.x_min),
            ("mu_step", self.mu_step, self.mu_max - self.mu_min),
        ];
        for (name, step, span) in steps {
            if span / step > MAX_GRID_POINTS {
                return Err(Error::InvalidParameter {
                    name,
                    value: step,
                    expected: "a step giving at most 1e6 grid points",
                });
            }
        }
        let (g, mu_0, f_max_hz) = self.start;
        check_positive("start.g", g)?;
        check_positive("start.f_max_hz", f_max_hz)?;
        if !mu_0.is_finite() {
            return Err(Error::InvalidParameter {
                name: "start.mu_0",
                value: mu_0,
                expected: "a finite drive",
            });
        }
        self.fi.validate()
    }
}

/// Outcome of the method (a) fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitResult {
    /// Fitted gain.
    pub g: f64,
    /// Fitted drive at `x = 0`.
    pub mu_0: f64,
    /// Fitted rate scale (Hz).
    pub f_max_hz: f64,
    /// Compared inputs.
    pub x: Vec<f64>,
    /// `F(g x + mu_0) / f_max`, measured again at the fitted parameters.
    pub phi: Vec<f64>,
    /// `logistic(x)`.
    pub logistic: Vec<f64>,
    /// RMS of `phi - logistic`.
    pub rms: f64,
    /// Max of `|phi - logistic|`.
    pub max_error: f64,
    /// RMS of the starting parameters on the interpolated curve.
    pub start_rms: f64,
    /// Objective evaluations of the search.
    pub evaluations: usize,
}

fn grid(min: f64, max: f64, step: f64) -> Vec<f64> {
    let n = ((max - min) / step).round() as usize + 1;
    (0..n).map(|k| min + k as f64 * step).collect()
}

fn logistic(x: f64) -> f64 {
    Activation::Logistic.value(x)
}

/// Fits `(g, mu_0, f_max)` so that the population f-I curve of `neuron` matches the logistic.
///
/// # Errors
/// [`Error::InvalidParameter`] for invalid grids or limits; [`Error::Simulator`] when the
/// neuron parameters are invalid.
pub fn fit_logistic(
    neuron: &NeuronParams,
    config: &FitConfig,
    seed: u64,
) -> Result<FitResult, Error> {
    config.validate()?;
    info!(seed, "fitting the f-I curve to the logistic");

    // Step 1: F on a fine drive grid, with one fixed set of random numbers.
    let mu_grid = grid(config.mu_min, config.mu_max, config.mu_step);
    let rates = measure_fi_curve(neuron, &mu_grid, &config.fi, stream_seed(seed, 0))?;
    let rates = make_nondecreasing(&rates)?;
    if rates.iter().all(|&rate| rate == 0.0) {
        return Err(Error::InvalidParameter {
            name: "mu_max",
            value: config.mu_max,
            expected: "a drive grid on which the neuron fires (every measured rate is 0); raise mu_max or the noise",
        });
    }
    let refractory_limit_hz = 1e3 / neuron.t_ref_ms;
    let f_of_mu = TabulatedActivation::new(
        config.mu_min,
        config.mu_step,
        rates,
        refractory_limit_hz.max(f64::MIN_POSITIVE),
    )?;

    // Step 2: Nelder-Mead over (g, mu_0) with the best f_max in closed form.
    let x = grid(config.x_min, config.x_max, config.x_step);
    let target: Vec<f64> = x.iter().map(|&xi| logistic(xi)).collect();
    let best_f_max = |g: f64, mu_0: f64| -> f64 {
        let (mut fl, mut ff) = (0.0, 0.0);
        for (&xi, &l) in x.iter().zip(&target) {
            let f = f_of_mu.value(g * xi + mu_0);
            fl += f * l;
            ff += f * f;
        }
        if fl > 0.0 {
            (ff / fl).min(config.f_max_limit_hz)
        } else {
            config.f_max_limit_hz
        }
    };
    let mean_squared = |g: f64, mu_0: f64, f_max: f64| -> f64 {
        x.iter()
            .zip(&target)
            .map(|(&xi, &l)| (f_of_mu.value(g * xi + mu_0) / f_max - l).powi(2))
            .sum::<f64>()
            / x.len() as f64
    };
    let (g0, mu00, f0) = config.start;
    let start_rms = mean_squared(g0, mu00, f0).sqrt();
    let mut objective = |p: &[f64]| {
        if p[0] <= 0.0 {
            return f64::INFINITY;
        }
        mean_squared(p[0], p[1], best_f_max(p[0], p[1]))
    };
    let minimum = nelder_mead(&mut objective, &[g0, mu00], &[0.05, 0.1], 1e-12, 400)?;
    let (g, mu_0) = (minimum.point[0], minimum.point[1]);
    let f_max_hz = best_f_max(g, mu_0);
    debug!(
        g,
        mu_0,
        f_max_hz,
        evaluations = minimum.evaluations,
        "search finished"
    );

    // Step 3: measure again at the fitted drives with fresh random numbers.
    let drives: Vec<f64> = x.iter().map(|&xi| g * xi + mu_0).collect();
    let rates = measure_fi_curve(neuron, &drives, &config.fi, stream_seed(seed, 1))?;
    let phi: Vec<f64> = rates.iter().map(|r| r / f_max_hz).collect();
    let errors: Vec<f64> = phi.iter().zip(&target).map(|(p, l)| p - l).collect();
    let rms = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    let max_error = errors.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    info!(
        g,
        mu_0, f_max_hz, rms, max_error, start_rms, "f-I fit finished"
    );
    Ok(FitResult {
        g,
        mu_0,
        f_max_hz,
        x,
        phi,
        logistic: target,
        rms,
        max_error,
        start_rms,
        evaluations: minimum.evaluations,
    })
}
