//! Choice of the calibrated memory net among several calibration runs, by a spiking
//! validation on cue values and trial seeds that the tests do not use.
//!
//! A calibrated net keeps its values on a (near) line attractor, so a few thousandths of
//! mismatch between a population's rate and the fitted curve move the held value.
//! Calibration runs that differ only in their minibatches therefore differ in how far their
//! spiking twins drift. Each candidate is converted and simulated on the validation cues. The
//! one that meets the continuous thresholds there with the smallest spiking output error over
//! the first second of the delay is kept.

use std::path::Path;

use anyhow::{bail, Result};
use convert::seeds::stream_seed;
use convert::ConversionParams;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::Rnn;
use serde::{Deserialize, Serialize};
use tasks_memory::MemoryTaskParams;
use tracing::info;

use super::{first_second_errors, simulate_cues, MemoryThresholds};
use crate::spiking::simulate_conditions;

/// Largest number of calibration candidates.
const MAX_CANDIDATES: usize = 100;

/// Largest number of validation cue values; each one costs a spiking condition per candidate.
const MAX_CUES: usize = 20;

/// Settings of the choice among calibration runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSelection {
    /// Calibration runs, each with its own minibatch stream. With 1, the only run is kept
    /// without a validation.
    pub n_candidates: usize,
    /// Cue values of the validation trials; none of them may be a test cue value.
    pub cues: Vec<f64>,
    /// Spiking trials per validation cue value.
    pub n_trials: usize,
}

impl Default for CalibrationSelection {
    fn default() -> CalibrationSelection {
        CalibrationSelection {
            n_candidates: 1,
            cues: vec![0.3, 0.5, 0.7, 0.9],
            n_trials: 10,
        }
    }
}

impl CalibrationSelection {
    /// Checks the counts and that every validation cue is finite and not a test cue value.
    pub fn validate(&self) -> Result<()> {
        use crate::training::check_count;
        check_count(
            "calibration_selection.n_candidates",
            self.n_candidates,
            "calibration runs",
        )?;
        if self.n_candidates > MAX_CANDIDATES {
            bail!(
                "invalid calibration_selection.n_candidates = {}: give at most {MAX_CANDIDATES}",
                self.n_candidates
            );
        }
        check_count(
            "calibration_selection.n_trials",
            self.n_trials,
            "spiking trials per validation cue value",
        )?;
        crate::spiking::check_trial_count("calibration_selection.n_trials", self.n_trials)?;
        if self.cues.is_empty() {
            bail!("invalid calibration_selection.cues = []: give at least one cue value");
        }
        if self.cues.len() > MAX_CUES {
            bail!(
                "invalid calibration_selection.cues: {} values; give at most {MAX_CUES}",
                self.cues.len()
            );
        }
        for (idx, cue) in self.cues.iter().enumerate() {
            if self.cues[..idx].contains(cue) {
                bail!(
                    "invalid calibration_selection.cues: {cue} appears twice; give each value once"
                );
            }
        }
        let test_cues = tasks_memory::test_cue_values();
        for &cue in &self.cues {
            if !cue.is_finite() {
                bail!("invalid calibration_selection.cues value {cue}: give finite values");
            }
            if test_cues.iter().any(|&test| (test - cue).abs() < 1e-9) {
                bail!(
                    "invalid calibration_selection.cues value {cue}: it is a test cue value \
                     ({test_cues:?}), and choosing the net on the test cues would bias the \
                     test; give other values such as 0.3, 0.5, 0.7, 0.9"
                );
            }
        }
        Ok(())
    }
}

/// Returns the seed of the minibatch stream of calibration candidate `index`. Candidate 0
/// uses the stream of a run without selection.
pub(super) fn candidate_seed(seed: u64, index: usize) -> u64 {
    let base = stream_seed(seed, 400);
    if index == 0 {
        base
    } else {
        stream_seed(base, index as u64)
    }
}

/// Validation numbers of one calibration candidate.
#[derive(Clone, Debug, Serialize)]
pub(super) struct CandidateReport {
    /// Index of the candidate (of its minibatch stream).
    pub index: usize,
    /// Continuous delay-period RMS error on the validation cues.
    pub delay_rms_error: f64,
    /// Continuous max delay-period error on the validation cues.
    pub max_error: f64,
    /// Largest |spiking - continuous| output over the first second of the delay, over the
    /// validation cues.
    pub max_output_error_first_second: f64,
}

impl CandidateReport {
    /// Number of continuous thresholds the candidate misses on the validation cues.
    pub(super) fn continuous_failures(&self, thresholds: &MemoryThresholds) -> usize {
        usize::from(self.delay_rms_error > thresholds.delay_rms_error)
            + usize::from(self.max_error > thresholds.max_error)
    }
}

/// Converts candidate `index` with `conversion`, runs the validation trials and returns its
/// numbers. The spike files go to `out_dir`.
#[allow(clippy::too_many_arguments)]
pub(super) fn validate_candidate(
    rnn: &Rnn,
    task: &MemoryTaskParams,
    conversion: &ConversionParams,
    selection: &CalibrationSelection,
    seed: u64,
    index: usize,
    out_dir: &Path,
) -> Result<CandidateReport> {
    std::fs::create_dir_all(out_dir)?;
    let (inputs, traces) = simulate_cues(rnn, task, &selection.cues)?;
    let output = task.output_unit();
    let outputs: Vec<_> = traces.iter().map(|t| t.column(output)).collect();
    let metrics =
        tasks_memory::memory_metrics(&outputs, &selection.cues, task, task.test_delay_ms)?;

    // Conversion and trial seeds of their own, apart from those of the test conversions.
    let validation_seed = stream_seed(stream_seed(seed, 700), index as u64);
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(validation_seed, 0));
    let converted = convert::convert(rnn, conversion, &mut rng)?;
    let runs = simulate_conditions(
        &converted,
        &inputs,
        &traces,
        selection.n_trials,
        stream_seed(validation_seed, 1),
        &[],
        &format!("candidate_{index}"),
        out_dir,
    )?;
    let errors = first_second_errors(task, &traces, &runs.mean_readouts);
    let report = CandidateReport {
        index,
        delay_rms_error: metrics.delay_rms_error,
        max_error: metrics.max_error,
        max_output_error_first_second: errors.iter().fold(0.0, |a: f64, &b| a.max(b)),
    };
    info!(
        candidate = index,
        delay_rms_error = report.delay_rms_error,
        max_error = report.max_error,
        max_output_error_first_second = report.max_output_error_first_second,
        "calibration candidate validated"
    );
    Ok(report)
}

/// Returns the position in `reports` of the candidate with the fewest continuous failures on
/// the validation cues and, among those, the smallest spiking output error.
pub(super) fn choose(reports: &[CandidateReport], thresholds: &MemoryThresholds) -> usize {
    (0..reports.len())
        .min_by(|&a, &b| {
            let (ra, rb) = (&reports[a], &reports[b]);
            ra.continuous_failures(thresholds)
                .cmp(&rb.continuous_failures(thresholds))
                .then(
                    ra.max_output_error_first_second
                        .total_cmp(&rb.max_output_error_first_second),
                )
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(index: usize, rms: f64, max: f64, spiking: f64) -> CandidateReport {
        CandidateReport {
            index,
            delay_rms_error: rms,
            max_error: max,
            max_output_error_first_second: spiking,
        }
    }

    #[test]
    fn choice_prefers_continuous_pass() {
        let thresholds = super::super::MemoryConfig::full().thresholds;
        let reports = [
            report(0, 0.06, 0.09, 0.03),
            report(1, 0.04, 0.09, 0.08),
            report(2, 0.04, 0.08, 0.06),
        ];
        assert_eq!(choose(&reports, &thresholds), 2);
        assert_eq!(choose(&reports[..2], &thresholds), 1);
        assert_eq!(choose(&reports[..1], &thresholds), 0);
    }

    #[test]
    fn selection_rejects_test_cues() {
        let mut selection = CalibrationSelection::default();
        selection.validate().unwrap();
        selection.cues = vec![0.3, 0.6];
        let err = selection.validate().unwrap_err().to_string();
        assert!(
            err.contains("calibration_selection.cues value 0.6"),
            "{err}"
        );
        selection.cues = vec![];
        let err = selection.validate().unwrap_err().to_string();
        assert!(err.contains("calibration_selection.cues"), "{err}");
        selection.cues = vec![f64::NAN];
        let err = selection.validate().unwrap_err().to_string();
        assert!(err.contains("calibration_selection.cues"), "{err}");
    }

    #[test]
    fn first_candidate_keeps_unselected_stream() {
        assert_eq!(candidate_seed(3, 0), stream_seed(3, 400));
        assert_ne!(candidate_seed(3, 1), candidate_seed(3, 0));
        assert_ne!(candidate_seed(3, 1), candidate_seed(3, 2));
    }
}
