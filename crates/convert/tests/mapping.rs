//! The unit-to-population mapping of `convert`, checked on hand-built networks, and the
//! rejection of invalid conversion parameters.

use std::panic::{catch_unwind, AssertUnwindSafe};

use convert::{convert, ConnectivityRule, ConversionParams, Converted, Error, InputMode};
use iaf_sim::{Connectivity, NeuronParams, Source, SynapseModel};
use ndarray::{array, Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Rnn, RnnConfig};

/// Builds a net of three units and two inputs, where unit 2 has tau = 40 ms and the others
/// 20 ms.
///
/// Weights are indexed (post, pre). The zero weights at (0, 0), (1, 1), (1, 2) and (2, 0)
/// must give no projection. The zeros of `u` at (0, 1), (1, 0) and (2, 1) must give no input
/// projection.
fn three_unit_rnn() -> Rnn {
    let mut config = RnnConfig::new(3, 2);
    config.tau_ms = vec![20.0, 20.0, 40.0];
    let w = array![[0.0, 1.2, -0.6], [2.4, 0.0, 0.0], [0.0, -1.2, 0.6]];
    let u = array![[1.2, 0.0], [0.0, 0.6], [2.4, 0.0]];
    let b = array![-1.0, 0.5, 2.0];
    let y0 = array![0.1, 0.2, 0.3];
    Rnn::from_parts(config, w, u, b, y0).unwrap()
}

/// Returns conversion parameters with 10 neurons per population, p = 0.3, g = 0.5,
/// mu_0 = 0.25 and f_max = 100 Hz.
fn small_params() -> ConversionParams {
    ConversionParams {
        n_neurons: 10,
        connectivity: ConnectivityRule::FixedIndegree { p: 0.3 },
        g: 0.5,
        mu_0: 0.25,
        f_max_hz: 100.0,
        ..ConversionParams::default()
    }
}

fn convert_seeded(rnn: &Rnn, params: &ConversionParams) -> Result<Converted, Error> {
    convert(rnn, params, &mut ChaCha8Rng::seed_from_u64(11))
}

/// Index of the projection from `source` onto population `target`, if there is one.
fn projection_index(converted: &Converted, source: Source, target: usize) -> Option<usize> {
    let projections = &converted.network.params().projections;
    let mut matching = projections
        .iter()
        .enumerate()
        .filter(|(_, p)| p.source == source && p.target == target)
        .map(|(idx, _)| idx);
    let first = matching.next();
    assert_eq!(
        matching.next(),
        None,
        "two projections {source:?} -> {target}"
    );
    first
}

/// Synapses from `source` (of `n_pre` neurons) grouped by postsynaptic neuron of population
/// `target`: for each postsynaptic neuron, the (weight, delay_steps) of every synapse.
fn incoming(
    converted: &Converted,
    source: Source,
    n_pre: usize,
    target: usize,
) -> Vec<Vec<(f64, u32)>> {
    let network = &converted.network;
    let post_range = network.population_range(target);
    let mut per_post = vec![Vec::new(); post_range.len()];
    for pre in 0..n_pre {
        for synapse in network.outgoing_synapses(source, pre) {
            let post = synapse.target as usize;
            if post_range.contains(&post) {
                per_post[post - post_range.start].push((synapse.weight, synapse.delay_steps));
            }
        }
    }
    per_post
}

/// Checks one projection: its parameters and every drawn synapse.
fn check_projection(
    converted: &Converted,
    source: Source,
    n_pre: usize,
    target: usize,
    expected_jump: f64,
    expected_k: usize,
    expected_delay_steps: u32,
) {
    let idx = projection_index(converted, source, target)
        .unwrap_or_else(|| panic!("missing projection {source:?} -> {target}"));
    let projection = &converted.network.params().projections[idx];
    // The jumps are ratios of short decimals, so 1e-12 relative covers their rounding.
    assert!(
        (projection.weight - expected_jump).abs() <= 1e-12 * expected_jump.abs(),
        "{source:?} -> {target}: jump {} != {expected_jump}",
        projection.weight
    );
    assert_eq!(
        projection.connectivity,
        Connectivity::FixedIndegree { k: expected_k }
    );
    assert_eq!(converted.network.delay_steps(idx), expected_delay_steps);

    for (post, synapses) in incoming(converted, source, n_pre, target)
        .iter()
        .enumerate()
    {
        assert_eq!(
            synapses.len(),
            expected_k,
            "{source:?} -> neuron {post} of population {target}"
        );
        for &(weight, delay_steps) in synapses {
            assert_eq!(weight, projection.weight);
            assert_eq!(delay_steps, expected_delay_steps);
        }
    }
}

#[test]
fn populations_carry_bias_tau_and_size() {
    let rnn = three_unit_rnn();
    let params = small_params();
    let converted = convert_seeded(&rnn, &params).unwrap();
    let populations = &converted.network.params().populations;
    assert_eq!(populations.len(), 3);
    assert_eq!(converted.substeps, 10);
    assert_eq!(converted.network.params().dt_ms, 0.1);

    // bias = g b_i + mu_0 = 0.5 b_i + 0.25 for b = (-1, 0.5, 2): (-0.25, 0.5, 1.25), exact
    // in binary.
    let expected_bias = [-0.25, 0.5, 1.25];
    let expected_tau_ms = [20.0, 20.0, 40.0];
    for (unit, population) in populations.iter().enumerate() {
        assert_eq!(population.n_neurons, 10);
        assert_eq!(population.neuron, params.neuron);
        assert_eq!(population.bias, expected_bias[unit], "unit {unit}");
        assert_eq!(
            population.synapse,
            SynapseModel::Exponential {
                tau_ms: expected_tau_ms[unit]
            }
        );
    }
}

#[test]
fn recurrent_jumps_follow_the_scaling() {
    let converted = convert_seeded(&three_unit_rnn(), &small_params()).unwrap();

    // k = round(0.3 * 10) = 3 presynaptic neurons per connection. The jump is
    // J_ij = g W_ij / (k f_max tau_s[i]) with g = 0.5, f_max = 100 Hz:
    //   tau_s = 0.02 s (units 0, 1): J = 0.5 W / (3 * 100 * 0.02) = W / 12,
    //   tau_s = 0.04 s (unit 2):     J = 0.5 W / (3 * 100 * 0.04) = W / 24.
    // The default delay of 3 ms is 30 steps of 0.1 ms.
    let cases = [
        // (pre, post, jump)
        (1, 0, 1.2 / 12.0),  // 0.1
        (2, 0, -0.6 / 12.0), // -0.05
        (0, 1, 2.4 / 12.0),  // 0.2
        (1, 2, -1.2 / 24.0), // -0.05
        (2, 2, 0.6 / 24.0),  // 0.025
    ];
    for (pre, post, jump) in cases {
        check_projection(&converted, Source::Population(pre), 10, post, jump, 3, 30);
    }
    assert_eq!(converted.network.params().projections.len(), cases.len());
}

#[test]
fn zero_weights_get_no_projection() {
    let converted = convert_seeded(&three_unit_rnn(), &small_params()).unwrap();
    for (post, pre) in [(0, 0), (1, 1), (1, 2), (2, 0)] {
        assert_eq!(
            projection_index(&converted, Source::Population(pre), post),
            None,
            "W[{post}, {pre}] = 0"
        );
        let synapses = incoming(&converted, Source::Population(pre), 10, post);
        assert!(synapses.iter().all(Vec::is_empty), "W[{post}, {pre}] = 0");
    }
}

#[test]
fn injected_inputs_build_no_poisson_sources() {
    let converted = convert_seeded(&three_unit_rnn(), &small_params()).unwrap();
    let network_params = converted.network.params();
    assert!(network_params.poisson_sources.is_empty());
    assert!(network_params
        .projections
        .iter()
        .all(|p| matches!(p.source, Source::Population(_))));
}

#[test]
fn indegree_rounds_p_times_n() {
    // round(0.25 * 10) = round(2.5) = 3 (half away from zero); round(0.3 * 100) = 30;
    // p = 1 connects all 10.
    for (p, n, k) in [(0.25, 10, 3), (0.3, 100, 30), (1.0, 10, 10)] {
        let params = ConversionParams {
            n_neurons: n,
            connectivity: ConnectivityRule::FixedIndegree { p },
            ..small_params()
        };
        assert_eq!(params.indegree(n), k as f64, "p = {p}, n = {n}");
        let converted = convert_seeded(&three_unit_rnn(), &params).unwrap();
        let idx = projection_index(&converted, Source::Population(0), 1).unwrap();
        assert_eq!(
            converted.network.params().projections[idx].connectivity,
            Connectivity::FixedIndegree { k }
        );
        // W[1, 0] = 2.4, tau_s = 0.02 s: J = 0.5 * 2.4 / (k * 100 * 0.02) = 0.6 / k.
        let weight = converted.network.params().projections[idx].weight;
        assert!((weight - 0.6 / k as f64).abs() < 1e-12, "{weight}");
    }
}

#[test]
fn delays_default_and_per_target_override() {
    let rnn = three_unit_rnn();

    // A default of 2 ms is 20 steps everywhere.
    let params = ConversionParams {
        delay_ms: 2.0,
        ..small_params()
    };
    let converted = convert_seeded(&rnn, &params).unwrap();
    for (idx, projection) in converted.network.params().projections.iter().enumerate() {
        assert_eq!(projection.delay_ms, 2.0);
        assert_eq!(converted.network.delay_steps(idx), 20);
    }

    // Per-target delays 1.5, 10 and 0 ms become 15, 100 and 1 step (at least one step),
    // whatever the source population.
    let params = ConversionParams {
        target_delay_ms: Some(vec![1.5, 10.0, 0.0]),
        ..small_params()
    };
    let converted = convert_seeded(&rnn, &params).unwrap();
    let expected_steps = [15, 100, 1];
    let expected_ms = [1.5, 10.0, 0.0];
    for (idx, projection) in converted.network.params().projections.iter().enumerate() {
        let target = projection.target;
        assert_eq!(projection.delay_ms, expected_ms[target]);
        assert_eq!(converted.network.delay_steps(idx), expected_steps[target]);
    }
    // Every drawn synapse onto unit 1 (only from unit 0) carries 100 steps.
    let synapses = incoming(&converted, Source::Population(0), 10, 1);
    assert!(synapses.iter().flatten().all(|&(_, d)| d == 100));
}

#[test]
fn poisson_inputs_become_projections() {
    let params = ConversionParams {
        input_mode: InputMode::Poisson { n_neurons: 20 },
        target_delay_ms: Some(vec![3.0, 3.0, 5.0]),
        ..small_params()
    };
    let converted = convert_seeded(&three_unit_rnn(), &params).unwrap();
    let network_params = converted.network.params();
    assert_eq!(network_params.poisson_sources.len(), 2);
    assert!(network_params
        .poisson_sources
        .iter()
        .all(|s| s.n_neurons == 20));

    // Input populations of 20: k = round(0.3 * 20) = 6, and
    //   tau_s = 0.02 s: J = 0.5 U / (6 * 100 * 0.02) = U / 24,
    //   tau_s = 0.04 s: J = 0.5 U / (6 * 100 * 0.04) = U / 48.
    // Delays onto units 0 and 1 are 3 ms (30 steps), onto unit 2 5 ms (50 steps).
    let cases = [
        // (input, post, jump, delay steps)
        (0, 0, 1.2 / 24.0, 30), // 0.05
        (1, 1, 0.6 / 24.0, 30), // 0.025
        (0, 2, 2.4 / 48.0, 50), // 0.05
    ];
    for (input, post, jump, delay) in cases {
        check_projection(&converted, Source::Poisson(input), 20, post, jump, 6, delay);
    }
    for (post, input) in [(0, 1), (1, 0), (2, 1)] {
        assert_eq!(
            projection_index(&converted, Source::Poisson(input), post),
            None,
            "U[{post}, {input}] = 0"
        );
    }
    // Five recurrent and three input projections.
    assert_eq!(network_params.projections.len(), 8);
}

/// Runs `convert` with `edit` applied to valid parameters and returns its error.
fn conversion_error(edit: impl FnOnce(&mut ConversionParams)) -> Error {
    let mut params = small_params();
    edit(&mut params);
    match convert_seeded(&three_unit_rnn(), &params) {
        Ok(_) => panic!("parameters {params:?} were accepted"),
        Err(err) => err,
    }
}

/// Checks that `err` is `InvalidParameter` naming `name` and that its message does too.
fn assert_invalid(err: &Error, name: &str) {
    match err {
        Error::InvalidParameter { name: found, .. } => assert_eq!(*found, name, "{err}"),
        other => panic!("expected InvalidParameter({name}), got {other:?}"),
    }
    assert!(err.to_string().contains(name), "{err}");
}

#[test]
fn invalid_probability_named() {
    let rules = [
        ConnectivityRule::FixedIndegree { p: 0.0 },
        ConnectivityRule::FixedIndegree { p: 1.5 },
        ConnectivityRule::FixedIndegree { p: f64::NAN },
        ConnectivityRule::FixedIndegree { p: -0.2 },
        ConnectivityRule::Bernoulli { p: 0.0 },
        ConnectivityRule::Bernoulli { p: 1.5 },
        ConnectivityRule::Bernoulli { p: f64::NAN },
    ];
    for rule in rules {
        let err = conversion_error(|p| p.connectivity = rule);
        assert_invalid(&err, "p");
    }
}

#[test]
fn invalid_scalars_named() {
    let err = conversion_error(|p| p.n_neurons = 0);
    assert_invalid(&err, "n_neurons");
    for g in [0.0, -0.5, f64::NAN, f64::INFINITY] {
        let err = conversion_error(|p| p.g = g);
        assert_invalid(&err, "g");
    }
    for f_max in [f64::NAN, 0.0, -10.0] {
        let err = conversion_error(|p| p.f_max_hz = f_max);
        assert_invalid(&err, "f_max_hz");
    }
    let err = conversion_error(|p| p.mu_0 = f64::NAN);
    assert_invalid(&err, "mu_0");
    for dt in [0.0, -0.1, f64::NAN] {
        let err = conversion_error(|p| p.dt_ms = dt);
        assert_invalid(&err, "dt_ms");
    }
    let err = conversion_error(|p| p.input_mode = InputMode::Poisson { n_neurons: 0 });
    assert_invalid(&err, "input_mode.n_neurons");
}

#[test]
fn tiny_time_step_rejected() {
    // 1 ms / 1e-9 ms is a whole number of substeps, so only the lower bound rejects it.
    // Values below 1e-4 are shown in scientific notation.
    for (dt, shown) in [(1e-9, "dt_ms = 1e-9:"), (5e-4, "dt_ms = 0.0005:")] {
        let err = conversion_error(|p| p.dt_ms = dt);
        assert_invalid(&err, "dt_ms");
        let message = err.to_string();
        assert!(message.contains("MIN_DT_MS = 0.001 ms"), "{message}");
        assert!(message.contains(shown), "{message}");
    }
    let params = ConversionParams {
        dt_ms: convert::network::MIN_DT_MS,
        ..small_params()
    };
    let converted = convert_seeded(&three_unit_rnn(), &params).unwrap();
    assert_eq!(converted.substeps, 1000);
}

#[test]
fn invalid_delay_named() {
    for delay in [-1.0, f64::NAN, f64::INFINITY] {
        let err = conversion_error(|p| p.delay_ms = delay);
        assert_invalid(&err, "delay_ms");
    }
}

#[test]
fn invalid_target_delay_named() {
    // The rejected value sits in target_delay_ms, so the error must name that field rather
    // than the default delay_ms, which is valid here.
    let err = conversion_error(|p| p.target_delay_ms = Some(vec![3.0, -1.0, 3.0]));
    assert_invalid(&err, "target_delay_ms");
}

#[test]
fn time_step_mismatch_is_shape_error() {
    // 1 ms / 0.3 ms = 3.33 and 1 ms / 2 ms = 0.5 simulation steps per continuous step.
    for dt in [0.3, 2.0, 0.7] {
        let err = conversion_error(|p| p.dt_ms = dt);
        assert!(matches!(err, Error::Shape(_)), "dt = {dt}: {err:?}");
        assert!(err.to_string().contains("dt_ms"), "{err}");
    }
    // 0.25 ms divides 1 ms: 4 substeps.
    let params = ConversionParams {
        dt_ms: 0.25,
        ..small_params()
    };
    let converted = convert_seeded(&three_unit_rnn(), &params).unwrap();
    assert_eq!(converted.substeps, 4);
}

#[test]
fn target_delay_length_is_shape_error() {
    for delays in [vec![3.0, 3.0], vec![3.0; 4], Vec::new()] {
        let n = delays.len();
        let err = conversion_error(|p| p.target_delay_ms = Some(delays));
        assert!(matches!(err, Error::Shape(_)), "{n} delays: {err:?}");
        assert!(err.to_string().contains("target_delay_ms"), "{err}");
    }
}

#[test]
fn invalid_neuron_reported_by_simulator() {
    // t_ref = 0.05 ms is shorter than the 0.1 ms step.
    let err = conversion_error(|p| {
        p.neuron = NeuronParams {
            t_ref_ms: 0.05,
            ..NeuronParams::default()
        }
    });
    assert!(
        matches!(
            err,
            Error::Simulator(iaf_sim::Error::InvalidRefractoryPeriod { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("t_ref_ms"), "{err}");
}

#[test]
fn overflowing_jump_is_error() {
    // g W = 1e300 * 1e307 overflows to infinity, and the simulator must reject the infinite
    // jump rather than simulate it.
    let mut rnn = three_unit_rnn();
    rnn.w[[1, 0]] = 1e307;
    let params = ConversionParams {
        g: 1e300,
        ..small_params()
    };
    let err = convert_seeded(&rnn, &params).err().expect("accepted");
    assert!(matches!(err, Error::Simulator(_)), "{err:?}");
}

#[test]
fn conversion_keeps_the_network() {
    let rnn = three_unit_rnn();
    let params = small_params();
    let converted = convert_seeded(&rnn, &params).unwrap();
    assert_eq!(converted.rnn, rnn);
    assert_eq!(converted.params, params);
    assert_eq!(converted.network.n_neurons(), 30);

    // The same seed draws the same synapses.
    let again = convert_seeded(&rnn, &params).unwrap();
    for pre in 0..10 {
        let a: Vec<_> = converted
            .network
            .outgoing_synapses(Source::Population(0), pre)
            .collect();
        let b: Vec<_> = again
            .network
            .outgoing_synapses(Source::Population(0), pre)
            .collect();
        assert_eq!(a, b);
    }
}

/// A change to a network's public fields.
type RnnEdit = fn(&mut Rnn);

#[test]
fn inconsistent_rnn_is_error_not_panic() {
    // The fields of `Rnn` are public, so a caller can leave them inconsistent with its
    // configuration of 3 units. Conversion must report that instead of indexing out of
    // bounds.
    let edits: [(&str, RnnEdit); 3] = [
        ("w of shape (2, 2)", |rnn| rnn.w = Array2::zeros((2, 2))),
        ("b of length 2", |rnn| rnn.b = Array1::zeros(2)),
        ("tau_ms of length 2", |rnn| {
            rnn.config.tau_ms = vec![20.0; 2]
        }),
    ];
    let mut failures = Vec::new();
    for (label, edit) in edits {
        let mut rnn = three_unit_rnn();
        edit(&mut rnn);
        match catch_unwind(AssertUnwindSafe(|| convert_seeded(&rnn, &small_params()))) {
            Err(_) => failures.push(format!("convert panicked on {label}")),
            Ok(Ok(_)) => failures.push(format!("convert accepted {label}")),
            Ok(Err(_)) => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
