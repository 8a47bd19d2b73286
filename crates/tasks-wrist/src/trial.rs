//! Training and test trials of the wrist task.

use ndarray::{s, Array2};
use rand::Rng;
use rnn_core::Trial;

use crate::params::whole_steps;
use crate::{architecture, template_trace, wrist_inputs, Error, WristTaskParams, WristTimeline};

/// Builds a wrist trial with the given hold durations, one per target step.
///
/// Steps alternate flexion (+1) and extension (-1), flexion first; the first step comes at
/// `baseline_ms` and the trial ends after the last hold. Inputs are [`wrist_inputs`].
/// Targets: row `n` contains each templated unit's template at time `(n + 1) dt`
/// ([`template_trace`]), the time of `y[n + 1]`. Weights make the trial loss
///
/// `mean over rows and the 8 pools of (y - template)^2
///  + template_loss_weight * mean over rows and the 6 templated CM/RM units of (y - template)^2`,
///
/// that is `1 / (n_steps * 8)` per motoneuron entry and `0.3 / (n_steps * 6)` per
/// templated CM/RM entry with the defaults. Free units (CM/RM without a template, EIN, IIN)
/// have target 0 and weight 0.
///
/// # Errors
/// Invalid `params`; no holds; a hold that is not a positive whole number of steps.
pub fn wrist_trial(params: &WristTaskParams, holds_ms: &[f64]) -> Result<Trial, Error> {
    let timeline = WristTimeline::new(params, holds_ms)?;
    let arch = architecture();
    let n_steps = timeline.n_steps;
    let n_pools = arch.motoneuron_pools().len() as f64;
    let n_cm_rm = arch.templated_cm_rm().len() as f64;

    let mut targets = Array2::zeros((n_steps, params.n_units()));
    let mut weights = Array2::zeros((n_steps, params.n_units()));
    for (unit, kind, latency_ms) in arch.templated_units(params) {
        let group = arch.groups[unit];
        let preferred = group
            .preferred_direction()
            .expect("templated units are CM, RM or motoneuron pools, which have a direction");
        let trace = template_trace(params, &timeline, kind, preferred, latency_ms);
        targets.column_mut(unit).assign(&trace.slice(s![1..]));
        let weight = if group.is_motoneuron() {
            1.0 / (n_steps as f64 * n_pools)
        } else {
            params.template_loss_weight / (n_steps as f64 * n_cm_rm)
        };
        weights.column_mut(unit).fill(weight);
    }

    Ok(Trial {
        inputs: wrist_inputs(params, &timeline),
        targets,
        weights,
    })
}

/// Returns the hold durations of the test trial: `n_target_steps` holds of `test_hold_ms`.
pub fn test_holds_ms(params: &WristTaskParams) -> Vec<f64> {
    vec![params.test_hold_ms; params.n_target_steps]
}

/// Builds the test trial: holds of `test_hold_ms` (with the defaults, steps at 200, 1200,
/// 2200 and 3200 ms and the end at 4200 ms).
///
/// # Errors
/// Invalid `params`.
pub fn test_trial(params: &WristTaskParams) -> Result<Trial, Error> {
    wrist_trial(params, &test_holds_ms(params))
}

/// Draws `n_target_steps` hold durations uniformly from whole steps in
/// `[train_hold_min_ms, train_hold_max_ms]` (0.7-1.5 s by default), so that the net cannot
/// time the hold internally.
///
/// # Errors
/// Invalid `params`.
pub fn sample_hold_durations_ms<R: Rng + ?Sized>(
    params: &WristTaskParams,
    rng: &mut R,
) -> Result<Vec<f64>, Error> {
    params.validate()?;
    let min_steps = whole_steps("train_hold_min_ms", params.train_hold_min_ms, params.dt_ms)?;
    let max_steps = whole_steps("train_hold_max_ms", params.train_hold_max_ms, params.dt_ms)?;
    Ok((0..params.n_target_steps)
        .map(|_| rng.random_range(min_steps..=max_steps) as f64 * params.dt_ms)
        .collect())
}

/// Builds a training trial with random hold durations ([`sample_hold_durations_ms`]).
///
/// # Errors
/// Invalid `params`.
pub fn sample_wrist_trial<R: Rng + ?Sized>(
    params: &WristTaskParams,
    rng: &mut R,
) -> Result<Trial, Error> {
    let holds_ms = sample_hold_durations_ms(params, rng)?;
    wrist_trial(params, &holds_ms)
}
