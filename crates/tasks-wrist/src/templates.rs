//! Activity templates of the CM, RM and motoneuron units.

use ndarray::Array1;

use crate::{Direction, TemplateKind, WristTaskParams, WristTimeline};

/// Returns a template's value `t_prime_ms` after the onset of a preferred step.
///
/// With `r = 1 - exp(-t' / rise_tau_ms)` and the defaults of
/// [`crate::TemplateShapeParams`] (`y0 = 0.05`, `t'` in ms, `t'[s]` in s):
///
/// | kind | value |
/// |---|---|
/// | tonic | `y0 + r (0.5 - y0)` |
/// | phasic-tonic | `y0 + r (0.5 - y0 + 0.4 exp(-t' / 80))` |
/// | decrementing | `y0 + r (0.5 - y0 + 0.3 exp(-t' / 300))` |
/// | ramp | `y0 + r (0.3 - y0 + 0.3 t'[s])` |
/// | phasic | `y0 + r 0.6 exp(-t' / 80)` |
///
/// Negative `t_prime_ms` (before the onset) gives `y0`.
pub fn preferred_template_value(
    params: &WristTaskParams,
    kind: TemplateKind,
    t_prime_ms: f64,
) -> f64 {
    let y0 = params.y0;
    if t_prime_ms <= 0.0 {
        return y0;
    }
    let shapes = &params.shapes;
    let r = -(-t_prime_ms / params.rise_tau_ms).exp_m1();
    let decaying = |amplitude: f64, tau_ms: f64| amplitude * (-t_prime_ms / tau_ms).exp();
    let excess = match kind {
        TemplateKind::Tonic => shapes.tonic_level - y0,
        TemplateKind::PhasicTonic => {
            shapes.tonic_level - y0
                + decaying(shapes.phasic_tonic_amplitude, shapes.phasic_tonic_tau_ms)
        }
        TemplateKind::Decrementing => {
            shapes.tonic_level - y0
                + decaying(shapes.decrementing_amplitude, shapes.decrementing_tau_ms)
        }
        TemplateKind::Ramp => {
            shapes.ramp_start_level - y0 + shapes.ramp_slope_per_s * t_prime_ms / 1000.0
        }
        TemplateKind::Phasic => decaying(shapes.phasic_amplitude, shapes.phasic_tau_ms),
    };
    y0 + r * excess
}

/// Returns a template's value at time `t_ms` of a trial.
///
/// Each target step `k` starts a segment at its onset `t_k + latency_ms`. In a segment of
/// the preferred direction the value is [`preferred_template_value`] of `t - t_k - L`. In a
/// segment of the other direction it decays from the value reached at its onset toward
/// `y0`: `y0 + (v - y0) exp(-(t - t_k - L) / nonpreferred_decay_tau_ms)`. Before the first
/// onset the value is `y0`.
pub fn template_value(
    params: &WristTaskParams,
    timeline: &WristTimeline,
    kind: TemplateKind,
    preferred: Direction,
    latency_ms: f64,
    t_ms: f64,
) -> f64 {
    segmented_value(
        params,
        timeline,
        preferred,
        latency_ms,
        params.y0,
        t_ms,
        |t_prime| preferred_template_value(params, kind, t_prime),
    )
}

/// Returns a template sampled at the states of a trial, length `n_steps + 1`.
///
/// Entry `k` is the value at time `k * dt_ms`, the time of `y[k]`, so the target of input
/// row `n` is entry `n + 1`.
pub fn template_trace(
    params: &WristTaskParams,
    timeline: &WristTimeline,
    kind: TemplateKind,
    preferred: Direction,
    latency_ms: f64,
) -> Array1<f64> {
    Array1::from_shape_fn(timeline.n_steps + 1, |k| {
        template_value(
            params,
            timeline,
            kind,
            preferred,
            latency_ms,
            k as f64 * timeline.dt_ms,
        )
    })
}

/// Evaluates a segmented trace: `active(t')` after preferred onsets, exponential decay
/// toward `rest` after non-preferred onsets, `rest` before the first onset.
pub(crate) fn segmented_value(
    params: &WristTaskParams,
    timeline: &WristTimeline,
    preferred: Direction,
    latency_ms: f64,
    rest: f64,
    t_ms: f64,
    active: impl Fn(f64) -> f64,
) -> f64 {
    let onset = |k: usize| timeline.step_time_ms(k) + latency_ms;
    let segment = |k: usize, t: f64, start_value: f64| {
        if timeline.directions[k] == preferred {
            active(t - onset(k))
        } else {
            let decay = (-(t - onset(k)) / params.nonpreferred_decay_tau_ms).exp();
            rest + (start_value - rest) * decay
        }
    };

    // Latest segment that has started by t.
    let Some(last) = (0..timeline.n_target_steps())
        .rev()
        .find(|&k| onset(k) <= t_ms)
    else {
        return rest;
    };

    // Carry the value at each onset forward to the start of the latest segment.
    let mut start_value = rest;
    for k in 0..last {
        start_value = segment(k, onset(k + 1), start_value);
    }
    segment(last, t_ms, start_value)
}
