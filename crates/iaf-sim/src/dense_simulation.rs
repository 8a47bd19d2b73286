//! Multi-threaded stepping of a [`DenseNetwork`].

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::alloc::ArrayRequest;
use crate::dense_network::Coupling;
use crate::kernels::{
    push_fired, runs_of, ExponentialConstants, ExponentialNeurons, Isa, MAX_GROUP,
};
use crate::propagator::Propagators;
use crate::{DenseNetwork, Error, SpikeRecord};

/// Running state of a [`DenseNetwork`], advanced on a fixed number of threads.
///
/// # Time grid
/// The same as [`Simulation`](crate::Simulation). Step `n` covers `(t_{n-1}, t_n]` and adds
/// the input that arrives in it. It advances `(x, I_syn, V)` with the exact propagators, plus
/// the exact Ornstein-Uhlenbeck increment when `sigma_v > 0`. It tests `V >= v_threshold` on
/// the end-of-step value, resets, and schedules each spike for the start of step `n + D`, with
/// `D` the delay in steps of the population pair. Refractory neurons stay at `v_reset` for
/// `round(t_ref / dt)` steps while their synaptic state keeps integrating input, so input that
/// arrives in the step of a spike or during the refractory period is kept.
///
/// The drive of neuron `i` of population `a` is `bias_a + I_inj,a + b_i`, with the per-neuron
/// bias `b_i` set by [`DenseSimulation::set_biases`] (default 0).
///
/// # Threads and determinism
/// Neurons are split into `threads` contiguous blocks. Each thread advances its block, then
/// adds the weight rows of every spike of the step, in ascending order of the spiking neuron,
/// into the delay buffer of its block. Every target therefore sums its input in the same order
/// whatever the number of threads. Noise comes from one `ChaCha8Rng` stream per neuron
/// (seed from [`DenseSimulation::new`], stream = neuron index). Spikes, potentials and
/// currents are bit-identical for every thread count, and running in chunks gives the same
/// result as one run.
///
/// With a noiseless network and weights that `f32` represents exactly, the spikes equal those of
/// [`Simulation`](crate::Simulation) on the same all-to-all network.
#[derive(Debug)]
pub struct DenseSimulation<'a> {
    network: &'a DenseNetwork,
    step_idx: u64,
    potentials: Vec<f64>,
    /// Per neuron for dense coupling, empty for uniform coupling.
    synaptic_currents: Vec<f64>,
    /// Per neuron for dense coupling, empty for uniform coupling.
    rise_states: Vec<f64>,
    refractory_left: Vec<u32>,
    biases: Vec<f64>,
    /// `v_drive * (bias + I_inj + b_i)` per neuron, computed at the start of every run.
    drive_gains: Vec<f64>,
    injected_currents: Vec<f64>,
    /// One stream per neuron, empty when no population has noise.
    noise_rngs: Vec<ChaCha8Rng>,
    blocks: Vec<Block>,
    /// Spikes of each block in the windows of even and odd index.
    spike_lists: Vec<[RwLock<WindowSpikes>; 2]>,
    spikes_last_step: Vec<u32>,
    population_spike_counts: Vec<u32>,
    n_spikes: u64,
    recording: bool,
    record: SpikeRecord,
    /// Instruction set of the inner loops; every choice gives the same bits.
    isa: Isa,
}

/// The neurons of one thread and the input scheduled for them.
#[derive(Debug)]
struct Block {
    neurons: Range<usize>,
    /// Input due in future steps. Dense coupling: `n_slots` rows of the block's neurons.
    /// Uniform coupling: `n_slots` rows of one entry per population.
    ring: Vec<f64>,
    /// Populations overlapping this block with their neurons as block-local ranges.
    segments: Vec<(usize, Range<usize>)>,
    /// Dense coupling: per source population, the runs of this block's targets.
    runs: Vec<Vec<Run>>,
    /// Dense coupling: per source population, the first source population with equal runs.
    run_class: Vec<usize>,
    /// Uniform coupling: synaptic state `I_syn` per population (the same in every block).
    population_currents: Vec<f64>,
    /// Uniform coupling: rise state `x` per population (the same in every block).
    population_rise_states: Vec<f64>,
    /// Uniform coupling: spike count per source population in the current step.
    spike_counts: Vec<u32>,
    /// Dense coupling: how to advance the block's neurons, in neuron order.
    advance_plan: Vec<Advance>,
    /// 1 for each neuron of the block that fired in the current step, else 0 (noiseless paths).
    fired: Vec<u8>,
}

/// One step of a block-local range of neurons under dense coupling.
#[derive(Debug)]
enum Advance {
    /// Neighbouring populations, noiseless with an exponential synapse and equal constants,
    /// advanced by one vectorised loop.
    Exponential {
        constants: ExponentialConstants,
        local: Range<usize>,
    },
    /// One population advanced neuron by neuron.
    General { pop: usize, local: Range<usize> },
}

/// Targets in this block that share one delay from a source population.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    local: Range<usize>,
    first_target: usize,
    delay_steps: u32,
}

impl<'a> DenseSimulation<'a> {
    /// Creates a simulation at step 0 with every state 0, biases 0, and `threads` threads.
    ///
    /// # Errors
    /// [`Error::InvalidThreadCount`] for `threads == 0`. More threads than neurons are reduced
    /// to one per neuron. [`Error::AllocationFailed`] when the per-neuron state or the delay
    /// buffer, `(longest delay in steps + 1) * n_neurons` values under dense coupling, does not
    /// fit in memory.
    ///
    /// NOTE: under Linux memory overcommit an allocation larger than the free memory can
    /// succeed, and the process is then killed when it first writes to those pages, so this
    /// error is not returned for every request that does not fit.
    pub fn new(network: &'a DenseNetwork, seed: u64, threads: usize) -> Result<Self, Error> {
        if threads == 0 {
            return Err(Error::InvalidThreadCount);
        }
        let n = network.n_neurons();
        let n_populations = network.n_populations();
        let n_blocks = threads.min(n);
        let n_slots = network.max_delay_steps as usize + 1;
        let dense = !network.is_uniform();
        let blocks = (0..n_blocks)
            .map(|b| Block::new(network, b * n / n_blocks..(b + 1) * n / n_blocks, n_slots))
            .collect::<Result<Vec<Block>, Error>>()?;
        let state = ArrayRequest {
            describe: &|| format!("the state of {n} neurons"),
            fix: "use fewer neurons",
        };

        let has_noise = network
            .params()
            .populations
            .iter()
            .any(|p| p.neuron.sigma_v > 0.0);
        let mut noise_rngs = Vec::new();
        if has_noise {
            state.reserve(&mut noise_rngs, n as u128)?;
            let base = ChaCha8Rng::seed_from_u64(seed);
            noise_rngs.extend((0..n).map(|neuron| {
                let mut rng = base.clone();
                rng.set_stream(neuron as u64);
                rng
            }));
        }
        let per_neuron = if dense { n } else { 0 } as u128;
        let mut spikes_last_step = Vec::new();
        state.reserve(&mut spikes_last_step, n as u128)?;
        let spike_lists = blocks
            .iter()
            .map(|block| {
                let capacity = block.neurons.len();
                [
                    RwLock::new(WindowSpikes::with_capacity(capacity)),
                    RwLock::new(WindowSpikes::with_capacity(capacity)),
                ]
            })
            .collect();
        Ok(DenseSimulation {
            network,
            step_idx: 0,
            potentials: state.filled(n as u128, 0.0)?,
            synaptic_currents: state.filled(per_neuron, 0.0)?,
            rise_states: state.filled(per_neuron, 0.0)?,
            refractory_left: state.filled(n as u128, 0)?,
            biases: state.filled(n as u128, 0.0)?,
            drive_gains: state.filled(n as u128, 0.0)?,
            injected_currents: vec![0.0; n_populations],
            noise_rngs,
            blocks,
            spike_lists,
            spikes_last_step,
            population_spike_counts: vec![0; n_populations],
            n_spikes: 0,
            recording: false,
            record: SpikeRecord::default(),
            isa: Isa::detect(),
        })
    }

    /// Returns the simulated network.
    pub fn network(&self) -> &'a DenseNetwork {
        self.network
    }

    /// Returns the number of threads (neuron blocks) used by [`DenseSimulation::run`].
    pub fn threads(&self) -> usize {
        self.blocks.len()
    }

    /// Sets the per-neuron bias `b_i` added to each neuron's drive, one value per neuron.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong length, [`Error::NonFiniteValue`] for a non-finite
    /// value; the biases are unchanged on error.
    pub fn set_biases(&mut self, biases: &[f64]) -> Result<(), Error> {
        check_per_neuron("biases", biases, self.biases.len())?;
        self.biases.copy_from_slice(biases);
        Ok(())
    }

    /// Returns the per-neuron biases `b_i`.
    pub fn biases(&self) -> &[f64] {
        &self.biases
    }

    /// Sets every membrane potential, one value per neuron. A refractory neuron stays clamped
    /// at its reset until its refractory period ends.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong length, [`Error::NonFiniteValue`] for a non-finite
    /// value; the potentials are unchanged on error.
    pub fn set_potentials(&mut self, potentials: &[f64]) -> Result<(), Error> {
        check_per_neuron("potentials", potentials, self.potentials.len())?;
        self.potentials.copy_from_slice(potentials);
        Ok(())
    }

    /// Draws every potential independently and uniformly from `[v_reset, v_threshold)` of its
    /// population, neurons in ascending order.
    pub fn set_potentials_uniform<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        for (pop, params) in self.network.params().populations.iter().enumerate() {
            let (low, high) = (params.neuron.v_reset, params.neuron.v_threshold);
            for v in &mut self.potentials[self.network.population_range(pop)] {
                *v = rng.random_range(low..high);
            }
        }
    }

    /// Sets the current `I_inj` added to the drive of every neuron of `pop` until changed.
    ///
    /// # Errors
    /// [`Error::PopulationOutOfRange`] if `pop` is not a population index and
    /// [`Error::InvalidInjectedCurrent`] for a non-finite current. Nothing changes on error.
    pub fn set_injected_current(&mut self, pop: usize, current: f64) -> Result<(), Error> {
        let n_populations = self.network.n_populations();
        if pop >= n_populations {
            return Err(Error::PopulationOutOfRange { pop, n_populations });
        }
        if !current.is_finite() {
            return Err(Error::InvalidInjectedCurrent { pop, current });
        }
        self.injected_currents[pop] = current;
        Ok(())
    }

    /// Advances the network by one time step. Each call starts the worker threads, so prefer
    /// [`DenseSimulation::run`] for many steps.
    pub fn step(&mut self) {
        self.run(1);
    }

    /// Advances the network by `n_steps` time steps on [`DenseSimulation::threads`] threads.
    pub fn run(&mut self, n_steps: usize) {
        if n_steps == 0 {
            return;
        }
        // The drive of every neuron is constant within a run.
        let populations = &self.network.params().populations;
        for (pop, params) in populations.iter().enumerate() {
            let drive = params.bias + self.injected_currents[pop];
            let v_drive = self.network.propagators[pop].v_drive;
            let range = self.network.population_range(pop);
            for (gain, &bias) in self.drive_gains[range.clone()]
                .iter_mut()
                .zip(&self.biases[range])
            {
                *gain = v_drive * (drive + bias);
            }
        }
        let shared = Shared {
            network: self.network,
            barrier: SpinBarrier::new(self.blocks.len()),
            spike_lists: &self.spike_lists,
            first_step: self.step_idx + 1,
            n_steps,
            n_slots: self.network.max_delay_steps as usize + 1,
            window_steps: self.network.min_delay_steps as usize,
            isa: self.isa,
        };
        let mut recorder = Recorder {
            recording: self.recording,
            record: &mut self.record,
            spikes_last_step: &mut self.spikes_last_step,
            population_spike_counts: &mut self.population_spike_counts,
            n_spikes: &mut self.n_spikes,
        };

        // Split every per-neuron array into the blocks' slices.
        let dense = !self.network.is_uniform();
        let has_noise = !self.noise_rngs.is_empty();
        let mut states = Vec::with_capacity(self.blocks.len());
        let mut potentials = self.potentials.as_mut_slice();
        let mut currents = self.synaptic_currents.as_mut_slice();
        let mut rises = self.rise_states.as_mut_slice();
        let mut refractory = self.refractory_left.as_mut_slice();
        let mut drive_gains = self.drive_gains.as_slice();
        let mut rngs = self.noise_rngs.as_mut_slice();
        for block in &self.blocks {
            let len = block.neurons.len();
            let (per_neuron, noise) =
                (if dense { len } else { 0 }, if has_noise { len } else { 0 });
            let state;
            (
                state,
                (potentials, currents, rises, refractory, drive_gains, rngs),
            ) = (
                NeuronState {
                    first_neuron: block.neurons.start,
                    potentials: take_mut(&mut potentials, len),
                    synaptic_currents: take_mut(&mut currents, per_neuron),
                    rise_states: take_mut(&mut rises, per_neuron),
                    refractory_left: take_mut(&mut refractory, len),
                    drive_gains: take(&mut drive_gains, len),
                    noise_rngs: take_mut(&mut rngs, noise),
                },
                (potentials, currents, rises, refractory, drive_gains, rngs),
            );
            states.push(state);
        }

        let mut blocks = self.blocks.iter_mut();
        let mut states = states.into_iter();
        let first_block = blocks.next().expect("a simulation has at least one block");
        let first_state = states.next().expect("a simulation has at least one block");
        std::thread::scope(|scope| {
            for (index, (block, state)) in blocks.zip(states).enumerate() {
                let shared = &shared;
                scope.spawn(move || shared.work(index + 1, block, state, None));
            }
            shared.work(0, first_block, first_state, Some(&mut recorder));
        });
        self.step_idx += n_steps as u64;
    }

    /// Returns the number of steps done so far; the current time is `step_idx * dt_ms`.
    pub fn step_idx(&self) -> u64 {
        self.step_idx
    }

    /// Returns the current time `step_idx * dt_ms` (ms).
    pub fn time_ms(&self) -> f64 {
        self.step_idx as f64 * self.network.params().dt_ms
    }

    /// Returns the global indices of the neurons that spiked in the last step, ascending.
    pub fn spikes_last_step(&self) -> &[u32] {
        &self.spikes_last_step
    }

    /// Returns the number of spikes of each population in the last step.
    pub fn population_spike_counts(&self) -> &[u32] {
        &self.population_spike_counts
    }

    /// Returns the number of spikes since step 0.
    pub fn n_spikes(&self) -> u64 {
        self.n_spikes
    }

    /// Returns the membrane potential of every neuron.
    pub fn potentials(&self) -> &[f64] {
        &self.potentials
    }

    /// Returns the synaptic current `I_syn` of neuron `neuron` at the end of the last step (the
    /// shared current of its population under uniform coupling).
    ///
    /// # Panics
    /// If `neuron` is out of range.
    pub fn synaptic_current(&self, neuron: usize) -> f64 {
        let pop = self.network.population_of(neuron);
        if self.network.is_uniform() {
            self.blocks[0].population_currents[pop]
        } else {
            self.synaptic_currents[neuron]
        }
    }

    /// Returns the rise state `x` of neuron `neuron` (0 for the exponential kernel).
    ///
    /// # Panics
    /// If `neuron` is out of range.
    pub fn rise_state(&self, neuron: usize) -> f64 {
        let pop = self.network.population_of(neuron);
        if self.network.is_uniform() {
            self.blocks[0].population_rise_states[pop]
        } else {
            self.rise_states[neuron]
        }
    }

    /// Returns the number of steps each neuron stays clamped at reset.
    pub fn refractory_steps_left(&self) -> &[u32] {
        &self.refractory_left
    }

    /// Turns spike recording on or off; recorded spikes stay until taken.
    pub fn record_spikes(&mut self, on: bool) {
        self.recording = on;
    }

    /// Returns the spikes recorded so far.
    pub fn spike_record(&self) -> &SpikeRecord {
        &self.record
    }

    /// Returns the spikes recorded so far and starts a new, empty record.
    pub fn take_spike_record(&mut self) -> SpikeRecord {
        std::mem::take(&mut self.record)
    }
}

fn check_per_neuron(name: &'static str, values: &[f64], n: usize) -> Result<(), Error> {
    if values.len() != n {
        return Err(Error::ShapeMismatch {
            name,
            found: vec![values.len()],
            expected: vec![n],
        });
    }
    if let Some(neuron) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteValue {
            name,
            neuron,
            value: values[neuron],
        });
    }
    Ok(())
}

fn take_mut<'s, T>(slice: &mut &'s mut [T], len: usize) -> &'s mut [T] {
    let (head, tail) = std::mem::take(slice).split_at_mut(len);
    *slice = tail;
    head
}

fn take<'s, T>(slice: &mut &'s [T], len: usize) -> &'s [T] {
    let (head, tail) = slice.split_at(len);
    *slice = tail;
    head
}

impl Block {
    /// Returns the block of `neurons`, or [`Error::AllocationFailed`] when its delay buffer of
    /// `n_slots` rows does not fit in memory.
    fn new(network: &DenseNetwork, neurons: Range<usize>, n_slots: usize) -> Result<Block, Error> {
        let n_populations = network.n_populations();
        let mut segments = Vec::new();
        for pop in 0..n_populations {
            let range = network.population_range(pop);
            let (start, end) = (range.start.max(neurons.start), range.end.min(neurons.end));
            if start < end {
                segments.push((pop, start - neurons.start..end - neurons.start));
            }
        }

        let dense = !network.is_uniform();
        let mut runs = Vec::new();
        if dense {
            for source_pop in 0..n_populations {
                let mut source_runs: Vec<Run> = Vec::new();
                for (target, local) in &segments {
                    let delay_steps = network.delay_steps(*target, source_pop);
                    match source_runs.last_mut() {
                        // Neighbouring populations with the same delay form one run.
                        Some(last)
                            if last.delay_steps == delay_steps && last.local.end == local.start =>
                        {
                            last.local.end = local.end;
                        }
                        _ => source_runs.push(Run {
                            local: local.clone(),
                            first_target: neurons.start + local.start,
                            delay_steps,
                        }),
                    }
                }
                runs.push(source_runs);
            }
        }
        let run_class = (0..runs.len())
            .map(|pop| {
                (0..=pop)
                    .find(|&first| runs[first] == runs[pop])
                    .unwrap_or(pop)
            })
            .collect();
        let advance_plan = if dense {
            plan_advance(network, &segments)
        } else {
            Vec::new()
        };
        let ring_width = if dense { neurons.len() } else { n_populations };
        let per_population = if dense { 0 } else { n_populations };
        let ring = ArrayRequest {
            describe: &|| {
                format!(
                    "the delay buffer of {n_slots} steps (longest delay + 1) for {ring_width} \
                     neurons or populations of one thread"
                )
            },
            fix: "use fewer neurons, shorter delays or more threads",
        };
        Ok(Block {
            advance_plan,
            fired: vec![0; neurons.len()],
            ring: ring.filled(n_slots as u128 * ring_width as u128, 0.0)?,
            neurons,
            segments,
            runs,
            run_class,
            population_currents: vec![0.0; per_population],
            population_rise_states: vec![0.0; per_population],
            spike_counts: vec![0; per_population],
        })
    }
}

/// Returns the steps that advance a block's `segments` under dense coupling: neighbouring
/// populations that are noiseless, have an exponential synapse and equal constants share one
/// vectorised loop, and every other population is advanced neuron by neuron.
fn plan_advance(network: &DenseNetwork, segments: &[(usize, Range<usize>)]) -> Vec<Advance> {
    let fast_constants: Vec<Option<ExponentialConstants>> = segments
        .iter()
        .map(|&(pop, _)| exponential_constants(network, pop))
        .collect();
    let merged = runs_of(&fast_constants, |previous, next| {
        previous.is_some() && previous == next
    });
    merged
        .into_iter()
        .map(|run| {
            let local = segments[run.start].1.start..segments[run.end - 1].1.end;
            match &fast_constants[run.start] {
                Some(constants) => Advance::Exponential {
                    constants: constants.clone(),
                    local,
                },
                None => Advance::General {
                    pop: segments[run.start].0,
                    local,
                },
            }
        })
        .collect()
}

/// Returns the constants of the vectorised loop if population `pop` is noiseless with an
/// exponential synapse.
fn exponential_constants(network: &DenseNetwork, pop: usize) -> Option<ExponentialConstants> {
    let p = &network.propagators[pop];
    if p.two_state || p.noise_sd != 0.0 {
        return None;
    }
    let neuron = &network.params().populations[pop].neuron;
    Some(ExponentialConstants {
        input_scale: p.input_scale,
        syn_decay: p.syn_decay,
        v_decay: p.v_decay,
        v_from_syn: p.v_from_syn,
        v_threshold: neuron.v_threshold,
        v_reset: neuron.v_reset,
        refractory_steps: network.refractory_steps[pop],
    })
}

/// Per-neuron state of one block.
struct NeuronState<'s> {
    first_neuron: usize,
    potentials: &'s mut [f64],
    synaptic_currents: &'s mut [f64],
    rise_states: &'s mut [f64],
    refractory_left: &'s mut [u32],
    /// `v_drive * (bias + I_inj + b_i)` per neuron.
    drive_gains: &'s [f64],
    noise_rngs: &'s mut [ChaCha8Rng],
}

/// Outputs that the first thread collects for the whole network.
struct Recorder<'r> {
    recording: bool,
    record: &'r mut SpikeRecord,
    spikes_last_step: &'r mut Vec<u32>,
    population_spike_counts: &'r mut [u32],
    n_spikes: &'r mut u64,
}

/// Read-only context shared by the threads of one run.
struct Shared<'n> {
    network: &'n DenseNetwork,
    barrier: SpinBarrier,
    spike_lists: &'n [[RwLock<WindowSpikes>; 2]],
    first_step: u64,
    n_steps: usize,
    n_slots: usize,
    /// Steps per window: the shortest delay, so no spike of a window arrives within it.
    window_steps: usize,
    isa: Isa,
}

/// Spikes of one block in one window, step by step.
#[derive(Debug)]
struct WindowSpikes {
    neurons: Vec<u32>,
    /// `neurons[step_ends[k - 1]..step_ends[k]]` spiked in step `k` of the window.
    step_ends: Vec<usize>,
}

impl WindowSpikes {
    fn with_capacity(capacity: usize) -> WindowSpikes {
        WindowSpikes {
            neurons: Vec::with_capacity(capacity),
            step_ends: Vec::new(),
        }
    }

    /// Returns the spikes of step `offset` of the window, ascending.
    fn step(&self, offset: usize) -> &[u32] {
        let start = if offset == 0 {
            0
        } else {
            self.step_ends[offset - 1]
        };
        &self.neurons[start..self.step_ends[offset]]
    }
}

impl Shared<'_> {
    /// Runs every step for one block, in windows of `window_steps` steps.
    ///
    /// A spike of step `k` arrives no earlier than `k + window_steps`, so each block can
    /// integrate a whole window from input scheduled before it. One barrier per window then
    /// separates integration (which writes this block's spike list of the window's parity)
    /// from scheduling (which reads every block's list, step by step). A block cannot start the
    /// window after next, and overwrite a list, before every block has passed the next
    /// barrier, which each does only after it finished scheduling this window. Every slot
    /// receives its input ordered by emission step, then neuron, whatever the window length
    /// or number of blocks.
    fn work(
        &self,
        index: usize,
        block: &mut Block,
        mut state: NeuronState<'_>,
        mut recorder: Option<&mut Recorder<'_>>,
    ) {
        let mut done = 0;
        let mut parity = 0;
        while done < self.n_steps {
            let window_len = self.window_steps.min(self.n_steps - done);
            let first_step = self.first_step + done as u64;
            {
                let mut spikes = self.spike_lists[index][parity]
                    .write()
                    .expect("spike lists are never poisoned: workers do not panic");
                spikes.neurons.clear();
                spikes.step_ends.clear();
                for offset in 0..window_len {
                    let slot = self.slot(first_step + offset as u64);
                    match &self.network.coupling {
                        Coupling::Dense { .. } => {
                            self.advance_dense(block, &mut state, slot, &mut spikes.neurons)
                        }
                        Coupling::Uniform { .. } => {
                            self.advance_uniform(block, &mut state, slot, &mut spikes.neurons)
                        }
                    }
                    let end = spikes.neurons.len();
                    spikes.step_ends.push(end);
                }
            }
            if self.spike_lists.len() > 1 {
                self.barrier.wait();
            }

            for offset in 0..window_len {
                let step = first_step + offset as u64;
                let slot = self.slot(step);
                match &self.network.coupling {
                    Coupling::Dense { weights } => {
                        self.schedule_dense(block, weights, slot, parity, offset)
                    }
                    Coupling::Uniform { weights } => {
                        self.schedule_uniform(block, weights, slot, parity, offset)
                    }
                }
                if let Some(recorder) = recorder.as_deref_mut() {
                    self.collect(recorder, step, parity, offset);
                }
            }
            done += window_len;
            parity = 1 - parity;
        }
    }

    /// Returns the ring slot of step `step`.
    fn slot(&self, step: u64) -> usize {
        (step % self.n_slots as u64) as usize
    }

    fn advance_dense(
        &self,
        block: &mut Block,
        state: &mut NeuronState<'_>,
        slot: usize,
        spikes: &mut Vec<u32>,
    ) {
        let width = block.neurons.len();
        let arrivals = &mut block.ring[slot * width..(slot + 1) * width];
        for advance in &block.advance_plan {
            let (pop, local) = match advance {
                Advance::Exponential { constants, local } => {
                    let fired = &mut block.fired[local.clone()];
                    let neurons = ExponentialNeurons {
                        potentials: &mut state.potentials[local.clone()],
                        synaptic_currents: &mut state.synaptic_currents[local.clone()],
                        refractory_left: &mut state.refractory_left[local.clone()],
                        drive_gains: &state.drive_gains[local.clone()],
                        arrivals: &mut arrivals[local.clone()],
                        fired,
                    };
                    if self.isa.advance_exponential(constants, neurons) {
                        let fired = &block.fired[local.clone()];
                        push_fired(fired, state.first_neuron + local.start, spikes);
                    }
                    continue;
                }
                Advance::General { pop, local } => (*pop, local),
            };
            let constants = self.constants(pop);
            let p = constants.propagators;
            let two_state = p.two_state;
            for i in local.clone() {
                // Input arriving in this step joins the input state before integration.
                let arrived = std::mem::take(&mut arrivals[i]);
                let (syn_start, rise_start) = if two_state {
                    state.rise_states[i] += p.input_scale * arrived;
                    let (syn, rise) = (state.synaptic_currents[i], state.rise_states[i]);
                    state.synaptic_currents[i] = p.syn_decay * syn + p.syn_from_rise * rise;
                    state.rise_states[i] = p.rise_decay * rise;
                    (syn, rise)
                } else {
                    state.synaptic_currents[i] += p.input_scale * arrived;
                    let syn = state.synaptic_currents[i];
                    state.synaptic_currents[i] = p.syn_decay * syn;
                    (syn, 0.0)
                };
                constants.membrane_step(state, i, syn_start, rise_start, spikes);
            }
        }
    }

    fn advance_uniform(
        &self,
        block: &mut Block,
        state: &mut NeuronState<'_>,
        slot: usize,
        spikes: &mut Vec<u32>,
    ) {
        // Every block advances every population's shared state identically.
        let n_populations = self.network.n_populations();
        let arrivals = &mut block.ring[slot * n_populations..(slot + 1) * n_populations];
        for (pop, arrived) in arrivals.iter_mut().enumerate() {
            let p = &self.network.propagators[pop];
            let arrived = std::mem::take(arrived);
            let (syn, rise) = (
                &mut block.population_currents[pop],
                &mut block.population_rise_states[pop],
            );
            if p.two_state {
                *rise += p.input_scale * arrived;
            } else {
                *syn += p.input_scale * arrived;
            }
            let (syn_start, rise_start) = (*syn, *rise);
            *syn = p.syn_decay * syn_start + p.syn_from_rise * rise_start;
            *rise = p.rise_decay * rise_start;
            for (segment_pop, local) in &block.segments {
                if *segment_pop != pop {
                    continue;
                }
                let constants = self.constants(pop);
                if p.noise_sd == 0.0 {
                    let fired = &mut block.fired[local.clone()];
                    constants.advance_shared_noiseless(
                        state,
                        local.clone(),
                        syn_start,
                        rise_start,
                        fired,
                    );
                    push_fired(fired, state.first_neuron + local.start, spikes);
                    continue;
                }
                for i in local.clone() {
                    constants.membrane_step(state, i, syn_start, rise_start, spikes);
                }
            }
        }
    }

    fn constants(&self, pop: usize) -> PopulationConstants<'_> {
        let params = &self.network.params().populations[pop];
        PopulationConstants {
            propagators: &self.network.propagators[pop],
            v_threshold: params.neuron.v_threshold,
            v_reset: params.neuron.v_reset,
            refractory_steps: self.network.refractory_steps[pop],
        }
    }

    /// Adds the weight rows of every spike of step `offset` of the window, in ascending neuron
    /// order, into this block's slots of their arrival steps.
    ///
    /// Consecutive spikes whose source populations have the same runs form groups of up to
    /// [`MAX_GROUP`] rows. A group loads each target once, adds its rows one after the other
    /// and stores the sum, which rounds exactly as adding the rows one at a time does.
    fn schedule_dense(
        &self,
        block: &mut Block,
        weights: &[f32],
        slot: usize,
        parity: usize,
        offset: usize,
    ) {
        let n = self.network.n_neurons();
        let offsets = self.network.pop_offsets();
        let mut group: [&[f32]; MAX_GROUP] = [&[]; MAX_GROUP];
        let mut group_len = 0;
        let mut group_class = 0;
        for list in self.spike_lists {
            let spikes = list[parity].read().expect("spike lists are never poisoned");
            for &pre in spikes.step(offset) {
                let pre = pre as usize;
                let source_pop = offsets.partition_point(|&start| start <= pre) - 1;
                let class = block.run_class[source_pop];
                if group_len == MAX_GROUP || (group_len > 0 && class != group_class) {
                    self.add_group(block, &group[..group_len], group_class, slot);
                    group_len = 0;
                }
                group[group_len] = &weights[pre * n..(pre + 1) * n];
                group_class = class;
                group_len += 1;
            }
        }
        if group_len > 0 {
            self.add_group(block, &group[..group_len], group_class, slot);
        }
    }

    /// Adds full weight rows of spikes from populations of run class `class` into the ring.
    fn add_group(&self, block: &mut Block, rows: &[&[f32]], class: usize, slot: usize) {
        let width = block.neurons.len();
        for run in &block.runs[class] {
            let arrival = (slot + run.delay_steps as usize) % self.n_slots;
            let start = arrival * width;
            let targets = &mut block.ring[start + run.local.start..start + run.local.end];
            let len = targets.len();
            let mut segments: [&[f32]; MAX_GROUP] = [&[]; MAX_GROUP];
            for (segment, row) in segments.iter_mut().zip(rows) {
                *segment = &row[run.first_target..run.first_target + len];
            }
            self.isa.add_rows(targets, &segments[..rows.len()]);
        }
    }

    /// Adds `w[a, b] * count_b` for every population pair into the slot of its arrival step.
    fn schedule_uniform(
        &self,
        block: &mut Block,
        weights: &[f64],
        slot: usize,
        parity: usize,
        offset: usize,
    ) {
        let n_populations = self.network.n_populations();
        let offsets = self.network.pop_offsets();
        block.spike_counts.fill(0);
        for list in self.spike_lists {
            let spikes = list[parity].read().expect("spike lists are never poisoned");
            for &pre in spikes.step(offset) {
                let source_pop = offsets.partition_point(|&start| start <= pre as usize) - 1;
                block.spike_counts[source_pop] += 1;
            }
        }
        for target in 0..n_populations {
            for (source_pop, &count) in block.spike_counts.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let delay = self.network.delay_steps(target, source_pop) as usize;
                let arrival = (slot + delay) % self.n_slots;
                let weight = weights[target * n_populations + source_pop];
                block.ring[arrival * n_populations + target] += weight * f64::from(count);
            }
        }
    }

    /// Copies the spikes of step `offset` of the window into the network-wide outputs.
    fn collect(&self, recorder: &mut Recorder<'_>, step: u64, parity: usize, offset: usize) {
        recorder.spikes_last_step.clear();
        for list in self.spike_lists {
            let spikes = list[parity].read().expect("spike lists are never poisoned");
            recorder
                .spikes_last_step
                .extend_from_slice(spikes.step(offset));
        }
        let offsets = self.network.pop_offsets();
        recorder.population_spike_counts.fill(0);
        for &neuron in recorder.spikes_last_step.iter() {
            let pop = offsets.partition_point(|&start| start <= neuron as usize) - 1;
            recorder.population_spike_counts[pop] += 1;
        }
        let n = recorder.spikes_last_step.len();
        *recorder.n_spikes += n as u64;
        if recorder.recording {
            recorder.record.steps.extend(std::iter::repeat_n(step, n));
            recorder
                .record
                .neurons
                .extend_from_slice(recorder.spikes_last_step);
        }
    }
}

/// Constants of one population for one step.
struct PopulationConstants<'p> {
    propagators: &'p Propagators,
    v_threshold: f64,
    v_reset: f64,
    refractory_steps: u32,
}

impl PopulationConstants<'_> {
    /// Advances the membrane of block-local neuron `i` from the start-of-step synaptic state,
    /// then tests the threshold and resets. The arithmetic matches `Simulation` term by term.
    #[inline(always)]
    fn membrane_step(
        &self,
        state: &mut NeuronState<'_>,
        i: usize,
        syn_start: f64,
        rise_start: f64,
        spikes: &mut Vec<u32>,
    ) {
        let p = self.propagators;
        if state.refractory_left[i] > 0 {
            state.refractory_left[i] -= 1;
            state.potentials[i] = self.v_reset;
            return;
        }
        let mut v_end =
            p.v_decay * state.potentials[i] + state.drive_gains[i] + p.v_from_syn * syn_start;
        if p.two_state {
            v_end += p.v_from_rise * rise_start;
        }
        if p.noise_sd > 0.0 {
            let z: f64 = state.noise_rngs[i].sample(StandardNormal);
            v_end += p.noise_sd * z;
        }
        if v_end >= self.v_threshold {
            v_end = self.v_reset;
            state.refractory_left[i] = self.refractory_steps;
            spikes.push((state.first_neuron + i) as u32);
        }
        state.potentials[i] = v_end;
    }
}

impl PopulationConstants<'_> {
    /// Advances block-local neurons `local` without noise from a synaptic state shared by the
    /// population, with the arithmetic of [`PopulationConstants::membrane_step`].
    fn advance_shared_noiseless(
        &self,
        state: &mut NeuronState<'_>,
        local: Range<usize>,
        syn_start: f64,
        rise_start: f64,
        fired: &mut [u8],
    ) {
        let p = self.propagators;
        let potentials = &mut state.potentials[local.clone()];
        let len = potentials.len();
        let refractory = &mut state.refractory_left[local.clone()][..len];
        let drive_gains = &state.drive_gains[local][..len];
        let fired = &mut fired[..len];
        let syn_gain = p.v_from_syn * syn_start;
        let rise_gain = p.v_from_rise * rise_start;
        for i in 0..len {
            let mut v_end = p.v_decay * potentials[i] + drive_gains[i] + syn_gain;
            if p.two_state {
                v_end += rise_gain;
            }
            let left = refractory[i];
            let fire = left == 0 && v_end >= self.v_threshold;
            potentials[i] = if left > 0 || fire {
                self.v_reset
            } else {
                v_end
            };
            refractory[i] = if fire {
                self.refractory_steps
            } else {
                left.saturating_sub(1)
            };
            fired[i] = u8::from(fire);
        }
    }
}

/// Barrier for a fixed number of threads that spins briefly, then yields.
///
/// Steps last microseconds, too short for the futex round trip of `std::sync::Barrier`. With
/// more threads than cores a waiting thread yields at once, because spinning would only delay
/// the threads it waits for.
#[derive(Debug)]
struct SpinBarrier {
    n_threads: usize,
    max_spins: u32,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(n_threads: usize) -> SpinBarrier {
        let n_cores = std::thread::available_parallelism().map_or(1, usize::from);
        SpinBarrier {
            n_threads,
            max_spins: if n_threads <= n_cores { 4_000 } else { 0 },
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n_threads {
            // No thread can arrive again before the generation changes, so the reset is safe.
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < self.max_spins {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DenseNetworkParams, NeuronParams, PopulationParams, SynapseModel};

    /// Populations on the vectorised path (two with equal constants, one with its own) and on
    /// the neuron-by-neuron path (noise, a two-state kernel), with random `f32` weights.
    fn mixed_network() -> DenseNetwork {
        let exponential = |n_neurons, tau_m_ms, sigma_v| PopulationParams {
            n_neurons,
            neuron: NeuronParams {
                tau_m_ms,
                t_ref_ms: 2.0,
                sigma_v,
                ..NeuronParams::default()
            },
            synapse: SynapseModel::Exponential { tau_ms: 5.0 },
            bias: 1.15,
        };
        let alpha = PopulationParams {
            synapse: SynapseModel::Alpha { tau_ms: 3.0 },
            ..exponential(11, 15.0, 0.0)
        };
        let populations = vec![
            exponential(37, 20.0, 0.0),
            exponential(40, 20.0, 0.0),
            exponential(29, 10.0, 0.0),
            exponential(9, 20.0, 0.3),
            alpha,
        ];
        let params = DenseNetworkParams::with_uniform_delay(0.1, populations, 1.0);
        DenseNetwork::from_rows(params, 1, |pre, row| {
            let mut rng = ChaCha8Rng::seed_from_u64(17);
            rng.set_stream(pre as u64);
            for w in row {
                *w = rng.random_range(-0.02f32..0.03);
            }
        })
        .expect("valid network")
    }

    #[test]
    fn plan_merges_equal_exponential_populations() {
        let network = mixed_network();
        let block = Block::new(&network, 0..network.n_neurons(), 11).expect("small block");
        let ranges: Vec<(bool, Range<usize>)> = block
            .advance_plan
            .iter()
            .map(|advance| match advance {
                Advance::Exponential { local, .. } => (true, local.clone()),
                Advance::General { local, .. } => (false, local.clone()),
            })
            .collect();
        let expected = vec![
            (true, 0..77),
            (true, 77..106),
            (false, 106..115),
            (false, 115..126),
        ];
        assert_eq!(ranges, expected);
    }

    #[test]
    fn every_isa_gives_the_same_run() {
        // 4000 steps on 1 and 3 threads with the portable loops and with every instruction
        // set this CPU supports: the same spikes, potentials and currents, bit for bit.
        let network = mixed_network();
        let run = |isa: Isa, threads: usize| {
            let mut sim = DenseSimulation::new(&network, 3, threads).expect("valid threads");
            sim.isa = isa;
            sim.set_potentials_uniform(&mut ChaCha8Rng::seed_from_u64(5));
            sim.record_spikes(true);
            sim.run(4000);
            let potentials: Vec<u64> = sim.potentials().iter().map(|v| v.to_bits()).collect();
            let currents: Vec<u64> = (0..network.n_neurons())
                .map(|i| sim.synaptic_current(i).to_bits())
                .collect();
            (sim.take_spike_record(), potentials, currents)
        };
        let portable = run(Isa::Portable, 1);
        assert!(portable.0.len() > 1000, "{} spikes", portable.0.len());
        for isa in Isa::available() {
            for threads in [1, 3] {
                assert_eq!(run(isa, threads), portable, "{isa:?}, {threads} threads");
            }
        }
    }
}
