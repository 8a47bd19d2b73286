//! A continuous net whose activation is the spiking neurons' own normalised f-I curve
//! (method b) is replicated by its spiking conversion. The same net with the logistic as its
//! activation agrees worse with that same spiking network.

use convert::metrics::{compare_runs, median_defined, UnitAgreement};
use convert::trials::mean_readout;
use convert::{convert, run_trials, tabulate_activation, ConversionParams, FiConfig, TableConfig};
use ndarray::{array, s, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Activation, Rnn, RnnConfig};

const N_STEPS: usize = 600;
const N_TRIALS: usize = 10;
/// Ten continuous steps of 1 ms: the 10 ms comparison bins.
const BIN_STEPS: usize = 10;

/// Builds a chain of four units with two inputs, fixed weights, tau = 20 ms and dt = 1 ms.
///
/// Input 0 drives unit 0 to x = 7, where the spiking curve lies near 1.06 and the logistic
/// at 1.00. Unit 0 drives unit 1 (W = 5, b = -5) to x of about 0, and unit 1 drives unit 2
/// (W = 6, b = -3.5) to mid-range. Unit 3 follows unit 2 and is silenced by input 1. Each
/// link multiplies the difference between the two activations by about W phi', so the
/// logistic net ends up far from what its spiking conversion does.
fn four_unit_rnn(activation: Activation) -> Rnn {
    let mut config = RnnConfig::new(4, 2);
    config.activation = activation;
    let w = array![
        [0.0, 0.0, 0.0, 0.0],
        [5.0, 0.0, 0.0, 0.0],
        [0.0, 6.0, 0.0, 0.0],
        [0.0, 0.0, 3.0, 0.0],
    ];
    let u = array![[10.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, -3.0]];
    let b = array![-3.0, -5.0, -3.5, -2.0];
    let y0 = array![0.1, 0.1, 0.1, 0.2];
    Rnn::from_parts(config, w, u, b, y0).unwrap()
}

/// Builds the inputs: input 0 steps from 0 to 1 at 150 ms, and input 1 is 1 from 300 to
/// 450 ms.
fn step_inputs() -> Array2<f64> {
    let mut inputs = Array2::zeros((N_STEPS, 2));
    inputs.slice_mut(s![150.., 0]).fill(1.0);
    inputs.slice_mut(s![300..450, 1]).fill(1.0);
    inputs
}

fn medians(agreement: &[UnitAgreement]) -> (f64, f64) {
    let r = median_defined(agreement.iter().map(|a| a.pearson_r)).expect("no defined r");
    let nrmse = median_defined(agreement.iter().map(|a| a.nrmse)).expect("no defined NRMSE");
    (r, nrmse)
}

#[test]
fn conversion_agrees_with_continuous_net() {
    let params = ConversionParams::default();

    // Method (b): Phi(x) = F(g x + mu_0) / f_max on -8..8 in steps of 0.25, one seed of 100
    // neurons over 1 s per point.
    let table_config = TableConfig {
        x_step: 0.25,
        siegert_extension_to: 20.0,
        n_seeds: 1,
        fi: FiConfig {
            n_neurons: 100,
            warmup_ms: 100.0,
            duration_ms: 1000.0,
            ..FiConfig::default()
        },
        ..TableConfig::default()
    };
    let table = tabulate_activation(
        &params.neuron,
        params.g,
        params.mu_0,
        params.f_max_hz,
        &table_config,
        21,
    )
    .unwrap();
    let phi_net = four_unit_rnn(Activation::Tabulated(table.activation.clone()));
    let logistic_net = four_unit_rnn(Activation::Logistic);

    let inputs = step_inputs();
    let phi_trace = phi_net.simulate(inputs.view()).unwrap();
    let logistic_trace = logistic_net.simulate(inputs.view()).unwrap();

    // The conversion depends on weights, biases and time constants only, so both nets
    // convert to the same spiking network.
    let converted = convert(&phi_net, &params, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    let trials = run_trials(&converted, inputs.view(), 8, N_TRIALS, 0).unwrap();
    let spiking = mean_readout(&trials).unwrap();
    assert_eq!(spiking.dim(), phi_trace.dim());

    let phi_agreement = compare_runs(&[phi_trace.view()], &[spiking.view()], BIN_STEPS).unwrap();
    let logistic_agreement =
        compare_runs(&[logistic_trace.view()], &[spiking.view()], BIN_STEPS).unwrap();
    let (phi_r, phi_nrmse) = medians(&phi_agreement);
    let (logistic_r, logistic_nrmse) = medians(&logistic_agreement);
    eprintln!("Phi: median r {phi_r:.3}, median NRMSE {phi_nrmse:.3}; {phi_agreement:?}");
    eprintln!(
        "logistic: median r {logistic_r:.3}, median NRMSE {logistic_nrmse:.3}; \
         {logistic_agreement:?}"
    );

    // Acceptance of a conversion at N = 100.
    assert!(phi_r >= 0.9, "median r {phi_r}");
    assert!(phi_nrmse <= 0.15, "median NRMSE {phi_nrmse}");

    // The logistic net is further from what the same spiking network does: with these
    // weights its median NRMSE is about 0.175 against 0.05 for the Phi net, over several
    // seeds of table, wiring and trials.
    assert!(
        logistic_nrmse > 2.0 * phi_nrmse,
        "logistic NRMSE {logistic_nrmse} vs Phi NRMSE {phi_nrmse}"
    );
}
