//! Continuous-time recurrent networks of rate units, trained by exact backpropagation through
//! time (BPTT) with Adam.
//!
//! A unit follows `tau dy/dt = -y + phi(x)`, `x = W y + U u + b`, discretised with the Euler
//! method (see [`Rnn`]). Optional whole-step transmission delays let the network carry the
//! same delays as a spiking twin. The activation `phi` is the logistic or a tabulated monotone
//! cubic ([`TabulatedActivation`]), for example a spiking population's normalised f-I curve.
//! Training constraints are a connection mask, a sign per presynaptic unit (Dale's
//! principle), an input mask, non-negative input weights and an initial state kept in
//! `[0, sup phi]`.
//!
//! Random draws take a caller's generator implementing `rand` 0.9's `Rng` (the examples use
//! `rand_chacha` 0.9's `ChaCha8Rng`, so running them needs `rand_chacha = "0.9"` among your
//! dependencies); the crate re-exports `rand` so that callers can match it.
//!
//! The gradient is the exact gradient of the simulated discrete map (checked against central
//! finite differences in the tests). Trials of a batch run in parallel, on the current rayon
//! pool for [`Rnn`] and on the caller and helper threads of this crate for [`ReadoutNet`]
//! (see [`ReadoutNet::loss_and_gradient`]). Their gradients are summed in a fixed order, so
//! results do not depend on the number of threads.
//! They can differ in the last bits between CPUs with and without AVX2 and FMA, because the
//! kernel chosen at run time fuses multiply-adds only where the CPU has them.
//!
//! The crate contains no task and no spiking neurons. Callers build [`Trial`]s (inputs,
//! targets, error weights) and pass a batch sampler to [`train`]. It does no file or clock I/O
//! and logs through `tracing`.
//!
//! ```
//! use std::ops::ControlFlow;
//!
//! use ndarray::Array2;
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//! use rnn_core::{train, AdamConfig, Rnn, RnnConfig, TrainConfig, Trial};
//!
//! // Two units, one input; unit 0 should settle at 0.6 during the last 20 of 40 steps.
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! let mut rnn = Rnn::new_using(RnnConfig::new(2, 1), &mut rng)?;
//! let mut weights = Array2::zeros((40, 2));
//! weights.slice_mut(ndarray::s![20.., 0]).fill(1.0 / 20.0);
//! let trial = Trial {
//!     inputs: Array2::ones((40, 1)),
//!     targets: Array2::from_elem((40, 2), 0.6),
//!     weights,
//! };
//! let before = rnn.loss(std::slice::from_ref(&trial))?;
//!
//! let adam = AdamConfig { learning_rate: 0.05, ..AdamConfig::default() };
//! let config = TrainConfig { max_iterations: 200, adam, ..TrainConfig::default() };
//! let mut sample_batch = |_iteration| vec![trial.clone()];
//! let mut observer = |_iteration, _loss| ControlFlow::Continue(());
//! let report = train(&mut rnn, &config, &mut sample_batch, &mut observer)?;
//! assert!(report.final_loss < 0.1 * before);
//! # Ok::<(), rnn_core::Error>(())
//! ```

mod activation;
mod adam;
mod aligned;
mod batch;
mod config;
mod engine;
mod error;
mod lanes;
mod loss;
mod readout;
mod rnn;
mod spin_pool;
mod train;
pub mod trial;

pub use activation::{Activation, TabulatedActivation};
pub use adam::{Adam, AdamConfig};
pub use config::{RnnConfig, Sign, MIN_TAU_OVER_DT};
pub use error::Error;
pub use lanes::Real;
pub use loss::Gradient;
pub use readout::{ReadoutAdam, ReadoutGradient, ReadoutNet};
pub use rnn::{spectral_radius, Rnn};
pub use train::{train, train_with_adam, StopReason, TrainConfig, TrainReport};
pub use trial::{Perturbation, Trial};

pub use rand;
