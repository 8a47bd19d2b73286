//! Cue trials of the memory task, the delay curriculum and the test cue values.

use ndarray::{s, Array2};
use rand::Rng;
use rnn_core::Trial;

use crate::error::format_compact;
use crate::params::{invalid, whole_steps};
use crate::timeline::TrialSteps;
use crate::{Error, MemoryTaskParams};

/// Builds one cue trial with cue value `cue_value` and a delay of `delay_ms`.
///
/// The trial has `n_steps = (baseline_ms + cue_ms + delay_ms) / dt_ms` steps.
/// Inputs: `u1 = cue_value` and `u2 = 1` on the cue steps `n` with
/// `baseline_ms <= n dt < baseline_ms + cue_ms`, both 0 elsewhere.
/// Target of the output unit for the state at time `t = (n + 1) dt`:
///
/// | time | target | weight |
/// |---|---|---|
/// | `t <= baseline_ms` (before the cue can act) | 0 | `1 / count` |
/// | `baseline_ms < t < baseline_ms + error_mask_after_cue_onset_ms` | 0 | 0 (masked) |
/// | `t >= baseline_ms + error_mask_after_cue_onset_ms`, to the end of the delay | `cue_value` | `1 / count` |
///
/// The weights are then normalised to sum to 1, so the trial loss is the mean squared error
/// over the scored entries; with `transition_weight != 1` the entries from the end of the mask
/// to `transition_end_after_cue_offset_ms` after cue offset count that many times. Hidden
/// units are not scored (target 0, weight 0).
///
/// # Errors
/// Invalid `params`, or a `cue_value` outside the task's cue range `[cue_min, cue_max]` (NaN
/// included). A `delay_ms` that is not a positive whole number of steps or leaves no scored
/// step after the mask.
pub fn cue_trial(params: &MemoryTaskParams, cue_value: f64, delay_ms: f64) -> Result<Trial, Error> {
    let steps = TrialSteps::new(params, delay_ms)?;
    if !(params.cue_min..=params.cue_max).contains(&cue_value) {
        return Err(invalid(
            "cue_value",
            cue_value,
            format!(
                "must lie in the cue range [cue_min, cue_max] = [{}, {}]; give a value in \
                 that range or widen the range",
                format_compact(params.cue_min),
                format_compact(params.cue_max)
            ),
        ));
    }
    let mask_steps = whole_steps(
        "error_mask_after_cue_onset_ms",
        params.error_mask_after_cue_onset_ms,
        params.dt_ms,
    )?;
    let n_steps = steps.n_steps();
    let output = params.output_unit();

    // Cue window: u1 = v, u2 = 1.
    let mut inputs = Array2::zeros((n_steps, params.n_inputs()));
    inputs
        .slice_mut(s![steps.baseline..steps.cue_offset(), 0])
        .fill(cue_value);
    inputs
        .slice_mut(s![steps.baseline..steps.cue_offset(), 1])
        .fill(1.0);

    // Output targets: row n is compared with y[n + 1], so the baseline covers rows
    // 0..baseline, the mask rows baseline..baseline + mask - 1 and the cue value the rest.
    let mut targets = Array2::zeros((n_steps, params.n_units()));
    let mut weights = Array2::zeros((n_steps, params.n_units()));
    let value_start = steps.baseline + mask_steps.saturating_sub(1);
    let transition_steps = whole_steps(
        "transition_end_after_cue_offset_ms",
        params.transition_end_after_cue_offset_ms,
        params.dt_ms,
    )?;
    let transition_end = (steps.cue_offset() + transition_steps).clamp(value_start, n_steps);
    targets.slice_mut(s![value_start.., output]).fill(cue_value);
    weights.slice_mut(s![..steps.baseline, output]).fill(1.0);
    weights.slice_mut(s![value_start.., output]).fill(1.0);
    weights
        .slice_mut(s![value_start..transition_end, output])
        .fill(params.transition_weight);

    // Normalise so that the weights sum to 1: a weighted mean of the squared errors.
    let total: f64 = weights.sum();
    weights /= total;

    // Activity penalty: hidden targets 0 in the baseline and after the transition window.
    if params.hidden_activity_weight > 0.0 && params.n_hidden > 0 {
        let n_penalised = steps.baseline + (n_steps - transition_end);
        let weight = params.hidden_activity_weight / (n_penalised * params.n_hidden) as f64;
        weights
            .slice_mut(s![..steps.baseline, ..params.n_hidden])
            .fill(weight);
        weights
            .slice_mut(s![transition_end.., ..params.n_hidden])
            .fill(weight);
    }

    Ok(Trial {
        inputs,
        targets,
        weights,
    })
}

/// Builds a cue trial with a cue value drawn from `U[cue_min, cue_max]`.
///
/// With probability `distractor_probability` the trial also carries distractors on the cue
/// channel outside the cue window (see [`MemoryTaskParams::distractor_probability`]); the
/// targets do not change. With probability 0 no random number beyond the cue value is drawn.
///
/// `delay_ms` is a separate argument so that a caller can follow a delay curriculum
/// ([`curriculum_delay_ms`]).
///
/// # Errors
/// As [`cue_trial`].
pub fn sample_cue_trial<R: Rng + ?Sized>(
    params: &MemoryTaskParams,
    delay_ms: f64,
    rng: &mut R,
) -> Result<Trial, Error> {
    params.validate()?;
    let cue_value = rng.random_range(params.cue_min..=params.cue_max);
    let mut trial = cue_trial(params, cue_value, delay_ms)?;
    if params.distractor_probability > 0.0 && rng.random::<f64>() < params.distractor_probability {
        add_distractors(params, &mut trial, delay_ms, rng)?;
    }
    Ok(trial)
}

/// Fills the cue channel outside the cue window with piecewise-constant random values.
fn add_distractors<R: Rng + ?Sized>(
    params: &MemoryTaskParams,
    trial: &mut Trial,
    delay_ms: f64,
    rng: &mut R,
) -> Result<(), Error> {
    let steps = TrialSteps::new(params, delay_ms)?;
    let hold_min = whole_steps(
        "distractor_hold_min_ms",
        params.distractor_hold_min_ms,
        params.dt_ms,
    )?;
    let hold_max = whole_steps(
        "distractor_hold_max_ms",
        params.distractor_hold_max_ms,
        params.dt_ms,
    )?;
    let n_steps = trial.inputs.nrows();
    let cue = steps.baseline..steps.cue_offset();
    let mut start = 0;
    while start < n_steps {
        let hold = rng.random_range(hold_min..=hold_max).max(1);
        let value = rng.random_range(0.0..=params.cue_max.max(0.0));
        for step in start..(start + hold).min(n_steps) {
            if !cue.contains(&step) {
                trial.inputs[[step, 0]] = value;
            }
        }
        start += hold;
    }
    Ok(())
}

/// Returns the training delay in ms at `iteration` of `n_iterations`.
///
/// The delay grows linearly from `curriculum_start_delay_ms` (300 ms by default) at
/// iteration 0 to `delay_ms` at iteration `curriculum_ramp_fraction * n_iterations` (the
/// first 40% of training by default) and stays at `delay_ms` afterwards:
/// `delay = start + (delay_ms - start) * min(1, iteration / (fraction * n_iterations))`,
/// rounded to a whole number of steps. A start longer than `delay_ms` is cut to `delay_ms`,
/// and `n_iterations = 0` gives `delay_ms`. The parameters are not validated here, because
/// [`cue_trial`] validates them and the returned delay.
pub fn curriculum_delay_ms(
    params: &MemoryTaskParams,
    iteration: usize,
    n_iterations: usize,
) -> f64 {
    let ramp_iterations = params.curriculum_ramp_fraction * n_iterations as f64;
    let progress = if ramp_iterations > 0.0 {
        (iteration as f64 / ramp_iterations).min(1.0)
    } else {
        1.0
    };
    let start_ms = params.curriculum_start_delay_ms.min(params.delay_ms);
    let delay_ms = start_ms + (params.delay_ms - start_ms) * progress;
    (delay_ms / params.dt_ms).round() * params.dt_ms
}

/// Returns the test cue values {0.2, 0.4, 0.6, 0.8, 1.0}.
pub fn test_cue_values() -> [f64; 5] {
    [0.2, 0.4, 0.6, 0.8, 1.0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn distractors_change_cue_channel_only() {
        let params = MemoryTaskParams {
            distractor_probability: 1.0,
            ..MemoryTaskParams::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let trial = sample_cue_trial(&params, 1500.0, &mut rng).unwrap();
        let clean_params = MemoryTaskParams::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let clean = sample_cue_trial(&clean_params, 1500.0, &mut rng).unwrap();
        // Same cue value (the first draw), same targets and flag channel.
        assert_eq!(trial.targets, clean.targets);
        assert_eq!(trial.inputs.column(1), clean.inputs.column(1));
        // Cue window (steps 200..300) untouched; outside it the channel carries values in
        // [0, cue_max] in runs of 150 to 600 steps, so at least 3 runs cover 1800 steps.
        assert_eq!(
            trial.inputs.slice(s![200..300, 0]),
            clean.inputs.slice(s![200..300, 0])
        );
        let outside: Vec<f64> = (0..1800)
            .filter(|n| !(200..300).contains(n))
            .map(|n| trial.inputs[[n, 0]])
            .collect();
        assert!(outside.iter().all(|v| (0.0..=1.0).contains(v)));
        let changes = outside.windows(2).filter(|w| w[0] != w[1]).count();
        assert!((2..=12).contains(&changes), "{changes} value changes");
    }

    #[test]
    fn no_distractors_draw_nothing_more() {
        let params = MemoryTaskParams::default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        sample_cue_trial(&params, 1500.0, &mut rng).unwrap();
        let mut reference = ChaCha8Rng::seed_from_u64(5);
        let _: f64 = reference.random_range(params.cue_min..=params.cue_max);
        assert_eq!(rng.random::<u64>(), reference.random::<u64>());
    }

    #[test]
    fn trial_shapes() {
        let trial = cue_trial(&MemoryTaskParams::default(), 0.6, 1500.0).unwrap();
        assert_eq!(trial.inputs.dim(), (1800, 2));
        assert_eq!(trial.targets.dim(), (1800, 9));
        assert_eq!(trial.weights.dim(), (1800, 9));
    }

    #[test]
    fn inputs_only_in_cue_window() {
        let trial = cue_trial(&MemoryTaskParams::default(), 0.6, 1500.0).unwrap();
        // Cue window [200, 300) ms = input rows 200..300.
        for n in 0..1800 {
            let in_cue = (200..300).contains(&n);
            let expected = if in_cue { [0.6, 1.0] } else { [0.0, 0.0] };
            assert_eq!(trial.inputs[[n, 0]], expected[0], "u1 at row {n}");
            assert_eq!(trial.inputs[[n, 1]], expected[1], "u2 at row {n}");
        }
    }

    #[test]
    fn targets_and_mask_by_hand() {
        let trial = cue_trial(&MemoryTaskParams::default(), 0.6, 1500.0).unwrap();
        // Row n scores y at t = n + 1 ms. Baseline: t in 1..=200 (rows 0..200), target 0.
        // Masked: t in 201..=249 (rows 200..249), 49 rows. Value: t in 250..=1800 (rows
        // 249..1800), 1551 rows. Scored count = 200 + 1551 = 1751.
        let weight = 1.0 / 1751.0;
        for n in 0..1800 {
            let (target, w) = match n {
                0..200 => (0.0, weight),
                200..249 => (0.0, 0.0),
                _ => (0.6, weight),
            };
            assert_eq!(trial.targets[[n, 8]], target, "target at row {n}");
            assert_eq!(trial.weights[[n, 8]], w, "weight at row {n}");
        }
    }

    #[test]
    fn weights_sum_to_one() {
        let trial = cue_trial(&MemoryTaskParams::default(), 0.3, 700.0).unwrap();
        let total: f64 = trial.weights.sum();
        assert!(
            (total - 1.0).abs() < 1e-12,
            "total weight {total}, tolerance 1e-12"
        );
    }

    #[test]
    fn hidden_units_unscored() {
        let trial = cue_trial(&MemoryTaskParams::default(), 0.3, 700.0).unwrap();
        assert_eq!(trial.weights.slice(s![.., ..8]).sum(), 0.0);
        assert_eq!(trial.targets.slice(s![.., ..8]).sum(), 0.0);
    }

    #[test]
    fn zero_mask_scores_every_row() {
        let params = MemoryTaskParams {
            error_mask_after_cue_onset_ms: 0.0,
            ..Default::default()
        };
        let trial = cue_trial(&params, 0.5, 500.0).unwrap();
        // t = 201 ms (row 200) is already after cue onset, so it gets the cue value.
        assert_eq!(trial.targets[[199, 8]], 0.0);
        assert_eq!(trial.targets[[200, 8]], 0.5);
        assert!(trial.weights.column(8).iter().all(|&w| w == 1.0 / 800.0));
    }

    #[test]
    fn rejects_nan_cue_value() {
        let result = cue_trial(&MemoryTaskParams::default(), f64::NAN, 1500.0);
        assert!(matches!(
            result,
            Err(Error::InvalidParameter {
                name: "cue_value",
                ..
            })
        ));
    }

    #[test]
    fn rejects_cue_value_outside_range() {
        let params = MemoryTaskParams::default();
        for cue_value in [5.0, 0.19, -0.2, f64::INFINITY] {
            let err = cue_trial(&params, cue_value, 1500.0).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: "cue_value", value, .. }
                    if value == cue_value),
                "{cue_value}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.contains("[0.2, 1]"), "{message}");
        }
        for cue_value in [params.cue_min, params.cue_max] {
            assert!(cue_trial(&params, cue_value, 1500.0).is_ok(), "{cue_value}");
        }
    }

    #[test]
    fn rejects_fractional_delay() {
        let result = cue_trial(&MemoryTaskParams::default(), 0.5, 1500.25);
        assert!(matches!(
            result,
            Err(Error::NotWholeSteps {
                name: "delay_ms",
                ..
            })
        ));
    }

    #[test]
    fn rejects_delay_inside_mask() {
        let params = MemoryTaskParams {
            error_mask_after_cue_onset_ms: 150.0,
            ..Default::default()
        };
        assert!(matches!(
            cue_trial(&params, 0.5, 50.0),
            Err(Error::InvalidParameter {
                name: "delay_ms",
                ..
            })
        ));
    }

    #[test]
    fn sampled_cue_in_range_and_seeded() {
        let params = MemoryTaskParams::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut again = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let trial = sample_cue_trial(&params, 400.0, &mut rng).unwrap();
            let value = trial.inputs[[200, 0]];
            assert!((0.2..=1.0).contains(&value), "cue value {value}");
            assert_eq!(trial, sample_cue_trial(&params, 400.0, &mut again).unwrap());
        }
    }

    #[test]
    fn curriculum_by_hand() {
        let params = MemoryTaskParams::default();
        // 1000 iterations: the ramp ends at iteration 400; at iteration 100 the delay is
        // 300 + 1200 * 100 / 400 = 600 ms.
        assert_eq!(curriculum_delay_ms(&params, 0, 1000), 300.0);
        assert_eq!(curriculum_delay_ms(&params, 100, 1000), 600.0);
        assert_eq!(curriculum_delay_ms(&params, 400, 1000), 1500.0);
        assert_eq!(curriculum_delay_ms(&params, 999, 1000), 1500.0);
        assert_eq!(curriculum_delay_ms(&params, 5, 0), 1500.0);
        // Iteration 1 of 1000: 300 + 1200 / 400 = 303 ms.
        assert_eq!(curriculum_delay_ms(&params, 1, 1000), 303.0);
        // Iteration 1 of 7: the ramp lasts 2.8 iterations, 300 + 1200 / 2.8 = 728.57 ms,
        // which rounds to 729 whole steps.
        assert_eq!(curriculum_delay_ms(&params, 1, 7), 729.0);
    }

    #[test]
    fn curriculum_delays_are_whole_steps() {
        let params = MemoryTaskParams::default();
        for iteration in 0..1000 {
            let delay_ms = curriculum_delay_ms(&params, iteration, 997);
            assert!(
                cue_trial(&params, 0.5, delay_ms).is_ok(),
                "delay {delay_ms}"
            );
        }
    }

    #[test]
    fn test_values_evenly_spaced() {
        let values = test_cue_values();
        for (i, value) in values.iter().enumerate() {
            let expected = 0.2 * (i + 1) as f64;
            assert!(
                (value - expected).abs() < 1e-12,
                "value {value}, tolerance 1e-12"
            );
        }
    }

    #[test]
    fn transition_weight_scales_cue_window() {
        // Scored rows: 200 baseline rows and rows 249..1800 (1551). Rows 249..400 (cue onset
        // + 50 ms to cue offset + 100 ms, one row early because row n scores y[n + 1]) count 3
        // times, so the unit weight is 1 / (200 + 1551 - 151 + 3 * 151) = 1 / 2053.
        let params = MemoryTaskParams {
            transition_weight: 3.0,
            ..MemoryTaskParams::default()
        };
        let trial = cue_trial(&params, 0.6, 1500.0).unwrap();
        let unit = 1.0 / 2053.0;
        let output = params.output_unit();
        assert!((trial.weights[[100, output]] - unit).abs() < 1e-15);
        assert!((trial.weights[[249, output]] - 3.0 * unit).abs() < 1e-15);
        assert!((trial.weights[[399, output]] - 3.0 * unit).abs() < 1e-15);
        assert!((trial.weights[[400, output]] - unit).abs() < 1e-15);
        assert!((trial.weights.sum() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hidden_activity_penalty_weights() {
        // 200 baseline rows and rows 400..1800 (1400) are penalised for 8 hidden units, so
        // each entry weighs 0.2 / (1600 * 8); the cue window 200..400 is free.
        let params = MemoryTaskParams {
            hidden_activity_weight: 0.2,
            ..MemoryTaskParams::default()
        };
        let trial = cue_trial(&params, 0.6, 1500.0).unwrap();
        let expected = 0.2 / (1600.0 * 8.0);
        assert!((trial.weights[[0, 3]] - expected).abs() < 1e-15);
        assert!((trial.weights[[1799, 7]] - expected).abs() < 1e-15);
        assert_eq!(trial.weights[[250, 3]], 0.0);
        assert_eq!(trial.weights[[399, 0]], 0.0);
        let hidden_total: f64 = trial.weights.slice(s![.., ..8]).sum();
        assert!((hidden_total - 0.2).abs() < 1e-12, "{hidden_total}");
        assert_eq!(trial.targets.slice(s![.., ..8]).sum(), 0.0);
    }
}
