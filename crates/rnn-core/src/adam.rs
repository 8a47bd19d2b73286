//! Adam with gradient-norm clipping and projection onto the network constraints.

use ndarray::{Array1, Array2, Zip};
use serde::{Deserialize, Serialize};

use crate::error::format_shape;
use crate::{Error, Gradient, Rnn};

/// Settings of the Adam optimiser.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `learning_rate` | 2e-3 | step size |
/// | `beta1` | 0.9 | decay of the first-moment estimate, in [0, 1) |
/// | `beta2` | 0.999 | decay of the second-moment estimate, in [0, 1) |
/// | `epsilon` | 1e-8 | added to the root second moment, > 0 |
/// | `clip_norm` | 1.0 | the gradient is rescaled to this global L2 norm if larger; infinity disables clipping |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Step size.
    pub learning_rate: f64,
    /// Decay rate of the first-moment estimate.
    pub beta1: f64,
    /// Decay rate of the second-moment estimate.
    pub beta2: f64,
    /// Regulariser added to the root of the second moment.
    pub epsilon: f64,
    /// Largest global gradient norm passed to the update.
    pub clip_norm: f64,
}

impl Default for AdamConfig {
    fn default() -> AdamConfig {
        AdamConfig {
            learning_rate: 2e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            clip_norm: 1.0,
        }
    }
}

impl AdamConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first field out of its range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::invalid(
                "learning_rate",
                self.learning_rate,
                "must be finite and > 0",
            ));
        }
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::invalid(name, beta, "must lie in [0, 1)"));
            }
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::invalid(
                "epsilon",
                self.epsilon,
                "must be finite and > 0",
            ));
        }
        if self.clip_norm.is_nan() || self.clip_norm <= 0.0 {
            return Err(Error::invalid(
                "clip_norm",
                self.clip_norm,
                "must be > 0 (use infinity to disable clipping)",
            ));
        }
        Ok(())
    }
}

/// Adam optimiser state for one network: the moment estimates and the step count.
///
/// One step, for every parameter `p` with clipped gradient `g` and step count `k`:
///
/// ```text
/// m = beta1 m + (1 - beta1) g
/// v = beta2 v + (1 - beta2) g^2
/// p = p - learning_rate (m / (1 - beta1^k)) / (sqrt(v / (1 - beta2^k)) + epsilon)
/// ```
///
/// followed by [`Rnn::apply_constraints`]. The state serialises, so training can resume
/// from a checkpoint. Reference: Kingma & Ba (2015), Adam: a method for stochastic
/// optimization, ICLR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    config: AdamConfig,
    step_count: usize,
    m: Moments,
    v: Moments,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Moments {
    w: Array2<f64>,
    u: Array2<f64>,
    b: Array1<f64>,
    y0: Array1<f64>,
    /// Empty in optimiser states saved before time constants could be trained; filled with
    /// zeros at the first step that trains them.
    #[serde(default)]
    tau_ms: Array1<f64>,
}

impl Moments {
    fn zeros(rnn: &Rnn) -> Moments {
        Moments {
            w: Array2::zeros(rnn.w.raw_dim()),
            u: Array2::zeros(rnn.u.raw_dim()),
            b: Array1::zeros(rnn.b.raw_dim()),
            y0: Array1::zeros(rnn.y0.raw_dim()),
            tau_ms: Array1::zeros(rnn.config.tau_ms.len()),
        }
    }
}

impl Adam {
    /// Creates zero moment estimates shaped like the parameters of `rnn`.
    ///
    /// # Errors
    /// Any error of [`AdamConfig::validate`].
    pub fn new(config: AdamConfig, rnn: &Rnn) -> Result<Adam, Error> {
        config.validate()?;
        Ok(Adam {
            config,
            step_count: 0,
            m: Moments::zeros(rnn),
            v: Moments::zeros(rnn),
        })
    }

    /// Settings of this optimiser.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Changes the learning rate for the following steps (for a schedule), keeping the
    /// moment estimates.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `learning_rate` is finite and positive.
    pub fn set_learning_rate(&mut self, learning_rate: f64) -> Result<(), Error> {
        let config = AdamConfig {
            learning_rate,
            ..self.config.clone()
        };
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Number of steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step_count
    }

    /// Clips `gradient`, updates the moments and the parameters of `rnn`, and applies the
    /// constraints.
    ///
    /// The step is atomic: on error neither `rnn` nor the optimiser state changes. With
    /// `train_y0` off, `y0` is left untouched.
    ///
    /// # Errors
    /// - Any error of [`Rnn::simulate`] for an invalid configuration or parameter.
    /// - [`Error::ShapeMismatch`] if the gradient or the network does not match the shapes
    ///   the optimiser was created with.
    /// - [`Error::Diverged`], with `iteration` = the step count, if the gradient or an
    ///   updated parameter is non-finite.
    pub fn step(&mut self, rnn: &mut Rnn, gradient: &Gradient) -> Result<(), Error> {
        rnn.validate()?;
        self.check_shapes(rnn, gradient)?;
        let diverged = |parameter: &str| Error::Diverged {
            iteration: self.step_count,
            parameter: parameter.to_string(),
        };
        if let Some(name) = gradient.first_non_finite() {
            return Err(diverged(name));
        }

        // Clip to the global norm.
        let norm = gradient.norm();
        let clip = if norm > self.config.clip_norm {
            self.config.clip_norm / norm
        } else {
            1.0
        };

        // Moments and parameters, on copies so that a failure changes nothing.
        let step_count = self.step_count + 1;
        let mut m = self.m.clone();
        let mut v = self.v.clone();
        let mut updated = rnn.clone();
        let update = Update::new(&self.config, step_count, clip);
        update.apply2(&mut updated.w, &mut m.w, &mut v.w, &gradient.w);
        update.apply2(&mut updated.u, &mut m.u, &mut v.u, &gradient.u);
        update.apply1(&mut updated.b, &mut m.b, &mut v.b, &gradient.b);
        if rnn.config.train_y0 {
            update.apply1(&mut updated.y0, &mut m.y0, &mut v.y0, &gradient.y0);
        }
        if rnn.config.train_tau {
            let n = updated.config.tau_ms.len();
            for moments in [&mut m.tau_ms, &mut v.tau_ms] {
                if moments.len() != n {
                    *moments = Array1::zeros(n);
                }
            }
            let mut tau = Array1::from(updated.config.tau_ms.clone());
            update.apply1(&mut tau, &mut m.tau_ms, &mut v.tau_ms, &gradient.tau_ms);
            updated.config.tau_ms = tau.to_vec();
        }
        updated.apply_constraints();

        for (name, finite) in [
            ("w", updated.w.iter().all(|p| p.is_finite())),
            ("u", updated.u.iter().all(|p| p.is_finite())),
            ("b", updated.b.iter().all(|p| p.is_finite())),
            ("y0", updated.y0.iter().all(|p| p.is_finite())),
            (
                "tau_ms",
                updated.config.tau_ms.iter().all(|p| p.is_finite()),
            ),
        ] {
            if !finite {
                return Err(diverged(name));
            }
        }

        *rnn = updated;
        self.m = m;
        self.v = v;
        self.step_count = step_count;
        Ok(())
    }

    fn check_shapes(&self, rnn: &Rnn, gradient: &Gradient) -> Result<(), Error> {
        let pairs: [(&str, &[usize], &[usize]); 9] = [
            ("w", rnn.w.shape(), self.m.w.shape()),
            ("u", rnn.u.shape(), self.m.u.shape()),
            ("b", rnn.b.shape(), self.m.b.shape()),
            ("y0", rnn.y0.shape(), self.m.y0.shape()),
            ("gradient.w", gradient.w.shape(), self.m.w.shape()),
            ("gradient.u", gradient.u.shape(), self.m.u.shape()),
            ("gradient.b", gradient.b.shape(), self.m.b.shape()),
            ("gradient.y0", gradient.y0.shape(), self.m.y0.shape()),
            (
                "gradient.tau_ms",
                gradient.tau_ms.shape(),
                self.m.y0.shape(),
            ),
        ];
        for (name, found, expected) in pairs {
            if found != expected {
                return Err(Error::shape(
                    name,
                    format!(
                        "{}, the shape the optimiser was created for",
                        format_shape(expected)
                    ),
                    found,
                ));
            }
        }
        Ok(())
    }
}

/// Constants of one Adam update.
#[derive(Clone, Copy)]
pub(crate) struct Update {
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    clip: f64,
    /// `learning_rate / (1 - beta1^k)`.
    step_size: f64,
    /// `1 / (1 - beta2^k)`.
    second_correction: f64,
}

impl Update {
    /// Returns the constants of step `step_count` (counted from 1), with the gradient scaled
    /// by `clip`.
    pub(crate) fn new(config: &AdamConfig, step_count: usize, clip: f64) -> Update {
        let k = i32::try_from(step_count).unwrap_or(i32::MAX);
        Update {
            beta1: config.beta1,
            beta2: config.beta2,
            epsilon: config.epsilon,
            clip,
            step_size: config.learning_rate / (1.0 - config.beta1.powi(k)),
            second_correction: 1.0 / (1.0 - config.beta2.powi(k)),
        }
    }

    #[inline(always)]
    pub(crate) fn apply_one(&self, p: &mut f64, m: &mut f64, v: &mut f64, g: f64) {
        let g = g * self.clip;
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
        *p -= self.step_size * *m / ((*v * self.second_correction).sqrt() + self.epsilon);
    }

    fn apply2(
        &self,
        p: &mut Array2<f64>,
        m: &mut Array2<f64>,
        v: &mut Array2<f64>,
        g: &Array2<f64>,
    ) {
        Zip::from(p)
            .and(m)
            .and(v)
            .and(g)
            .for_each(|p, m, v, &g| self.apply_one(p, m, v, g));
    }

    fn apply1(
        &self,
        p: &mut Array1<f64>,
        m: &mut Array1<f64>,
        v: &mut Array1<f64>,
        g: &Array1<f64>,
    ) {
        Zip::from(p)
            .and(m)
            .and(v)
            .and(g)
            .for_each(|p, m, v, &g| self.apply_one(p, m, v, g));
    }
}
