//! The error type of this crate.

/// Errors from building trials and scoring network activity for the memory task.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter or argument is outside its valid range.
    #[error("invalid {name} = {}: {requirement}", format_compact(*.value))]
    InvalidParameter {
        /// Parameter or argument name.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// The valid range and how to get into it.
        requirement: String,
    },
    /// The traces to classify cover fewer than two distinct cue values.
    #[error(
        "cue_values has {}, but classifying units needs at least 2; pass one trace per test \
         cue value",
        distinct_values(*.n_distinct)
    )]
    TooFewCueValues {
        /// Number of distinct cue values given.
        n_distinct: usize,
    },
    /// A duration does not cover a whole number of time steps.
    #[error(
        "{name} = {} ms is not a whole number of time steps of dt_ms = {}; \
         use a multiple of dt_ms",
        format_compact(*.value_ms),
        format_compact(*.dt_ms)
    )]
    NotWholeSteps {
        /// Parameter or argument name.
        name: &'static str,
        /// The rejected duration in ms.
        value_ms: f64,
        /// The time step in ms.
        dt_ms: f64,
    },
    /// An argument that needs one trace per cue value has none.
    #[error("{name} is empty: pass one trace per cue value")]
    NoTraces {
        /// Argument name.
        name: &'static str,
    },
    /// Two arguments that must have one entry each per cue value differ in length.
    #[error(
        "{name} has length {actual} but must have length {expected} (one entry per cue value)"
    )]
    LengthMismatch {
        /// Argument name.
        name: &'static str,
        /// Expected number of entries.
        expected: usize,
        /// Actual number of entries.
        actual: usize,
    },
    /// An activity trace has the wrong shape.
    #[error(
        "{name}[{index}] has shape {actual:?} but {expected:?} was expected; \
         pass the states y[0..=n_steps] of a trial with the same timing"
    )]
    ShapeMismatch {
        /// Argument name.
        name: &'static str,
        /// Index of the trace within the argument.
        index: usize,
        /// Expected shape.
        expected: Vec<usize>,
        /// Actual shape.
        actual: Vec<usize>,
    },
    /// An activity trace has no columns, so there are no units to classify.
    #[error(
        "{name}[{index}] has no units (shape [{n_rows}, 0]); pass traces with one column per \
         unit"
    )]
    NoUnits {
        /// Argument name.
        name: &'static str,
        /// Index of the trace within the argument.
        index: usize,
        /// Number of rows of the trace.
        n_rows: usize,
    },
    /// A metric exceeds `f64::MAX` although every input is finite.
    #[error(
        "{name} of outputs[{index}] overflows to infinity because an output lies more than \
         f64::MAX from its cue value {}; pass output states on the scale of the cue values",
        format_compact(*.cue_value)
    )]
    MetricOverflow {
        /// Name of the metric.
        name: &'static str,
        /// Index of the output trace.
        index: usize,
        /// Cue value of that trace.
        cue_value: f64,
    },
    /// An activity trace contains NaN or an infinity.
    #[error(
        "{name}[{index}] contains a non-finite value at row {row}; simulate with finite weights"
    )]
    NonFinite {
        /// Argument name.
        name: &'static str,
        /// Index of the trace within the argument.
        index: usize,
        /// Row of the first non-finite value.
        row: usize,
    },
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

/// Formats a count of distinct values, singular for 1: "1 distinct value", "0 distinct values".
fn distinct_values(n: usize) -> String {
    if n == 1 {
        "1 distinct value".to_string()
    } else {
        format!("{n} distinct values")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cue_trial, MemoryTaskParams};

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
        assert_eq!(format_compact(0.2), "0.2");
        assert_eq!(format_compact(0.0), "0");
        assert_eq!(format_compact(f64::NAN), "NaN");
        assert_eq!(format_compact(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn float_messages_are_compact() {
        for (value, shown) in [(1e300, "1e300"), (1e-12, "1e-12"), (5e-324, "5e-324")] {
            let invalid = Error::InvalidParameter {
                name: "cue_value",
                value,
                requirement: "must be finite".into(),
            };
            assert_eq!(
                invalid.to_string(),
                format!("invalid cue_value = {shown}: must be finite")
            );
            let fractional = Error::NotWholeSteps {
                name: "cue_ms",
                value_ms: value,
                dt_ms: value,
            };
            assert_eq!(
                fractional.to_string(),
                format!(
                    "cue_ms = {shown} ms is not a whole number of time steps of dt_ms = \
                     {shown}; use a multiple of dt_ms"
                )
            );
        }
    }

    #[test]
    fn cue_range_messages_are_compact() {
        let params = MemoryTaskParams::default();
        let err = cue_trial(&params, 1e300, 1500.0).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid cue_value = 1e300: "),
            "{err}"
        );

        let tiny = MemoryTaskParams {
            cue_min: 1e-12,
            cue_max: 5e-324,
            ..MemoryTaskParams::default()
        };
        let err = tiny.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid cue_max = 5e-324: must be finite and >= cue_min = 1e-12"
        );
        let err = cue_trial(
            &MemoryTaskParams {
                cue_max: 1e-12,
                ..tiny
            },
            0.5,
            1500.0,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("[cue_min, cue_max] = [1e-12, 1e-12]"),
            "{err}"
        );
    }
}
