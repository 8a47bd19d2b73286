//! Network configuration: size, time constants, activation and structural constraints.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::format_shape;
use crate::{Activation, Error};

/// Smallest trained time constant in units of `dt_ms`. The Euler step needs
/// `dt_ms / tau_ms < 1`; the margin keeps a trained unit from losing its memory term.
pub const MIN_TAU_OVER_DT: f64 = 1.01;

/// Sign of every outgoing weight of a presynaptic unit (Dale's principle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sign {
    /// Outgoing weights are >= 0.
    Excitatory,
    /// Outgoing weights are <= 0.
    Inhibitory,
    /// Outgoing weights take either sign.
    Free,
}

impl Sign {
    /// Returns whether `weight` has a sign this unit allows (0 always does).
    pub fn allows(self, weight: f64) -> bool {
        match self {
            Sign::Excitatory => weight >= 0.0,
            Sign::Inhibitory => weight <= 0.0,
            Sign::Free => true,
        }
    }
}

/// Configuration of a continuous-time recurrent network.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `n_units` | - | number of units `N`, >= 1 |
/// | `n_inputs` | - | number of external inputs `M` (may be 0) |
/// | `dt_ms` | 1 ms | Euler time step |
/// | `tau_ms` | 20 ms each | time constant per unit, > `dt_ms` |
/// | `activation` | logistic | activation function `phi` |
/// | `mask` | none (all connections) | `(N, N)` = (post, pre); `false` = absent, weight stays exactly 0 |
/// | `signs` | none (all free) | sign per presynaptic unit, length `N` |
/// | `input_mask` | none (all inputs) | `(N, M)`; `false` = input weight stays exactly 0 |
/// | `nonnegative_inputs` | false | keep every input weight `U >= 0` |
/// | `delay_steps` | none (no delays) | `(N, N)` = (post, pre) transmission delay in time steps |
/// | `train_y0` | true | train the initial state; if false it stays at `y0_init` |
/// | `train_tau` | false | train the time constants, kept at or above `MIN_TAU_OVER_DT` times `dt_ms` |
/// | `y0_init` | 0.05 | initial state of every unit, in `[0, sup phi]` |
/// | `init_weight_scale` | 0.5 | initial `W ~ N(0, (scale / sqrt N)^2)` |
/// | `init_bias` | -1 | initial bias of every unit |
/// | `init_balance` | false | scale each row's inhibitory weights so that they cancel its excitatory weights |
/// | `init_spectral_radius` | none | rescale the initial `W`, after masking and balancing, to this spectral radius |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnConfig {
    /// Number of units.
    pub n_units: usize,
    /// Number of external inputs.
    pub n_inputs: usize,
    /// Euler time step in ms.
    pub dt_ms: f64,
    /// Time constant of each unit in ms, length `n_units`.
    pub tau_ms: Vec<f64>,
    /// Activation function.
    pub activation: Activation,
    /// Allowed recurrent connections, shape `(n_units, n_units)` = (post, pre).
    pub mask: Option<Array2<bool>>,
    /// Sign of each presynaptic unit's outgoing weights, length `n_units`.
    pub signs: Option<Vec<Sign>>,
    /// Allowed input connections, shape `(n_units, n_inputs)`.
    pub input_mask: Option<Array2<bool>>,
    /// Keep every input weight non-negative.
    pub nonnegative_inputs: bool,
    /// Transmission delay of each connection in time steps, shape `(n_units, n_units)`.
    pub delay_steps: Option<Array2<usize>>,
    /// Train the initial state `y0`.
    pub train_y0: bool,
    /// Train the time constants `tau_ms`; the optimiser keeps each at or above
    /// [`MIN_TAU_OVER_DT`] `* dt_ms`.
    #[serde(default)]
    pub train_tau: bool,
    /// Initial value of `y0` for every unit.
    pub y0_init: f64,
    /// Scale of the initial recurrent weights: standard deviation `scale / sqrt(n_units)`.
    pub init_weight_scale: f64,
    /// Initial bias of every unit.
    pub init_bias: f64,
    /// Balance each row of the initial `W`: the inhibitory weights are scaled so that they
    /// sum to minus the excitatory weights, which removes the outlier eigenvalue of a
    /// Dale-constrained matrix. Rows without both kinds, and free-sign units, are unchanged.
    #[serde(default)]
    pub init_balance: bool,
    /// Spectral radius of the initial `W`, set after masking and balancing by one positive
    /// factor (which keeps masks and signs).
    #[serde(default)]
    pub init_spectral_radius: Option<f64>,
}

impl RnnConfig {
    /// Returns the default configuration for `n_units` units and `n_inputs` inputs.
    pub fn new(n_units: usize, n_inputs: usize) -> RnnConfig {
        RnnConfig {
            n_units,
            n_inputs,
            dt_ms: 1.0,
            tau_ms: vec![20.0; n_units],
            activation: Activation::Logistic,
            mask: None,
            signs: None,
            input_mask: None,
            nonnegative_inputs: false,
            delay_steps: None,
            train_y0: true,
            train_tau: false,
            y0_init: 0.05,
            init_weight_scale: 0.5,
            init_bias: -1.0,
            init_balance: false,
            init_spectral_radius: None,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// - [`Error::InvalidParameter`] for zero units, a non-finite or non-positive `dt_ms`, a
    ///   `tau_ms` entry that is not finite or not greater than `dt_ms`, a `y0_init` outside
    ///   `[0, sup phi]`, or a non-finite initialisation value.
    /// - [`Error::ShapeMismatch`] for a `tau_ms`, mask, sign list, input mask or delay matrix
    ///   of the wrong size.
    pub fn validate(&self) -> Result<(), Error> {
        let n = self.n_units;
        if n == 0 {
            return Err(Error::invalid(
                "n_units",
                0,
                "a network needs at least 1 unit",
            ));
        }
        self.validate_time_constants()?;

        // Structural arrays.
        let square = format!("({n}, {n}) = (n_units, n_units)");
        if let Some(mask) = &self.mask {
            check_shape("mask", mask.shape(), &[n, n], &square)?;
        }
        if let Some(signs) = &self.signs {
            if signs.len() != n {
                return Err(Error::shape(
                    "signs",
                    format!("({n}) = (n_units)"),
                    &[signs.len()],
                ));
            }
        }
        if let Some(input_mask) = &self.input_mask {
            let expected = format!("({n}, {}) = (n_units, n_inputs)", self.n_inputs);
            check_shape(
                "input_mask",
                input_mask.shape(),
                &[n, self.n_inputs],
                &expected,
            )?;
        }
        if let Some(delays) = &self.delay_steps {
            check_shape("delay_steps", delays.shape(), &[n, n], &square)?;
        }

        // Initial values.
        let upper = self.activation.upper_bound();
        if !(self.y0_init >= 0.0 && self.y0_init <= upper) {
            return Err(Error::invalid(
                "y0_init",
                self.y0_init,
                format!("must lie in [0, {upper}], the range of the activation function"),
            ));
        }
        if !(self.init_weight_scale.is_finite() && self.init_weight_scale >= 0.0) {
            return Err(Error::invalid(
                "init_weight_scale",
                self.init_weight_scale,
                "must be finite and >= 0",
            ));
        }
        if let Some(radius) = self.init_spectral_radius {
            if !(radius.is_finite() && radius > 0.0) {
                return Err(Error::invalid(
                    "init_spectral_radius",
                    radius,
                    "must be finite and > 0, or None to keep the drawn scale",
                ));
            }
        }
        if !self.init_bias.is_finite() {
            return Err(Error::invalid(
                "init_bias",
                self.init_bias,
                "must be finite",
            ));
        }
        Ok(())
    }

    fn validate_time_constants(&self) -> Result<(), Error> {
        if !(self.dt_ms.is_finite() && self.dt_ms > 0.0) {
            return Err(Error::invalid(
                "dt_ms",
                self.dt_ms,
                "the time step must be finite and > 0 ms",
            ));
        }
        if self.tau_ms.len() != self.n_units {
            return Err(Error::shape(
                "tau_ms",
                format!("({}) = (n_units)", self.n_units),
                &[self.tau_ms.len()],
            ));
        }
        for (i, &tau) in self.tau_ms.iter().enumerate() {
            if !(tau.is_finite() && tau > self.dt_ms) {
                return Err(Error::invalid(
                    format!("tau_ms[{i}]"),
                    tau,
                    format!(
                        "must be finite and > dt_ms = {} ms, because the Euler step needs \
                         dt_ms / tau_ms < 1; raise tau_ms or lower dt_ms",
                        self.dt_ms
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Returns whether the recurrent connection `post <- pre` exists.
    pub fn connection_allowed(&self, post: usize, pre: usize) -> bool {
        self.mask.as_ref().is_none_or(|mask| mask[[post, pre]])
    }

    /// Returns whether input `input` reaches unit `unit`.
    pub fn input_allowed(&self, unit: usize, input: usize) -> bool {
        self.input_mask
            .as_ref()
            .is_none_or(|mask| mask[[unit, input]])
    }

    /// Returns the sign of the presynaptic unit `pre`.
    pub fn sign(&self, pre: usize) -> Sign {
        self.signs.as_ref().map_or(Sign::Free, |signs| signs[pre])
    }

    /// Returns whether any connection has a non-zero delay.
    pub fn has_delays(&self) -> bool {
        self.delay_steps
            .as_ref()
            .is_some_and(|delays| delays.iter().any(|&d| d > 0))
    }
}

fn check_shape(name: &str, found: &[usize], expected: &[usize], text: &str) -> Result<(), Error> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            name: name.to_string(),
            expected: text.to_string(),
            found: format_shape(found),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let config = RnnConfig::new(9, 2);
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.tau_ms, vec![20.0; 9]);
    }

    #[test]
    fn zero_units_rejected() {
        let err = RnnConfig::new(0, 2).validate().unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "n_units"));
    }

    #[test]
    fn bad_tau_named_with_range() {
        for tau in [0.0, -5.0, f64::NAN, 1.0, 0.5] {
            let mut config = RnnConfig::new(3, 1);
            config.tau_ms[2] = tau;
            let err = config.validate().unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { ref name, .. } if name == "tau_ms[2]"),
                "tau = {tau}: {err}"
            );
            assert!(err.to_string().contains("dt_ms = 1 ms"), "{err}");
        }
    }

    #[test]
    fn wrong_mask_shape_rejected() {
        let mut config = RnnConfig::new(3, 1);
        config.mask = Some(Array2::from_elem((3, 2), true));
        let err = config.validate().unwrap_err();
        assert_eq!(
            err,
            Error::ShapeMismatch {
                name: "mask".into(),
                expected: "(3, 3) = (n_units, n_units)".into(),
                found: "(3, 2)".into(),
            }
        );
    }

    #[test]
    fn y0_init_outside_range_rejected() {
        let mut config = RnnConfig::new(3, 1);
        config.y0_init = 1.5;
        assert!(matches!(
            config.validate(),
            Err(Error::InvalidParameter { ref name, .. }) if name == "y0_init"
        ));
    }
}
