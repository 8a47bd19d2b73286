//! Exact one-step propagators of the linear neuron and synapse dynamics.
//!
//! Between spikes the state `(x, I_syn, V)` of a neuron obeys the linear system
//!
//! ```text
//! dx/dt     = -x / rise
//! dI_syn/dt = -I_syn / decay + x
//! dV/dt     = (-V + I_syn + I_bias + I_inj) / tau_m
//! ```
//!
//! (`x` is absent for the exponential kernel). Over one step `h` every coupling coefficient is a
//! convolution of exponentials, which equals a divided difference of `exp`:
//! `(e^{-a t} * e^{-b t})(h) = h exp[-a h, -b h]` and
//! `(e^{-a t} * e^{-b t} * e^{-c t})(h) = h^2 exp[-a h, -b h, -c h]`.
//! Both are evaluated without cancellation for equal or nearly equal rates.

use crate::{NeuronParams, SynapseModel};

/// Coefficients that advance one population by one time step `h`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Propagators {
    /// `exp(-h / tau_m)`.
    pub v_decay: f64,
    /// `1 - exp(-h / tau_m)`, the gain of a constant drive.
    pub v_drive: f64,
    /// Gain from `I_syn` at the start of the step to `V` at its end.
    pub v_from_syn: f64,
    /// Gain from `x` at the start of the step to `V` at its end (0 for one-state kernels).
    pub v_from_rise: f64,
    /// `exp(-h / decay)`.
    pub syn_decay: f64,
    /// Gain from `x` to `I_syn` (0 for one-state kernels).
    pub syn_from_rise: f64,
    /// `exp(-h / rise)` (0 for one-state kernels).
    pub rise_decay: f64,
    /// Jump of the input state per unit spike weight: 1 for the exponential kernel,
    /// `1 / rise` for two-state kernels.
    pub input_scale: f64,
    /// Standard deviation of the exact Ornstein-Uhlenbeck increment of `V` over one step.
    pub noise_sd: f64,
    /// Whether the kernel has the rise state `x`.
    pub two_state: bool,
}

impl Propagators {
    /// Computes the propagators for valid parameters and time step `dt_ms`.
    pub fn new(neuron: &NeuronParams, synapse: &SynapseModel, dt_ms: f64) -> Propagators {
        let h = dt_ms;
        let rate_m = 1.0 / neuron.tau_m_ms;

        // Membrane: decay, constant drive and Ornstein-Uhlenbeck noise with stationary
        // variance sigma_v^2 / 2 at every h.
        let v_decay = (-h * rate_m).exp();
        let v_drive = -(-h * rate_m).exp_m1();
        let noise_sd = neuron.sigma_v * (-(-2.0 * h * rate_m).exp_m1() / 2.0).sqrt();

        match synapse.rise_and_decay_ms() {
            None => {
                let tau_s = synapse.tau_area_ms();
                Propagators {
                    v_decay,
                    v_drive,
                    v_from_syn: h * rate_m * exp_first_divided_difference(-h * rate_m, -h / tau_s),
                    v_from_rise: 0.0,
                    syn_decay: (-h / tau_s).exp(),
                    syn_from_rise: 0.0,
                    rise_decay: 0.0,
                    input_scale: 1.0,
                    noise_sd,
                    two_state: false,
                }
            }
            Some((rise_ms, decay_ms)) => {
                let (a, b, c) = (h * rate_m, h / decay_ms, h / rise_ms);
                Propagators {
                    v_decay,
                    v_drive,
                    v_from_syn: h * rate_m * exp_first_divided_difference(-a, -b),
                    v_from_rise: h * h * rate_m * exp_second_divided_difference(-a, -b, -c),
                    syn_decay: (-b).exp(),
                    syn_from_rise: h * exp_first_divided_difference(-b, -c),
                    rise_decay: (-c).exp(),
                    input_scale: 1.0 / rise_ms,
                    noise_sd,
                    two_state: true,
                }
            }
        }
    }
}

/// Returns `(1 - exp(-z)) / z`, continued by 1 at `z = 0`.
fn one_minus_exp_neg_over(z: f64) -> f64 {
    if z == 0.0 {
        1.0
    } else {
        -(-z).exp_m1() / z
    }
}

/// Returns the divided difference `(e^a - e^b) / (a - b)`, equal to `e^a` when `a == b`.
pub(crate) fn exp_first_divided_difference(a: f64, b: f64) -> f64 {
    // Factor out the larger exponential so that only positive terms remain.
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    hi.exp() * one_minus_exp_neg_over(hi - lo)
}

/// Returns the second divided difference `exp[a, b, c]`, equal to `e^a / 2` when all three agree.
pub(crate) fn exp_second_divided_difference(a: f64, b: f64, c: f64) -> f64 {
    let mut x = [a, b, c];
    x.sort_by(f64::total_cmp);
    let spread = x[2] - x[0];

    // Well separated points: the recursive definition loses at most about one digit.
    if spread > 1.0 {
        let upper = exp_first_divided_difference(x[1], x[2]);
        let lower = exp_first_divided_difference(x[0], x[1]);
        return (upper - lower) / spread;
    }

    // Close points: expand exp about the mean m. The second divided difference of
    // (x - m)^k / k! is h_{k-2}(y) / k!, with h_j the complete homogeneous symmetric polynomial of
    // the offsets y = x - m. Because sum(y) = 0 the series starts 1/2 + O(spread^2).
    let mean = (x[0] + x[1] + x[2]) / 3.0;
    let y = [x[0] - mean, x[1] - mean, x[2] - mean];
    let (mut h1, mut h2, mut h3) = (1.0, 1.0, 1.0);
    // With |y| <= 2/3, |h_j| <= C(j + 2, 2) (2/3)^j, so the terms after j = 20 are below
    // 1e-20 relative to the leading 1/2.
    let mut factorial = 2.0;
    let mut sum = 0.5;
    for j in 1..=20 {
        // h_j(y0), h_j(y0, y1) and h_j(y0, y1, y2) from their order j - 1 values.
        h1 *= y[0];
        h2 = h1 + y[1] * h2;
        h3 = h2 + y[2] * h3;
        factorial *= (j + 2) as f64;
        sum += h3 / factorial;
    }
    mean.exp() * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_divided_difference_matches_definition() {
        // Far apart: the definition itself is accurate.
        let (a, b): (f64, f64) = (-0.3, -2.0);
        let direct = (a.exp() - b.exp()) / (a - b);
        let tol = 1e-15;
        assert!((exp_first_divided_difference(a, b) - direct).abs() <= tol * direct);
        assert!((exp_first_divided_difference(b, a) - direct).abs() <= tol * direct);
    }

    #[test]
    fn first_divided_difference_equal_and_close_points() {
        // Equal points give the derivative e^a; at a distance d the value is
        // e^a (1 + d/2 + O(d^2)), so 1e-12 apart it agrees with e^a to 1e-12 relative.
        let a: f64 = -0.01;
        assert_eq!(exp_first_divided_difference(a, a), a.exp());
        let close = exp_first_divided_difference(a, a + 1e-12);
        assert!((close / a.exp() - 1.0).abs() <= 1e-12);
        assert!(close > a.exp());
    }

    #[test]
    fn second_divided_difference_matches_definition() {
        // Points more than 1 apart take the recursive branch, points closer take the series;
        // both are compared with the textbook formula, accurate for these well-separated points
        // to about 1e-15.
        for &(a, b, c) in &[(-0.01, -0.4, -0.9), (-0.01, -0.2, -3.0), (-0.5, -0.1, -2.5)] {
            let ab = (f64::exp(a) - f64::exp(b)) / (a - b);
            let bc = (f64::exp(b) - f64::exp(c)) / (b - c);
            let direct = (ab - bc) / (a - c);
            let value = exp_second_divided_difference(a, b, c);
            assert!(
                (value - direct).abs() <= 1e-13 * direct,
                "{a} {b} {c}: {value} vs {direct}"
            );
        }
    }

    #[test]
    fn second_divided_difference_limits() {
        // All equal: e^a / 2.
        let a: f64 = -0.02;
        let all_equal = exp_second_divided_difference(a, a, a);
        assert!((all_equal - a.exp() / 2.0).abs() <= 1e-16);

        // Two equal (a, a, c): (e^c - e^a - (c - a) e^a) / (c - a)^2, accurate for c - a = 0.5
        // to about 1e-15.
        let c: f64 = -0.52;
        let d = c - a;
        let two_equal = (c.exp() - a.exp() - d * a.exp()) / (d * d);
        let value = exp_second_divided_difference(a, a, c);
        assert!((value - two_equal).abs() <= 1e-14 * two_equal);

        // Nearly equal points stay within O(spread) of the all-equal value, without NaN.
        let near = exp_second_divided_difference(a, a + 1e-11, a - 1e-11);
        assert!((near / all_equal - 1.0).abs() <= 1e-10);
    }

    #[test]
    fn propagators_of_exponential_kernel() {
        // tau_m 10 ms, tau_s 20 ms, h 0.1 ms: the V gain from I_syn is
        // tau_s/(tau_s - tau_m) (e^{-h/tau_s} - e^{-h/tau_m}) = 2 (e^{-0.005} - e^{-0.01}).
        let neuron = NeuronParams::default();
        let p = Propagators::new(&neuron, &SynapseModel::default(), 0.1);
        let expected = 2.0 * ((-0.005f64).exp() - (-0.01f64).exp());
        assert!((p.v_from_syn - expected).abs() <= 1e-12 * expected);
        assert_eq!(p.v_decay, (-0.01f64).exp());
        assert_eq!(p.syn_decay, (-0.005f64).exp());
        // Noise SD sigma sqrt((1 - e^{-0.02}) / 2).
        let noise = ((1.0 - (-0.02f64).exp()) / 2.0).sqrt();
        assert!((p.noise_sd - noise).abs() <= 1e-12 * noise);
    }
    #[test]
    fn nearly_equal_rise_and_decay_approach_alpha() {
        // rise = tau (1 - 1e-10) and decay = tau = tau_m: the difference of exponentials tends
        // to the alpha kernel, and every coefficient depends smoothly on the rise time, so each
        // must be finite and within 1e-9 relative of the alpha coefficients. The textbook form
        // with decay / (decay - rise) would divide by 1e-10 tau and lose about 6 digits.
        let neuron = NeuronParams {
            tau_m_ms: 5.0,
            ..NeuronParams::default()
        };
        let alpha = Propagators::new(&neuron, &SynapseModel::Alpha { tau_ms: 5.0 }, 0.1);
        let near = SynapseModel::DiffOfExponentials {
            rise_ms: 5.0 * (1.0 - 1e-10),
            decay_ms: 5.0,
        };
        let near = Propagators::new(&neuron, &near, 0.1);
        let pairs = [
            ("v_from_syn", near.v_from_syn, alpha.v_from_syn),
            ("v_from_rise", near.v_from_rise, alpha.v_from_rise),
            ("syn_from_rise", near.syn_from_rise, alpha.syn_from_rise),
            ("rise_decay", near.rise_decay, alpha.rise_decay),
            ("input_scale", near.input_scale, alpha.input_scale),
        ];
        for (name, value, limit) in pairs {
            assert!(value.is_finite(), "{name} = {value}");
            assert!(
                (value / limit - 1.0).abs() <= 1e-9,
                "{name}: {value} vs {limit}"
            );
        }
    }
}
