//! Spiking trials: output shapes, input checks, determinism across thread counts, and the
//! read-out of a population driven by a constant input.

use std::panic::{catch_unwind, AssertUnwindSafe};

use convert::trials::mean_readout;
use convert::{
    convert, measure_fi_curve, run_trial, run_trials, ConversionParams, Converted, Error, FiConfig,
    InputMode,
};
use ndarray::{array, s, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Rnn, RnnConfig};

/// Converts two coupled units with one input to populations of `n_neurons`.
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

/// Builds one input column that steps from 0 to `level` after `n_steps / 2` steps.
fn step_input(n_steps: usize, level: f64) -> Array2<f64> {
    let mut inputs = Array2::zeros((n_steps, 1));
    inputs.slice_mut(s![n_steps / 2.., 0]).fill(level);
    inputs
}

#[test]
fn trial_shapes_and_initial_row() {
    let converted = two_unit(20, InputMode::Injected);
    let inputs = step_input(50, 1.0);
    let trial = run_trial(&converted, inputs.view(), 1, true).unwrap();

    // 50 continuous steps give 51 read-out rows, and 50 ms are five 10 ms bins.
    assert_eq!(trial.readout.dim(), (51, 2));
    assert_eq!(trial.psth_hz.dim(), (5, 2));
    assert_eq!(trial.readout.row(0), converted.rnn.y0.view());
    assert!(trial.readout.iter().all(|v| v.is_finite() && *v >= 0.0));
    assert!(trial.psth_hz.iter().all(|v| v.is_finite() && *v >= 0.0));

    // Every recorded spike lies in the 500 simulation steps and in the 40 neurons.
    let spikes = trial.spikes.expect("spikes were requested");
    assert!(!spikes.is_empty());
    assert!(spikes.steps.iter().all(|&step| (1..=500).contains(&step)));
    assert!(spikes.neurons.iter().all(|&neuron| neuron < 40));

    // The PSTH counts the same spikes: rate * N * bin width summed over bins and populations.
    // Each bin of 10 ms and 20 neurons turns a count c into c / (20 * 0.01 s) = 5 c Hz.
    let psth_count: f64 = trial.psth_hz.sum() / 5.0;
    assert!(
        (psth_count - spikes.len() as f64).abs() < 1e-9,
        "{psth_count} vs {}",
        spikes.len()
    );

    let unrecorded = run_trial(&converted, inputs.view(), 1, false).unwrap();
    assert!(unrecorded.spikes.is_none());
    assert_eq!(unrecorded.readout, trial.readout);
}

#[test]
fn partial_bin_dropped_from_psth() {
    let converted = two_unit(10, InputMode::Injected);
    // 25 ms are two whole 10 ms bins and half a bin.
    let trial = run_trial(&converted, step_input(25, 1.0).view(), 2, false).unwrap();
    assert_eq!(trial.readout.dim(), (26, 2));
    assert_eq!(trial.psth_hz.dim(), (2, 2));
}

#[test]
fn trial_means_reject_empty_and_mixed_shapes() {
    let err = mean_readout(&[]).unwrap_err();
    assert!(matches!(err, Error::EmptyInput { .. }), "{err:?}");
    assert!(convert::trials::mean_psth_hz(&[]).is_err());

    let converted = two_unit(20, InputMode::Injected);
    let short = run_trial(&converted, step_input(50, 0.5).view(), 1, false).unwrap();
    let long = run_trial(&converted, step_input(60, 0.5).view(), 2, false).unwrap();
    let err = mean_readout(&[short.clone(), long]).unwrap_err();
    assert!(matches!(err, Error::Shape(_)), "{err:?}");
    assert!(err.to_string().contains("trial 1"), "{err}");
    // The mean of a trial with itself is that trial.
    let same = mean_readout(&[short.clone(), short.clone()]).unwrap();
    assert_eq!(same, short.readout);
}

#[test]
fn wrong_input_columns_rejected() {
    let converted = two_unit(10, InputMode::Injected);
    for n_columns in [0, 2, 3] {
        let inputs = Array2::zeros((20, n_columns));
        let err = run_trial(&converted, inputs.view(), 1, false).unwrap_err();
        assert!(matches!(err, Error::Shape(_)), "{n_columns}: {err:?}");
        assert!(err.to_string().contains("columns"), "{err}");
    }
}

#[test]
fn non_finite_inputs_rejected() {
    for mode in [InputMode::Injected, InputMode::Poisson { n_neurons: 10 }] {
        let converted = two_unit(10, mode);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut inputs = step_input(20, 0.5);
            inputs[[7, 0]] = bad;
            let err = run_trial(&converted, inputs.view(), 1, false).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: "inputs", .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains("inputs"), "{err}");
        }
    }
}

#[test]
fn negative_inputs_only_rejected_for_poisson() {
    let inputs = step_input(20, -0.5);
    let poisson = two_unit(10, InputMode::Poisson { n_neurons: 10 });
    let err = run_trial(&poisson, inputs.view(), 1, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParameter {
                name: "inputs",
                value,
                ..
            } if value == -0.5
        ),
        "{err:?}"
    );
    // An injected current may be negative, as the continuous input may.
    let injected = two_unit(10, InputMode::Injected);
    assert!(run_trial(&injected, inputs.view(), 1, false).is_ok());
}

#[test]
fn poisson_mode_runs() {
    let converted = two_unit(20, InputMode::Poisson { n_neurons: 20 });
    let trial = run_trial(&converted, step_input(40, 0.8).view(), 4, true).unwrap();
    assert_eq!(trial.readout.dim(), (41, 2));
    assert!(!trial.spikes.unwrap().is_empty());
}

#[test]
fn huge_injected_input_is_error_not_panic() {
    // 1e308 is finite, but g U u = 0.763 * 2 * 1e308 overflows to an infinite current.
    let converted = two_unit(10, InputMode::Injected);
    let inputs = step_input(20, 1e308);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_trial(&converted, inputs.view(), 1, false)
    }));
    let result = outcome.expect("run_trial panicked on a finite input");
    assert!(result.is_err(), "an infinite input current was simulated");
}

#[test]
fn huge_poisson_input_is_error_not_panic() {
    // A rate of f_max u = 95.4 * 1e30 Hz cannot be sampled per step, so the trial must
    // report an error.
    let converted = two_unit(10, InputMode::Poisson { n_neurons: 10 });
    let inputs = step_input(20, 1e30);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_trial(&converted, inputs.view(), 1, false)
    }));
    let result = outcome.expect("run_trial panicked on a finite input");
    assert!(result.is_err(), "an unsamplable Poisson rate was accepted");
}

#[test]
fn trials_identical_for_one_and_two_threads() {
    let converted = two_unit(30, InputMode::Injected);
    let inputs = step_input(100, 1.0);
    let run_in_pool = |n_threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n_threads)
            .build()
            .unwrap();
        pool.install(|| run_trials(&converted, inputs.view(), 99, 4, 4).unwrap())
    };
    let one = run_in_pool(1);
    let two = run_in_pool(2);

    assert_eq!(one.len(), 4);
    // PartialEq on the f64 read-outs compares bit for bit here, because none is NaN.
    assert_eq!(one, two);
    for (a, b) in one.iter().zip(&two) {
        let bits_a: Vec<u64> = a.readout.iter().map(|v| v.to_bits()).collect();
        let bits_b: Vec<u64> = b.readout.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits_a, bits_b);
    }

    // Each trial uses its own stream, so no two trials share their spikes.
    for i in 0..4 {
        for j in i + 1..4 {
            assert_ne!(one[i].spikes, one[j].spikes, "trials {i} and {j}");
        }
    }

    // Spikes are recorded for the first n_recorded trials only.
    let partly = run_trials(&converted, inputs.view(), 99, 3, 1).unwrap();
    assert!(partly[0].spikes.is_some());
    assert!(partly[1].spikes.is_none());
    assert!(partly[2].spikes.is_none());
    assert_eq!(partly[0], one[0]);
}

#[test]
fn different_seeds_give_different_spikes() {
    let converted = two_unit(30, InputMode::Injected);
    let inputs = step_input(100, 1.0);
    let a = run_trial(&converted, inputs.view(), 5, true).unwrap();
    let b = run_trial(&converted, inputs.view(), 6, true).unwrap();
    let again = run_trial(&converted, inputs.view(), 5, true).unwrap();
    assert_eq!(a, again);
    assert_ne!(a.spikes, b.spikes);
    assert_ne!(a.readout, b.readout);

    let trials_a = run_trials(&converted, inputs.view(), 5, 2, 2).unwrap();
    let trials_b = run_trials(&converted, inputs.view(), 6, 2, 2).unwrap();
    assert_ne!(trials_a[0].spikes, trials_b[0].spikes);
}

/// Compares the read-out of populations without recurrent input with the measured f-I curve.
///
/// Unit `i` gets `x_i` through an identity input matrix with `W = 0` and `b = 0`, so its
/// neurons receive the constant drive `g x_i + mu_0`, exactly what `measure_fi_curve` applies
/// as a bias. The time-averaged read-out must then equal `F(g x_i + mu_0) / f_max`.
///
/// The tolerance comes from the count statistics. Over a window `T` the mean read-out is
/// `C / (N f_max T) - tau (yhat(T) - yhat(t0)) / T` for a population count `C`. Unconnected
/// neurons spike independently. The interspike-interval CV of this noisy neuron with reset to
/// 0 and an 8 ms refractory period is estimated below 1, so the Fano factor of long-window
/// counts is below 1, and the test assumes 1.5 for margin. The read-out mean then has variance
/// at most `1.5 m / (N f_max T)` for a mean `m`, and the measured curve
/// `1.5 F / (N_fi T_fi f_max^2)`. The read-out fluctuates with relative SD `1 / sqrt(N r tau)`,
/// about 0.1 at 50 Hz with N = 100. Two SDs at each end bound the boundary term by
/// 0.02 s * 0.2 / 2 s = 0.002. The test allows 4 combined SDs plus that 0.002.
#[test]
fn readout_matches_fi_curve() {
    let drives_x = [-1.0, 0.0, 1.5];
    let n_units = drives_x.len();
    let mut config = RnnConfig::new(n_units, n_units);
    config.y0_init = 0.0;
    let rnn = Rnn::from_parts(
        config,
        Array2::zeros((n_units, n_units)),
        Array2::eye(n_units),
        ndarray::Array1::zeros(n_units),
        ndarray::Array1::zeros(n_units),
    )
    .unwrap();
    let params = ConversionParams::default();
    let converted = convert(&rnn, &params, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert!(converted.network.params().projections.is_empty());

    // 200 ms settling (ten time constants of the 20 ms read-out) and a 2 s window.
    let warmup_steps = 200;
    let window_steps = 2000;
    let mut inputs = Array2::zeros((warmup_steps + window_steps, n_units));
    for (unit, &x) in drives_x.iter().enumerate() {
        inputs.column_mut(unit).fill(x);
    }
    let trials = run_trials(&converted, inputs.view(), 17, 1, 0).unwrap();
    let readout = mean_readout(&trials).unwrap();
    let window = readout.slice(s![warmup_steps + 1.., ..]);
    assert_eq!(window.nrows(), window_steps);

    let fi = FiConfig {
        n_neurons: 200,
        warmup_ms: 200.0,
        duration_ms: 2000.0,
        ..FiConfig::default()
    };
    let drives: Vec<f64> = drives_x
        .iter()
        .map(|x| params.g * x + params.mu_0)
        .collect();
    let rates_hz = measure_fi_curve(&params.neuron, &drives, &fi, 23).unwrap();

    let f_max = params.f_max_hz;
    let spiking_window_s = window_steps as f64 * 1e-3;
    let fi_window_s = fi.duration_ms * 1e-3;
    for unit in 0..n_units {
        let spiking_mean = window.column(unit).mean().unwrap();
        let expected = rates_hz[unit] / f_max;
        let var_spiking = 1.5 * spiking_mean / (params.n_neurons as f64 * f_max * spiking_window_s);
        let var_fi = 1.5 * rates_hz[unit] / (fi.n_neurons as f64 * fi_window_s * f_max * f_max);
        let tolerance = 4.0 * (var_spiking + var_fi).sqrt() + 0.002;
        assert!(
            expected > 0.05,
            "x = {}: F / f_max = {expected} is too small to test",
            drives_x[unit]
        );
        assert!(
            (spiking_mean - expected).abs() <= tolerance,
            "x = {}: read-out {spiking_mean}, F / f_max {expected}, tolerance {tolerance}",
            drives_x[unit]
        );
    }
}
