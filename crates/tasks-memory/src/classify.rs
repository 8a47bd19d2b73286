//! Response types of memory-net units, from their mean activity in the task epochs.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::format_compact;
use crate::params::invalid;
use crate::{Error, MemoryTaskParams, MemoryTimeline};

/// Thresholds of the unit classifier; all activities are in units of `y`.
///
/// | name | default | rule |
/// |---|---|---|
/// | `phasic_cue_min_cue_rise` | 0.2 | phasic cue: `C - B >` this |
/// | `phasic_cue_max_late_change` | 0.05 | phasic cue: `abs(D2 - B) <` this |
/// | `sustained_min_late_change` | 0.1 | sustained: `abs(D2 - B) >` this |
/// | `sustained_max_drift` | 0.1 | sustained: `abs(D1 - D2) <` this |
/// | `sustained_min_abs_corr` | 0.9 | sustained: `abs(corr(D2, v)) >` this |
/// | `phasic_tonic_min_cue_excess` | 0.15 | phasic-tonic: `C - D2 >` this |
/// | `phasic_tonic_min_late_rise` | 0.1 | phasic-tonic: `D2 - B >` this |
/// | `ramp_min_rise` | 0.1 | ramp: `D2 - D1 >` this |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierThresholds {
    /// Minimum cue response over baseline of a phasic cue unit.
    pub phasic_cue_min_cue_rise: f64,
    /// Maximum late-delay change from baseline of a phasic cue unit.
    pub phasic_cue_max_late_change: f64,
    /// Minimum late-delay change from baseline of a sustained unit.
    pub sustained_min_late_change: f64,
    /// Maximum difference between early and late delay of a sustained unit.
    pub sustained_max_drift: f64,
    /// Minimum absolute correlation between late-delay activity and cue value.
    pub sustained_min_abs_corr: f64,
    /// Minimum excess of cue over late-delay activity of a phasic-tonic unit.
    pub phasic_tonic_min_cue_excess: f64,
    /// Minimum late-delay rise over baseline of a phasic-tonic unit.
    pub phasic_tonic_min_late_rise: f64,
    /// Minimum rise from early to late delay of a ramp unit.
    pub ramp_min_rise: f64,
}

impl Default for ClassifierThresholds {
    fn default() -> Self {
        Self {
            phasic_cue_min_cue_rise: 0.2,
            phasic_cue_max_late_change: 0.05,
            sustained_min_late_change: 0.1,
            sustained_max_drift: 0.1,
            sustained_min_abs_corr: 0.9,
            phasic_tonic_min_cue_excess: 0.15,
            phasic_tonic_min_late_rise: 0.1,
            ramp_min_rise: 0.1,
        }
    }
}

/// Mean activity of one unit in the epochs of [`MemoryTimeline`], averaged over cue values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMeans {
    /// Baseline B.
    pub baseline: f64,
    /// Cue C.
    pub cue: f64,
    /// Early delay D1.
    pub early_delay: f64,
    /// Late delay D2.
    pub late_delay: f64,
}

/// Response types of one unit; a unit can carry several labels or none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitClass {
    /// Responds to the cue and returns to baseline by the late delay.
    pub phasic_cue: bool,
    /// Holds a late-delay level away from baseline that codes the cue value.
    pub sustained: bool,
    /// Responds more strongly to the cue than it sustains in the late delay.
    pub phasic_tonic: bool,
    /// Rises from early to late delay.
    pub ramp: bool,
    /// Epoch means averaged over cue values.
    pub means: EpochMeans,
    /// Pearson correlation across cue values between late-delay mean and cue value; `None`
    /// when the late-delay means do not vary.
    pub late_delay_value_corr: Option<f64>,
}

/// Classifies every unit with the default [`ClassifierThresholds`].
///
/// See [`classify_units_with`].
pub fn classify_units(
    traces: &[ArrayView2<f64>],
    cue_values: &[f64],
    params: &MemoryTaskParams,
    delay_ms: f64,
) -> Result<Vec<UnitClass>, Error> {
    classify_units_with(
        traces,
        cue_values,
        params,
        delay_ms,
        &ClassifierThresholds::default(),
    )
}

/// Classifies every unit from its activity on cue trials with several cue values.
///
/// `traces[c]` is the state trace `y`, shape `(n_steps + 1, n_units)`, of a cue trial with
/// cue value `cue_values[c]` and delay `delay_ms`. For each unit the mean activity over the
/// rows of B, C, D1 and D2 ([`MemoryTimeline`]) is taken per cue value and then averaged
/// over cue values. The rules compare these averages:
///
/// - phasic cue: `C - B > 0.2` and `abs(D2 - B) < 0.05`;
/// - sustained: `abs(D2 - B) > 0.1`, `abs(D1 - D2) < 0.1` and
///   `abs(corr(D2_c, v_c)) > 0.9`, the Pearson correlation across cue values of the
///   per-value late-delay mean;
/// - phasic-tonic: `C - D2 > 0.15` and `D2 - B > 0.1`;
/// - ramp: `D2 - D1 > 0.1`.
///
/// A unit whose late-delay level moves in both directions from baseline across cue values
/// can average to `abs(D2 - B) <= 0.1` and so miss the sustained label.
///
/// # Errors
/// - [`Error::TooFewCueValues`] for fewer than two distinct cue values (no traces included);
/// - lengths of `traces` and `cue_values` differ;
/// - a cue value lies outside the task's cue range `[cue_min, cue_max]`, for which
///   [`cue_trial`](crate::cue_trial) builds no trial;
/// - [`Error::NoUnits`] when the first trace has no columns;
/// - a trace has the wrong number of rows, a different number of columns than the first
///   trace, or a non-finite value;
/// - `params` or `delay_ms` are invalid (see [`MemoryTimeline::new`]).
pub fn classify_units_with(
    traces: &[ArrayView2<f64>],
    cue_values: &[f64],
    params: &MemoryTaskParams,
    delay_ms: f64,
    thresholds: &ClassifierThresholds,
) -> Result<Vec<UnitClass>, Error> {
    let timeline = MemoryTimeline::new(params, delay_ms)?;
    check_traces(traces, cue_values, &timeline)?;
    check_cue_range(cue_values, params)?;
    let n_units = traces[0].ncols();

    let classes = (0..n_units)
        .map(|unit| {
            // Epoch means per cue value: [B, C, D1, D2].
            let per_value: Vec<[f64; 4]> = traces
                .iter()
                .map(|trace| {
                    let column = trace.column(unit);
                    let mean = |rows: &std::ops::Range<usize>| {
                        column
                            .slice(ndarray::s![rows.clone()])
                            .mean()
                            .unwrap_or(f64::NAN)
                    };
                    [
                        mean(&timeline.baseline),
                        mean(&timeline.cue),
                        mean(&timeline.early_delay),
                        mean(&timeline.late_delay),
                    ]
                })
                .collect();
            let late: Vec<f64> = per_value.iter().map(|m| m[3]).collect();
            let average = |epoch: usize| {
                per_value.iter().map(|m| m[epoch]).sum::<f64>() / per_value.len() as f64
            };
            let means = EpochMeans {
                baseline: average(0),
                cue: average(1),
                early_delay: average(2),
                late_delay: average(3),
            };
            apply_rules(means, pearson(&late, cue_values), thresholds)
        })
        .collect();
    Ok(classes)
}

fn apply_rules(means: EpochMeans, corr: Option<f64>, th: &ClassifierThresholds) -> UnitClass {
    let EpochMeans {
        baseline: b,
        cue: c,
        early_delay: d1,
        late_delay: d2,
    } = means;
    UnitClass {
        phasic_cue: c - b > th.phasic_cue_min_cue_rise
            && (d2 - b).abs() < th.phasic_cue_max_late_change,
        sustained: (d2 - b).abs() > th.sustained_min_late_change
            && (d1 - d2).abs() < th.sustained_max_drift
            && corr.is_some_and(|r| r.abs() > th.sustained_min_abs_corr),
        phasic_tonic: c - d2 > th.phasic_tonic_min_cue_excess
            && d2 - b > th.phasic_tonic_min_late_rise,
        ramp: d2 - d1 > th.ramp_min_rise,
        means,
        late_delay_value_corr: corr,
    }
}

/// Pearson correlation, `None` when either series has (numerically) zero variance.
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    let mut syy = 0.0;
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mean_x) * (b - mean_y);
        sxx += (a - mean_x).powi(2);
        syy += (b - mean_y).powi(2);
    }
    // Below 1e-24 (a standard deviation near 1e-12 per sample) the ratio is rounding noise.
    if sxx <= 1e-24 || syy <= 1e-24 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

/// Checks cue values and trace shapes, and that the epoch rows hold finite values.
fn check_traces(
    traces: &[ArrayView2<f64>],
    cue_values: &[f64],
    timeline: &MemoryTimeline,
) -> Result<(), Error> {
    check_cue_values(cue_values, traces.len())?;
    let n_units = traces[0].ncols();
    if n_units == 0 {
        return Err(Error::NoUnits {
            name: "traces",
            index: 0,
            n_rows: traces[0].nrows(),
        });
    }
    for (index, trace) in traces.iter().enumerate() {
        let expected = [timeline.n_steps + 1, n_units];
        if trace.dim() != (expected[0], expected[1]) {
            return Err(Error::ShapeMismatch {
                name: "traces",
                index,
                expected: expected.to_vec(),
                actual: trace.shape().to_vec(),
            });
        }
        if let Some(row) = trace
            .rows()
            .into_iter()
            .position(|row| row.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::NonFinite {
                name: "traces",
                index,
                row,
            });
        }
    }
    Ok(())
}

/// Checks that there are `n_traces` finite cue values, at least two of them distinct.
pub(crate) fn check_cue_values(cue_values: &[f64], n_traces: usize) -> Result<(), Error> {
    if cue_values.len() != n_traces {
        return Err(Error::LengthMismatch {
            name: "cue_values",
            expected: n_traces,
            actual: cue_values.len(),
        });
    }
    if let Some(&bad) = cue_values.iter().find(|v| !v.is_finite()) {
        return Err(invalid("cue_values", bad, "must all be finite".into()));
    }
    let mut distinct = cue_values.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 2 {
        return Err(Error::TooFewCueValues {
            n_distinct: distinct.len(),
        });
    }
    Ok(())
}

/// Rejects a cue value outside the cue range of `params`, because
/// [`cue_trial`](crate::cue_trial) builds no trial for it.
pub(crate) fn check_cue_range(cue_values: &[f64], params: &MemoryTaskParams) -> Result<(), Error> {
    let range = params.cue_min..=params.cue_max;
    match cue_values.iter().find(|value| !range.contains(value)) {
        Some(&bad) => Err(invalid(
            "cue_values",
            bad,
            format!(
                "must lie in the cue range [cue_min, cue_max] = [{}, {}]; pass the cue values \
                 of the trials that the traces come from",
                format_compact(params.cue_min),
                format_compact(params.cue_max)
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_by_hand() {
        // x = 1, 2, 3 and y = 2, 4, 7: centred x = -1, 0, 1, centred y = -7/3, -1/3, 8/3,
        // sxy = 5, sxx = 2, syy = (49 + 1 + 64) / 9 = 114 / 9,
        // r = 5 / sqrt(2 * 114 / 9) = 15 / sqrt(228) = 0.993399.
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]).unwrap();
        assert!(
            (r - 15.0 / 228f64.sqrt()).abs() < 1e-12,
            "r = {r}, tolerance 1e-12"
        );
    }

    #[test]
    fn pearson_constant_is_none() {
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[0.5, 0.5, 0.5]), None);
    }

    #[test]
    fn rules_on_exact_means() {
        let th = ClassifierThresholds::default();
        let phasic = EpochMeans {
            baseline: 0.1,
            cue: 0.6,
            early_delay: 0.1,
            late_delay: 0.12,
        };
        let class = apply_rules(phasic, Some(0.3), &th);
        assert!(class.phasic_cue);
        assert!(!class.sustained);
        assert!(!class.phasic_tonic);
        assert!(!class.ramp);

        let ramp = EpochMeans {
            baseline: 0.1,
            cue: 0.1,
            early_delay: 0.2,
            late_delay: 0.45,
        };
        let class = apply_rules(ramp, Some(0.99), &th);
        assert!(class.ramp);
        // abs(D1 - D2) = 0.25 >= 0.1 rules out sustained.
        assert!(!class.sustained);
    }
}
