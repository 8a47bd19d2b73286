//! Drawn synapses follow their wiring rule, and Poisson input gives the mean current
//! `J * n_inputs * rate * tau_area` under every synapse model.

use std::collections::HashSet;

use iaf_sim::{
    Connectivity, Network, NetworkParams, NeuronParams, PoissonSourceParams, PopulationParams,
    ProjectionParams, Simulation, Source, SynapseModel,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Population 0 (40 neurons) projects onto itself with the given rule.
fn self_projection(connectivity: Connectivity, seed: u64) -> Network {
    let params = NetworkParams {
        populations: vec![PopulationParams {
            n_neurons: 40,
            ..PopulationParams::default()
        }],
        projections: vec![ProjectionParams {
            source: Source::Population(0),
            target: 0,
            weight: 0.25,
            delay_ms: 2.0,
            connectivity,
        }],
        ..NetworkParams::default()
    };
    Network::build(params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

/// All `(pre, post)` pairs of population 0 onto itself, checking weight and delay.
fn pairs(network: &Network) -> Vec<(usize, u32)> {
    let mut pairs = Vec::new();
    for pre in network.population_range(0) {
        for synapse in network.outgoing_synapses(Source::Population(0), pre) {
            assert_eq!(synapse.weight, 0.25);
            assert_eq!(synapse.delay_steps, 20);
            pairs.push((pre, synapse.target));
        }
    }
    pairs
}

#[test]
fn fixed_indegree_draws_k_distinct_inputs() {
    for k in [0, 1, 12, 40] {
        let network = self_projection(Connectivity::FixedIndegree { k }, 3);
        let pairs = pairs(&network);
        assert_eq!(network.n_synapses(), 40 * k);
        for post in 0..40u32 {
            let inputs: HashSet<usize> = pairs
                .iter()
                .filter(|&&(_, target)| target == post)
                .map(|&(pre, _)| pre)
                .collect();
            assert_eq!(inputs.len(), k, "post {post}: distinct inputs");
        }
    }
    // k = n_pre connects every pair, including each neuron to itself.
    let all = pairs(&self_projection(Connectivity::FixedIndegree { k: 40 }, 3));
    assert!(all.contains(&(7, 7)));
}

#[test]
fn bernoulli_count_and_no_duplicates() {
    // 1600 pairs at p = 0.3: mean 480, SD sqrt(1600 * 0.3 * 0.7) = 18.3; five SDs is 92.
    let network = self_projection(Connectivity::Bernoulli { p: 0.3 }, 4);
    let pairs = pairs(&network);
    let n = pairs.len() as f64;
    assert!((n - 480.0).abs() <= 92.0, "{n} synapses");
    let distinct: HashSet<_> = pairs.iter().collect();
    assert_eq!(distinct.len(), pairs.len());
    // p = 1 connects every pair.
    let full = self_projection(Connectivity::Bernoulli { p: 1.0 }, 4);
    assert_eq!(full.n_synapses(), 1600);
}

#[test]
fn zero_indegree_and_probability_give_no_synapses() {
    for connectivity in [
        Connectivity::FixedIndegree { k: 0 },
        Connectivity::Bernoulli { p: 0.0 },
    ] {
        let network = self_projection(connectivity, 4);
        assert_eq!(network.n_synapses(), 0, "{connectivity:?}");
        // The projection still sets the longest delay: 2 ms at dt = 0.1 ms.
        assert_eq!(network.delay_steps(0), 20, "{connectivity:?}");
    }
}

#[test]
fn all_to_all_includes_self_connections() {
    let network = self_projection(Connectivity::AllToAll, 5);
    let pairs = pairs(&network);
    assert_eq!(pairs.len(), 1600);
    for neuron in 0..40 {
        assert!(pairs.contains(&(neuron, neuron as u32)), "autapse {neuron}");
    }
}

#[test]
fn poisson_synapses_reach_their_target_only() {
    let params = NetworkParams {
        populations: vec![PopulationParams::default(); 2],
        poisson_sources: vec![PoissonSourceParams { n_neurons: 7 }],
        projections: vec![ProjectionParams {
            source: Source::Poisson(0),
            target: 1,
            weight: -0.5,
            delay_ms: 0.25,
            connectivity: Connectivity::FixedIndegree { k: 3 },
        }],
        ..NetworkParams::default()
    };
    let network = Network::build(params, &mut ChaCha8Rng::seed_from_u64(6)).unwrap();
    assert_eq!(network.n_synapses(), 300);
    let mut count = 0;
    for generator in 0..7 {
        for synapse in network.outgoing_synapses(Source::Poisson(0), generator) {
            assert!((100..200).contains(&(synapse.target as usize)));
            assert_eq!(synapse.weight, -0.5);
            assert_eq!(synapse.delay_steps, 3);
            count += 1;
        }
    }
    assert_eq!(count, 300);
}

/// Time-averaged synaptic current of one neuron fed by `n_generators` Poisson generators at
/// `rate_hz` with weight `weight`, sampled after every step for `duration_ms` after 200 ms of
/// warm-up.
fn mean_current(
    synapse: SynapseModel,
    n_generators: usize,
    rate_hz: f64,
    weight: f64,
    duration_ms: f64,
    seed: u64,
) -> f64 {
    let params = NetworkParams {
        populations: vec![PopulationParams {
            n_neurons: 1,
            neuron: NeuronParams {
                sigma_v: 0.0,
                v_threshold: 1e12,
                ..NeuronParams::default()
            },
            synapse,
            bias: 0.0,
        }],
        poisson_sources: vec![PoissonSourceParams {
            n_neurons: n_generators,
        }],
        projections: vec![ProjectionParams {
            source: Source::Poisson(0),
            target: 0,
            weight,
            delay_ms: 1.0,
            connectivity: Connectivity::AllToAll,
        }],
        ..NetworkParams::default()
    };
    let network = Network::build(params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
    let mut sim = Simulation::new(&network, seed);
    sim.set_poisson_rate(0, rate_hz);
    sim.run(2000);
    let n_steps = (duration_ms / network.params().dt_ms).round() as usize;
    let mut sum = 0.0;
    for _ in 0..n_steps {
        sim.step();
        sum += sim.synaptic_currents()[0];
    }
    sum / n_steps as f64
}

/// Expected mean and standard error of [`mean_current`].
///
/// Each arriving spike contributes `K(k dt)` to the samples `k = 1, 2, ...` after its arrival,
/// so the sampled mean is `J lambda dt sum_k K(k dt) = J lambda (tau_area - dt K(0+) / 2)` up
/// to O(dt^2), with `lambda = n r` the total input rate and `K(0+)` = 1 for the exponential
/// kernel, 0 for the others. The average over `T` is `J tau_area N_T / T` plus edge effects,
/// with `N_T` Poisson of mean `lambda T`, so its relative standard error is `1 / sqrt(lambda T)`.
fn expected_current(
    synapse: &SynapseModel,
    n_generators: usize,
    rate_hz: f64,
    weight: f64,
    duration_ms: f64,
) -> (f64, f64) {
    let lambda_per_ms = n_generators as f64 * rate_hz / 1000.0;
    let jump_at_zero = match synapse {
        SynapseModel::Exponential { .. } => 1.0,
        _ => 0.0,
    };
    let dt_ms = 0.1;
    let mean = weight * lambda_per_ms * (synapse.tau_area_ms() - dt_ms * jump_at_zero / 2.0);
    let rel_se = 1.0 / (lambda_per_ms * duration_ms).sqrt();
    (mean, mean * rel_se)
}

#[test]
fn mean_current_is_the_same_for_every_kernel() {
    // 100 generators at 50 Hz with J = 0.01 for 40 s: 200,000 spikes, a standard error of
    // 0.22%, and four standard errors as tolerance.
    let models = [
        SynapseModel::Exponential { tau_ms: 20.0 },
        SynapseModel::FETZ_LAB_PSP,
        SynapseModel::Alpha { tau_ms: 5.0 },
    ];
    for synapse in models {
        let (expected, se) = expected_current(&synapse, 100, 50.0, 0.01, 40_000.0);
        let mean = mean_current(synapse.clone(), 100, 50.0, 0.01, 40_000.0, 1);
        assert!(
            (mean - expected).abs() <= 4.0 * se,
            "{synapse:?}: {mean} vs {expected} +- {se}"
        );
    }
}

#[test]
fn poisson_generator_fires_several_times_per_step() {
    // One generator at 20 kHz emits Poisson(2) spikes per 0.1 ms step, and every one of them
    // is delivered: the mean current is about 0.01 * 20 kHz * 20 ms = 4.
    let synapse = SynapseModel::default();
    let (expected, se) = expected_current(&synapse, 1, 20_000.0, 0.01, 10_000.0);
    let mean = mean_current(synapse, 1, 20_000.0, 0.01, 10_000.0, 9);
    assert!(
        (mean - expected).abs() <= 4.0 * se,
        "{mean} vs {expected} +- {se}"
    );
}
