//! Zipser's gated latch: hold the value present at the most recent gate pulse.

use ndarray::Array2;
use rand::Rng;
use rnn_core::Trial;
use serde::{Deserialize, Serialize};

use crate::error::format_compact;
use crate::params::{check_positive, invalid, whole_steps};
use crate::Error;

/// Parameters of the gated latch, a variant of the memory task after Zipser (1991).
///
/// `u1` is a piecewise-constant value that jumps to a new draw from `U[cue_min, cue_max]`
/// after intervals drawn from `U[switch_interval_min_ms, switch_interval_max_ms]`. `u2`
/// carries gate pulses of `gate_ms`; the intervals from time 0 to the first gate onset and
/// between successive onsets are drawn from `U[gate_interval_min_ms, gate_interval_max_ms]`.
/// Intervals are drawn as whole numbers of steps.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `dt_ms` | 1 ms | time step |
/// | `cue_min`, `cue_max` | 0.2, 1.0 | range of `u1` values |
/// | `switch_interval_min_ms`, `switch_interval_max_ms` | 150, 600 ms | time between `u1` jumps |
/// | `gate_ms` | 50 ms | gate pulse length |
/// | `gate_interval_min_ms`, `gate_interval_max_ms` | 200, 800 ms | time between gate onsets |
/// | `error_mask_after_gate_onset_ms` | 50 ms | unscored time after each gate onset |
/// | `n_hidden` | 8 | hidden units, placed before the output unit |
///
/// Layout as in the memory task: inputs `[u1, u2]`, output unit last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatchTaskParams {
    /// Time step in ms.
    pub dt_ms: f64,
    /// Smallest `u1` value.
    pub cue_min: f64,
    /// Largest `u1` value.
    pub cue_max: f64,
    /// Minimum time between `u1` jumps in ms.
    pub switch_interval_min_ms: f64,
    /// Maximum time between `u1` jumps in ms.
    pub switch_interval_max_ms: f64,
    /// Gate pulse length in ms.
    pub gate_ms: f64,
    /// Minimum time between gate onsets in ms, which must exceed `gate_ms`.
    pub gate_interval_min_ms: f64,
    /// Maximum time between gate onsets in ms.
    pub gate_interval_max_ms: f64,
    /// Time after each gate onset during which the error is not scored, in ms.
    pub error_mask_after_gate_onset_ms: f64,
    /// Number of hidden units.
    pub n_hidden: usize,
}

impl Default for LatchTaskParams {
    fn default() -> Self {
        Self {
            dt_ms: 1.0,
            cue_min: 0.2,
            cue_max: 1.0,
            switch_interval_min_ms: 150.0,
            switch_interval_max_ms: 600.0,
            gate_ms: 50.0,
            gate_interval_min_ms: 200.0,
            gate_interval_max_ms: 800.0,
            error_mask_after_gate_onset_ms: 50.0,
            n_hidden: 8,
        }
    }
}

/// Durations of [`LatchTaskParams`] in steps.
struct LatchSteps {
    switch_min: usize,
    switch_max: usize,
    gate: usize,
    gate_interval_min: usize,
    gate_interval_max: usize,
    mask: usize,
}

impl LatchTaskParams {
    /// Checks every field and returns the parameters unchanged if they are valid.
    pub fn validated(self) -> Result<Self, Error> {
        self.validate()?;
        Ok(self)
    }

    /// Checks that every field is finite and in range and that durations are whole steps.
    pub fn validate(&self) -> Result<(), Error> {
        self.steps().map(|_| ())
    }

    fn steps(&self) -> Result<LatchSteps, Error> {
        let dt_ms = self.dt_ms;
        check_positive("dt_ms", dt_ms)?;
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

        // Switch intervals of u1.
        let switch_min =
            positive_steps("switch_interval_min_ms", self.switch_interval_min_ms, dt_ms)?;
        let switch_max =
            positive_steps("switch_interval_max_ms", self.switch_interval_max_ms, dt_ms)?;
        if switch_max < switch_min {
            return Err(invalid(
                "switch_interval_max_ms",
                self.switch_interval_max_ms,
                format!(
                    "must be >= switch_interval_min_ms = {}",
                    format_compact(self.switch_interval_min_ms)
                ),
            ));
        }

        // Gate pulses and the intervals between their onsets.
        let gate = positive_steps("gate_ms", self.gate_ms, dt_ms)?;
        let gate_interval_min =
            positive_steps("gate_interval_min_ms", self.gate_interval_min_ms, dt_ms)?;
        if gate_interval_min <= gate {
            return Err(invalid(
                "gate_interval_min_ms",
                self.gate_interval_min_ms,
                format!(
                    "must exceed gate_ms = {} so that gate pulses stay apart",
                    format_compact(self.gate_ms)
                ),
            ));
        }
        let gate_interval_max =
            positive_steps("gate_interval_max_ms", self.gate_interval_max_ms, dt_ms)?;
        if gate_interval_max < gate_interval_min {
            return Err(invalid(
                "gate_interval_max_ms",
                self.gate_interval_max_ms,
                format!(
                    "must be >= gate_interval_min_ms = {}",
                    format_compact(self.gate_interval_min_ms)
                ),
            ));
        }

        // Error mask after each gate onset.
        let mask_ms = self.error_mask_after_gate_onset_ms;
        if !(mask_ms.is_finite() && mask_ms >= 0.0 && mask_ms < self.gate_interval_min_ms) {
            return Err(invalid(
                "error_mask_after_gate_onset_ms",
                mask_ms,
                format!(
                    "must be finite, >= 0 ms and shorter than gate_interval_min_ms = {} ms",
                    format_compact(self.gate_interval_min_ms)
                ),
            ));
        }
        let mask = whole_steps("error_mask_after_gate_onset_ms", mask_ms, dt_ms)?;
        Ok(LatchSteps {
            switch_min,
            switch_max,
            gate,
            gate_interval_min,
            gate_interval_max,
            mask,
        })
    }

    /// Number of units: the hidden units and one output unit.
    pub fn n_units(&self) -> usize {
        self.n_hidden + 1
    }

    /// Number of external inputs (`u1` value, `u2` gate).
    pub fn n_inputs(&self) -> usize {
        2
    }

    /// Index of the output unit, the last unit.
    pub fn output_unit(&self) -> usize {
        self.n_hidden
    }
}

fn positive_steps(name: &'static str, value_ms: f64, dt_ms: f64) -> Result<usize, Error> {
    check_positive(name, value_ms)?;
    whole_steps(name, value_ms, dt_ms)
}

/// Draws one gated-latch trial of `n_steps` steps.
///
/// The output target for the state at time `(n + 1) dt` is the value of `u1` on the most
/// recent input row `m <= n` with `u2 = 1`. So the output follows `u1` while a gate is open
/// and keeps the value of the last gated step afterwards. Rows before the first gate onset
/// have no defined target and are unscored. The states less than
/// `error_mask_after_gate_onset_ms` after each gate onset are unscored too, the same rule
/// as the cue mask of the memory task. Every scored entry has weight `1 / count`, and
/// hidden units are unscored.
///
/// # Errors
/// Invalid `params`; `n_steps * dt_ms <= gate_interval_max_ms + error_mask_after_gate_onset_ms`,
/// which could leave a trial without a scored step.
pub fn sample_latch_trial<R: Rng + ?Sized>(
    params: &LatchTaskParams,
    n_steps: usize,
    rng: &mut R,
) -> Result<Trial, Error> {
    let steps = params.steps()?;
    if n_steps <= steps.gate_interval_max + steps.mask {
        return Err(invalid(
            "n_steps",
            n_steps as f64,
            format!(
                "must exceed (gate_interval_max_ms + error_mask_after_gate_onset_ms) / dt_ms = {} \
                 so that every trial has a scored step",
                steps.gate_interval_max + steps.mask
            ),
        ));
    }
    let mut inputs = Array2::zeros((n_steps, params.n_inputs()));

    // u1: piecewise-constant random values.
    let mut start = 0;
    while start < n_steps {
        let value = rng.random_range(params.cue_min..=params.cue_max);
        let end = (start + rng.random_range(steps.switch_min..=steps.switch_max)).min(n_steps);
        inputs.slice_mut(ndarray::s![start..end, 0]).fill(value);
        start = end;
    }

    // u2: gate pulses at random onsets.
    let mut onsets = Vec::new();
    let mut onset = rng.random_range(steps.gate_interval_min..=steps.gate_interval_max);
    while onset < n_steps {
        onsets.push(onset);
        let end = (onset + steps.gate).min(n_steps);
        inputs.slice_mut(ndarray::s![onset..end, 1]).fill(1.0);
        onset += rng.random_range(steps.gate_interval_min..=steps.gate_interval_max);
    }

    let (targets, weights) = latch_targets(&inputs, &onsets, steps.mask, params);
    Ok(Trial {
        inputs,
        targets,
        weights,
    })
}

/// Targets and weights of a latch trial from its inputs and gate onset rows.
fn latch_targets(
    inputs: &Array2<f64>,
    onsets: &[usize],
    mask_steps: usize,
    params: &LatchTaskParams,
) -> (Array2<f64>, Array2<f64>) {
    let n_steps = inputs.nrows();
    let output = params.output_unit();
    let mut targets = Array2::zeros((n_steps, params.n_units()));
    let mut scored = vec![false; n_steps];

    // The latched value is u1 on the latest gated row. Scoring starts at row
    // onset + mask - 1, because row n is compared with the state at (n + 1) dt.
    let mut held = None;
    let mut next_onset = 0;
    let mut scored_from = usize::MAX;
    for n in 0..n_steps {
        if next_onset < onsets.len() && onsets[next_onset] == n {
            scored_from = n + mask_steps.saturating_sub(1);
            next_onset += 1;
        }
        if inputs[[n, 1]] > 0.0 {
            held = Some(inputs[[n, 0]]);
        }
        if let Some(value) = held {
            targets[[n, output]] = value;
            scored[n] = n >= scored_from;
        }
    }

    let count = scored.iter().filter(|&&s| s).count();
    let mut weights = Array2::zeros((n_steps, params.n_units()));
    for (n, _) in scored.iter().enumerate().filter(|(_, &s)| s) {
        weights[[n, output]] = 1.0 / count as f64;
    }
    (targets, weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn trial(seed: u64) -> Trial {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        sample_latch_trial(&LatchTaskParams::default(), 4000, &mut rng).unwrap()
    }

    /// Gate onset rows, read back from the gate input.
    fn onsets(trial: &Trial) -> Vec<usize> {
        let gate = trial.inputs.column(1);
        (0..gate.len())
            .filter(|&n| gate[n] > 0.0 && (n == 0 || gate[n - 1] == 0.0))
            .collect()
    }

    #[test]
    fn gates_and_switches_within_bounds() {
        for seed in 0..20 {
            let trial = trial(seed);
            let starts = onsets(&trial);
            assert!(!starts.is_empty());
            assert!(
                (200..=800).contains(&starts[0]),
                "first onset {}",
                starts[0]
            );
            for pair in starts.windows(2) {
                assert!((200..=800).contains(&(pair[1] - pair[0])), "gap {pair:?}");
            }
            // Every pulse lasts 50 steps unless the trial ends first.
            for &start in &starts {
                let len = (start..4000)
                    .take_while(|&n| trial.inputs[[n, 1]] > 0.0)
                    .count();
                assert!(
                    len == 50 || start + len == 4000,
                    "pulse at {start} lasts {len}"
                );
            }
            let value = trial.inputs.column(0);
            let mut run = 1;
            for n in 1..4000 {
                assert!((0.2..=1.0).contains(&value[n]));
                if value[n] != value[n - 1] {
                    assert!((150..=600).contains(&run), "run of {run} steps before {n}");
                    run = 0;
                }
                run += 1;
            }
        }
    }

    #[test]
    fn target_is_value_at_latest_gate() {
        for seed in 0..20 {
            let trial = trial(seed);
            // Check against a direct backward search for the latest gated row.
            for n in 0..4000 {
                let latest = (0..=n).rev().find(|&m| trial.inputs[[m, 1]] > 0.0);
                match latest {
                    Some(m) => assert_eq!(trial.targets[[n, 8]], trial.inputs[[m, 0]], "row {n}"),
                    None => assert_eq!(trial.weights[[n, 8]], 0.0, "row {n} before first gate"),
                }
            }
        }
    }

    #[test]
    fn mask_after_each_onset() {
        let trial = trial(3);
        for &onset in &onsets(&trial) {
            // Rows onset..onset + 49 score the states at onset + 1 ..= onset + 49 ms.
            for n in onset..(onset + 49).min(4000) {
                assert_eq!(trial.weights[[n, 8]], 0.0, "row {n}");
            }
            if onset + 49 < 4000 {
                assert!(trial.weights[[onset + 49, 8]] > 0.0);
            }
        }
    }

    #[test]
    fn weights_are_a_mean() {
        let trial = trial(5);
        let total: f64 = trial.weights.sum();
        assert!(
            (total - 1.0).abs() < 1e-12,
            "total weight {total}, tolerance 1e-12"
        );
        assert_eq!(trial.weights.slice(ndarray::s![.., ..8]).sum(), 0.0);
    }

    #[test]
    fn same_seed_same_trial() {
        assert_eq!(trial(11), trial(11));
        assert_ne!(trial(11), trial(12));
    }

    #[test]
    fn rejects_short_trial() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let result = sample_latch_trial(&LatchTaskParams::default(), 850, &mut rng);
        assert!(matches!(
            result,
            Err(Error::InvalidParameter {
                name: "n_steps",
                ..
            })
        ));
    }

    #[test]
    fn rejects_overlapping_gates() {
        let params = LatchTaskParams {
            gate_interval_min_ms: 50.0,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "gate_interval_min_ms",
                ..
            })
        ));
    }
}
