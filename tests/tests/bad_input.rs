//! Invalid parameters of the spiking simulator and the continuous network give errors that
//! name the parameter, never a panic.

use iaf_sim::{
    Connectivity, Network, NetworkParams, NeuronParams, PopulationParams, ProjectionParams, Source,
    SynapseModel,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::RnnConfig;

/// Returns a valid network: one population of 10 neurons projecting onto itself.
fn valid_network() -> NetworkParams {
    NetworkParams {
        dt_ms: 0.1,
        populations: vec![PopulationParams {
            n_neurons: 10,
            neuron: NeuronParams::default(),
            synapse: SynapseModel::Exponential { tau_ms: 20.0 },
            bias: 1.0,
        }],
        poisson_sources: Vec::new(),
        projections: vec![ProjectionParams {
            source: Source::Population(0),
            target: 0,
            weight: 0.01,
            delay_ms: 3.0,
            connectivity: Connectivity::FixedIndegree { k: 3 },
        }],
    }
}

/// Builds `valid_network()` after `edit` and returns the error.
fn build_error(edit: impl FnOnce(&mut NetworkParams)) -> iaf_sim::Error {
    let mut params = valid_network();
    edit(&mut params);
    match Network::build(params, &mut ChaCha8Rng::seed_from_u64(0)) {
        Ok(_) => panic!("the edited network was accepted"),
        Err(err) => err,
    }
}

/// Checks that the message of `err` contains every name in `names`.
fn assert_names(err: &dyn std::error::Error, names: &[&str]) {
    let message = err.to_string();
    for name in names {
        assert!(message.contains(name), "{message:?} does not name {name}");
    }
}

#[test]
fn valid_network_builds() {
    let network = Network::build(valid_network(), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    assert_eq!(network.n_synapses(), 30);
}

#[test]
fn time_step_not_below_tau_m() {
    for dt in [10.0, 12.0] {
        let err = build_error(|p| p.dt_ms = dt);
        assert!(
            matches!(
                err,
                iaf_sim::Error::TimeStepNotBelowMembraneTau {
                    pop: 0,
                    tau_m_ms,
                    ..
                } if tau_m_ms == 10.0
            ),
            "dt = {dt}: {err:?}"
        );
        assert_names(&err, &["dt_ms", "tau_m_ms"]);
    }
}

#[test]
fn refractory_period_below_time_step() {
    for t_ref in [0.05, 0.0, -1.0, f64::NAN] {
        let err = build_error(|p| p.populations[0].neuron.t_ref_ms = t_ref);
        assert!(
            matches!(err, iaf_sim::Error::InvalidRefractoryPeriod { pop: 0, .. }),
            "t_ref = {t_ref}: {err:?}"
        );
        assert_names(&err, &["t_ref_ms", "dt_ms"]);
    }
}

#[test]
fn empty_population_and_network() {
    let err = build_error(|p| p.populations[0].n_neurons = 0);
    assert!(
        matches!(err, iaf_sim::Error::EmptyPopulation { pop: 0 }),
        "{err:?}"
    );
    assert_names(&err, &["n_neurons"]);

    let err = build_error(|p| {
        p.populations.clear();
        p.projections.clear();
    });
    assert!(matches!(err, iaf_sim::Error::NoPopulations), "{err:?}");
    assert_names(&err, &["populations"]);
}

#[test]
fn nan_parameters_named() {
    let err = build_error(|p| p.dt_ms = f64::NAN);
    assert!(
        matches!(err, iaf_sim::Error::InvalidTimeStep { .. }),
        "{err:?}"
    );
    assert_names(&err, &["dt_ms"]);

    let err = build_error(|p| p.populations[0].neuron.tau_m_ms = f64::NAN);
    assert!(
        matches!(
            err,
            iaf_sim::Error::InvalidTimeConstant {
                name: "tau_m_ms",
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &["tau_m_ms"]);

    let err =
        build_error(|p| p.populations[0].synapse = SynapseModel::Exponential { tau_ms: f64::NAN });
    assert!(
        matches!(err, iaf_sim::Error::InvalidTimeConstant { pop: 0, .. }),
        "{err:?}"
    );
    assert_names(&err, &["tau_ms"]);

    let err = build_error(|p| p.populations[0].bias = f64::NAN);
    assert!(
        matches!(err, iaf_sim::Error::InvalidBias { pop: 0, .. }),
        "{err:?}"
    );
    assert_names(&err, &["bias"]);

    let err = build_error(|p| p.populations[0].neuron.sigma_v = f64::NAN);
    assert!(
        matches!(err, iaf_sim::Error::InvalidNoise { pop: 0, .. }),
        "{err:?}"
    );
    assert_names(&err, &["sigma_v"]);

    let err = build_error(|p| p.projections[0].weight = f64::NAN);
    assert!(
        matches!(err, iaf_sim::Error::InvalidWeight { projection: 0, .. }),
        "{err:?}"
    );
    assert_names(&err, &["weight"]);

    let err = build_error(|p| p.projections[0].delay_ms = f64::NAN);
    assert!(
        matches!(err, iaf_sim::Error::InvalidDelay { projection: 0, .. }),
        "{err:?}"
    );
    assert_names(&err, &["delay_ms"]);

    let err = build_error(|p| p.populations[0].neuron.v_threshold = f64::NAN);
    assert!(
        matches!(err, iaf_sim::Error::InvalidThreshold { pop: 0, .. }),
        "{err:?}"
    );
    assert_names(&err, &["v_threshold"]);
}

/// Returns the `InvalidParameter` name of `err`, failing on any other variant.
fn invalid_name(err: &rnn_core::Error) -> &str {
    match err {
        rnn_core::Error::InvalidParameter { name, .. } => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn rnn_time_constants_rejected() {
    // Zero, negative and non-finite tau, and tau equal to or below dt = 1 ms: the Euler step
    // needs dt / tau < 1.
    for tau in [0.0, -20.0, f64::NAN, f64::INFINITY, 1.0, 0.5] {
        let mut config = RnnConfig::new(4, 1);
        config.tau_ms[1] = tau;
        let err = config.validate().unwrap_err();
        assert_eq!(invalid_name(&err), "tau_ms[1]", "tau = {tau}");
        assert_names(&err, &["tau_ms[1]", "dt_ms"]);
    }
}

#[test]
fn rnn_time_step_not_below_tau() {
    // dt = 20 ms and 30 ms against the default tau = 20 ms.
    for dt in [20.0, 30.0] {
        let mut config = RnnConfig::new(3, 2);
        config.dt_ms = dt;
        let err = config.validate().unwrap_err();
        assert_eq!(invalid_name(&err), "tau_ms[0]", "dt = {dt}");
        assert_names(&err, &["tau_ms[0]", "dt_ms"]);
    }
    for dt in [0.0, -1.0, f64::NAN] {
        let mut config = RnnConfig::new(3, 2);
        config.dt_ms = dt;
        let err = config.validate().unwrap_err();
        assert_eq!(invalid_name(&err), "dt_ms", "dt = {dt}");
        assert_names(&err, &["dt_ms"]);
    }
}

#[test]
fn rnn_tau_length_mismatch() {
    let mut config = RnnConfig::new(3, 2);
    config.tau_ms = vec![20.0; 2];
    let err = config.validate().unwrap_err();
    assert!(
        matches!(err, rnn_core::Error::ShapeMismatch { ref name, .. } if name == "tau_ms"),
        "{err:?}"
    );
    assert_names(&err, &["tau_ms"]);
}

#[test]
fn rnn_zero_units_rejected() {
    let err = RnnConfig::new(0, 1).validate().unwrap_err();
    assert_eq!(invalid_name(&err), "n_units");
    assert_names(&err, &["n_units"]);
}
