//! Step indices of the memory-task epochs.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::format_compact;
use crate::params::{check_positive, whole_steps};
use crate::{Error, MemoryTaskParams};

/// Largest number of steps of one trial: its inputs, targets and weights then take about
/// 1.6 GB for the default 2 inputs and 9 units, so larger requests are an input error.
pub(crate) const MAX_TRIAL_STEPS: usize = 10_000_000;

/// Step counts of one cue trial, shared by the trial builder and the metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TrialSteps {
    pub baseline: usize,
    pub cue: usize,
    pub delay: usize,
}

impl TrialSteps {
    /// Validates `params` and `delay_ms` and converts the epochs to step counts.
    pub(crate) fn new(params: &MemoryTaskParams, delay_ms: f64) -> Result<Self, Error> {
        params.validate()?;
        check_positive("delay_ms", delay_ms)?;
        let delay = whole_steps("delay_ms", delay_ms, params.dt_ms)?;
        let mask_ms = params.error_mask_after_cue_onset_ms;
        if mask_ms >= params.cue_ms + delay_ms {
            return Err(crate::params::invalid(
                "delay_ms",
                delay_ms,
                format!(
                    "cue_ms + delay_ms must exceed error_mask_after_cue_onset_ms = {} ms \
                     so that some of the cue response is scored",
                    format_compact(mask_ms)
                ),
            ));
        }
        let steps = Self {
            baseline: whole_steps("baseline_ms", params.baseline_ms, params.dt_ms)?,
            cue: whole_steps("cue_ms", params.cue_ms, params.dt_ms)?,
            delay,
        };
        // A positive duration shorter than a millionth of a step counts as 0 whole steps.
        let epochs = [
            ("baseline_ms", params.baseline_ms, steps.baseline),
            ("cue_ms", params.cue_ms, steps.cue),
            ("delay_ms", delay_ms, steps.delay),
        ];
        for (name, value_ms, n_steps) in epochs {
            if n_steps == 0 {
                return Err(crate::params::invalid(
                    name,
                    value_ms,
                    format!(
                        "must last at least one time step of dt_ms = {}: raise it or lower dt_ms",
                        format_compact(params.dt_ms)
                    ),
                ));
            }
        }
        let total = steps
            .baseline
            .saturating_add(steps.cue)
            .saturating_add(steps.delay);
        if total > MAX_TRIAL_STEPS {
            return Err(crate::params::invalid(
                "delay_ms",
                delay_ms,
                format!(
                    "a trial may have at most {MAX_TRIAL_STEPS} steps of dt_ms = {} ms; give a shorter delay or a larger dt_ms",
                    format_compact(params.dt_ms)
                ),
            ));
        }
        Ok(steps)
    }

    pub(crate) fn n_steps(&self) -> usize {
        self.baseline + self.cue + self.delay
    }

    pub(crate) fn cue_offset(&self) -> usize {
        self.baseline + self.cue
    }

    /// States `y[k]` at the ends of the steps of the delay, `cue offset + 1 ..= n_steps`.
    pub(crate) fn delay_rows(&self) -> Range<usize> {
        self.cue_offset() + 1..self.n_steps() + 1
    }
}

/// Epochs of a cue trial as ranges of state rows `y[k]`, the state at time `k * dt_ms`.
///
/// A window `[a, b)` of trial time maps to the states at the ends of its steps, rows
/// `a / dt_ms + 1 .. b / dt_ms + 1`, because the input of step `n` (time `[n dt, (n+1) dt)`)
/// first shows in `y[n + 1]`. These are the same rows the trial's targets score. With the
/// defaults and a 1500 ms delay:
///
/// | epoch | trial time | rows |
/// |---|---|---|
/// | baseline B | `[0, 200)` ms | `1..201` |
/// | cue C | `[200, 300)` ms | `201..301` |
/// | early delay D1 | `[400, 700)` ms (cue offset + 100 to + 400) | `401..701` |
/// | late delay D2 | `[1300, 1800)` ms (the last 500 ms) | `1301..1801` |
/// | delay | `[300, 1800)` ms (cue offset to trial end) | `301..1801` |
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryTimeline {
    /// Number of time steps of the trial; a trace has `n_steps + 1` rows.
    pub n_steps: usize,
    /// Step index of cue onset (time `baseline_ms`).
    pub cue_onset_step: usize,
    /// Step index of cue offset, where the delay starts.
    pub cue_offset_step: usize,
    /// Baseline rows B.
    pub baseline: Range<usize>,
    /// Cue rows C.
    pub cue: Range<usize>,
    /// Early delay rows D1.
    pub early_delay: Range<usize>,
    /// Late delay rows D2.
    pub late_delay: Range<usize>,
    /// Delay rows, from cue offset to the end of the trial.
    pub delay: Range<usize>,
}

impl MemoryTimeline {
    /// Builds the epochs of a cue trial with the given delay.
    ///
    /// # Errors
    /// Invalid `params`; a `delay_ms` that is not a positive whole number of steps or that is
    /// shorter than `early_delay_end_ms` or `late_delay_ms`; a baseline, cue, early or late
    /// delay window without a single time step.
    pub fn new(params: &MemoryTaskParams, delay_ms: f64) -> Result<Self, Error> {
        let steps = TrialSteps::new(params, delay_ms)?;
        let shortest_ms = params.early_delay_end_ms.max(params.late_delay_ms);
        if delay_ms < shortest_ms {
            return Err(crate::params::invalid(
                "delay_ms",
                delay_ms,
                format!(
                    "must be >= {} ms so that the early and late delay windows fit in the \
                     delay",
                    format_compact(shortest_ms)
                ),
            ));
        }

        // Window [a, b) in steps maps to rows a + 1 .. b + 1.
        let rows = |start: usize, end: usize| start + 1..end + 1;
        let dt_ms = params.dt_ms;
        let offset = steps.cue_offset();
        let n_steps = steps.n_steps();
        let early_start =
            offset + whole_steps("early_delay_start_ms", params.early_delay_start_ms, dt_ms)?;
        let early_end =
            offset + whole_steps("early_delay_end_ms", params.early_delay_end_ms, dt_ms)?;
        let late_len = whole_steps("late_delay_ms", params.late_delay_ms, dt_ms)?;
        let timeline = Self {
            n_steps,
            cue_onset_step: steps.baseline,
            cue_offset_step: offset,
            baseline: rows(0, steps.baseline),
            cue: rows(steps.baseline, offset),
            early_delay: rows(early_start, early_end),
            late_delay: rows(n_steps - late_len, n_steps),
            delay: steps.delay_rows(),
        };
        // A positive duration shorter than a millionth of a step counts as 0 whole steps,
        // and an empty window would average no rows.
        let windows = [
            ("baseline_ms", params.baseline_ms, &timeline.baseline),
            ("cue_ms", params.cue_ms, &timeline.cue),
            (
                "early_delay_end_ms",
                params.early_delay_end_ms,
                &timeline.early_delay,
            ),
            ("late_delay_ms", params.late_delay_ms, &timeline.late_delay),
        ];
        for (name, value_ms, window) in windows {
            if window.is_empty() {
                return Err(crate::params::invalid(
                    name,
                    value_ms,
                    format!(
                        "must give a window of at least one time step of dt_ms = {}",
                        format_compact(dt_ms)
                    ),
                ));
            }
        }
        Ok(timeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rows_match_table() {
        let timeline = MemoryTimeline::new(&MemoryTaskParams::default(), 1500.0).unwrap();
        assert_eq!(timeline.n_steps, 1800);
        assert_eq!(timeline.cue_onset_step, 200);
        assert_eq!(timeline.cue_offset_step, 300);
        assert_eq!(timeline.baseline, 1..201);
        assert_eq!(timeline.cue, 201..301);
        assert_eq!(timeline.early_delay, 401..701);
        assert_eq!(timeline.late_delay, 1301..1801);
        assert_eq!(timeline.delay, 301..1801);
    }

    #[test]
    fn rejects_epochs_without_steps() {
        // dt_ms 1e12 turns the default 200 ms baseline into 2e-10 steps, which count as 0.
        let params = MemoryTaskParams {
            dt_ms: 1e12,
            ..MemoryTaskParams::default()
        };
        let err = TrialSteps::new(&params, 1500.0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "baseline_ms",
                    ..
                }
            ),
            "{err:?}"
        );
        let params = MemoryTaskParams {
            cue_ms: 1e-12,
            ..MemoryTaskParams::default()
        };
        let err = TrialSteps::new(&params, 1500.0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "cue_ms", .. }),
            "{err:?}"
        );
        let err = TrialSteps::new(&MemoryTaskParams::default(), 1e-12).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "delay_ms",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_windows_without_steps() {
        // 1e-12 ms is 1e-12 steps of 1 ms, which counts as 0 whole steps.
        let mut params = MemoryTaskParams {
            late_delay_ms: 1e-12,
            ..MemoryTaskParams::default()
        };
        assert_eq!(params.validate(), Ok(()));
        let err = MemoryTimeline::new(&params, 1500.0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "late_delay_ms",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("late_delay_ms = 1e-12"), "{err}");
        params.late_delay_ms = MemoryTaskParams::default().late_delay_ms;
        params.early_delay_end_ms = params.early_delay_start_ms;
        let err = MemoryTimeline::new(&params, 1500.0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "early_delay_end_ms",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_huge_delay() {
        for delay_ms in [1e12, 1e300] {
            assert!(matches!(
                MemoryTimeline::new(&MemoryTaskParams::default(), delay_ms),
                Err(Error::InvalidParameter {
                    name: "delay_ms",
                    ..
                })
            ));
        }
        // Baseline 200 and cue 100 steps of 1 ms leave 1e7 - 300 steps for the delay.
        assert!(TrialSteps::new(&MemoryTaskParams::default(), 1e7 - 300.0).is_ok());
        assert!(TrialSteps::new(&MemoryTaskParams::default(), 1e7 - 299.0).is_err());
    }

    #[test]
    fn test_delay_moves_late_window() {
        let timeline = MemoryTimeline::new(&MemoryTaskParams::default(), 3000.0).unwrap();
        assert_eq!(timeline.n_steps, 3300);
        assert_eq!(timeline.late_delay, 2801..3301);
        assert_eq!(timeline.early_delay, 401..701);
    }

    #[test]
    fn half_ms_steps_double_rows() {
        let params = MemoryTaskParams {
            dt_ms: 0.5,
            ..Default::default()
        };
        let timeline = MemoryTimeline::new(&params, 1500.0).unwrap();
        assert_eq!(timeline.n_steps, 3600);
        assert_eq!(timeline.cue, 401..601);
        assert_eq!(timeline.early_delay, 801..1401);
    }

    #[test]
    fn rejects_delay_shorter_than_windows() {
        let result = MemoryTimeline::new(&MemoryTaskParams::default(), 450.0);
        assert!(matches!(
            result,
            Err(Error::InvalidParameter {
                name: "delay_ms",
                ..
            })
        ));
    }
}
