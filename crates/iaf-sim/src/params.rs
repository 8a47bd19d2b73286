//! Parameter structs of neurons, synapses, populations, projections and networks.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Leaky integrate-and-fire neuron with a normalised membrane potential.
///
/// The potential `V` rests at 0 and obeys
///
/// ```text
/// tau_m dV/dt = -V + I_syn + I_bias + I_inj + sigma_v sqrt(tau_m) xi(t)
/// ```
///
/// with `xi` unit Gaussian white noise, so a free membrane driven by a constant mean `mu` has
/// mean `mu` and variance `sigma_v^2 / 2`. When `V >= v_threshold` at the end of a time step the
/// neuron spikes, `V` is reset to `v_reset` and held there for the refractory period.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `tau_m_ms` | 10 ms | membrane time constant |
/// | `t_ref_ms` | 8 ms | absolute refractory period, from one time step to `u32::MAX` steps |
/// | `v_threshold` | 1 | spike threshold (dimensionless) |
/// | `v_reset` | 0 | reset potential (dimensionless) |
/// | `sigma_v` | 1 | noise amplitude; free-membrane SD is `sigma_v / sqrt(2)` |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronParams {
    /// Membrane time constant (ms).
    pub tau_m_ms: f64,
    /// Refractory period (ms).
    pub t_ref_ms: f64,
    /// Spike threshold.
    pub v_threshold: f64,
    /// Reset potential.
    pub v_reset: f64,
    /// Noise amplitude.
    pub sigma_v: f64,
}

impl Default for NeuronParams {
    fn default() -> Self {
        NeuronParams {
            tau_m_ms: 10.0,
            t_ref_ms: 8.0,
            v_threshold: 1.0,
            v_reset: 0.0,
            sigma_v: 1.0,
        }
    }
}

impl NeuronParams {
    /// Checks the parameters for use at time step `dt_ms`; `pop` only labels the error.
    pub fn validate(&self, dt_ms: f64, pop: usize) -> Result<(), Error> {
        check_time_step(dt_ms)?;
        check_time_constant(pop, "tau_m_ms", self.tau_m_ms)?;
        if dt_ms >= self.tau_m_ms {
            return Err(Error::TimeStepNotBelowMembraneTau {
                pop,
                dt_ms,
                tau_m_ms: self.tau_m_ms,
            });
        }
        if !(self.t_ref_ms.is_finite() && self.t_ref_ms >= dt_ms) {
            return Err(Error::InvalidRefractoryPeriod {
                pop,
                t_ref_ms: self.t_ref_ms,
                dt_ms,
            });
        }
        if refractory_steps(self.t_ref_ms, dt_ms).is_none() {
            return Err(Error::RefractoryPeriodTooLong {
                pop,
                t_ref_ms: self.t_ref_ms,
                dt_ms,
                max_steps: MAX_STEPS,
            });
        }
        let finite = self.v_threshold.is_finite() && self.v_reset.is_finite();
        if !(finite && self.v_threshold > self.v_reset) {
            return Err(Error::InvalidThreshold {
                pop,
                v_threshold: self.v_threshold,
                v_reset: self.v_reset,
            });
        }
        if !(self.sigma_v.is_finite() && self.sigma_v >= 0.0) {
            return Err(Error::InvalidNoise {
                pop,
                sigma_v: self.sigma_v,
            });
        }
        Ok(())
    }
}

/// Postsynaptic current kernel `K(t)` evoked by one spike of weight `J`.
///
/// Every kernel is normalised so that its time integral is `J * tau_area`, with `tau_area` the
/// value returned by [`SynapseModel::tau_area_ms`]. A presynaptic spike train of rate `r`
/// therefore gives the same mean synaptic current `J * r * tau_area` under every model, and the
/// models differ only in how they filter fluctuations.
///
/// | variant | kernel `K(t)`, `t >= 0` | `tau_area` | peak |
/// |---|---|---|---|
/// | `Exponential` | `J exp(-t/tau)` | `tau_ms` | `J` at 0 |
/// | `DiffOfExponentials` | `J c (exp(-t/decay) - exp(-t/rise))` | `decay_ms` | see below |
/// | `Alpha` | `J (t/tau) exp(-t/tau)` | `tau_ms` | `J/e` at `tau` |
///
/// with `c = decay / (decay - rise)`. For rise 0.8 ms and decay 3.2 ms the difference of
/// exponentials peaks at `0.63 J` after 1.48 ms.
///
/// The default is `Exponential { tau_ms: 20.0 }`, equal to the time constant of the continuous
/// units being converted. [`SynapseModel::FETZ_LAB_PSP`] is the difference of exponentials with
/// rise 0.8 ms and decay 3.2 ms used by the Fetz laboratory for postsynaptic potentials.
///
/// The two-state kernels are simulated as a cascade: a spike adds `J / rise` to a rise state `x`
/// (`J / tau` for `Alpha`), which decays with the rise time and feeds the current,
/// `dI_syn/dt = -I_syn/decay + x`. With `rise_ms == decay_ms` the difference of exponentials
/// becomes the alpha kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SynapseModel {
    /// Instantaneous jump `J`, exponential decay with `tau_ms`.
    Exponential {
        /// Decay time constant (ms).
        tau_ms: f64,
    },
    /// Difference of exponentials with rise time `rise_ms <= decay_ms`.
    DiffOfExponentials {
        /// Rise time constant (ms).
        rise_ms: f64,
        /// Decay time constant (ms).
        decay_ms: f64,
    },
    /// Alpha function peaking at `tau_ms`.
    Alpha {
        /// Time constant (ms).
        tau_ms: f64,
    },
}

impl Default for SynapseModel {
    fn default() -> Self {
        SynapseModel::Exponential { tau_ms: 20.0 }
    }
}

impl SynapseModel {
    /// Difference of exponentials with rise 0.8 ms and decay 3.2 ms.
    pub const FETZ_LAB_PSP: SynapseModel = SynapseModel::DiffOfExponentials {
        rise_ms: 0.8,
        decay_ms: 3.2,
    };

    /// Returns the time integral of the kernel per unit weight (ms).
    pub fn tau_area_ms(&self) -> f64 {
        match *self {
            SynapseModel::Exponential { tau_ms } => tau_ms,
            SynapseModel::DiffOfExponentials { decay_ms, .. } => decay_ms,
            SynapseModel::Alpha { tau_ms } => tau_ms,
        }
    }

    /// Returns `(rise_ms, decay_ms)` of a two-state kernel, `None` for `Exponential`.
    pub(crate) fn rise_and_decay_ms(&self) -> Option<(f64, f64)> {
        match *self {
            SynapseModel::Exponential { .. } => None,
            SynapseModel::DiffOfExponentials { rise_ms, decay_ms } => Some((rise_ms, decay_ms)),
            SynapseModel::Alpha { tau_ms } => Some((tau_ms, tau_ms)),
        }
    }

    /// Checks the time constants; `pop` only labels the error.
    pub fn validate(&self, pop: usize) -> Result<(), Error> {
        match *self {
            SynapseModel::Exponential { tau_ms } | SynapseModel::Alpha { tau_ms } => {
                check_time_constant(pop, "tau_ms", tau_ms)
            }
            SynapseModel::DiffOfExponentials { rise_ms, decay_ms } => {
                check_time_constant(pop, "rise_ms", rise_ms)?;
                check_time_constant(pop, "decay_ms", decay_ms)?;
                if rise_ms > decay_ms {
                    return Err(Error::RiseAboveDecay {
                        pop,
                        rise_ms,
                        decay_ms,
                    });
                }
                Ok(())
            }
        }
    }
}

/// A population of identical neurons sharing one synapse model and one bias current.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `n_neurons` | 100 | number of neurons |
/// | `neuron` | [`NeuronParams::default`] | neuron model |
/// | `synapse` | exponential, 20 ms | kernel of every synapse onto this population |
/// | `bias` | 0 | constant current `I_bias` added to every neuron's drive |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationParams {
    /// Number of neurons.
    pub n_neurons: usize,
    /// Neuron model.
    pub neuron: NeuronParams,
    /// Kernel of the synapses onto this population.
    pub synapse: SynapseModel,
    /// Constant bias current `I_bias`.
    pub bias: f64,
}

impl Default for PopulationParams {
    fn default() -> Self {
        PopulationParams {
            n_neurons: 100,
            neuron: NeuronParams::default(),
            synapse: SynapseModel::default(),
            bias: 0.0,
        }
    }
}

/// Rule for drawing the synapses of a projection.
///
/// Self-connections (autapses) are allowed under every rule when a population projects onto
/// itself, so that a neuron's own spikes count in its population's recurrent input exactly as the
/// self-weight of a continuous unit counts its own activity.
///
/// `FixedIndegree { k: 0 }` and `Bernoulli { p: 0.0 }` are both valid and give a projection
/// without synapses. Its delay still counts towards the longest delay of the network.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Connectivity {
    /// Every postsynaptic neuron receives from exactly `k` distinct presynaptic neurons chosen
    /// uniformly at random, `0 <= k <= n_pre`.
    FixedIndegree {
        /// In-degree.
        k: usize,
    },
    /// Every pair is connected independently with probability `p` in [0, 1].
    Bernoulli {
        /// Connection probability.
        p: f64,
    },
    /// Every pair is connected.
    AllToAll,
}

/// Presynaptic side of a projection: a population of neurons or a Poisson source, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// Index into [`NetworkParams::populations`].
    Population(usize),
    /// Index into [`NetworkParams::poisson_sources`].
    Poisson(usize),
}

/// Synapses of one weight and one delay from a source onto a population.
///
/// | name | meaning |
/// |---|---|
/// | `source` | presynaptic population or Poisson source |
/// | `target` | postsynaptic population index |
/// | `weight` | synaptic weight `J`, the kernel scale of the target's synapse model |
/// | `delay_ms` | delay, rounded to `round(delay_ms / dt_ms)` steps, from 1 to `u32::MAX` |
/// | `connectivity` | rule for drawing the synapses |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionParams {
    /// Presynaptic source.
    pub source: Source,
    /// Postsynaptic population index.
    pub target: usize,
    /// Synaptic weight `J`.
    pub weight: f64,
    /// Transmission delay (ms).
    pub delay_ms: f64,
    /// Wiring rule.
    pub connectivity: Connectivity,
}

/// A group of independent Poisson spike generators sharing one rate.
///
/// The rate is set on the running simulation with
/// [`Simulation::set_poisson_rate`](crate::Simulation::set_poisson_rate); it starts at 0 Hz.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoissonSourceParams {
    /// Number of generators (default 100).
    pub n_neurons: usize,
}

impl Default for PoissonSourceParams {
    fn default() -> Self {
        PoissonSourceParams { n_neurons: 100 }
    }
}

/// Everything needed to draw a [`Network`](crate::Network).
///
/// | name | default | meaning |
/// |---|---|---|
/// | `dt_ms` | 0.1 ms | time step |
/// | `populations` | empty | neuron populations, concatenated in this order |
/// | `poisson_sources` | empty | Poisson input groups |
/// | `projections` | empty | synapses between them |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkParams {
    /// Time step (ms).
    pub dt_ms: f64,
    /// Neuron populations.
    pub populations: Vec<PopulationParams>,
    /// Poisson sources.
    pub poisson_sources: Vec<PoissonSourceParams>,
    /// Projections.
    pub projections: Vec<ProjectionParams>,
}

impl Default for NetworkParams {
    fn default() -> Self {
        NetworkParams {
            dt_ms: 0.1,
            populations: Vec::new(),
            poisson_sources: Vec::new(),
            projections: Vec::new(),
        }
    }
}

/// Largest total number of neurons, so that every index fits the `u32` of a spike record.
pub(crate) const MAX_NEURONS: usize = u32::MAX as usize;

impl NetworkParams {
    /// Checks every parameter; [`Network::build`](crate::Network::build) calls this first.
    pub fn validate(&self) -> Result<(), Error> {
        validate_populations(self.dt_ms, &self.populations)?;
        for (source_idx, source) in self.poisson_sources.iter().enumerate() {
            if source.n_neurons == 0 {
                return Err(Error::EmptyPoissonSource { source_idx });
            }
        }
        let poisson_sizes = self.poisson_sources.iter().map(|p| p.n_neurons);
        check_total(poisson_sizes, "the poisson sources")?;
        for (projection, params) in self.projections.iter().enumerate() {
            self.validate_projection(projection, params)?;
        }
        Ok(())
    }

    /// Returns the number of neurons of a source, or the error for a missing one.
    pub(crate) fn source_size(&self, projection: usize, source: Source) -> Result<usize, Error> {
        let sizes: Vec<usize> = match source {
            Source::Population(_) => self.populations.iter().map(|p| p.n_neurons).collect(),
            Source::Poisson(_) => self.poisson_sources.iter().map(|p| p.n_neurons).collect(),
        };
        let (Source::Population(idx) | Source::Poisson(idx)) = source;
        sizes.get(idx).copied().ok_or(Error::SourceOutOfRange {
            projection,
            source_ref: source,
            n_available: sizes.len(),
        })
    }

    fn validate_projection(
        &self,
        projection: usize,
        params: &ProjectionParams,
    ) -> Result<(), Error> {
        let n_pre = self.source_size(projection, params.source)?;
        if params.target >= self.populations.len() {
            return Err(Error::TargetOutOfRange {
                projection,
                target: params.target,
                n_populations: self.populations.len(),
            });
        }
        if !params.weight.is_finite() {
            return Err(Error::InvalidWeight {
                projection,
                weight: params.weight,
            });
        }
        delay_steps(projection, params.delay_ms, self.dt_ms)?;
        match params.connectivity {
            Connectivity::FixedIndegree { k } if k > n_pre => Err(Error::InDegreeTooLarge {
                projection,
                k,
                n_pre,
            }),
            Connectivity::Bernoulli { p } if !(0.0..=1.0).contains(&p) => {
                Err(Error::InvalidConnectionProbability { projection, p })
            }
            _ => Ok(()),
        }
    }
}

/// Checks the time step and a non-empty list of valid populations.
pub(crate) fn validate_populations(
    dt_ms: f64,
    populations: &[PopulationParams],
) -> Result<(), Error> {
    check_time_step(dt_ms)?;
    if populations.is_empty() {
        return Err(Error::NoPopulations);
    }
    for (pop, population) in populations.iter().enumerate() {
        validate_population(population, dt_ms, pop)?;
    }
    check_total(populations.iter().map(|p| p.n_neurons), "the network")
}

fn validate_population(population: &PopulationParams, dt_ms: f64, pop: usize) -> Result<(), Error> {
    if population.n_neurons == 0 {
        return Err(Error::EmptyPopulation { pop });
    }
    population.neuron.validate(dt_ms, pop)?;
    population.synapse.validate(pop)?;
    if !population.bias.is_finite() {
        return Err(Error::InvalidBias {
            pop,
            bias: population.bias,
        });
    }
    Ok(())
}

fn check_total(sizes: impl Iterator<Item = usize>, group: &'static str) -> Result<(), Error> {
    let n_neurons = sizes.fold(0usize, |acc, n| acc.saturating_add(n));
    if n_neurons > MAX_NEURONS {
        return Err(Error::TooManyNeurons {
            group,
            n_neurons,
            max: MAX_NEURONS,
        });
    }
    Ok(())
}

fn check_time_step(dt_ms: f64) -> Result<(), Error> {
    if !(dt_ms.is_finite() && dt_ms > 0.0) {
        return Err(Error::InvalidTimeStep { dt_ms });
    }
    Ok(())
}

fn check_time_constant(pop: usize, name: &'static str, value: f64) -> Result<(), Error> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::InvalidTimeConstant { pop, name, value });
    }
    Ok(())
}

/// Largest step count of a delay or a refractory period, both stored as `u32`.
pub(crate) const MAX_STEPS: u64 = u32::MAX as u64;

/// Converts a refractory period to steps, `round(t_ref_ms / dt_ms)`, or returns `None` when
/// the count exceeds [`MAX_STEPS`].
pub(crate) fn refractory_steps(t_ref_ms: f64, dt_ms: f64) -> Option<u32> {
    u32::try_from(duration_to_steps(t_ref_ms, dt_ms)).ok()
}

/// Converts a delay to steps: `round(delay_ms / dt_ms)`, half away from zero, at least 1.
pub(crate) fn delay_steps(projection: usize, delay_ms: f64, dt_ms: f64) -> Result<u32, Error> {
    let invalid = Error::InvalidDelay {
        projection,
        delay_ms,
        max_steps: MAX_STEPS,
    };
    if !(delay_ms.is_finite() && delay_ms >= 0.0) {
        return Err(invalid);
    }
    let steps = duration_to_steps(delay_ms, dt_ms).max(1);
    u32::try_from(steps).map_err(|_| invalid)
}

/// Converts a non-negative duration to a whole number of time steps, rounding half away from
/// zero.
///
/// A ratio `duration_ms / dt_ms` within a relative 1e-9 (at most 0.25) of a half-integer
/// counts as that exact half and rounds up, because ratios like `0.15 / 0.1` are not exact in
/// binary (`1.4999999999999998`). Negative or non-finite inputs return 0; ratios beyond
/// `u64::MAX`, an infinite quotient of finite inputs included, saturate.
pub fn duration_to_steps(duration_ms: f64, dt_ms: f64) -> u64 {
    let ratio = duration_ms / dt_ms;
    if ratio == f64::INFINITY {
        // A finite duration over a step so small that the quotient overflows.
        return u64::MAX;
    }
    if !(ratio.is_finite() && ratio > 0.0) {
        return 0;
    }

    // Snap near-halves to the exact half before rounding half away from zero. The tolerance
    // stays below 0.5, so that a whole ratio above 5e8 is not taken for the half above it.
    let half = ratio.floor() + 0.5;
    let tolerance = (1e-9 * ratio.max(1.0)).min(0.25);
    let snapped = if (ratio - half).abs() <= tolerance {
        half
    } else {
        ratio
    };
    snapped.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_ratios_keep_their_step_count() {
        // 1e9 / 1 and 4.294967295 / 1e-9 are whole numbers of steps (the second is u32::MAX
        // up to rounding of the quotient), so neither may gain a step.
        assert_eq!(duration_to_steps(1e9, 1.0), 1_000_000_000);
        assert_eq!(duration_to_steps(4.294967295, 1e-9), u64::from(u32::MAX));
        // 8 / 1e-320 overflows to infinity: more steps than any counter holds.
        assert_eq!(duration_to_steps(8.0, 1e-320), u64::MAX);
        assert_eq!(refractory_steps(8.0, 1e-320), None);
    }

    #[test]
    fn duration_rounds_half_away_from_zero() {
        // 0.15 / 0.1 is 1.4999999999999998 in binary and still counts as 1.5.
        assert_eq!(duration_to_steps(0.15, 0.1), 2);
        assert_eq!(duration_to_steps(0.25, 0.1), 3);
        assert_eq!(duration_to_steps(0.24, 0.1), 2);
        assert_eq!(duration_to_steps(3.0, 0.1), 30);
        assert_eq!(duration_to_steps(8.0, 0.1), 80);
        assert_eq!(duration_to_steps(0.04, 0.1), 0);
        assert_eq!(duration_to_steps(0.0, 0.1), 0);
        assert_eq!(duration_to_steps(-1.0, 0.1), 0);
    }

    #[test]
    fn delay_is_at_least_one_step() {
        assert_eq!(delay_steps(0, 0.0, 0.1).unwrap(), 1);
        assert_eq!(delay_steps(0, 0.04, 0.1).unwrap(), 1);
        assert_eq!(delay_steps(0, 0.05, 0.1).unwrap(), 1);
        assert_eq!(delay_steps(0, 10.0, 0.1).unwrap(), 100);
    }

    #[test]
    fn tau_area_per_model() {
        assert_eq!(SynapseModel::default().tau_area_ms(), 20.0);
        assert_eq!(SynapseModel::FETZ_LAB_PSP.tau_area_ms(), 3.2);
        assert_eq!(SynapseModel::Alpha { tau_ms: 5.0 }.tau_area_ms(), 5.0);
    }
}
