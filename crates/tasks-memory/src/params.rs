//! Parameters of the memory task and the checks shared by every function that takes them.

use serde::{Deserialize, Serialize};

use crate::error::format_compact;
use crate::Error;

/// Timing, cue range and network size of the memory (instructed delay) task.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `dt_ms` | 1 ms | time step |
/// | `baseline_ms` | 200 ms | time before cue onset, target 0 |
/// | `cue_ms` | 100 ms | cue window: `u1 = v`, `u2 = 1` |
/// | `delay_ms` | 1500 ms | delay after cue offset in training |
/// | `test_delay_ms` | 3000 ms | delay after cue offset in tests |
/// | `error_mask_after_cue_onset_ms` | 50 ms | unscored time after cue onset |
/// | `cue_min`, `cue_max` | 0.2, 1.0 | range of cue values: training draws from it, and `cue_trial` rejects values outside it |
/// | `n_hidden` | 8 | hidden units, placed before the output unit |
/// | `curriculum_start_delay_ms` | 300 ms | delay at the first training iteration |
/// | `curriculum_ramp_fraction` | 0.4 | share of training over which the delay grows |
/// | `early_delay_start_ms`, `early_delay_end_ms` | 100, 400 ms | early delay window D1, from cue offset |
/// | `late_delay_ms` | 500 ms | late delay window D2, the last part of the delay |
/// | `transition_weight` | 1 | relative error weight of the scored steps from the end of the mask to `transition_end_after_cue_offset_ms` |
/// | `transition_end_after_cue_offset_ms` | 100 ms | end of the up-weighted window, after cue offset |
/// | `hidden_activity_weight` | 0 | weight of the mean squared hidden activity outside the cue window |
/// | `distractor_probability` | 0 | share of training trials whose cue channel carries distractor values outside the cue window |
/// | `distractor_hold_min_ms`, `distractor_hold_max_ms` | 150, 600 ms | range of the time a distractor value lasts |
///
/// Layout: inputs `[u1, u2]` (cue value, cue flag); units `0..n_hidden` are hidden and unit
/// `n_hidden` is the output. Every duration must be a whole number of time steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryTaskParams {
    /// Time step in ms.
    pub dt_ms: f64,
    /// Baseline before cue onset in ms.
    pub baseline_ms: f64,
    /// Cue duration in ms.
    pub cue_ms: f64,
    /// Training delay after cue offset in ms.
    pub delay_ms: f64,
    /// Test delay after cue offset in ms.
    pub test_delay_ms: f64,
    /// Time after cue onset during which the error is not scored, in ms.
    pub error_mask_after_cue_onset_ms: f64,
    /// Smallest cue value: the lower end of the training draws and of the values that
    /// [`cue_trial`](crate::cue_trial) accepts.
    pub cue_min: f64,
    /// Largest cue value: the upper end of the training draws and of the values that
    /// [`cue_trial`](crate::cue_trial) accepts.
    pub cue_max: f64,
    /// Number of hidden units.
    pub n_hidden: usize,
    /// Delay in ms at the start of the delay curriculum.
    pub curriculum_start_delay_ms: f64,
    /// Fraction of the training iterations over which the curriculum delay grows to `delay_ms`.
    pub curriculum_ramp_fraction: f64,
    /// Start of the early delay window D1, in ms after cue offset.
    pub early_delay_start_ms: f64,
    /// End of the early delay window D1, in ms after cue offset.
    pub early_delay_end_ms: f64,
    /// Length of the late delay window D2 at the end of the delay, in ms.
    pub late_delay_ms: f64,
    /// Relative error weight of the scored steps around the cue, from the end of the mask to
    /// `transition_end_after_cue_offset_ms`; 1 gives the plain mean squared error. A larger
    /// weight makes training track the cue and the start of the delay closely, where the
    /// plain mean, dominated by the long delay, tolerates overshoots.
    pub transition_weight: f64,
    /// End of the up-weighted window, in ms after cue offset.
    pub transition_end_after_cue_offset_ms: f64,
    /// Weight of an activity penalty: the mean over hidden units and steps of `y^2` in the
    /// baseline and from `transition_end_after_cue_offset_ms` after cue offset on, added to
    /// the output error. Hidden units that the memory does not need then fall silent outside
    /// the cue, as in sparse-activity regularisation of trained rate networks.
    pub hidden_activity_weight: f64,
    /// Probability that a sampled training trial carries distractors: outside the cue window
    /// the cue channel `u1` carries random values from `U[0, cue_max]`, each for a time drawn
    /// from `[distractor_hold_min_ms, distractor_hold_max_ms]`, while the cue flag `u2` stays
    /// 0. The net must then take the cue value only while the flag is on, which gives it
    /// units that respond to the cue and nothing else. Test trials never carry distractors.
    pub distractor_probability: f64,
    /// Minimum time a distractor value lasts, in ms.
    pub distractor_hold_min_ms: f64,
    /// Maximum time a distractor value lasts, in ms.
    pub distractor_hold_max_ms: f64,
}

impl Default for MemoryTaskParams {
    fn default() -> Self {
        Self {
            dt_ms: 1.0,
            baseline_ms: 200.0,
            cue_ms: 100.0,
            delay_ms: 1500.0,
            test_delay_ms: 3000.0,
            error_mask_after_cue_onset_ms: 50.0,
            cue_min: 0.2,
            cue_max: 1.0,
            n_hidden: 8,
            curriculum_start_delay_ms: 300.0,
            curriculum_ramp_fraction: 0.4,
            early_delay_start_ms: 100.0,
            early_delay_end_ms: 400.0,
            late_delay_ms: 500.0,
            transition_weight: 1.0,
            transition_end_after_cue_offset_ms: 100.0,
            hidden_activity_weight: 0.0,
            distractor_probability: 0.0,
            distractor_hold_min_ms: 150.0,
            distractor_hold_max_ms: 600.0,
        }
    }
}

impl MemoryTaskParams {
    /// Checks every field and returns the parameters unchanged if they are valid.
    pub fn validated(self) -> Result<Self, Error> {
        self.validate()?;
        Ok(self)
    }

    /// Checks that every field is finite and in range and that durations are whole steps.
    pub fn validate(&self) -> Result<(), Error> {
        check_positive("dt_ms", self.dt_ms)?;
        check_positive("baseline_ms", self.baseline_ms)?;
        whole_steps("baseline_ms", self.baseline_ms, self.dt_ms)?;
        check_positive("cue_ms", self.cue_ms)?;
        whole_steps("cue_ms", self.cue_ms, self.dt_ms)?;
        check_positive("delay_ms", self.delay_ms)?;
        whole_steps("delay_ms", self.delay_ms, self.dt_ms)?;
        check_positive("test_delay_ms", self.test_delay_ms)?;
        whole_steps("test_delay_ms", self.test_delay_ms, self.dt_ms)?;
        self.validate_mask()?;
        self.validate_cue_range()?;
        self.validate_curriculum()?;
        self.validate_windows()
    }

    fn validate_mask(&self) -> Result<(), Error> {
        let mask_ms = self.error_mask_after_cue_onset_ms;
        if !(mask_ms.is_finite() && mask_ms >= 0.0 && mask_ms < self.cue_ms + self.delay_ms) {
            return Err(invalid(
                "error_mask_after_cue_onset_ms",
                mask_ms,
                format!(
                    "must be finite, >= 0 ms and shorter than cue_ms + delay_ms = {} ms",
                    format_compact(self.cue_ms + self.delay_ms)
                ),
            ));
        }
        whole_steps("error_mask_after_cue_onset_ms", mask_ms, self.dt_ms)?;
        Ok(())
    }

    fn validate_cue_range(&self) -> Result<(), Error> {
        if !self.cue_min.is_finite() {
            return Err(invalid("cue_min", self.cue_min, "must be finite".into()));
        }
        if !(self.cue_max.is_finite() && self.cue_max >= self.cue_min) {
            return Err(invalid(
                "cue_max",
                self.cue_max,
                format!(
                    "must be finite and >= cue_min = {}",
                    format_compact(self.cue_min)
                ),
            ));
        }
        Ok(())
    }

    fn validate_curriculum(&self) -> Result<(), Error> {
        check_positive("curriculum_start_delay_ms", self.curriculum_start_delay_ms)?;
        let fraction = self.curriculum_ramp_fraction;
        if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
            return Err(invalid(
                "curriculum_ramp_fraction",
                fraction,
                "must be in (0, 1]; use 1 to grow the delay over the whole training".into(),
            ));
        }
        Ok(())
    }

    fn validate_distractors(&self) -> Result<(), Error> {
        let p = self.distractor_probability;
        if !(0.0..=1.0).contains(&p) {
            return Err(invalid(
                "distractor_probability",
                p,
                "must be a probability in [0, 1]; 0 turns distractors off".into(),
            ));
        }
        check_positive("distractor_hold_min_ms", self.distractor_hold_min_ms)?;
        whole_steps(
            "distractor_hold_min_ms",
            self.distractor_hold_min_ms,
            self.dt_ms,
        )?;
        let max = self.distractor_hold_max_ms;
        if !(max.is_finite() && max >= self.distractor_hold_min_ms) {
            return Err(invalid(
                "distractor_hold_max_ms",
                max,
                format!(
                    "must be finite and >= distractor_hold_min_ms = {} ms",
                    format_compact(self.distractor_hold_min_ms)
                ),
            ));
        }
        whole_steps("distractor_hold_max_ms", max, self.dt_ms)?;
        Ok(())
    }

    fn validate_windows(&self) -> Result<(), Error> {
        let start = self.early_delay_start_ms;
        if !(start.is_finite() && start >= 0.0) {
            return Err(invalid(
                "early_delay_start_ms",
                start,
                "must be finite and >= 0 ms".into(),
            ));
        }
        whole_steps("early_delay_start_ms", start, self.dt_ms)?;
        let end = self.early_delay_end_ms;
        if !(end.is_finite() && end > start) {
            return Err(invalid(
                "early_delay_end_ms",
                end,
                format!(
                    "must be finite and > early_delay_start_ms = {} ms",
                    format_compact(start)
                ),
            ));
        }
        whole_steps("early_delay_end_ms", end, self.dt_ms)?;
        check_positive("transition_weight", self.transition_weight)?;
        if !(self.hidden_activity_weight.is_finite() && self.hidden_activity_weight >= 0.0) {
            return Err(invalid(
                "hidden_activity_weight",
                self.hidden_activity_weight,
                "must be finite and >= 0".into(),
            ));
        }
        self.validate_distractors()?;
        whole_steps(
            "transition_end_after_cue_offset_ms",
            self.transition_end_after_cue_offset_ms,
            self.dt_ms,
        )?;
        check_positive("late_delay_ms", self.late_delay_ms)?;
        whole_steps("late_delay_ms", self.late_delay_ms, self.dt_ms)?;
        // Both windows are scored in the test trial, so they must fit in its delay.
        let windows = [
            ("early_delay_end_ms", end),
            ("late_delay_ms", self.late_delay_ms),
        ];
        for (name, window_ms) in windows {
            if window_ms > self.test_delay_ms {
                return Err(invalid(
                    name,
                    window_ms,
                    format!(
                        "must be <= test_delay_ms = {} ms so that the window fits in the test \
                         delay",
                        format_compact(self.test_delay_ms)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Number of units: the hidden units and one output unit.
    pub fn n_units(&self) -> usize {
        self.n_hidden + 1
    }

    /// Number of external inputs (`u1` cue value, `u2` cue flag).
    pub fn n_inputs(&self) -> usize {
        2
    }

    /// Index of the output unit, the last unit.
    pub fn output_unit(&self) -> usize {
        self.n_hidden
    }
}

/// Builds an [`Error::InvalidParameter`].
pub(crate) fn invalid(name: &'static str, value: f64, requirement: String) -> Error {
    Error::InvalidParameter {
        name,
        value,
        requirement,
    }
}

/// Rejects a value that is not finite and strictly positive.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite and > 0".into()))
    }
}

/// Converts a duration to a step count, rejecting durations that are not whole steps.
///
/// A duration within `1e-6` steps of an integer counts as whole, so that values such as
/// `0.3 / 0.1` pass despite rounding.
pub(crate) fn whole_steps(name: &'static str, value_ms: f64, dt_ms: f64) -> Result<usize, Error> {
    let steps = value_ms / dt_ms;
    let rounded = steps.round();
    if !steps.is_finite() || rounded < 0.0 || (steps - rounded).abs() > 1e-6 {
        return Err(Error::NotWholeSteps {
            name,
            value_ms,
            dt_ms,
        });
    }
    Ok(rounded as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(MemoryTaskParams::default().validate(), Ok(()));
    }

    #[test]
    fn layout_puts_output_last() {
        let params = MemoryTaskParams::default();
        assert_eq!(params.n_units(), 9);
        assert_eq!(params.output_unit(), 8);
        assert_eq!(params.n_inputs(), 2);
    }

    #[test]
    fn rejects_nonpositive_dt() {
        let params = MemoryTaskParams {
            dt_ms: 0.0,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter { name: "dt_ms", .. })
        ));
    }

    #[test]
    fn rejects_fractional_steps() {
        let params = MemoryTaskParams {
            cue_ms: 100.5,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::NotWholeSteps { name: "cue_ms", .. })
        ));
    }

    #[test]
    fn accepts_rounded_whole_steps() {
        // 0.3 / 0.1 = 2.9999999999999996 in f64, which is within 1e-6 of 3 steps.
        assert_eq!(whole_steps("x", 0.3, 0.1), Ok(3));
    }

    #[test]
    fn rejects_inverted_cue_range() {
        let params = MemoryTaskParams {
            cue_min: 0.8,
            cue_max: 0.5,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "cue_max",
                ..
            })
        ));
    }

    #[test]
    fn rejects_mask_past_trial_end() {
        let params = MemoryTaskParams {
            error_mask_after_cue_onset_ms: 1600.0,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "error_mask_after_cue_onset_ms",
                ..
            })
        ));
    }

    #[test]
    fn rejects_zero_ramp_fraction() {
        let params = MemoryTaskParams {
            curriculum_ramp_fraction: 0.0,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "curriculum_ramp_fraction",
                ..
            })
        ));
    }

    #[test]
    fn rejects_empty_early_window() {
        let params = MemoryTaskParams {
            early_delay_end_ms: 100.0,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "early_delay_end_ms",
                ..
            })
        ));
    }

    #[test]
    fn error_message_names_value_and_fix() {
        let err = MemoryTaskParams {
            delay_ms: 10.5,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "delay_ms = 10.5 ms is not a whole number of time steps of dt_ms = 1; \
             use a multiple of dt_ms"
        );
    }
}
