//! The dense engine: bit-identical results for 1, 2 and 8 threads, agreement with the sparse
//! engine, the uniform coupling, and its input checks.

use iaf_sim::{
    Connectivity, DenseNetwork, DenseNetworkParams, DenseSimulation, Error, Network, NetworkParams,
    NeuronParams, PopulationParams, ProjectionParams, Simulation, Source, SpikeRecord,
    SynapseModel,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

const DT_MS: f64 = 0.1;

/// Three populations of sizes 7, 13 and 5 with the three kernels and different neurons.
fn populations(sigma_v: f64) -> Vec<PopulationParams> {
    let neuron = |tau_m_ms, t_ref_ms| NeuronParams {
        tau_m_ms,
        t_ref_ms,
        sigma_v,
        ..NeuronParams::default()
    };
    vec![
        PopulationParams {
            n_neurons: 7,
            neuron: neuron(10.0, 2.0),
            synapse: SynapseModel::Exponential { tau_ms: 10.0 },
            bias: 1.2,
        },
        PopulationParams {
            n_neurons: 13,
            neuron: neuron(20.0, 1.0),
            synapse: SynapseModel::FETZ_LAB_PSP,
            bias: 1.1,
        },
        PopulationParams {
            n_neurons: 5,
            neuron: neuron(5.0, 3.0),
            synapse: SynapseModel::Alpha { tau_ms: 5.0 },
            bias: 1.4,
        },
    ]
}

/// Delays of 0.3 to 1.5 ms, different for every population pair.
fn delays_ms() -> Vec<Vec<f64>> {
    vec![
        vec![0.3, 1.0, 1.5],
        vec![0.7, 0.5, 1.2],
        vec![1.1, 0.4, 0.9],
    ]
}

/// Dense network with Gaussian weights seeded by row.
fn dense_network(sigma_v: f64) -> DenseNetwork {
    let params = DenseNetworkParams {
        dt_ms: DT_MS,
        populations: populations(sigma_v),
        delays_ms: delays_ms(),
    };
    DenseNetwork::from_rows(params, 2, |pre, row| {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        rng.set_stream(pre as u64);
        for w in row {
            let z: f64 = rng.sample(StandardNormal);
            *w = (0.02 + 0.05 * z) as f32;
        }
    })
    .unwrap()
}

/// Full observable state after a run.
#[derive(Debug, PartialEq)]
struct Snapshot {
    spikes: SpikeRecord,
    potentials: Vec<u64>,
    currents: Vec<u64>,
    rises: Vec<u64>,
}

fn run_dense(network: &DenseNetwork, threads: usize, chunks: &[usize]) -> Snapshot {
    let mut sim = DenseSimulation::new(network, 5, threads).unwrap();
    let n = network.n_neurons();
    let biases: Vec<f64> = (0..n).map(|i| 0.01 * (i % 5) as f64).collect();
    sim.set_biases(&biases).unwrap();
    sim.set_potentials_uniform(&mut ChaCha8Rng::seed_from_u64(3));
    sim.record_spikes(true);
    for &chunk in chunks {
        sim.run(chunk);
    }
    Snapshot {
        spikes: sim.take_spike_record(),
        potentials: sim.potentials().iter().map(|v| v.to_bits()).collect(),
        currents: (0..n).map(|i| sim.synaptic_current(i).to_bits()).collect(),
        rises: (0..n).map(|i| sim.rise_state(i).to_bits()).collect(),
    }
}

#[test]
fn dense_threads_give_identical_bits() {
    // Noise, three kernels, per-pair delays and per-neuron biases; 25 neurons split into 1, 2
    // and 8 blocks whose boundaries cut through populations.
    let network = dense_network(0.5);
    let one = run_dense(&network, 1, &[3000]);
    assert!(one.spikes.len() > 500, "{} spikes", one.spikes.len());
    for threads in [2, 8] {
        let many = run_dense(&network, threads, &[3000]);
        assert_eq!(many, one, "{threads} threads");
    }
}

#[test]
fn dense_chunked_run_equals_one_run() {
    let network = dense_network(0.5);
    let one = run_dense(&network, 2, &[2000]);
    let chunked = run_dense(&network, 2, &[1, 699, 3, 1297]);
    assert_eq!(chunked, one);
}

#[test]
fn uniform_threads_give_identical_bits() {
    let params = DenseNetworkParams {
        dt_ms: DT_MS,
        populations: populations(0.5),
        delays_ms: delays_ms(),
    };
    let weights = Array2::from_shape_fn((3, 3), |(a, b)| 0.01 * (a as f64 - b as f64 + 0.5));
    let network = DenseNetwork::uniform(params, weights.view()).unwrap();
    let one = run_dense(&network, 1, &[3000]);
    assert!(one.spikes.len() > 300, "{} spikes", one.spikes.len());
    for threads in [2, 8] {
        assert_eq!(
            run_dense(&network, threads, &[3000]),
            one,
            "{threads} threads"
        );
    }
}

/// Weight from population `b` onto population `a`: a multiple of 1/64, exact in `f32`, and
/// sums of a few of them are exact in `f64`.
fn dyadic_weight(a: usize, b: usize) -> f64 {
    ((a * 3 + b * 5) % 7) as f64 / 64.0 - 0.03125
}

/// Builds one all-to-all network in both engines, with the weight `weight(a, b)` and the delay
/// `delays_ms[a][b]` from every neuron of population `b` onto every neuron of population `a`.
fn sparse_and_dense(
    populations: Vec<PopulationParams>,
    delays_ms: Vec<Vec<f64>>,
    weight: impl Fn(usize, usize) -> f64 + Sync,
) -> (Network, DenseNetwork) {
    let n_populations = populations.len();
    let mut projections = Vec::new();
    for (a, row) in delays_ms.iter().enumerate() {
        for (b, &delay_ms) in row.iter().enumerate() {
            projections.push(ProjectionParams {
                source: Source::Population(b),
                target: a,
                weight: weight(a, b),
                delay_ms,
                connectivity: Connectivity::AllToAll,
            });
        }
    }
    let sparse_params = NetworkParams {
        dt_ms: DT_MS,
        populations: populations.clone(),
        projections,
        ..NetworkParams::default()
    };
    let sparse = Network::build(sparse_params, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();

    let pop_of: Vec<usize> = (0..n_populations)
        .flat_map(|pop| std::iter::repeat_n(pop, populations[pop].n_neurons))
        .collect();
    let dense_params = DenseNetworkParams {
        dt_ms: DT_MS,
        populations,
        delays_ms,
    };
    let dense = DenseNetwork::from_rows(dense_params, 1, |pre, row| {
        for (post, w) in row.iter_mut().enumerate() {
            *w = weight(pop_of[post], pop_of[pre]) as f32;
        }
    })
    .unwrap();
    (sparse, dense)
}

#[test]
fn dense_equals_sparse_engine() {
    // Noiseless, so both engines must agree spike for spike: they share the time grid and,
    // for weights exact in f32, every arithmetic operation.
    let (sparse, dense) = sparse_and_dense(populations(0.0), delays_ms(), dyadic_weight);

    let mut sparse_sim = Simulation::new(&sparse, 1);
    let mut dense_sim = DenseSimulation::new(&dense, 1, 2).unwrap();
    sparse_sim.set_potentials_uniform(&mut ChaCha8Rng::seed_from_u64(4));
    dense_sim.set_potentials(sparse_sim.potentials()).unwrap();
    sparse_sim.record_spikes(true);
    dense_sim.record_spikes(true);
    sparse_sim.run(1000);
    dense_sim.run(1000);
    // An injected current enters the drive of both engines alike.
    sparse_sim.set_injected_current(0, -0.3).unwrap();
    dense_sim.set_injected_current(0, -0.3).unwrap();
    sparse_sim.run(2000);
    dense_sim.run(2000);
    assert!(sparse_sim.spike_record().len() > 300);
    assert_eq!(dense_sim.spike_record(), sparse_sim.spike_record());
    assert_eq!(dense_sim.potentials(), sparse_sim.potentials());
}

#[test]
fn vectorised_populations_equal_sparse_engine() {
    // Large noiseless exponential populations run through the vectorised neuron loop and the
    // vector row additions; the sparse engine advances neuron by neuron. Weights are multiples
    // of 1/512, so every input sum is exact in any order and both engines must agree on every
    // spike on 1, 2 and 8 threads.
    let exponential = |n_neurons, tau_m_ms, bias| PopulationParams {
        n_neurons,
        neuron: NeuronParams {
            tau_m_ms,
            t_ref_ms: 2.0,
            sigma_v: 0.0,
            ..NeuronParams::default()
        },
        synapse: SynapseModel::Exponential { tau_ms: 5.0 },
        bias,
    };
    let populations = vec![
        exponential(37, 20.0, 1.2),
        exponential(40, 20.0, 1.1),
        exponential(29, 10.0, 1.3),
    ];
    let delays_ms: Vec<Vec<f64>> = (0..3)
        .map(|a| {
            (0..3)
                .map(|b| 0.5 + 0.3 * ((a + 2 * b) % 3) as f64)
                .collect()
        })
        .collect();
    let (sparse, dense) =
        sparse_and_dense(populations, delays_ms, |a, b| dyadic_weight(a, b) / 8.0);

    let mut sparse_sim = Simulation::new(&sparse, 1);
    sparse_sim.set_potentials_uniform(&mut ChaCha8Rng::seed_from_u64(4));
    let initial_potentials = sparse_sim.potentials().to_vec();
    sparse_sim.record_spikes(true);
    sparse_sim.run(3000);
    assert!(sparse_sim.spike_record().len() > 1000);
    for threads in [1, 2, 8] {
        let mut dense_sim = DenseSimulation::new(&dense, 1, threads).unwrap();
        dense_sim.set_potentials(&initial_potentials).unwrap();
        dense_sim.record_spikes(true);
        dense_sim.run(3000);
        assert_eq!(
            dense_sim.spike_record(),
            sparse_sim.spike_record(),
            "{threads} threads"
        );
        assert_eq!(
            dense_sim.potentials(),
            sparse_sim.potentials(),
            "{threads} threads"
        );
    }
}

#[test]
fn uniform_equals_dense_for_exact_weights() {
    // With weights w = k/64 and integer spike counts, w * count and the sum of count copies
    // of w are the same exact number, so uniform and dense coupling give the same spikes.
    let params = DenseNetworkParams {
        dt_ms: DT_MS,
        populations: populations(0.0),
        delays_ms: delays_ms(),
    };
    let weights = Array2::from_shape_fn((3, 3), |(a, b)| dyadic_weight(a, b));
    let uniform = DenseNetwork::uniform(params.clone(), weights.view()).unwrap();
    let dense = DenseNetwork::from_matrix(
        params,
        Array2::from_shape_fn((25, 25), |(post, pre)| {
            weights[[uniform.population_of(post), uniform.population_of(pre)]]
        })
        .view(),
    )
    .unwrap();
    let uniform_run = run_dense(&uniform, 2, &[3000]);
    let dense_run = run_dense(&dense, 2, &[3000]);
    assert!(dense_run.spikes.len() > 300);
    assert_eq!(uniform_run.spikes, dense_run.spikes);
}

#[test]
fn dense_accessors_report_the_network() {
    let network = dense_network(0.0);
    assert_eq!(network.n_neurons(), 25);
    assert_eq!(network.n_synapses(), 625);
    assert_eq!(network.population_range(1), 7..20);
    assert_eq!(network.population_of(19), 1);
    assert_eq!(network.population_of(20), 2);
    // 0.3 ms and 1.5 ms at dt = 0.1 ms: 3 and 15 steps.
    assert_eq!(network.delay_steps(0, 0), 3);
    assert_eq!(network.delay_steps(0, 2), 15);
    let row = network.weight_row(4).unwrap();
    assert_eq!(row.len(), 25);
    assert_eq!(network.weight(9, 4), f64::from(row[9]));
}

#[test]
fn dense_input_errors() {
    let params = DenseNetworkParams::with_uniform_delay(DT_MS, populations(0.0), 1.0);
    let err = DenseNetwork::from_rows(params.clone(), 0, |_, _| {}).unwrap_err();
    assert!(matches!(err, Error::InvalidThreadCount), "{err:?}");

    let err = DenseNetwork::from_rows(params.clone(), 2, |pre, row| {
        if pre >= 11 {
            row[3] = f32::NAN;
        }
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidDenseWeight {
                pre: 11,
                post: 3,
                ..
            }
        ),
        "{err:?}"
    );

    let mut bad_shape = params.clone();
    bad_shape.delays_ms[1].pop();
    let err = DenseNetwork::from_rows(bad_shape, 1, |_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DelayMatrixShape {
                rows: 3,
                cols: 2,
                n_populations: 3
            }
        ),
        "{err:?}"
    );

    let mut bad_delay = params.clone();
    bad_delay.delays_ms[2][0] = -1.0;
    let err = DenseNetwork::from_rows(bad_delay, 1, |_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidPairDelay {
                target: 2,
                source_pop: 0,
                ..
            }
        ),
        "{err:?}"
    );

    let err =
        DenseNetwork::from_matrix(params.clone(), Array2::zeros((25, 24)).view()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                name: "weights",
                ..
            }
        ),
        "{err:?}"
    );

    let err = DenseNetwork::uniform(params.clone(), Array2::zeros((2, 3)).view()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                name: "population_weights",
                ..
            }
        ),
        "{err:?}"
    );

    let network = DenseNetwork::from_rows(params, 1, |_, _| {}).unwrap();
    let err = DenseSimulation::new(&network, 0, 0).unwrap_err();
    assert!(matches!(err, Error::InvalidThreadCount), "{err:?}");
    let mut sim = DenseSimulation::new(&network, 0, 30).unwrap();
    assert_eq!(sim.threads(), 25);
    let err = sim.set_biases(&[0.0; 24]).unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { name: "biases", .. }),
        "{err:?}"
    );
    let mut potentials = vec![0.0; 25];
    potentials[6] = f64::INFINITY;
    let err = sim.set_potentials(&potentials).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFiniteValue {
                name: "potentials",
                neuron: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(sim.potentials().iter().all(|&v| v == 0.0));
    let err = sim.set_injected_current(1, f64::NAN).unwrap_err();
    assert!(
        matches!(err, Error::InvalidInjectedCurrent { pop: 1, .. }),
        "{err:?}"
    );
    let n_populations = network.n_populations();
    let err = sim.set_injected_current(n_populations, 0.5).unwrap_err();
    assert!(
        matches!(err, Error::PopulationOutOfRange { pop, .. } if pop == n_populations),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("valid indices 0..{n_populations}")),
        "{message}"
    );
}

#[test]
fn dense_weights_beyond_memory_are_an_error() {
    // u32::MAX neurons need 1.8e19 f32 weights, 7.4e19 bytes, beyond isize::MAX: no allocation
    // of that size is tried.
    let n = u32::MAX as usize;
    let populations = vec![PopulationParams {
        n_neurons: n,
        ..PopulationParams::default()
    }];
    let params = DenseNetworkParams::with_uniform_delay(0.1, populations, 1.0);
    let err = DenseNetwork::from_rows(params, 1, |_, _| {}).unwrap_err();
    let expected_len = n as u128 * n as u128;
    assert!(
        matches!(err, Error::AllocationFailed { len, entry_bytes: 4, .. } if len == expected_len),
        "{err:?}"
    );
    assert!(err.to_string().contains("the dense weights"), "{err}");
}

#[test]
fn dense_step_counts_beyond_u32_are_errors() {
    // At dt_ms = 1e-9 a refractory period or delay of 8 ms is 8e9 steps, beyond the u32
    // step counters (4 294 967 295); 2 ms is 2e9 steps and fits.
    let dt_ms = 1e-9;
    let mut long_refractory = populations(0.0);
    for population in &mut long_refractory {
        population.neuron.t_ref_ms = 2.0;
    }
    long_refractory[1].neuron.t_ref_ms = 8.0;
    let params = DenseNetworkParams::with_uniform_delay(dt_ms, long_refractory, 1.0);
    let err = DenseNetwork::from_rows(params, 1, |_, _| {}).unwrap_err();
    assert!(
        matches!(err, Error::RefractoryPeriodTooLong { pop: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("raise dt_ms"), "{err}");

    let mut short_refractory = populations(0.0);
    for population in &mut short_refractory {
        population.neuron.t_ref_ms = 2.0;
    }
    let params = DenseNetworkParams::with_uniform_delay(dt_ms, short_refractory, 8.0);
    let err = DenseNetwork::from_rows(params, 1, |_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidPairDelay {
                target: 0,
                source_pop: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("raise dt_ms"), "{err}");
}

#[test]
fn misspelt_config_key_is_rejected() {
    // `tau_m_ms` spelt `tau_ms_m`: every parameter struct rejects the unknown key.
    let neuron = r#"{"tau_ms_m": 10.0, "t_ref_ms": 8.0, "v_threshold": 1.0, "v_reset": 0.0,
                     "sigma_v": 1.0}"#;
    let err = serde_json::from_str::<NeuronParams>(neuron).unwrap_err();
    assert!(err.to_string().contains("tau_ms_m"), "{err}");

    let synapse = r#"{"Exponential": {"tau_ms": 5.0, "rise_ms": 1.0}}"#;
    assert!(serde_json::from_str::<SynapseModel>(synapse).is_err());

    let good = serde_json::to_value(NetworkParams::default()).unwrap();
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().insert("dt".into(), 0.1.into());
    assert!(serde_json::from_value::<NetworkParams>(good).is_ok());
    assert!(serde_json::from_value::<NetworkParams>(bad).is_err());

    let good = serde_json::to_value(DenseNetworkParams::default()).unwrap();
    let mut bad = good.clone();
    bad.as_object_mut()
        .unwrap()
        .insert("delay_ms".into(), 2.0.into());
    assert!(serde_json::from_value::<DenseNetworkParams>(good).is_ok());
    assert!(serde_json::from_value::<DenseNetworkParams>(bad).is_err());

    let population = serde_json::to_value(PopulationParams::default()).unwrap();
    let mut bad = population.clone();
    bad.as_object_mut()
        .unwrap()
        .insert("n_neuron".into(), 3.into());
    assert!(serde_json::from_value::<PopulationParams>(population).is_ok());
    assert!(serde_json::from_value::<PopulationParams>(bad).is_err());
}

#[test]
fn dense_noise_has_stationary_variance() {
    // 20,000 uncoupled neurons with sigma_v = 1, tau_m = 10 ms, no drive and an unreachable
    // threshold, after 20 membrane time constants: the exact Ornstein-Uhlenbeck increments give
    // mean 0 and variance sigma_v^2 / 2 = 0.5. The sample variance has relative SD
    // sqrt(2 / 19,999) = 1.0%, so 5% is five SDs; the mean has SE sqrt(0.5 / 20,000) = 0.005,
    // so 0.025 is five SEs.
    let population = PopulationParams {
        n_neurons: 20_000,
        neuron: NeuronParams {
            v_threshold: 1e9,
            sigma_v: 1.0,
            ..NeuronParams::default()
        },
        ..PopulationParams::default()
    };
    let params = DenseNetworkParams::with_uniform_delay(DT_MS, vec![population], 1.0);
    let network = DenseNetwork::uniform(params, Array2::zeros((1, 1)).view()).unwrap();
    let mut sim = DenseSimulation::new(&network, 17, 2).unwrap();
    sim.run(2000);

    let n = sim.potentials().len() as f64;
    let mean = sim.potentials().iter().sum::<f64>() / n;
    let variance = sim
        .potentials()
        .iter()
        .map(|v| (v - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    assert!(mean.abs() <= 0.025, "mean {mean}");
    assert!((variance / 0.5 - 1.0).abs() <= 0.05, "variance {variance}");
}
