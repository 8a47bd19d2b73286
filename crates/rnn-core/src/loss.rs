//! The batch loss, its gradient, and the checks on a batch of trials.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::batch::BatchKernel;
use crate::error::{check_finite_1d, check_finite_2d};
use crate::rnn::check_inputs;
use crate::{Error, Perturbation, Rnn, Trial};

/// Gradient of the loss with respect to every parameter of an [`Rnn`].
///
/// Entries of masked connections and masked inputs are 0, and `y0` is 0 when the
/// configuration does not train it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gradient {
    /// `dL/dW`, shape `(n_units, n_units)` = (post, pre).
    pub w: Array2<f64>,
    /// `dL/dU`, shape `(n_units, n_inputs)`.
    pub u: Array2<f64>,
    /// `dL/db`, shape `(n_units)`.
    pub b: Array1<f64>,
    /// `dL/dy0`, shape `(n_units)`.
    pub y0: Array1<f64>,
    /// `dL/dtau_ms`, shape `(n_units)`; 0 unless the configuration trains the time
    /// constants.
    pub tau_ms: Array1<f64>,
}

impl Gradient {
    /// Returns a zero gradient shaped like the parameters of `rnn`.
    pub fn zeros_like(rnn: &Rnn) -> Gradient {
        Gradient {
            w: Array2::zeros(rnn.w.raw_dim()),
            u: Array2::zeros(rnn.u.raw_dim()),
            b: Array1::zeros(rnn.b.raw_dim()),
            y0: Array1::zeros(rnn.y0.raw_dim()),
            tau_ms: Array1::zeros(rnn.config.tau_ms.len()),
        }
    }

    /// Global L2 norm over all entries.
    ///
    /// The entries are divided by the largest magnitude before squaring, so the norm does
    /// not overflow for entries near `f64::MAX`. Returns NaN if an entry is NaN and infinity
    /// if one is infinite.
    pub fn norm(&self) -> f64 {
        let entries = || {
            self.w
                .iter()
                .chain(self.u.iter())
                .chain(self.b.iter())
                .chain(self.y0.iter())
                .chain(self.tau_ms.iter())
        };
        let mut largest: f64 = 0.0;
        for &g in entries() {
            if g.is_nan() {
                return f64::NAN;
            }
            largest = largest.max(g.abs());
        }
        if largest == 0.0 || largest.is_infinite() {
            return largest;
        }
        let sum_of_squares: f64 = entries().map(|&g| (g / largest).powi(2)).sum();
        largest * sum_of_squares.sqrt()
    }

    /// Returns the name of the first parameter (`w`, `u`, `b`, `y0`, `tau_ms`) with a non-finite
    /// gradient entry, if any.
    pub fn first_non_finite(&self) -> Option<&'static str> {
        if !self.w.iter().all(|g| g.is_finite()) {
            Some("w")
        } else if !self.u.iter().all(|g| g.is_finite()) {
            Some("u")
        } else if !self.b.iter().all(|g| g.is_finite()) {
            Some("b")
        } else if !self.y0.iter().all(|g| g.is_finite()) {
            Some("y0")
        } else if !self.tau_ms.iter().all(|g| g.is_finite()) {
            Some("tau_ms")
        } else {
            None
        }
    }
}

impl Rnn {
    /// Computes the loss: the mean over trials of each trial's weighted squared error
    /// `sum_{t, i} weights[t, i] (y[t + 1, i] - targets[t, i])^2`.
    ///
    /// Entries with weight 0 are skipped, so their targets may hold any value. A non-finite
    /// target at an entry with non-zero weight gives a non-finite loss, which [`crate::train`]
    /// reports as [`Error::Diverged`]. Chunks of four trials, kept in SIMD lanes, run in
    /// parallel on the current rayon pool.
    ///
    /// # Errors
    /// - [`Error::EmptyBatch`] for no trials.
    /// - [`Error::ShapeMismatch`] if a trial's arrays do not fit the network or each other.
    /// - [`Error::NonFinite`] for a non-finite input or error weight.
    /// - [`Error::InvalidParameter`] for a negative error weight.
    /// - Any parameter error of [`Rnn::simulate`].
    pub fn loss(&self, trials: &[Trial]) -> Result<f64, Error> {
        self.validate()?;
        check_trials(trials, self.n_units(), self.n_inputs())?;
        let total = BatchKernel::new(self).batch(trials, None, false);
        Ok(total.loss / trials.len() as f64)
    }

    /// Computes the loss of [`Rnn::loss`] with `perturbations[k]` added to the forward pass
    /// of trial `k` (see [`Perturbation`]).
    ///
    /// # Errors
    /// As [`Rnn::loss`], and [`Error::ShapeMismatch`] or [`Error::NonFinite`] for
    /// perturbations that do not fit the trials or contain a non-finite value.
    pub fn loss_perturbed(
        &self,
        trials: &[Trial],
        perturbations: &[Perturbation],
    ) -> Result<f64, Error> {
        self.validate()?;
        check_trials(trials, self.n_units(), self.n_inputs())?;
        check_perturbations(perturbations, trials, self.n_units())?;
        let total = BatchKernel::new(self).batch(trials, Some(perturbations), false);
        Ok(total.loss / trials.len() as f64)
    }

    /// Computes the loss of [`Rnn::loss`] and its exact gradient by backpropagation through
    /// time through the Euler map.
    ///
    /// Chunks of four consecutive trials run in parallel; their gradients are summed in
    /// chunk order, so the result is bit-identical for every number of threads.
    ///
    /// # Errors
    /// As [`Rnn::loss`].
    pub fn loss_and_gradient(&self, trials: &[Trial]) -> Result<(f64, Gradient), Error> {
        self.gradient_of(trials, None)
    }

    /// Computes the loss of [`Rnn::loss_perturbed`] and its exact gradient, which is the
    /// gradient of the perturbed map for these draws of the perturbations.
    ///
    /// Results are bit-identical for every number of threads, as with
    /// [`Rnn::loss_and_gradient`].
    ///
    /// # Errors
    /// As [`Rnn::loss_perturbed`].
    pub fn loss_and_gradient_perturbed(
        &self,
        trials: &[Trial],
        perturbations: &[Perturbation],
    ) -> Result<(f64, Gradient), Error> {
        self.gradient_of(trials, Some(perturbations))
    }

    fn gradient_of(
        &self,
        trials: &[Trial],
        perturbations: Option<&[Perturbation]>,
    ) -> Result<(f64, Gradient), Error> {
        self.validate()?;
        check_trials(trials, self.n_units(), self.n_inputs())?;
        if let Some(perturbations) = perturbations {
            check_perturbations(perturbations, trials, self.n_units())?;
        }
        let total = BatchKernel::new(self).batch(trials, perturbations, true);
        let (n, m) = (self.n_units(), self.n_inputs());
        let loss = total.loss / trials.len() as f64;
        let scale = 1.0 / trials.len() as f64;
        let mut gradient = Gradient {
            w: Array2::from_shape_vec((n, n), total.w).expect("n * n buffer"),
            u: Array2::from_shape_vec((n, m), total.u).expect("n * m buffer"),
            b: Array1::from(total.b),
            y0: Array1::from(total.y0),
            tau_ms: Array1::from(total.tau_ms),
        };
        gradient.w *= scale;
        gradient.u *= scale;
        gradient.b *= scale;
        gradient.y0 *= scale;
        gradient.tau_ms *= scale;

        // Untrainable entries get exactly zero gradient.
        let config = &self.config;
        for ((post, pre), g) in gradient.w.indexed_iter_mut() {
            if !config.connection_allowed(post, pre) {
                *g = 0.0;
            }
        }
        for ((unit, input), g) in gradient.u.indexed_iter_mut() {
            if !config.input_allowed(unit, input) {
                *g = 0.0;
            }
        }
        if !config.train_tau {
            gradient.tau_ms.fill(0.0);
        }
        if !config.train_y0 {
            gradient.y0.fill(0.0);
        }
        Ok((loss, gradient))
    }
}

/// Checks every trial of a batch, in order, so that the first bad trial is reported.
fn check_trials(trials: &[Trial], n_units: usize, n_inputs: usize) -> Result<(), Error> {
    if trials.is_empty() {
        return Err(Error::EmptyBatch);
    }
    for (idx, trial) in trials.iter().enumerate() {
        check_inputs(
            &format!("trials[{idx}].inputs"),
            trial.inputs.view(),
            n_inputs,
        )?;
        let n_steps = trial.n_steps();
        let expected = format!("({n_steps}, {n_units}) = (n_steps, n_units)");
        for (name, array) in [("targets", &trial.targets), ("weights", &trial.weights)] {
            if array.shape() != [n_steps, n_units] {
                return Err(Error::shape(
                    format!("trials[{idx}].{name}"),
                    expected.clone(),
                    array.shape(),
                ));
            }
        }
        check_finite_2d(&format!("trials[{idx}].weights"), trial.weights.view())?;
        // Blocks without an early exit inside, so that the compiler vectorises the test.
        let non_negative = match trial.weights.as_slice_memory_order() {
            Some(slice) => slice
                .chunks(64)
                .all(|block| block.iter().fold(true, |ok, &w| ok & (w >= 0.0))),
            None => trial.weights.iter().all(|&w| w >= 0.0),
        };
        if non_negative {
            continue;
        }
        if let Some(((t, i), &weight)) = trial.weights.indexed_iter().find(|(_, &w)| w < 0.0) {
            return Err(Error::invalid(
                format!("trials[{idx}].weights[{t}, {i}]"),
                weight,
                "error weights must be >= 0",
            ));
        }
    }
    Ok(())
}

/// Checks that there is one perturbation per trial, with shapes that fit it and finite
/// entries.
fn check_perturbations(
    perturbations: &[Perturbation],
    trials: &[Trial],
    n_units: usize,
) -> Result<(), Error> {
    if perturbations.len() != trials.len() {
        return Err(Error::shape(
            "perturbations",
            format!("({}) = one per trial", trials.len()),
            &[perturbations.len()],
        ));
    }
    for (idx, (perturbation, trial)) in perturbations.iter().zip(trials).enumerate() {
        let name = format!("perturbations[{idx}].drive_offset");
        if perturbation.drive_offset.len() != n_units {
            return Err(Error::shape(
                name,
                format!("({n_units}) = (n_units)"),
                perturbation.drive_offset.shape(),
            ));
        }
        check_finite_1d(&name, perturbation.drive_offset.view())?;
        if let Some(noise) = &perturbation.state_noise {
            let name = format!("perturbations[{idx}].state_noise");
            let n_steps = trial.n_steps();
            if noise.shape() != [n_steps, n_units] {
                return Err(Error::shape(
                    name,
                    format!("({n_steps}, {n_units}) = (n_steps, n_units)"),
                    noise.shape(),
                ));
            }
            check_finite_2d(&name, noise.view())?;
        }
    }
    Ok(())
}
