//! Unit-to-population mapping.
//!
//! Unit `j` of the continuous net becomes a population of `N_j` leaky integrate-and-fire
//! neurons, and activity `y_j` stands for the population rate `f_max y_j`. A connection
//! `W_ij` becomes synapses from `k_ij` neurons of population `j` onto each neuron of
//! population `i`, with jump
//!
//! `J_ij = g W_ij / (k_ij f_max tau_s)`,
//!
//! so that the mean synaptic current of population `i` is `g sum_j W_ij y_j`. With the bias
//! current `I_bias,i = g b_i + mu_0` and injected input currents `g sum_k U_ik u_k(t)`, the mean
//! drive is `g x_i + mu_0`, and with `tau_s = tau_i` the synaptically filtered, normalised
//! population rate obeys the continuous unit equation (Kim, Li & Sejnowski 2019, PNAS
//! 116:22811, use the same identification of `tau_s` with the unit time constant).
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `n_neurons` | 100 | neurons per population |
//! | `connectivity` | fixed in-degree, p = 0.3 | how presynaptic neurons are chosen |
//! | `g`, `mu_0`, `f_max_hz` | 0.763, 0.994, 95.4 Hz | gain, drive offset and rate scale |
//! | `neuron` | tau_m 10 ms, t_ref 8 ms, sigma_v 1 | the neuron model |
//! | `dt_ms` | 0.1 ms | simulation time step, at least [`MIN_DT_MS`] |
//! | `delay_ms` | 3 ms | synaptic delay |
//! | `target_delay_ms` | none | per-unit delay of the synapses onto that unit, overriding `delay_ms` |
//! | `input_mode` | injected currents | how external inputs reach the neurons |
//!
//! # Accuracy
//! With per-unit time constants the synaptic current of population `i` is filtered with
//! `tau_i`, whereas the continuous net filters each presynaptic activity with its own
//! `tau_j`; the mapping is exact only when every unit shares one time constant.

use iaf_sim::{
    Connectivity, Network, NetworkParams, NeuronParams, PoissonSourceParams, PopulationParams,
    ProjectionParams, Source, SynapseModel,
};
use rnn_core::Rnn;
use serde::{Deserialize, Serialize};

use crate::{check_positive, format_compact, Error};

/// Rule that chooses the presynaptic neurons of each connection between populations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ConnectivityRule {
    /// Each neuron receives from exactly `round(p N_pre)` presynaptic neurons.
    FixedIndegree {
        /// Connection probability in (0, 1].
        p: f64,
    },
    /// Each pair is connected independently with probability `p`.
    Bernoulli {
        /// Connection probability in (0, 1].
        p: f64,
    },
    /// Every pair is connected.
    AllToAll,
}

/// Route by which the continuous net's external inputs reach the spiking neurons.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum InputMode {
    /// Injected currents `g sum_k U_ik u_k(t)`, exactly what the continuous unit receives.
    Injected,
    /// Poisson input populations firing at `f_max u_k(t)`, wired like recurrent populations.
    /// Their input passes through the synaptic filter, so the continuous reference must see
    /// its inputs low-pass filtered with `tau_s` too.
    Poisson {
        /// Neurons per input population.
        n_neurons: usize,
    },
}

/// Parameters of the conversion; see the module documentation for the table of defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionParams {
    /// Neurons per population.
    pub n_neurons: usize,
    /// Presynaptic sampling rule.
    pub connectivity: ConnectivityRule,
    /// Gain from unit input to drive.
    pub g: f64,
    /// Drive at unit input 0.
    pub mu_0: f64,
    /// Rate that stands for activity 1 (Hz).
    pub f_max_hz: f64,
    /// Neuron model.
    pub neuron: NeuronParams,
    /// Simulation time step (ms).
    pub dt_ms: f64,
    /// Synaptic delay (ms).
    pub delay_ms: f64,
    /// Per-unit delay of the synapses onto that unit (ms), overriding `delay_ms`.
    pub target_delay_ms: Option<Vec<f64>>,
    /// External input mode.
    pub input_mode: InputMode,
}

impl Default for ConversionParams {
    fn default() -> Self {
        ConversionParams {
            n_neurons: 100,
            connectivity: ConnectivityRule::FixedIndegree { p: 0.3 },
            g: 0.763,
            mu_0: 0.994,
            f_max_hz: 95.4,
            neuron: NeuronParams {
                tau_m_ms: 10.0,
                t_ref_ms: 8.0,
                v_threshold: 1.0,
                v_reset: 0.0,
                sigma_v: 1.0,
            },
            dt_ms: 0.1,
            delay_ms: 3.0,
            target_delay_ms: None,
            input_mode: InputMode::Injected,
        }
    }
}

/// A converted network: the spiking network with the continuous net it came from.
pub struct Converted {
    /// Conversion parameters.
    pub params: ConversionParams,
    /// The continuous net.
    pub rnn: Rnn,
    /// The spiking network, population `i` standing for unit `i`.
    pub network: Network,
    /// Simulation steps per continuous time step.
    pub substeps: usize,
}

/// Smallest simulation time step (ms). At 1 us a trial of 3 s already takes 3 million steps
/// per neuron, and a smaller step makes runs effectively endless.
pub const MIN_DT_MS: f64 = 1e-3;

fn check_probability(p: f64) -> Result<(), Error> {
    if p.is_finite() && p > 0.0 && p <= 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "p",
            value: p,
            expected: "a connection probability in (0, 1]",
        })
    }
}

impl ConversionParams {
    /// Checks every field, the neuron model at the simulation time step included.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first invalid field; [`Error::Simulator`] for
    /// invalid neuron parameters.
    pub fn validate(&self) -> Result<(), Error> {
        if self.n_neurons == 0 {
            return Err(Error::InvalidParameter {
                name: "n_neurons",
                value: 0.0,
                expected: "at least 1 neuron per population",
            });
        }
        check_positive("g", self.g)?;
        check_positive("f_max_hz", self.f_max_hz)?;
        check_positive("dt_ms", self.dt_ms)?;
        if self.dt_ms < MIN_DT_MS {
            return Err(Error::InvalidParameter {
                name: "dt_ms",
                value: self.dt_ms,
                expected: "a time step of at least MIN_DT_MS = 0.001 ms, because smaller steps \
                           make a run of seconds take millions of steps or more; 0.1 ms is \
                           typical",
            });
        }
        self.neuron.validate(self.dt_ms, 0)?;
        if !self.mu_0.is_finite() {
            return Err(Error::InvalidParameter {
                name: "mu_0",
                value: self.mu_0,
                expected: "a finite drive",
            });
        }
        match self.connectivity {
            ConnectivityRule::FixedIndegree { p } | ConnectivityRule::Bernoulli { p } => {
                check_probability(p)?
            }
            ConnectivityRule::AllToAll => {}
        }
        let target_delays = self.target_delay_ms.iter().flatten();
        let delays = std::iter::once(("delay_ms", self.delay_ms))
            .chain(target_delays.map(|delay| ("target_delay_ms", *delay)));
        for (name, delay) in delays {
            if !(delay.is_finite() && delay >= 0.0) {
                return Err(Error::InvalidParameter {
                    name,
                    value: delay,
                    expected: "a finite delay >= 0 ms",
                });
            }
        }
        if let InputMode::Poisson { n_neurons: 0 } = self.input_mode {
            return Err(Error::InvalidParameter {
                name: "input_mode.n_neurons",
                value: 0.0,
                expected: "at least 1 neuron per input population",
            });
        }
        Ok(())
    }

    /// Presynaptic neurons per postsynaptic neuron (`k_ij`), the same for every pair of
    /// populations of size `n_pre`; for Bernoulli wiring the expected count `p n_pre`.
    pub fn indegree(&self, n_pre: usize) -> f64 {
        match self.connectivity {
            ConnectivityRule::FixedIndegree { p } => ((p * n_pre as f64).round()).max(1.0),
            ConnectivityRule::Bernoulli { p } => p * n_pre as f64,
            ConnectivityRule::AllToAll => n_pre as f64,
        }
    }

    fn simulator_connectivity(&self, n_pre: usize) -> Connectivity {
        match self.connectivity {
            ConnectivityRule::FixedIndegree { .. } => Connectivity::FixedIndegree {
                k: self.indegree(n_pre) as usize,
            },
            ConnectivityRule::Bernoulli { p } => Connectivity::Bernoulli { p },
            ConnectivityRule::AllToAll => Connectivity::AllToAll,
        }
    }
}

/// Builds the spiking network that stands for `rnn`, drawing its connectivity from `rng`.
///
/// # Errors
/// [`Error::InvalidParameter`] for invalid parameters, [`Error::Shape`] when the
/// continuous time step is not a whole number of simulation steps or `target_delay_ms` has
/// the wrong length, and [`Error::Simulator`] when the simulator rejects the network.
pub fn convert<R: rand::Rng + ?Sized>(
    rnn: &Rnn,
    params: &ConversionParams,
    rng: &mut R,
) -> Result<Converted, Error> {
    params.validate()?;
    rnn.validate()?;
    let n_units = rnn.n_units();
    let n_inputs = rnn.n_inputs();
    let ratio = rnn.config.dt_ms / params.dt_ms;
    let substeps = ratio.round() as usize;
    if substeps == 0 || (ratio - substeps as f64).abs() > 1e-9 * ratio {
        return Err(Error::Shape(format!(
            "the continuous time step {} ms is not a whole multiple of the simulation time step {} ms; choose dt_ms that divides it",
            format_compact(rnn.config.dt_ms),
            format_compact(params.dt_ms)
        )));
    }
    if let Some(delays) = &params.target_delay_ms {
        if delays.len() != n_units {
            return Err(Error::Shape(format!(
                "target_delay_ms has {} entries but the network has {n_units} units",
                delays.len()
            )));
        }
    }
    let tau_s_ms = |unit_idx: usize| rnn.config.tau_ms[unit_idx];
    let jump = |weight: f64, post: usize, n_pre: usize| {
        params.g * weight / (params.indegree(n_pre) * params.f_max_hz * tau_s_ms(post) * 1e-3)
    };
    let delay_onto = |post: usize| {
        params
            .target_delay_ms
            .as_ref()
            .map_or(params.delay_ms, |delays| delays[post])
    };

    // One population per unit, with bias g b_i + mu_0 and tau_s = tau_i.
    let populations = (0..n_units)
        .map(|unit_idx| PopulationParams {
            n_neurons: params.n_neurons,
            neuron: params.neuron.clone(),
            synapse: SynapseModel::Exponential {
                tau_ms: tau_s_ms(unit_idx),
            },
            bias: params.g * rnn.b[unit_idx] + params.mu_0,
        })
        .collect();

    // Recurrent projections for every non-zero weight.
    let mut projections = Vec::new();
    for post in 0..n_units {
        for pre in 0..n_units {
            let weight = rnn.w[[post, pre]];
            if weight == 0.0 {
                continue;
            }
            projections.push(ProjectionParams {
                source: Source::Population(pre),
                target: post,
                weight: jump(weight, post, params.n_neurons),
                delay_ms: delay_onto(post),
                connectivity: params.simulator_connectivity(params.n_neurons),
            });
        }
    }

    // Poisson input populations, if inputs are spiking.
    let mut poisson_sources = Vec::new();
    if let InputMode::Poisson { n_neurons } = params.input_mode {
        poisson_sources = (0..n_inputs)
            .map(|_| PoissonSourceParams { n_neurons })
            .collect();
        for post in 0..n_units {
            for input_idx in 0..n_inputs {
                let weight = rnn.u[[post, input_idx]];
                if weight == 0.0 {
                    continue;
                }
                projections.push(ProjectionParams {
                    source: Source::Poisson(input_idx),
                    target: post,
                    weight: jump(weight, post, n_neurons),
                    delay_ms: delay_onto(post),
                    connectivity: params.simulator_connectivity(n_neurons),
                });
            }
        }
    }

    let network = Network::build(
        NetworkParams {
            dt_ms: params.dt_ms,
            populations,
            poisson_sources,
            projections,
        },
        rng,
    )?;
    Ok(Converted {
        params: params.clone(),
        rnn: rnn.clone(),
        network,
        substeps,
    })
}
