//! Every invalid parameter is rejected with its own error variant and a message naming it.

use iaf_sim::{
    Connectivity, Error, Network, NetworkParams, NeuronParams, PoissonSourceParams,
    PopulationParams, ProjectionParams, Simulation, Source, SynapseModel,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Two populations of 10 neurons, one Poisson source of 5 and one valid projection.
fn valid() -> NetworkParams {
    NetworkParams {
        dt_ms: 0.1,
        populations: vec![
            PopulationParams {
                n_neurons: 10,
                ..PopulationParams::default()
            };
            2
        ],
        poisson_sources: vec![PoissonSourceParams { n_neurons: 5 }],
        projections: vec![ProjectionParams {
            source: Source::Population(0),
            target: 1,
            weight: 0.1,
            delay_ms: 3.0,
            connectivity: Connectivity::FixedIndegree { k: 3 },
        }],
    }
}

fn build(params: NetworkParams) -> Result<Network, Error> {
    Network::build(params, &mut ChaCha8Rng::seed_from_u64(0))
}

/// Builds `valid()` after `edit` and returns the error, checking that its message starts in
/// lowercase and mentions `name`.
fn error_of(edit: impl FnOnce(&mut NetworkParams), name: &str) -> Error {
    let mut params = valid();
    edit(&mut params);
    let err = build(params).expect_err("the parameters are invalid");
    let message = err.to_string();
    assert!(message.contains(name), "{message:?} should name {name}");
    let first = message.chars().next().unwrap();
    assert!(
        !first.is_uppercase(),
        "{message:?} should start in lowercase"
    );
    err
}

#[test]
fn valid_parameters_build() {
    let network = build(valid()).unwrap();
    assert_eq!(network.n_neurons(), 20);
    assert_eq!(network.population_range(1), 10..20);
    assert_eq!(network.n_synapses(), 30);
}

#[test]
fn invalid_time_step() {
    for dt_ms in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        let err = error_of(|p| p.dt_ms = dt_ms, "dt_ms");
        assert!(
            matches!(err, Error::InvalidTimeStep { .. }),
            "{dt_ms}: {err:?}"
        );
    }
}

#[test]
fn time_step_not_below_membrane_tau() {
    for dt_ms in [10.0, 12.0] {
        let err = error_of(|p| p.dt_ms = dt_ms, "tau_m_ms");
        assert!(
            matches!(err, Error::TimeStepNotBelowMembraneTau { pop: 0, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn invalid_membrane_time_constant() {
    for tau in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        let err = error_of(|p| p.populations[1].neuron.tau_m_ms = tau, "tau_m_ms");
        assert!(
            matches!(
                err,
                Error::InvalidTimeConstant {
                    pop: 1,
                    name: "tau_m_ms",
                    ..
                }
            ),
            "{tau}: {err:?}"
        );
    }
}

#[test]
fn invalid_synaptic_time_constants() {
    let cases = [
        (SynapseModel::Exponential { tau_ms: 0.0 }, "tau_ms"),
        (SynapseModel::Exponential { tau_ms: f64::NAN }, "tau_ms"),
        (SynapseModel::Alpha { tau_ms: -1.0 }, "tau_ms"),
        (
            SynapseModel::DiffOfExponentials {
                rise_ms: f64::NAN,
                decay_ms: 3.2,
            },
            "rise_ms",
        ),
        (
            SynapseModel::DiffOfExponentials {
                rise_ms: 0.8,
                decay_ms: 0.0,
            },
            "decay_ms",
        ),
    ];
    for (synapse, name) in cases {
        let err = error_of(|p| p.populations[0].synapse = synapse.clone(), name);
        assert!(
            matches!(err, Error::InvalidTimeConstant { pop: 0, name: n, .. } if n == name),
            "{synapse:?}: {err:?}"
        );
    }
}

#[test]
fn rise_above_decay() {
    let synapse = SynapseModel::DiffOfExponentials {
        rise_ms: 3.2,
        decay_ms: 0.8,
    };
    let err = error_of(|p| p.populations[0].synapse = synapse, "rise_ms");
    assert!(
        matches!(err, Error::RiseAboveDecay { pop: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn refractory_period_below_time_step() {
    for t_ref in [0.0, 0.05, 0.0999, -1.0, f64::NAN] {
        let err = error_of(|p| p.populations[0].neuron.t_ref_ms = t_ref, "t_ref_ms");
        assert!(
            matches!(err, Error::InvalidRefractoryPeriod { pop: 0, .. }),
            "{t_ref}: {err:?}"
        );
    }
    // Exactly one step is accepted and lasts one step.
    let mut params = valid();
    params.populations[0].neuron.t_ref_ms = 0.1;
    assert_eq!(build(params).unwrap().refractory_steps(0), 1);
}

#[test]
fn refractory_steps_beyond_u32() {
    // 8 ms at dt_ms = 1e-9 is 8e9 steps, beyond the u32 refractory counter (4 294 967 295).
    let mut params = valid();
    params.dt_ms = 1e-9;
    params.populations[0].neuron.t_ref_ms = 8.0;
    let err = build(params).expect_err("8e9 refractory steps do not fit a u32");
    assert!(
        matches!(err, Error::RefractoryPeriodTooLong { pop: 0, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("t_ref_ms = 8"), "{message}");
    assert!(message.contains("raise dt_ms"), "{message}");
}

#[test]
fn extreme_values_print_compactly() {
    // 1e300 ms at dt_ms = 0.1 is far beyond the u32 refractory counter. In full decimal the
    // value would print as 301 digits.
    let mut params = valid();
    params.populations[0].neuron.t_ref_ms = 1e300;
    let message = build(params)
        .expect_err("1e301 refractory steps do not fit a u32")
        .to_string();
    assert!(message.contains("t_ref_ms = 1e300 "), "{message}");
    assert!(message.contains("dt_ms = 0.1;"), "{message}");
    assert!(message.len() < 200, "{message}");

    // 8 ms at dt_ms = 1e-12 is 8e12 steps, also beyond the counter. In full decimal the step
    // would print as 0.000000000001.
    let mut params = valid();
    params.dt_ms = 1e-12;
    let message = build(params)
        .expect_err("8e12 refractory steps do not fit a u32")
        .to_string();
    assert!(message.contains("dt_ms = 1e-12;"), "{message}");
    assert!(message.contains("t_ref_ms = 8 "), "{message}");
}

#[test]
fn delay_steps_beyond_u32() {
    // 8 ms at dt_ms = 1e-9 is 8e9 steps. The refractory period is set to fit (2 ms is 2e9
    // steps), so that the delay is the first value rejected.
    let mut params = valid();
    params.dt_ms = 1e-9;
    for population in &mut params.populations {
        population.neuron.t_ref_ms = 2.0;
    }
    params.projections[0].delay_ms = 8.0;
    let err = build(params).expect_err("8e9 delay steps do not fit a u32");
    assert!(
        matches!(err, Error::InvalidDelay { projection: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("raise dt_ms"), "{err}");
}

#[test]
fn invalid_threshold_and_reset() {
    let cases = [
        (1.0, 1.0),
        (0.5, 1.0),
        (f64::NAN, 0.0),
        (1.0, f64::NEG_INFINITY),
    ];
    for (v_threshold, v_reset) in cases {
        let err = error_of(
            |p| {
                p.populations[0].neuron.v_threshold = v_threshold;
                p.populations[0].neuron.v_reset = v_reset;
            },
            "v_threshold",
        );
        assert!(
            matches!(err, Error::InvalidThreshold { pop: 0, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn invalid_noise() {
    for sigma_v in [-0.1, f64::NAN, f64::INFINITY] {
        let err = error_of(|p| p.populations[0].neuron.sigma_v = sigma_v, "sigma_v");
        assert!(matches!(err, Error::InvalidNoise { pop: 0, .. }), "{err:?}");
    }
}

#[test]
fn invalid_bias() {
    let err = error_of(|p| p.populations[1].bias = f64::NAN, "bias");
    assert!(matches!(err, Error::InvalidBias { pop: 1, .. }), "{err:?}");
}

#[test]
fn no_populations() {
    let err = error_of(
        |p| {
            p.populations.clear();
            p.projections.clear();
        },
        "population",
    );
    assert!(matches!(err, Error::NoPopulations), "{err:?}");
}

#[test]
fn zero_neurons() {
    let err = error_of(|p| p.populations[1].n_neurons = 0, "n_neurons");
    assert!(matches!(err, Error::EmptyPopulation { pop: 1 }), "{err:?}");
    let err = error_of(|p| p.poisson_sources[0].n_neurons = 0, "n_neurons");
    assert!(
        matches!(err, Error::EmptyPoissonSource { source_idx: 0 }),
        "{err:?}"
    );
}

#[test]
fn too_many_neurons() {
    // Rejected before anything is allocated.
    let n = u32::MAX as usize;
    let err = error_of(|p| p.populations[1].n_neurons = n, "neurons");
    assert!(matches!(err, Error::TooManyNeurons { .. }), "{err:?}");
    let err = error_of(|p| p.poisson_sources[0].n_neurons = n + 1, "neurons");
    assert!(matches!(err, Error::TooManyNeurons { .. }), "{err:?}");
}

#[test]
fn invalid_connection_probability() {
    for p_connect in [-0.1, 1.5, f64::NAN] {
        let err = error_of(
            |p| p.projections[0].connectivity = Connectivity::Bernoulli { p: p_connect },
            "probability",
        );
        assert!(
            matches!(
                err,
                Error::InvalidConnectionProbability { projection: 0, .. }
            ),
            "{p_connect}: {err:?}"
        );
    }
}

#[test]
fn in_degree_above_source_size() {
    let err = error_of(
        |p| p.projections[0].connectivity = Connectivity::FixedIndegree { k: 11 },
        "in-degree",
    );
    assert!(
        matches!(
            err,
            Error::InDegreeTooLarge {
                projection: 0,
                k: 11,
                n_pre: 10
            }
        ),
        "{err:?}"
    );
    // k = n_pre is allowed.
    let mut params = valid();
    params.projections[0].connectivity = Connectivity::FixedIndegree { k: 10 };
    assert_eq!(build(params).unwrap().n_synapses(), 100);
}

#[test]
fn source_out_of_range() {
    let err = error_of(
        |p| p.projections[0].source = Source::Population(2),
        "source",
    );
    assert!(
        matches!(
            err,
            Error::SourceOutOfRange {
                projection: 0,
                n_available: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err = error_of(|p| p.projections[0].source = Source::Poisson(1), "source");
    assert!(
        matches!(
            err,
            Error::SourceOutOfRange {
                projection: 0,
                n_available: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn target_out_of_range() {
    let err = error_of(|p| p.projections[0].target = 2, "target");
    assert!(
        matches!(
            err,
            Error::TargetOutOfRange {
                projection: 0,
                target: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn invalid_weight() {
    for weight in [f64::NAN, f64::INFINITY] {
        let err = error_of(|p| p.projections[0].weight = weight, "weight");
        assert!(
            matches!(err, Error::InvalidWeight { projection: 0, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn invalid_delay() {
    // 1e12 ms is 1e13 steps, beyond the u32 step counter.
    for delay_ms in [-0.1, f64::NAN, f64::INFINITY, 1e12] {
        let err = error_of(|p| p.projections[0].delay_ms = delay_ms, "delay_ms");
        assert!(
            matches!(err, Error::InvalidDelay { projection: 0, .. }),
            "{delay_ms}: {err:?}"
        );
    }
}

#[test]
fn invalid_poisson_rate() {
    let network = build(valid()).unwrap();
    let mut sim = Simulation::new(&network, 0);
    // 1e30 Hz * 5 generators * 1e-4 s is far beyond the largest Poisson mean, 1.844e19.
    for rate_hz in [-1.0, f64::NAN, f64::INFINITY, 1e30] {
        let err = sim.try_set_poisson_rate(0, rate_hz).unwrap_err();
        assert!(
            matches!(err, Error::InvalidPoissonRate { source_idx: 0, .. }),
            "{rate_hz}: {err:?}"
        );
        assert!(err.to_string().contains("rate_hz"));
    }
    let err = sim.try_set_poisson_rate(1, 10.0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PoissonSourceOutOfRange {
                source_idx: 1,
                n_sources: 1
            }
        ),
        "{err:?}"
    );
    assert!(sim.try_set_poisson_rate(0, 0.0).is_ok());
    assert!(sim.try_set_poisson_rate(0, 1e6).is_ok());
}

#[test]
fn simulation_setters_reject_bad_input() {
    let network = build(valid()).unwrap();
    let mut sim = Simulation::new(&network, 0);
    let err = sim.set_injected_current(2, 0.5).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PopulationOutOfRange {
                pop: 2,
                n_populations: 2
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("valid indices 0..2"), "{err}");
    let err = sim.set_injected_current(1, f64::NAN).unwrap_err();
    assert!(
        matches!(err, Error::InvalidInjectedCurrent { pop: 1, .. }),
        "{err:?}"
    );
    assert_eq!(sim.injected_current(1), 0.0);

    let err = sim.set_synaptic_current(5, 0.1).unwrap_err();
    assert!(
        matches!(err, Error::PopulationOutOfRange { pop: 5, .. }),
        "{err:?}"
    );
    let err = sim.set_synaptic_current(0, f64::INFINITY).unwrap_err();
    assert!(
        matches!(err, Error::InvalidSynapticCurrent { pop: 0, .. }),
        "{err:?}"
    );
    assert!(sim.synaptic_currents().iter().all(|&i| i == 0.0));

    let err = sim.set_potential(20, 0.5).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NeuronOutOfRange {
                neuron: 20,
                n_neurons: 20
            }
        ),
        "{err:?}"
    );
    let err = sim.set_potential(3, f64::NAN).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFiniteValue {
                name: "potentials",
                neuron: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(sim.potentials().iter().all(|&v| v == 0.0));
}

#[test]
fn too_many_synapses_is_an_error() {
    // u32::MAX - 1 neurons all-to-all are 1.8e19 synapses of 24 bytes while drawing, beyond
    // isize::MAX bytes: the reservation fails before anything that size is allocated.
    let n = u32::MAX as usize - 1;
    let err = error_of(
        |p| {
            p.populations = vec![PopulationParams {
                n_neurons: n,
                ..PopulationParams::default()
            }];
            p.poisson_sources.clear();
            p.projections = vec![ProjectionParams {
                source: Source::Population(0),
                target: 0,
                weight: 0.1,
                delay_ms: 3.0,
                connectivity: Connectivity::AllToAll,
            }];
        },
        "the synapses of projection 0",
    );
    let expected_len = n as u128 * n as u128;
    assert!(
        matches!(err, Error::AllocationFailed { len, .. } if len == expected_len),
        "{err:?}"
    );
    assert!(err.to_string().contains("connection probability"), "{err}");
}

#[test]
fn neuron_params_validate_alone() {
    assert!(NeuronParams::default().validate(0.1, 0).is_ok());
    let err = NeuronParams::default().validate(0.0, 0).unwrap_err();
    assert!(matches!(err, Error::InvalidTimeStep { .. }), "{err:?}");
}
