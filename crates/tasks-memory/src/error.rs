//! The error type of this crate.

/// Errors from building trials and scoring network activity for the memory task.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter or argument is outside its valid range.
    #[error("invalid {name} = {value}: {requirement}")]
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
        "{name} = {value_ms} ms is not a whole number of time steps of dt_ms = {dt_ms}; \
         use a multiple of dt_ms"
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

/// Formats a count of distinct values, singular for 1: "1 distinct value", "0 distinct values".
fn distinct_values(n: usize) -> String {
    if n == 1 {
        "1 distinct value".to_string()
    } else {
        format!("{n} distinct values")
    }
}
