//! Conversion of trained continuous-time networks into spiking networks, and the checks that
//! the two do the same job.
//!
//! The crate sits between `rnn-core` (the continuous units) and `iaf-sim` (the spiking
//! neurons). It measures population f-I curves by simulation, computes the Siegert rate as a
//! cross-check, fits the spiking curve to the logistic (method a) or tabulates it as an
//! activation function to train with (method b), maps every unit onto a population of
//! integrate-and-fire neurons, runs spiking trials with the continuous net's inputs, and
//! scores the agreement.
//!
//! It does not train networks (that is `rnn-core`) and it knows no task: callers pass the
//! inputs and decide what counts as success.
//!
//! ```
//! use convert::siegert::{siegert_rate_hz, SiegertParams};
//! let neuron = SiegertParams { tau_m_ms: 10.0, t_ref_ms: 8.0, v_threshold: 1.0, v_reset: 0.0, sigma_v: 0.5 };
//! let rate_hz = siegert_rate_hz(&neuron, 1.2).unwrap();
//! assert!((rate_hz - 47.25).abs() < 0.01);
//! ```

pub mod activation;
pub mod fi;
pub mod fit;
pub mod metrics;
pub mod nest;
pub mod network;
pub mod optimize;
pub mod seeds;
pub mod siegert;
pub mod trials;

pub use activation::{smooth_local_quadratic, tabulate_activation, ActivationTable, TableConfig};
pub use fi::{measure_fi_curve, FiConfig};
pub use fit::{fit_logistic, FitConfig, FitResult};
pub use metrics::{pearson_r, unit_agreement, UnitAgreement};
pub use network::{convert, ConnectivityRule, ConversionParams, Converted, InputMode, MIN_DT_MS};
pub use trials::{run_trial, run_trials, SpikingTrial};

/// Errors of the conversion crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside its valid range.
    #[error("invalid {name} = {}: expected {expected}", format_compact(*.value))]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Offending value.
        value: f64,
        /// The valid range or form.
        expected: &'static str,
    },
    /// Arrays or networks do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An input that needs values has none.
    #[error("{name} are empty: pass at least one value")]
    EmptyInput {
        /// Description of the empty input.
        name: &'static str,
    },
    /// A minimisation saw no finite objective value, so it has no minimum to return.
    #[error(
        "the objective returned NaN or infinity at all {evaluations} points evaluated: \
         start the search where the objective is finite"
    )]
    NoFiniteObjective {
        /// Objective evaluations made.
        evaluations: usize,
    },
    /// The spiking simulator rejected the network.
    #[error(transparent)]
    Simulator(#[from] iaf_sim::Error),
    /// The continuous network rejected its input.
    #[error(transparent)]
    Network(#[from] rnn_core::Error),
}

/// Checks that every entry of `values` is finite, naming the argument `name` in the error.
pub(crate) fn check_finite<'a>(
    name: &'static str,
    values: impl IntoIterator<Item = &'a f64>,
) -> Result<(), Error> {
    match values.into_iter().find(|v| !v.is_finite()) {
        Some(&value) => Err(Error::InvalidParameter {
            name,
            value,
            expected: "finite values",
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            expected: "a finite value > 0",
        })
    }
}

/// Formats `value` for a message: plain decimal for magnitudes in [1e-4, 1e9), zero and
/// non-finite values, scientific notation otherwise, so that 1e300 does not print 301 digits.
pub(crate) fn format_compact(value: f64) -> String {
    if value == 0.0 || !value.is_finite() || (1e-4..1e9).contains(&value.abs()) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_compact_switches_at_range_ends() {
        assert_eq!(format_compact(1e300), "1e300");
        assert_eq!(format_compact(-1e300), "-1e300");
        assert_eq!(format_compact(1e-12), "1e-12");
        assert_eq!(format_compact(5e-324), "5e-324");
        assert_eq!(format_compact(1e9), "1e9");
        assert_eq!(format_compact(999_999_999.0), "999999999");
        assert_eq!(format_compact(1e-4), "0.0001");
        assert_eq!(format_compact(9e-5), "9e-5");
        assert_eq!(format_compact(0.5), "0.5");
        assert_eq!(format_compact(0.0), "0");
        assert_eq!(format_compact(f64::NAN), "NaN");
        assert_eq!(format_compact(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn invalid_parameter_message_is_compact() {
        for (value, shown) in [(1e300, "1e300"), (1e-12, "1e-12"), (5e-324, "5e-324")] {
            let error = Error::InvalidParameter {
                name: "steps",
                value,
                expected: "a finite value > 0",
            };
            assert_eq!(
                error.to_string(),
                format!("invalid steps = {shown}: expected a finite value > 0")
            );
        }
    }
}
