//! Property tests: refractoriness, chunked runs and reproducibility from a seed.

use iaf_sim::{
    Connectivity, Network, NetworkParams, NeuronParams, PoissonSourceParams, PopulationParams,
    ProjectionParams, Simulation, Source, SynapseModel,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Strongly coupled excitatory network so that input keeps arriving during refractory periods.
fn recurrent_network(neuron: NeuronParams, dt_ms: f64, mu: f64, seed: u64) -> Network {
    let params = NetworkParams {
        dt_ms,
        populations: vec![PopulationParams {
            n_neurons: 20,
            neuron,
            synapse: SynapseModel::Exponential { tau_ms: 5.0 },
            bias: mu,
        }],
        projections: vec![ProjectionParams {
            source: Source::Population(0),
            target: 0,
            weight: 0.3,
            delay_ms: 1.0,
            connectivity: Connectivity::Bernoulli { p: 0.5 },
        }],
        ..NetworkParams::default()
    };
    Network::build(params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_spike_inside_refractory_period(
        dt_ms in prop::sample::select(vec![0.05, 0.1, 0.2]),
        t_ref_factor in 1.0f64..40.0,
        tau_m_ms in 1.0f64..30.0,
        v_reset in -0.5f64..0.5,
        mu in 0.5f64..5.0,
        sigma_v in 0.0f64..1.5,
        seed in any::<u64>(),
    ) {
        let neuron = NeuronParams {
            tau_m_ms,
            t_ref_ms: t_ref_factor * dt_ms,
            v_threshold: 1.0,
            v_reset,
            sigma_v,
        };
        let network = recurrent_network(neuron, dt_ms, mu, seed);
        let refractory = u64::from(network.refractory_steps(0));
        prop_assert!(refractory >= 1);

        let mut sim = Simulation::new(&network, seed);
        sim.set_potentials_uniform(&mut ChaCha8Rng::seed_from_u64(seed ^ 1));
        let mut last_spike: Vec<Option<u64>> = vec![None; 20];
        for _ in 0..2000 {
            sim.step();
            let step = sim.step_idx();
            for &neuron in sim.spikes_last_step() {
                if let Some(last) = last_spike[neuron as usize] {
                    // A spike in step s is followed by `refractory` clamped steps.
                    prop_assert!(step - last > refractory, "neuron {neuron}: {last} -> {step}");
                }
                last_spike[neuron as usize] = Some(step);
            }
            for (neuron, last) in last_spike.iter().enumerate() {
                if let Some(last) = *last {
                    if step > last && step - last <= refractory {
                        prop_assert_eq!(sim.potentials()[neuron], v_reset);
                    }
                }
            }
        }
    }
}

/// Two populations with different kernels, a Poisson source and three kinds of wiring.
fn mixed_network(seed: u64) -> Network {
    let params = NetworkParams {
        dt_ms: 0.1,
        populations: vec![
            PopulationParams {
                n_neurons: 30,
                bias: 0.8,
                ..PopulationParams::default()
            },
            PopulationParams {
                n_neurons: 20,
                synapse: SynapseModel::FETZ_LAB_PSP,
                bias: 0.5,
                ..PopulationParams::default()
            },
        ],
        poisson_sources: vec![PoissonSourceParams { n_neurons: 10 }],
        projections: vec![
            ProjectionParams {
                source: Source::Population(0),
                target: 1,
                weight: 0.05,
                delay_ms: 3.0,
                connectivity: Connectivity::FixedIndegree { k: 10 },
            },
            ProjectionParams {
                source: Source::Population(1),
                target: 0,
                weight: -0.02,
                delay_ms: 1.2,
                connectivity: Connectivity::Bernoulli { p: 0.3 },
            },
            ProjectionParams {
                source: Source::Poisson(0),
                target: 0,
                weight: 0.01,
                delay_ms: 0.5,
                connectivity: Connectivity::AllToAll,
            },
        ],
    };
    Network::build(params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

/// Full observable state after a run: spikes, potentials, currents and rise states.
type Snapshot = (iaf_sim::SpikeRecord, Vec<f64>, Vec<f64>, Vec<f64>);

/// Runs `n_steps` in the given chunks, changing the inputs at step 700 (which must fall on a
/// chunk boundary).
fn run_in_chunks(network: &Network, seed: u64, chunks: &[usize]) -> Snapshot {
    let mut sim = Simulation::new(network, seed);
    sim.set_potentials_uniform(&mut ChaCha8Rng::seed_from_u64(seed));
    sim.set_synaptic_current(1, 0.2).unwrap();
    sim.set_poisson_rate(0, 200.0);
    sim.record_spikes(true);
    for &chunk in chunks {
        if sim.step_idx() == 700 {
            sim.set_injected_current(1, 0.4).unwrap();
            sim.set_poisson_rate(0, 50.0);
        }
        sim.run(chunk);
    }
    (
        sim.take_spike_record(),
        sim.potentials().to_vec(),
        sim.synaptic_currents().to_vec(),
        sim.rise_states().to_vec(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn chunked_run_equals_one_run(seed in any::<u64>(), split in 1usize..700) {
        let network = mixed_network(seed);
        let one_run = run_in_chunks(&network, seed, &[700, 800]);
        let chunked = run_in_chunks(&network, seed, &[split, 700 - split, 1, 799]);
        prop_assert!(!one_run.0.is_empty());
        prop_assert_eq!(&one_run, &chunked);
    }

    #[test]
    fn same_seed_same_spikes(seed in any::<u64>()) {
        // Two builds from one seed give the same synapses, and two simulations the same
        // state bit for bit; another seed gives other spikes.
        let first = mixed_network(seed);
        let second = mixed_network(seed);
        prop_assert_eq!(first.n_synapses(), second.n_synapses());
        for neuron in 0..30 {
            let a: Vec<_> = first.outgoing_synapses(Source::Population(0), neuron).collect();
            let b: Vec<_> = second.outgoing_synapses(Source::Population(0), neuron).collect();
            prop_assert_eq!(a, b);
        }
        let a = run_in_chunks(&first, seed, &[700, 800]);
        let b = run_in_chunks(&second, seed, &[700, 800]);
        prop_assert_eq!(&a, &b);
        let other = run_in_chunks(&first, seed.wrapping_add(1), &[700, 800]);
        prop_assert_ne!(&a.0, &other.0);
    }
}
