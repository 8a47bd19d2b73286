//! The error type of this crate.

/// Errors from building wrist trials and scoring network activity.
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
    /// An array has the wrong shape.
    #[error("{name} has shape {actual:?} but {expected:?} was expected")]
    ShapeMismatch {
        /// Argument name.
        name: &'static str,
        /// Expected shape.
        expected: Vec<usize>,
        /// Actual shape.
        actual: Vec<usize>,
    },
    /// An array contains NaN or an infinity.
    #[error("{name} contains a non-finite value at {index:?}; simulate with finite weights")]
    NonFinite {
        /// Argument name.
        name: &'static str,
        /// Index of the first non-finite value.
        index: Vec<usize>,
    },
}
