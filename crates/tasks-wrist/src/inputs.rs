//! Target lines and afferent (Ia) lines of the wrist net.

use ndarray::{Array1, Array2};

use crate::architecture::{INPUT_IA_E, INPUT_IA_F, INPUT_T_E, INPUT_T_F, N_INPUTS};
use crate::{WristTaskParams, WristTimeline};

/// Desired wrist position and its velocity over one trial.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredPosition {
    /// Position `p[n]` at time `n * dt_ms`, length `n_steps + 1`, `p[0] = 0`.
    pub position: Array1<f64>,
    /// Velocity `dp/dt` in 1/s during step `n`, length `n_steps`.
    pub velocity_per_s: Array1<f64>,
}

/// Computes the desired position, which follows the target `p*` with time constant `tau_p`.
///
/// `tau_p dp/dt = p* - p`, integrated exactly over each step:
/// `p[n + 1] = p*[n] + (p[n] - p*[n]) exp(-dt / tau_p)`, with `dp/dt[n] = (p*[n] - p[n]) / tau_p`
/// in 1/s, where `p*[n]` is the target during step `n` ([`WristTimeline::target_position`]).
pub fn desired_position(params: &WristTaskParams, timeline: &WristTimeline) -> DesiredPosition {
    let n_steps = timeline.n_steps;
    let decay = (-params.dt_ms / params.tau_p_ms).exp();
    let tau_p_s = params.tau_p_ms / 1000.0;
    let mut position = Array1::zeros(n_steps + 1);
    let mut velocity_per_s = Array1::zeros(n_steps);
    for n in 0..n_steps {
        let target = timeline.target_position(n);
        let p = position[n];
        velocity_per_s[n] = (target - p) / tau_p_s;
        position[n + 1] = target + (p - target) * decay;
    }
    DesiredPosition {
        position,
        velocity_per_s,
    }
}

/// Returns the afferent line activities `[Ia_F, Ia_E]` at position `p` and velocity
/// `dp/dt` (1/s).
///
/// `Ia_F = logistic(-a p - b dp/dt + c)` and `Ia_E = logistic(a p + b dp/dt + c)`, with
/// `a = ia_position_gain` (2), `b = ia_velocity_gain_s` (0.1 s) and `c = ia_bias` (-1).
/// The flexor afferent is high when the wrist is extended or extending (a stretched flexor).
pub fn afferent_activity(params: &WristTaskParams, position: f64, velocity_per_s: f64) -> [f64; 2] {
    let drive = params.ia_position_gain * position + params.ia_velocity_gain_s * velocity_per_s;
    [
        logistic(-drive + params.ia_bias),
        logistic(drive + params.ia_bias),
    ]
}

/// Builds the input rows `[T_F, T_E, Ia_F, Ia_E]`, shape `(n_steps, 4)`.
///
/// Row `n` contains the target lines of step `n` (`T_F = 1` iff the target is +1, `T_E = 1`
/// iff it is -1) and the afferent lines at `p[n]` and `dp/dt[n]`.
pub fn wrist_inputs(params: &WristTaskParams, timeline: &WristTimeline) -> Array2<f64> {
    let desired = desired_position(params, timeline);
    let mut inputs = Array2::zeros((timeline.n_steps, N_INPUTS));
    for n in 0..timeline.n_steps {
        let target = timeline.target_position(n);
        let [ia_f, ia_e] =
            afferent_activity(params, desired.position[n], desired.velocity_per_s[n]);
        inputs[[n, INPUT_T_F]] = if target > 0.0 { 1.0 } else { 0.0 };
        inputs[[n, INPUT_T_E]] = if target < 0.0 { 1.0 } else { 0.0 };
        inputs[[n, INPUT_IA_F]] = ia_f;
        inputs[[n, INPUT_IA_E]] = ia_e;
    }
    inputs
}

/// The logistic function `1 / (1 + exp(-x))`, evaluated without overflow.
pub(crate) fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_reference_values() {
        // 1 / (1 + e^-2) = 0.880797, 1 / (1 + e^4) = 0.017986.
        assert_eq!(logistic(0.0), 0.5);
        assert!((logistic(2.0) - 0.880797077977882).abs() < 1e-12);
        assert!((logistic(-4.0) - 0.01798620996209156).abs() < 1e-12);
        assert_eq!(logistic(-1000.0), 0.0);
        assert_eq!(logistic(1000.0), 1.0);
    }

    #[test]
    fn afferents_at_rest() {
        // p = 0, dp/dt = 0: both lines are logistic(-1) = 0.268941.
        let [ia_f, ia_e] = afferent_activity(&WristTaskParams::default(), 0.0, 0.0);
        assert!((ia_f - 0.2689414213699951).abs() < 1e-12);
        assert!((ia_e - 0.2689414213699951).abs() < 1e-12);
    }
}
