//! The error type of the crate.

use ndarray::{ArrayView1, ArrayView2};

/// Errors of network construction, simulation and training.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter or configuration value is outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name with its index, for example `tau_ms[3]`.
        name: String,
        /// The rejected value, formatted.
        value: String,
        /// The valid range and how to fix the value.
        reason: String,
    },

    /// An array has the wrong shape.
    #[error("{name} has shape {found} but must have shape {expected}")]
    ShapeMismatch {
        /// Array name, for example `w` or `trials[2].inputs`.
        name: String,
        /// Expected shape with the meaning of each axis, for example `(4, 4) = (n_units, n_units)`.
        expected: String,
        /// Actual shape.
        found: String,
    },

    /// An array entry that must be finite is NaN or infinite.
    #[error("{name}[{index}] = {value} is not finite; {name} must contain finite values only")]
    NonFinite {
        /// Array name, for example `u` or `trials[0].inputs`.
        name: String,
        /// Position of the first non-finite entry, for example `[3, 1]`.
        index: String,
        /// The entry.
        value: f64,
    },

    /// A weight breaks the connection mask, the sign of its presynaptic unit or the
    /// non-negativity of the inputs.
    #[error("{name}[{index}] = {value} violates a constraint: {reason}")]
    ConstraintViolation {
        /// Array name (`w` or `u`).
        name: String,
        /// Position of the first violating entry, `[post, pre]` or `[unit, input]`.
        index: String,
        /// The entry.
        value: f64,
        /// The constraint and how to satisfy it.
        reason: String,
    },

    /// A loss or gradient was requested for an empty list of trials.
    #[error("the batch contains no trials; pass at least one trial")]
    EmptyBatch,

    /// A loss or gradient computed from finite values overflowed.
    #[error(
        "{quantity} = {value} is not finite although the network, inputs and targets are; \
         the parameters or targets are too large for {precision}, so scale them down"
    )]
    Overflow {
        /// `loss`, or the gradient entry that overflowed, for example `gradient.w_out[0, 3]`.
        quantity: String,
        /// The non-finite value.
        value: f64,
        /// The floating-point type, `f32` or `f64`.
        precision: &'static str,
    },

    /// Training produced a non-finite loss, gradient or parameter.
    ///
    /// The network and the optimiser state are left as they were before the failed iteration.
    #[error(
        "training diverged at iteration {iteration}: {parameter} or its gradient became \
         non-finite; lower the learning rate or check the batch targets"
    )]
    Diverged {
        /// Index of the failed iteration: the one passed to the batch sampler in training,
        /// or the number of steps already taken in [`crate::ReadoutAdam::step`].
        iteration: usize,
        /// `loss`, or the parameter (`w`, `u`, `b`, `y0`, and for a read-out network
        /// `w_out`, `b_out`) whose gradient or updated value was non-finite.
        parameter: String,
    },
}

impl Error {
    pub(crate) fn invalid(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Error {
        Error::InvalidParameter {
            name: name.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn shape(
        name: impl Into<String>,
        expected: impl Into<String>,
        found: &[usize],
    ) -> Error {
        Error::ShapeMismatch {
            name: name.into(),
            expected: expected.into(),
            found: format_shape(found),
        }
    }
}

/// Formats a shape as `(a, b)`.
pub(crate) fn format_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|n| n.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// Returns whether every entry of `values` is finite. Contiguous arrays of any axis order
/// are tested in blocks without an early exit inside, so that the compiler vectorises the
/// test. Callers search for the entry to name only when this returns `false`.
pub(crate) fn all_finite<T: crate::Real, D: ndarray::Dimension>(
    values: ndarray::ArrayView<'_, T, D>,
) -> bool {
    match values.as_slice_memory_order() {
        Some(flat) => flat
            .chunks(64)
            .all(|block| block.iter().fold(true, |finite, v| finite & v.is_finite())),
        None => values.iter().all(|v| v.is_finite()),
    }
}

/// Checks that every entry of a 2-D array is finite, naming the first one that is not.
pub(crate) fn check_finite_2d(name: &str, values: ArrayView2<f64>) -> Result<(), Error> {
    if all_finite(values) {
        return Ok(());
    }
    match values.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some(((row, col), &value)) => Err(Error::NonFinite {
            name: name.to_string(),
            index: format!("{row}, {col}"),
            value,
        }),
    }
}

/// Checks that every entry of a 1-D array is finite, naming the first one that is not.
pub(crate) fn check_finite_1d(name: &str, values: ArrayView1<f64>) -> Result<(), Error> {
    match values.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some((idx, &value)) => Err(Error::NonFinite {
            name: name.to_string(),
            index: idx.to_string(),
            value,
        }),
    }
}
