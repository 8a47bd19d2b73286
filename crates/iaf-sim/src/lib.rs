//! Time-stepped simulator of leaky integrate-and-fire (LIF) neurons coupled by delayed synaptic
//! currents.
//!
//! A [`NetworkParams`] lists populations of identical neurons, groups of Poisson generators and
//! projections between them. [`Network::build`] validates it and draws the synapses;
//! [`Simulation`] steps the network on a fixed grid with exact propagators, exact
//! Ornstein-Uhlenbeck membrane noise and integer refractory periods and delays, and reports
//! spikes, potentials and synaptic currents. [`lif_rate_deterministic_hz`] is the closed-form
//! rate of the noiseless neuron.
//!
//! Random draws take a caller's generator implementing `rand` 0.9's `Rng` (the examples use
//! `rand_chacha` 0.9's `ChaCha8Rng`, so running them needs `rand_chacha = "0.9"` among your
//! dependencies); the crate re-exports `rand` so that callers can match it.
//!
//! The neuron model, with a normalised potential (rest 0):
//!
//! ```text
//! tau_m dV/dt = -V + I_syn + I_bias + I_inj + sigma_v sqrt(tau_m) xi(t)
//! ```
//!
//! spike and reset to `v_reset` when `V >= v_threshold` at the end of a step, then
//! `round(t_ref / dt)` steps clamped at `v_reset`. `I_syn` is the sum of the kernels
//! ([`SynapseModel`]) of the arriving spikes; every kernel integrates to `J * tau_area`, so a
//! presynaptic rate `r` gives the mean current `J r tau_area` whatever the kernel shape.
//!
//! Two engines share this time grid and give the same spikes where their models overlap:
//!
//! - [`Network`] + [`Simulation`]: sparse synapses drawn by rule, Poisson sources, one thread
//!   (callers parallelise across trials).
//! - [`DenseNetwork`] + [`DenseSimulation`]: all-to-all coupling with one `f32` weight per
//!   neuron pair stored in rows per presynaptic neuron (or one weight per population pair with
//!   a shared synaptic state per population), one delay per population pair, per-neuron bias,
//!   and stepping on several threads with bit-identical results for any thread count.
//!
//! This crate knows nothing about continuous rate networks or how to convert them. It
//! performs no I/O and draws every random number from a seeded `ChaCha8Rng`.
//!
//! ```
//! use iaf_sim::{
//!     Connectivity, Network, NetworkParams, PopulationParams, ProjectionParams, Simulation,
//!     Source,
//! };
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//!
//! // One population of 100 neurons with sparse recurrent excitation and a bias above threshold.
//! let params = NetworkParams {
//!     populations: vec![PopulationParams { bias: 1.2, ..PopulationParams::default() }],
//!     projections: vec![ProjectionParams {
//!         source: Source::Population(0),
//!         target: 0,
//!         weight: 0.001,
//!         delay_ms: 3.0,
//!         connectivity: Connectivity::FixedIndegree { k: 30 },
//!     }],
//!     ..NetworkParams::default()
//! };
//! let mut rng = ChaCha8Rng::seed_from_u64(1);
//! let network = Network::build(params, &mut rng)?;
//! assert_eq!(network.n_synapses(), 100 * 30);
//!
//! let mut sim = Simulation::new(&network, 7);
//! sim.set_potentials_uniform(&mut rng);
//! sim.record_spikes(true);
//! sim.run(10_000); // 1 s at dt = 0.1 ms
//! let rate_hz = sim.spike_record().len() as f64 / 100.0 / 1.0;
//! assert!(rate_hz > 10.0 && rate_hz < 100.0);
//! # Ok::<(), iaf_sim::Error>(())
//! ```

mod alloc;
mod dense_network;
mod dense_simulation;
mod error;
mod kernels;
mod network;
mod params;
mod propagator;
mod rate;
mod simulation;

pub use dense_network::{DenseNetwork, DenseNetworkParams};
pub use dense_simulation::DenseSimulation;
pub use error::Error;
pub use network::{Network, Synapse};
pub use params::{
    duration_to_steps, Connectivity, NetworkParams, NeuronParams, PoissonSourceParams,
    PopulationParams, ProjectionParams, Source, SynapseModel,
};
pub use rate::lif_rate_deterministic_hz;
pub use simulation::{Simulation, SpikeRecord};

pub use rand;
