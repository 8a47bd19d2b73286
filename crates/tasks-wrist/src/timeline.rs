//! Target steps of a wrist trial in time steps.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::params::{check_positive, whole_steps};
use crate::{Direction, Error, WristTaskParams};

/// Step indices of the target steps of one trial.
///
/// Target step `k` happens at step index `step_starts[k]` (time `step_starts[k] * dt_ms`)
/// in direction `directions[k]`, alternating flexion, extension, ... from flexion. The
/// target is 0 before the first step and `directions[k].target_position()` from step `k` to
/// the next step or the end of the trial. A trace of the trial has `n_steps + 1` rows,
/// `y[k]` at time `k * dt_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WristTimeline {
    /// Time step in ms.
    pub dt_ms: f64,
    /// Number of time steps of the trial.
    pub n_steps: usize,
    /// Step index of each target step.
    pub step_starts: Vec<usize>,
    /// Direction of each target step.
    pub directions: Vec<Direction>,
}

/// Largest number of steps of one trial: its inputs, targets and weights then take about
/// 4.8 GB for 4 inputs and 28 units, so larger requests are an input error.
pub(crate) const MAX_TRIAL_STEPS: usize = 10_000_000;

impl WristTimeline {
    /// Lays out a trial with the given hold durations, one per target step.
    ///
    /// The first step comes at `baseline_ms`, step `k + 1` comes `holds_ms[k]` after step
    /// `k`, and the trial ends `holds_ms[last]` after the last step.
    ///
    /// # Errors
    /// Invalid `params`; no holds; a hold that is not a positive whole number of steps.
    pub fn new(params: &WristTaskParams, holds_ms: &[f64]) -> Result<Self, Error> {
        params.validate()?;
        if holds_ms.is_empty() {
            return Err(crate::params::invalid(
                "holds_ms",
                0.0,
                "needs at least one hold duration (one per target step)".into(),
            ));
        }
        let mut start = whole_steps("baseline_ms", params.baseline_ms, params.dt_ms)?;
        let mut step_starts = Vec::with_capacity(holds_ms.len());
        let mut directions = Vec::with_capacity(holds_ms.len());
        let mut direction = Direction::Flexion;
        for &hold_ms in holds_ms {
            check_positive("holds_ms", hold_ms)?;
            step_starts.push(start);
            directions.push(direction);
            start = start.saturating_add(whole_steps("holds_ms", hold_ms, params.dt_ms)?);
            if start > MAX_TRIAL_STEPS {
                return Err(crate::params::invalid(
                    "holds_ms",
                    hold_ms,
                    format!(
                        "a trial may have at most {MAX_TRIAL_STEPS} steps of dt_ms = {} ms; give shorter holds or a larger dt_ms",
                        params.dt_ms
                    ),
                ));
            }
            direction = direction.opposite();
        }
        Ok(Self {
            dt_ms: params.dt_ms,
            n_steps: start,
            step_starts,
            directions,
        })
    }

    /// Number of target steps.
    pub fn n_target_steps(&self) -> usize {
        self.step_starts.len()
    }

    /// Step index at which hold `k` ends: the next target step or the end of the trial.
    pub fn hold_end(&self, k: usize) -> usize {
        self.step_starts.get(k + 1).copied().unwrap_or(self.n_steps)
    }

    /// Time of target step `k` in ms.
    pub fn step_time_ms(&self, k: usize) -> f64 {
        self.step_starts[k] as f64 * self.dt_ms
    }

    /// Target position during step `n` (time `[n dt, (n + 1) dt)`): 0, +1 or -1.
    pub fn target_position(&self, n: usize) -> f64 {
        match self.step_starts.iter().rposition(|&start| start <= n) {
            Some(k) => self.directions[k].target_position(),
            None => 0.0,
        }
    }

    /// State rows of hold `k` from `offset_steps` after its step to its end.
    ///
    /// The window `[t_step + offset, t_next)` maps to the states at the ends of its steps,
    /// rows `step + offset + 1 ..= next`, the rows the trial's targets score. The range is
    /// empty when the offset reaches the end of the hold.
    pub fn hold_rows(&self, k: usize, offset_steps: usize) -> Range<usize> {
        let end = self.hold_end(k) + 1;
        let start = (self.step_starts[k] + offset_steps + 1).min(end);
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_trial_layout() {
        let timeline = WristTimeline::new(&WristTaskParams::default(), &[1000.0; 4]).unwrap();
        assert_eq!(timeline.n_steps, 4200);
        assert_eq!(timeline.step_starts, vec![200, 1200, 2200, 3200]);
        assert_eq!(
            timeline.directions,
            vec![
                Direction::Flexion,
                Direction::Extension,
                Direction::Flexion,
                Direction::Extension
            ]
        );
        assert_eq!(timeline.hold_end(3), 4200);
        assert_eq!(timeline.step_time_ms(2), 2200.0);
    }

    #[test]
    fn target_changes_at_step() {
        let timeline = WristTimeline::new(&WristTaskParams::default(), &[700.0, 900.0]).unwrap();
        assert_eq!(timeline.target_position(199), 0.0);
        assert_eq!(timeline.target_position(200), 1.0);
        assert_eq!(timeline.target_position(899), 1.0);
        assert_eq!(timeline.target_position(900), -1.0);
        assert_eq!(timeline.target_position(1799), -1.0);
    }

    #[test]
    fn hold_rows_by_hand() {
        let timeline = WristTimeline::new(&WristTaskParams::default(), &[1000.0; 4]).unwrap();
        // Hold 1 runs over [1200, 2200) ms; from +300 ms the states are y[1501..=2200].
        assert_eq!(timeline.hold_rows(1, 300), 1501..2201);
        assert_eq!(timeline.hold_rows(3, 0), 3201..4201);
        assert!(timeline.hold_rows(0, 5000).is_empty());
    }

    #[test]
    fn rejects_empty_holds() {
        assert!(matches!(
            WristTimeline::new(&WristTaskParams::default(), &[]),
            Err(Error::InvalidParameter {
                name: "holds_ms",
                ..
            })
        ));
    }

    #[test]
    fn rejects_huge_holds() {
        for hold_ms in [1e12, 1e300] {
            assert!(matches!(
                WristTimeline::new(&WristTaskParams::default(), &[1000.0, hold_ms]),
                Err(Error::InvalidParameter {
                    name: "holds_ms",
                    ..
                })
            ));
        }
        // 1e7 steps of 1 ms, the largest trial, is accepted.
        let baseline_ms = WristTaskParams::default().baseline_ms;
        assert!(WristTimeline::new(&WristTaskParams::default(), &[1e7 - baseline_ms]).is_ok());
    }

    #[test]
    fn rejects_fractional_hold() {
        assert!(matches!(
            WristTimeline::new(&WristTaskParams::default(), &[1000.0, 999.5]),
            Err(Error::NotWholeSteps {
                name: "holds_ms",
                ..
            })
        ));
    }
}
