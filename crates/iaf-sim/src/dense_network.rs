//! All-to-all networks with one weight per neuron pair (f32 rows) or one weight per population
//! pair, and one delay per population pair.

use std::ops::Range;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::alloc::ArrayRequest;
use crate::params::{duration_to_steps, refractory_steps, validate_populations, MAX_STEPS};
use crate::propagator::Propagators;
use crate::{Error, PopulationParams};

/// Parameters of a [`DenseNetwork`]: populations and the delay of every population pair.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `dt_ms` | 0.1 ms | time step |
/// | `populations` | empty | neuron populations, concatenated in this order |
/// | `delays_ms` | empty | `delays_ms[a][b]`: delay from population `b` onto population `a` (ms) |
///
/// Delays become `round(delay / dt)` steps, half away from zero, at least 1, as in
/// [`ProjectionParams`](crate::ProjectionParams).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseNetworkParams {
    /// Time step (ms).
    pub dt_ms: f64,
    /// Neuron populations.
    pub populations: Vec<PopulationParams>,
    /// Delay (ms) from population `b` (column) onto population `a` (row), shape
    /// `(n_populations, n_populations)`.
    pub delays_ms: Vec<Vec<f64>>,
}

impl Default for DenseNetworkParams {
    fn default() -> Self {
        DenseNetworkParams {
            dt_ms: 0.1,
            populations: Vec::new(),
            delays_ms: Vec::new(),
        }
    }
}

impl DenseNetworkParams {
    /// Creates parameters in which every population pair has the delay `delay_ms`.
    pub fn with_uniform_delay(
        dt_ms: f64,
        populations: Vec<PopulationParams>,
        delay_ms: f64,
    ) -> DenseNetworkParams {
        let n = populations.len();
        DenseNetworkParams {
            dt_ms,
            populations,
            delays_ms: vec![vec![delay_ms; n]; n],
        }
    }

    /// Checks every parameter; the [`DenseNetwork`] constructors call this first.
    pub fn validate(&self) -> Result<(), Error> {
        self.delay_steps().map(|_| ())
    }

    /// Validates and returns the delays in steps, row-major `(n_populations, n_populations)`.
    fn delay_steps(&self) -> Result<Vec<u32>, Error> {
        validate_populations(self.dt_ms, &self.populations)?;

        let n_populations = self.populations.len();
        let bad_row = self.delays_ms.iter().find(|row| row.len() != n_populations);
        if self.delays_ms.len() != n_populations || bad_row.is_some() {
            return Err(Error::DelayMatrixShape {
                rows: self.delays_ms.len(),
                cols: bad_row.map_or(n_populations, Vec::len),
                n_populations,
            });
        }

        let mut steps = Vec::with_capacity(n_populations * n_populations);
        for (target, row) in self.delays_ms.iter().enumerate() {
            for (source_pop, &delay_ms) in row.iter().enumerate() {
                let invalid = Error::InvalidPairDelay {
                    target,
                    source_pop,
                    delay_ms,
                    max_steps: MAX_STEPS,
                };
                if !(delay_ms.is_finite() && delay_ms >= 0.0) {
                    return Err(invalid);
                }
                let delay = duration_to_steps(delay_ms, self.dt_ms).max(1);
                steps.push(u32::try_from(delay).map_err(|_| invalid)?);
            }
        }
        Ok(steps)
    }
}

/// Storage of the synaptic weights.
#[derive(Clone, Debug)]
pub(crate) enum Coupling {
    /// `weights[pre * n + post]`: row `pre` contains the outgoing weights of neuron `pre`.
    Dense { weights: Vec<f32> },
    /// `weights[a * n_populations + b]`: weight of every synapse from population `b` onto `a`.
    Uniform { weights: Vec<f64> },
}

/// An all-to-all network (self-connections included) with per-population-pair delays.
///
/// Two couplings are available. [`DenseNetwork::from_rows`] and [`DenseNetwork::from_matrix`]
/// store one `f32` weight per ordered neuron pair, in rows per presynaptic neuron, so that a
/// spike adds one contiguous row to the input its targets receive after the delay.
/// [`DenseNetwork::uniform`] stores one weight per population pair. All neurons of a population
/// then receive the same input, so the simulation keeps one synaptic state per population.
/// That is a different model from a dense network with equal weights only in that the
/// per-population input sum `w * count` is rounded once instead of once per spike.
///
/// Simulate it with [`DenseSimulation`](crate::DenseSimulation), which follows the time grid of
/// [`Simulation`](crate::Simulation).
///
/// ```
/// use iaf_sim::{DenseNetwork, DenseNetworkParams, DenseSimulation, PopulationParams};
/// use rand::{Rng, SeedableRng};
/// use rand_chacha::ChaCha8Rng;
///
/// // Two populations of 50 neurons, 2 ms delays, weights N(0.001, 0.002^2) seeded per row.
/// let population = PopulationParams { bias: 1.1, ..PopulationParams::default() };
/// let params = DenseNetworkParams::with_uniform_delay(0.1, vec![population; 2], 2.0);
/// let network = DenseNetwork::from_rows(params, 2, |pre, row| {
///     let mut rng = ChaCha8Rng::seed_from_u64(11);
///     rng.set_stream(pre as u64);
///     for w in row {
///         let z: f64 = rng.sample(rand_distr::StandardNormal);
///         *w = (0.001 + 0.002 * z) as f32;
///     }
/// })?;
///
/// let mut sim = DenseSimulation::new(&network, 7, 2)?;
/// sim.set_potentials_uniform(&mut ChaCha8Rng::seed_from_u64(1));
/// sim.run(5_000); // 0.5 s
/// let rate_hz = sim.n_spikes() as f64 / 100.0 / 0.5;
/// assert!(rate_hz > 5.0 && rate_hz < 150.0);
/// # Ok::<(), iaf_sim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DenseNetwork {
    params: DenseNetworkParams,
    pop_offsets: Vec<usize>,
    /// Delays in steps, `[target_pop * n_populations + source_pop]`.
    delay_steps: Vec<u32>,
    pub(crate) coupling: Coupling,
    pub(crate) refractory_steps: Vec<u32>,
    pub(crate) propagators: Vec<Propagators>,
    pub(crate) max_delay_steps: u32,
    pub(crate) min_delay_steps: u32,
}

impl DenseNetwork {
    /// Builds a dense network whose weights come from `fill_row(pre, row)`.
    ///
    /// `row` has one entry per neuron (global index, all populations) and receives the weights
    /// of the synapses from neuron `pre` onto every neuron. It starts zeroed. Rows are filled on
    /// `threads` threads, each taking a contiguous block of rows, so `fill_row` must give the
    /// same row for the same `pre` whichever thread calls it (seed any random generator from
    /// `pre`). Weights are stored as `f32`: `n_neurons^2 * 4` bytes.
    ///
    /// # Errors
    /// Invalid parameters, `threads == 0`, a network too large to address
    /// ([`Error::DenseNetworkTooLarge`]) or to allocate ([`Error::AllocationFailed`]), or a
    /// non-finite weight ([`Error::InvalidDenseWeight`], the one with the smallest `pre`).
    ///
    /// NOTE: under Linux memory overcommit an allocation of weights larger than the free memory
    /// can succeed, and the process is then killed when `fill_row` first writes to those
    /// pages. So [`Error::AllocationFailed`] is not returned for every network that does not fit.
    pub fn from_rows<F>(
        params: DenseNetworkParams,
        threads: usize,
        fill_row: F,
    ) -> Result<DenseNetwork, Error>
    where
        F: Fn(usize, &mut [f32]) + Sync,
    {
        if threads == 0 {
            return Err(Error::InvalidThreadCount);
        }
        let mut network =
            DenseNetwork::with_coupling(params, Coupling::Uniform { weights: vec![] })?;
        let n = network.n_neurons();
        let n_weights = n
            .checked_mul(n)
            .ok_or(Error::DenseNetworkTooLarge { n_neurons: n })?;
        let _span = tracing::debug_span!("fill_dense_rows", n_neurons = n, threads).entered();

        // Fresh zero pages, so each thread touches its own rows first.
        let request = ArrayRequest {
            describe: &|| format!("the dense weights of {n} neurons ({n}^2)"),
            fix: "use fewer neurons, or the sparse Network or a uniform DenseNetwork",
        };
        let mut weights = request.zeroed_f32(n_weights as u128)?;
        let rows_per_thread = n.div_ceil(threads);
        let first_error = std::thread::scope(|scope| {
            let handles: Vec<_> = weights
                .chunks_mut(rows_per_thread * n)
                .enumerate()
                .map(|(block, chunk)| {
                    let fill_row = &fill_row;
                    scope.spawn(move || {
                        let first_row = block * rows_per_thread;
                        for (offset, row) in chunk.chunks_mut(n).enumerate() {
                            let pre = first_row + offset;
                            fill_row(pre, row);
                            if let Some(post) = row.iter().position(|w| !w.is_finite()) {
                                return Some(Error::InvalidDenseWeight {
                                    pre,
                                    post,
                                    weight: f64::from(row[post]),
                                });
                            }
                        }
                        None
                    })
                })
                .collect();
            // Blocks are in row order, so the first error found is the one of the smallest row.
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a weight-filling thread panicked"))
                .find_map(|error| error)
        });
        if let Some(error) = first_error {
            return Err(error);
        }
        network.coupling = Coupling::Dense { weights };
        tracing::debug!(n_neurons = n, "built dense network");
        Ok(network)
    }

    /// Builds a dense network from a weight matrix shaped `(n_post, n_pre)` = `(n, n)`.
    ///
    /// # Errors
    /// Invalid parameters, a matrix of another shape, a non-finite weight, or a network too
    /// large to allocate ([`Error::AllocationFailed`]), as for
    /// [`from_rows`](DenseNetwork::from_rows), whose note on Linux memory overcommit applies.
    pub fn from_matrix(
        params: DenseNetworkParams,
        weights: ArrayView2<'_, f64>,
    ) -> Result<DenseNetwork, Error> {
        params.validate()?;
        let n: usize = params.populations.iter().map(|p| p.n_neurons).sum();
        if weights.dim() != (n, n) {
            return Err(Error::ShapeMismatch {
                name: "weights",
                found: weights.shape().to_vec(),
                expected: vec![n, n],
            });
        }
        DenseNetwork::from_rows(params, 1, |pre, row| {
            for (w, &value) in row.iter_mut().zip(weights.column(pre)) {
                *w = value as f32;
            }
        })
    }

    /// Builds a network in which every synapse from population `b` onto population `a` has the
    /// weight `population_weights[[a, b]]`, shape `(n_populations, n_populations)`.
    ///
    /// # Errors
    /// Invalid parameters, a matrix of another shape, or a non-finite weight.
    pub fn uniform(
        params: DenseNetworkParams,
        population_weights: ArrayView2<'_, f64>,
    ) -> Result<DenseNetwork, Error> {
        let n_populations = params.populations.len();
        if population_weights.dim() != (n_populations, n_populations) {
            return Err(Error::ShapeMismatch {
                name: "population_weights",
                found: population_weights.shape().to_vec(),
                expected: vec![n_populations, n_populations],
            });
        }
        let network = DenseNetwork::with_coupling(params, Coupling::Uniform { weights: vec![] })?;
        let mut weights = Vec::with_capacity(n_populations * n_populations);
        for ((a, b), &weight) in population_weights.indexed_iter() {
            if !weight.is_finite() {
                return Err(Error::InvalidDenseWeight {
                    pre: network.pop_offsets[b],
                    post: network.pop_offsets[a],
                    weight,
                });
            }
            weights.push(weight);
        }
        Ok(DenseNetwork {
            coupling: Coupling::Uniform { weights },
            ..network
        })
    }

    fn with_coupling(
        params: DenseNetworkParams,
        coupling: Coupling,
    ) -> Result<DenseNetwork, Error> {
        let delay_steps = params.delay_steps()?;
        let mut pop_offsets = vec![0];
        for p in &params.populations {
            pop_offsets.push(pop_offsets.last().copied().unwrap_or(0) + p.n_neurons);
        }
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
        let max_delay_steps = delay_steps.iter().copied().max().unwrap_or(1);
        let min_delay_steps = delay_steps.iter().copied().min().unwrap_or(1);
        Ok(DenseNetwork {
            params,
            pop_offsets,
            delay_steps,
            coupling,
            refractory_steps,
            propagators,
            max_delay_steps,
            min_delay_steps,
        })
    }

    /// Returns the parameters the network was built from.
    pub fn params(&self) -> &DenseNetworkParams {
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

    /// Returns the number of synapses, `n_neurons^2` (every ordered pair, self-connections
    /// included).
    pub fn n_synapses(&self) -> u64 {
        let n = self.n_neurons() as u64;
        n * n
    }

    /// Returns whether the network has one weight per population pair.
    pub fn is_uniform(&self) -> bool {
        matches!(self.coupling, Coupling::Uniform { .. })
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

    /// Returns the population of neuron `neuron` (global index).
    ///
    /// # Panics
    /// If `neuron` is out of range.
    pub fn population_of(&self, neuron: usize) -> usize {
        assert!(
            neuron < self.n_neurons(),
            "neuron index {neuron} out of range 0..{}",
            self.n_neurons()
        );
        self.pop_offsets.partition_point(|&start| start <= neuron) - 1
    }

    /// Returns the delay in steps from population `source_pop` onto population `target`.
    ///
    /// # Panics
    /// If either index is not a population index.
    pub fn delay_steps(&self, target: usize, source_pop: usize) -> u32 {
        let n = self.n_populations();
        assert!(
            target < n && source_pop < n,
            "population index out of range 0..{n}"
        );
        self.delay_steps[target * n + source_pop]
    }

    /// Returns the weight of the synapse from neuron `pre` onto neuron `post` (global indices),
    /// as stored (`f32` for dense networks).
    ///
    /// # Panics
    /// If either index is out of range.
    pub fn weight(&self, post: usize, pre: usize) -> f64 {
        let n = self.n_neurons();
        assert!(post < n, "postsynaptic index {post} out of range 0..{n}");
        assert!(pre < n, "presynaptic index {pre} out of range 0..{n}");
        match &self.coupling {
            Coupling::Dense { weights } => f64::from(weights[pre * n + post]),
            Coupling::Uniform { weights } => {
                let (a, b) = (self.population_of(post), self.population_of(pre));
                weights[a * self.n_populations() + b]
            }
        }
    }

    /// Returns the outgoing weight row of neuron `pre`, indexed by target neuron; `None` for a
    /// uniform network.
    pub fn weight_row(&self, pre: usize) -> Option<&[f32]> {
        let n = self.n_neurons();
        match &self.coupling {
            Coupling::Dense { weights } => Some(&weights[pre * n..(pre + 1) * n]),
            Coupling::Uniform { .. } => None,
        }
    }

    pub(crate) fn pop_offsets(&self) -> &[usize] {
        &self.pop_offsets
    }
}
