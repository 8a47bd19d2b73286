//! The Siegert rate of a leaky integrate-and-fire neuron driven by white noise.
//!
//! For `tau_m dV/dt = -V + mu + sigma sqrt(tau_m) xi(t)` with threshold `theta`, reset `V_r`
//! and refractory period `t_ref`, the stationary rate is (Brunel 2000, J Comput Neurosci
//! 8:183, eq. 21, in the same noise convention)
//!
//! `1 / F = t_ref + tau_m sqrt(pi) * integral_{(V_r - mu)/sigma}^{(theta - mu)/sigma} exp(u^2) (1 + erf u) du`.
//!
//! The integrand equals `erfcx(-u)`, the scaled complementary error function, which stays
//! finite where `exp(u^2)` alone overflows. Far below threshold the integral itself becomes
//! astronomically large; it is then carried with a factor `exp(s)` split off, so the rate
//! underflows smoothly to zero instead of producing `inf / inf`.
//!
//! # Accuracy
//! `erfcx` is accurate to about 1e-13 relative, and the integral uses 8-point Gauss-Legendre
//! panels no wider than 0.05 in `u`, so the rate carries a relative error below 1e-10 for
//! `sigma >= 0.05`.

use std::f64::consts::PI;

use crate::Error;

/// Neuron and noise parameters of the Siegert formula, in the normalised potential scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiegertParams {
    /// Membrane time constant (ms).
    pub tau_m_ms: f64,
    /// Refractory period (ms).
    pub t_ref_ms: f64,
    /// Firing threshold.
    pub v_threshold: f64,
    /// Reset potential.
    pub v_reset: f64,
    /// Noise amplitude `sigma` (the free membrane has variance `sigma^2 / 2`).
    pub sigma_v: f64,
}

impl SiegertParams {
    fn validate(&self) -> Result<(), Error> {
        let positive = [("tau_m_ms", self.tau_m_ms), ("sigma_v", self.sigma_v)];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::InvalidParameter {
                    name,
                    value,
                    expected: "a finite value > 0",
                });
            }
        }
        if !(self.t_ref_ms.is_finite() && self.t_ref_ms >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "t_ref_ms",
                value: self.t_ref_ms,
                expected: "a finite value >= 0",
            });
        }
        if !(self.v_threshold.is_finite()
            && self.v_reset.is_finite()
            && self.v_reset < self.v_threshold)
        {
            return Err(Error::InvalidParameter {
                name: "v_reset",
                value: self.v_reset,
                expected: "a finite value below v_threshold",
            });
        }
        Ok(())
    }
}

/// Scaled complementary error function `erfcx(z) = exp(z^2) erfc(z)`, finite for every finite
/// `z` that does not overflow `exp(z^2)` on the negative side (`z > -26.6`).
pub fn erfcx(z: f64) -> f64 {
    if z < 0.0 {
        // erfc(-a) = 2 - erfc(a), so erfcx(-a) = 2 exp(a^2) - erfcx(a).
        return 2.0 * (z * z).exp() - erfcx(-z);
    }
    if z < 2.5 {
        // exp(z^2) erf(z) = (2 / sqrt(pi)) sum_n 2^n z^(2n+1) / (2n+1)!!, all terms positive.
        let mut term = z;
        let mut sum = z;
        let mut n = 0.0;
        while term > 1e-17 * sum {
            n += 1.0;
            term *= 2.0 * z * z / (2.0 * n + 1.0);
            sum += term;
        }
        return (z * z).exp() - 2.0 / PI.sqrt() * sum;
    }
    // Continued fraction erfcx(z) = (1/sqrt(pi)) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))),
    // evaluated backwards from a fixed depth that converges to 1e-15 for z >= 2.5.
    let mut tail = z;
    for k in (1..=60).rev() {
        tail = z + (k as f64 / 2.0) / tail;
    }
    1.0 / (PI.sqrt() * tail)
}

/// `erfcx(-u) * exp(-shift)` without forming the unscaled value.
fn scaled_integrand(u: f64, shift: f64) -> f64 {
    if u <= 0.0 {
        erfcx(-u) * (-shift).exp()
    } else {
        // erfcx(-u) = exp(u^2) (2 - erfc(u)), with erfc(u) = erfcx(u) exp(-u^2).
        (2.0 - erfcx(u) * (-u * u).exp()) * (u * u - shift).exp()
    }
}

const GAUSS_NODES: [f64; 4] = [
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
const GAUSS_WEIGHTS: [f64; 4] = [
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// Below this `u` the integrand `erfcx(-u)` is integrated with its asymptotic series, so that
/// the cost of the integral does not grow with `(theta - V_r) / sigma`. Drives within 50 sigma
/// of the reset keep the quadrature alone.
const TAIL_START: f64 = -50.0;

/// Above this upper limit the rate is below `exp(-upper^2) < 1e-600` Hz, zero in `f64`.
const ZERO_RATE_UPPER: f64 = 40.0;

/// Antiderivative of `erfcx(z)` for `z >= 50` from the asymptotic series
/// `erfcx(z) = (1/sqrt(pi)) (1/z - 1/(2 z^3) + 3/(4 z^5) - 15/(8 z^7) + ...)`, integrated term
/// by term; the first omitted term is about 1e-14 at `z = 50`.
fn erfcx_tail_antiderivative(z: f64) -> f64 {
    let inv2 = 1.0 / (z * z);
    (z.ln() + inv2 / 4.0 - 3.0 * inv2 * inv2 / 16.0 + 5.0 * inv2 * inv2 * inv2 / 16.0) / PI.sqrt()
}

/// Integral of `erfcx(-u) exp(-shift)` from `lower` to `upper` (lower < upper).
fn integrate_scaled(lower: f64, upper: f64, shift: f64) -> f64 {
    let mut total = 0.0;
    if lower < TAIL_START {
        // u in [lower, min(upper, TAIL_START)] is z = -u in [max(-upper, 50), -lower].
        let z_low = -upper.min(TAIL_START);
        let z_high = -lower;
        total +=
            (erfcx_tail_antiderivative(z_high) - erfcx_tail_antiderivative(z_low)) * (-shift).exp();
    }
    let lower = lower.max(TAIL_START);
    if lower < upper {
        total += integrate_panels(lower, upper, shift);
    }
    total
}

/// Gauss-Legendre quadrature of `erfcx(-u) exp(-shift)` on panels of width at most 0.05.
fn integrate_panels(lower: f64, upper: f64, shift: f64) -> f64 {
    let n_panels = ((upper - lower) / 0.05).ceil().max(1.0) as usize;
    let width = (upper - lower) / n_panels as f64;
    let mut total = 0.0;
    for panel_idx in 0..n_panels {
        let centre = lower + (panel_idx as f64 + 0.5) * width;
        let half = 0.5 * width;
        for (node, weight) in GAUSS_NODES.iter().zip(GAUSS_WEIGHTS) {
            total += weight
                * half
                * (scaled_integrand(centre - half * node, shift)
                    + scaled_integrand(centre + half * node, shift));
        }
    }
    total
}

/// Siegert rate (Hz) for mean drive `mu`.
///
/// # Errors
/// [`Error::InvalidParameter`] for non-finite `mu` or invalid neuron parameters.
pub fn siegert_rate_hz(params: &SiegertParams, mu: f64) -> Result<f64, Error> {
    Ok(siegert_with_derivative(params, mu)?.0)
}

/// Siegert rate (Hz) and its derivative with respect to `mu` (Hz per unit of drive).
///
/// With `y_a = (V_r - mu)/sigma` and `y_b = (theta - mu)/sigma`, differentiating the integral
/// limits gives `dF/dmu = F^2 tau_m sqrt(pi) (erfcx(-y_b) - erfcx(-y_a)) / sigma`.
///
/// # Errors
/// [`Error::InvalidParameter`] for non-finite `mu` or invalid neuron parameters.
pub fn siegert_with_derivative(params: &SiegertParams, mu: f64) -> Result<(f64, f64), Error> {
    params.validate()?;
    if !mu.is_finite() {
        return Err(Error::InvalidParameter {
            name: "mu",
            value: mu,
            expected: "a finite mean drive",
        });
    }
    let tau_s = params.tau_m_ms * 1e-3;
    let t_ref_s = params.t_ref_ms * 1e-3;
    let lower = (params.v_reset - mu) / params.sigma_v;
    let upper = (params.v_threshold - mu) / params.sigma_v;
    if upper > ZERO_RATE_UPPER {
        return Ok((0.0, 0.0));
    }

    // Split off exp(upper^2) when the integrand grows like exp(u^2) near the upper limit.
    let shift = if upper > 0.0 { upper * upper } else { 0.0 };
    let integral_scaled = integrate_scaled(lower, upper, shift);

    // 1/F = t_ref + tau sqrt(pi) exp(shift) I, so F = exp(-shift) / (t_ref exp(-shift) + tau sqrt(pi) I).
    let decay = (-shift).exp();
    let denominator = t_ref_s * decay + tau_s * PI.sqrt() * integral_scaled;
    let rate_hz = decay / denominator;

    // dF/dmu with both integrand values scaled by the same exp(-shift).
    let edge_difference = scaled_integrand(upper, shift) - scaled_integrand(lower, shift);
    let derivative = rate_hz / denominator * tau_s * PI.sqrt() * edge_difference / params.sigma_v;
    Ok((rate_hz, derivative))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(tau_m_ms: f64, t_ref_ms: f64, sigma_v: f64) -> SiegertParams {
        SiegertParams {
            tau_m_ms,
            t_ref_ms,
            v_threshold: 1.0,
            v_reset: 0.0,
            sigma_v,
        }
    }

    #[test]
    fn erfcx_known_values() {
        // erfc(0.5) = 0.4795001221869535, erfc(1) = 0.15729920705028513 (Abramowitz & Stegun
        // table 7.1); erfcx(5) = erfc(5) exp(25) = 1.5374597944280349e-12 * 7.200489933738588e10.
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5 * 0.25f64.exp()),
            (1.0, 0.157_299_207_050_285_13 * 1f64.exp()),
            (5.0, 0.110_704_637_733_068_66),
            (-1.0, (2.0 - 0.157_299_207_050_285_13) * 1f64.exp()),
        ];
        for (z, expected) in cases {
            let relative = (erfcx(z) - expected).abs() / expected;
            assert!(
                relative < 1e-12,
                "erfcx({z}) = {} against {expected}",
                erfcx(z)
            );
        }
    }

    #[test]
    fn erfcx_continuous_at_branch_point() {
        let below = erfcx(2.5 - 1e-12);
        let above = erfcx(2.5 + 1e-12);
        assert!((below - above).abs() / above < 1e-11, "{below} vs {above}");
    }

    #[test]
    fn siegert_reference_values() {
        // Independent values for tau_m 20 ms, t_ref 2 ms, computed by direct quadrature of
        // exp(u^2)(1 + erf u) outside this crate; quoted to 4 significant digits.
        let cases = [
            (0.2, 0.8, 7.67),
            (0.2, 1.0, 18.51),
            (0.2, 1.5, 42.85),
            (0.5, 1.0, 27.34),
            (0.5, 2.0, 66.29),
        ];
        for (sigma, mu, expected_hz) in cases {
            let rate = siegert_rate_hz(&params(20.0, 2.0, sigma), mu).unwrap();
            assert!(
                (rate - expected_hz).abs() < 0.006 * expected_hz.max(1.0),
                "sigma {sigma}, mu {mu}: {rate} Hz against {expected_hz} Hz"
            );
        }
    }

    #[test]
    fn siegert_rate_and_slope_preset_neuron() {
        // tau_m 10 ms, t_ref 8 ms, mu 1.2, sigma 0.5: F = 47.25 Hz, dF/dmu = 35.80 Hz.
        let (rate, slope) = siegert_with_derivative(&params(10.0, 8.0, 0.5), 1.2).unwrap();
        assert!((rate - 47.25).abs() < 0.01, "rate {rate}");
        assert!((slope - 35.80).abs() < 0.01, "slope {slope}");
    }

    #[test]
    fn siegert_derivative_matches_central_difference() {
        let p = params(10.0, 8.0, 1.0);
        for mu in [-4.0, -1.0, 0.0, 0.7, 1.0, 2.0, 5.0, 20.0] {
            let h = 1e-5;
            let fd = (siegert_rate_hz(&p, mu + h).unwrap() - siegert_rate_hz(&p, mu - h).unwrap())
                / (2.0 * h);
            let (_, slope) = siegert_with_derivative(&p, mu).unwrap();
            assert!(
                (slope - fd).abs() <= 1e-6 * fd.abs().max(1e-3),
                "mu {mu}: {slope} against {fd}"
            );
        }
    }

    #[test]
    fn siegert_finite_far_from_threshold() {
        let p = params(10.0, 8.0, 1.0);
        for mu in [-1e3, -40.0, 40.0, 1e4] {
            let (rate, slope) = siegert_with_derivative(&p, mu).unwrap();
            assert!(
                rate.is_finite() && slope.is_finite(),
                "mu {mu}: {rate}, {slope}"
            );
        }
        // Far above threshold the rate approaches 1 / t_ref = 125 Hz from below.
        let high = siegert_rate_hz(&p, 1e4).unwrap();
        assert!(high < 125.0, "{high}");
        assert!(high > 124.0, "{high}");
        assert_eq!(siegert_rate_hz(&p, -1e3).unwrap(), 0.0);
    }

    #[test]
    fn tail_series_matches_quadrature() {
        // From u = -80 the series covers [-80, -50]; quadrature over the whole range is the
        // independent reference.
        for (lower, upper, shift) in [(-80.0, 1.0, 1.0), (-80.0, -60.0, 0.0), (-200.0, -2.0, 0.0)] {
            let split = integrate_scaled(lower, upper, shift);
            let full = integrate_panels(lower, upper, shift);
            assert!(
                (split - full).abs() < 1e-12 * full,
                "[{lower}, {upper}]: {split} against {full}"
            );
        }
    }

    #[test]
    fn siegert_zero_for_huge_negative_drive() {
        let p = params(10.0, 8.0, 0.5);
        for mu in [-1e5, -1e6, -1e100, -1e300] {
            let (rate, slope) = siegert_with_derivative(&p, mu).unwrap();
            assert_eq!(rate, 0.0, "mu {mu}");
            assert_eq!(slope, 0.0, "mu {mu}");
        }
    }

    #[test]
    fn siegert_small_noise_gives_deterministic_rate() {
        // As sigma -> 0 with mu above threshold the Siegert rate tends to the deterministic
        // LIF rate 1 / (t_ref + tau_m ln((mu - V_r) / (mu - theta))): for tau_m 10 ms,
        // t_ref 8 ms and mu 2 that is 1000 / (8 + 10 ln 2) = 66.9737 Hz. The integral spans
        // (theta - V_r) / sigma = 1e7 units of u and must not take 1e7 panels.
        let expected = 1000.0 / (8.0 + 10.0 * std::f64::consts::LN_2);
        for sigma in [1e-4, 1e-7] {
            let rate = siegert_rate_hz(&params(10.0, 8.0, sigma), 2.0).unwrap();
            assert!(
                (rate - expected).abs() < 1e-3,
                "sigma {sigma}: {rate} Hz against {expected} Hz"
            );
        }
        // A reset far below threshold: 1 / (t_ref + tau_m ln((mu - V_r) / (mu - theta)))
        // with V_r = -1e6, mu 2: ln(1000002) = 13.8155..., rate 1000 / (8 + 138.155...).
        let far_reset = SiegertParams {
            v_reset: -1e6,
            ..params(10.0, 8.0, 0.5)
        };
        let rate = siegert_rate_hz(&far_reset, 2.0).unwrap();
        let deterministic = 1000.0 / (8.0 + 10.0 * 1_000_002f64.ln());
        assert!(
            (rate - deterministic).abs() < 0.01 * deterministic,
            "{rate} Hz against about {deterministic} Hz"
        );
    }

    #[test]
    fn siegert_rejects_bad_input() {
        let p = params(10.0, 8.0, 0.0);
        assert!(matches!(
            siegert_rate_hz(&p, 1.0),
            Err(Error::InvalidParameter {
                name: "sigma_v",
                ..
            })
        ));
        let p = params(10.0, 8.0, 1.0);
        assert!(matches!(
            siegert_rate_hz(&p, f64::NAN),
            Err(Error::InvalidParameter { name: "mu", .. })
        ));
    }
}
