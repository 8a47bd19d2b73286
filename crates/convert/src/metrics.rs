//! Agreement between a continuous trace and its spiking estimate.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::{check_finite, check_positive, Error};

/// Agreement of one unit's trial-averaged spiking rate with its continuous activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitAgreement {
    /// Pearson correlation; `None` when either trace is constant, where r is undefined.
    pub pearson_r: Option<f64>,
    /// `RMS(yhat - y) / (max y - min y)`; `None` when `y` is constant.
    pub nrmse: Option<f64>,
    /// `RMS(yhat - y)` in activity units.
    pub rms_error: f64,
}

/// Pearson correlation of two equally long series, or `None` when they are empty, either
/// has zero variance or either contains a NaN or infinite value (the correlation is then
/// undefined, not a number).
///
/// # Errors
/// [`Error::Shape`] when the lengths differ.
pub fn pearson_r(a: ArrayView1<f64>, b: ArrayView1<f64>) -> Result<Option<f64>, Error> {
    check_same_length(a.len(), b.len())?;
    Ok(finite_pearson_r(a, b))
}

fn finite_pearson_r(a: ArrayView1<f64>, b: ArrayView1<f64>) -> Option<f64> {
    let n = a.len() as f64;
    if a.is_empty() || a.iter().chain(b.iter()).any(|v| !v.is_finite()) {
        return None;
    }
    let mean_a = a.sum() / n;
    let mean_b = b.sum() / n;
    let mut cov = 0.0;
    let mut var_a = 0.0;
    let mut var_b = 0.0;
    for (x, y) in a.iter().zip(b.iter()) {
        cov += (x - mean_a) * (y - mean_b);
        var_a += (x - mean_a).powi(2);
        var_b += (y - mean_b).powi(2);
    }
    // A variance at rounding level relative to the values themselves counts as constant.
    let scale_a = a
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    let scale_b = b
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    if var_a <= (1e-12 * scale_a).powi(2) * n || var_b <= (1e-12 * scale_b).powi(2) * n {
        return None;
    }
    Some(cov / (var_a.sqrt() * var_b.sqrt()))
}

fn check_same_length(reference: usize, estimate: usize) -> Result<(), Error> {
    if reference != estimate {
        return Err(Error::Shape(format!(
            "the reference trace has {reference} values but the estimate has {estimate}; pass \
             equally long traces"
        )));
    }
    Ok(())
}

/// Agreement of `estimate` with `reference` (the continuous trace).
///
/// For a constant reference `nrmse` is `None`, and `pearson_r` is `None` when either trace is
/// constant; `rms_error` is >= 0 and never NaN.
///
/// # Errors
/// [`Error::Shape`] when the lengths differ, [`Error::EmptyInput`] for empty traces and
/// [`Error::InvalidParameter`] for a NaN or infinite value.
pub fn unit_agreement(
    reference: ArrayView1<f64>,
    estimate: ArrayView1<f64>,
) -> Result<UnitAgreement, Error> {
    check_same_length(reference.len(), estimate.len())?;
    if reference.is_empty() {
        return Err(Error::EmptyInput {
            name: "the reference and estimate traces",
        });
    }
    for (name, trace) in [("reference", reference), ("estimate", estimate)] {
        if let Some(&value) = trace.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name,
                value,
                expected: "finite values in every trace (check the simulation for divergence)",
            });
        }
    }
    let n = reference.len() as f64;
    let rms_error = (reference
        .iter()
        .zip(estimate.iter())
        .map(|(y, e)| (e - y).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let max = reference.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min = reference.iter().cloned().fold(f64::INFINITY, f64::min);
    let range = max - min;
    let nrmse = (range > 1e-12 * max.abs().max(1.0)).then(|| rms_error / range);
    Ok(UnitAgreement {
        pearson_r: finite_pearson_r(reference, estimate),
        nrmse,
        rms_error,
    })
}

/// Averages consecutive rows in bins of `bin_steps` rows; a last partial bin is dropped.
///
/// `series` is time-major `(n_steps, n_columns)`; the result is `(n_steps / bin_steps, n_columns)`.
///
/// # Panics
/// Panics when `bin_steps` is zero.
pub fn bin_mean(series: ArrayView2<f64>, bin_steps: usize) -> Array2<f64> {
    assert!(bin_steps > 0, "bin_steps must be positive");
    let n_bins = series.nrows() / bin_steps;
    let mut binned = Array2::zeros((n_bins, series.ncols()));
    for (bin_idx, mut row) in binned.axis_iter_mut(Axis(0)).enumerate() {
        let chunk = series.slice(ndarray::s![
            bin_idx * bin_steps..(bin_idx + 1) * bin_steps,
            ..
        ]);
        row.assign(&chunk.mean_axis(Axis(0)).expect("bin is not empty"));
    }
    binned
}

/// Median of the defined values, or `None` when none is defined.
pub fn median_defined(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut defined: Vec<f64> = values.into_iter().flatten().collect();
    if defined.is_empty() {
        return None;
    }
    defined.sort_by(f64::total_cmp);
    let mid = defined.len() / 2;
    Some(if defined.len() % 2 == 1 {
        defined[mid]
    } else {
        0.5 * (defined[mid - 1] + defined[mid])
    })
}

/// Per-unit agreement of a spiking read-out with the continuous activity, both of shape
/// `(n_steps + 1, n_units)` with row 0 the initial state, compared in bins of `bin_steps`
/// continuous steps after dropping row 0. Several trials (for example one per cue value)
/// are compared as one concatenated series per unit.
///
/// # Errors
/// [`Error::Shape`] when the lists differ in length or the arrays in shape,
/// [`Error::InvalidParameter`] for `bin_steps` = 0 or longer than every run (no complete bin),
/// and the errors of [`unit_agreement`] for non-finite values.
pub fn compare_runs(
    continuous: &[ArrayView2<f64>],
    spiking: &[ArrayView2<f64>],
    bin_steps: usize,
) -> Result<Vec<UnitAgreement>, Error> {
    if continuous.len() != spiking.len() {
        return Err(Error::Shape(format!(
            "{} continuous runs but {} spiking runs; pass one spiking run per continuous run",
            continuous.len(),
            spiking.len()
        )));
    }
    let n_units = continuous.first().map_or(0, |c| c.ncols());
    let n_steps = continuous.iter().map(|c| c.nrows().saturating_sub(1)).max();
    if bin_steps == 0 || n_steps.is_some_and(|n| n < bin_steps) {
        return Err(Error::InvalidParameter {
            name: "bin_steps",
            value: bin_steps as f64,
            expected: "at least 1 and at most the number of steps of the longest run",
        });
    }
    let mut reference: Vec<Vec<f64>> = vec![Vec::new(); n_units];
    let mut estimate: Vec<Vec<f64>> = vec![Vec::new(); n_units];
    for (index, (c, s)) in continuous.iter().zip(spiking).enumerate() {
        if c.dim() != s.dim() || c.ncols() != n_units || c.nrows() == 0 {
            return Err(Error::Shape(format!(
                "continuous run {index} has shape {:?} and spiking run {index} has shape {:?}; \
                 every run needs shape (n_steps + 1, {n_units}), with the initial state in \
                 row 0",
                c.dim(),
                s.dim()
            )));
        }
        let c_binned = bin_mean(c.slice(ndarray::s![1.., ..]), bin_steps);
        let s_binned = bin_mean(s.slice(ndarray::s![1.., ..]), bin_steps);
        for unit_idx in 0..n_units {
            reference[unit_idx].extend(c_binned.column(unit_idx).iter());
            estimate[unit_idx].extend(s_binned.column(unit_idx).iter());
        }
    }
    reference
        .iter()
        .zip(&estimate)
        .map(|(r, e)| unit_agreement(ArrayView1::from(r), ArrayView1::from(e)))
        .collect()
}

/// Low-pass filters time-major `inputs` with time constant `tau_ms` (exact exponential
/// update per step of `dt_ms`, starting from 0): what a synaptic current of that time constant
/// makes of a Poisson input population's rate.
///
/// # Errors
/// [`Error::InvalidParameter`] when `tau_ms` or `dt_ms` is not finite and > 0, or an input
/// is NaN or infinite.
pub fn filter_inputs(
    inputs: ArrayView2<f64>,
    tau_ms: f64,
    dt_ms: f64,
) -> Result<Array2<f64>, Error> {
    check_positive("tau_ms", tau_ms)?;
    check_positive("dt_ms", dt_ms)?;
    check_finite("inputs", inputs.iter())?;
    let decay = (-dt_ms / tau_ms).exp();
    let mut filtered = Array2::zeros(inputs.dim());
    let mut state = vec![0.0; inputs.ncols()];
    for (mut out, row) in filtered.outer_iter_mut().zip(inputs.outer_iter()) {
        for ((s, o), u) in state.iter_mut().zip(out.iter_mut()).zip(row.iter()) {
            *s = *s * decay + (1.0 - decay) * u;
            *o = *s;
        }
    }
    Ok(filtered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1};

    #[test]
    fn pearson_of_linear_map_is_one() {
        let a = array![0.0, 1.0, 2.0, 3.0];
        let b = a.mapv(|x| 3.0 * x - 2.0);
        let r = pearson_r(a.view(), b.view()).unwrap().unwrap();
        assert!((r - 1.0).abs() < 1e-12, "{r}");
        let r = pearson_r(a.view(), (-&b).view()).unwrap().unwrap();
        assert!((r + 1.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn pearson_hand_computed() {
        // a = (1, 2, 3), b = (1, 3, 2): deviations (-1, 0, 1) and (-1, 1, 0), cov 1,
        // variances 2 and 2, so r = 1 / 2.
        let r = pearson_r(array![1.0, 2.0, 3.0].view(), array![1.0, 3.0, 2.0].view())
            .unwrap()
            .unwrap();
        assert!((r - 0.5).abs() < 1e-12, "{r}");
    }

    #[test]
    fn non_finite_value_gives_undefined_r() {
        let b = array![0.1, 0.2, 0.4];
        for bad in [f64::NAN, f64::INFINITY] {
            let a = array![0.3, bad, 0.5];
            assert_eq!(pearson_r(a.view(), b.view()).unwrap(), None);
            assert_eq!(pearson_r(b.view(), a.view()).unwrap(), None);
        }
    }

    #[test]
    fn constant_trace_gives_undefined_r() {
        let a = array![0.3, 0.3, 0.3];
        let b = array![0.1, 0.2, 0.4];
        assert_eq!(pearson_r(a.view(), b.view()).unwrap(), None);
        let agreement = unit_agreement(a.view(), b.view()).unwrap();
        assert_eq!(agreement.pearson_r, None);
        assert_eq!(agreement.nrmse, None);
        // RMS of (-0.2, -0.1, 0.1) = sqrt(0.06 / 3).
        assert!((agreement.rms_error - (0.02f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn empty_traces_are_an_error() {
        let empty = Array1::<f64>::zeros(0);
        let err = unit_agreement(empty.view(), empty.view()).unwrap_err();
        assert!(matches!(err, Error::EmptyInput { .. }), "{err:?}");
        assert!(err.to_string().contains("at least one value"), "{err}");
        assert_eq!(pearson_r(empty.view(), empty.view()).unwrap(), None);
    }

    #[test]
    fn mismatched_or_non_finite_traces_are_errors() {
        let a = array![0.1, 0.2, 0.4];
        let err = unit_agreement(a.view(), array![0.1, 0.2].view()).unwrap_err();
        assert!(matches!(err, Error::Shape(_)), "{err:?}");
        assert!(err.to_string().contains("3 values"), "{err}");
        assert!(pearson_r(a.view(), array![0.1].view()).is_err());
        let err = unit_agreement(a.view(), array![0.1, f64::NAN, 0.3].view()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "estimate",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn constant_traces_give_zero_error() {
        // Identical constant traces: r and NRMSE undefined, RMS error exactly +0.
        let a = array![0.5, 0.5];
        let agreement = unit_agreement(a.view(), a.view()).unwrap();
        assert_eq!(agreement.pearson_r, None);
        assert_eq!(agreement.nrmse, None);
        assert_eq!(agreement.rms_error.to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn compare_runs_rejects_bad_bins_and_shapes() {
        let a = array![[0.0], [0.0], [1.0]];
        let b = array![[0.0, 1.0], [2.0, 1.0], [3.0, 1.0]];
        for bin_steps in [0, 3] {
            let err = compare_runs(&[a.view()], &[a.view()], bin_steps).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidParameter {
                        name: "bin_steps",
                        ..
                    }
                ),
                "{bin_steps}: {err:?}"
            );
        }
        let err = compare_runs(&[a.view()], &[b.view()], 1).unwrap_err();
        assert!(matches!(err, Error::Shape(_)), "{err:?}");

        // A run without rows lacks even the initial state.
        let empty = ndarray::Array2::<f64>::zeros((0, 1));
        let err =
            compare_runs(&[a.view(), empty.view()], &[a.view(), empty.view()], 1).unwrap_err();
        assert!(matches!(err, Error::Shape(_)), "{err:?}");
        let err = compare_runs(&[a.view()], &[], 1).unwrap_err();
        assert!(matches!(err, Error::Shape(_)), "{err:?}");
    }

    #[test]
    fn nrmse_hand_computed() {
        // reference range 2, errors (0.1, -0.1, 0.1, -0.1): RMS 0.1, NRMSE 0.05.
        let y = array![0.0, 1.0, 2.0, 1.0];
        let e = array![0.1, 0.9, 2.1, 0.9];
        let agreement = unit_agreement(y.view(), e.view()).unwrap();
        assert!((agreement.nrmse.unwrap() - 0.05).abs() < 1e-12);
    }

    #[test]
    fn bin_mean_averages_and_drops_partial_bin() {
        let series = array![[1.0], [3.0], [5.0], [7.0], [100.0]];
        let binned = bin_mean(series.view(), 2);
        assert_eq!(binned, array![[2.0], [6.0]]);
    }

    #[test]
    fn median_skips_undefined() {
        assert_eq!(
            median_defined([Some(3.0), None, Some(1.0), Some(2.0)]),
            Some(2.0)
        );
        assert_eq!(median_defined([Some(3.0), Some(1.0)]), Some(2.0));
        assert_eq!(median_defined([None, None]), None);
    }

    #[test]
    fn filter_inputs_step_response() {
        // A unit step filtered with tau = 20 ms at dt = 1 ms reaches 1 - exp(-n / 20) after n steps.
        let inputs = Array2::from_elem((40, 1), 1.0);
        let filtered = filter_inputs(inputs.view(), 20.0, 1.0).unwrap();
        let expected = 1.0 - (-40.0f64 / 20.0).exp();
        assert!((filtered[[39, 0]] - expected).abs() < 1e-12);
    }

    #[test]
    fn filter_inputs_rejects_bad_arguments() {
        let inputs = Array2::from_elem((3, 1), 1.0);
        for tau_ms in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = filter_inputs(inputs.view(), tau_ms, 1.0).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: "tau_ms", .. }),
                "{tau_ms}: {err:?}"
            );
        }
        let err = filter_inputs(inputs.view(), 20.0, -1.0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "dt_ms", .. }),
            "{err:?}"
        );
        let mut with_nan = inputs.clone();
        with_nan[[1, 0]] = f64::NAN;
        let err = filter_inputs(with_nan.view(), 20.0, 1.0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "inputs", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn compare_runs_concatenates_trials() {
        let a = array![[0.0], [0.0], [1.0]];
        let b = array![[0.0], [2.0], [3.0]];
        let agreement = compare_runs(&[a.view(), b.view()], &[a.view(), b.view()], 1).unwrap();
        assert_eq!(agreement.len(), 1);
        assert!((agreement[0].pearson_r.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(agreement[0].nrmse, Some(0.0));
    }
}
