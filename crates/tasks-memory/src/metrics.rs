//! Output error over the delay and acceptance of a trained memory net.

use ndarray::{s, ArrayView1};
use serde::{Deserialize, Serialize};

use crate::classify::check_cue_range;
use crate::params::invalid;
use crate::timeline::TrialSteps;
use crate::{Error, MemoryTaskParams, MemoryTimeline, UnitClass};

/// Output error of a memory net over the delay, from one test trial per cue value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryMetrics {
    /// RMS of `y - v` over the delay rows of all cue values.
    pub delay_rms_error: f64,
    /// Maximum of `abs(y - v)` over the delay rows of all cue values.
    pub max_error: f64,
    /// RMS of `y - v` over the delay rows, per cue value.
    pub per_value_rms: Vec<f64>,
    /// Mean output over the late delay D2, per cue value.
    pub held_values: Vec<f64>,
}

/// Measures how closely the output keeps the cue value over the delay.
///
/// `outputs[c]` is the output unit's state trace, length `n_steps + 1` (states `y[0..=n_steps]`),
/// of a cue trial with cue value `cue_values[c]` and delay `delay_ms`. The delay rows are the
/// states from one step after cue offset to the end of the trial,
/// `y[cue_offset + 1 ..= n_steps]` with `cue_offset = (baseline_ms + cue_ms) / dt_ms`. With
/// the defaults and the 3000 ms test delay these are rows `301..=3300`. The target there is
/// the cue value `v`. `held_values` is the mean over the late delay rows of
/// [`MemoryTimeline`].
///
/// # Errors
/// - [`Error::NoTraces`] for empty `outputs`;
/// - lengths of `outputs` and `cue_values` differ;
/// - a trace has the wrong length or a non-finite value;
/// - a cue value is not finite or lies outside the task's cue range `[cue_min, cue_max]`,
///   for which [`cue_trial`](crate::cue_trial) builds no trial;
/// - `params` or `delay_ms` are invalid (see [`MemoryTimeline::new`]);
/// - [`Error::MetricOverflow`] when an output lies more than `f64::MAX` from its cue value,
///   so that `max_error` cannot be represented. The cue range itself is not bounded: errors
///   whose squares overflow, such as those of cues near 1e300, are summed with rescaling and
///   stay finite.
pub fn memory_metrics(
    outputs: &[ArrayView1<f64>],
    cue_values: &[f64],
    params: &MemoryTaskParams,
    delay_ms: f64,
) -> Result<MemoryMetrics, Error> {
    let held = held_values(outputs, params, delay_ms)?;
    check_values(cue_values, outputs.len())?;
    check_cue_range(cue_values, params)?;
    let rows = TrialSteps::new(params, delay_ms)?.delay_rows();

    // Mean squared and maximum error per cue value over the delay rows.
    let mut per_value_rms = Vec::with_capacity(outputs.len());
    let mut sum_mean_squares = 0.0;
    let mut max_error: f64 = 0.0;
    for (index, (output, &value)) in outputs.iter().zip(cue_values).enumerate() {
        let delay = output.slice(s![rows.clone()]);
        let largest = delay.iter().map(|y| (y - value).abs()).fold(0.0, f64::max);
        if largest == f64::INFINITY {
            return Err(Error::MetricOverflow {
                name: "max_error",
                index,
                cue_value: value,
            });
        }
        let mean_square =
            delay.iter().map(|y| (y - value).powi(2)).sum::<f64>() / delay.len() as f64;
        let rms = if mean_square.is_finite() {
            mean_square.sqrt()
        } else {
            scaled_rms(delay.iter().map(|y| y - value), largest)
        };
        per_value_rms.push(rms);
        sum_mean_squares += mean_square;
        max_error = max_error.max(largest);
    }

    // Every cue value has the same number of delay rows, so the pooled RMS is the root of
    // the mean of the per-value mean squares.
    let mut delay_rms_error = (sum_mean_squares / outputs.len() as f64).sqrt();
    if !delay_rms_error.is_finite() {
        let largest_rms = per_value_rms.iter().copied().fold(0.0, f64::max);
        delay_rms_error = scaled_rms(per_value_rms.iter().copied(), largest_rms);
    }
    Ok(MemoryMetrics {
        delay_rms_error,
        max_error,
        per_value_rms,
        held_values: held,
    })
}

/// Returns the RMS of `values`, whose largest magnitude is the finite, nonzero `largest`,
/// dividing by `largest` before squaring so that squares beyond `f64::MAX` do not overflow.
/// Callers use it only where the plain sum of squares overflows, because the division
/// changes the last bits of ordinary results.
fn scaled_rms(values: impl ExactSizeIterator<Item = f64>, largest: f64) -> f64 {
    let n = values.len() as f64;
    let mean_square = values.map(|v| (v / largest).powi(2)).sum::<f64>() / n;
    largest * mean_square.sqrt()
}

/// Returns the mean output over the late delay D2 of each trace.
///
/// `outputs[c]` is an output trace of length `n_steps + 1` of a cue trial with delay
/// `delay_ms`; D2 is defined in [`MemoryTimeline`].
///
/// # Errors
/// [`Error::NoTraces`] for empty `outputs`; a trace of the wrong length or with a non-finite
/// value; invalid `params` or `delay_ms` (see [`MemoryTimeline::new`]).
pub fn held_values(
    outputs: &[ArrayView1<f64>],
    params: &MemoryTaskParams,
    delay_ms: f64,
) -> Result<Vec<f64>, Error> {
    let timeline = MemoryTimeline::new(params, delay_ms)?;
    if outputs.is_empty() {
        return Err(Error::NoTraces { name: "outputs" });
    }
    for (index, output) in outputs.iter().enumerate() {
        if output.len() != timeline.n_steps + 1 {
            return Err(Error::ShapeMismatch {
                name: "outputs",
                index,
                expected: vec![timeline.n_steps + 1],
                actual: vec![output.len()],
            });
        }
        if let Some(row) = output.iter().position(|y| !y.is_finite()) {
            return Err(Error::NonFinite {
                name: "outputs",
                index,
                row,
            });
        }
    }
    Ok(outputs
        .iter()
        .map(|output| {
            let late = output.slice(s![timeline.late_delay.clone()]);
            let n = late.len() as f64;
            let mean = late.sum() / n;
            if mean.is_finite() {
                return mean;
            }
            // The sum of finite values overflowed, but their mean lies between their minimum
            // and maximum. Summing y / n keeps the partial sums near that size, and the clamp
            // catches a last rounding step past f64::MAX.
            let min = late.iter().copied().fold(f64::INFINITY, f64::min);
            let max = late.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            late.iter().map(|y| y / n).sum::<f64>().clamp(min, max)
        })
        .collect())
}

fn check_values(cue_values: &[f64], n_outputs: usize) -> Result<(), Error> {
    if cue_values.len() != n_outputs {
        return Err(Error::LengthMismatch {
            name: "cue_values",
            expected: n_outputs,
            actual: cue_values.len(),
        });
    }
    match cue_values.iter().find(|v| !v.is_finite()) {
        Some(&bad) => Err(invalid("cue_values", bad, "must all be finite".into())),
        None => Ok(()),
    }
}

/// Thresholds for accepting a trained continuous memory net.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `max_delay_rms_error` | 0.05 | largest accepted delay RMS error (goal 0.03) |
/// | `max_max_error` | 0.10 | largest accepted maximum delay error (goal 0.08) |
/// | `min_sustained_units` | 1 | hidden units labelled sustained |
/// | `min_phasic_cue_units` | 1 | hidden units labelled phasic cue |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryCriteria {
    /// Largest accepted [`MemoryMetrics::delay_rms_error`].
    pub max_delay_rms_error: f64,
    /// Largest accepted [`MemoryMetrics::max_error`].
    pub max_max_error: f64,
    /// Minimum number of sustained, value-coding hidden units.
    pub min_sustained_units: usize,
    /// Minimum number of phasic cue hidden units.
    pub min_phasic_cue_units: usize,
}

impl Default for MemoryCriteria {
    fn default() -> Self {
        Self {
            max_delay_rms_error: 0.05,
            max_max_error: 0.10,
            min_sustained_units: 1,
            min_phasic_cue_units: 1,
        }
    }
}

/// Verdict on a trained memory net, with one line per failed criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryAcceptance {
    /// True when every criterion holds.
    pub accepted: bool,
    /// Failed criteria with the measured numbers.
    pub failed: Vec<String>,
}

/// Applies the acceptance criteria to the test metrics and the hidden units' labels.
///
/// `hidden_classes` are the labels of the hidden units only (leave out the output unit).
pub fn memory_acceptance(
    metrics: &MemoryMetrics,
    hidden_classes: &[UnitClass],
    criteria: &MemoryCriteria,
) -> MemoryAcceptance {
    // Written as "not within" so that a NaN metric fails.
    let within = |value: f64, max: f64| value <= max;
    let mut failed = Vec::new();
    if !within(metrics.delay_rms_error, criteria.max_delay_rms_error) {
        failed.push(format!(
            "delay RMS error {:.4} > {}",
            metrics.delay_rms_error, criteria.max_delay_rms_error
        ));
    }
    if !within(metrics.max_error, criteria.max_max_error) {
        failed.push(format!(
            "max delay error {:.4} > {}",
            metrics.max_error, criteria.max_max_error
        ));
    }
    let n_sustained = hidden_classes.iter().filter(|c| c.sustained).count();
    if n_sustained < criteria.min_sustained_units {
        failed.push(format!(
            "{n_sustained} sustained hidden units < {}",
            criteria.min_sustained_units
        ));
    }
    let n_phasic = hidden_classes.iter().filter(|c| c.phasic_cue).count();
    if n_phasic < criteria.min_phasic_cue_units {
        failed.push(format!(
            "{n_phasic} phasic cue hidden units < {}",
            criteria.min_phasic_cue_units
        ));
    }
    MemoryAcceptance {
        accepted: failed.is_empty(),
        failed,
    }
}
