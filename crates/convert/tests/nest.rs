//! NEST description of a small converted network: connection list, input schedule and the
//! read-out rebuilt from recorded spikes.

use convert::nest::{
    initial_current_spike_weights_pa, nest_inputs, trial_from_spikes, NestInputs, NestNetwork,
    NestUnits,
};
use convert::{convert, run_trial, ConversionParams, Converted, InputMode};
use iaf_sim::Source;
use ndarray::{array, s, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Rnn, RnnConfig};

/// Two coupled units with one input, `n_neurons` neurons per population.
fn two_unit(n_neurons: usize, input_mode: InputMode) -> Converted {
    let config = RnnConfig::new(2, 1);
    let w = array![[0.5, -1.0], [1.5, 0.0]];
    let u = array![[2.0], [0.5]];
    let b = array![-0.5, -1.0];
    let y0 = array![0.3, 0.6];
    let rnn = Rnn::from_parts(config, w, u, b, y0).unwrap();
    let params = ConversionParams {
        n_neurons,
        input_mode,
        ..ConversionParams::default()
    };
    convert(&rnn, &params, &mut ChaCha8Rng::seed_from_u64(3)).unwrap()
}

#[test]
fn connections_match_drawn_synapses() {
    let converted = two_unit(10, InputMode::Injected);
    let units = NestUnits::default();
    let nest = NestNetwork::from_network(&converted.network, &units).unwrap();

    // One connection per synapse, receptor 0, delay 3 ms = 30 steps shortened to 29.
    let c = &nest.connections;
    assert_eq!(c.len(), converted.network.n_synapses());
    assert!(c.receptor.iter().all(|&r| r == 0));
    assert!(c.delay_ms.iter().all(|&d| (d - 2.9).abs() <= 1e-9));
    assert_eq!(nest.n_late_synapses, 0);

    // Weights are the drawn weights times 250 pF / 10 ms = 25 pA per unit.
    let first: Vec<_> = converted
        .network
        .outgoing_synapses(Source::Population(0), 0)
        .collect();
    for (i, synapse) in first.iter().enumerate() {
        assert_eq!(c.pre[i], 0);
        assert_eq!(c.post[i], synapse.target);
        assert!((c.weight_pa[i] - 25.0 * synapse.weight).abs() <= 1e-12);
    }

    // Populations: bias g b + mu_0 in pA, 10 neurons each, contiguous.
    let p = &converted.params;
    assert_eq!(nest.populations[1].first_neuron, 10);
    // Unit 1 has b = -1.
    let bias = (p.mu_0 - p.g) * 25.0;
    assert!((nest.populations[1].i_e_pa - bias).abs() <= 1e-12);
    assert_eq!(nest.populations[0].model, "iaf_psc_exp");
    assert!((nest.populations[0].t_ref_ms - 8.0).abs() <= 1e-12);
}

#[test]
fn step_currents_stamped_one_step_early() {
    // The continuous step is 1 ms = 10 simulation steps; input 0 for 3 rows, then 1.
    let converted = two_unit(10, InputMode::Injected);
    let nest = NestNetwork::from_network(&converted.network, &NestUnits::default()).unwrap();
    let inputs = array![[0.0], [0.0], [0.0], [1.0], [1.0]];
    let NestInputs::StepCurrents {
        i_e_pa,
        times_ms,
        amplitudes_pa,
    } = nest_inputs(&converted, &nest, inputs.view()).unwrap()
    else {
        panic!("injected inputs map to step currents");
    };

    // Row 3 drives steps 31.. and is stamped at step 29 = 2.9 ms; only one change.
    assert_eq!(times_ms.len(), 1);
    assert!((times_ms[0] - 2.9).abs() <= 1e-12);
    let g = converted.params.g;
    assert!((amplitudes_pa[[0, 0]] - g * 2.0 * 25.0).abs() <= 1e-12);
    assert!((amplitudes_pa[[0, 1]] - g * 0.5 * 25.0).abs() <= 1e-12);
    assert_eq!(
        i_e_pa,
        vec![nest.populations[0].i_e_pa, nest.populations[1].i_e_pa]
    );

    // The initial current g W y0 (population 0: g (0.5 0.3 - 0.6) pA units), decayed 0.2 ms.
    let weights = initial_current_spike_weights_pa(&converted, &nest);
    let expected = g * (0.5 * 0.3 - 1.0 * 0.6) * 25.0 * (-0.2f64 / 20.0).exp();
    assert!((weights[0] - expected).abs() <= 1e-12);
}

#[test]
fn poisson_rates_follow_inputs() {
    let converted = two_unit(10, InputMode::Poisson { n_neurons: 5 });
    let nest = NestNetwork::from_network(&converted.network, &NestUnits::default()).unwrap();
    assert_eq!(nest.poisson_sources, vec![5]);
    let inputs = array![[0.5], [1.0]];
    let NestInputs::PoissonRates { times_ms, rates_hz } =
        nest_inputs(&converted, &nest, inputs.view()).unwrap()
    else {
        panic!("Poisson inputs map to rates");
    };
    assert_eq!(times_ms.len(), 2);
    assert!((times_ms[0] - 0.1).abs() <= 1e-12);
    assert!((times_ms[1] - 1.0).abs() <= 1e-12);
    assert!((rates_hz[[1, 0]] - converted.params.f_max_hz).abs() <= 1e-12);
}

#[test]
fn readout_from_spikes_equals_run_trial() {
    // Rebuilding the read-out from a trial's own spikes must give its read-out and PSTH.
    let converted = two_unit(20, InputMode::Injected);
    let mut inputs = Array2::zeros((60, 1));
    inputs.slice_mut(s![30.., 0]).fill(1.0);
    let trial = run_trial(&converted, inputs.view(), 5, true).unwrap();
    let spikes = trial.spikes.clone().unwrap();
    assert!(!spikes.is_empty());
    let rebuilt = trial_from_spikes(&converted, &spikes, 60).unwrap();
    assert_eq!(rebuilt.readout.dim(), trial.readout.dim());
    for (a, b) in rebuilt.readout.iter().zip(trial.readout.iter()) {
        assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
    }
    for (a, b) in rebuilt.psth_hz.iter().zip(trial.psth_hz.iter()) {
        assert!((a - b).abs() <= 1e-9, "{a} vs {b}");
    }
}

#[test]
fn spike_outside_network_rejected() {
    let converted = two_unit(5, InputMode::Injected);
    let record = iaf_sim::SpikeRecord {
        steps: vec![3],
        neurons: vec![10],
    };
    let result = trial_from_spikes(&converted, &record, 5);
    assert!(matches!(result, Err(convert::Error::Shape(_))));
}
