//! The network: parameters, construction, constraints and simulation.

use ndarray::{Array1, Array2, ArrayView2};
use ndarray_rand::RandomExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::engine::Kernel;
use crate::error::{check_finite_1d, check_finite_2d, format_shape};
use crate::{Activation, Error, RnnConfig, Sign, MIN_TAU_OVER_DT};

/// A continuous-time recurrent network of rate units, discretised with the Euler method.
///
/// With `a_i = dt_ms / tau_ms[i]` and activation `phi`, one time step is
///
/// ```text
/// x_i[t]     = sum_j W_ij y_j[t - D_ij] + sum_k U_ik u_k[t] + b_i
/// y_i[t + 1] = (1 - a_i) y_i[t] + a_i phi(x_i[t])
/// ```
///
/// where `y[0] = y0`, a state before time 0 equals `y0`, and `D_ij` is the delay in steps
/// (0 without delays).
///
/// | field | shape | meaning |
/// |---|---|---|
/// | `w` | `(n_units, n_units)` = (post, pre) | recurrent weights |
/// | `u` | `(n_units, n_inputs)` | input weights |
/// | `b` | `(n_units)` | biases |
/// | `y0` | `(n_units)` | initial state |
///
/// The fields are public for inspection; methods re-check shapes and finiteness on every
/// call, so an edited network gives an error rather than a panic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rnn {
    /// Configuration the network was built with.
    pub config: RnnConfig,
    /// Recurrent weights, shape `(n_units, n_units)` = (post, pre).
    pub w: Array2<f64>,
    /// Input weights, shape `(n_units, n_inputs)`.
    pub u: Array2<f64>,
    /// Biases, shape `(n_units)`.
    pub b: Array1<f64>,
    /// Initial state, shape `(n_units)`.
    pub y0: Array1<f64>,
}

impl Rnn {
    /// Draws the initial parameters from `rng`.
    ///
    /// Each recurrent weight is drawn from `N(0, (init_weight_scale / sqrt(n_units))^2)`. An
    /// excitatory presynaptic unit takes its absolute value, an inhibitory one its negative
    /// absolute value, and masked weights are 0. Input weights are drawn from `N(0, 1)`,
    /// masked inputs are 0, and with `nonnegative_inputs` each takes its absolute value.
    /// Every entry is drawn in row-major order, masked or not, so changing a mask leaves the
    /// other weights unchanged. With `init_balance`, each row's inhibitory weights are then
    /// scaled to cancel its excitatory weights, and with `init_spectral_radius` the whole
    /// matrix is scaled to that spectral radius ([`spectral_radius`]). `b = init_bias`,
    /// `y0 = y0_init`.
    ///
    /// # Errors
    /// Any error of [`RnnConfig::validate`].
    pub fn new_using<R: rand::Rng + ?Sized>(config: RnnConfig, rng: &mut R) -> Result<Rnn, Error> {
        config.validate()?;
        let n = config.n_units;
        let m = config.n_inputs;

        // Recurrent weights: magnitudes from the normal, signs from the presynaptic unit.
        let std_dev = config.init_weight_scale / (n as f64).sqrt();
        let mut w: Array2<f64> = Array2::random_using((n, n), StandardNormal, rng);
        for ((post, pre), weight) in w.indexed_iter_mut() {
            let magnitude = std_dev * *weight;
            *weight = if !config.connection_allowed(post, pre) {
                0.0
            } else {
                match config.sign(pre) {
                    Sign::Excitatory => magnitude.abs(),
                    Sign::Inhibitory => -magnitude.abs(),
                    Sign::Free => magnitude,
                }
            };
        }

        if config.init_balance {
            balance_rows(&mut w, &config);
        }
        if let Some(radius) = config.init_spectral_radius {
            let current = spectral_radius(w.view());
            if current > 0.0 {
                w *= radius / current;
            }
        }

        // Input weights.
        let mut u: Array2<f64> = Array2::random_using((n, m), StandardNormal, rng);
        for ((unit, input), weight) in u.indexed_iter_mut() {
            let draw = *weight;
            *weight = if !config.input_allowed(unit, input) {
                0.0
            } else if config.nonnegative_inputs {
                draw.abs()
            } else {
                draw
            };
        }

        let b = Array1::from_elem(n, config.init_bias);
        let y0 = Array1::from_elem(n, config.y0_init);
        Ok(Rnn {
            config,
            w,
            u,
            b,
            y0,
        })
    }

    /// Assembles a network from given parameters.
    ///
    /// `y0` may lie outside `[0, sup phi]`; [`Rnn::apply_constraints`] projects it.
    ///
    /// # Errors
    /// - Any error of [`RnnConfig::validate`].
    /// - [`Error::ShapeMismatch`] if an array does not fit the configuration.
    /// - [`Error::NonFinite`] for a NaN or infinite parameter.
    /// - [`Error::ConstraintViolation`] for a non-zero masked weight, a weight whose sign the
    ///   presynaptic unit forbids, or a negative input weight with `nonnegative_inputs`.
    pub fn from_parts(
        config: RnnConfig,
        w: Array2<f64>,
        u: Array2<f64>,
        b: Array1<f64>,
        y0: Array1<f64>,
    ) -> Result<Rnn, Error> {
        let rnn = Rnn {
            config,
            w,
            u,
            b,
            y0,
        };
        rnn.validate()?;
        rnn.check_constraints()?;
        Ok(rnn)
    }

    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.config.n_units
    }

    /// Number of external inputs.
    pub fn n_inputs(&self) -> usize {
        self.config.n_inputs
    }

    /// Returns a copy with activation function `activation` and the same parameters.
    ///
    /// `y0` is kept as it is, even if it exceeds the new `sup phi`; call
    /// [`Rnn::apply_constraints`] to project it.
    pub fn with_activation(&self, activation: Activation) -> Rnn {
        let mut rnn = self.clone();
        rnn.config.activation = activation;
        rnn
    }

    /// Projects the parameters onto the constraints.
    ///
    /// Masked recurrent and input weights become 0, a weight of the wrong sign for its
    /// presynaptic unit becomes 0, negative input weights become 0 with
    /// `nonnegative_inputs`, `y0` is clamped into `[0, sup phi]`, and with `train_tau` each
    /// time constant is raised to at least [`MIN_TAU_OVER_DT`] `* dt_ms`.
    ///
    /// # Panics
    /// If a mask or sign list does not fit the weight arrays (an invalid configuration).
    pub fn apply_constraints(&mut self) {
        let config = &self.config;
        for ((post, pre), weight) in self.w.indexed_iter_mut() {
            if !config.connection_allowed(post, pre) || !config.sign(pre).allows(*weight) {
                *weight = 0.0;
            }
        }
        for ((unit, input), weight) in self.u.indexed_iter_mut() {
            let negative = config.nonnegative_inputs && *weight < 0.0;
            if !config.input_allowed(unit, input) || negative {
                *weight = 0.0;
            }
        }
        let upper = config.activation.upper_bound();
        self.y0.mapv_inplace(|y| y.clamp(0.0, upper));
        if config.train_tau {
            let lowest = MIN_TAU_OVER_DT * config.dt_ms;
            for tau in &mut self.config.tau_ms {
                *tau = tau.max(lowest);
            }
        }
    }

    /// Simulates one trial from `y0`.
    ///
    /// `inputs` has shape `(n_steps, n_inputs)`; row `t` drives the step from `y[t]` to
    /// `y[t + 1]`. Returns the states, shape `(n_steps + 1, n_units)`, with row 0 = `y0`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] or [`Error::NonFinite`] for bad inputs or parameters, and
    /// any error of [`RnnConfig::validate`].
    pub fn simulate(&self, inputs: ArrayView2<f64>) -> Result<Array2<f64>, Error> {
        Ok(self.simulate_with_pre_activations(inputs)?.0)
    }

    /// Simulates one trial and also returns the pre-activations `x`.
    ///
    /// Returns `(y, x)`: `y` of shape `(n_steps + 1, n_units)` as in [`Rnn::simulate`], and
    /// `x` of shape `(n_steps, n_units)`, where row `t` is the argument of `phi` in the step
    /// from `y[t]` to `y[t + 1]`.
    ///
    /// # Errors
    /// As [`Rnn::simulate`].
    pub fn simulate_with_pre_activations(
        &self,
        inputs: ArrayView2<f64>,
    ) -> Result<(Array2<f64>, Array2<f64>), Error> {
        self.validate()?;
        check_inputs("inputs", inputs, self.n_inputs())?;
        let kernel = Kernel::new(self);
        let inputs = inputs.as_standard_layout();
        let n_steps = inputs.nrows();
        let (y, x) = kernel.simulate(standard_slice(&inputs), n_steps);
        let n = self.n_units();
        let y = Array2::from_shape_vec((n_steps + 1, n), y).expect("buffer of (n_steps + 1) * n");
        let x = Array2::from_shape_vec((n_steps, n), x).expect("buffer of n_steps * n");
        Ok((y, x))
    }

    /// Checks the configuration and the shapes and finiteness of the parameters, for
    /// callers that edited the public fields.
    ///
    /// # Errors
    /// Any error of [`RnnConfig::validate`], [`Error::ShapeMismatch`] for a parameter of the
    /// wrong shape, and [`Error::NonFinite`] for a non-finite entry.
    pub fn validate(&self) -> Result<(), Error> {
        self.config.validate()?;
        let n = self.n_units();
        let m = self.n_inputs();
        let expect = |name: &str, found: &[usize], expected: &[usize], meaning: &str| {
            if found == expected {
                Ok(())
            } else {
                Err(Error::shape(
                    name,
                    format!("{} = {meaning}", format_shape(expected)),
                    found,
                ))
            }
        };
        expect("w", self.w.shape(), &[n, n], "(n_units, n_units)")?;
        expect("u", self.u.shape(), &[n, m], "(n_units, n_inputs)")?;
        expect("b", self.b.shape(), &[n], "(n_units)")?;
        expect("y0", self.y0.shape(), &[n], "(n_units)")?;
        check_finite_2d("w", self.w.view())?;
        check_finite_2d("u", self.u.view())?;
        check_finite_1d("b", self.b.view())?;
        check_finite_1d("y0", self.y0.view())
    }

    /// Checks that the weights satisfy the mask, sign and non-negativity constraints.
    fn check_constraints(&self) -> Result<(), Error> {
        let config = &self.config;
        for ((post, pre), &weight) in self.w.indexed_iter() {
            let reason = if !config.connection_allowed(post, pre) && weight != 0.0 {
                "the mask removes this connection, so the weight must be 0"
            } else if !config.sign(pre).allows(weight) {
                "the presynaptic unit's sign forbids this sign; set the weight to 0 or flip it"
            } else {
                continue;
            };
            return Err(Error::ConstraintViolation {
                name: "w".into(),
                index: format!("{post}, {pre}"),
                value: weight,
                reason: reason.into(),
            });
        }
        for ((unit, input), &weight) in self.u.indexed_iter() {
            let reason = if !config.input_allowed(unit, input) && weight != 0.0 {
                "the input mask removes this input, so the weight must be 0"
            } else if config.nonnegative_inputs && weight < 0.0 {
                "nonnegative_inputs requires input weights >= 0"
            } else {
                continue;
            };
            return Err(Error::ConstraintViolation {
                name: "u".into(),
                index: format!("{unit}, {input}"),
                value: weight,
                reason: reason.into(),
            });
        }
        Ok(())
    }
}

/// Scales the inhibitory weights of each row so that they sum to minus its excitatory
/// weights. Rows without both kinds are left as they are.
fn balance_rows(w: &mut Array2<f64>, config: &RnnConfig) {
    for mut row in w.outer_iter_mut() {
        let (mut excitatory, mut inhibitory) = (0.0, 0.0);
        for (pre, &weight) in row.iter().enumerate() {
            match config.sign(pre) {
                Sign::Excitatory => excitatory += weight,
                Sign::Inhibitory => inhibitory -= weight,
                Sign::Free => {}
            }
        }
        if excitatory > 0.0 && inhibitory > 0.0 {
            let factor = excitatory / inhibitory;
            for (pre, weight) in row.iter_mut().enumerate() {
                if config.sign(pre) == Sign::Inhibitory {
                    *weight *= factor;
                }
            }
        }
    }
}

/// Returns the spectral radius (largest eigenvalue modulus) of a square matrix.
///
/// Uses Gelfand's formula `rho = lim ||W^k||^(1/k)` with `k = 2^60`, reached by 60
/// squarings of `W` normalised by its Frobenius norm after each one (the logarithms of the
/// norms are accumulated, so nothing overflows). Complex and repeated eigenvalues need no
/// special case. For a diagonalisable `W` the factor `||W^k|| / rho^k` is bounded by the
/// eigenvector condition number `C`, so the relative error is about `ln(C) / 2^60` plus
/// rounding, about `n eps` per squaring. Costs 60 products of `n x n` matrices.
///
/// Returns 0 for an empty or nilpotent matrix that squares to exactly zero, and NaN if an
/// entry is not finite.
///
/// # Panics
/// If `w` is not square.
pub fn spectral_radius(w: ArrayView2<f64>) -> f64 {
    assert_eq!(
        w.nrows(),
        w.ncols(),
        "the spectral radius needs a square matrix"
    );
    let norm = |a: &Array2<f64>| a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut power = w.to_owned();
    if power.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let first = norm(&power);
    if first == 0.0 {
        return 0.0;
    }
    power /= first;
    // log of ||W^(2^m)|| divided by 2^m, updated as (2 log_m + ln c) / 2^(m+1).
    let mut log_rate = first.ln();
    for squaring in 1..=60 {
        power = power.dot(&power);
        let c = norm(&power);
        if c == 0.0 {
            return 0.0;
        }
        power /= c;
        log_rate += c.ln() / 2f64.powi(squaring);
    }
    log_rate.exp()
}

/// Checks that an input array has `n_inputs` columns and finite entries.
pub(crate) fn check_inputs(
    name: &str,
    inputs: ArrayView2<f64>,
    n_inputs: usize,
) -> Result<(), Error> {
    if inputs.ncols() != n_inputs {
        return Err(Error::shape(
            name,
            format!("({}, {n_inputs}) = (n_steps, n_inputs)", inputs.nrows()),
            inputs.shape(),
        ));
    }
    check_finite_2d(name, inputs)
}

/// Returns the contiguous data of an array in standard layout.
pub(crate) fn standard_slice<'a>(array: &'a ndarray::CowArray<'_, f64, ndarray::Ix2>) -> &'a [f64] {
    array
        .as_slice()
        .expect("as_standard_layout returns a contiguous array")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn single_step_matches_hand_computation() {
        // One unit, W = 0, U = 0.5, b = -1, y0 = 0.2, tau = 20, dt = 1 (a = 0.05), u = 2:
        // x = 0.5 * 2 - 1 = 0, y1 = 0.95 * 0.2 + 0.05 * 0.5 = 0.215.
        let config = RnnConfig::new(1, 1);
        let rnn = Rnn::from_parts(
            config,
            array![[0.0]],
            array![[0.5]],
            array![-1.0],
            array![0.2],
        )
        .unwrap();
        let y = rnn.simulate(array![[2.0]].view()).unwrap();
        assert_eq!(y.shape(), &[2, 1]);
        assert_eq!(y[[0, 0]], 0.2);
        assert!((y[[1, 0]] - 0.215).abs() < 1e-15);
    }

    #[test]
    fn delayed_input_reads_initial_state() {
        // Unit 1 reads unit 0 with a 2-step delay: W_10 = 1, b = 0, y0 = (0.9, 0), a = 0.5
        // (tau = 2 ms), no inputs. Unit 0 relaxes on its own: y_0[t + 1] = 0.5 y_0[t] + 0.25,
        // so y_0 = 0.9, 0.7, 0.6, 0.55, ... Step t of unit 1 reads y_0[max(t - 2, 0)]:
        // 0.9, 0.9, 0.9, 0.7, 0.6.
        let mut config = RnnConfig::new(2, 0);
        config.tau_ms = vec![2.0, 2.0];
        config.delay_steps = Some(array![[0, 0], [2, 0]]);
        let w = array![[0.0, 0.0], [1.0, 0.0]];
        let rnn = Rnn::from_parts(
            config,
            w,
            Array2::zeros((2, 0)),
            array![0.0, 0.0],
            array![0.9, 0.0],
        )
        .unwrap();
        let y = rnn.simulate(Array2::zeros((5, 0)).view()).unwrap();
        let logistic = |x: f64| 1.0 / (1.0 + (-x).exp());
        let read = [0.9, 0.9, 0.9, 0.7, 0.6];
        let mut y_1 = 0.0;
        for (t, &y_0_delayed) in read.iter().enumerate() {
            y_1 = 0.5 * y_1 + 0.5 * logistic(y_0_delayed);
            assert!((y[[t + 1, 1]] - y_1).abs() < 1e-15, "step {t}");
        }
        assert!((y[[3, 0]] - 0.55).abs() < 1e-15);
    }

    #[test]
    fn initial_weights_respect_constraints() {
        let mut config = RnnConfig::new(6, 2);
        let mut mask = Array2::from_elem((6, 6), true);
        mask[[0, 1]] = false;
        mask[[4, 4]] = false;
        config.mask = Some(mask);
        config.signs = Some(vec![
            Sign::Excitatory,
            Sign::Inhibitory,
            Sign::Free,
            Sign::Excitatory,
            Sign::Inhibitory,
            Sign::Free,
        ]);
        config.nonnegative_inputs = true;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let rnn = Rnn::new_using(config, &mut rng).unwrap();
        assert_eq!(rnn.w[[0, 1]], 0.0);
        assert_eq!(rnn.w[[4, 4]], 0.0);
        assert!(rnn.w.column(0).iter().all(|&w| w >= 0.0));
        assert!(rnn.w.column(1).iter().all(|&w| w <= 0.0));
        assert!(rnn.u.iter().all(|&u| u >= 0.0));
        assert!(rnn.b.iter().all(|&b| b == -1.0));
        assert!(rnn.y0.iter().all(|&y| y == 0.05));
    }

    #[test]
    fn from_parts_rejects_masked_weight() {
        let mut config = RnnConfig::new(2, 1);
        config.mask = Some(array![[true, false], [true, true]]);
        let err = Rnn::from_parts(
            config,
            array![[0.1, 0.3], [0.0, 0.0]],
            array![[1.0], [1.0]],
            array![0.0, 0.0],
            array![0.1, 0.1],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::ConstraintViolation { ref name, ref index, .. } if name == "w" && index == "0, 1"
        ));
    }

    #[test]
    fn from_parts_rejects_wrong_shape() {
        let err = Rnn::from_parts(
            RnnConfig::new(2, 1),
            Array2::zeros((2, 2)),
            Array2::zeros((2, 3)),
            Array1::zeros(2),
            Array1::zeros(2),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::ShapeMismatch {
                name: "u".into(),
                expected: "(2, 1) = (n_units, n_inputs)".into(),
                found: "(2, 3)".into(),
            }
        );
    }

    #[test]
    fn simulate_rejects_non_finite_input() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rnn = Rnn::new_using(RnnConfig::new(2, 1), &mut rng).unwrap();
        let inputs = array![[0.0], [f64::NAN]];
        let err = rnn.simulate(inputs.view()).unwrap_err();
        assert!(matches!(err, Error::NonFinite { ref index, .. } if index == "1, 0"));
    }

    #[test]
    fn simulate_rejects_wrong_input_width() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rnn = Rnn::new_using(RnnConfig::new(2, 1), &mut rng).unwrap();
        let err = rnn.simulate(Array2::zeros((4, 3)).view()).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { ref name, .. } if name == "inputs"));
    }

    #[test]
    fn edited_parameter_shape_gives_error() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rnn = Rnn::new_using(RnnConfig::new(2, 1), &mut rng).unwrap();
        rnn.b = Array1::zeros(3);
        let err = rnn.simulate(Array2::zeros((4, 1)).view()).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { ref name, .. } if name == "b"));
    }
}
