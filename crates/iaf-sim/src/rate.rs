//! Closed-form firing rates.

use crate::NeuronParams;

/// Returns the firing rate (Hz) of a noiseless neuron under a constant drive `mu`.
///
/// ```text
/// f(mu) = 1 / (t_ref + tau_m ln((mu - v_reset) / (mu - v_threshold)))   for mu > v_threshold
/// f(mu) = 0                                                              otherwise
/// ```
///
/// The logarithm is evaluated as `ln_1p((v_threshold - v_reset) / (mu - v_threshold))`, which
/// stays accurate for large `mu`, where the rate tends to `1 / t_ref`. `sigma_v` is ignored.
/// A NaN `mu` returns NaN. The parameters are not validated; see [`NeuronParams::validate`].
///
/// On a time grid the simulated interspike interval is the continuous one with its free part
/// rounded up to whole steps; see [`Simulation`](crate::Simulation).
pub fn lif_rate_deterministic_hz(params: &NeuronParams, mu: f64) -> f64 {
    if mu.is_nan() {
        return f64::NAN;
    }
    if mu <= params.v_threshold {
        return 0.0;
    }
    let gap = params.v_threshold - params.v_reset;
    let free_ms = params.tau_m_ms * (gap / (mu - params.v_threshold)).ln_1p();
    1000.0 / (params.t_ref_ms + free_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_below_and_above_threshold() {
        let params = NeuronParams::default();
        assert_eq!(lif_rate_deterministic_hz(&params, 0.5), 0.0);
        assert_eq!(lif_rate_deterministic_hz(&params, 1.0), 0.0);
        assert!(lif_rate_deterministic_hz(&params, f64::NAN).is_nan());
        // tau_m 10, t_ref 8, mu 2: 1000 / (8 + 10 ln 2) = 66.9737... Hz.
        let expected = 1000.0 / (8.0 + 10.0 * std::f64::consts::LN_2);
        let rate = lif_rate_deterministic_hz(&params, 2.0);
        assert!((rate - expected).abs() <= 1e-12 * expected);
        // Infinite drive: 1 / t_ref.
        assert_eq!(lif_rate_deterministic_hz(&params, f64::INFINITY), 125.0);
    }
}
