//! Activation functions tabulated from the spiking neurons' f-I curve (method b).
//!
//! `Phi(x) = F(g x + mu_0) / f_max`, where `F` is the population rate measured by simulation at
//! the simulation time step and averaged over seeds. Above the simulated range the table
//! continues with the Siegert rate, scaled to meet the simulated curve, out to
//! `siegert_extension_to`; beyond that `rnn-core` approaches the refractory limit
//! `1 / (t_ref f_max)` exponentially. `Phi` is not clipped at 1, because training and
//! conversion must share one normalisation.

use iaf_sim::NeuronParams;
use rnn_core::TabulatedActivation;
use serde::{Deserialize, Serialize};

use crate::fi::{measure_fi_curve, FiConfig};
use crate::seeds::stream_seed;
use crate::siegert::{siegert_rate_hz, SiegertParams};
use crate::{check_finite, check_positive, Error};

/// Grid and measurement of a tabulated activation.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `x_min`, `x_max`, `x_step` | -8, 8, 0.05 | simulated grid of unit inputs `x` |
/// | `siegert_extension_to` | 40 | the table continues with the scaled Siegert rate up to here |
/// | `n_seeds` | 2 | independent measurements averaged |
/// | `smoothing_bandwidth` | 0 | Gaussian kernel width (in `x`) of a local quadratic fit that removes sampling noise; 0 keeps the raw means |
/// | `fi` | 100 neurons, 1 s | measurement of each point |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Lowest simulated input.
    pub x_min: f64,
    /// Highest simulated input.
    pub x_max: f64,
    /// Grid spacing.
    pub x_step: f64,
    /// Upper end of the Siegert continuation.
    pub siegert_extension_to: f64,
    /// Independent measurements averaged per point.
    pub n_seeds: usize,
    /// Width (in `x`) of the Gaussian kernel of the local quadratic regression applied to the
    /// measured curve; 0 uses the raw means.
    ///
    /// Each grid point carries independent sampling noise, about 0.002 in `Phi` with the
    /// defaults. A width of 0.25 brings it to about 0.0004 without measurable bias.
    #[serde(default = "default_smoothing_bandwidth")]
    pub smoothing_bandwidth: f64,
    /// Measurement of each point.
    pub fi: FiConfig,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            x_min: -8.0,
            x_max: 8.0,
            x_step: 0.05,
            siegert_extension_to: 40.0,
            n_seeds: 2,
            smoothing_bandwidth: default_smoothing_bandwidth(),
            fi: FiConfig {
                n_neurons: 100,
                duration_ms: 1000.0,
                ..FiConfig::default()
            },
        }
    }
}

fn default_smoothing_bandwidth() -> f64 {
    0.0
}

/// Largest number of grid points a configuration may ask for.
pub(crate) const MAX_GRID_POINTS: f64 = 1e6;

impl TableConfig {
    /// Checks the grid, the seed count and the measurement settings.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), Error> {
        check_positive("x_step", self.x_step)?;
        if !self.x_min.is_finite() {
            return Err(Error::InvalidParameter {
                name: "x_min",
                value: self.x_min,
                expected: "a finite input",
            });
        }
        if !(self.x_max.is_finite() && self.x_max > self.x_min) {
            return Err(Error::InvalidParameter {
                name: "x_max",
                value: self.x_max,
                expected: "a finite value above x_min",
            });
        }
        if (self.x_max - self.x_min) / self.x_step > MAX_GRID_POINTS {
            return Err(Error::InvalidParameter {
                name: "x_step",
                value: self.x_step,
                expected: "a step giving at most 1e6 grid points between x_min and x_max",
            });
        }
        // A continuation end at or below x_max means no continuation.
        let extension_steps = (self.siegert_extension_to - self.x_max) / self.x_step;
        if !(self.siegert_extension_to.is_finite() && extension_steps <= MAX_GRID_POINTS) {
            return Err(Error::InvalidParameter {
                name: "siegert_extension_to",
                value: self.siegert_extension_to,
                expected: "a finite input at most 1e6 grid steps above x_max",
            });
        }
        if !(self.smoothing_bandwidth.is_finite()
            && (0.0..=self.x_max - self.x_min).contains(&self.smoothing_bandwidth))
        {
            return Err(Error::InvalidParameter {
                name: "smoothing_bandwidth",
                value: self.smoothing_bandwidth,
                expected: "a width from 0 (no smoothing) up to x_max - x_min",
            });
        }
        if self.n_seeds == 0 {
            return Err(Error::InvalidParameter {
                name: "n_seeds",
                value: 0.0,
                expected: "at least 1 measurement per point",
            });
        }
        self.fi.validate()
    }
}

/// A tabulated activation with the measurements behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivationTable {
    /// Gain from unit input to drive.
    pub g: f64,
    /// Drive at unit input 0.
    pub mu_0: f64,
    /// Rate that stands for activity 1 (Hz).
    pub f_max_hz: f64,
    /// Simulated inputs `x`.
    pub x: Vec<f64>,
    /// Mean measured `F(g x + mu_0) / f_max` at each `x`.
    pub phi_measured: Vec<f64>,
    /// Siegert `F(g x + mu_0) / f_max` at each `x`, the cross-check.
    pub phi_siegert: Vec<f64>,
    /// The activation function: the measured curve made non-decreasing, with its continuation.
    pub activation: TabulatedActivation,
}

/// Siegert parameters of a neuron.
pub fn siegert_params(neuron: &NeuronParams) -> SiegertParams {
    SiegertParams {
        tau_m_ms: neuron.tau_m_ms,
        t_ref_ms: neuron.t_ref_ms,
        v_threshold: neuron.v_threshold,
        v_reset: neuron.v_reset,
        sigma_v: neuron.sigma_v,
    }
}

/// Replaces `values` by the closest non-decreasing sequence in least squares (pool adjacent
/// violators), which removes sampling wiggles without moving a monotone curve. Pooled means
/// stay finite for any finite input, even where the sum of a pool would exceed `f64::MAX`.
///
/// # Errors
/// [`Error::InvalidParameter`] for a NaN or infinite value, which has no place in an order.
pub fn make_nondecreasing(values: &[f64]) -> Result<Vec<f64>, Error> {
    check_finite("values", values)?;
    // Blocks of pooled values: (mean, count).
    let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(values.len());
    for &v in values {
        blocks.push((v, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (mean_b, count_b) = blocks.pop().expect("two blocks");
            let (mean_a, count_a) = blocks.pop().expect("two blocks");
            let mean = pooled_mean(mean_a, count_a, mean_b, count_b);
            blocks.push((mean, count_a + count_b));
        }
    }
    Ok(blocks
        .into_iter()
        .flat_map(|(mean, count)| std::iter::repeat_n(mean, count))
        .collect())
}

/// Computes the mean of a block of `count_a` values with mean `mean_a` pooled with a block of
/// `count_b` values with the smaller mean `mean_b`.
fn pooled_mean(mean_a: f64, count_a: usize, mean_b: f64, count_b: usize) -> f64 {
    let count = (count_a + count_b) as f64;
    let mean = (mean_a * count_a as f64 + mean_b * count_b as f64) / count;
    if mean.is_finite() {
        return mean;
    }
    // The weighted sum overflowed, but the mean lies between the two block means. Dividing
    // the terms by a power of two of at least 2 * count keeps their sum below f64::MAX / 2.
    // The division is exact unless a term becomes subnormal, and such a term is negligible
    // next to a sum this large.
    let scale = 2f64.powi(-(count.log2().ceil() as i32 + 1));
    let scaled_sum = mean_a * scale * count_a as f64 + mean_b * scale * count_b as f64;
    // The clamp catches a result rounded past f64::MAX.
    (scaled_sum / count / scale).clamp(mean_b, mean_a)
}

/// Measures `Phi(x) = F(g x + mu_0) / f_max` on the grid of `config` and builds the tabulated
/// activation function.
///
/// # Errors
/// [`Error::InvalidParameter`] for a non-positive gain, rate or grid step, or an empty grid;
/// [`Error::Simulator`] when the neuron parameters are invalid.
pub fn tabulate_activation(
    neuron: &NeuronParams,
    g: f64,
    mu_0: f64,
    f_max_hz: f64,
    config: &TableConfig,
    seed: u64,
) -> Result<ActivationTable, Error> {
    check_positive("g", g)?;
    check_positive("f_max_hz", f_max_hz)?;
    if !mu_0.is_finite() {
        return Err(Error::InvalidParameter {
            name: "mu_0",
            value: mu_0,
            expected: "a finite drive",
        });
    }
    config.validate()?;
    let n_points = ((config.x_max - config.x_min) / config.x_step).round() as usize + 1;
    let x: Vec<f64> = (0..n_points)
        .map(|k| config.x_min + k as f64 * config.x_step)
        .collect();
    let drives: Vec<f64> = x.iter().map(|xi| g * xi + mu_0).collect();

    // Simulated curve, averaged over independent seeds.
    let mut phi_measured = vec![0.0; n_points];
    for seed_idx in 0..config.n_seeds {
        let rates = measure_fi_curve(
            neuron,
            &drives,
            &config.fi,
            stream_seed(seed, seed_idx as u64),
        )?;
        for (phi, rate) in phi_measured.iter_mut().zip(rates) {
            *phi += rate / (f_max_hz * config.n_seeds as f64);
        }
    }

    let phi_smoothed = if config.smoothing_bandwidth > 0.0 {
        smooth_local_quadratic(&x, &phi_measured, config.smoothing_bandwidth)?
    } else {
        phi_measured.clone()
    };

    // Siegert cross-check on the same grid.
    let siegert = siegert_params(neuron);
    let phi_siegert = drives
        .iter()
        .map(|&mu| Ok(siegert_rate_hz(&siegert, mu)? / f_max_hz))
        .collect::<Result<Vec<f64>, Error>>()?;

    // Continue above the grid with the Siegert curve scaled to meet the simulated one over the
    // last unit of x.
    let tail_points = ((1.0 / config.x_step).round() as usize).clamp(1, n_points);
    let measured_tail: f64 = phi_smoothed[n_points - tail_points..].iter().sum();
    let siegert_tail: f64 = phi_siegert[n_points - tail_points..].iter().sum();
    let scale = if siegert_tail > 0.0 {
        measured_tail / siegert_tail
    } else {
        1.0
    };
    let mut values = phi_smoothed;
    let mut x_next = config.x_max + config.x_step;
    while x_next <= config.siegert_extension_to + 1e-9 {
        values.push(scale * siegert_rate_hz(&siegert, g * x_next + mu_0)? / f_max_hz);
        x_next += config.x_step;
    }
    let values = make_nondecreasing(&values)?;

    let refractory_limit = 1.0 / (neuron.t_ref_ms * 1e-3 * f_max_hz);
    let upper_limit = refractory_limit.max(*values.last().expect("non-empty table"));
    let activation = TabulatedActivation::new(config.x_min, config.x_step, values, upper_limit)?;
    Ok(ActivationTable {
        g,
        mu_0,
        f_max_hz,
        x,
        phi_measured,
        phi_siegert,
        activation,
    })
}

/// Local quadratic regression of `y` on `x` with Gaussian weights of width `bandwidth`,
/// evaluated at every `x`; fitted values are clamped at 0.
///
/// At each point the weighted least-squares parabola through the neighbours within
/// `3 bandwidth` is fitted and its value taken. A quadratic is reproduced exactly, so the
/// smoothing adds no bias where the curve is locally quadratic. For a curve with third
/// derivative `c` the bias is of order `c bandwidth^3`, below 1e-4 for the f-I curves here.
/// Where fewer than three neighbours are in reach, the point keeps its value.
///
/// # Errors
/// [`Error::Shape`] when `x` and `y` differ in length, and [`Error::InvalidParameter`] for a
/// `bandwidth` that is not finite and > 0 or a NaN or infinite value in `x` or `y`. The same
/// error names a value of `y` whose fit overshoots past `f64::MAX`, which only happens when
/// `|y|` comes close to that limit.
pub fn smooth_local_quadratic(x: &[f64], y: &[f64], bandwidth: f64) -> Result<Vec<f64>, Error> {
    if x.len() != y.len() {
        return Err(Error::Shape(format!(
            "smooth_local_quadratic got {} x values and {} y values; give one y value per x \
             value",
            x.len(),
            y.len()
        )));
    }
    check_positive("bandwidth", bandwidth)?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    // y is scaled by a power of two, which is exact, so that its largest magnitude lies in
    // [1, 2) and the weighted sums of y neither overflow nor lose bits to subnormals.
    let y_max = y.iter().fold(0.0f64, |max, v| max.max(v.abs()));
    let y_exponent = y_max.log2().floor().clamp(-1000.0, 1000.0) as i32;
    let y_scale = 2f64.powi(-y_exponent);
    let y_unscale = 2f64.powi(y_exponent);
    let smoothed = x
        .iter()
        .enumerate()
        .map(|(i, &center)| {
            // Weighted moments of the offsets in bandwidths, u = (x_k - center) / bandwidth,
            // up to u^4, and of y u^j. Within the reach of 3 bandwidths |u| <= 3, so the
            // moments stay finite however large or small the spacing of x. A fit in u has the
            // same value at the center as a fit in x - center.
            let mut m = [0.0f64; 5];
            let mut r = [0.0f64; 3];
            let mut n_used = 0;
            for (&xk, &yk) in x.iter().zip(y) {
                let u = (xk - center) / bandwidth;
                if u.abs() > 3.0 {
                    continue;
                }
                let w = (-0.5 * u * u).exp();
                let mut power = w;
                for (j, moment) in m.iter_mut().enumerate() {
                    *moment += power;
                    if j < 3 {
                        r[j] += power * (yk * y_scale);
                    }
                    power *= u;
                }
                n_used += 1;
            }
            if n_used < 3 {
                return y[i];
            }
            // Normal equations [m0 m1 m2; m1 m2 m3; m2 m3 m4] c = r; the value at the
            // center is c0, by Cramer's rule.
            let det3 = |a: [[f64; 3]; 3]| {
                a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
                    - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                    + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
            };
            let normal = [[m[0], m[1], m[2]], [m[1], m[2], m[3]], [m[2], m[3], m[4]]];
            let det = det3(normal);
            if det.abs() <= f64::EPSILON * m[0] * m[2] * m[4] {
                return y[i];
            }
            let numerator = det3([[r[0], m[1], m[2]], [r[1], m[2], m[3]], [r[2], m[3], m[4]]]);
            (numerator / det).max(0.0) * y_unscale
        })
        .collect::<Vec<f64>>();
    // A fit can overshoot the largest |y|, and past f64::MAX it becomes infinite.
    if let Some(position) = smoothed.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "y",
            value: y[position],
            expected: "values whose local quadratic fit stays below f64::MAX; scale y down",
        });
    }
    Ok(smoothed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_reproduces_a_quadratic() {
        // y = 0.3 - 0.2 x + 0.05 x^2 is its own local quadratic fit at every point, edges
        // included; only rounding separates the two (tolerance 1e-12).
        let x: Vec<f64> = (0..81).map(|k| -2.0 + 0.05 * f64::from(k)).collect();
        let y: Vec<f64> = x.iter().map(|v| 0.3 - 0.2 * v + 0.05 * v * v).collect();
        for (s, t) in smooth_local_quadratic(&x, &y, 0.25).unwrap().iter().zip(&y) {
            assert!((s - t).abs() < 1e-12, "{s} against {t}");
        }
    }

    #[test]
    fn smoothing_removes_alternating_noise() {
        // A logistic plus +-0.002 alternating from point to point. Away from the ends the
        // smoothed curve is within 3e-4 of the logistic, because the kernel spans about 30
        // points, over which the alternation cancels to 1/30 of its size, and the cubic-term
        // bias is below 1e-4. Within 3 bandwidths of an end the window is one-sided and
        // cancels less, so the tolerance there is 1e-3.
        let x: Vec<f64> = (0..241).map(|k| -6.0 + 0.05 * f64::from(k)).collect();
        let logistic = |v: f64| 1.0 / (1.0 + (-v).exp());
        let noisy: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(k, &v)| logistic(v) + if k % 2 == 0 { 0.002 } else { -0.002 })
            .collect();
        let smoothed = smooth_local_quadratic(&x, &noisy, 0.25).unwrap();
        for (s, &v) in smoothed.iter().zip(&x) {
            let tolerance = if (v + 6.0).min(6.0 - v) > 0.75 {
                3e-4
            } else {
                1e-3
            };
            assert!((s - logistic(v)).abs() < tolerance, "at x = {v}: {s}");
        }
    }

    /// Returns 121 points spaced 0.05 apart of a logistic plus alternating noise of 0.002, so
    /// that the smoothing changes every value.
    fn noisy_logistic() -> (Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (0..121).map(|k| -3.0 + 0.05 * f64::from(k)).collect();
        let y = x
            .iter()
            .enumerate()
            .map(|(k, &v)| 1.0 / (1.0 + (-v).exp()) + if k % 2 == 0 { 0.002 } else { -0.002 })
            .collect();
        (x, y)
    }

    #[test]
    fn smoothing_ignores_x_scale() {
        // Multiplying x and the bandwidth by a power of two is exact and leaves the offsets in
        // bandwidths unchanged, so the smoothed values must match bit for bit. 2^330 is about
        // 2e99, where a fourth power of the raw offsets would overflow, and 2^-330 is about
        // 5e-100, where it would underflow.
        let (x, y) = noisy_logistic();
        let reference = smooth_local_quadratic(&x, &y, 0.25).unwrap();
        assert_ne!(reference, y);
        for exponent in [330, -330] {
            let scale = 2f64.powi(exponent);
            let scaled_x: Vec<f64> = x.iter().map(|v| v * scale).collect();
            let smoothed = smooth_local_quadratic(&scaled_x, &y, 0.25 * scale).unwrap();
            assert_eq!(smoothed, reference, "x scaled by 2^{exponent}");
        }
    }

    #[test]
    fn smoothing_scales_with_y() {
        // Multiplying y by a power of two must multiply the smoothed values by the same
        // power exactly. At 2^1023 (about 9e307) a weighted sum of y over the 31 points in
        // reach would overflow. At 2^-1000 the products of y with powers of the offsets come
        // within a few orders of magnitude of the subnormal range.
        let (x, y) = noisy_logistic();
        let reference = smooth_local_quadratic(&x, &y, 0.25).unwrap();
        for exponent in [1023, -1000] {
            let scale = 2f64.powi(exponent);
            let scaled_y: Vec<f64> = y.iter().map(|v| v * scale).collect();
            let smoothed = smooth_local_quadratic(&x, &scaled_y, 0.25).unwrap();
            for (k, (s, r)) in smoothed.iter().zip(&reference).enumerate() {
                assert_eq!(*s, r * scale, "point {k}, y scaled by 2^{exponent}");
            }
        }
    }

    #[test]
    fn smoothing_keeps_subnormal_constants() {
        // A constant is its own local quadratic fit. Scaled by a power of two before the
        // weights multiply it, a subnormal constant becomes a normal number and comes back
        // within rounding: relative 1e-13, or the spacing of subnormals, 2^-1074.
        let x: Vec<f64> = (0..21).map(f64::from).collect();
        for level in [5e-324, 1e-310, 1e-300] {
            let y = vec![level; x.len()];
            let smoothed = smooth_local_quadratic(&x, &y, 2.0).unwrap();
            for (k, value) in smoothed.iter().enumerate() {
                let error = (value - level).abs();
                assert!(
                    error <= 1e-13 * level + 5e-324,
                    "point {k}: {value:e} for the constant {level:e}"
                );
            }
        }
    }

    #[test]
    fn smoothing_rejects_overshoot_past_max() {
        // Across a step the local quadratic fit overshoots the upper level: for a step from 0
        // to 1 on x = 0..8 with bandwidth 1 the fit at x = 5 is about 1.04. With the level
        // at f64::MAX that fit cannot be represented, while a quarter of it can.
        let x: Vec<f64> = (0..9).map(f64::from).collect();
        let step = |level: f64| [0.0, 0.0, 0.0, 0.0, level, level, level, level, level];
        let err = smooth_local_quadratic(&x, &step(f64::MAX), 1.0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "y", .. }),
            "{err:?}"
        );
        let level = f64::MAX / 4.0;
        let smoothed = smooth_local_quadratic(&x, &step(level), 1.0).unwrap();
        assert!(smoothed[5] > level, "{smoothed:?}");
    }

    #[test]
    fn negative_bandwidth_is_rejected() {
        let config = TableConfig {
            smoothing_bandwidth: -0.1,
            ..TableConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(Error::InvalidParameter {
                name: "smoothing_bandwidth",
                ..
            })
        ));
    }

    #[test]
    fn nondecreasing_pools_violators() {
        // (1, 3, 2, 4): the pair (3, 2) pools to 2.5.
        assert_eq!(
            make_nondecreasing(&[1.0, 3.0, 2.0, 4.0]).unwrap(),
            vec![1.0, 2.5, 2.5, 4.0]
        );
        // A monotone sequence is unchanged.
        assert_eq!(
            make_nondecreasing(&[0.0, 0.5, 0.5, 2.0]).unwrap(),
            vec![0.0, 0.5, 0.5, 2.0]
        );
        // (3, 2, 1) pools to its mean 2.
        assert_eq!(
            make_nondecreasing(&[3.0, 2.0, 1.0]).unwrap(),
            vec![2.0, 2.0, 2.0]
        );
    }

    #[test]
    fn nondecreasing_pools_near_max() {
        // Pooling (1.7e308, 1.7e308, 1) gives the mean (2 * 1.7e308 + 1) / 3, which is
        // 1.7e308 * 2 / 3 to double precision, although the sum 3.4e308 exceeds f64::MAX.
        let pooled = make_nondecreasing(&[1.7e308, 1.7e308, 1.0]).unwrap();
        let expected = 1.7e308 / 3.0 * 2.0;
        for value in &pooled {
            assert!(((value - expected) / expected).abs() < 1e-15, "{pooled:?}");
        }
        // (MAX, MAX, -MAX) pools to MAX / 3.
        let pooled = make_nondecreasing(&[f64::MAX, f64::MAX, -f64::MAX]).unwrap();
        let expected = f64::MAX / 3.0;
        for value in &pooled {
            assert!(((value - expected) / expected).abs() < 1e-15, "{pooled:?}");
        }
    }

    #[test]
    fn nondecreasing_rejects_non_finite() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = make_nondecreasing(&[1.0, bad, 0.5]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: "values", .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn smoothing_rejects_length_mismatch() {
        let err = smooth_local_quadratic(&[0.0, 1.0, 2.0, 3.0], &[0.0, 1.0], 1.0).unwrap_err();
        assert!(matches!(err, Error::Shape(_)), "{err:?}");
        assert!(
            err.to_string().contains("4 x values and 2 y values"),
            "{err}"
        );
    }

    #[test]
    fn smoothing_rejects_bad_bandwidth_or_values() {
        let x = [0.0, 1.0, 2.0];
        for bandwidth in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = smooth_local_quadratic(&x, &x, bandwidth).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidParameter {
                        name: "bandwidth",
                        ..
                    }
                ),
                "{bandwidth}: {err:?}"
            );
        }
        let err = smooth_local_quadratic(&[0.0, f64::NAN, 2.0], &x, 1.0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "x", .. }),
            "{err:?}"
        );
        let err = smooth_local_quadratic(&x, &[0.0, 1.0, f64::INFINITY], 1.0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "y", .. }),
            "{err:?}"
        );
    }
}
