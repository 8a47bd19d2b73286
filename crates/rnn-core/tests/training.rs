//! Adam, constraints, the training loop, divergence handling and thread-count determinism.

mod common;

use std::ops::ControlFlow;

use common::{random_case, random_trial, smooth_table, CaseSize};
use ndarray::{s, Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{
    train, train_with_adam, Activation, Adam, AdamConfig, Error, Gradient, Rnn, RnnConfig, Sign,
    StopReason, TrainConfig, Trial,
};

fn keep_going(_: usize, _: f64) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Hold task: a 10-step input pulse, then unit 0 must sit at `level` over steps 20..100.
fn hold_trial(level: f64, n_units: usize) -> Trial {
    let n_steps = 100;
    let mut inputs = Array2::zeros((n_steps, 1));
    inputs.slice_mut(s![..10, 0]).fill(1.0);
    let mut weights = Array2::zeros((n_steps, n_units));
    weights.slice_mut(s![20.., 0]).fill(1.0 / 80.0);
    Trial {
        inputs,
        targets: Array2::from_elem((n_steps, n_units), level),
        weights,
    }
}

fn hold_network(seed: u64) -> Rnn {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Rnn::new_using(RnnConfig::new(4, 1), &mut rng).unwrap()
}

#[test]
fn training_reduces_hold_loss() {
    let mut rnn = hold_network(1);
    let trial = hold_trial(0.8, 4);
    let before = rnn.loss(std::slice::from_ref(&trial)).unwrap();
    let config = TrainConfig {
        max_iterations: 300,
        adam: AdamConfig {
            learning_rate: 0.02,
            ..AdamConfig::default()
        },
        ..TrainConfig::default()
    };
    let report = train(
        &mut rnn,
        &config,
        &mut |_| vec![trial.clone()],
        &mut keep_going,
    )
    .unwrap();
    let after = rnn.loss(std::slice::from_ref(&trial)).unwrap();
    assert_eq!(report.iterations, 300);
    assert_eq!(report.stop_reason, StopReason::MaxIterations);
    assert_eq!(report.loss_history.len(), 300);
    assert_eq!(report.loss_history[0], before);
    // Measured: 0.317 -> 2.0e-7 (seed 1); require a factor of 1000.
    assert!(after < before / 1000.0, "loss {before:e} -> {after:e}");
    assert!(report.best_loss <= report.final_loss);
}

#[test]
fn target_loss_stops_training() {
    let mut rnn = hold_network(2);
    let trial = hold_trial(0.8, 4);
    let before = rnn.loss(std::slice::from_ref(&trial)).unwrap();
    let config = TrainConfig {
        max_iterations: 5000,
        target_loss: Some(before / 10.0),
        adam: AdamConfig {
            learning_rate: 0.02,
            ..AdamConfig::default()
        },
        ..TrainConfig::default()
    };
    let report = train(
        &mut rnn,
        &config,
        &mut |_| vec![trial.clone()],
        &mut keep_going,
    )
    .unwrap();
    assert_eq!(report.stop_reason, StopReason::TargetLoss);
    assert!(report.iterations < 5000);
    assert!(report.final_loss <= before / 10.0);
}

#[test]
fn observer_break_stops_training() {
    let mut rnn = hold_network(3);
    let trial = hold_trial(0.5, 4);
    let mut seen = Vec::new();
    let report = train(
        &mut rnn,
        &TrainConfig {
            max_iterations: 100,
            ..TrainConfig::default()
        },
        &mut |_| vec![trial.clone()],
        &mut |iteration, loss| {
            seen.push((iteration, loss));
            if iteration == 6 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert_eq!(report.stop_reason, StopReason::Observer);
    assert_eq!(report.iterations, 7);
    let indices: Vec<usize> = seen.iter().map(|&(i, _)| i).collect();
    assert_eq!(indices, (0..7).collect::<Vec<_>>());
    assert_eq!(seen[3].1, report.loss_history[3]);
}

#[test]
fn resumed_training_equals_one_run() {
    let trials_for = |iteration: usize| {
        let mut rng = ChaCha8Rng::seed_from_u64(100 + iteration as u64);
        vec![
            random_trial(&mut rng, 30, 4, 1),
            random_trial(&mut rng, 25, 4, 1),
        ]
    };
    let config = |max_iterations| TrainConfig {
        max_iterations,
        ..TrainConfig::default()
    };

    let mut whole = hold_network(4);
    let mut adam_whole = Adam::new(AdamConfig::default(), &whole).unwrap();
    train_with_adam(
        &mut whole,
        &mut adam_whole,
        &config(8),
        &mut |i| trials_for(i),
        &mut keep_going,
    )
    .unwrap();

    let mut chunked = hold_network(4);
    let mut adam = Adam::new(AdamConfig::default(), &chunked).unwrap();
    let mut indices = Vec::new();
    for max_iterations in [3, 8] {
        train_with_adam(
            &mut chunked,
            &mut adam,
            &config(max_iterations),
            &mut |i| {
                indices.push(i);
                trials_for(i)
            },
            &mut keep_going,
        )
        .unwrap();
    }
    assert_eq!(indices, (0..8).collect::<Vec<_>>());
    assert_eq!(chunked, whole);
    assert_eq!(adam, adam_whole);

    // The optimiser has taken 8 steps: a limit of 8 leaves nothing to do.
    let err = train_with_adam(
        &mut chunked,
        &mut adam,
        &config(8),
        &mut |i| trials_for(i),
        &mut keep_going,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "max_iterations"));
}

#[test]
fn nan_target_diverges_without_changing_network() {
    let trials_for = |iteration: usize| {
        let mut rng = ChaCha8Rng::seed_from_u64(iteration as u64);
        let mut trial = random_trial(&mut rng, 20, 4, 1);
        trial.weights.fill(0.01);
        if iteration == 3 {
            trial.targets[[5, 2]] = f64::NAN;
        }
        vec![trial]
    };
    let config = TrainConfig {
        max_iterations: 10,
        ..TrainConfig::default()
    };

    // The network after iterations 0-2 only.
    let mut expected = hold_network(5);
    train(
        &mut expected,
        &TrainConfig {
            max_iterations: 3,
            ..config.clone()
        },
        &mut |i| trials_for(i),
        &mut keep_going,
    )
    .unwrap();

    let mut rnn = hold_network(5);
    let err = train(&mut rnn, &config, &mut |i| trials_for(i), &mut keep_going).unwrap_err();
    assert_eq!(
        err,
        Error::Diverged {
            iteration: 3,
            parameter: "loss".into()
        }
    );
    assert_eq!(rnn, expected);
}

#[test]
fn nan_gradient_rejected_by_adam_step() {
    let mut rnn = hold_network(6);
    let before = rnn.clone();
    let mut adam = Adam::new(AdamConfig::default(), &rnn).unwrap();
    let mut gradient = Gradient::zeros_like(&rnn);
    gradient.b[1] = f64::NAN;
    let err = adam.step(&mut rnn, &gradient).unwrap_err();
    assert!(matches!(err, Error::Diverged { ref parameter, .. } if parameter == "b"));
    assert_eq!(rnn, before);
    assert_eq!(adam.step_count(), 0);
}

#[test]
fn empty_batch_rejected() {
    let mut rnn = hold_network(7);
    let err = train(
        &mut rnn,
        &TrainConfig::default(),
        &mut |_| Vec::new(),
        &mut keep_going,
    )
    .unwrap_err();
    assert_eq!(err, Error::EmptyBatch);
}

#[test]
fn first_adam_step_size() {
    // After one step m_hat = g and v_hat = g^2, so p -= lr g / (|g| + eps).
    let mut rnn = hold_network(8);
    let before = rnn.clone();
    let config = AdamConfig {
        clip_norm: f64::INFINITY,
        ..AdamConfig::default()
    };
    let lr = config.learning_rate;
    let mut adam = Adam::new(config, &rnn).unwrap();
    let mut gradient = Gradient::zeros_like(&rnn);
    gradient.w[[0, 1]] = 3.0;
    gradient.w[[2, 2]] = -0.01;
    gradient.b[3] = 1e-3;
    adam.step(&mut rnn, &gradient).unwrap();

    let expect = |g: f64| lr * g / (g.abs() + 1e-8);
    let tolerance = 1e-15;
    assert!((before.w[[0, 1]] - rnn.w[[0, 1]] - expect(3.0)).abs() < tolerance);
    assert!((before.w[[2, 2]] - rnn.w[[2, 2]] - expect(-0.01)).abs() < tolerance);
    assert!((before.b[3] - rnn.b[3] - expect(1e-3)).abs() < tolerance);
    assert_eq!(before.w[[1, 1]], rnn.w[[1, 1]], "zero gradient, no move");
}

#[test]
fn clipping_scales_the_gradient() {
    // Step 1 with |g| = 10 (clipped by 0.1), step 2 with |g| = 0.5 (not clipped). Step 1 alone
    // is scale-free, but step 2 mixes both gradients, so it reveals the clip factor.
    let mut rnn = hold_network(9);
    let config = AdamConfig::default();
    let (lr, b1, b2, eps) = (
        config.learning_rate,
        config.beta1,
        config.beta2,
        config.epsilon,
    );
    let mut adam = Adam::new(config, &rnn).unwrap();
    let mut g1 = Gradient::zeros_like(&rnn);
    g1.b[0] = 10.0;
    let mut g2 = Gradient::zeros_like(&rnn);
    g2.b[0] = -0.5;
    adam.step(&mut rnn, &g1).unwrap();
    let after_first = rnn.b[0];
    adam.step(&mut rnn, &g2).unwrap();

    let clipped = [1.0, -0.5];
    let m = b1 * (1.0 - b1) * clipped[0] + (1.0 - b1) * clipped[1];
    let v = b2 * (1.0 - b2) * clipped[0].powi(2) + (1.0 - b2) * clipped[1].powi(2);
    let update = lr * (m / (1.0 - b1 * b1)) / ((v / (1.0 - b2 * b2)).sqrt() + eps);
    assert!((after_first - rnn.b[0] - update).abs() < 1e-15);
}

#[test]
fn constraints_hold_after_adam_steps() {
    // A constrained network trained on random targets, with a tabulated activation so that
    // y0 must stay within [0, 1.3], and targets far above the range to push it up.
    let size = CaseSize {
        n_units: 5,
        n_inputs: 2,
        n_steps: 30,
        n_trials: 2,
    };
    let (mut rnn, _) = random_case(size, 21, Activation::Tabulated(smooth_table()));
    let mut mask = Array2::from_elem((5, 5), true);
    mask[[0, 1]] = false;
    mask[[3, 3]] = false;
    mask[[4, 0]] = false;
    let mut input_mask = Array2::from_elem((5, 2), true);
    input_mask[[2, 1]] = false;
    rnn.config.mask = Some(mask);
    rnn.config.input_mask = Some(input_mask);
    rnn.config.signs = Some(vec![
        Sign::Excitatory,
        Sign::Inhibitory,
        Sign::Free,
        Sign::Excitatory,
        Sign::Inhibitory,
    ]);
    rnn.config.nonnegative_inputs = true;
    rnn.apply_constraints();
    let upper = rnn.config.activation.upper_bound();
    let mut adam = Adam::new(
        AdamConfig {
            learning_rate: 0.2,
            ..AdamConfig::default()
        },
        &rnn,
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let (mut hit_upper, mut hit_lower) = (false, false);
    for step in 0..80 {
        // Targets above the range for 40 steps, then below it.
        let mut trial = random_trial(&mut rng, 30, 5, 2);
        let target = if step < 40 { 3.0 } else { -2.0 };
        trial.targets.fill(target);
        let (_, gradient) = rnn.loss_and_gradient(&[trial]).unwrap();
        adam.step(&mut rnn, &gradient).unwrap();

        let config = &rnn.config;
        for ((post, pre), &w) in rnn.w.indexed_iter() {
            if !config.connection_allowed(post, pre) {
                assert_eq!(w, 0.0, "masked w[{post}, {pre}] at step {step}");
            }
            match config.sign(pre) {
                Sign::Excitatory => assert!(w >= 0.0),
                Sign::Inhibitory => assert!(w <= 0.0),
                Sign::Free => {}
            }
        }
        for ((unit, input), &u) in rnn.u.indexed_iter() {
            assert!(u >= 0.0, "u[{unit}, {input}] = {u}");
            if !config.input_allowed(unit, input) {
                assert_eq!(u, 0.0);
            }
        }
        assert!(
            rnn.y0.iter().all(|&y| (0.0..=upper).contains(&y)),
            "y0 {}",
            rnn.y0
        );
        hit_upper |= rnn.y0.iter().any(|&y| y == upper);
        hit_lower |= rnn.y0.iter().any(|&y| y == 0.0);
    }
    assert!(
        hit_upper && hit_lower,
        "the projection of y0 was never active at both bounds"
    );
}

#[test]
fn fixed_y0_stays_fixed() {
    let mut rnn = hold_network(10);
    rnn.config.train_y0 = false;
    let y0 = rnn.y0.clone();
    let trial = hold_trial(0.9, 4);
    train(
        &mut rnn,
        &TrainConfig {
            max_iterations: 20,
            ..TrainConfig::default()
        },
        &mut |_| vec![trial.clone()],
        &mut keep_going,
    )
    .unwrap();
    assert_eq!(rnn.y0, y0);
}

#[test]
fn gradient_bit_identical_across_thread_counts() {
    let size = CaseSize {
        n_units: 5,
        n_inputs: 3,
        n_steps: 200,
        n_trials: 9,
    };
    let (rnn, trials) = random_case(size, 31, Activation::Logistic);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (loss, gradient) = rnn.loss_and_gradient(&trials).unwrap();
            (loss, gradient, rnn.loss(&trials).unwrap())
        })
    };
    let bits1 = |a: &Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let bits2 = |a: &Array1<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (loss_1, grad_1, plain_1) = run(1);
    for threads in [2, 3] {
        let (loss_n, grad_n, plain_n) = run(threads);
        assert_eq!(loss_1.to_bits(), loss_n.to_bits());
        assert_eq!(plain_1.to_bits(), plain_n.to_bits());
        assert_eq!(bits1(&grad_1.w), bits1(&grad_n.w));
        assert_eq!(bits1(&grad_1.u), bits1(&grad_n.u));
        assert_eq!(bits2(&grad_1.b), bits2(&grad_n.b));
        assert_eq!(bits2(&grad_1.y0), bits2(&grad_n.y0));
    }
}

#[test]
fn gradient_norm_survives_huge_entries() {
    // sqrt(2) * 1e300 would overflow as a plain sum of squares (1e600).
    let rnn = hold_network(11);
    let mut gradient = Gradient::zeros_like(&rnn);
    gradient.w[[0, 0]] = 1e300;
    gradient.b[1] = -1e300;
    let norm = gradient.norm();
    assert!((norm / 1e300 - 2f64.sqrt()).abs() < 1e-15);
    // 3-4-5 triangle.
    let mut small = Gradient::zeros_like(&rnn);
    small.u[[0, 0]] = 3.0;
    small.y0[2] = 4.0;
    assert_eq!(small.norm(), 5.0);
    assert_eq!(Gradient::zeros_like(&rnn).norm(), 0.0);
}

#[test]
fn batch_errors_name_the_trial() {
    let rnn = hold_network(12);
    let good = hold_trial(0.5, 4);
    let mut bad_shape = good.clone();
    bad_shape.targets = Array2::zeros((99, 4));
    let err = rnn.loss(&[good.clone(), bad_shape]).unwrap_err();
    assert_eq!(
        err,
        Error::ShapeMismatch {
            name: "trials[1].targets".into(),
            expected: "(100, 4) = (n_steps, n_units)".into(),
            found: "(99, 4)".into(),
        }
    );

    let mut bad_input = good.clone();
    bad_input.inputs[[7, 0]] = f64::INFINITY;
    let err = rnn.loss_and_gradient(&[bad_input]).unwrap_err();
    assert!(matches!(err, Error::NonFinite { ref name, ref index, .. }
        if name == "trials[0].inputs" && index == "7, 0"));

    let mut negative = good;
    negative.weights[[30, 0]] = -1.0;
    let err = rnn.loss(&[negative]).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { ref name, .. }
        if name == "trials[0].weights[30, 0]"));
}

#[test]
fn unscored_targets_may_be_nan() {
    let rnn = hold_network(13);
    let trial = hold_trial(0.5, 4);
    let mut marked = trial.clone();
    for ((t, i), target) in marked.targets.indexed_iter_mut() {
        if trial.weights[[t, i]] == 0.0 {
            *target = f64::NAN;
        }
    }
    assert_eq!(
        rnn.loss_and_gradient(&[trial]).unwrap(),
        rnn.loss_and_gradient(&[marked]).unwrap()
    );
}

#[test]
fn degenerate_sizes_work() {
    // No inputs, and a trial without steps next to a normal one.
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let rnn = Rnn::new_using(RnnConfig::new(3, 0), &mut rng).unwrap();
    let empty = Trial {
        inputs: Array2::zeros((0, 0)),
        targets: Array2::zeros((0, 3)),
        weights: Array2::zeros((0, 3)),
    };
    let normal = Trial {
        inputs: Array2::zeros((10, 0)),
        targets: Array2::from_elem((10, 3), 0.5),
        weights: Array2::from_elem((10, 3), 0.1),
    };
    let (loss_empty, gradient_empty) = rnn.loss_and_gradient(std::slice::from_ref(&empty)).unwrap();
    assert_eq!(loss_empty, 0.0);
    assert_eq!(gradient_empty.norm(), 0.0);
    let (loss_both, gradient_both) = rnn.loss_and_gradient(&[empty, normal.clone()]).unwrap();
    let (loss_normal, gradient_normal) = rnn.loss_and_gradient(&[normal]).unwrap();
    // The empty trial adds nothing but counts in the mean.
    assert!((loss_both - loss_normal / 2.0).abs() < 1e-15);
    assert!((gradient_both.norm() - gradient_normal.norm() / 2.0).abs() < 1e-15);
    assert_eq!(gradient_both.u.shape(), &[3, 0]);
}

#[test]
fn unknown_fields_are_rejected() {
    let mut value = serde_json::to_value(TrainConfig::default()).unwrap();
    value["max_iteration"] = serde_json::json!(5);
    let err = serde_json::from_value::<TrainConfig>(value).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `max_iteration`"),
        "{err}"
    );

    let mut value = serde_json::to_value(RnnConfig::new(2, 1)).unwrap();
    value["tau"] = serde_json::json!(20.0);
    let err = serde_json::from_value::<RnnConfig>(value).unwrap_err();
    assert!(err.to_string().contains("unknown field `tau`"), "{err}");

    let mut value = serde_json::to_value(AdamConfig::default()).unwrap();
    value["lr"] = serde_json::json!(0.1);
    assert!(serde_json::from_value::<AdamConfig>(value).is_err());
}

#[test]
fn trained_tau_moves_and_stays_above_bound() {
    // Targets far above the range push every unit to respond as fast as it can, so the
    // time constants shrink until the projection keeps them at MIN_TAU_OVER_DT * dt_ms.
    let mut rnn = hold_network(15);
    rnn.config.train_tau = true;
    rnn.config.tau_ms = vec![1.5, 3.0, 20.0, 40.0];
    let before = rnn.config.tau_ms.clone();
    let mut adam = Adam::new(
        AdamConfig {
            learning_rate: 0.5,
            ..AdamConfig::default()
        },
        &rnn,
    )
    .unwrap();
    let mut trial = hold_trial(1.0, 4);
    trial.targets.fill(5.0);
    trial.weights.fill(1.0 / 400.0);
    for _ in 0..40 {
        let (_, gradient) = rnn.loss_and_gradient(std::slice::from_ref(&trial)).unwrap();
        adam.step(&mut rnn, &gradient).unwrap();
    }
    let lowest = rnn_core::MIN_TAU_OVER_DT * rnn.config.dt_ms;
    for (i, (&tau, &start)) in rnn.config.tau_ms.iter().zip(&before).enumerate() {
        assert!(tau >= lowest, "tau_ms[{i}] = {tau}");
        assert!(tau < start, "tau_ms[{i}] {start} -> {tau}");
    }
    assert_eq!(rnn.config.tau_ms[0], lowest);
    assert_eq!(rnn.config.validate(), Ok(()));

    // Untrained time constants keep their values and get zero gradient.
    let mut fixed = hold_network(15);
    let (_, gradient) = fixed
        .loss_and_gradient(std::slice::from_ref(&trial))
        .unwrap();
    assert!(gradient.tau_ms.iter().all(|&g| g == 0.0));
    let tau = fixed.config.tau_ms.clone();
    let mut adam = Adam::new(AdamConfig::default(), &fixed).unwrap();
    adam.step(&mut fixed, &gradient).unwrap();
    assert_eq!(fixed.config.tau_ms, tau);
}

#[test]
fn training_weights_identical_for_1_2_8_threads() {
    let size = CaseSize {
        n_units: 6,
        n_inputs: 2,
        n_steps: 60,
        n_trials: 11,
    };
    let (start, trials) = random_case(size, 41, Activation::Logistic);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut rnn = start.clone();
        pool.install(|| {
            let config = TrainConfig {
                max_iterations: 6,
                ..TrainConfig::default()
            };
            train(&mut rnn, &config, &mut |_| trials.clone(), &mut keep_going).unwrap();
        });
        rnn
    };
    let bits = |rnn: &Rnn| {
        rnn.w
            .iter()
            .chain(rnn.u.iter())
            .chain(rnn.b.iter())
            .chain(rnn.y0.iter())
            .chain(rnn.config.tau_ms.iter())
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    let one = run(1);
    assert_ne!(bits(&one), bits(&start), "training must change the weights");
    for threads in [2, 8] {
        assert_eq!(bits(&one), bits(&run(threads)), "{threads} threads");
    }
}
