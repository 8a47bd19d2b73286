//! A drawn network: validated parameters, synapses grouped by presynaptic neuron, and the
//! per-population constants a simulation needs.

use std::ops::Range;

use rand::Rng;

use crate::alloc::ArrayRequest;
use crate::params::{delay_steps, refractory_steps};
use crate::propagator::Propagators;
use crate::{Connectivity, Error, NetworkParams, Source};

/// One synapse as stored in a [`Network`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Synapse {
    /// Global index of the postsynaptic neuron.
    pub target: u32,
    /// Synaptic weight `J`.
    pub weight: f64,
    /// Delay in time steps, at least 1.
    pub delay_steps: u32,
}

/// Validated parameters together with the synapses drawn from them.
///
/// Neurons of all populations are numbered globally, population after population in the order
/// of [`NetworkParams::populations`]. Synapses are stored contiguously, grouped by presynaptic
/// neuron (first all population neurons, then all Poisson neurons), so delivering a spike reads
/// one contiguous slice.
#[derive(Clone, Debug)]
pub struct Network {
    params: NetworkParams,
    /// Start of each population in the global numbering, plus the total at the end.
    pop_offsets: Vec<usize>,
    /// Start of each Poisson source in the presynaptic numbering, plus the total at the end.
    poisson_offsets: Vec<usize>,
    /// Synapses of presynaptic neuron `j` are `synapse_offsets[j]..synapse_offsets[j + 1]`.
    synapse_offsets: Vec<usize>,
    synapse_targets: Vec<u32>,
    synapse_weights: Vec<f64>,
    synapse_delays: Vec<u32>,
    projection_delay_steps: Vec<u32>,
    pub(crate) max_delay_steps: u32,
    pub(crate) refractory_steps: Vec<u32>,
    pub(crate) propagators: Vec<Propagators>,
}

impl Network {
    /// Validates `params` and draws every projection's synapses from `rng`.
    ///
    /// Projections are drawn in order; within one, postsynaptic neurons in order. For
    /// `FixedIndegree` each postsynaptic neuron draws `k` distinct presynaptic neurons, for
    /// `Bernoulli` one coin per pair; `AllToAll` draws nothing.
    ///
    /// # Errors
    /// Invalid parameters (see [`NetworkParams::validate`]), and
    /// [`Error::AllocationFailed`] when the synapses or the per-neuron arrays do not fit in
    /// memory. For `Bernoulli` the room reserved up front is the expected synapse count.
    ///
    /// NOTE: under Linux memory overcommit an allocation larger than the free memory can
    /// succeed, and the process is then killed when it first writes to those pages, so this
    /// error is not returned for every network that does not fit.
    pub fn build<R: Rng + ?Sized>(params: NetworkParams, rng: &mut R) -> Result<Network, Error> {
        let delays_ms: Vec<f64> = params.projections.iter().map(|p| p.delay_ms).collect();
        Network::build_with_delays(params, rng, |projection, _, _| delays_ms[projection])
    }

    /// Validates `params`, draws the synapses like [`Network::build`], and gives each synapse
    /// its own delay `delay_ms(projection, pre, post)` (ms).
    ///
    /// `pre` counts within the projection's source and `post` within its target population.
    /// Each delay becomes `round(delay / dt)` steps, half away from zero, at least 1. The
    /// projection's own `delay_ms` is then only what [`Network::delay_steps`] reports.
    ///
    /// # Errors
    /// The errors of [`Network::build`], and [`Error::InvalidDelay`] naming the projection
    /// for a returned delay that is negative, not finite or too long.
    pub fn build_with_delays<R, F>(
        params: NetworkParams,
        rng: &mut R,
        mut delay_ms: F,
    ) -> Result<Network, Error>
    where
        R: Rng + ?Sized,
        F: FnMut(usize, usize, usize) -> f64,
    {
        params.validate()?;
        let _span = tracing::debug_span!("build_network").entered();

        // Global numbering of neurons and of presynaptic Poisson generators.
        let pop_offsets = prefix_sums(params.populations.iter().map(|p| p.n_neurons));
        let n_neurons = *pop_offsets.last().expect("prefix sums are never empty");
        let poisson_offsets = prefix_sums(params.poisson_sources.iter().map(|p| p.n_neurons))
            .into_iter()
            .map(|offset| offset + n_neurons)
            .collect::<Vec<_>>();
        let n_presynaptic = *poisson_offsets.last().expect("prefix sums are never empty");

        // Draw (pre, post) pairs of every projection.
        let mut pairs: Vec<(usize, u32, usize)> = Vec::new();
        let mut projection_delay_steps = Vec::with_capacity(params.projections.len());
        for (projection_idx, projection) in params.projections.iter().enumerate() {
            let delay = delay_steps(projection_idx, projection.delay_ms, params.dt_ms)?;
            if projection.delay_ms < params.dt_ms / 2.0 {
                tracing::warn!(
                    projection = projection_idx,
                    delay_ms = projection.delay_ms,
                    "delay shorter than half a time step is raised to one step"
                );
            }
            projection_delay_steps.push(delay);
            let pre_range = match projection.source {
                Source::Population(pop) => pop_offsets[pop]..pop_offsets[pop + 1],
                Source::Poisson(src) => poisson_offsets[src]..poisson_offsets[src + 1],
            };
            let post_range = pop_offsets[projection.target]..pop_offsets[projection.target + 1];
            let synapses = ArrayRequest {
                describe: &|| format!("the synapses of projection {projection_idx}"),
                fix: FEWER_SYNAPSES,
            };
            let n_drawn =
                expected_synapses(projection.connectivity, pre_range.len(), post_range.len());
            synapses.reserve(&mut pairs, n_drawn)?;
            let first = pairs.len();
            draw_pairs(
                projection.connectivity,
                projection_idx,
                pre_range,
                post_range,
                rng,
                &mut pairs,
            );
            tracing::debug!(
                projection = projection_idx,
                n_synapses = pairs.len() - first,
                delay_steps = delay,
                "drew projection"
            );
        }

        // Group synapses by presynaptic neuron (stable counting sort).
        let per_neuron = ArrayRequest {
            describe: &|| format!("the synapse offsets of {n_presynaptic} presynaptic neurons"),
            fix: "use fewer neurons or Poisson generators",
        };
        let mut synapse_offsets = per_neuron.filled(n_presynaptic as u128 + 1, 0usize)?;
        for &(pre, _, _) in &pairs {
            synapse_offsets[pre + 1] += 1;
        }
        for j in 0..n_presynaptic {
            synapse_offsets[j + 1] += synapse_offsets[j];
        }
        let mut next = per_neuron.filled(synapse_offsets.len() as u128, 0usize)?;
        next.copy_from_slice(&synapse_offsets);
        let n_synapses = pairs.len();
        let synapses = ArrayRequest {
            describe: &|| format!("the {n_synapses} synapses of the network"),
            fix: FEWER_SYNAPSES,
        };
        let mut synapse_targets = synapses.filled(n_synapses as u128, 0u32)?;
        let mut synapse_weights = synapses.filled(n_synapses as u128, 0.0f64)?;
        let mut synapse_delays = synapses.filled(n_synapses as u128, 0u32)?;
        let mut max_delay_steps = projection_delay_steps.iter().copied().max().unwrap_or(1);
        for &(pre, post, projection_idx) in &pairs {
            let slot = next[pre];
            next[pre] += 1;
            let projection = &params.projections[projection_idx];
            let pre_start = match projection.source {
                Source::Population(pop) => pop_offsets[pop],
                Source::Poisson(src) => poisson_offsets[src],
            };
            let post_start = pop_offsets[projection.target];
            let synapse_delay_ms =
                delay_ms(projection_idx, pre - pre_start, post as usize - post_start);
            let delay = delay_steps(projection_idx, synapse_delay_ms, params.dt_ms)?;
            max_delay_steps = max_delay_steps.max(delay);
            synapse_targets[slot] = post;
            synapse_weights[slot] = projection.weight;
            synapse_delays[slot] = delay;
        }

        // Per-population constants.
        let dt_ms = params.dt_ms;
        let refractory_steps = params
            .populations
            .iter()
            .map(|p| {
                refractory_steps(p.neuron.t_ref_ms, dt_ms)
                    .expect("validate rejects refractory periods beyond u32 steps")
            })
            .collect();
        let propagators = params
            .populations
            .iter()
            .map(|p| Propagators::new(&p.neuron, &p.synapse, dt_ms))
            .collect();

        tracing::debug!(n_neurons, n_synapses = pairs.len(), "built network");
        Ok(Network {
            params,
            pop_offsets,
            poisson_offsets,
            synapse_offsets,
            synapse_targets,
            synapse_weights,
            synapse_delays,
            projection_delay_steps,
            max_delay_steps,
            refractory_steps,
            propagators,
        })
    }

    /// Returns the parameters the network was built from.
    pub fn params(&self) -> &NetworkParams {
        &self.params
    }

    /// Returns the number of neurons of all populations together.
    pub fn n_neurons(&self) -> usize {
        *self
            .pop_offsets
            .last()
            .expect("prefix sums are never empty")
    }

    /// Returns the number of populations.
    pub fn n_populations(&self) -> usize {
        self.params.populations.len()
    }

    /// Returns the global indices of the neurons of population `pop`.
    ///
    /// # Panics
    /// If `pop` is not a population index.
    pub fn population_range(&self, pop: usize) -> Range<usize> {
        assert!(
            pop < self.n_populations(),
            "population index {pop} out of range 0..{}",
            self.n_populations()
        );
        self.pop_offsets[pop]..self.pop_offsets[pop + 1]
    }

    /// Returns [`Error::PopulationOutOfRange`] unless `pop` is a population index.
    pub(crate) fn check_population(&self, pop: usize) -> Result<(), Error> {
        let n_populations = self.n_populations();
        if pop >= n_populations {
            return Err(Error::PopulationOutOfRange { pop, n_populations });
        }
        Ok(())
    }

    /// Returns the total number of synapses.
    pub fn n_synapses(&self) -> usize {
        self.synapse_targets.len()
    }

    /// Returns the delay of projection `projection` in time steps.
    ///
    /// # Panics
    /// If `projection` is not a projection index.
    pub fn delay_steps(&self, projection: usize) -> u32 {
        self.projection_delay_steps[projection]
    }

    /// Returns the refractory period of population `pop` in time steps, `round(t_ref / dt)`.
    ///
    /// # Panics
    /// If `pop` is not a population index.
    pub fn refractory_steps(&self, pop: usize) -> u32 {
        self.refractory_steps[pop]
    }

    /// Returns the outgoing synapses of neuron `neuron` (counted within its source) of `source`.
    ///
    /// # Panics
    /// If the source or the neuron does not exist.
    pub fn outgoing_synapses(
        &self,
        source: Source,
        neuron: usize,
    ) -> impl ExactSizeIterator<Item = Synapse> + '_ {
        let range = match source {
            Source::Population(pop) => self.population_range(pop),
            Source::Poisson(src) => self.poisson_offsets[src]..self.poisson_offsets[src + 1],
        };
        assert!(
            neuron < range.len(),
            "neuron {neuron} out of range 0..{} of {source:?}",
            range.len()
        );
        self.synapses_of(range.start + neuron)
    }

    /// Returns the synapses of presynaptic neuron `pre` in the combined numbering.
    pub(crate) fn synapses_of(&self, pre: usize) -> impl ExactSizeIterator<Item = Synapse> + '_ {
        let range = self.synapse_offsets[pre]..self.synapse_offsets[pre + 1];
        range.map(|s| Synapse {
            target: self.synapse_targets[s],
            weight: self.synapse_weights[s],
            delay_steps: self.synapse_delays[s],
        })
    }

    /// Returns the synapse arrays `(targets, weights, delays)` of presynaptic neuron `pre`.
    #[inline]
    pub(crate) fn synapse_slices(&self, pre: usize) -> (&[u32], &[f64], &[u32]) {
        let range = self.synapse_offsets[pre]..self.synapse_offsets[pre + 1];
        (
            &self.synapse_targets[range.clone()],
            &self.synapse_weights[range.clone()],
            &self.synapse_delays[range],
        )
    }

    /// Returns the first presynaptic index of each Poisson source, plus the total at the end.
    pub(crate) fn poisson_offsets(&self) -> &[usize] {
        &self.poisson_offsets
    }
}

/// How to shrink an array of synapses that does not fit in memory.
const FEWER_SYNAPSES: &str =
    "use fewer neurons, a smaller in-degree k or a smaller connection probability p";

/// Returns the number of synapses a projection draws between `n_pre` and `n_post` neurons: exact
/// for `FixedIndegree` and `AllToAll`, the expected count, rounded up, for `Bernoulli`.
fn expected_synapses(connectivity: Connectivity, n_pre: usize, n_post: usize) -> u128 {
    let n_pairs = n_pre as u128 * n_post as u128;
    match connectivity {
        Connectivity::FixedIndegree { k } => k as u128 * n_post as u128,
        Connectivity::Bernoulli { p } => (p * n_pairs as f64).ceil() as u128,
        Connectivity::AllToAll => n_pairs,
    }
}

fn prefix_sums(sizes: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut offsets = vec![0];
    for n in sizes {
        offsets.push(offsets.last().copied().unwrap_or(0) + n);
    }
    offsets
}

/// Appends the `(pre, post, projection_idx)` triples of one projection to `pairs`.
fn draw_pairs<R: Rng + ?Sized>(
    connectivity: Connectivity,
    projection_idx: usize,
    pre: Range<usize>,
    post: Range<usize>,
    rng: &mut R,
    pairs: &mut Vec<(usize, u32, usize)>,
) {
    // Postsynaptic indices fit u32 because validation caps the number of neurons.
    let n_pre = pre.len();
    for post_idx in post {
        let post_idx = post_idx as u32;
        match connectivity {
            Connectivity::FixedIndegree { k } => {
                for offset in rand::seq::index::sample(rng, n_pre, k) {
                    pairs.push((pre.start + offset, post_idx, projection_idx));
                }
            }
            Connectivity::Bernoulli { p } => {
                for pre_idx in pre.clone() {
                    if rng.random_bool(p) {
                        pairs.push((pre_idx, post_idx, projection_idx));
                    }
                }
            }
            Connectivity::AllToAll => {
                for pre_idx in pre.clone() {
                    pairs.push((pre_idx, post_idx, projection_idx));
                }
            }
        }
    }
}
