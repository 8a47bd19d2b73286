//! Description of a converted spiking network in the terms of NEST 3's standard models.
//!
//! [`NestNetwork::from_network`] maps every population, synapse and delay of an
//! [`iaf_sim::Network`] onto NEST models and parameters; [`nest_inputs`] maps a trial's inputs
//! onto NEST stimulation devices; [`trial_from_spikes`] turns spikes recorded in NEST back into
//! the read-out of [`run_trial`](crate::run_trial). This module only builds plain data: writing
//! the files and the PyNEST script is left to the caller.
//!
//! # Mapping
//! The normalised potential `V` becomes a membrane potential in mV, `V_nest = v_unit_mv V`,
//! with `E_L = 0`. The membrane equation `tau_m dV/dt = -V + I` becomes NEST's
//! `C_m dV/dt = -(C_m / tau_m) V + I_pA` when every current is scaled by
//!
//! ```text
//! pa_per_unit = C_m v_unit_mv / tau_m        (pF mV / ms = pA)
//! ```
//!
//! | this crate | NEST 3 | exact? |
//! |---|---|---|
//! | neuron, `Exponential { tau_ms }` synapses | `iaf_psc_exp`, `tau_syn_ex = tau_syn_in = tau_ms` | yes |
//! | `DiffOfExponentials { rise, decay }` | `iaf_psc_exp_multisynapse`, `tau_syn = [decay, rise]`, weights `+w s` on receptor 1, `-w s` on receptor 2, `s = decay / (decay - rise)` | yes |
//! | `Alpha { tau_ms }` | `iaf_psc_alpha`, weight `w / e` (NEST's alpha kernel peaks at its weight) | yes |
//! | `v_threshold`, `v_reset`, `t_ref_ms` | `V_th`, `V_reset`, `t_ref` (NEST also tests `V >= V_th` at the end of a step and keeps `V` at `V_reset` for `t_ref / h` steps) | yes |
//! | weight `J` | `J pa_per_unit` pA | yes |
//! | bias | `I_e = bias pa_per_unit` | yes |
//! | `D` delay steps | delay `(D - 1) h`, at least `h` | yes for `D >= 2` |
//! | Ornstein-Uhlenbeck membrane noise | `noise_generator` with `dt = h` | equal statistics on the grid |
//! | injected input currents | `I_e` for the first input row, `step_current_generator` for changes | yes |
//! | Poisson sources | `inhomogeneous_poisson_generator` into `parrot_neuron`s | one step lost at the start |
//! | initial synaptic current `I_0` | one `spike_generator` spike at `h`, weight `I_0 exp(-2 h / tau_s)` (`iaf_psc_exp` only) | from `2 h` on |
//! | initial potentials uniform in `[v_reset, v_threshold)` | `nest.random.uniform` | same distribution, other draws |
//!
//! Details of each line:
//! - **Delays.** This simulator adds a spike emitted in step `s` at the start of step `s + D`.
//!   NEST stamps that spike `t_s` and adds it to the synaptic current at the end of the step
//!   ending at `t_s + d`, one step later for `d = D h`. A NEST delay of `(D - 1) h` therefore
//!   reproduces the timing exactly; `D = 1` cannot be expressed and becomes `h`, one step late
//!   ([`NestNetwork::n_late_synapses`] counts such synapses).
//! - **Noise.** The exact Ornstein-Uhlenbeck increment sampled at the grid points is the
//!   autoregression `V_{n+1} = a V_n + e_n`, `a = exp(-h / tau_m)`, with stationary variance
//!   `sigma_v^2 / 2`. A current held constant over each step with standard deviation `s` gives
//!   the same autoregression with variance `(s tau_m / C_m)^2 tanh(h / (2 tau_m))`, so
//!   `s = C_m v_unit_mv sigma_v / (tau_m sqrt(2 tanh(h / (2 tau_m))))` reproduces the grid
//!   statistics exactly. Within a step the membrane path differs (smooth instead of rough), which
//!   matters nowhere because both simulators test the threshold only at grid points. The
//!   generator's current reaches the membrane two steps after the start, so the first two steps
//!   of a NEST run are noiseless.
//! - **Input currents.** A `step_current_generator` amplitude stamped at step `A` and sent with
//!   delay `h` drives the membrane from step `A + 1` on; the input row `n` of a continuous step
//!   of `k` simulation steps is therefore stamped at `(n k - 1) h`. Row 0 cannot be stamped
//!   earlier than the start, so it is added to `I_e`, and the generator carries the difference
//!   from row 0.
//! - **Poisson inputs.** Each source becomes one `inhomogeneous_poisson_generator` feeding its
//!   own `parrot_neuron`s (one independent train per parrot), whose spikes fan out through the
//!   drawn synapses. The parrot adds one step, so the rate of row `n >= 1` is stamped at `n k h`
//!   and row 0 at `h`; the first simulation step of a trial gets no Poisson input.
//! - **Initial state.** Potentials come from NEST's own random numbers, so individual trials
//!   differ from this simulator's, but not their distribution. NEST 3.10 does not let a script
//!   set the synaptic current of `iaf_psc_exp`, so a spike stamped `h` and delivered after
//!   `h` adds it at the end of the second step, scaled by `exp(-2 h / tau_s)` to equal this
//!   simulator's current from then on; over the first two steps (0.2 ms at `h = 0.1` ms) the
//!   membrane misses it. NOTE: NEST's other two models start without synaptic current, because
//!   one spike cannot give their two-state kernels the flat start this simulator uses; the
//!   conversion in this crate builds only exponential synapses.

use std::f64::consts::E;

use iaf_sim::{Network, NeuronParams, SpikeRecord, SynapseModel};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::network::{Converted, InputMode};
use crate::trials::{check_inputs, SpikingTrial, PSTH_BIN_MS};
use crate::{check_positive, Error};

/// Physical scale of the exported network.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `c_m_pf` | 250 pF | membrane capacitance of every NEST neuron |
/// | `v_unit_mv` | 1 mV | membrane potential equal to 1 of the normalised potential |
///
/// Any positive values give the same spikes; they only set the units of the NEST parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NestUnits {
    /// Membrane capacitance (pF).
    pub c_m_pf: f64,
    /// Potential per unit of the normalised potential (mV).
    pub v_unit_mv: f64,
}

impl Default for NestUnits {
    fn default() -> Self {
        NestUnits {
            c_m_pf: 250.0,
            v_unit_mv: 1.0,
        }
    }
}

impl NestUnits {
    /// Checks that both scales are finite and positive.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        check_positive("c_m_pf", self.c_m_pf)?;
        check_positive("v_unit_mv", self.v_unit_mv)
    }

    /// Returns the NEST current (pA) equal to a normalised current of 1 at membrane
    /// time constant `tau_m_ms`: `C_m v_unit / tau_m`.
    pub fn pa_per_unit(&self, tau_m_ms: f64) -> f64 {
        self.c_m_pf * self.v_unit_mv / tau_m_ms
    }
}

/// NEST synapse dynamics of one population, with the weights of one synapse per receptor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NestSynapse {
    /// `iaf_psc_exp`: jump by the weight, decay with `tau_syn_ms`.
    Exp {
        /// `tau_syn_ex` and `tau_syn_in` (ms).
        tau_syn_ms: f64,
    },
    /// `iaf_psc_exp_multisynapse` with receptor 1 decaying with `tau_syn_ms[0]` (the decay
    /// time) and receptor 2 with `tau_syn_ms[1]` (the rise time).
    ExpMultisynapse {
        /// `tau_syn` (ms), decay then rise.
        tau_syn_ms: [f64; 2],
        /// Factor `decay / (decay - rise)` applied to the weight on both receptors.
        scale: f64,
    },
    /// `iaf_psc_alpha`, whose kernel `w (e t / tau) exp(-t / tau)` peaks at its weight.
    Alpha {
        /// `tau_syn_ex` and `tau_syn_in` (ms).
        tau_syn_ms: f64,
    },
}

/// Smallest `(decay - rise) / decay` of a difference of exponentials that the two-receptor
/// form accepts; closer time constants would cancel two large currents.
pub const MIN_RELATIVE_TAU_GAP: f64 = 1e-3;

impl NestSynapse {
    /// Maps a synapse model of this simulator onto NEST.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when a difference of exponentials has rise and decay times
    /// closer than [`MIN_RELATIVE_TAU_GAP`] relative to the decay time; the alpha kernel is
    /// its limit and maps exactly.
    pub fn from_model(model: &SynapseModel) -> Result<NestSynapse, Error> {
        match *model {
            SynapseModel::Exponential { tau_ms } => Ok(NestSynapse::Exp { tau_syn_ms: tau_ms }),
            SynapseModel::Alpha { tau_ms } => Ok(NestSynapse::Alpha { tau_syn_ms: tau_ms }),
            SynapseModel::DiffOfExponentials { rise_ms, decay_ms } => {
                let gap = (decay_ms - rise_ms) / decay_ms;
                if gap.is_nan() || gap < MIN_RELATIVE_TAU_GAP {
                    return Err(Error::InvalidParameter {
                        name: "rise_ms",
                        value: rise_ms,
                        expected: "a rise time at least 0.1 % below the decay time for NEST's two-receptor form; use SynapseModel::Alpha for equal times",
                    });
                }
                Ok(NestSynapse::ExpMultisynapse {
                    tau_syn_ms: [decay_ms, rise_ms],
                    scale: decay_ms / (decay_ms - rise_ms),
                })
            }
        }
    }

    /// Returns the NEST model name.
    pub fn model_name(&self) -> &'static str {
        match self {
            NestSynapse::Exp { .. } => "iaf_psc_exp",
            NestSynapse::ExpMultisynapse { .. } => "iaf_psc_exp_multisynapse",
            NestSynapse::Alpha { .. } => "iaf_psc_alpha",
        }
    }

    /// Returns the `(receptor_type, weight_pa)` of the NEST connections that stand for one
    /// synapse of weight `weight_pa` (already scaled to pA); receptor 0 is NEST's default port.
    pub fn receptor_weights(&self, weight_pa: f64) -> Vec<(u32, f64)> {
        match *self {
            NestSynapse::Exp { .. } => vec![(0, weight_pa)],
            NestSynapse::ExpMultisynapse { scale, .. } => {
                vec![(1, weight_pa * scale), (2, -weight_pa * scale)]
            }
            NestSynapse::Alpha { .. } => vec![(0, weight_pa / E)],
        }
    }

    /// Returns the current (pA) of NEST's kernel for a spike of weight `weight_pa` at time
    /// `t_ms >= 0` after its arrival, as NEST's model defines it.
    pub fn kernel_pa(&self, weight_pa: f64, t_ms: f64) -> f64 {
        let receptors = self.receptor_weights(weight_pa);
        match *self {
            NestSynapse::Exp { tau_syn_ms } => receptors[0].1 * (-t_ms / tau_syn_ms).exp(),
            NestSynapse::ExpMultisynapse { tau_syn_ms, .. } => receptors
                .iter()
                .zip(tau_syn_ms)
                .map(|((_, w), tau)| w * (-t_ms / tau).exp())
                .sum(),
            NestSynapse::Alpha { tau_syn_ms } => {
                receptors[0].1 * E * t_ms / tau_syn_ms * (-t_ms / tau_syn_ms).exp()
            }
        }
    }
}

/// One population as NEST neurons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NestPopulation {
    /// NEST model name.
    pub model: String,
    /// Number of neurons.
    pub n_neurons: usize,
    /// Index of the first neuron in the network's global numbering.
    pub first_neuron: usize,
    /// `C_m` (pF).
    pub c_m_pf: f64,
    /// `tau_m` (ms).
    pub tau_m_ms: f64,
    /// `t_ref` (ms), `round(t_ref / h) h` of the original.
    pub t_ref_ms: f64,
    /// `E_L` (mV), always 0.
    pub e_l_mv: f64,
    /// `V_reset` (mV).
    pub v_reset_mv: f64,
    /// `V_th` (mV).
    pub v_th_mv: f64,
    /// `I_e` (pA): the bias current.
    pub i_e_pa: f64,
    /// Synapse dynamics.
    pub synapse: NestSynapse,
    /// Standard deviation of the `noise_generator` current (pA), changing every step.
    pub noise_std_pa: f64,
    /// Current per normalised unit (pA).
    pub pa_per_unit: f64,
}

/// Every synapse as NEST connections, in parallel arrays.
///
/// Presynaptic indices count the population neurons first and then the neurons of every
/// Poisson source, as [`Network`] does; postsynaptic indices are population neurons.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NestConnections {
    /// Presynaptic neuron.
    pub pre: Vec<u32>,
    /// Postsynaptic neuron.
    pub post: Vec<u32>,
    /// Weight (pA).
    pub weight_pa: Vec<f64>,
    /// Delay (ms), a whole number of resolution steps.
    pub delay_ms: Vec<f64>,
    /// Receptor port (0 unless the target is `iaf_psc_exp_multisynapse`).
    pub receptor: Vec<u32>,
}

impl NestConnections {
    /// Returns the number of connections.
    pub fn len(&self) -> usize {
        self.pre.len()
    }

    /// Returns whether there is no connection.
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty()
    }
}

/// A whole network in NEST terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NestNetwork {
    /// Simulation resolution `h` (ms).
    pub resolution_ms: f64,
    /// Neuron populations.
    pub populations: Vec<NestPopulation>,
    /// Size of each Poisson source.
    pub poisson_sources: Vec<usize>,
    /// Every synapse.
    pub connections: NestConnections,
    /// Synapses of one delay step, which NEST delivers one step later than this simulator.
    pub n_late_synapses: usize,
    /// Physical scale.
    pub units: NestUnits,
}

/// Returns the standard deviation (pA) of a `noise_generator` current, changing every step of
/// `dt_ms`, that gives the membrane the grid statistics of the Ornstein-Uhlenbeck noise of
/// `neuron`: `C_m v_unit sigma_v / (tau_m sqrt(2 tanh(dt / (2 tau_m))))`.
pub fn noise_std_pa(neuron: &NeuronParams, dt_ms: f64, units: &NestUnits) -> f64 {
    let tanh = (dt_ms / (2.0 * neuron.tau_m_ms)).tanh();
    units.pa_per_unit(neuron.tau_m_ms) * neuron.sigma_v / (2.0 * tanh).sqrt()
}

/// Returns the NEST delay in steps that reproduces a delay of `delay_steps` of this simulator:
/// `delay_steps - 1`, at least 1.
pub fn nest_delay_steps(delay_steps: u32) -> u32 {
    delay_steps.saturating_sub(1).max(1)
}

impl NestNetwork {
    /// Maps every population and synapse of `network` onto NEST.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for invalid `units` or a synapse model NEST cannot express
    /// (see [`NestSynapse::from_model`]).
    pub fn from_network(network: &Network, units: &NestUnits) -> Result<NestNetwork, Error> {
        units.validate()?;
        let params = network.params();
        let dt_ms = params.dt_ms;

        // Populations.
        let mut populations = Vec::with_capacity(params.populations.len());
        for (pop, population) in params.populations.iter().enumerate() {
            let neuron = &population.neuron;
            let pa_per_unit = units.pa_per_unit(neuron.tau_m_ms);
            let synapse = NestSynapse::from_model(&population.synapse)?;
            populations.push(NestPopulation {
                model: synapse.model_name().to_string(),
                n_neurons: population.n_neurons,
                first_neuron: network.population_range(pop).start,
                c_m_pf: units.c_m_pf,
                tau_m_ms: neuron.tau_m_ms,
                t_ref_ms: f64::from(network.refractory_steps(pop)) * dt_ms,
                e_l_mv: 0.0,
                v_reset_mv: neuron.v_reset * units.v_unit_mv,
                v_th_mv: neuron.v_threshold * units.v_unit_mv,
                i_e_pa: population.bias * pa_per_unit,
                synapse,
                noise_std_pa: noise_std_pa(neuron, dt_ms, units),
                pa_per_unit,
            });
        }

        // Connections, presynaptic neuron by presynaptic neuron.
        let mut connections = NestConnections::default();
        let mut n_late_synapses = 0;
        let sources = (0..params.populations.len())
            .map(|pop| {
                let n = params.populations[pop].n_neurons;
                (iaf_sim::Source::Population(pop), n)
            })
            .chain(
                params
                    .poisson_sources
                    .iter()
                    .enumerate()
                    .map(|(src, p)| (iaf_sim::Source::Poisson(src), p.n_neurons)),
            );
        let mut pre_idx = 0u32;
        for (source, n_neurons) in sources {
            for neuron in 0..n_neurons {
                for synapse in network.outgoing_synapses(source, neuron) {
                    let target_pop = populations
                        .partition_point(|p| p.first_neuron <= synapse.target as usize)
                        - 1;
                    let target = &populations[target_pop];
                    if synapse.delay_steps < 2 {
                        n_late_synapses += 1;
                    }
                    let delay_ms = f64::from(nest_delay_steps(synapse.delay_steps)) * dt_ms;
                    let weight_pa = synapse.weight * target.pa_per_unit;
                    for (receptor, weight) in target.synapse.receptor_weights(weight_pa) {
                        connections.pre.push(pre_idx);
                        connections.post.push(synapse.target);
                        connections.weight_pa.push(weight);
                        connections.delay_ms.push(delay_ms);
                        connections.receptor.push(receptor);
                    }
                }
                pre_idx += 1;
            }
        }
        if n_late_synapses > 0 {
            tracing::warn!(
                n_late_synapses,
                "synapses of one delay step arrive one step later in NEST"
            );
        }

        Ok(NestNetwork {
            resolution_ms: dt_ms,
            populations,
            poisson_sources: params.poisson_sources.iter().map(|p| p.n_neurons).collect(),
            connections,
            n_late_synapses,
            units: units.clone(),
        })
    }
}

/// External input of one trial as NEST devices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NestInputs {
    /// One `step_current_generator` per population.
    StepCurrents {
        /// `I_e` of each population (pA): bias plus the input of row 0.
        i_e_pa: Vec<f64>,
        /// `amplitude_times` (ms), shared by all generators.
        times_ms: Vec<f64>,
        /// `amplitude_values` (pA), shape `(n_times, n_populations)`: the input current minus
        /// that of row 0.
        amplitudes_pa: Array2<f64>,
    },
    /// One `inhomogeneous_poisson_generator` per Poisson source.
    PoissonRates {
        /// `rate_times` (ms), shared by all generators.
        times_ms: Vec<f64>,
        /// `rate_values` (Hz), shape `(n_times, n_sources)`.
        rates_hz: Array2<f64>,
    },
}

/// Maps the inputs of one trial (shape `(n_steps, n_inputs)`, row `n` held over continuous
/// step `n`) onto NEST devices with the timing described in the module documentation.
///
/// # Errors
/// [`Error::Shape`] for a wrong number of input columns or a continuous step of fewer than 2
/// simulation steps (NEST then cannot stamp the changes in time), [`Error::InvalidParameter`]
/// for non-finite or, with Poisson inputs, negative values.
pub fn nest_inputs(
    converted: &Converted,
    network: &NestNetwork,
    inputs: ArrayView2<f64>,
) -> Result<NestInputs, Error> {
    let rnn = &converted.rnn;
    let params = &converted.params;
    check_inputs(converted, inputs)?;
    let substeps = converted.substeps;
    if substeps < 2 {
        return Err(Error::Shape(format!(
            "a continuous step of {substeps} simulation step cannot be stamped in NEST; use a simulation time step at most half the continuous one"
        )));
    }
    let h = params.dt_ms;
    let n_rows = inputs.nrows();

    match params.input_mode {
        InputMode::Injected => {
            // Input current of every row and population (pA).
            let n_pops = network.populations.len();
            let current = Array2::from_shape_fn((n_rows, n_pops), |(row, pop)| {
                params.g
                    * rnn.u.row(pop).dot(&inputs.row(row))
                    * network.populations[pop].pa_per_unit
            });
            let i_e_pa = (0..n_pops)
                .map(|pop| {
                    let first = if n_rows > 0 { current[[0, pop]] } else { 0.0 };
                    network.populations[pop].i_e_pa + first
                })
                .collect();

            // Row n >= 1 drives the membrane from simulation step n k + 1 on.
            let changed: Vec<usize> = (1..n_rows)
                .filter(|&row| current.row(row) != current.row(row - 1))
                .collect();
            let times_ms = changed
                .iter()
                .map(|&row| (row * substeps - 1) as f64 * h)
                .collect();
            let amplitudes_pa = Array2::from_shape_fn((changed.len(), n_pops), |(i, pop)| {
                current[[changed[i], pop]] - current[[0, pop]]
            });
            Ok(NestInputs::StepCurrents {
                i_e_pa,
                times_ms,
                amplitudes_pa,
            })
        }
        InputMode::Poisson { .. } => {
            // Through the parrot, a rate stamped at step A drives spikes delivered as if
            // emitted in step A + 1 of this simulator.
            let times_ms = (0..n_rows)
                .map(|row| {
                    if row == 0 {
                        h
                    } else {
                        (row * substeps) as f64 * h
                    }
                })
                .collect();
            let rates_hz = inputs.mapv(|u| params.f_max_hz * u);
            Ok(NestInputs::PoissonRates { times_ms, rates_hz })
        }
    }
}

/// Returns, for every population, the weight (pA) of the spike at `h` that sets the initial
/// synaptic current `I_0 = g sum_j W_ij y_j(0)` of [`run_trial`](crate::run_trial):
/// `I_0 exp(-2 h / tau_s)` for `iaf_psc_exp`, 0 for the other models (see the module
/// documentation).
pub fn initial_current_spike_weights_pa(converted: &Converted, network: &NestNetwork) -> Vec<f64> {
    let rnn = &converted.rnn;
    let h = network.resolution_ms;
    network
        .populations
        .iter()
        .enumerate()
        .map(|(post, pop)| match pop.synapse {
            NestSynapse::Exp { tau_syn_ms } => {
                let current = converted.params.g * rnn.w.row(post).dot(&rnn.y0);
                current * pop.pa_per_unit * (-2.0 * h / tau_syn_ms).exp()
            }
            _ => 0.0,
        })
        .collect()
}

/// Builds the read-out and PSTH of a trial of `n_steps` continuous steps from its spikes, with
/// the filter of [`run_trial`](crate::run_trial), so that spikes recorded in another simulator
/// are scored exactly as this crate scores its own.
///
/// # Errors
/// [`Error::Shape`] when a spike names a neuron outside the network or a step beyond the trial.
pub fn trial_from_spikes(
    converted: &Converted,
    record: &SpikeRecord,
    n_steps: usize,
) -> Result<SpikingTrial, Error> {
    let rnn = &converted.rnn;
    let params = &converted.params;
    let network = &converted.network;
    let n_units = rnn.n_units();
    let substeps = converted.substeps;
    let n_sim_steps = n_steps * substeps;

    // Spike counts per simulation step and population.
    let mut counts = Array2::<f64>::zeros((n_sim_steps, n_units));
    let pop_starts: Vec<usize> = (0..n_units)
        .map(|pop| network.population_range(pop).start)
        .collect();
    for (&step, &neuron) in record.steps.iter().zip(&record.neurons) {
        if neuron as usize >= network.n_neurons() || step == 0 || step as usize > n_sim_steps {
            return Err(Error::Shape(format!(
                "spike of neuron {neuron} in step {step} lies outside the network of {} neurons and steps 1..={n_sim_steps}",
                network.n_neurons()
            )));
        }
        let pop = pop_starts.partition_point(|&start| start <= neuron as usize) - 1;
        counts[[step as usize - 1, pop]] += 1.0;
    }

    // Exponential filter sampled at every continuous step, as in run_trial.
    let mut readout = Array2::zeros((n_steps + 1, n_units));
    readout.row_mut(0).assign(&rnn.y0);
    let bin_steps = ((PSTH_BIN_MS / params.dt_ms).round() as usize).max(1);
    let n_bins = n_sim_steps / bin_steps;
    let mut psth_hz = Array2::zeros((n_bins, n_units));
    let bin_scale = 1.0 / (params.n_neurons as f64 * bin_steps as f64 * params.dt_ms * 1e-3);
    for unit in 0..n_units {
        let tau_ms = rnn.config.tau_ms[unit];
        let decay = (-params.dt_ms / tau_ms).exp();
        let spike_weight = 1.0 / (params.n_neurons as f64 * params.f_max_hz * tau_ms * 1e-3);
        let mut filtered = rnn.y0[unit];
        for sim_step in 0..n_sim_steps {
            let count = counts[[sim_step, unit]];
            filtered = filtered * decay + count * spike_weight;
            if sim_step / bin_steps < n_bins {
                psth_hz[[sim_step / bin_steps, unit]] += count * bin_scale;
            }
            if (sim_step + 1) % substeps == 0 {
                readout[[(sim_step + 1) / substeps, unit]] = filtered;
            }
        }
    }
    Ok(SpikingTrial {
        readout,
        psth_hz,
        spikes: Some(record.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_receptor_kernel_matches_original() {
        // Rise 0.8 ms, decay 3.2 ms: the original kernel J c (e^{-t/3.2} - e^{-t/0.8}) with
        // c = 3.2 / 2.4 has area J 3.2 ms and starts at 0. The NEST form, integrated with the
        // trapezoid rule on 0..80 ms in 1e-4 ms steps (tail e^{-25} and rule error below 1e-8
        // relative), must match both and the original at every sampled time.
        let nest = NestSynapse::from_model(&SynapseModel::FETZ_LAB_PSP).unwrap();
        let weight = 2.0;
        let h = 1e-4;
        let n = 800_000;
        let mut area = 0.0;
        for i in 0..n {
            let (a, b) = (i as f64 * h, (i + 1) as f64 * h);
            area += 0.5 * h * (nest.kernel_pa(weight, a) + nest.kernel_pa(weight, b));
        }
        assert!((area - weight * 3.2).abs() <= 1e-7 * weight * 3.2, "{area}");
        assert!(nest.kernel_pa(weight, 0.0).abs() <= 1e-12);
        let c = 3.2 / 2.4;
        for t in [0.1, 1.48, 5.0] {
            let original = weight * c * ((-t / 3.2f64).exp() - (-t / 0.8f64).exp());
            assert!((nest.kernel_pa(weight, t) - original).abs() <= 1e-12);
        }
    }

    #[test]
    fn alpha_kernel_peaks_at_weight_over_e() {
        // The original alpha kernel J (t/tau) e^{-t/tau} peaks at J / e at t = tau.
        let nest = NestSynapse::from_model(&SynapseModel::Alpha { tau_ms: 2.0 }).unwrap();
        let peak = nest.kernel_pa(1.0, 2.0);
        assert!((peak - 1.0 / E).abs() <= 1e-12);
    }

    #[test]
    fn near_equal_rise_and_decay_rejected() {
        let model = SynapseModel::DiffOfExponentials {
            rise_ms: 3.1999,
            decay_ms: 3.2,
        };
        assert!(matches!(
            NestSynapse::from_model(&model),
            Err(Error::InvalidParameter {
                name: "rise_ms",
                ..
            })
        ));
    }

    #[test]
    fn weight_scale_is_capacitance_over_tau() {
        // 250 pF, 1 mV per unit, tau_m 10 ms: 25 pA per unit.
        let units = NestUnits::default();
        assert_eq!(units.pa_per_unit(10.0), 25.0);
        let units = NestUnits {
            c_m_pf: 100.0,
            v_unit_mv: 20.0,
        };
        assert_eq!(units.pa_per_unit(10.0), 200.0);
    }

    #[test]
    fn noise_matches_membrane_variance() {
        // The membrane under a current held over steps of h with SD s has stationary variance
        // (s tau / C)^2 (1 - a) / (1 + a), a = e^{-h/tau}; it must equal sigma_v^2 / 2 in mV^2.
        let neuron = NeuronParams::default();
        let units = NestUnits::default();
        let h = 0.1;
        let s = noise_std_pa(&neuron, h, &units);
        let a = (-h / neuron.tau_m_ms).exp();
        let gain = neuron.tau_m_ms / units.c_m_pf;
        let variance = (s * gain).powi(2) * (1.0 - a) / (1.0 + a);
        assert!((variance - 0.5).abs() <= 1e-12, "{variance}");
    }

    #[test]
    fn delays_shift_by_one_step() {
        assert_eq!(nest_delay_steps(30), 29);
        assert_eq!(nest_delay_steps(2), 1);
        assert_eq!(nest_delay_steps(1), 1);
    }
}
